package cleannode

import (
	"context"
	"fmt"
	"slices"
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

func testConfig() config.Config {
	return config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{
		CleanNodeContainer: 30 * time.Second, CleanNodeImage: 60 * time.Second, CleanNodeBuilder: 90 * time.Second,
		Pending: time.Second, Lock: time.Second, Extra: time.Second}}
}

// pruned answers a prune helper: every step in its arguments ran with exit code exit[name]
// (0 when absent) and printed a reclaimed line.
func pruned(exit map[string]int) func(j swarm.Job) swarmtest.JobRun {
	return func(j swarm.Job) swarmtest.JobRun {
		marker, steps, ok := swarmtest.Script(j.Args)
		if !ok {
			return swarmtest.JobRun{State: "failed", Exit: 99}
		}
		var b strings.Builder
		for _, s := range steps {
			name, _, _ := strings.Cut(s, ":")
			fmt.Fprintf(&b, "%s begin %s\nTotal reclaimed space: 1.5MB\n%s end %s %d\n", marker, name, marker, name, exit[name])
		}
		return swarmtest.JobRun{State: "complete", Logs: b.String() + marker + " done\n"}
	}
}

func newJob(f *swarmtest.Fake) *Job {
	w := swarmtest.Wire(f, testConfig())
	return &Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Config: testConfig()}
}

func stepNames(r operation.Result) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Name)
	}
	return out
}

func TestCleanNodePrunesInOneHelper(t *testing.T) {
	for _, tc := range []struct {
		name, engine, local string
		labels              map[string]string
		wantArgs            []string
		wantSteps           []string
		viaHelper           bool
	}{
		{"every step, 20.10 reaps helper containers", "20.10.24+dfsg1", "nm", nil,
			[]string{"container:30:reap", "image:60", "builder:90"}, []string{"container-prune", "image-prune", "builder-prune"}, true},
		{"current engine: no reap", "29.1.3", "nm", nil,
			[]string{"container:30", "image:60", "builder:90"}, []string{"container-prune", "image-prune", "builder-prune"}, true},
		{"labels pick the steps and timeouts", "29.1.3", "nm",
			map[string]string{parse.LabelNodeCleanImageEnable: "false", parse.LabelNodeCleanBuilderTimeout: "1500"},
			[]string{"container:30", "builder:2"}, []string{"container-prune", "builder-prune"}, true},
		{"the local node runs it directly", "29.1.3", "n1", nil,
			[]string{"container:30", "image:60", "builder:90"}, []string{"container-prune", "image-prune", "builder-prune"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := swarmtest.Node("n1", "worker-1")
			n.EngineVersion, n.Labels = tc.engine, tc.labels
			f := swarmtest.New(n, swarmtest.Node("nm", "manager"))
			f.Local = tc.local
			f.OnJob = pruned(nil)
			r := newJob(f).Node(context.Background(), "worker-1")
			if !r.OK || !slices.Equal(stepNames(r), tc.wantSteps) {
				t.Fatalf("ok=%v err=%s steps %v, want %v", r.OK, r.Error, stepNames(r), tc.wantSteps)
			}
			for _, s := range r.Steps {
				if s.Details["reclaimed"] != "1.5MB" || s.Node != "worker-1" {
					t.Errorf("step %+v", s)
				}
			}
			var args []string
			if tc.viaHelper {
				jobs := f.Calls("create-job")
				if len(jobs) != 1 || len(f.Calls("run-local")) != 0 {
					t.Fatalf("changes %+v, want one helper", f.Changes())
				}
				j := jobs[0].Job
				if j.NodeID != "n1" || j.Image != "docker:cli" || swarmtest.Step(*j) != "prune" || j.Name != "swarm-utils-clean-node-n1-prune" ||
					!slices.Contains(j.Mounts, "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock") {
					t.Errorf("helper %+v", j)
				}
				args = j.Args
			} else {
				runs := f.Calls("run-local")
				if len(runs) != 1 || len(f.Calls("create-job")) != 0 {
					t.Fatalf("changes %+v, want one direct run", f.Changes())
				}
				args = runs[0].Args
				if r.Steps[0].Helper != "direct" {
					t.Errorf("helper %q, want direct", r.Steps[0].Helper)
				}
			}
			if _, steps, ok := swarmtest.Script(args); !ok || !slices.Equal(steps, tc.wantArgs) || args[2] != pruneScript {
				t.Errorf("prune args %q, want %q", steps, tc.wantArgs)
			}
			if len(f.Helpers()) != 0 {
				t.Error("helper left behind")
			}
		})
	}
}

