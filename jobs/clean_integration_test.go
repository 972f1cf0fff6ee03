//go:build integration

package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// importTinyImage makes an image nothing uses, on one node only.
func importTinyImage(t *testing.T, tb testbed.Bed, node, ref string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", `echo data > "$1/file" && tar -C "$1" -c file | docker import - "$2"`, "sh", dir, ref)
	cmd.Env = append(cmd.Environ(), "DOCKER_HOST="+tb.Host(node))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import %s on %s: %v: %s", ref, node, err, out)
	}
}

// pruneSteps are a clean-node result's prune steps, without the survey (present when a service
// has a rollback target) and the disk usage.
func pruneSteps(r operation.Result) []operation.Step {
	var out []operation.Step
	for _, s := range r.Steps {
		if strings.HasSuffix(s.Name, "-prune") {
			out = append(out, s)
		}
	}
	return out
}

func exists(tb testbed.Bed, node string, args ...string) bool {
	_, err := tb.TryDockerOn(node, args...)
	return err == nil
}

// Naming one node prunes a stopped container and an unused image there, and nothing elsewhere.
func TestCleanNodePrunesOnlyTheNamedNode(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	id := suffix()
	img := "it-cln-unused-" + id + ":1"
	for _, node := range []string{"worker-1", "worker-2"} {
		importTinyImage(t, tb, node, img)
		tb.DockerOn(t, node, "pull", "-q", tb.WorkloadImage)
		tb.DockerOn(t, node, "run", "--name", "it-cln-stopped-"+id, tb.WorkloadImage, "true")
	}
	t.Cleanup(func() {
		_, _ = tb.TryDockerOn("worker-1", "rm", "-f", "it-cln-stopped-"+id)
		_, _ = tb.TryDockerOn("worker-1", "rmi", img)
	})

	r := d.CleanNode(context.Background(), "worker-2")
	if !r.OK {
		t.Fatalf("clean-node worker-2 failed: %s\n%s", r.Error, mustJSON(r))
	}
	if len(pruneSteps(r)) != 3 || r.Steps[len(r.Steps)-1].Name != "disk-usage" {
		t.Fatalf("want 3 prune steps (container, image, builder) and the disk usage: %s", mustJSON(r))
	}
	for _, s := range pruneSteps(r) {
		if !s.OK || s.Node != "worker-2" || s.Details["reclaimed"] == "" {
			t.Errorf("step %s: ok=%v node=%s details=%v", s.Name, s.OK, s.Node, s.Details)
		}
	}
	if exists(tb, "worker-2", "container", "inspect", "it-cln-stopped-"+id) {
		t.Error("the stopped container on worker-2 was not pruned")
	}
	if exists(tb, "worker-2", "image", "inspect", img) {
		t.Error("the unused image on worker-2 was not pruned")
	}
	if !exists(tb, "worker-1", "container", "inspect", "it-cln-stopped-"+id) {
		t.Error("the stopped container on worker-1 was pruned, but only worker-2 was named")
	}
	if !exists(tb, "worker-1", "image", "inspect", img) {
		t.Error("the unused image on worker-1 was pruned, but only worker-2 was named")
	}
	tb.AssertNoHelpers(t)
}

func TestCleanAllNodesReportsEveryNode(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	rep := d.CleanAllNodes(context.Background())
	if !rep.OK {
		t.Fatalf("clean-node --all failed: %s", mustJSON(rep))
	}
	got := map[string]bool{}
	for _, r := range rep.Results {
		got[r.Target] = r.OK && len(pruneSteps(r)) == 3
	}
	for _, n := range []string{"manager", "worker-1", "worker-2"} {
		if !got[n] {
			t.Errorf("node %s not cleaned: %s", n, mustJSON(rep))
		}
	}
	tb.AssertNoHelpers(t)
}

func TestCleanNodeUnknownAndInvalidNames(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	for name, kind := range map[string]operation.Kind{"no-such-node": operation.KindNotFound, "worker": operation.KindNotFound, "--all": operation.KindInvalid, "a;b": operation.KindInvalid} {
		r := d.CleanNode(context.Background(), name)
		if r.OK || r.ErrorKind != kind {
			t.Errorf("clean-node %q: ok=%v kind=%q err=%q, want kind %q", name, r.OK, r.ErrorKind, r.Error, kind)
		}
	}
}

