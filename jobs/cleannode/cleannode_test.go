package cleannode

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

func testConfig() config.Config {
	return config.Config{DockerCLIImage: "docker:cli", SelfImage: selfImage, Timeouts: config.Timeouts{
		CleanNodeContainer: 30 * time.Second, CleanNodeImage: 60 * time.Second, CleanNodeBuilder: 90 * time.Second,
		Pending: time.Second, Lock: time.Second, Extra: time.Second}}
}

// dockerNode answers clean-node's helpers as a node's docker would: the survey's images step
// prints images, df steps print df, the prunes print a reclaimed line and exit with
// exit[name] (0 when absent); removed records the image step's arguments.
type dockerNode struct {
	images, df string
	exit       map[string]int
	removed    []string
	helpers    []string   // the step label of each helper, in order
	mu         sync.Mutex // the one helper's survey reads run at once
}

func (d *dockerNode) answer(j swarm.Job) swarmtest.JobRun {
	marker, args, ok := swarmtest.Script(j.Args)
	if !ok {
		return swarmtest.JobRun{State: "failed", Exit: 99}
	}
	d.helpers = append(d.helpers, swarmtest.Step(j))
	steps, refs := args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		steps, refs = args[:i], args[i+1:]
	}
	var b strings.Builder
	for _, s := range steps {
		name, _, _ := strings.Cut(s, ":")
		fmt.Fprintf(&b, "%s begin %s\n", marker, name)
		switch {
		case name == "images":
			b.WriteString(d.images)
		case strings.HasPrefix(name, "df-"):
			b.WriteString(d.df)
		case name == "image":
			d.removed = append(d.removed, refs...)
		default:
			b.WriteString("Total reclaimed space: 1.5MB\n")
		}
		fmt.Fprintf(&b, "%s end %s %d\n", marker, name, d.exit[name])
	}
	return swarmtest.JobRun{State: "complete", Logs: b.String() + marker + " done\n"}
}

const selfImage = "registry:5000/swarm-utils:test"

// asSelf answers the one helper of swarm-utils' own image as it would run: RunNodeHelper, whose
// local scripts the node answers ("local" in helpers); other helpers as answer does.
func (d *dockerNode) asSelf(t *testing.T) func(j swarm.Job) swarmtest.JobRun {
	return d.selfWith(t, d.answer)
}

