package operation

import (
	"context"
	"sync"
	"time"
)

// Locks serialises operations per target ("service:NAME", "node:NAME") inside this process.
// Helper services carry the same key as a label, which is the lock across restarts (SPEC §6).
type Locks struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

func NewLocks() *Locks { return &Locks{held: map[string]chan struct{}{}} }

// Held tells whether an operation of this process holds key now.
func (l *Locks) Held(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, busy := l.held[key]
	return busy
}

// Acquire waits up to wait for key, and returns the release function.
func (l *Locks) Acquire(ctx context.Context, key string, wait time.Duration) (func(), error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		ch, busy := l.held[key]
		if !busy {
			ch = make(chan struct{})
			l.held[key] = ch
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, key)
				l.mu.Unlock()
				close(ch)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-ch: // released: try again
		case <-timer.C:
			return nil, Errorf(KindBusy, "%s is busy with another operation (waited %s)", key, wait)
		case <-ctx.Done():
			return nil, &Error{Kind: KindOf(ctx.Err()), Err: ctx.Err()}
		}
	}
}
