package clusterlock_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

var holderA = operation.Holder{Instance: "team-a", Operation: "backup-service", Run: "r1"}

func newLocks(f *swarmtest.Fake, now func() time.Time) *clusterlock.Locks {
	return &clusterlock.Locks{Swarm: f, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Poll: 5 * time.Millisecond, Now: now}
}

func TestAcquire(t *testing.T) {
	now := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	key := "service:shop_db"
	for _, tc := range []struct {
		name     string
		existing map[string]string // labels of a lock another process holds; nil: none
		ext      string            // expiry of that lock's extension; "": none
		wantErr  string            // "": acquired
		takeover bool              // the existing lock was removed
	}{
		{name: "free"},
		{name: "held and live", existing: map[string]string{clusterlock.LabelLock: key, clusterlock.LabelInstance: "team-b", clusterlock.LabelOperation: "clean-service",
			clusterlock.LabelSince: now.Add(-time.Minute).Format(time.RFC3339Nano), clusterlock.LabelRun: "r9", clusterlock.LabelExpires: now.Add(time.Minute).Format(time.RFC3339Nano)},
			wantErr: "service:shop_db is busy: held by instance team-b, operation clean-service since 2026-12-01T20:59:00Z (run r9)"},
		{name: "expired is taken over", existing: map[string]string{clusterlock.LabelLock: key, clusterlock.LabelInstance: "team-b",
			clusterlock.LabelExpires: now.Add(-time.Second).Format(time.RFC3339Nano)}, takeover: true},
		{name: "expired claim with a live renewal", existing: map[string]string{clusterlock.LabelLock: key, clusterlock.LabelInstance: "team-b",
			clusterlock.LabelExpires: now.Add(-time.Second).Format(time.RFC3339Nano)}, ext: now.Add(time.Minute).Format(time.RFC3339Nano),
			wantErr: "is busy: held by instance team-b"},
		{name: "expired claim and renewal", existing: map[string]string{clusterlock.LabelLock: key, clusterlock.LabelInstance: "team-b",
			clusterlock.LabelExpires: now.Add(-time.Minute).Format(time.RFC3339Nano)}, ext: now.Add(-time.Second).Format(time.RFC3339Nano), takeover: true},
		{name: "unreadable expiry is not taken over at once", existing: map[string]string{clusterlock.LabelLock: key, clusterlock.LabelExpires: "soon"},
			wantErr: "is busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New()
			var oldID, extID string
			if tc.existing != nil {
				oldID = f.AddConfig(clusterlock.Name(key), tc.existing)
				if tc.ext != "" {
					extID = f.AddConfig(clusterlock.RenewalName(oldID, 1), map[string]string{clusterlock.LabelClaim: oldID, clusterlock.LabelExpires: tc.ext})
				}
			}
			l := newLocks(f, clock)
			lease, err := l.Acquire(context.Background(), key, holderA, 2*time.Minute, time.Now().Add(20*time.Millisecond))
			if tc.wantErr != "" {
				if operation.KindOf(err) != operation.KindBusy || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want busy containing %q", err, tc.wantErr)
				}
				if got := f.Configs()[clusterlock.Name(key)]; got.ID != oldID {
					t.Fatalf("a refused claimant changed the lock: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := f.Configs()[clusterlock.Name(key)]
			if got.ID == oldID || got.Labels[clusterlock.LabelInstance] != "team-a" || got.Labels[clusterlock.LabelOperation] != "backup-service" ||
				got.Labels[clusterlock.LabelRun] != "r1" || got.Labels[clusterlock.LabelExpires] != now.Add(2*time.Minute).Format(time.RFC3339Nano) {
				t.Fatalf("lock config = %+v", got)
			}
			if tc.takeover {
				removed := f.Calls("remove-config")
				if len(removed) == 0 || removed[0].Target != oldID {
					t.Fatalf("takeover must remove the old lock by its ID %s: %+v", oldID, removed)
				}
				if _, left := f.Configs()[clusterlock.RenewalName(oldID, 1)]; extID != "" && left {
					t.Fatal("the expired lock's renewal was left")
				}
			}
			lease.Release()
			if len(f.Configs()) != 0 {
				t.Fatalf("release left %v", f.Configs())
			}
		})
	}
}

// The holder renews its lease while it holds the lock (each renewal replaces the previous
// one), so a claimant stays out past the claim's own expiry; Release removes everything.
func TestRenewKeepsOthersOut(t *testing.T) {
	f := swarmtest.New()
	clock := newTestClock()
	l := newLocks(f, clock.Now)
	const lease = 300 * time.Millisecond
	lease0, err := l.Acquire(context.Background(), "node:n1", holderA, lease, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	renewThrough(t, f, clock, lease, 4) // the clock is past the claim's own expiry
	if _, err := l.Acquire(context.Background(), "node:n1", holderA, time.Second, time.Now()); operation.KindOf(err) != operation.KindBusy {
		t.Fatalf("a renewed lock past its claim's expiry: %v, want busy", err)
	}
	select {
	case <-lease0.Lost():
		t.Fatal("a renewed lease was lost")
	default:
	}
	if n := len(f.Configs()); n != 2 {
		t.Errorf("%d configs, want the claim and its newest renewal: %v", n, f.Configs())
	}
	lease0.Release()
	if len(f.Configs()) != 0 {
		t.Fatalf("release left %v", f.Configs())
	}
}

// A holder that cannot renew loses the lock while a third of its lease is left, before any
// claimant may take it over, and not while more is left.
func TestLeaseLostWhenRenewalsFail(t *testing.T) {
	f := swarmtest.New()
	clock := newTestClock()
	l := newLocks(f, clock.Now)
	const lease = 300 * time.Millisecond
	lease0, err := l.Acquire(context.Background(), "node:n1", holderA, lease, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer lease0.Release()
	f.SetFail("create-config", errors.New("exit status 1: Cannot connect to the Docker daemon"))
	// Half the lease left: it tries to renew and fails, and keeps the lock.
	clock.Advance(lease / 2)
	tries := len(f.Calls("create-config"))
	waitFor(t, func() bool { return len(f.Calls("create-config")) >= tries+2 }, "no renewal tried at half the lease: %v", f.Calls("create-config"))
	select {
	case <-lease0.Lost():
		t.Fatal("lost with half of the lease left")
	default:
	}
	// At 220 ms: 80 ms left, less than a third, and the claim not yet expired: lost.
	clock.Advance(70 * time.Millisecond)
	select {
	case <-lease0.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("a lease that cannot be renewed was not lost with less than a third of it left")
	}
}

// A claimant that sees a listed renewal vanish before its inspect (the holder just replaced it)
// counts the holder as alive.
func TestRenewalGoneMeansAlive(t *testing.T) {
	f := swarmtest.New()
	old := f.AddConfig(clusterlock.Name("service:a"), map[string]string{clusterlock.LabelExpires: time.Now().Add(-time.Second).Format(time.RFC3339Nano)})
	f.AddConfig(clusterlock.RenewalName(old, 1), map[string]string{clusterlock.LabelClaim: old, clusterlock.LabelExpires: time.Now().Add(-time.Second).Format(time.RFC3339Nano)})
	l := &clusterlock.Locks{Swarm: &vanishing{Fake: f}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Poll: time.Millisecond}
	if _, err := l.Acquire(context.Background(), "service:a", holderA, time.Minute, time.Now()); operation.KindOf(err) != operation.KindBusy {
		t.Fatalf("a lock whose renewal vanished between list and inspect: %v, want busy", err)
	}
	if _, ok := f.Configs()[clusterlock.Name("service:a")]; !ok {
		t.Fatal("the live holder's lock was taken over")
	}
}

// vanishing answers every inspect of a renewal (by ID) with not found, as if it were replaced.
type vanishing struct{ *swarmtest.Fake }

func (v *vanishing) InspectConfig(ctx context.Context, name string) (parse.ConfigObject, error) {
	if !strings.HasPrefix(name, "swarm-utils-lock-") {
		return parse.ConfigObject{}, operation.Errorf(operation.KindNotFound, "config %q not found", name)
	}
	return v.Fake.InspectConfig(ctx, name)
}
func TestWaiterGetsReleasedLock(t *testing.T) {
	f := swarmtest.New()
	l := newLocks(f, nil)
	first, err := l.Acquire(context.Background(), "service:a", holderA, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(30*time.Millisecond, first.Release)
	second, err := l.Acquire(context.Background(), "service:a", holderA, time.Minute, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatalf("waiter did not get the released lock: %v", err)
	}
	second.Release()
}

// Claimants of one expired lock, in parallel: exactly one wins.
func TestRacingTakeoverHasOneWinner(t *testing.T) {
	f := swarmtest.New()
	f.AddConfig(clusterlock.Name("service:a"), map[string]string{clusterlock.LabelExpires: time.Now().Add(-time.Hour).Format(time.RFC3339Nano)})
	l := newLocks(f, nil)
	var wins, busy atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Acquire(context.Background(), "service:a", holderA, time.Minute, time.Now().Add(50*time.Millisecond))
			switch {
			case err == nil:
				wins.Add(1)
			case operation.KindOf(err) == operation.KindBusy:
				busy.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || busy.Load() != 15 {
		t.Fatalf("%d winners, %d busy; want 1 and 15", wins.Load(), busy.Load())
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"service:shop_db", "swarm-utils-lock-service-shop_db"},
		{"node:abcdefghijklmnopqrstuvwxy", "swarm-utils-lock-node-abcdefghijklmnopqrstuvwxy"},
	} {
		if got := clusterlock.Name(tc.key); got != tc.want {
			t.Errorf("clusterlock.Name(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	long := "service:" + strings.Repeat("x", 80)
	if n := clusterlock.Name(long); len(n) > 64 || n == clusterlock.Name(long+"y") {
		t.Errorf("long keys: %q", n)
	}
}

// The sweep removes only expired locks and orphan renewals, never a live one.
func TestSweepExpired(t *testing.T) {
	f := swarmtest.New()
	past := time.Now().Add(-time.Minute).Format(time.RFC3339Nano)
	future := time.Now().Add(time.Hour).Format(time.RFC3339Nano)
	dead := f.AddConfig(clusterlock.Name("service:dead"), map[string]string{clusterlock.LabelLock: "service:dead", clusterlock.LabelExpires: past})
	f.AddConfig(clusterlock.RenewalName(dead, 1), map[string]string{clusterlock.LabelLock: "service:dead", clusterlock.LabelClaim: dead, clusterlock.LabelExpires: past})
	f.AddConfig(clusterlock.Name("service:live"), map[string]string{clusterlock.LabelLock: "service:live", clusterlock.LabelExpires: future})
	renewed := f.AddConfig(clusterlock.Name("service:renewed"), map[string]string{clusterlock.LabelLock: "service:renewed", clusterlock.LabelExpires: past})
	f.AddConfig(clusterlock.RenewalName(renewed, 3), map[string]string{clusterlock.LabelLock: "service:renewed", clusterlock.LabelClaim: renewed, clusterlock.LabelExpires: future})
	f.AddConfig(clusterlock.RenewalName("gone", 1), map[string]string{clusterlock.LabelLock: "service:x", clusterlock.LabelClaim: "gone", clusterlock.LabelExpires: future})
	n, err := newLocks(f, nil).SweepExpired(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want 1", n, err)
	}
	var left []string
	for name := range f.Configs() {
		left = append(left, name)
	}
	slices.Sort(left)
	want := []string{clusterlock.RenewalName(renewed, 3), clusterlock.Name("service:live"), clusterlock.Name("service:renewed")}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}