// selfWith is asSelf with answer for the other helpers and the one helper's local scripts,
// which carry the step label of the helper they stand for (survey: the listing; else prune).
func (d *dockerNode) selfWith(t *testing.T, answer func(j swarm.Job) swarmtest.JobRun) func(j swarm.Job) swarmtest.JobRun {
	return func(j swarm.Job) swarmtest.JobRun {
		if j.Image != selfImage {
			return answer(j)
		}
		d.helpers = append(d.helpers, "self "+swarmtest.Step(j))
		if j.Entrypoint != "swarm-utils" || j.User != "0:0" || len(j.Args) != 2 || j.Args[0] != NodeHelperCommand ||
			!slices.Contains(j.Mounts, "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock") {
			t.Errorf("swarm-utils helper %+v", j)
		}
		var out strings.Builder
		run := runnerFunc(func(c bashexec.Command) bashexec.Result {
			step := "prune"
			if _, args, _ := swarmtest.Script(c.Args); len(args) == 1 || len(args) > 0 && strings.HasPrefix(args[0], "images:") {
				step = "survey" // the listing, or the disk usage before beside it
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			r := answer(swarm.Job{Args: c.Args, Labels: []swarm.Label{{Key: helper.LabelStep, Value: step}}})
			d.helpers[len(d.helpers)-1] = "local"
			return bashexec.Result{Stdout: r.Logs}
		})
		if err := RunNodeHelper(context.Background(), j.Args[1], run, slog.New(slog.DiscardHandler), &out); err != nil {
			return swarmtest.JobRun{State: "failed", Exit: 1, Logs: err.Error()}
		}
		return swarmtest.JobRun{State: "complete", Logs: "a log line of the helper's own\n" + out.String()}
	}
}

type runnerFunc func(c bashexec.Command) bashexec.Result

func (f runnerFunc) Run(_ context.Context, c bashexec.Command) (bashexec.Result, error) {
	return f(c), nil
}

// pruned answers clean-node's helpers on a node without images.
func pruned(exit map[string]int) func(j swarm.Job) swarmtest.JobRun {
	return (&dockerNode{exit: exit}).answer
}

// stepByName is the result's step called name.
func stepByName(r operation.Result, name string) operation.Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return operation.Step{Name: "missing " + name}
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
	all := []string{"container-prune", "image-prune", "builder-prune", "disk-usage"}
	for _, tc := range []struct {
		name, engine, local string
		labels              map[string]string
		wantArgs            []string // the prune helper's step arguments
		wantSteps           []string
		wantHelpers         []string // the helpers' steps, in order
		viaHelper           bool
	}{
		{"every step, 20.10 reaps helper containers", "20.10.24+dfsg1", "nm", nil,
			[]string{"df-before:60", "container:30:reap", "image:60", "builder:90", "df-after:60", "--"}, all, []string{"prune"}, true},
		{"current engine: no reap", "29.1.3", "nm", nil,
			[]string{"df-before:60", "container:30", "image:60", "builder:90", "df-after:60", "--"}, all, []string{"prune"}, true},
		{"until: docker's filter", "29.1.3", "nm", map[string]string{parse.LabelNodeCleanImageUntil: "24h"},
			[]string{"df-before:60", "container:30", "image:60:until=86400s", "builder:90", "df-after:60", "--"}, all, []string{"prune"}, true},
		{"labels pick the steps and timeouts", "29.1.3", "nm",
			map[string]string{parse.LabelNodeCleanImageEnable: "false", parse.LabelNodeCleanBuilderTimeout: "1500"},
			[]string{"df-before:60", "container:30", "builder:2", "df-after:60", "--"}, []string{"container-prune", "builder-prune", "disk-usage"}, []string{"prune"}, true},
		{"the local node runs it directly", "29.1.3", "n1", nil,
			[]string{"df-before:60", "container:30", "image:60", "builder:90", "df-after:60", "--"}, all, []string{""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := swarmtest.Node("n1", "worker-1")
			n.EngineVersion, n.Labels = tc.engine, tc.labels
			f := swarmtest.New(n, swarmtest.Node("nm", "manager"))
			f.Local = tc.local
			d := &dockerNode{}
			f.OnJob = d.answer
			r := newJob(f).Node(context.Background(), "worker-1")
			if !r.OK || !slices.Equal(stepNames(r), tc.wantSteps) {
				t.Fatalf("ok=%v err=%s steps %v, want %v", r.OK, r.Error, stepNames(r), tc.wantSteps)
			}
			if !slices.Equal(d.helpers, tc.wantHelpers) {
				t.Errorf("helpers %q, want %q", d.helpers, tc.wantHelpers)
			}
			for _, s := range r.Steps {
				if (strings.HasSuffix(s.Name, "-prune") && s.Name != "image-prune" && s.Details["reclaimed"] != "1.5MB") || s.Node != "worker-1" {
					t.Errorf("step %+v", s)
				}
			}
			var args []string
			if tc.viaHelper {
				jobs := f.Calls("create-job")
				if len(jobs) != len(tc.wantHelpers) || len(f.Calls("run-local")) != 0 {
					t.Fatalf("changes %+v, want %d helpers", f.Changes(), len(tc.wantHelpers))
				}
				j := jobs[len(jobs)-1].Job
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
	if st := stepByName(r, "image-prune"); st.OK || st.Error != "image prune timed out after 1m0s" {
		t.Errorf("image step %+v", st)
	}
	if !stepByName(r, "container-prune").OK || !stepByName(r, "builder-prune").OK {
		t.Errorf("the other steps: %+v", r.Steps)
	}

	// The helper itself failed: every step says why.
	f2 := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f2.OnJob = func(swarm.Job) swarmtest.JobRun {
		return swarmtest.JobRun{State: "rejected", Err: "No such image: docker:cli"}
	}
	r = newJob(f2).Node(context.Background(), "worker-1")
	if r.OK || len(r.Steps) != 4 || !strings.Contains(r.Steps[2].Error, "No such image") {
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
			if len(r.Steps) != 4 {
				t.Fatalf("steps %+v", r.Steps)
			}
			for _, st := range r.Steps[:3] {
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
	for _, rm := range f.Calls("remove") {
		if rm.Target == "theirs" {
			t.Errorf("removed the other run's helper: %+v", rm)
		}
	}
	if _, ok := f.Get(helper.Name(Op, "n1", "prune", "n1")); !ok {
		t.Error("the other run's helper is gone")
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

// imageLine is one `docker image ls --format '{{json .}}'` line.
func imageLine(id, repo, tag, digest string, created time.Time) string {
	return fmt.Sprintf(`{"ID":%q,"Repository":%q,"Tag":%q,"Digest":%q,"CreatedAt":%q,"Size":"1MB"}`+"\n",
		id, repo, tag, digest, created.UTC().Format("2006-01-02 15:04:05 -0700 MST"))
}

const dfBefore = `{"Type":"Images","TotalCount":"5","Active":"1","Size":"10MB","Reclaimable":"8MB (80%)"}
{"Type":"Containers","TotalCount":"2","Active":"1","Size":"2kB","Reclaimable":"1kB (50%)"}
{"Type":"Local Volumes","TotalCount":"0","Active":"0","Size":"0B","Reclaimable":"0B"}
{"Type":"Build Cache","TotalCount":"1","Active":"0","Size":"1.5MB","Reclaimable":"1.5MB"}
`

// clean-node decides in Go which images go: a keep glob (environment or node label), a
// rollback target of any service and an age limit keep an image; the rest is removed by
// reference with `docker image rm` in the one helper of swarm-utils' image, after its survey
// listed them.
func TestCleanNodeChoosesImages(t *testing.T) {
	old := time.Now().Add(-72 * time.Hour)
	young := time.Now().Add(-time.Hour)
	images := imageLine("sha256:aaa", "registry:5000/team/app", "1", "<none>", old) +
		imageLine("sha256:bbb", "nginx", "1.27", "sha256:d1", old) +
		imageLine("sha256:bbb", "nginx", "stable", "sha256:d1", old) +
		imageLine("sha256:ccc", "registry:5000/shop/web", "2.0", "<none>", old) +
		imageLine("sha256:ddd", "busybox", "<none>", "sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4", old) +
		imageLine("sha256:eee", "<none>", "<none>", "<none>", old) +
		imageLine("sha256:fff", "fresh", "1", "<none>", young)
	everything := []string{"registry:5000/team/app:1", "nginx:1.27", "nginx:stable", "registry:5000/shop/web:2.0", "busybox@sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4", "sha256:eee", "fresh:1"}
	without := func(keep ...string) []string {
		return slices.DeleteFunc(slices.Clone(everything), func(r string) bool { return slices.Contains(keep, r) })
	}
	for _, tc := range []struct {
		name      string
		env       config.CleanNodeImage
		labels    map[string]string
		previous  string // the shop service's previous image
		wantRm    []string
		wantKept  map[string]string
		wantSteps []string
	}{
		{"environment glob: every tag of nginx, normalised", config.CleanNodeImage{Keep: []string{"docker.io/library/nginx"}}, nil, "",
			without("nginx:1.27", "nginx:stable"), map[string]string{"nginx:1.27": "keep docker.io/library/nginx", "nginx:stable": "keep docker.io/library/nginx"}, nil},
		{"node label glob over a registry path, added to the environment's", config.CleanNodeImage{Keep: []string{"busybox"}},
			map[string]string{parse.LabelNodeCleanImageKeep: "registry:5000/team/*"}, "",
			without("registry:5000/team/app:1", "busybox@sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"),
			map[string]string{"registry:5000/team/app:1": "keep registry:5000/team/*", "busybox@sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4": "keep busybox"}, nil},
		{"a glob on tags", config.CleanNodeImage{Keep: []string{"nginx:1.*"}}, nil, "",
			without("nginx:1.27", "nginx:stable"), map[string]string{"nginx:1.27": "keep nginx:1.*", "nginx:stable": "keep nginx:1.*"}, nil},
		{"rollback target by tag", config.CleanNodeImage{}, nil, "registry:5000/shop/web:2.0",
			without("registry:5000/shop/web:2.0"), map[string]string{"registry:5000/shop/web:2.0": "rollback target of shop"}, nil},
		{"rollback target by digest", config.CleanNodeImage{}, nil, "busybox:1.36@sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4",
			without("busybox@sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"), map[string]string{"busybox@sha256:d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4": "rollback target of shop"}, nil},
		{"age from the node label, with a keep glob", config.CleanNodeImage{Keep: []string{"nginx"}, Until: 240 * time.Hour},
			map[string]string{parse.LabelNodeCleanImageUntil: "24h"}, "",
			without("nginx:1.27", "nginx:stable", "fresh:1"),
			map[string]string{"nginx:1.27": "keep nginx", "nginx:stable": "keep nginx", "fresh:1": "younger than 24h0m0s"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := swarmtest.Node("n1", "worker-1")
			n.Labels = tc.labels
			f := swarmtest.New(n)
			// The current image of a service is no rollback target, whatever the previous spec.
			f.AddService(parse.Service{Name: "same", Mode: parse.ModeReplicated, Image: "fresh:1", PreviousImage: "fresh:1"})
			if tc.previous != "" {
				f.AddService(parse.Service{Name: "shop", Mode: parse.ModeReplicated, Image: "registry:5000/shop/web:3.0", PreviousImage: tc.previous})
			}
			d := &dockerNode{images: images, df: dfBefore}
			f.OnJob = d.asSelf(t)
			cfg := testConfig()
			cfg.CleanNodeImage = tc.env
			// Images and disk usage at once; containers and images beside the build cache; the disk usage after.
			wantHelpers := []string{"self prune", "local", "local", "local", "local", "local"}
			w := swarmtest.Wire(f, cfg)
			r := (&Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Config: cfg}).Node(context.Background(), "worker-1")
			if !r.OK {
				t.Fatalf("clean-node: %s\n%+v", r.Error, r.Steps)
			}
			if !slices.Equal(d.helpers, wantHelpers) {
				t.Errorf("helpers %q, want %q", d.helpers, wantHelpers)
			}
			if !slices.Equal(d.removed, tc.wantRm) {
				t.Errorf("docker image rm\n  %q\nwant\n  %q", d.removed, tc.wantRm)
			}
			img := stepByName(r, "image-prune")
			kept := map[string]string{}
			for k, v := range img.Details {
				if ref, ok := strings.CutPrefix(k, "kept "); ok {
					kept[ref] = v
				}
			}
			if !maps.Equal(kept, tc.wantKept) || img.Details["removed"] != strconv.Itoa(len(tc.wantRm)) {
				t.Errorf("image step details %v, want kept %v", img.Details, tc.wantKept)
			}
			if got := stepNames(r); !slices.Equal(got, []string{"survey", "container-prune", "image-prune", "builder-prune", "disk-usage"}) {
				t.Errorf("steps %q", got)
			}
			if img.Helper != helper.Name(Op, "n1", "prune", "n1") || img.Tasks[0].TaskID == "" {
				t.Errorf("image step helper %q task %+v, want the one helper's", img.Helper, img.Tasks)
			}
		})
	}
}

// The result reports the node's disk usage before and after, and what the images' removal and
// the whole clean reclaimed.
func TestCleanNodeReportsDiskUsage(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{Name: "shop", Mode: parse.ModeReplicated, Image: "web:2", PreviousImage: "web:1"})
	d := &dockerNode{images: imageLine("sha256:aaa", "old", "1", "<none>", time.Now().Add(-time.Hour)), df: dfBefore}
	after := strings.NewReplacer(`"Size":"10MB"`, `"Size":"7.5MB"`, `"Size":"1.5MB"`, `"Size":"0B"`).Replace(dfBefore)
	f.OnJob = d.selfWith(t, func(j swarm.Job) swarmtest.JobRun {
		if swarmtest.Step(j) == "prune" {
			d.df = after
		}
		return d.answer(j)
	})
	r := newJob(f).Node(context.Background(), "worker-1")
	if !r.OK {
		t.Fatalf("clean-node: %s", r.Error)
	}
	want := map[string]string{"images before": "10MB", "images after": "7.5MB", "containers before": "2kB", "containers after": "2kB",
		"build-cache before": "1.5MB", "build-cache after": "0B", "reclaimed": "4MB"}
	if du := stepByName(r, "disk-usage"); !maps.Equal(du.Details, want) {
		t.Errorf("disk usage %v, want %v", du.Details, want)
	}
	if img := stepByName(r, "image-prune"); img.Details["reclaimed"] != "2.5MB" || img.Details["removed"] != "1" {
		t.Errorf("image step %v", img.Details)
	}
}

// An image a container started to use after the survey is refused by docker (no --force): the
// step is no failure and reports the image as kept, in use.
func TestCleanNodeImageInUseMeanwhile(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{Name: "shop", Mode: parse.ModeReplicated, Image: "web:2", PreviousImage: "web:1"})
	d := &dockerNode{images: imageLine("sha256:aaa", "old", "1", "<none>", time.Now().Add(-time.Hour)) +
		imageLine("sha256:bbb", "busy", "1", "<none>", time.Now().Add(-time.Hour))}
	f.OnJob = d.selfWith(t, func(j swarm.Job) swarmtest.JobRun {
		run := d.answer(j)
		marker, _, _ := swarmtest.Script(j.Args)
		run.Logs = strings.Replace(run.Logs, marker+" begin image\n",
			marker+" begin image\nUntagged: old:1\nError response from daemon: conflict: unable to remove repository reference \"busy:1\" (must force) - container 0a1b is using its referenced image bbb\n", 1)
		return run
	})
	r := newJob(f).Node(context.Background(), "worker-1")
	img := stepByName(r, "image-prune")
	if !r.OK || !img.OK || img.Details["kept busy:1"] != "in use" || img.Details["removed"] != "1" {
		t.Errorf("ok=%v image step %+v", r.OK, img)
	}
}

// Without the survey's listing no image can be chosen: nothing is pruned.
func TestCleanNodeSurveyFails(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{Name: "shop", Mode: parse.ModeReplicated, Image: "web:2", PreviousImage: "web:1"})
	d := &dockerNode{exit: map[string]int{"images": 1}}
	f.OnJob = d.asSelf(t)
	r := newJob(f).Node(context.Background(), "worker-1")
	if r.OK || len(r.Steps) != 1 || r.Steps[0].Name != "survey" || !strings.Contains(r.Steps[0].Error, "list the images on worker-1") {
		t.Fatalf("result %+v", r)
	}
	if !slices.Equal(d.helpers, []string{"self prune", "local", "local"}) {
		t.Errorf("helpers %q, want the survey's two reads only", d.helpers)
	}

	// The services cannot be read: no rollback target is known, nothing runs.
	f2 := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f2.Fail = map[string]error{"service-ids": fmt.Errorf("daemon gone")}
	r = newJob(f2).Node(context.Background(), "worker-1")
	if r.OK || !strings.Contains(r.Error, "list services for their rollback images: daemon gone") || len(f2.Calls("create-job")) != 0 {
		t.Errorf("result %+v", r)
	}
}

// After an update the image it replaced is the service's rollback target: clean-node keeps it.
func TestCleanNodeKeepsTheImageAnUpdateReplaced(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{Name: "shop", Mode: parse.ModeReplicated, Replicas: 1, Image: "web:1"}, "worker-1")
	if _, err := f.UpdateImage(context.Background(), swarm.ImageUpdate{Service: "shop", Image: "web:2"}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	d := &dockerNode{images: imageLine("sha256:1", "web", "1", "<none>", old) + imageLine("sha256:2", "web", "2", "<none>", old)}
	f.OnJob = d.asSelf(t)
	r := newJob(f).Node(context.Background(), "worker-1")
	if img := stepByName(r, "image-prune"); !r.OK || img.Details["kept web:1"] != "rollback target of shop" || !slices.Equal(d.removed, []string{"web:2"}) {
		t.Errorf("ok=%v removed %q details %v", r.OK, d.removed, img.Details)
	}
}

// A listing longer than the helper output's kept tail loses its head: the rows left are acted
// on (removal is by reference), the half row at the cut is dropped, and the step says so.
func TestCleanNodeCutListing(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{Name: "shop", Mode: parse.ModeReplicated, Image: "web:2", PreviousImage: "web:1"})
	old := time.Now().Add(-time.Hour)
	d := &dockerNode{df: dfBefore}
	f.OnJob = d.selfWith(t, func(j swarm.Job) swarmtest.JobRun {
		marker, args, _ := swarmtest.Script(j.Args)
		if swarmtest.Step(j) != "survey" || !slices.Equal(args, []string{"images:60"}) {
			return d.answer(j)
		}
		half := imageLine("sha256:0", "lost", "1", "<none>", old)
		logs := "[… 2 MB cut …]\n" + half[20:] + imageLine("sha256:1", "web", "1", "<none>", old) + imageLine("sha256:2", "old", "1", "<none>", old) +
			marker + " end images 0\n" + marker + " done\n"
		d.helpers = append(d.helpers, "survey") // selfWith marks it local
		return swarmtest.JobRun{State: "complete", Logs: logs}
	})
	r := newJob(f).Node(context.Background(), "worker-1")
	sv, img := stepByName(r, "survey"), stepByName(r, "image-prune")
	if !r.OK || !strings.HasPrefix(sv.Details["images"], "2 (the listing was cut") || img.Details["kept web:1"] == "" || img.Details["removed"] != "1" {
		t.Errorf("ok=%v err=%s survey %v image %v", r.OK, r.Error, sv.Details, img.Details)
	}
	if du := stepByName(r, "disk-usage"); du.Details["images before"] != "10MB" {
		t.Errorf("disk usage %v", du.Details)
	}
}
