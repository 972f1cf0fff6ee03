package cleanservice

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

const secret = "tok-secret-in-output"

func testConfig() config.Config {
	return config.Config{DockerCLIImage: "docker:cli", CleanExecShell: "/bin/sh",
		Timeouts: config.Timeouts{CleanServiceExec: 10 * time.Second, Pending: time.Second, Lock: time.Second, Extra: time.Second}}
}

// execs answers an exec helper: the command exits exit[container] in each container (0 when
// absent), printing a line; a container in unfinished has its command cut off.
func execs(exit map[string]int, unfinished string) func(j swarm.Job) swarmtest.JobRun {
	return func(j swarm.Job) swarmtest.JobRun {
		marker, rest, _ := swarmtest.Script(j.Args)
		var b strings.Builder
		for _, c := range rest[3:] {
			fmt.Fprintf(&b, "%s begin %s\ncleaned %s\n", marker, c, secret)
			if c == unfinished {
				return swarmtest.JobRun{State: "failed", Exit: 137, Logs: b.String()}
			}
			fmt.Fprintf(&b, "%s end %s %d\n", marker, c, exit[c])
		}
		return swarmtest.JobRun{State: "complete", Logs: b.String() + marker + " done\n"}
	}
}

func setup(labels map[string]string, replicas uint64) (*swarmtest.Fake, *Job) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"), swarmtest.Node("nm", "manager"))
	f.Local = "nm"
	f.AddService(parse.Service{Name: "shop_web", Replicas: replicas, Labels: labels}, "worker-1", "worker-2", "worker-1")
	cfg := testConfig()
	w := swarmtest.Wire(f, cfg)
	w.Secrets.Add(secret)
	return f, &Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Config: cfg}
}

var enabled = map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "rm -rf /tmp/cache/*", parse.LabelCleanExecTimeout: "2500"}

func TestCleanServiceExecsInEveryTask(t *testing.T) {
	f, j := setup(enabled, 3)
	f.OnJob = execs(nil, "")
	r := j.Run(context.Background(), "shop_web")
	if !r.OK || len(r.Steps) != 2 {
		t.Fatalf("ok=%v err=%s steps %+v", r.OK, r.Error, r.Steps)
	}
	// One helper per node, in node order; the tasks of a node one after another in it.
	jobs := f.Calls("create-job")
	if len(jobs) != 2 {
		t.Fatalf("%d helpers, want one per node", len(jobs))
	}
	perNode := map[string]int{"n1": 2, "n2": 1}
	for _, c := range jobs {
		_, rest, ok := swarmtest.Script(c.Job.Args)
		if !ok || rest[0] != "3" || rest[1] != "/bin/sh" || rest[2] != "rm -rf /tmp/cache/*" || len(rest)-3 != perNode[c.Job.NodeID] {
			t.Errorf("helper on %s: args %q, want SECS=3 SHELL CMD (one argv element) and its containers", c.Job.NodeID, rest)
		}
		if swarmtest.Step(*c.Job) != "exec" || c.Job.Image != "docker:cli" {
			t.Errorf("helper %+v", c.Job)
		}
	}
	if r.Steps[0].Node != "worker-1" || len(r.Steps[0].Tasks) != 2 || r.Steps[1].Node != "worker-2" {
		t.Errorf("steps %+v", r.Steps)
	}
	for _, s := range r.Steps {
		for _, task := range s.Tasks {
			if task.State != "complete" || task.Logs != "cleaned ***" || !strings.HasPrefix(task.Target, "shop_web.") {
				t.Errorf("task %+v", task)
			}
		}
	}
}

func TestCleanServiceFailingTasks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		exit       map[string]int
		unfinished int // the index of a container whose command is cut off; -1 none
		want       []string
	}{
		{"one command fails", map[string]int{"#0": 3}, -1, []string{"failed", "command exited with code 3"}},
		{"one command times out", map[string]int{"#0": 124}, -1, []string{"failed", "command timed out after 2.5s"}},
		{"the helper dies mid-command", nil, 0, []string{"failed", "command did not finish"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, j := setup(enabled, 1)
			ctrs := map[string]string{}
			for i, c := range containers(f) {
				ctrs[fmt.Sprintf("#%d", i)] = c
			}
			exit := map[string]int{}
			for k, v := range tc.exit {
				exit[ctrs[k]] = v
			}
			unfinished := ""
			if tc.unfinished >= 0 {
				unfinished = ctrs[fmt.Sprintf("#%d", tc.unfinished)]
			}
			f.OnJob = execs(exit, unfinished)
			r := j.Run(context.Background(), "shop_web")
			if r.OK || r.ErrorKind != operation.KindDocker || !strings.Contains(r.Error, "command failed in 1 of 1 tasks on worker-1") {
				t.Fatalf("ok=%v kind=%s err=%s", r.OK, r.ErrorKind, r.Error)
			}
			task := r.Steps[0].Tasks[0]
			if task.State != tc.want[0] || !strings.HasPrefix(task.Error, tc.want[1]) {
				t.Errorf("task %+v, want %q", task, tc.want)
			}
		})
	}
}

func containers(f *swarmtest.Fake) []string {
	svc, _ := f.Get("shop_web")
	tasks, _ := swarm.RunningTasks(context.Background(), f, svc)
	var out []string
	for _, t := range tasks {
		out = append(out, t.ContainerID)
	}
	slices.Sort(out)
	return out
}

func TestCleanServiceRefusesOrSkips(t *testing.T) {
	for _, tc := range []struct {
		name     string
		labels   map[string]string
		service  string
		replicas uint64
		ok       bool
		kind     operation.Kind
		want     string
	}{
		{"not enabled", map[string]string{}, "shop_web", 1, false, operation.KindNotFound, "not enabled for clean"},
		{"no command", map[string]string{parse.LabelCleanEnable: "true"}, "shop_web", 1, false, operation.KindInvalid, "label swarm-utils.clean.exec: is required"},
		{"unknown", enabled, "shop_nope", 1, false, operation.KindNotFound, `"shop_nope" not found`},
		{"bad name", enabled, "shop web", 1, false, operation.KindInvalid, "not valid"},
		{"no running task", enabled, "shop_web", 0, true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, j := setup(tc.labels, tc.replicas)
			r := j.Run(context.Background(), tc.service)
			if r.OK != tc.ok || r.ErrorKind != tc.kind || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("ok=%v kind=%s err=%s, want ok=%v %s %q", r.OK, r.ErrorKind, r.Error, tc.ok, tc.kind, tc.want)
			}
			if tc.ok && r.Skipped != "no running tasks" {
				t.Errorf("skipped %q", r.Skipped)
			}
			if n := len(f.Changes()); n != 0 {
				t.Errorf("%d changes", n)
			}
		})
	}
}
