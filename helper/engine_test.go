package helper_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

func spec(timeout time.Duration) helper.Spec {
	return helper.Spec{Action: "clean-service", LockKey: "service:web", Target: "web", Step: "exec", NodeID: "n1", NodeName: "worker-1",
		Image: "docker:cli", Args: []string{"sh", "-c", "true"}, Socket: true, Timeout: timeout}
}

func TestRunHelper(t *testing.T) {
	for _, tc := range []struct {
		name    string
		engine  string
		run     swarmtest.JobRun
		dry     bool
		kind    operation.Kind
		wantErr string
		state   string
		stopper bool // a helper removes the orphaned task's container
	}{
		{name: "complete", run: swarmtest.JobRun{State: "complete", Logs: "hello pw-123\n"}, state: "complete"},
		{name: "non-zero exit", run: swarmtest.JobRun{State: "failed", Exit: 3, Err: "task: non-zero exit (3) pw-123"}, kind: operation.KindDocker,
			wantErr: "ended failed with exit code 3: task: non-zero exit (3) ***", state: "failed"},
		{name: "never scheduled", run: swarmtest.JobRun{State: "pending", Err: "no suitable node"}, kind: operation.KindTimeout,
			wantErr: "not scheduled on worker-1 within the pending timeout 50ms: no suitable node", state: "pending"},
		{name: "past its timeout on 20.10: its container is removed", run: swarmtest.JobRun{State: "running"}, kind: operation.KindTimeout,
			wantErr: "still running after its timeout 30ms", state: "running", stopper: true},
		{name: "past its timeout on a current engine: the engine stops it", engine: "29.1.3", run: swarmtest.JobRun{State: "running"},
			kind: operation.KindTimeout, wantErr: "still running after its timeout 30ms", state: "running"},
		{name: "its image cannot be pulled", run: swarmtest.JobRun{State: "preparing", Err: `failed to resolve reference "docker.io/library/docker:cli": dial tcp: network is unreachable`},
			kind: operation.KindDocker, wantErr: "still preparing on worker-1 after 30ms (is its image docker:cli reachable from there?): failed to resolve reference", state: "preparing"},
		{name: "preparing without an error waits for its timeout", run: swarmtest.JobRun{State: "preparing"}, kind: operation.KindTimeout,
			wantErr: "still preparing after its timeout 30ms", state: "preparing", stopper: true},
		{name: "dry run", dry: true, state: "dry-run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			f.Engine, f.Dry = tc.engine, tc.dry
			f.OnJob = func(swarm.Job) swarmtest.JobRun { return tc.run }
			cfg := config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: 50 * time.Millisecond}}
			w := swarmtest.Wire(f, cfg)
			w.Secrets.Add("pw-123")
			var created []string
			w.Helpers.OnCreated = func(action string) { created = append(created, action) }
			out := w.Helpers.Run(context.Background(), spec(30*time.Millisecond))
			if operation.KindOf(out.Err) != tc.kind || (tc.wantErr != "" && !strings.Contains(out.Err.Error(), tc.wantErr)) {
				t.Fatalf("err %v (%s), want %s %q", out.Err, operation.KindOf(out.Err), tc.kind, tc.wantErr)
			}
			wantCreated := 1
			if tc.stopper {
				wantCreated = 2 // the stopper is a helper too (action recover)
			}
			if out.Task.State != tc.state || out.Name != "swarm-utils-clean-service-web-exec-n1" || len(created) != wantCreated {
				t.Errorf("outcome %+v, created %v", out, created)
			}
			if strings.Contains(out.Task.Logs+out.Task.Error, "pw-123") {
				t.Errorf("secret in the task result %+v", out.Task)
			}
			jobs := f.Calls("create-job")
			j := jobs[0].Job
			for _, l := range []swarm.Label{{Key: helper.LabelHelper, Value: "true"}, {Key: helper.LabelLock, Value: "service:web"},
				{Key: helper.LabelAction, Value: "clean-service"}, {Key: helper.LabelStep, Value: "exec"}} {
				if !contains(j.Labels, l) {
					t.Errorf("helper lacks label %v: %v", l, j.Labels)
				}
			}
			if len(j.Mounts) != 1 || j.Mounts[0] != "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock" || j.NodeID != "n1" {
				t.Errorf("helper %+v", j)
			}
			if (len(jobs) == 2) != tc.stopper {
				t.Errorf("%d helpers created, stopper wanted: %v", len(jobs), tc.stopper)
			}
			if tc.stopper && (!strings.HasPrefix(strings.Join(jobs[1].Job.Args, " "), "docker rm --force ") || jobs[1].Job.NodeID != "n1") {
				t.Errorf("stopper %+v", jobs[1].Job)
			}
			if !tc.dry && len(f.Helpers()) != 0 {
				t.Errorf("helpers left: %+v", f.Helpers())
			}
		})
	}
}

