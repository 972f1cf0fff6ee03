package operation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Runner runs operations: each under its target's lock, after the target is claimed, inside
// its budget (SPEC §6).
type Runner struct {
	Locks *Locks
	// Claim checks the cluster for work of earlier runs on the lock key (helpers a crashed
	// process left): removes what ended, fails busy when something still runs.
	Claim    func(ctx context.Context, lockKey string) error
	LockWait time.Duration // how long to wait for the lock (both stages together)
	Extra    time.Duration // added to every budget
	Log      *slog.Logger
	// Cluster is the lock across processes (nil: in-process only, for tests of one process).
	Cluster ClusterLock
	// Lease is the cluster lock's lease, renewed every third of it (SWARM_UTILS_LOCK_LEASE).
	Lease time.Duration
	// Instance names this swarm-utils in the locks it holds (SWARM_UTILS_INSTANCE).
	Instance string
}

// Plan is what preparation decided: how long the operation may take and what it does.
type Plan struct {
	Budget time.Duration
	// Do runs the operation's steps, appending them to r. An error fails the operation; a
	// failed step fails it too.
	Do func(ctx context.Context, r *Result) error
}

// Prepare runs under the lock and the claim, before the budget starts: it reads what the
// budget and the steps depend on (the service as it is now, its tasks) and returns the Plan.
type Prepare func(ctx context.Context) (Plan, error)

// Run runs one operation on one target. Waiting for the lock is not part of the budget.
func (o *Runner) Run(ctx context.Context, op, target, lockKey string, prepare Prepare) Result {
	return o.RunOp(ctx, Op{Name: op, Target: target, LockKey: lockKey, Prepare: prepare})
}

// Op is one operation on one target, for RunOp.
type Op struct {
	Name, Target, LockKey string
	// Read, when set, runs beside the wait for the lock and must change nothing: the reads that
	// no lock protects and that the operation's refusals and plan depend on (the target's
	// labels, the other services). Its error fails the operation before anything changed, also
	// while the lock is still awaited (the wait is then abandoned). Prepare runs after it.
	Read func(ctx context.Context) error
	// Prepare runs under the lock and after the claim (see Prepare).
	Prepare Prepare
	// PrepareOnlyReads: Prepare changes nothing, so it runs beside the claim, under the lock;
	// a failed claim drops its plan. The claim still comes before every step.
	PrepareOnlyReads bool
}

// RunOp runs op: Read beside the lock's acquisition, then under the lock the claim and Prepare,
// then the plan inside its budget. Waiting for the lock is not part of the budget.
func (o *Runner) RunOp(ctx context.Context, op Op) (r Result) {
	r = Result{Operation: op.Name, Target: op.Target, OK: true, StartedAt: time.Now().UTC(), Steps: []Step{}}
	defer func() {
		r.Duration = Duration(time.Since(r.StartedAt))
		level := o.Log.Info
		if !r.OK {
			level = o.Log.Warn
		}
		level("operation end", "operation", op.Name, "target", op.Target, "ok", r.OK, "durationMs", time.Duration(r.Duration).Milliseconds(), "err", r.Error)
	}()
	run := RunOf(ctx)
	if run == "" {
		run = NewRunID()
		ctx = WithRun(ctx, run)
	}
	// The lock is waited for under lctx, which a failed Read ends: its refusal is the answer.
	lctx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	read := make(chan error, 1)
	if op.Read != nil {
		go func() {
			var err error
			defer func() {
				// A panic here would crash serve with every operation in flight.
				if p := recover(); p != nil {
					err = fmt.Errorf("internal error: %v", p)
				}
				if err != nil {
					stopWait()
				}
				read <- err
			}()
			err = op.Read(ctx)
		}()
	} else {
		read <- nil
	}
	held, local, err := o.lock(lctx, op, run)
	if rerr := <-read; rerr != nil {
		if err == nil {
			if held != nil {
				held.Release()
			}
			local()
		}
		r.Fail(rerr)
		return r
	}
	if err != nil {
		r.Fail(err)
		return r
	}
	// Work that only tidies up after the steps (a finished helper's removal, see Tidy) runs
	// beside the release of the cluster lock; the in-process lock is given up after both.
	t := &tail{}
	ctx = context.WithValue(ctx, tailKey{}, t)
	defer func() {
		released := make(chan struct{})
		go func() {
			defer close(released)
			if held != nil {
				held.Release()
			}
		}()
		t.wg.Wait()
		<-released
		local()
	}()
	if held != nil {
		// A lease that could not be renewed may soon pass to another process: stop.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			select {
			case <-held.Lost():
				cancel(Errorf(KindDocker, "%s %s: lost the cluster lock of %s (its lease could not be renewed)", op.Name, op.Target, op.LockKey))
			case <-ctx.Done():
			}
		}()
	}
	plan, err := o.claimAndPrepare(ctx, op)
	if err != nil {
		r.Fail(err)
		return r
	}
	total := plan.Budget + o.Extra
	bctx, cancel := context.WithTimeoutCause(ctx, total, Errorf(KindTimeout, "%s %s: past its budget of %s", op.Name, op.Target, total))
	defer cancel()
	o.Log.Info("operation start", "operation", op.Name, "target", op.Target, "budget", total.String())
	if err := plan.Do(bctx, &r); err != nil {
		if cause := context.Cause(bctx); cause != nil && bctx.Err() == context.DeadlineExceeded {
			err = cause
		}
		r.Fail(err)
	}
	for _, s := range r.Steps {
		if !s.OK && r.OK {
			// A step stopped by the budget or a shutdown failed because of that, not docker.
			if bctx.Err() != nil {
				r.Fail(fmt.Errorf("step %s on %s: %w", s.Name, s.Node, Aborted(bctx)))
			}
			kind := s.ErrorKind
			if kind == "" {
				kind = KindDocker
			}
			r.Fail(Errorf(kind, "step %s on %s failed: %s", s.Name, s.Node, s.Error))
		}
	}
	return r
}

