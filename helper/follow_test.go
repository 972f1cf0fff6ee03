package helper_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// A helper with a done line has its logs followed once a poll saw its task on its node: the
// done line ends it (its task still running for the manager) with the followed logs, no more
// polls and no logs read; without the done line it is polled as any helper.
func TestRunHelperFollowsItsLogs(t *testing.T) {
	const done = "@@m done"
	for _, tc := range []struct {
		name       string
		run        swarmtest.JobRun
		doneLine   string
		state      string
		exit       int
		kind       operation.Kind
		wantErr    string
		logs       string
		follows    int
		logReads   int
		maxPolls   int
		helperLeft bool
	}{
		{name: "its done line ends it", run: swarmtest.JobRun{State: "running", Logs: "out\n" + done + "\n"}, doneLine: done,
			state: "complete", logs: "out\n" + done + "\n", follows: 1, maxPolls: 1},
		{name: "ended before the first poll: read as any helper", run: swarmtest.JobRun{State: "complete", Logs: "out\n" + done + "\n"}, doneLine: done,
			state: "complete", logs: "out\n" + done + "\n", logReads: 1, maxPolls: 1},
		{name: "failed before the first poll", run: swarmtest.JobRun{State: "failed", Exit: 3, Logs: "boom\n"}, doneLine: done,
			state: "failed", exit: 3, kind: operation.KindDocker, wantErr: "ended failed with exit code 3", logs: "boom\n", logReads: 1, maxPolls: 1},
		{name: "running without its done line until its timeout", run: swarmtest.JobRun{State: "running", Logs: "out\n"}, doneLine: done,
			state: "running", exit: -1, kind: operation.KindTimeout, wantErr: "still running after its timeout", logs: "out\n", follows: 1, logReads: 1, maxPolls: 3},
		{name: "no done line: never followed", run: swarmtest.JobRun{State: "running", Logs: "out\n" + done + "\n"},
			state: "running", exit: -1, kind: operation.KindTimeout, wantErr: "still running after its timeout", logs: "out\n" + done + "\n", logReads: 1, maxPolls: 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			f.Engine = "29.1.3" // stops a removed helper's task itself: no stopper helper
			f.OnJob = func(swarm.Job) swarmtest.JobRun { return tc.run }
			w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
			s := spec(300 * time.Millisecond)
			s.DoneLine = tc.doneLine
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out := w.Helpers.Run(ctx, s)
			if operation.KindOf(out.Err) != tc.kind || tc.wantErr != "" && !strings.Contains(out.Err.Error(), tc.wantErr) {
				t.Fatalf("err %v (%s), want %s %q", out.Err, operation.KindOf(out.Err), tc.kind, tc.wantErr)
			}
			if out.Task.State != tc.state || out.Task.ExitCode != tc.exit || out.Logs != tc.logs || out.Task.TaskID == "" {
				t.Errorf("outcome %+v, want state %s, exit code %d, logs %q, a task ID", out.Task, tc.state, tc.exit, tc.logs)
			}
			polls := len(f.Calls("tasks")) + len(f.Calls("job-tasks"))
			if n := len(f.Calls("follow-logs")); n != tc.follows || len(f.Calls("logs")) != tc.logReads || polls > tc.maxPolls {
				t.Errorf("%d follows, %d log reads, %d polls; want %d, %d, at most %d", n, len(f.Calls("logs")), polls, tc.follows, tc.logReads, tc.maxPolls)
			}
			if len(f.Helpers()) != 0 {
				t.Errorf("helpers left: %+v", f.Helpers())
			}
		})
	}
}

// At most a dozen helpers are followed at once: each follow holds a process slot for its
// helper's whole run. The others are polled as before.
func TestFollowsAtOnceAreBounded(t *testing.T) {
	var nodes []parse.Node
	for i := range 16 {
		nodes = append(nodes, swarmtest.Node(fmt.Sprintf("n%d", i), fmt.Sprintf("worker-%d", i)))
	}
	f := swarmtest.New(nodes...)
	f.Engine = "29.1.3"
	f.OnJob = func(swarm.Job) swarmtest.JobRun { return swarmtest.JobRun{State: "running", Logs: "out\n"} }
	w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
	var wg sync.WaitGroup
	for i := range 16 {
		s := spec(200 * time.Millisecond)
		s.NodeID, s.NodeName, s.DoneLine = fmt.Sprintf("n%d", i), fmt.Sprintf("worker-%d", i), "@@m done"
		wg.Go(func() { w.Helpers.Run(context.Background(), s) })
	}
	wg.Wait()
	if n := len(f.Calls("follow-logs")); n == 0 || n > 12 {
		t.Fatalf("%d helpers followed at once, want 1 to 12", n)
	}
	if len(f.Helpers()) != 0 {
		t.Errorf("helpers left: %+v", f.Helpers())
	}
}
