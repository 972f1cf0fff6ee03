package clusterlock_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/operation"
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
		{name: "expired claim with a live extension", existing: map[string]string{clusterlock.LabelLock: key, clusterlock.LabelInstance: "team-b",
			clusterlock.LabelExpires: now.Add(-time.Second).Format(time.RFC3339Nano)}, ext: now.Add(time.Minute).Format(time.RFC3339Nano),
			wantErr: "is busy: held by instance team-b"},
		{name: "expired claim and extension", existing: map[string]string{clusterlock.LabelLock: key, clusterlock.LabelInstance: "team-b",
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
					extID = f.AddConfig(clusterlock.ExtensionName(oldID), map[string]string{clusterlock.LabelExpires: tc.ext})
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
				if _, left := f.Configs()[clusterlock.ExtensionName(oldID)]; extID != "" && left {
					t.Fatal("the expired lock's extension was left")
				}
			}
			lease.Release()
			if len(f.Configs()) != 0 {
				t.Fatalf("release left %v", f.Configs())
			}
		})
	}
}

func TestExtendAndRelease(t *testing.T) {
	now := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := swarmtest.New()
	l := newLocks(f, clock)
	lease, err := l.Acquire(context.Background(), "node:n1", holderA, 2*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.Extend(context.Background(), 10*time.Second); err != nil || len(f.Configs()) != 1 {
		t.Fatalf("a budget inside the provisional lease needs no extension: %v, %v", err, f.Configs())
	}
	if err := lease.Extend(context.Background(), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(10*time.Minute + clusterlock.Slack); !lease.Expires().Equal(want) {
		t.Fatalf("expires %s, want %s", lease.Expires(), want)
	}
	// Past the provisional lease, the extension keeps others out.
	mu.Lock()
	now = now.Add(5 * time.Minute)
	mu.Unlock()
	if _, err := l.Acquire(context.Background(), "node:n1", holderA, time.Minute, time.Now()); operation.KindOf(err) != operation.KindBusy {
		t.Fatalf("an extended lock past its provisional lease: %v, want busy", err)
	}
	lease.Release()
	if len(f.Configs()) != 0 {
		t.Fatalf("release left %v", f.Configs())
	}
}

func TestExtendRefusedNearTheEnd(t *testing.T) {
	now := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := swarmtest.New()
	lease, err := newLocks(f, clock).Acquire(context.Background(), "node:n1", holderA, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute - clusterlock.ExtendMargin + time.Second)
	mu.Unlock()
	if err := lease.Extend(context.Background(), 10*time.Minute); err == nil {
		t.Fatal("an extension with less than clusterlock.ExtendMargin left must be refused: a claimant may already see the lock expired")
	}
	if len(f.Configs()) != 1 {
		t.Fatalf("configs %v, want the claim only", f.Configs())
	}
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
