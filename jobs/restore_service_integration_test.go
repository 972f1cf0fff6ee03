//go:build integration

package jobs_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
)

// rsConfig is the bed's configuration with the imported swarm-utils test image as the
// restore helper's.
func rsConfig(t *testing.T, tb testbed.Bed) config.Config {
	t.Helper()
	img := os.Getenv("SWARM_UTILS_IMAGE")
	if img == "" {
		t.Fatal("SWARM_UTILS_IMAGE is not set: eval \"$(scripts/cluster env)\"")
	}
	cfg := tb.Config()
	cfg.SelfImage = img
	return cfg
}

// rsInTasks runs script in the service's running task on each node; by node.
func rsInTasks(t *testing.T, tb testbed.Bed, service, script string) map[string]string {
	t.Helper()
	out := map[string]string{}
	rows := tb.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.ID}} {{.Node}}", service)
	for _, line := range strings.Split(strings.TrimSpace(rows), "\n") {
		id, node, _ := strings.Cut(line, " ")
		ctr := strings.TrimSpace(tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", id))
		out[node] = tb.DockerOn(t, node, "exec", ctr, "sh", "-c", script)
	}
	return out
}

// rsTree is every file's checksum, mode and owner and every folder and link of both volumes.
const rsTree = `cd /data && find . -type f -exec md5sum {} + | sort && find . -exec stat -c '%n %A %u:%g %s' {} + | sort && find . -type l -exec readlink {} + | sort`