// The clean command runs in every replica, spread over all three nodes.
func TestCleanServiceRunsInEveryReplica(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	name := "it-cls-" + suffix()
	tb.Service(t, name, "--replicas", "3", "--replicas-max-per-node", "1",
		"--env", "SLOT={{.Task.Slot}}",
		"--label", "swarm-utils.clean.enable=true",
		"--label", `swarm-utils.clean.exec=echo "cleaned $SLOT" > /tmp/marker && cat /tmp/marker`,
		tb.WorkloadImage)

	r := d.CleanService(context.Background(), name)
	if !r.OK {
		t.Fatalf("clean-service failed: %s", mustJSON(r))
	}
	nodes := map[string]bool{}
	for _, s := range r.Steps {
		nodes[s.Node] = true
		for _, task := range s.Tasks {
			if task.ExitCode != 0 || !strings.HasPrefix(task.Logs, "cleaned ") {
				t.Errorf("task %s on %s: exit %d logs %q", task.Target, task.Node, task.ExitCode, task.Logs)
			}
		}
	}
	if len(nodes) != 3 {
		t.Errorf("steps ran on %v, want all 3 nodes", nodes)
	}
	// The marker is really in each replica's container, on its node.
	for _, task := range runningTasksOf(t, tb, d, name) {
		out := tb.DockerOn(t, task.Node, "exec", task.ContainerID, "cat", "/tmp/marker")
		if !strings.HasPrefix(out, "cleaned ") {
			t.Errorf("marker in %s on %s = %q", task.ID, task.Node, out)
		}
	}
	tb.AssertNoHelpers(t)
}

// A failing command in one task fails the operation; the others still run.
func TestCleanServiceOneFailingTask(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	name := "it-cls-fail-" + suffix()
	tb.Service(t, name, "--replicas", "3", "--replicas-max-per-node", "1",
		"--env", "SLOT={{.Task.Slot}}",
		"--label", "swarm-utils.clean.enable=true",
		"--label", `swarm-utils.clean.exec=if [ "$SLOT" = 2 ]; then echo broken; exit 7; fi; echo ok > /tmp/marker`,
		tb.WorkloadImage)
	r := d.CleanService(context.Background(), name)
	if r.OK || r.ErrorKind != operation.KindDocker {
		t.Fatalf("want a failed operation, got ok=%v kind=%q: %s", r.OK, r.ErrorKind, mustJSON(r))
	}
	var failedSlots, okSlots []string
	for _, s := range r.Steps {
		for _, task := range s.Tasks {
			switch {
			case task.ExitCode == 7 && strings.Contains(task.Logs, "broken"):
				failedSlots = append(failedSlots, task.Target)
			case task.ExitCode == 0:
				okSlots = append(okSlots, task.Target)
			}
		}
	}
	if len(failedSlots) != 1 || failedSlots[0] != name+".2" || len(okSlots) != 2 {
		t.Errorf("failed %v ok %v; want only %s.2 failed", failedSlots, okSlots, name)
	}
	tb.AssertNoHelpers(t)
}

func TestCleanServiceNotEnabledOrUnknown(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	name := "it-cls-off-" + suffix()
	tb.Service(t, name, tb.WorkloadImage)
	cases := map[string]operation.Kind{name: operation.KindNotFound, "it-cls-missing-" + suffix(): operation.KindNotFound, name[:6]: operation.KindNotFound}
	for svc, kind := range cases {
		r := d.CleanService(context.Background(), svc)
		if r.OK || r.ErrorKind != kind || !strings.Contains(r.Error, svc) {
			t.Errorf("clean-service %q: ok=%v kind=%q err=%q", svc, r.OK, r.ErrorKind, r.Error)
		}
	}
}

