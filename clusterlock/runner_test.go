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
		other     bool   // another process holds the target
		renewals  int    // thirds of the lease the steps take on the test clock, each renewed
		failRenew bool   // renewals fail from the first step on and the clock moves past two thirds of the lease
		wantErr   string // "": OK
		wantKind  operation.Kind
	}{
		{name: "short steps"},
		{name: "steps longer than the lease", renewals: 4},
		{name: "held by another process", other: true, wantKind: operation.KindBusy, wantErr: "held by instance team-b, operation clean-service"},
		{name: "lease lost", failRenew: true, wantErr: "lost the cluster lock of service:shop_db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New()
			key := operation.LockKeyService("shop_db")
			if tc.other {
				f.AddConfig(clusterlock.Name(key), map[string]string{clusterlock.LabelInstance: "team-b", clusterlock.LabelOperation: "clean-service",
					clusterlock.LabelExpires: time.Now().Add(time.Hour).Format(time.RFC3339Nano)})
			}
			clock := newTestClock()
			const lease = 300 * time.Millisecond
			locks := &clusterlock.Locks{Swarm: f, Log: log, Poll: time.Millisecond, Now: clock.Now}
			r := &operation.Runner{Locks: operation.NewLocks(), LockWait: 20 * time.Millisecond, Extra: 10 * time.Second, Log: log,
				Cluster: locks, Lease: lease, Instance: "team-a"}
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
						clock.Advance(lease * 11 / 15) // less than a third of the lease left
						select {
						case <-ctx.Done():
							return operation.Aborted(ctx)
						case <-time.After(10 * time.Second):
							return errors.New("the steps were not stopped when the lease could not be renewed")
						}
					}
					renewThrough(t, f, clock, lease, tc.renewals)
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
