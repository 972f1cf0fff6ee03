package helper_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// Two helpers running at once are polled together: one `service ps` of both per round.
func TestHelpersAtOnceShareTheirPolls(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"))
	f.Engine = "29.1.3"
	f.OnJob = func(swarm.Job) swarmtest.JobRun { return swarmtest.JobRun{State: "running"} }
	w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
	w.Helpers.PollInterval = 10 * time.Millisecond
	var wg sync.WaitGroup
	for _, n := range []string{"n1", "n2"} {
		s := spec(150 * time.Millisecond)
		s.NodeID, s.NodeName = n, n
		wg.Go(func() {
			if out := w.Helpers.Run(context.Background(), s); out.Err == nil || !strings.Contains(out.Err.Error(), "after its timeout") {
				t.Errorf("helper on %s: %v, want its timeout", n, out.Err)
			}
		})
	}
	wg.Wait()
	shared, alone := f.Calls("job-tasks"), f.Calls("tasks")
	if len(shared) < 3 || len(shared) < len(alone) {
		t.Fatalf("%d shared polls, %d alone: want the polls of both helpers mostly shared", len(shared), len(alone))
	}
	for _, c := range shared {
		if strings.Count(c.Target, ",") != 1 {
			t.Errorf("a shared poll of %q, want both helpers", c.Target)
		}
	}
}

// A read of the helper's state that fails (a docker CLI timed out on a loaded manager) is
// retried; reads failing in a row fail the helper.
func TestHelperStateReadsAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		clearIn time.Duration // the reads fail until then; 0: for good
		wantErr string
	}{
		{"one failed read", 15 * time.Millisecond, ""},
		{"reads failing in a row", 0, "read helper state: exit code 143"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			f.Engine = "29.1.3"
			f.OnJob = func(swarm.Job) swarmtest.JobRun {
				f.SetFail("tasks", errors.New("exit code 143"))
				if tc.clearIn > 0 {
					time.AfterFunc(tc.clearIn, func() { f.SetFail("tasks", nil) })
				}
				return swarmtest.JobRun{State: "complete"}
			}
			w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
			w.Helpers.PollInterval = 10 * time.Millisecond
			out := w.Helpers.Run(context.Background(), spec(time.Second))
			switch {
			case tc.wantErr == "" && out.Err != nil:
				t.Fatalf("helper failed: %v", out.Err)
			case tc.wantErr != "" && (out.Err == nil || !strings.Contains(out.Err.Error(), tc.wantErr)):
				t.Fatalf("err %v, want %q", out.Err, tc.wantErr)
			case tc.wantErr != "" && len(f.Calls("tasks")) < 3:
				t.Errorf("%d reads before failing, want 3", len(f.Calls("tasks")))
			}
		})
	}
}

// Helpers created a few ms apart (more than a round's gathering) still share their polls: each
// first poll falls on the grid of poll intervals.
func TestHelpersCreatedApartShareTheirPolls(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"))
	f.Engine = "29.1.3"
	f.OnJob = func(swarm.Job) swarmtest.JobRun { return swarmtest.JobRun{State: "running"} }
	w := swarmtest.Wire(f, config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second}})
	w.Helpers.PollInterval = 20 * time.Millisecond
	var wg sync.WaitGroup
	for i, n := range []string{"n1", "n2"} {
		s := spec(300 * time.Millisecond)
		s.NodeID, s.NodeName = n, n
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 8 * time.Millisecond) // 4 times a round's gathering
			w.Helpers.Run(context.Background(), s)
		})
	}
	wg.Wait()
	shared, alone := f.Calls("job-tasks"), f.Calls("tasks")
	if len(shared) < 5 || len(alone) > len(shared)/2 {
		t.Fatalf("%d shared polls, %d alone: want the polls mostly shared", len(shared), len(alone))
	}
}
