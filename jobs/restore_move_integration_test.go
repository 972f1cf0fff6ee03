//go:build integration

package jobs_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs"
)

// TestIntegrationMoveServiceToAnotherNode: a one-replica service pinned to worker-1 with two
// volumes moves to worker-2: its task runs there with every file byte-identical (checksums,
// modes, owners, links), its placement says node.hostname==worker-2, and no helper, key
// secret or restore label is left.
func TestIntegrationMoveServiceToAnotherNode(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	name := "it-bk-mv-" + bkRand(t)
	volA, volB := name+"-a", name+"-b"
	bkVolumeCleanup(t, tb, volA, volB)
	rsRemoveArchives(t, tb, name+"/")
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker", "--constraint", "node.hostname==worker-1",
		"--mount", "type=volume,src="+volA+",dst=/data/a", "--mount", "type=volume,src="+volB+",dst=/data/b",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.volume-list-upload="+volA+","+volB,
		tb.WorkloadImage)
	rsInTasks(t, tb, name, `head -c 200000 /dev/urandom > /data/b/random.bin && mkdir -p /data/a/deep && echo deep > /data/a/deep/f.txt `+
		`&& chown 1234:2345 /data/a/deep/f.txt && chmod 0640 /data/a/deep/f.txt && ln -s deep/f.txt /data/a/link`)
	before := rsInTasks(t, tb, name, rsTree)
	if _, ok := before["worker-1"]; len(before) != 1 || !ok || !strings.Contains(before["worker-1"], "random.bin") {
		t.Fatalf("content before the move: %v", before)
	}

	d, logs := bkDeps(t, rsConfig(t, tb))
	r := d.MoveService(ctx, jobs.MoveOptions{Service: name, Node: "worker-2"})
	js, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("result: %s", js)
	if !r.OK {
		t.Fatalf("move failed")
	}
	testbed.WaitFor(t, time.Minute, "the task running", func() bool { return tb.RunningReplicas(t, name) == 1 })
	after := rsInTasks(t, tb, name, rsTree)
	if got, ok := after["worker-2"]; len(after) != 1 || !ok || got != before["worker-1"] {
		t.Errorf("content after the move (by node):\n%v\nwant on worker-2:\n%s", after, before["worker-1"])
	}
	spec := tb.Docker(t, "service", "inspect", "--format", "{{json .Spec.TaskTemplate.Placement.Constraints}} {{.Spec.Mode.Replicated.Replicas}} {{json .Spec.Labels}}", name)
	if !strings.Contains(spec, `"node.hostname==worker-2"`) || strings.Contains(spec, "worker-1") || !strings.Contains(spec, `"node.role==worker"`) ||
		!strings.Contains(spec, "] 1 ") || strings.Contains(spec, bkRestoreLabel) {
		t.Errorf("service after the move: %s (want pinned to worker-2 only, role kept, 1 replica, no %s)", spec, bkRestoreLabel)
	}
	bkAssertNoHelpers(t, tb, name)
	bkAssertNoKeySecrets(t, tb, name)
	bkAssertNoSecret(t, tb.S3SecretKey, r, logs.String())
}

// TestIntegrationMoveServiceFailsBack: a move to the manager, which the service's
// node.role==worker constraint keeps its task from, fails at the start there; the service is
// unpinned and started again on worker-1 with its content, its placement as before, nothing left.
func TestIntegrationMoveServiceFailsBack(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	name := "it-bk-mvf-" + bkRand(t)
	vol := name + "-a"
	bkVolumeCleanup(t, tb, vol)
	t.Cleanup(func() { _, _ = tb.TryDockerOn("manager", "volume", "rm", "-f", vol) })
	rsRemoveArchives(t, tb, name+"/")
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker", "--constraint", "node.hostname==worker-1",
		"--mount", "type=volume,src="+vol+",dst=/data/a",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.volume-list-upload="+vol,
		tb.WorkloadImage)
	rsInTasks(t, tb, name, `echo kept > /data/a/f.txt`)
	before := rsInTasks(t, tb, name, rsTree)
	// Constraints are a set: the update that puts them back may reorder them.
	placement := func() []string {
		var c []string
		js := tb.Docker(t, "service", "inspect", "--format", "{{json .Spec.TaskTemplate.Placement.Constraints}}", name)
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			t.Fatal(err)
		}
		slices.Sort(c)
		return c
	}
	pinned := placement()

	d, _ := bkDeps(t, rsConfig(t, tb))
	r := d.MoveService(ctx, jobs.MoveOptions{Service: name, Node: "manager"})
	js, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("result: %s", js)
	if r.OK || !strings.Contains(r.Error, "it was started again on worker-1 with its placement unchanged") {
		t.Fatalf("want a failed move that says it started again on worker-1")
	}
	testbed.WaitFor(t, time.Minute, "the task running", func() bool { return tb.RunningReplicas(t, name) == 1 })
	if after := rsInTasks(t, tb, name, rsTree); len(after) != 1 || after["worker-1"] != before["worker-1"] {
		t.Errorf("after the failed move: %v, want worker-1 with %s", after, before["worker-1"])
	}
	if now := placement(); !slices.Equal(now, pinned) {
		t.Errorf("placement after the failed move %q, want %q", now, pinned)
	}
	bkAssertNoHelpers(t, tb, name)
	bkAssertNoKeySecrets(t, tb, name)
	if spec := tb.Docker(t, "service", "inspect", "--format", "{{json .Spec.Labels}}", name); strings.Contains(spec, bkRestoreLabel) {
		t.Errorf("restore label left: %s", spec)
	}
}