// TestIntegrationRestoreServiceByteIdentical: a 2-volume service with a task on each worker is
// backed up, its files changed, deleted and added to, then restored with one stop (the safety
// backup is taken while it is stopped for the restore): on both nodes every file
// is byte-identical again (checksums, modes, owners, links), the service runs its 2 replicas,
// no helper or key secret is left, the safety backup is in the catalogue, and the S3 secret
// key is in no result or log.
func TestIntegrationRestoreServiceByteIdentical(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	s := newRsService(t, tb)
	rsInTasks(t, tb, s.Name, `head -c 300000 /dev/urandom > /data/b/random.bin && mkdir -p /data/a/deep/er && echo deep > /data/a/deep/er/f.txt `+
		`&& chmod 0640 /data/a/a.txt && chown 1234:2345 /data/a/deep/er/f.txt && ln -s ../a.txt /data/a/deep/link`)
	d, logs := bkDeps(t, rsConfig(t, tb))
	if r := d.BackupService(ctx, s.Name); !r.OK {
		js, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("backup failed: %s", js)
	}
	before := rsInTasks(t, tb, s.Name, rsTree)
	if len(before) != 2 || !strings.Contains(before["worker-1"], "random.bin") {
		t.Fatalf("content before: %v", before)
	}
	rsInTasks(t, tb, s.Name, `echo changed > /data/a/a.txt && rm -rf /data/b/sub /data/a/deep/link && echo new > /data/a/new.txt && head -c 1000 /dev/urandom > /data/b/random.bin`)
	if changed := rsInTasks(t, tb, s.Name, rsTree); changed["worker-1"] == before["worker-1"] {
		t.Fatal("the change did not change the volumes")
	}

	mark := len(logs.String())
	r := d.RestoreService(ctx, jobs.RestoreOptions{Service: s.Name})
	js, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("result: %s", js)
	if !r.OK {
		t.Fatalf("restore failed")
	}
	// One stop for the safety backup and the restore: the service went to 0 once.
	stops := 0
	for _, line := range strings.Split(logs.String()[mark:], "\n") {
		if strings.Contains(line, "msg=exec") && strings.Contains(line, "--replicas 0 -- "+s.Name) {
			stops++
		}
	}
	if stops != 1 {
		t.Errorf("the restore scaled %s to 0 %d times, want once", s.Name, stops)
	}
	testbed.WaitFor(t, time.Minute, "2 replicas running again", func() bool { return tb.RunningReplicas(t, s.Name) == 2 })
	after := rsInTasks(t, tb, s.Name, rsTree)
	for _, node := range []string{"worker-1", "worker-2"} {
		if after[node] != before[node] {
			t.Errorf("content on %s after the restore differs:\n--- before\n%s\n--- after\n%s", node, before[node], after[node])
		}
	}
	restored := 0
	for _, st := range r.Steps {
		if st.Name == "restore" {
			restored++
			if !strings.Contains(st.Details["volume "+s.VolB], "files") || !strings.Contains(st.Details["archive"], "_"+st.Node+"_") {
				t.Errorf("restore step on %s reports %v", st.Node, st.Details)
			}
		}
	}
	if restored != 2 {
		t.Errorf("%d restore steps, want one per worker", restored)
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)
	bkAssertNoSecret(t, tb.S3SecretKey, r, logs.String())

	cat, err := d.Backups(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	safety := 0
	for _, a := range cat {
		if a.Safety {
			safety++
			if !strings.Contains(a.Key, "_pre-restore_") {
				t.Errorf("safety archive %s is not named pre-restore", a.Key)
			}
		}
	}
	if safety != 2 || len(cat) != 4 {
		t.Errorf("catalogue after the restore: %+v (want 2 archives and 2 safety backups)", cat)
	}
}

// TestIntegrationRestoreWrongS3KeyTouchesNothing: with a wrong S3 secret key (the service's
// label) the restore fails before any stop or helper: the volumes hold what they held, the
// service runs its 2 replicas, and the key is in no result or log.
func TestIntegrationRestoreWrongS3KeyTouchesNothing(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	wrong := "wrong-secret-key-" + bkRand(t)
	s := newBkService(t, tb, "swarm-utils.backup.volume-list-upload.s3.secret-key="+wrong)
	before := rsInTasks(t, tb, s.Name, rsTree)
	d, logs := bkDeps(t, rsConfig(t, tb))
	r := d.RestoreService(ctx, jobs.RestoreOptions{Service: s.Name})
	js, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("result: %s", js)
	if r.OK || !strings.Contains(r.Error, "list the archives") {
		t.Fatalf("want a failed listing, got %s", js)
	}
	if len(r.Steps) != 0 {
		t.Errorf("steps ran: %s", js)
	}
	if after := rsInTasks(t, tb, s.Name, rsTree); after["worker-1"] != before["worker-1"] || after["worker-2"] != before["worker-2"] {
		t.Errorf("volumes changed by a failed restore")
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoSecret(t, wrong, r, logs.String())
}

// TestIntegrationRestoreBackupTimePicksThatRun: two backups with different content; a restore
// with --backup at the first one's time (and no safety backup) brings the first content back
// on both nodes.
func TestIntegrationRestoreBackupTimePicksThatRun(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	s := newRsService(t, tb)
	d, _ := bkDeps(t, rsConfig(t, tb))
	if r := d.BackupService(ctx, s.Name); !r.OK {
		t.Fatalf("first backup failed: %s", r.Error)
	}
	first := rsInTasks(t, tb, s.Name, rsTree)
	cat, err := d.Backups(ctx, s.Name)
	if err != nil || len(cat) != 2 {
		t.Fatalf("catalogue after the first backup: %v %v", cat, err)
	}
	at := cat[0].Time                   // the later of the run's two archives
	time.Sleep(1100 * time.Millisecond) // the next run's names are a second later at least
	rsInTasks(t, tb, s.Name, `echo second > /data/a/a.txt && echo more > /data/b/more.txt`)
	if r := d.BackupService(ctx, s.Name); !r.OK {
		t.Fatalf("second backup failed: %s", r.Error)
	}
	if second := rsInTasks(t, tb, s.Name, rsTree); second["worker-1"] == first["worker-1"] {
		t.Fatal("the second backup's content equals the first's")
	}
	r := d.RestoreService(ctx, jobs.RestoreOptions{Service: s.Name, Backup: at.Format(time.RFC3339), NoSafetyBackup: true})
	if !r.OK {
		js, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("restore failed: %s", js)
	}
	for _, st := range r.Steps {
		if st.Name == "restore" && !slices.ContainsFunc(cat, func(a restore.Archive) bool { return a.Key == st.Details["archive"] }) {
			t.Errorf("restored %s on %s, not an archive of the first run", st.Details["archive"], st.Node)
		}
	}
	testbed.WaitFor(t, time.Minute, "2 replicas running again", func() bool { return tb.RunningReplicas(t, s.Name) == 2 })
	if after := rsInTasks(t, tb, s.Name, rsTree); after["worker-1"] != first["worker-1"] || after["worker-2"] != first["worker-2"] {
		t.Errorf("content after restoring the first run:\n%v\nwant\n%v", after, first)
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)
}
