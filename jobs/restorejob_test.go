package jobs

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
)

// listStore is a restore.Store that lists nothing.
type listStore struct{ name string }

func (listStore) List(context.Context, config.S3, string, int) ([]restore.Object, bool, error) {
	return nil, false, nil
}

// restore-service, move-service and the catalogue read one store: BackupStore when it is set,
// else S3; the jobs get the instance's view of the cluster and the shared engine and runner.
func TestRestoreJobAndCatalogueShareTheStore(t *testing.T) {
	set := listStore{name: "set"}
	for _, tc := range []struct {
		name string
		set  restore.Store
		want restore.Store
	}{
		{"default", nil, restore.S3Store{}},
		{"set", set, set},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Config{Instance: "blue"}
			d := NewDeps(cfg, &bashexec.Fake{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			d.BackupStore, d.PollInterval = tc.set, 7*time.Millisecond
			j := d.restoreJob()
			if j.Store != tc.want {
				t.Errorf("restore job's store %#v, want %#v", j.Store, tc.want)
			}
			if _, ok := j.Swarm.(instanceSwarm); !ok || j.Helpers != d.helpers || j.Ops != d.ops || j.Helpers == nil || j.Ops == nil {
				t.Errorf("restore job not wired to the instance's cluster, engine and runner: %#v", j)
			}
			if j.Secrets != d.Secrets || j.Log != d.Log || j.PollInterval != 7*time.Millisecond || j.Config.Instance != "blue" {
				t.Errorf("restore job lacks the secrets, log, poll interval or config: %#v", j)
			}
			c := d.catalogue()
			if c.Store != tc.want || c.Swarm != j.Swarm || c.Config.Instance != "blue" {
				t.Errorf("catalogue %#v, want the restore job's store and cluster", c)
			}
		})
	}
}
