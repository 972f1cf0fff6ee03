package clusterlock_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// The runner holds the cluster lock around claim, preparation and steps, extends it by the
// budget, and releases it after; another process's live lock makes it busy before anything
// runs.
func TestRunnerHoldsTheClusterLock(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name     string
		other    bool // another process holds the target
		budget   time.Duration
		wantBusy bool
		wantExt  bool
	}{
		{name: "short budget inside the provisional lease", budget: time.Second},
		{name: "long budget extends the lease", budget: time.Hour, wantExt: true},
		{name: "held by another process", other: true, wantBusy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New()
			key := operation.LockKeyService("shop_db")
			if tc.other {
				f.AddConfig(clusterlock.Name(key), map[string]string{clusterlock.LabelInstance: "team-b", clusterlock.LabelOperation: "clean-service",
					clusterlock.LabelExpires: time.Now().Add(time.Hour).Format(time.RFC3339Nano)})
			}
			r := &operation.Runner{Locks: operation.NewLocks(), LockWait: 20 * time.Millisecond, Extra: time.Second, Log: log,
				Cluster: &clusterlock.Locks{Swarm: f, Log: log, Poll: time.Millisecond}, Lease: 2 * time.Minute, Instance: "team-a"}
			var prepared, during bool
			var runID string
			res := r.Run(context.Background(), "backup-service", "shop_db", key, func(ctx context.Context) (operation.Plan, error) {
				prepared = true
				return operation.Plan{Budget: tc.budget, Do: func(ctx context.Context, _ *operation.Result) error {
					lock := f.Configs()[clusterlock.Name(key)]
					runID = operation.RunOf(ctx)
					during = lock.Labels[clusterlock.LabelInstance] == "team-a" && lock.Labels[clusterlock.LabelOperation] == "backup-service" &&
						runID != "" && lock.Labels[clusterlock.LabelRun] == runID
					_, ext := f.Configs()[clusterlock.ExtensionName(lock.ID)]
					if ext != tc.wantExt {
						t.Errorf("extension exists: %v, want %v", ext, tc.wantExt)
					}
					return nil
				}}, nil
			})
			if tc.wantBusy {
				if res.ErrorKind != operation.KindBusy || prepared || !strings.Contains(res.Error, "team-b") {
					t.Fatalf("result %+v (prepared %v), want busy naming team-b before preparation", res, prepared)
				}
				if len(f.Configs()) != 1 {
					t.Fatalf("the other process's lock was touched: %v", f.Configs())
				}
				return
			}
			if !res.OK || !during {
				t.Fatalf("result %+v; lock held by this run during the steps: %v", res, during)
			}
			if len(f.Configs()) != 0 {
				t.Fatalf("lock left after the run: %v", f.Configs())
			}
		})
	}
}