func contains(labels []swarm.Label, l swarm.Label) bool {
	for _, x := range labels {
		if x == l {
			return true
		}
	}
	return false
}

// A helper's name is taken by another run's helper: the target is busy (409), and that helper,
// which is not this run's, stays.
func TestRunHelperNameTakenIsBusy(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail error // nil: the name is really taken in the fake
	}{
		{"name taken", nil},
		{"docker 20.10", errors.New("docker service create …: exit code 1: Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts with an existing object")},
		{"current engine", errors.New("docker service create …: exit code 1: Error response from daemon: service swarm-utils-x already exists")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			name := helper.Name("clean-service", "web", "exec", "n1")
			f.AddService(parse.Service{ID: "other", Name: name, Mode: parse.ModeReplicatedJob, Labels: map[string]string{helper.LabelHelper: "true"}})
			if tc.fail != nil {
				f.Fail = map[string]error{"create-job": tc.fail}
			}
			w := swarmtest.Wire(f, config.Config{Timeouts: config.Timeouts{Pending: time.Second}})
			out := w.Helpers.Run(context.Background(), spec(time.Second))
			if operation.KindOf(out.Err) != operation.KindBusy || !strings.Contains(out.Err.Error(), "already exists") {
				t.Errorf("err %v (%s), want busy", out.Err, operation.KindOf(out.Err))
			}
			if rm := f.Calls("remove"); len(rm) != 0 {
				t.Errorf("removed %+v: another run's helper", rm)
			}
		})
	}
}

func TestRunHelperCreateFailsRemovesByName(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.Fail = map[string]error{"create-job": errors.New("context deadline exceeded")}
	w := swarmtest.Wire(f, config.Config{})
	out := w.Helpers.Run(context.Background(), spec(time.Second))
	if out.Err == nil || !strings.Contains(out.Err.Error(), "create helper swarm-utils-clean-service-web-exec-n1 on worker-1") {
		t.Fatalf("err %v", out.Err)
	}
	// A create that timed out may still have made the service.
	if rm := f.Calls("remove"); len(rm) != 1 || rm[0].Target != out.Name {
		t.Errorf("removes %+v, want the helper by name", rm)
	}
}

func TestRunDirectOnTheLocalNode(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.Local = "n1"
	f.OnJob = func(swarm.Job) swarmtest.JobRun { return swarmtest.JobRun{State: "complete", Logs: "done\n"} }
	w := swarmtest.Wire(f, config.Config{})
	s := spec(time.Second)
	s.Direct = true
	out := w.Helpers.Run(context.Background(), s)
	if out.Err != nil || out.Name != "direct" || out.Logs != "done\n" || len(f.Calls("create-job")) != 0 || len(f.Calls("run-local")) != 1 {
		t.Errorf("outcome %+v, changes %+v", out, f.Changes())
	}
	for _, tc := range []struct {
		name string
		run  swarmtest.JobRun
		kind operation.Kind
	}{
		{"past its timeout", swarmtest.JobRun{State: "running"}, operation.KindTimeout},
		{"timeout(1) of coreutils ended it", swarmtest.JobRun{State: "failed", Exit: 124}, operation.KindTimeout},
		{"timeout(1) of busybox ended it", swarmtest.JobRun{State: "failed", Exit: 143}, operation.KindTimeout},
		{"its command failed", swarmtest.JobRun{State: "failed", Exit: 1}, operation.KindDocker},
	} {
		f.OnJob = func(swarm.Job) swarmtest.JobRun { return tc.run }
		if out := w.Helpers.Run(context.Background(), s); operation.KindOf(out.Err) != tc.kind {
			t.Errorf("a direct step %s: %v (%s), want %s", tc.name, out.Err, operation.KindOf(out.Err), tc.kind)
		}
	}
}