// A helper no node can take fails after the pending timeout and is removed.
func TestHelperUnschedulableFailsAfterPendingTimeout(t *testing.T) {
	tb := testbed.Get(t)
	cfg := tb.Config()
	cfg.Timeouts.Pending = 2 * time.Second
	d := testDeps(t, cfg)
	h := d.Helpers().Run(context.Background(), helper.Spec{
		Action: "it", LockKey: "it:pending", Target: "pending-" + suffix(), Step: "never",
		NodeID: "nonexistentnodeid", NodeName: "nowhere", Image: cfg.DockerCLIImage, Args: []string{"true"}, Timeout: time.Minute,
	})
	if h.Err == nil || operation.KindOf(h.Err) != operation.KindTimeout || !strings.Contains(h.Err.Error(), "not scheduled") {
		t.Fatalf("want a pending timeout, got %v", h.Err)
	}
	if exists(tb, "manager", "service", "inspect", h.Name) {
		t.Errorf("helper %s left behind", h.Name)
	}
}

// A helper whose image its node cannot pull fails in bounded time, whatever its step's timeout,
// with the pull's error, and is removed: a registry that refuses the connection makes the node
// reject the task (tried once more: nothing ran), a registry name that does not resolve keeps it
// preparing, which is failed after the pending timeout. No packet leaves the bed: the port is
// closed on the bed's own host, and the nodes have no route to any name server.
func TestHelperWhoseImageCannotBePulledFailsInBoundedTime(t *testing.T) {
	tb := testbed.Get(t)
	cfg := tb.Config()
	cfg.Timeouts.Pending = 3 * time.Second
	registryHost, _, _ := strings.Cut(tb.HelperImage, "/")
	bedHost, _, _ := strings.Cut(registryHost, ":")
	for _, tc := range []struct {
		name, image string
		want        []string // one of these in the error
	}{
		{name: "connection refused", image: bedHost + ":5999/su/none:1", want: []string{"ended rejected", "still preparing"}},
		{name: "name does not resolve", image: "registry.invalid/su/none:1", want: []string{"still preparing on", "ended rejected"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, logs := testDepsRecorded(t, cfg)
			nodes, err := d.Swarm.Nodes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			worker := nodes[len(nodes)-1]
			h := d.Helpers().Run(context.Background(), helper.Spec{
				Action: "it", LockKey: "it:pull", Target: "pull-" + suffix(), Step: "never",
				NodeID: worker.ID, NodeName: worker.Hostname, Image: tc.image, Args: []string{"true"}, Timeout: 10 * time.Minute,
			})
			if h.Err == nil || !strings.Contains(h.Err.Error(), tc.image) && !strings.Contains(h.Err.Error(), strings.Split(tc.image, "/")[0]) {
				t.Fatalf("want the pull's error naming %s, got %v", tc.image, h.Err)
			}
			matched := false
			for _, w := range tc.want {
				matched = matched || strings.Contains(h.Err.Error(), w)
			}
			if !matched {
				t.Errorf("error %q, want one of %q", h.Err, tc.want)
			}
			if rejected := strings.Contains(h.Err.Error(), "ended rejected"); rejected && !strings.Contains(logs.String(), "creating it once more") {
				t.Errorf("a rejected helper was not tried once more:\n%s", logs.String())
			}
			if exists(tb, "manager", "service", "inspect", h.Name) {
				t.Errorf("helper %s left behind", h.Name)
			}
		})
	}
}

