// Package clusterlock is the per-target lock that holds across processes, restarts and
// instances (SPEC §11): a swarm config object named after the target. Config names are unique
// in the raft store, so `docker config create NAME -` is an atomic claim that exactly one
// claimant wins. Configs are immutable, so the holder keeps its lease alive by renewals: every
// third of the lease it creates a renewal config (label swarm-utils.lock.claim=<claim ID>,
// expiring a lease from now), then removes the previous one. A holder killed with -9 renews
// no more: its lock expires within one lease.
//
// Why it is safe:
//   - Only a create wins a lock; a create of an existing name fails with AlreadyExists.
//   - A claimant takes over only a lock whose lease (the claim's expiry and every renewal's)
//     has passed, and removes it by ID: when two claimants race for the same expired lock,
//     the second one's remove finds nothing and only one of their creates succeeds; renewals
//     carry the ID of their claim, so an old claim's renewal never counts for a new claim.
//   - A holder makes each renewal before the previous one ends and removes the previous one
//     only after; a claimant that finds a listed renewal gone between its list and its inspect
//     takes that as the holder being alive.
//   - A holder that could not renew while a third of its lease was left gives the lock up at
//     once (Lost): its operation is cancelled before any claimant can see the lease end. This
//     holds while the managers' clocks and the store's replication agree within that third.
//   - Release removes the holder's own configs by ID, never a successor's.
package clusterlock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Labels of a lock config and its renewals.
const (
	LabelLock      = "swarm-utils.lock" // the lock key, e.g. service:shop_db
	LabelInstance  = "swarm-utils.lock.instance"
	LabelOperation = "swarm-utils.lock.operation"
	LabelRun       = "swarm-utils.lock.run"
	LabelSince     = "swarm-utils.lock.since"
	LabelExpires   = "swarm-utils.lock.expires"
	LabelClaim     = "swarm-utils.lock.claim" // on a renewal: the ID of the claim it renews
)

// releaseTimeout bounds the removal of a lock, also after its operation's context ended.
const releaseTimeout = 30 * time.Second

// Swarm is what the lock does to the cluster.
type Swarm interface {
	CreateConfig(ctx context.Context, c swarm.Config) (string, error)
	InspectConfig(ctx context.Context, name string) (parse.ConfigObject, error)
	RemoveConfig(ctx context.Context, id string) error
	ListConfigs(ctx context.Context, labels ...string) ([]string, error)
}

// Locks takes cluster locks.
type Locks struct {
	Swarm Swarm
	Log   *slog.Logger
	// Poll is how often a claimant looks at a held lock again; 0: 500 ms.
	Poll time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

var _ operation.ClusterLock = (*Locks)(nil)

func (l *Locks) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}

