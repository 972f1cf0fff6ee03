// Package clusterlock is the per-target lock that holds across processes, restarts and
// instances (SPEC §11): a swarm config object named after the target. Config names are unique
// in the raft store, so `docker config create NAME -` is an atomic claim that exactly one
// claimant wins. Configs are immutable, so the lease is fixed per claim: the claim carries a
// provisional expiry that covers preparation; once the operation's budget is known the holder
// extends it once by creating a second config named after the claim's ID, which a later claim
// (a new ID) never mistakes for its own.
//
// Why it is safe:
//   - Only a create wins a lock; a create of an existing name fails with AlreadyExists.
//   - A claimant takes over only a lock whose lease (the claim's expiry and, if present, its
//     extension's) has passed, and removes it by ID: when two claimants race for the same
//     expired lock, the second one's remove finds nothing (or a different name's ID never
//     matches), and of their creates only one succeeds.
//   - The holder extends only while at least ExtendMargin of its provisional lease is left, and
//     its work is bounded by contexts that end before the lease does (preparation by the
//     provisional lease, the steps by the budget; the extension adds Slack for the deferred
//     clean-ups). A claimant reads the extension only after the expiry has passed, so with
//     clocks and store replication within ExtendMargin of each other it sees any extension the
//     holder made in time.
//   - Release removes the holder's own configs by ID, never a successor's.
//
// A crashed holder (kill -9) keeps the target until its lease ends; then the next claimant
// takes over.
package clusterlock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Labels of a lock config.
const (
	LabelLock      = "swarm-utils.lock" // the lock key, e.g. service:shop_db
	LabelInstance  = "swarm-utils.lock.instance"
	LabelOperation = "swarm-utils.lock.operation"
	LabelRun       = "swarm-utils.lock.run"
	LabelSince     = "swarm-utils.lock.since"
	LabelExpires   = "swarm-utils.lock.expires"
)

// ExtendMargin is how much of its provisional lease a holder must have left to extend it: it
// covers clock skew between managers and the store's replication.
const ExtendMargin = 10 * time.Second

// Slack is added to an extension for what runs after the budget ends (a backup's deferred
// start, helper removals).
const Slack = 60 * time.Second

// releaseTimeout bounds the removal of a lock, also after its operation's context ended.
const releaseTimeout = 30 * time.Second

// Swarm is what the lock does to the cluster.
type Swarm interface {
	CreateConfig(ctx context.Context, c swarm.Config) (string, error)
	InspectConfig(ctx context.Context, name string) (parse.ConfigObject, error)
	RemoveConfig(ctx context.Context, id string) error
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

// ExtensionName is the config that extends the claim with this ID.
func ExtensionName(claimID string) string { return "swarm-utils-lease-" + claimID }

// Acquire claims key for holder with a provisional lease, waiting for another holder until
// deadline; then it fails busy naming the holder.
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
			return &claim{locks: l, key: key, id: id, expires: expires}, nil
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
		ext, err := l.Swarm.InspectConfig(ctx, ExtensionName(held.ID))
		if err != nil && operation.KindOf(err) != operation.KindNotFound {
			return nil, fmt.Errorf("read the lease of the cluster lock %s: %w", name, err)
		}
		if err != nil {
			ext = parse.ConfigObject{}
		}
		until := leaseEnd(held, ext)
		if !l.now().Before(until) {
			// Expired (a crashed holder): removed by ID, so a claimant that lost this race
			// cannot remove the winner's new claim.
			l.Log.Warn("taking over an expired cluster lock", "lock", key, "holder", describe(held), "expired", until.Format(time.RFC3339))
			if err := l.Swarm.RemoveConfig(ctx, held.ID); err != nil {
				return nil, fmt.Errorf("remove the expired cluster lock %s (%s): %w", name, held.ID, err)
			}
			if ext.ID != "" {
				if err := l.Swarm.RemoveConfig(ctx, ext.ID); err != nil {
					l.Log.Warn("remove the lease of an expired cluster lock", "lock", key, "err", err)
				}
			}
			continue
		}
		wait := min(poll, time.Until(deadline))
		if wait <= 0 {
			return nil, operation.Errorf(operation.KindBusy, "%s is busy: held by %s until %s", key, describe(held), until.Format(time.RFC3339))
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

// leaseEnd is when a claim expires: its own expiry, or its extension's when later. A label
// that cannot be read counts as expired long ago only if the claim is older than a day, so
// that a foreign or damaged config is never taken over at once.
func leaseEnd(claim, ext parse.ConfigObject) time.Time {
	end, err := time.Parse(time.RFC3339Nano, claim.Labels[LabelExpires])
	if err != nil {
		end = claim.CreatedAt.Add(24 * time.Hour)
	}
	if ext.ID != "" {
		if e, err := time.Parse(time.RFC3339Nano, ext.Labels[LabelExpires]); err == nil && e.After(end) {
			end = e
		}
	}
	return end
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
	locks   *Locks
	key     string
	id      string
	expires time.Time
	extID   string
}

// Expires is when this claim's lease ends as far as others can tell.
func (c *claim) Expires() time.Time { return c.expires }

// Extend makes the lease last at least d from now; once per claim, while enough of the
// provisional lease is left (ExtendMargin).
func (c *claim) Extend(ctx context.Context, d time.Duration) error {
	now := c.locks.now()
	want := now.Add(d + Slack)
	if !want.After(c.expires) {
		return nil // the provisional lease covers it
	}
	if c.extID != "" {
		return fmt.Errorf("extend the cluster lock %s: already extended once", c.key)
	}
	if c.expires.Sub(now) < ExtendMargin {
		return operation.Errorf(operation.KindTimeout, "extend the cluster lock %s: too little of its lease is left (until %s)", c.key, c.expires.Format(time.RFC3339))
	}
	if c.id == "" { // dry-run: nothing was created
		c.expires = want
		return nil
	}
	id, err := c.locks.Swarm.CreateConfig(ctx, swarm.Config{Name: ExtensionName(c.id), Data: []byte(c.key + "\n"), Labels: []swarm.Label{
		{Key: LabelLock, Value: c.key}, {Key: LabelExpires, Value: want.Format(time.RFC3339Nano)},
	}})
	if err != nil {
		return fmt.Errorf("extend the cluster lock %s: %w", c.key, err)
	}
	c.extID, c.expires = id, want
	return nil
}

// Release removes the extension, then the claim, both by ID, even when ctx has ended.
func (c *claim) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	var errs []error
	if c.extID != "" {
		errs = append(errs, c.locks.Swarm.RemoveConfig(ctx, c.extID))
	}
	if c.id != "" {
		errs = append(errs, c.locks.Swarm.RemoveConfig(ctx, c.id))
	}
	if err := errors.Join(errs...); err != nil {
		c.locks.Log.Error("release the cluster lock; it expires at the end of its lease", "lock", c.key, "expires", c.expires.Format(time.RFC3339), "err", err)
	}
}
