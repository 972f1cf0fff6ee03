//go:build integration

package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// TestIntegrationRecoverAfterKillMidRestore kills swarm-utils with SIGKILL once the safety
// backup is in S3 and the restore holds the service at 0: `recover` brings it back to its 2
// replicas without the restore label, no helper or key secret is left, and the safety backup
// is in the catalogue.
func TestIntegrationRecoverAfterKillMidRestore(t *testing.T) {
	tb := testbed.Get(t)
	ctx := context.Background()
	bin := recBinary(t)
	s := newRsService(t, tb)
	if _, _, err := recRun(t, tb, bin, "backup-service", "--service", s.Name); err != nil {
		t.Fatalf("backup: %v", err)
	}
	d, _ := bkDeps(t, rsConfig(t, tb))

	restore := recStart(t, tb, bin, "restore-service", "--service", s.Name)
	testbed.WaitFor(t, 2*time.Minute, "the safety backup in S3 and the restore holding the service at 0", func() bool {
		spec := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels \""+bkRestoreLabel+"\"}}", s.Name)
		if strings.TrimSpace(spec) != "0 2" {
			return false
		}
		cat, err := d.Backups(ctx, s.Name)
		return err == nil && rsSafetyBackups(cat) == 2
	})
	recKill(t, restore)
	if spec := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", s.Name); strings.TrimSpace(spec) != "0" {
		t.Fatalf("after kill -9 the service runs %q replicas, want 0: the crash did not happen mid-restore", spec)
	}

	if _, _, err := recRun(t, tb, bin, "recover", "--only-target", "service:"+s.Name); err != nil {
		t.Fatalf("recover failed: %v", err)
	}
	testbed.WaitFor(t, time.Minute, "2 replicas running again", func() bool { return tb.RunningReplicas(t, s.Name) == 2 })
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)
	cat, err := d.Backups(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rsSafetyBackups(cat) != 2 {
		t.Errorf("catalogue after the crash: %+v, want the 2 safety backups", cat)
	}
}