func TestClaim(t *testing.T) {
	for _, tc := range []struct {
		state  string
		kind   operation.Kind
		remove bool
	}{
		{"complete", "", true},
		{"failed", "", true},
		{"running", operation.KindBusy, false},
		{"pending", operation.KindBusy, false},
	} {
		f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
		f.AddService(parse.Service{ID: "old", Name: "swarm-utils-clean-node-worker-1-prune", Mode: parse.ModeReplicatedJob,
			Labels: map[string]string{helper.LabelHelper: "true", helper.LabelLock: "node:worker-1"}})
		f.AddTask("old", "worker-1", parse.Task{NodeID: "n1", State: tc.state}, "")
		w := swarmtest.Wire(f, config.Config{})
		err := w.Helpers.Claim(context.Background(), "node:worker-1")
		if operation.KindOf(err) != tc.kind {
			t.Errorf("%s: claim %v, want %q", tc.state, err, tc.kind)
		}
		if removed := len(f.Calls("remove")) == 1; removed != tc.remove {
			t.Errorf("%s: removed %v, want %v", tc.state, removed, tc.remove)
		}
		if err := w.Helpers.Claim(context.Background(), "node:worker-2"); err != nil {
			t.Errorf("another target: %v", err)
		}
	}
}

// The daemon sends only a helper's last LogTailLines lines (the docker CLI keeps their last
// bytes); when it may have left lines out, the logs say so.
func TestRunHelperLogsTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		logs string
		note bool
	}{
		{"short", "hello\n", false},
		{"as long as the tail", strings.Repeat("x\n", helper.LogTailLines), true},
		{"longer", strings.Repeat("y\n", 2*helper.LogTailLines), true},
	} {
		f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
		f.OnJob = func(swarm.Job) swarmtest.JobRun { return swarmtest.JobRun{State: "complete", Logs: tc.logs} }
		w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
		out := w.Helpers.Run(context.Background(), spec(time.Second))
		logs := f.Calls("logs")
		if len(logs) != 1 || logs[0].Tail != helper.LogTailLines {
			t.Errorf("%s: logs read %+v, want the last %d lines", tc.name, logs, helper.LogTailLines)
		}
		if note := strings.HasPrefix(out.Task.Logs, "[… earlier lines cut …]\n"); note != tc.note || !strings.HasSuffix(tc.logs, strings.TrimPrefix(out.Task.Logs, "[… earlier lines cut …]\n")) {
			t.Errorf("%s: logs %.60q…, want the cut noted: %v", tc.name, out.Task.Logs, tc.note)
		}
	}
}

// A panic while a node's tasks run is that node's failed step, not a crash of the process; the
// other nodes' steps are whole.
func TestExecInTasksRecoversAPanic(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"))
	f.OnJob = func(j swarm.Job) swarmtest.JobRun {
		if j.NodeID == "n2" {
			panic("boom pw-123")
		}
		return swarmtest.JobRun{State: "complete"}
	}
	w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
	w.Secrets.Add("pw-123")
	steps := w.Helpers.ExecInTasks(context.Background(), helper.Exec{Action: "clean-service", LockKey: "service:web", Target: "web", Step: "exec",
		Shell: "sh", Command: "true", Timeout: time.Second}, []swarm.RunningTask{
		{ID: "t1", NodeID: "n1", Node: "worker-1", ContainerID: "c1", Slot: 1}, {ID: "t2", NodeID: "n2", Node: "worker-2", ContainerID: "c2", Slot: 2}})
	if len(steps) != 2 || steps[1].OK || steps[1].Node != "worker-2" || steps[1].Error != "internal error: boom ***" {
		t.Errorf("steps %+v", steps)
	}
	if len(steps) == 2 && len(steps[0].Tasks) != 1 {
		t.Errorf("worker-1's step %+v", steps[0])
	}
}

