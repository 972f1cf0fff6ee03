package commands

import (
	"context"
	"time"
)

// operation runs fn for one target under the target's lock, inside the operation's budget
// (SPEC §6), and returns the filled Result. Waiting for the lock is not part of the budget.
// prepare (may be nil) runs under the lock before the budget is computed: it reads what the
// budget depends on, such as the number of tasks.
func (d *Deps) operation(ctx context.Context, op, target, lockKey string, budget func() time.Duration, fn func(ctx context.Context, r *Result) error, prepare func(ctx context.Context) error) (r Result) {
	r = Result{Operation: op, Target: target, OK: true, StartedAt: time.Now().UTC(), Steps: []Step{}}
	defer func() {
		r.Duration = Duration(time.Since(r.StartedAt))
		level := d.Log.Info
		if !r.OK {
			level = d.Log.Warn
		}
		level("operation end", "operation", op, "target", target, "ok", r.OK, "durationMs", time.Duration(r.Duration).Milliseconds(), "err", r.Error)
	}()
	release, err := d.Locks.Acquire(ctx, lockKey, d.Config.Timeouts.Lock)
	if err != nil {
		r.fail(err)
		return r
	}
	defer release()
	if err := d.claimTarget(ctx, lockKey); err != nil {
		r.fail(err)
		return r
	}
	if prepare != nil {
		if err := prepare(ctx); err != nil {
			r.fail(err)
			return r
		}
	}
	total := budget() + d.Config.Timeouts.Extra
	bctx, cancel := context.WithTimeoutCause(ctx, total, errorf(KindTimeout, "%s %s: past its budget of %s", op, target, total))
	defer cancel()
	d.Log.Info("operation start", "operation", op, "target", target, "budget", total.String())
	if err := fn(bctx, &r); err != nil {
		if cause := context.Cause(bctx); cause != nil && bctx.Err() == context.DeadlineExceeded {
			err = cause
		}
		r.fail(err)
	}
	for _, s := range r.Steps {
		if !s.OK && r.OK {
			r.fail(errorf(KindDocker, "step %s on %s failed: %s", s.Name, s.Node, s.Error))
		}
	}
	return r
}

// stepFrom turns a helper's outcome into a Step.
func stepFrom(name, node string, started time.Time, h helperOutcome) Step {
	s := Step{Name: name, Node: node, Helper: h.Name, OK: h.Err == nil, Duration: Duration(time.Since(started)), Tasks: []TaskResult{h.Task}}
	if h.Err != nil {
		s.Error = h.Err.Error()
	}
	return s
}