func TestCleanNodeFailedStep(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.OnJob = pruned(map[string]int{"image": 124})
	r := newJob(f).Node(context.Background(), "worker-1")
	if r.OK || r.ErrorKind != operation.KindDocker || !strings.Contains(r.Error, "image-prune") {
		t.Fatalf("ok=%v kind=%s err=%s", r.OK, r.ErrorKind, r.Error)
	}
	if st := r.Steps[1]; st.OK || st.Error != "image prune timed out after 1m0s" {
		t.Errorf("image step %+v", st)
	}
	if !r.Steps[0].OK || !r.Steps[2].OK {
		t.Errorf("the other steps: %+v", r.Steps)
	}

	// The helper itself failed: every step says why.
	f2 := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f2.OnJob = func(swarm.Job) swarmtest.JobRun {
		return swarmtest.JobRun{State: "rejected", Err: "No such image: docker:cli"}
	}
	r = newJob(f2).Node(context.Background(), "worker-1")
	if r.OK || len(r.Steps) != 3 || !strings.Contains(r.Steps[2].Error, "No such image") {
		t.Errorf("result %+v", r)
	}
}

func TestCleanNodeRefusesOrSkips(t *testing.T) {
	down := swarmtest.Node("n2", "down-1")
	down.State = "down"
	drained := swarmtest.Node("n3", "drained-1")
	drained.Availability = "drain"
	off := swarmtest.Node("n4", "off-1")
	off.Labels = map[string]string{parse.LabelNodeCleanEnable: "false"}
	bad := swarmtest.Node("n5", "bad-1")
	bad.Labels = map[string]string{parse.LabelNodeCleanImageTimeout: "soon"}
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), down, drained, off, bad)
	f.OnJob = pruned(nil)
	j := newJob(f)
	for _, tc := range []struct {
		node string
		kind operation.Kind
		want string
	}{
		{"down-1", operation.KindImpossible, "is down, not ready"},
		{"drained-1", operation.KindImpossible, "is drain: no helper can run there"},
		{"off-1", operation.KindNotFound, "cleaning is disabled by its labels"},
		{"bad-1", operation.KindInvalid, "label swarm-utils.clean.image.timeout"},
		{"nope", operation.KindNotFound, `node "nope" not found`},
		{"-f", operation.KindInvalid, "not valid"},
	} {
		if r := j.Node(context.Background(), tc.node); r.OK || r.ErrorKind != tc.kind || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s: ok=%v kind=%s err=%s, want %s %q", tc.node, r.OK, r.ErrorKind, r.Error, tc.kind, tc.want)
		}
	}
	if n := len(f.Changes()); n != 0 {
		t.Errorf("%d changes for nodes that may not be cleaned", n)
	}

	// --all: the disabled and drained nodes are skipped, the down one fails, the others run.
	rep := j.All(context.Background())
	by := map[string]operation.Result{}
	for _, r := range rep.Results {
		by[r.Target] = r
	}
	if rep.OK || !by["worker-1"].OK || by["off-1"].Skipped == "" || by["drained-1"].Skipped == "" || by["down-1"].OK || by["bad-1"].OK {
		t.Errorf("report %+v", rep)
	}
	if n := len(f.Calls("create-job")); n != 1 {
		t.Errorf("%d helpers, want one (worker-1)", n)
	}
}

