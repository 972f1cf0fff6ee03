package helper

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// A helper whose command prints a known last line when it ran to its end (Spec.DoneLine: a
// marker script's "MARKER done", which it prints as its very last action, so that its exit code
// is 0) has its logs followed while it runs: one `docker service logs --follow` instead of a
// `docker service ps` every poll interval and a `docker service logs` after its end. The done
// line tells the end as soon as the node's log stream delivers it, before the manager even
// records the task complete; the polls go on, slowly (slowPoll), only to catch a helper that
// never gets there (rejected, killed, not scheduled, past its timeout). The follow starts once
// a poll saw the task on its node: one started before the task was assigned never sees it
// (both engines of the bed), one started later gets the task's log from its start.

// slowPoll is how often a followed helper's task is read while its done line has not come.
const slowPoll = time.Second

// maxFollows bounds the follows running at once per engine: each holds one of bashexec's
// process slots (32 by default) for its helper's whole run, and the polls and every other
// docker command need the rest. A helper beyond it is polled as before.
const maxFollows = 12

// follower is one helper's followed logs.
type follower struct {
	seen  chan struct{} // closed when the done line came
	ended chan struct{} // closed when the follow returned, with or without it
	stop  context.CancelFunc
	logs  string // raw; valid once ended is closed
	err   error
	done  bool
}

// follow starts following helper id's logs until its done line (stop ends it); nil when
// maxFollows run already.
func (e *Engine) follow(ctx context.Context, id, name string, spec Spec) *follower {
	if e.follows.Add(1) > maxFollows {
		e.follows.Add(-1)
		return nil
	}
	fctx, stop := context.WithCancel(ctx)
	f := &follower{seen: make(chan struct{}), ended: make(chan struct{}), stop: stop}
	go func() {
		defer close(f.ended)
		defer e.follows.Add(-1)
		defer func() {
			// A panic here would crash serve; the helper is then polled as any other.
			if p := recover(); p != nil {
				f.err = fmt.Errorf("internal error: %v", p)
				e.Log.Error("follow helper logs panicked", "helper", name, "panic", e.Secrets.For(ctx).Mask(fmt.Sprint(p)), "stack", string(debug.Stack()))
			}
		}()
		f.logs, f.done, f.err = e.Swarm.FollowLogs(fctx, id, LogTailLines, spec.DoneLine)
		if f.done {
			close(f.seen)
		}
	}()
	return f
}

// followed is the helper's logs from its follow once its done line came ("", false without).
func (f *follower) followed() (string, bool) {
	if f == nil {
		return "", false
	}
	select {
	case <-f.seen:
		return f.logs, true
	default:
		return "", false
	}
}
