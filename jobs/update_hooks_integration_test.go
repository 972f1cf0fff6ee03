//go:build integration

package jobs

import (
	"context"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
)

// updTasks is the service's running tasks: container ID by node-qualified task ID.
func updTasks(t *testing.T, tb testbed.Bed, name string) map[string][2]string {
	t.Helper()
	ps := tb.Docker(t, "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.ID}} {{.Node}}", name)
	out := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(ps), "\n") {
		id, node, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		cid := strings.TrimSpace(tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", id))
		out[id] = [2]string{node, cid}
	}
	return out
}

func updStep(r operation.Result, name string) *operation.Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// exec-pre writes a marker in every old task before the update, exec-post one in every new
// task after it; each task has its result.
func TestUpdateServiceClusterExecPreAndPost(t *testing.T) {
	ParallelSafe(t)
	tb := testbed.Get(t)
	name := updServiceName("hooks")
	tb.Service(t, name, "--replicas", "2", "--replicas-max-per-node", "1", "--constraint", "node.role==worker",
		"--update-monitor", "1s",
		"--label", "swarm-utils.update.enable=true",
		"--label", "swarm-utils.update.exec-pre=echo pre-$(cat /version) > /tmp/pre-marker",
		"--label", "swarm-utils.update.exec-post=echo post-$(cat /version) > /tmp/post-marker",
		tb.WorkloadImage)
	old := updTasks(t, tb, name)
	if len(old) != 2 {
		t.Fatalf("old tasks %v, want 2", old)
	}

	r := testDeps(t, tb.Config()).UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.WorkloadImage2})
	js := updResultJSON(t, r)
	t.Logf("result: %s", js)
	if !r.OK {
		t.Fatalf("update failed: %s", r.Error)
	}
	upd := updStep(r, "update")
	if upd == nil || upd.Details["change"] != "updated" || upd.Details["previousDigest"] == "" || upd.Details["newDigest"] == "" ||
		upd.Details["previousDigest"] == upd.Details["newDigest"] {
		t.Fatalf("update step %+v, want change updated with two digests", upd)
	}
	// The old tasks are stopped now; their containers keep the file.
	for id, nc := range old {
		out, err := tb.TryDockerOn(nc[0], "cp", nc[1]+":/tmp/pre-marker", "-")
		if err != nil || !strings.Contains(out, "pre-1") {
			t.Errorf("old task %s on %s: no exec-pre marker (err %v)", id, nc[0], err)
		}
	}
	now := updTasks(t, tb, name)
	if len(now) != 2 {
		t.Fatalf("new tasks %v, want 2", now)
	}
	for id, nc := range now {
		if _, wasOld := old[id]; wasOld {
			t.Errorf("task %s survived the update", id)
		}
		if v := strings.TrimSpace(tb.DockerOn(t, nc[0], "exec", nc[1], "cat", "/tmp/post-marker")); v != "post-2" {
			t.Errorf("new task %s on %s: exec-post marker %q, want post-2", id, nc[0], v)
		}
	}
	tasks := map[string]int{}
	for _, s := range r.Steps {
		if strings.HasPrefix(s.Name, "exec-") {
			if !s.OK {
				t.Errorf("step %+v failed", s)
			}
			tasks[s.Name] += len(s.Tasks)
		}
	}
	if tasks["exec-pre"] != 2 || tasks["exec-post"] != 2 {
		t.Errorf("per-task results %v, want 2 for each", tasks)
	}
	assertNoHelpersOf(t, tb, name)
}

// A failing exec-pre leaves the service on its image; the marker it wrote first is there.
func TestUpdateServiceClusterFailingExecPre(t *testing.T) {
	ParallelSafe(t)
	tb := testbed.Get(t)
	name := updServiceName("prefail")
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--label", "swarm-utils.update.enable=true",
		"--label", "swarm-utils.update.exec-pre=echo pre > /tmp/pre-marker; exit 3",
		tb.WorkloadImage)
	before, _ := updServiceState(t, tb, name)
	old := updTasks(t, tb, name)

	r := testDeps(t, tb.Config()).UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.WorkloadImage2})
	t.Logf("result: %s", updResultJSON(t, r))
	if r.OK || !strings.Contains(r.Error, "exec-pre failed") || !strings.Contains(r.Error, "not started") {
		t.Fatalf("ok=%v err=%s, want exec-pre failed, update not started", r.OK, r.Error)
	}
	if upd := updStep(r, "update"); upd == nil || upd.OK || upd.Details["change"] != "unchanged" {
		t.Errorf("update step %+v, want one not started, change unchanged", upd)
	}
	if after, _ := updServiceState(t, tb, name); after != before {
		t.Errorf("image %s, want %s unchanged", after, before)
	}
	for id, nc := range old {
		if v := strings.TrimSpace(tb.DockerOn(t, nc[0], "exec", nc[1], "cat", "/tmp/pre-marker")); v != "pre" {
			t.Errorf("task %s: marker %q", id, v)
		}
	}
	assertNoHelpersOf(t, tb, name)
}

