package clusterlock_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// The runner holds the cluster lock around claim, preparation and steps — renewed for steps
// longer than the lease — and releases it after; another process's live lock makes it busy
// before anything runs; a lease that cannot be renewed stops the operation.
func TestRunnerHoldsTheClusterLock(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name      string
		other     bool          // another process holds the target
		steps     time.Duration // how long the steps take
		failRenew bool          // renewals fail from the first step on
		wantErr   string        // "": OK
		wantKind  operation.Kind
	}{
		{name: "short steps", steps: time.Millisecond},
		{name: "steps longer than the lease", steps: time.Second},
		{name: "held by another process", other: true, wantKind: operation.KindBusy, wantErr: "held by instance team-b, operation clean-service"},
		{name: "lease lost", steps: 5 * time.Second, failRenew: true, wantErr: "lost the cluster lock of service:shop_db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New()
			key := operation.LockKeyService("shop_db")
			if tc.other {
				f.AddConfig(clusterlock.Name(key), map[string]string{clusterlock.LabelInstance: "team-b", clusterlock.LabelOperation: "clean-service",
					clusterlock.LabelExpires: time.Now().Add(time.Hour).Format(time.RFC3339Nano)})
			}
			locks := &clusterlock.Locks{Swarm: f, Log: log, Poll: time.Millisecond}
			r := &operation.Runner{Locks: operation.NewLocks(), LockWait: 20 * time.Millisecond, Extra: 10 * time.Second, Log: log,
				Cluster: locks, Lease: 300 * time.Millisecond, Instance: "team-a"}
			var prepared, during, othersBusy bool
			res := r.Run(context.Background(), "backup-service", "shop_db", key, func(ctx context.Context) (operation.Plan, error) {
				prepared = true
				return operation.Plan{Budget: time.Minute, Do: func(ctx context.Context, _ *operation.Result) error {
					lock := f.Configs()[clusterlock.Name(key)]
					run := operation.RunOf(ctx)
					during = lock.Labels[clusterlock.LabelInstance] == "team-a" && lock.Labels[clusterlock.LabelOperation] == "backup-service" &&
						run != "" && lock.Labels[clusterlock.LabelRun] == run
					if tc.failRenew {
						f.SetFail("create-config", errors.New("exit status 1: Cannot connect to the Docker daemon"))
					}
					select {
					case <-time.After(tc.steps):
					case <-ctx.Done():
						return operation.Aborted(ctx)
					}
					// Another process, past the claim's own expiry: still busy.
					_, err := locks.Acquire(context.Background(), key, operation.Holder{Instance: "team-b"}, time.Second, time.Now())
					othersBusy = operation.KindOf(err) == operation.KindBusy
					return nil
				}}, nil
			})
			if tc.wantErr != "" {
				if res.OK || !strings.Contains(res.Error, tc.wantErr) || (tc.wantKind != "" && res.ErrorKind != tc.wantKind) {
					t.Fatalf("result %+v, want an error containing %q", res, tc.wantErr)
				}
				if tc.other && (prepared || len(f.Configs()) != 1) {
					t.Fatalf("prepared %v, configs %v: the other process's lock must be left alone before anything runs", prepared, f.Configs())
				}
				return
			}
			if !res.OK || !during || !othersBusy {
				t.Fatalf("result %+v; lock held by this run during the steps: %v; others busy at the end of the steps: %v", res, during, othersBusy)
			}
			if len(f.Configs()) != 0 {
				t.Fatalf("lock left after the run: %v", f.Configs())
			}
		})
	}
}