// A helper past its step timeout is failed and removed.
func TestHelperPastItsTimeoutIsFailedAndRemoved(t *testing.T) {
	tb := testbed.Get(t)
	d, logs := testDepsRecorded(t, tb.Config())
	nodes, err := d.Swarm.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := d.Helpers().Run(context.Background(), helper.Spec{
		Action: "it", LockKey: "it:slow", Target: "slow-" + suffix(), Step: "sleep",
		NodeID: nodes[0].ID, NodeName: nodes[0].Hostname, Image: tb.HelperImage, Args: []string{"sleep", "60"}, Timeout: time.Second,
	})
	if h.Err == nil || operation.KindOf(h.Err) != operation.KindTimeout {
		t.Fatalf("want a step timeout, got %v", h.Err)
	}
	if exists(tb, "manager", "service", "inspect", h.Name) {
		t.Errorf("helper %s left behind", h.Name)
	}
	// Nothing runs on when the helper is reported: docker 20.10 keeps a removed job's task
	// running and swarm-utils removes its container; a current engine stops it on its own and
	// swarm-utils only waits for that.
	if out := tb.DockerOn(t, nodes[0].Hostname, "ps", "-q", "--filter", "name="+h.Name); strings.TrimSpace(out) != "" {
		t.Errorf("helper %s's container still runs on %s after its timeout", h.Name, nodes[0].Hostname)
	}
	removed := strings.Contains(logs.String(), "moby/moby#44312")
	if removed != tb.KeepsRemovedJobTasks() {
		t.Errorf("%s engine: swarm-utils removed the orphaned container itself: %v, want %v", tb.Engine, removed, tb.KeepsRemovedJobTasks())
	}
}

// The engine fact behind clean-node's helper-container reap, and the reap done only where it
// is needed: docker 20.10 keeps the exited container of a removed job (moby/moby#44312), a
// current engine removes it with the job; clean-node asks for the reap (":reap") only on the
// former.
func TestCleanNodeReapsHelperContainersOnlyWhereTheEngineKeepsThem(t *testing.T) {
	tb := testbed.Get(t)
	job := "it-cln-job-" + suffix()
	tb.ServiceDetached(t, job, "--mode", "replicated-job", "--restart-condition", "none",
		"--constraint", "node.hostname==worker-1", tb.HelperImage, "true")
	testbed.WaitFor(t, 30*time.Second, "the job to complete", func() bool {
		return strings.HasPrefix(tb.Docker(t, "service", "ps", "--format", "{{.CurrentState}}", job), "Complete")
	})
	tb.Docker(t, "service", "rm", job)
	left := func() bool {
		return strings.TrimSpace(tb.DockerOn(t, "worker-1", "container", "ls", "-a", "-q", "--filter", "label=com.docker.swarm.service.name="+job)) != ""
	}
	if tb.KeepsRemovedJobTasks() {
		time.Sleep(2 * time.Second) // give the engine the chance it does not take
		if !left() {
			t.Errorf("%s engine: the removed job's exited container is gone; the reap would not be needed", tb.Engine)
		}
		t.Cleanup(func() {
			ids := strings.Fields(tb.DockerOn(t, "worker-1", "container", "ls", "-a", "-q", "--filter", "label=com.docker.swarm.service.name="+job))
			_, _ = tb.TryDockerOn("worker-1", append([]string{"rm", "-f"}, ids...)...)
		})
	} else {
		testbed.WaitFor(t, 20*time.Second, "the engine to remove the job's container", func() bool { return !left() })
	}

	d, logs := testDepsRecorded(t, tb.Config())
	w1 := tb.NodeID(t, "worker-1") // helper names key nodes by ID
	if r := d.CleanNode(context.Background(), "worker-1"); !r.OK {
		t.Fatalf("clean-node worker-1: %s", mustJSON(r))
	}
	var create string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "service create") && strings.Contains(line, "clean-node-"+w1+"-prune") {
			create = line
		}
	}
	if create == "" {
		t.Fatalf("no helper create logged for worker-1:\n%s", logs)
	}
	// The step arguments follow the script: "container:30:reap image:30 ..." or "container:30 ...".
	if reap := regexp.MustCompile(` container:[0-9]+:reap `).MatchString(create); reap != tb.KeepsRemovedJobTasks() {
		t.Errorf("%s engine: clean-node reaps helper containers: %v, want %v\n%s", tb.Engine, reap, tb.KeepsRemovedJobTasks(), create)
	}
	tb.AssertNoHelpers(t)
}

