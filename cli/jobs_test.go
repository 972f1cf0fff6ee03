package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
	"github.com/urfave/cli/v3"
)

func TestRecoverCommand(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	name := helper.Name("clean-service", "mine", "exec", "worker-1")
	f.AddService(parse.Service{ID: "hid1", Name: name, Mode: parse.ModeReplicatedJob, Labels: map[string]string{
		helper.LabelHelper: "true", helper.LabelLock: "service:mine", helper.LabelAction: "clean-service", helper.LabelStep: "exec"}})
	f.AddTask("hid1", "worker-1", parse.Task{ID: "t1", NodeID: "n1", State: "complete"}, "")
	d := jobs.NewDeps(config.Config{}, nil, nil, nil)
	d.Swarm = f
	run := func(args ...string) (string, error) { return runCommands(jobCommands(depsOf(d)), args...) }
	for _, bad := range []string{"service:-x", "volume:x", "service:"} {
		if _, err := run("recover", "--only-target", bad); err == nil {
			t.Errorf("--only-target %q was accepted", bad)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("bad flags reached the swarm: %d calls", n)
	}
	out, err := run("recover", "--only-target", "service:mine")
	if err != nil {
		t.Fatal(err)
	}
	var rep operation.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, out)
	}
	if rep.Operation != "recover" || !rep.OK || len(rep.Results) != 1 || rep.Results[0].Steps[0].Helper != name {
		t.Errorf("report %s", out)
	}
	out, err = run("recover", "--text")
	if err != nil || out != "" { // nothing left to repair
		t.Errorf("second run: %q, %v", out, err)
	}
}

func TestCleanNodeFlags(t *testing.T) {
	d := jobs.NewDeps(config.Config{}, nil, nil, nil)
	f := swarmtest.New()
	d.Swarm = f
	for _, args := range [][]string{{"clean-node"}, {"clean-node", "--all", "--node", "x"}} {
		if _, err := runCommands(jobCommands(depsOf(d)), args...); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("bad flags reached the swarm: %d calls", n)
	}
}

// `cron next --count` out of range is a clear error, not a panic (make with a negative size) or
// an unbounded loop.
func TestCronNextCount(t *testing.T) {
	d := jobs.NewDeps(config.Config{Cron: config.Cron{Expr: "0 0 3 * * *"}}, nil, nil, nil)
	d.Swarm = swarmtest.New()
	for _, tc := range []struct {
		count string
		lines int // -1: an error
	}{
		{"-1", -1}, {"0", -1}, {"10001", -1}, {"3", 3 + 1}, // and the own schedules' header
	} {
		out, err := runCommands([]*cli.Command{cronCommand(depsOf(d))}, "cron", "next", "--count", tc.count)
		if tc.lines < 0 {
			if err == nil || !strings.Contains(err.Error(), "--count must be between 1 and 10000") {
				t.Errorf("--count %s: %v, want a clear error", tc.count, err)
			}
			continue
		}
		if err != nil || strings.Count(out, "\n") != tc.lines {
			t.Errorf("--count %s: %v\n%s", tc.count, err, out)
		}
	}
}

// `cron next` lists the targets' own schedules after the global times, an invalid one with its
// error, and then fails: a bad label is not silently skipped.
func TestCronNextListsOwnSchedules(t *testing.T) {
	d := jobs.NewDeps(config.Config{Cron: config.Cron{Expr: "0 0 3 * * *", UpdateAutoExpr: "0 */5 * * * *"}}, nil, nil, nil)
	node := swarmtest.Node("n1", "worker-1")
	node.Labels = map[string]string{parse.LabelCleanCron: "whenever"}
	f := swarmtest.New(node)
	f.AddService(parse.Service{Name: "db", Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupCron: "30 2 * * *"}})
	f.AddService(parse.Service{Name: "web", Labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateAuto: "true"}})
	d.Swarm = f
	out, err := runCommands([]*cli.Command{cronCommand(depsOf(d))}, "cron", "next", "--count", "1")
	if err == nil || !strings.Contains(err.Error(), "1 own schedule(s) have an invalid expression") {
		t.Errorf("error %v", err)
	}
	for _, want := range []string{
		"# own schedules: 3",
		`backup-service db "30 2 * * *" (swarm-utils.backup.cron) next `,
		`clean-node worker-1 "whenever" (swarm-utils.clean.cron) INVALID: label swarm-utils.clean.cron: "whenever" is not a cron expression`,
		`update-check web "0 */5 * * * *" (SWARM_UTILS_UPDATE_AUTO_CRON) next `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