// lock takes op's lock in-process (local gives it up), then across the cluster (held; nil
// without a ClusterLock).
func (o *Runner) lock(ctx context.Context, op Op, run string) (held Lease, local func(), err error) {
	deadline := time.Now().Add(o.LockWait)
	local, err = o.Locks.Acquire(ctx, op.LockKey, o.LockWait)
	if err != nil {
		return nil, nil, err
	}
	if o.Cluster == nil {
		return nil, local, nil
	}
	lease := o.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	held, err = o.Cluster.Acquire(ctx, op.LockKey, Holder{Instance: o.Instance, Operation: op.Name, Run: run}, lease, deadline)
	if err != nil {
		local()
		return nil, nil, err
	}
	return held, local, nil
}

// claimAndPrepare runs the claim, then Prepare; beside each other when Prepare only reads.
func (o *Runner) claimAndPrepare(ctx context.Context, op Op) (Plan, error) {
	claim := func() error {
		if o.Claim == nil {
			return nil
		}
		return o.Claim(ctx, op.LockKey)
	}
	if !op.PrepareOnlyReads {
		if err := claim(); err != nil {
			return Plan{}, err
		}
		return op.Prepare(ctx)
	}
	claimed := make(chan error, 1)
	go func() { claimed <- claim() }()
	plan, err := op.Prepare(ctx)
	if cerr := <-claimed; cerr != nil {
		return Plan{}, cerr
	}
	return plan, err
}

// DefaultLease is the lease when Runner.Lease is unset (SWARM_UTILS_LOCK_LEASE's default).
const DefaultLease = 30 * time.Second

// Aborted is why ctx ended, its real cause (the budget's timeout, a shutdown's reason) when
// its canceller gave one, else ctx.Err(); its Kind is the cause's (timeout, canceled).
func Aborted(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	cause := context.Cause(ctx)
	if cause == nil || errors.Is(cause, err) {
		return &Error{Kind: KindOf(err), Err: err}
	}
	kind := KindOf(err)
	if e := (*Error)(nil); errors.As(cause, &e) { // e.g. the budget's KindTimeout
		kind = e.Kind
	}
	return &Error{Kind: kind, Err: fmt.Errorf("%w: %w", err, cause)}
}

// CtxErr is the context's error once it ended (budget or shutdown), so that an operation
// reports a timeout or cancel as such rather than as the step it interrupted.
func CtxErr(ctx context.Context) error { return ctx.Err() }

// LockKeyService and LockKeyNode name the targets operations lock: a service by name (unique
// in a swarm), a node by ID (hostnames are not unique: cloned VMs).
func LockKeyService(name string) string { return "service:" + name }
func LockKeyNode(id string) string      { return "node:" + id }
