package operation

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCluster is a ClusterLock whose lock is held by another process until free is closed.
type fakeCluster struct {
	free     chan struct{}
	released atomic.Int32
	tidied   *atomic.Bool // set once a Tidy function ended: a release before that overlapped it
	overlap  atomic.Bool
}

func (c *fakeCluster) Acquire(ctx context.Context, key string, _ Holder, _ time.Duration, deadline time.Time) (Lease, error) {
	select {
	case <-c.free:
		return fakeLease{c}, nil
	case <-ctx.Done():
		return nil, Aborted(ctx)
	case <-time.After(time.Until(deadline)):
		return nil, Errorf(KindBusy, "%s is busy: held by another process", key)
	}
}

type fakeLease struct{ c *fakeCluster }

func (l fakeLease) Lost() <-chan struct{} { return nil }
func (l fakeLease) Release() {
	if l.c.tidied != nil && !l.c.tidied.Load() {
		l.c.overlap.Store(true)
	}
	l.c.released.Add(1)
}

// Read runs beside the wait for the lock: its refusal is the answer at once, also while
// another process holds the lock (no busy wait), and a lock taken meanwhile is given back; a
// Read that succeeds comes before Prepare; a failed claim drops a Prepare that only reads.
func TestRunOpReadsBesideTheLock(t *testing.T) {
	refusal := Errorf(KindNotFound, "service web is not enabled")
	for _, tc := range []struct {
		name       string
		lockFree   bool
		readErr    error
		claimErr   error
		wantKind   Kind
		wantDo     bool
		wantUnlock int32 // cluster releases
	}{
		{name: "refused while the lock is held elsewhere", readErr: refusal, wantKind: KindNotFound},
		{name: "refused after the lock was taken", lockFree: true, readErr: refusal, wantKind: KindNotFound, wantUnlock: 1},
		{name: "read, then the steps", lockFree: true, wantDo: true, wantUnlock: 1},
		{name: "busy claim drops the plan", lockFree: true, claimErr: Errorf(KindBusy, "helper still running"), wantKind: KindBusy, wantUnlock: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCluster{free: make(chan struct{})}
			if tc.lockFree {
				close(c.free)
			}
			var claimed atomic.Bool
			o := &Runner{Locks: NewLocks(), LockWait: time.Minute, Log: slog.New(slog.DiscardHandler), Cluster: c,
				Claim: func(context.Context, string) error { claimed.Store(true); return tc.claimErr }}
			var read, prepared, did bool
			started := time.Now()
			r := o.RunOp(context.Background(), Op{Name: "clean-service", Target: "web", LockKey: "service:web",
				Read: func(context.Context) error {
					if tc.lockFree {
						time.Sleep(10 * time.Millisecond) // the lock first
					}
					read = true
					return tc.readErr
				},
				Prepare: func(context.Context) (Plan, error) {
					prepared = read
					return Plan{Budget: time.Minute, Do: func(context.Context, *Result) error { did = true; return nil }}, nil
				},
				PrepareOnlyReads: true,
			})
			if time.Since(started) > 10*time.Second {
				t.Errorf("took %s: the refusal waited for the lock", time.Since(started))
			}
			if tc.wantKind != "" && (r.OK || r.ErrorKind != tc.wantKind) {
				t.Errorf("result %s %q, want %s", r.ErrorKind, r.Error, tc.wantKind)
			}
			if did != tc.wantDo || (tc.wantDo && (!r.OK || !prepared || !claimed.Load())) {
				t.Errorf("steps ran %v (want %v), prepared after the read %v, claimed %v: %+v", did, tc.wantDo, prepared, claimed.Load(), r)
			}
			if n := c.released.Load(); n != tc.wantUnlock {
				t.Errorf("cluster lock released %d times, want %d", n, tc.wantUnlock)
			}
			if o.Locks.Held("service:web") {
				t.Error("in-process lock still held")
			}
		})
	}
}

// Work handed to Tidy runs beside the release of the cluster lock, and the operation (with its
// in-process lock) ends only after it; outside an operation Tidy runs nothing.
func TestTidyOverlapsTheRelease(t *testing.T) {
	if Tidy(context.Background(), func() { t.Error("ran outside an operation") }) {
		t.Error("Tidy outside an operation said it took the work")
	}
	var tidied atomic.Bool
	c := &fakeCluster{free: make(chan struct{}), tidied: &tidied}
	close(c.free)
	o := &Runner{Locks: NewLocks(), LockWait: time.Second, Log: slog.New(slog.DiscardHandler), Cluster: c}
	heldDuring := make(chan bool, 1)
	r := o.Run(context.Background(), "clean-node", "w1", "node:w1", func(context.Context) (Plan, error) {
		return Plan{Budget: time.Minute, Do: func(ctx context.Context, _ *Result) error {
			if !Tidy(ctx, func() {
				time.Sleep(50 * time.Millisecond)
				heldDuring <- o.Locks.Held("node:w1")
				tidied.Store(true)
			}) {
				return errors.New("Tidy did not take the work")
			}
			return nil
		}}, nil
	})
	if !r.OK || !tidied.Load() {
		t.Fatalf("result %+v, tidied before the end: %v", r, tidied.Load())
	}
	if !<-heldDuring || o.Locks.Held("node:w1") {
		t.Error("the in-process lock must be held while tidying and free after")
	}
	if !c.overlap.Load() || c.released.Load() != 1 {
		t.Errorf("cluster lock released %d times, during the tidying: %v", c.released.Load(), c.overlap.Load())
	}
	if strings.Contains(r.Error, "Tidy") {
		t.Error(r.Error)
	}
}
