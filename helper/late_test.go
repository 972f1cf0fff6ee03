package helper_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// gated is the fake whose removals wait for gate.
type gated struct {
	*swarmtest.Fake
	gate chan struct{}
}

func (g gated) Remove(ctx context.Context, id string) error {
	<-g.gate
	return g.Fake.Remove(ctx, id)
}

// A helper that may be removed late is removed by the end of its operation, beside the lock's
// release, not before Run returns; outside an operation, and when it was not, at once.
func TestRunHelperRemovedLate(t *testing.T) {
	cfg := config.Config{Timeouts: config.Timeouts{Pending: time.Second, Lock: time.Second}}
	for _, tc := range []struct {
		name  string
		inOp  bool
		late  bool
		state string
	}{
		{name: "late, in an operation", inOp: true, late: true, state: "complete"},
		{name: "late, failed task", inOp: true, late: true, state: "failed"},
		{name: "not late", inOp: true, state: "complete"},
		{name: "late, outside an operation", late: true, state: "complete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
			f.OnJob = func(swarm.Job) swarmtest.JobRun { return swarmtest.JobRun{State: tc.state, Exit: 1} }
			w := swarmtest.Wire(f, cfg)
			g := gated{Fake: f, gate: make(chan struct{})}
			wantLeft := 0
			if tc.late && tc.inOp {
				wantLeft = 1 // removed later, once the gate opens
			} else {
				close(g.gate)
			}
			w.Helpers.Swarm = g
			s := spec(time.Second)
			s.RemoveLate = tc.late
			left := -1
			run := func(ctx context.Context) {
				w.Helpers.Run(ctx, s)
				left = len(f.Helpers())
				if wantLeft > 0 {
					close(g.gate)
				}
			}
			if tc.inOp {
				w.Ops.Run(context.Background(), "clean-service", "web", "service:web", func(context.Context) (operation.Plan, error) {
					return operation.Plan{Budget: time.Minute, Do: func(ctx context.Context, _ *operation.Result) error { run(ctx); return nil }}, nil
				})
			} else {
				run(context.Background())
			}
			if left != wantLeft || len(f.Helpers()) != 0 {
				t.Errorf("%d helpers left when Run returned (want %d), %d at the end", left, wantLeft, len(f.Helpers()))
			}
		})
	}
}

// A helper listed by the claim and removed before its tasks are read (its run tidying up
// after itself) is no error.
func TestClaimHelperGoneMeanwhile(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{ID: "old", Name: "swarm-utils-clean-node-worker-1-prune", Mode: parse.ModeReplicatedJob,
		Labels: map[string]string{helper.LabelHelper: "true", helper.LabelLock: "node:worker-1"}})
	f.SetFail("tasks", errors.New("exit status 1: Error: No such service: old"))
	w := swarmtest.Wire(f, config.Config{})
	if err := w.Helpers.Claim(context.Background(), "node:worker-1"); err != nil {
		t.Errorf("claim: %v", err)
	}
	f.SetFail("tasks", errors.New("exit status 1: Cannot connect to the Docker daemon"))
	if err := w.Helpers.Claim(context.Background(), "node:worker-1"); err == nil {
		t.Error("claim with unreadable helper tasks: no error")
	}
}