// A crashing image with rollback-on-failure ends on the previous image, rolled back: by
// swarm-utils when the rollout pauses, by docker itself when the service's own update_config
// rolls back (then swarm-utils runs no rollback of its own); either way reported rolled back.
func TestUpdateServiceClusterCrashRollsBack(t *testing.T) {
	ParallelSafe(t)
	for _, tc := range []struct {
		name, failureAction string
		ownRollback         bool // swarm-utils runs the rollback (a rollback step)
	}{
		{"paused, rolled back by swarm-utils", "pause", true},
		{"rolled back by docker itself", "rollback", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := testbed.Get(t)
			name := updServiceName("rb-" + tc.failureAction)
			tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
				"--update-monitor", "2s", "--update-failure-action", tc.failureAction,
				"--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.rollback-on-failure=true",
				tb.WorkloadImage)
			before, _ := updServiceState(t, tb, name)

			r := testDeps(t, tb.Config()).UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.CrashImage})
			js := updResultJSON(t, r)
			t.Logf("result: %s", js)
			upd, rb := updStep(r, "update"), updStep(r, "rollback")
			if r.OK || upd == nil || upd.Details["change"] != "rolled-back" || upd.Details["rolledBack"] != "true" {
				t.Fatalf("result %s, want a failed update with change rolled-back", js)
			}
			switch {
			case tc.ownRollback && (rb == nil || !rb.OK):
				t.Errorf("steps %s, want an OK rollback step", js)
			case !tc.ownRollback && rb != nil:
				t.Errorf("swarm-utils rolled back a service docker rolled back itself")
			}
			if tc.ownRollback {
				if len(upd.Tasks) != 1 || upd.Tasks[0].ExitCode != 3 || !strings.Contains(upd.Tasks[0].Logs, "crashing") {
					t.Errorf("failed task %+v, want exit code 3 and its log", upd.Tasks)
				}
				for _, want := range []string{"rolled back", "task: non-zero exit (3)"} {
					if !strings.Contains(r.Error, want) {
						t.Errorf("error does not say %q: %s", want, r.Error)
					}
				}
			}
			if image, state := updServiceState(t, tb, name); image != before || state != "rollback_completed" {
				t.Errorf("service on %s in state %s, want %s rollback_completed", image, state, before)
			}
			if n := tb.RunningReplicas(t, name); n != 1 {
				t.Errorf("%d running replicas after the rollback, want 1", n)
			}
			assertNoHelpersOf(t, tb, name)
		})
	}
}

// An update to the image the service runs already changes nothing and says so.
func TestUpdateServiceClusterSameDigestUnchanged(t *testing.T) {
	ParallelSafe(t)
	tb := testbed.Get(t)
	name := updServiceName("same")
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.exec-post=touch /tmp/post",
		tb.WorkloadImage)
	old := updTasks(t, tb, name)

	r := testDeps(t, tb.Config()).UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.WorkloadImage})
	js := updResultJSON(t, r)
	t.Logf("result: %s", js)
	if !r.OK {
		t.Fatalf("update failed: %s", r.Error)
	}
	upd := updStep(r, "update")
	if upd == nil || upd.Details["change"] != "unchanged" || upd.Details["previousDigest"] != upd.Details["newDigest"] {
		t.Fatalf("update step %s, want change unchanged, one digest", js)
	}
	if updStep(r, "exec-post") != nil {
		t.Errorf("exec-post ran though nothing changed")
	}
	if now := updTasks(t, tb, name); len(now) != len(old) {
		t.Errorf("tasks %v, want the old ones %v", now, old)
	} else {
		for id := range now {
			if _, ok := old[id]; !ok {
				t.Errorf("new task %s: the tasks were rolled", id)
			}
		}
	}
	assertNoHelpersOf(t, tb, name)
}

// With --log-driver none docker serves no logs; the result still says why the task failed.
func TestUpdateServiceClusterLogDriverNone(t *testing.T) {
	ParallelSafe(t)
	tb := testbed.Get(t)
	name := updServiceName("nolog")
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker", "--log-driver", "none",
		"--update-monitor", "2s", "--update-failure-action", "pause",
		"--label", "swarm-utils.update.enable=true",
		tb.WorkloadImage)

	r := testDeps(t, tb.Config()).UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.CrashImage})
	js := updResultJSON(t, r)
	t.Logf("result: %s", js)
	upd := updStep(r, "update")
	if r.OK || upd == nil || upd.Details["change"] != "paused" {
		t.Fatalf("result %s, want a paused update", js)
	}
	if len(upd.Tasks) != 1 || upd.Tasks[0].ExitCode != 3 || !strings.Contains(upd.Tasks[0].Error, "non-zero exit (3)") {
		t.Errorf("failed task %+v, want its error and exit code 3", upd.Tasks)
	}
	if !strings.Contains(upd.Details["logs"], "log driver none") || !strings.Contains(r.Error, "non-zero exit (3)") {
		t.Errorf("details %v / error %s do not say why the task failed and where the logs are", upd.Details, r.Error)
	}
	assertNoHelpersOf(t, tb, name)
}
