package swarm

import (
	"context"
	"time"
)

// Poll is the one wait loop: it calls check at once and then every interval until check says
// done or fails, or ctx ends. A check error ends the wait with that error; the end of ctx
// ends it with ctx.Err() itself, so that callers can tell the two apart.
func Poll(ctx context.Context, interval time.Duration, check func(ctx context.Context) (done bool, err error)) error {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		done, err := check(ctx)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
