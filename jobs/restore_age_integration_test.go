//go:build integration

package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
)

// listOnly hides the store's Peek.
type listOnly struct{ restore.Store }

// TestIntegrationRestoreEncryptedRoundTrip: with SWARM_UTILS_BACKUP_AGE_PASSPHRASE the
// uploader writes <name>.tar.gz.age archives (listed as encrypted); a restore with the same
// passphrase brings every file back byte-identical on both nodes. Without a passphrase the
// restore is refused before anything changes; with a wrong one too (the archive's header is
// checked first), and past that check the helpers fail in the decryption, no volume touched; the service runs its 2 replicas after each, and the
// passphrase is in no result or log.
func TestIntegrationRestoreEncryptedRoundTrip(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	s := newRsService(t, tb)
	pass := "it-age-pass-" + bkRand(t)
	withAge := func(a config.Age) config.Config {
		cfg := rsConfig(t, tb)
		cfg.Age = a
		return cfg
	}
	d, logs := bkDeps(t, withAge(config.Age{Passphrase: pass}))
	if r := d.BackupService(ctx, s.Name); !r.OK {
		js, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("backup failed: %s", js)
	}
	cat, err := d.Backups(ctx, s.Name)
	if err != nil || len(cat) != 2 {
		t.Fatalf("catalogue: %+v %v", cat, err)
	}
	for _, a := range cat {
		if !a.Encrypted || !strings.HasSuffix(a.Key, ".tar.gz.age") {
			t.Errorf("archive %+v: want an encrypted .tar.gz.age", a)
		}
	}
	before := rsInTasks(t, tb, s.Name, rsTree)
	rsInTasks(t, tb, s.Name, `echo changed > /data/a/a.txt && rm -rf /data/b/sub && echo new > /data/a/new.txt`)
	changed := rsInTasks(t, tb, s.Name, rsTree)

	t.Run("no passphrase: refused, nothing touched", func(t *testing.T) {
		d, _ := bkDeps(t, withAge(config.Age{}))
		r := d.RestoreService(ctx, jobs.RestoreOptions{Service: s.Name, NoSafetyBackup: true})
		if r.OK || r.ErrorKind != operation.KindConfig || len(r.Steps) != 0 {
			js, _ := json.MarshalIndent(r, "", "  ")
			t.Fatalf("want a config refusal without steps, got %s", js)
		}
	})
	t.Run("a wrong passphrase: refused at the archive's header, before the stop", func(t *testing.T) {
		d, logs := bkDeps(t, withAge(config.Age{Passphrase: "wrong-" + pass}))
		r := d.RestoreService(ctx, jobs.RestoreOptions{Service: s.Name, NoSafetyBackup: true})
		js, _ := json.MarshalIndent(r, "", "  ")
		if r.OK || r.ErrorKind != operation.KindConfig || len(r.Steps) != 0 || !strings.Contains(r.Error, "does not decrypt") {
			t.Fatalf("want a config refusal without steps, got %s", js)
		}
		bkAssertNoSecret(t, "wrong-"+pass, r, logs.String())
	})
	t.Run("a wrong passphrase past that check: the helpers fail before touching a volume", func(t *testing.T) {
		d, logs := bkDeps(t, withAge(config.Age{Passphrase: "wrong-" + pass}))
		d.BackupStore = listOnly{restore.S3Store{}} // no Peek: the header is not checked first
		r := d.RestoreService(ctx, jobs.RestoreOptions{Service: s.Name, NoSafetyBackup: true})
		js, _ := json.MarshalIndent(r, "", "  ")
		if r.OK || !strings.Contains(string(js), "wrong passphrase or identity") {
			t.Fatalf("want the helpers' decryption failure, got %s", js)
		}
		testbed.WaitFor(t, time.Minute, "2 replicas running again", func() bool { return tb.RunningReplicas(t, s.Name) == 2 })
		if now := rsInTasks(t, tb, s.Name, rsTree); now["worker-1"] != changed["worker-1"] || now["worker-2"] != changed["worker-2"] {
			t.Errorf("a failed decryption changed the volumes")
		}
		bkAssertRestored(t, tb, s.Name)
		bkAssertNoHelpers(t, tb, s.Name)
		bkAssertNoKeySecrets(t, tb, s.Name)
		bkAssertNoSecret(t, "wrong-"+pass, r, logs.String())
	})

	r := d.RestoreService(ctx, jobs.RestoreOptions{Service: s.Name, NoSafetyBackup: true})
	js, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("result: %s", js)
	if !r.OK {
		t.Fatalf("restore with the passphrase failed")
	}
	testbed.WaitFor(t, time.Minute, "2 replicas running again", func() bool { return tb.RunningReplicas(t, s.Name) == 2 })
	after := rsInTasks(t, tb, s.Name, rsTree)
	for _, node := range []string{"worker-1", "worker-2"} {
		if after[node] != before[node] {
			t.Errorf("content on %s after the restore differs:\n--- before\n%s\n--- after\n%s", node, before[node], after[node])
		}
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)
	bkAssertNoSecret(t, pass, r, logs.String())
	bkAssertNoSecret(t, tb.S3SecretKey, r, logs.String())
}
