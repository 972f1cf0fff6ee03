package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// Every subcommand on one service requires --service before it reads the cluster, and the
// one-operation ones run their own operation on it.
func TestServiceCommands(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	d := jobs.NewDeps(config.Config{}, nil, nil, nil)
	d.Swarm = f
	run := func(args ...string) (string, error) {
		return runCommands(append(jobCommands(depsOf(d)), updateCheckCommand(depsOf(d))), args...)
	}
	for _, tc := range []struct {
		cmd   string
		extra []string
		op    string // the operation run on --service; "" when the test does not run it
	}{
		{"clean-service", nil, "clean-service"},
		{"backup-service", nil, "backup-service"},
		{"update-check", nil, "update-check"},
		{"backups", nil, ""},
		{"restore-service", nil, ""},
		{"move-service", []string{"--node", "worker-1"}, ""},
		{"update-service", []string{"--image", "app:2"}, ""},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			before := len(f.Calls())
			if _, err := run(append([]string{tc.cmd}, tc.extra...)...); err == nil || !strings.Contains(err.Error(), `"service"`) {
				t.Errorf("without --service: %v, want the flag required", err)
			}
			if n := len(f.Calls()) - before; n != 0 {
				t.Errorf("without --service the cluster was read: %d calls", n)
			}
			if tc.op == "" {
				return
			}
			out, err := run(tc.cmd, "--service", "nosuch")
			var r operation.Result
			if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
				t.Fatalf("output is not a result: %v\n%s", jerr, out)
			}
			if r.Operation != tc.op || r.Target != "nosuch" || r.OK || err == nil {
				t.Errorf("%s --service nosuch: %s %s ok=%v, %v; want a failed %s of nosuch", tc.cmd, r.Operation, r.Target, r.OK, err, tc.op)
			}
		})
	}
}