// A helper left running by an earlier run (a crash) makes the target busy; a finished one is
// removed and the operation goes ahead.
func TestEarlierHelpersBlockOrAreRemoved(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	name := "it-cls-lock-" + suffix()
	tb.Service(t, name, "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=true", tb.WorkloadImage)
	stale := "it-stale-" + suffix()
	tb.ServiceDetached(t, stale, "--mode", "replicated-job", "--restart-condition", "none",
		"--label", helper.LabelLock+"="+operation.LockKeyService(name), tb.HelperImage, "sleep", "300")
	testbed.WaitFor(t, 30*time.Second, "stale helper to run", func() bool {
		return strings.HasPrefix(tb.Docker(t, "service", "ps", "--format", "{{.CurrentState}}", stale), "Running")
	})
	r := d.CleanService(context.Background(), name)
	if r.OK || r.ErrorKind != operation.KindBusy || !strings.Contains(r.Error, stale) {
		t.Fatalf("want busy because of %s, got ok=%v kind=%q err=%q", stale, r.OK, r.ErrorKind, r.Error)
	}

	tb.Docker(t, "service", "rm", stale)
	done := "it-done-" + suffix()
	tb.ServiceDetached(t, done, "--mode", "replicated-job", "--restart-condition", "none",
		"--label", helper.LabelLock+"="+operation.LockKeyService(name), tb.HelperImage, "true")
	testbed.WaitFor(t, 30*time.Second, "finished helper to complete", func() bool {
		return strings.HasPrefix(tb.Docker(t, "service", "ps", "--format", "{{.CurrentState}}", done), "Complete")
	})
	r = d.CleanService(context.Background(), name)
	if !r.OK {
		t.Fatalf("clean-service after a finished helper: %s", mustJSON(r))
	}
	if exists(tb, "manager", "service", "inspect", done) {
		t.Errorf("finished earlier helper %s was not removed", done)
	}
}

// Two operations on one target: the second waits for the lock, then fails busy.
func TestSecondOperationOnBusyTargetFailsAfterLockTimeout(t *testing.T) {
	tb := testbed.Get(t)
	cfg := tb.Config()
	cfg.Timeouts.Lock = 300 * time.Millisecond
	d := testDeps(t, cfg)
	release, err := d.Locks.Acquire(context.Background(), operation.LockKeyNode(tb.NodeID(t, "worker-1")), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r := d.CleanNode(context.Background(), "worker-1")
	if r.OK || r.ErrorKind != operation.KindBusy {
		t.Fatalf("want busy, got ok=%v kind=%q err=%q", r.OK, r.ErrorKind, r.Error)
	}
}

func runningTasksOf(t *testing.T, tb testbed.Bed, d *Deps, name string) []swarm.RunningTask {
	t.Helper()
	svc, err := d.Swarm.Service(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := swarm.RunningTasks(context.Background(), d.Swarm, svc)
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// Only the tail of a helper's output is kept (bashexec.TaskOutputTail): with two tasks on a node
// printing 200 kB each, the first task's markers and the second's begin marker are cut, yet
// every task reports its exit code and the result stays bounded.
func TestCleanServiceBigOutputKeepsTheTail(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	name := "it-clbig-" + suffix()
	tb.Service(t, name, "--replicas", "6", "--replicas-max-per-node", "2",
		"--env", "SLOT={{.Task.Slot}}",
		"--label", "swarm-utils.clean.enable=true",
		"--label", `swarm-utils.clean.exec=head -c 200000 /dev/zero | tr '\0' x; echo; echo "end of $SLOT"`,
		tb.WorkloadImage)

	r := d.CleanService(context.Background(), name)
	if !r.OK {
		t.Fatalf("clean-service failed: %.4000s", mustJSON(r))
	}
	tasks := 0
	for _, s := range r.Steps {
		size := 0
		for _, task := range s.Tasks {
			tasks++
			size += len(task.Logs)
			if task.ExitCode != 0 || task.State != "complete" || !strings.HasPrefix(task.Logs, "[… ") {
				t.Errorf("task %s on %s: %s exit %d logs %.60q", task.Target, task.Node, task.State, task.ExitCode, task.Logs)
			}
		}
		if size > 2*bashexec.TaskOutputTail {
			t.Errorf("step on %s keeps %d bytes of task logs", s.Node, size)
		}
	}
	if tasks != 6 {
		t.Errorf("%d tasks reported, want 6", tasks)
	}
	tb.AssertNoHelpers(t)
}