// A helper whose node goes down while it runs is given up after its timeout, and its task is
// not waited for (StopWait) nor a stop helper sent there: nothing on a down node can stop it.
func TestRunHelperOnANodeThatWentDown(t *testing.T) {
	for _, engine := range []string{"", "29.1.3"} { // 20.10 (a stop helper) and current (the engine stops it)
		f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
		f.Engine = engine
		f.OnJob = func(swarm.Job) swarmtest.JobRun {
			f.SetNodeState("n1", "down") // right after its task started
			return swarmtest.JobRun{State: "running"}
		}
		w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: 50 * time.Millisecond}})
		done := make(chan helper.Outcome, 1)
		go func() { done <- w.Helpers.Run(context.Background(), spec(30*time.Millisecond)) }()
		var out helper.Outcome
		select {
		case out = <-done:
		case <-time.After(2 * helper.StopWait): // a hang guard
			t.Fatalf("engine %q: Run did not return", engine)
		}
		if operation.KindOf(out.Err) != operation.KindTimeout {
			t.Errorf("engine %q: err %v, want its timeout", engine, out.Err)
		}
		if !strings.Contains(w.Logs(), "cannot be stopped: the node is down") {
			t.Errorf("engine %q: the log does not say the task was given up for its node being down:\n%s", engine, w.Logs())
		}
		if n := len(f.Calls("create-job")); n != 1 {
			t.Errorf("engine %q: %d helpers created, want only the one (no stop helper on a down node)", engine, n)
		}
		if h := f.Helpers(); len(h) > 0 {
			t.Errorf("engine %q: helpers left: %+v", engine, h)
		}
	}
}

// A node that rejects a helper's task (a failed image pull or layer extraction: no container
// ran) gets the helper once more under the same name; a second rejection is the step's error.
func TestRunHelperRejectedIsTriedOnceMore(t *testing.T) {
	const rejected = "failed to extract layer … lchown /usr/bin/backup: no such file or directory"
	for _, tc := range []struct {
		name     string
		runs     []swarmtest.JobRun // what each created helper does, in order
		state    string
		wantErr  string
		creates  int
		removeLt bool
	}{
		{name: "rejected, then complete", runs: []swarmtest.JobRun{{State: "rejected", Err: rejected}, {State: "complete"}}, state: "complete", creates: 2},
		{name: "rejected, then complete, removed late", runs: []swarmtest.JobRun{{State: "rejected", Err: rejected}, {State: "complete"}}, state: "complete", creates: 2, removeLt: true},
		{name: "rejected twice", runs: []swarmtest.JobRun{{State: "rejected", Err: rejected}, {State: "rejected", Err: rejected}}, state: "rejected",
			wantErr: "ended rejected with exit code", creates: 2},
		{name: "failed is not tried again", runs: []swarmtest.JobRun{{State: "failed", Exit: 3}}, state: "failed", wantErr: "ended failed with exit code 3", creates: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			n := 0
			f.OnJob = func(swarm.Job) swarmtest.JobRun { n++; return tc.runs[min(n, len(tc.runs))-1] }
			w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
			s := spec(time.Second)
			s.RemoveLate = tc.removeLt
			out := w.Helpers.Run(context.Background(), s)
			if tc.wantErr == "" && out.Err != nil || tc.wantErr != "" && (out.Err == nil || !strings.Contains(out.Err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", out.Err, tc.wantErr)
			}
			if out.Task.State != tc.state || len(f.Calls("create-job")) != tc.creates {
				t.Errorf("state %s after %d creates, want %s after %d", out.Task.State, len(f.Calls("create-job")), tc.state, tc.creates)
			}
			if len(f.Helpers()) != 0 {
				t.Errorf("helpers left: %+v", f.Helpers())
			}
		})
	}
}
