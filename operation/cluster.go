package operation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// ClusterLock is the per-target lock across processes, restarts and instances (SPEC §11); the
// in-process Locks stay its first stage, so a process never races itself for it.
type ClusterLock interface {
	// Acquire claims key for holder with a provisional lease, waiting for another holder
	// until deadline; then it fails KindBusy naming the holder.
	Acquire(ctx context.Context, key string, holder Holder, lease time.Duration, deadline time.Time) (Lease, error)
}

// Lease is one held cluster lock; it is renewed until Release.
type Lease interface {
	// Lost is closed when the lease could not be renewed in time: the holder must stop before
	// another claimant may see it expired.
	Lost() <-chan struct{}
	// Release gives the lock up; it runs even after ctx ended.
	Release()
}

// Holder is who holds a lock, as a busy answer names it.
type Holder struct {
	Instance, Operation, Run string
}

type runKey struct{}

// WithRun is ctx carrying the id of the run it belongs to.
func WithRun(ctx context.Context, run string) context.Context {
	return context.WithValue(ctx, runKey{}, run)
}

// RunOf is the id of the run ctx belongs to, "" outside one.
func RunOf(ctx context.Context) string {
	s, _ := ctx.Value(runKey{}).(string)
	return s
}

// NewRunID is a short random id that tells one run from every other.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