// Name is the config that locks key: swarm-utils-lock-<key with ':' as '-'>, within docker's
// 64 characters (a prefix plus a hash of the whole when longer). Service names and node IDs
// have no ':', so distinct keys never map to one name.
func Name(key string) string {
	name := "swarm-utils-lock-" + strings.ReplaceAll(key, ":", "-")
	if len(name) > 64 {
		sum := sha256.Sum256([]byte(key))
		name = name[:54] + "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

// RenewalName is the n-th renewal of the claim with this ID.
func RenewalName(claimID string, n int) string {
	return fmt.Sprintf("swarm-utils-lease-%s-%d", claimID, n)
}

// Acquire claims key for holder with a lease it renews until Release, waiting for another
// holder until deadline; then it fails busy naming the holder.
func (l *Locks) Acquire(ctx context.Context, key string, h operation.Holder, lease time.Duration, deadline time.Time) (operation.Lease, error) {
	name := Name(key)
	poll := l.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	for {
		since := l.now()
		expires := since.Add(lease)
		id, err := l.Swarm.CreateConfig(ctx, swarm.Config{Name: name, Data: []byte(key + "\n"), Labels: []swarm.Label{
			{Key: LabelLock, Value: key}, {Key: LabelInstance, Value: h.Instance}, {Key: LabelOperation, Value: h.Operation},
			{Key: LabelRun, Value: h.Run}, {Key: LabelSince, Value: since.Format(time.RFC3339Nano)}, {Key: LabelExpires, Value: expires.Format(time.RFC3339Nano)},
		}})
		if err == nil {
			c := &claim{locks: l, key: key, id: id, lease: lease, expires: expires, lost: make(chan struct{}), stop: make(chan struct{})}
			if id != "" { // "" in dry-run: nothing to renew
				c.done.Add(1)
				go c.renew()
			}
			return c, nil
		}
		if !alreadyExists(err) {
			return nil, fmt.Errorf("claim the cluster lock %s: %w", name, err)
		}
		held, err := l.Swarm.InspectConfig(ctx, name)
		if operation.KindOf(err) == operation.KindNotFound {
			continue // released meanwhile: claim again
		}
		if err != nil {
			return nil, fmt.Errorf("read the cluster lock %s: %w", name, err)
		}
		until, renewals, err := l.leaseEnd(ctx, held)
		if err != nil {
			return nil, fmt.Errorf("read the renewals of the cluster lock %s: %w", name, err)
		}
		if !l.now().Before(until) {
			// Expired (a crashed holder): removed by ID, so a claimant that lost this race
			// cannot remove the winner's new claim.
			l.Log.Warn("taking over an expired cluster lock", "lock", key, "holder", describe(held), "expired", until.Format(time.RFC3339))
			if err := l.Swarm.RemoveConfig(ctx, held.ID); err != nil {
				return nil, fmt.Errorf("remove the expired cluster lock %s (%s): %w", name, held.ID, err)
			}
			for _, r := range renewals {
				if err := l.Swarm.RemoveConfig(ctx, r); err != nil {
					l.Log.Warn("remove a renewal of an expired cluster lock", "lock", key, "err", err)
				}
			}
			continue
		}
		wait := min(poll, time.Until(deadline))
		if wait <= 0 {
			return nil, operation.Errorf(operation.KindBusy, "%s is busy: held by %s", key, describe(held))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, operation.Aborted(ctx)
		}
	}
}

// SweepExpired removes the locks whose lease has passed (their holders died; nobody claimed
// the target since), with their renewals, by ID, and says how many. Renewals whose claim is
// gone are removed too.
func (l *Locks) SweepExpired(ctx context.Context) (int, error) {
	ids, err := l.Swarm.ListConfigs(ctx, LabelLock)
	if err != nil {
		return 0, fmt.Errorf("list cluster locks: %w", err)
	}
	claims := map[string]bool{}
	var renewals []parse.ConfigObject
	removed := 0
	for _, id := range ids {
		c, err := l.Swarm.InspectConfig(ctx, id)
		if operation.KindOf(err) == operation.KindNotFound {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("read cluster lock %s: %w", id, err)
		}
		if c.Labels[LabelClaim] != "" {
			renewals = append(renewals, c)
			continue
		}
		claims[c.ID] = true
		until, rs, err := l.leaseEnd(ctx, c)
		if err != nil {
			return removed, fmt.Errorf("read the renewals of cluster lock %s: %w", c.Name, err)
		}
		if l.now().Before(until) {
			continue
		}
		l.Log.Warn("removing an expired cluster lock", "lock", c.Labels[LabelLock], "holder", describe(c), "expired", until.Format(time.RFC3339))
		if err := l.Swarm.RemoveConfig(ctx, c.ID); err != nil {
			return removed, fmt.Errorf("remove expired cluster lock %s: %w", c.Name, err)
		}
		delete(claims, c.ID)
		removed++
		for _, r := range rs {
			_ = l.Swarm.RemoveConfig(ctx, r)
		}
	}
	for _, r := range renewals {
		if !claims[r.Labels[LabelClaim]] {
			// Its claim is gone (taken over or released) and it only counts for that claim.
			_ = l.Swarm.RemoveConfig(ctx, r.ID)
		}
	}
	return removed, nil
}

// leaseEnd is when a claim expires: the latest of its own expiry and its renewals'. A renewal
// listed but gone by its inspect was just replaced by a newer one: the holder lives (one more
// lease from now). An expiry that cannot be read counts a day from the claim's creation, so
// that a foreign or damaged config is never taken over at once.
func (l *Locks) leaseEnd(ctx context.Context, held parse.ConfigObject) (time.Time, []string, error) {
	end, err := time.Parse(time.RFC3339Nano, held.Labels[LabelExpires])
	if err != nil {
		end = held.CreatedAt.Add(24 * time.Hour)
	}
	ids, err := l.Swarm.ListConfigs(ctx, LabelClaim+"="+held.ID)
	if err != nil {
		return time.Time{}, nil, err
	}
	for _, id := range ids {
		r, err := l.Swarm.InspectConfig(ctx, id)
		if operation.KindOf(err) == operation.KindNotFound {
			return l.now().Add(time.Minute), ids, nil
		}
		if err != nil {
			return time.Time{}, nil, err
		}
		if e, err := time.Parse(time.RFC3339Nano, r.Labels[LabelExpires]); err == nil && e.After(end) {
			end = e
		}
	}
	return end, ids, nil
}

// describe names a lock's holder for a busy answer: instance, operation, since, run.
func describe(c parse.ConfigObject) string {
	return fmt.Sprintf("instance %s, operation %s since %s (run %s)", orUnknown(c.Labels[LabelInstance]),
		orUnknown(c.Labels[LabelOperation]), orUnknown(c.Labels[LabelSince]), orUnknown(c.Labels[LabelRun]))
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func alreadyExists(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "alreadyexists")
}

// claim is one held lock.
type claim struct {
	locks *Locks
	key   string
	id    string
	lease time.Duration

	mu       sync.Mutex
	expires  time.Time // of the newest claim or renewal
	renewal  string    // ID of the newest renewal
	lostOnce sync.Once
	lost     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

func (c *claim) Lost() <-chan struct{} { return c.lost }

// renew keeps the lease alive every third of it; when a third of it is left without a
// renewal, the lock is lost.
func (c *claim) renew() {
	defer c.done.Done()
	every := c.lease / 3
	t := time.NewTicker(max(every/4, 10*time.Millisecond))
	defer t.Stop()
	// From the claim's own time, not this goroutine's start: its lease runs from there.
	c.mu.Lock()
	last := c.expires.Add(-c.lease)
	c.mu.Unlock()
	for n := 1; ; {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := c.locks.now()
		c.mu.Lock()
		expires := c.expires
		c.mu.Unlock()
		if expires.Sub(now) < every {
			c.locks.Log.Error("lost the cluster lock: it could not be renewed in time", "lock", c.key, "expires", expires.Format(time.RFC3339))
			c.lostOnce.Do(func() { close(c.lost) })
			return
		}
		if now.Sub(last) < every {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		next := now.Add(c.lease)
		id, err := c.locks.Swarm.CreateConfig(ctx, swarm.Config{Name: RenewalName(c.id, n), Data: []byte(c.key + "\n"), Labels: []swarm.Label{
			{Key: LabelLock, Value: c.key}, {Key: LabelClaim, Value: c.id}, {Key: LabelExpires, Value: next.Format(time.RFC3339Nano)},
		}})
		if err != nil {
			cancel()
			c.locks.Log.Warn("renew the cluster lock; retrying", "lock", c.key, "err", err)
			if alreadyExists(err) {
				n++ // a renewal whose answer was lost: the next name
			}
			continue
		}
		n++
		last = now
		c.mu.Lock()
		prev := c.renewal
		c.renewal, c.expires = id, next
		c.mu.Unlock()
		if prev != "" {
			if err := c.locks.Swarm.RemoveConfig(ctx, prev); err != nil {
				c.locks.Log.Warn("remove the previous renewal of the cluster lock", "lock", c.key, "err", err)
			}
		}
		cancel()
	}
}

// Release stops the renewals and removes the newest renewal, then the claim, by ID, even when
// the operation's context has ended.
func (c *claim) Release() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	var errs []error
	c.mu.Lock()
	renewal := c.renewal
	c.mu.Unlock()
	if renewal != "" {
		errs = append(errs, c.locks.Swarm.RemoveConfig(ctx, renewal))
	}
	if c.id != "" {
		errs = append(errs, c.locks.Swarm.RemoveConfig(ctx, c.id))
	}
	if err := errors.Join(errs...); err != nil {
		c.locks.Log.Error("release the cluster lock; it expires at the end of its lease", "lock", c.key, "err", err)
	}
}