func TestCleanNodeBusyTarget(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	// A helper of an earlier run is still running on the node: busy, nothing created.
	f.AddService(parse.Service{ID: "old", Name: "swarm-utils-clean-node-n1-prune", Mode: parse.ModeReplicatedJob,
		Labels: map[string]string{"swarm-utils.helper": "true", "swarm-utils.helper.lock": "node:n1"}})
	f.AddTask("old", "worker-1", parse.Task{NodeID: "n1", State: "running"}, "")
	r := newJob(f).Node(context.Background(), "worker-1")
	if r.OK || r.ErrorKind != operation.KindBusy || !strings.Contains(r.Error, "from an earlier run is still running") {
		t.Fatalf("ok=%v kind=%s err=%s", r.OK, r.ErrorKind, r.Error)
	}
	if n := len(f.Changes()); n != 0 {
		t.Errorf("%d changes on a busy target", n)
	}
}

// Only the tail of the helper's logs is kept: a step whose markers went with the cut head ran
// (a later step's markers prove it) and is reported as cut, not as "did not run"; a step after
// the last one seen did not run.
func TestCleanNodeOutputCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		logs func(m string) string
		want map[string]string // step -> error ("" = OK)
	}{
		{"summary kept", func(m string) string {
			return "[… 39.9 MB cut …]\nxxxx\n" + m + " end container 0\n" + m + " begin image\n" + m + " end image 0\n" + m + " begin builder\n" + m + " end builder 1\n" +
				m + " ended container 0\n" + m + " ended image 0\n" + m + " ended builder 1\n" + m + " done\n"
		}, map[string]string{"container": "", "image": "", "builder": "builder prune exited with code 1"}},
		{"killed in the image step", func(m string) string {
			return "[… 39.9 MB cut …]\nxxxx\n" + m + " begin image\nhalf"
		}, map[string]string{"container": "container prune ran, but its output and exit code were cut from the helper's output",
			"image": "ended failed", "builder": "ended failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			f.OnJob = func(j swarm.Job) swarmtest.JobRun {
				marker, _, _ := swarmtest.Script(j.Args)
				run := swarmtest.JobRun{State: "complete", Logs: tc.logs(marker)}
				if !strings.HasSuffix(run.Logs, "done\n") {
					run.State, run.Exit = "failed", 137
				}
				return run
			}
			r := newJob(f).Node(context.Background(), "worker-1")
			if len(r.Steps) != 3 {
				t.Fatalf("steps %+v", r.Steps)
			}
			for _, st := range r.Steps {
				want := tc.want[strings.TrimSuffix(st.Name, "-prune")]
				if st.OK != (want == "") || !strings.Contains(st.Error, want) {
					t.Errorf("%s: ok=%v %q, want %q", st.Name, st.OK, st.Error, want)
				}
			}
		})
	}
}

// The prune helper's name is taken by another run's helper (a second swarm-utils process): the
// node is busy (409), and that helper is left alone.
func TestCleanNodeHelperNameTaken(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.OnJob = pruned(nil)
	// Not labelled as this target's helper, so the claim does not see it; only the name collides.
	f.AddService(parse.Service{ID: "theirs", Name: helper.Name(Op, "n1", "prune", "n1"), Mode: parse.ModeReplicatedJob})
	r := newJob(f).Node(context.Background(), "worker-1")
	if r.OK || r.ErrorKind != operation.KindBusy {
		t.Errorf("result %s %q, want busy", r.ErrorKind, r.Error)
	}
	if rm := f.Calls("remove"); len(rm) != 0 {
		t.Errorf("removed %+v", rm)
	}
}

// A panic while one node is cleaned fails that node's result; the others are cleaned and the
// process lives on.
func TestCleanAllNodesRecoversAPanic(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"))
	ok := pruned(nil)
	f.OnJob = func(j swarm.Job) swarmtest.JobRun {
		if j.NodeID == "n2" {
			panic("boom")
		}
		return ok(j)
	}
	rep := newJob(f).All(context.Background())
	if rep.OK || len(rep.Results) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		if want := r.Target == "worker-1"; r.OK != want || (!want && r.Error != "internal error: boom") {
			t.Errorf("%s: ok=%v %q", r.Target, r.OK, r.Error)
		}
	}
}
