//go:build integration

package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
)

// TestIntegrationBackupWithAWorkerDaemonStopped freezes worker-2's dockerd (SIGSTOP) in the
// middle of a stop=true backup of a service with one task on each worker (at most one per node):
// 1.5 s in (the stop), or as soon as worker-2's uploader is created. Whatever step worker-2
// was in fails within its pending plus step timeout, and the start does not wait for the start
// timeout (5 minutes, as in production) for the replica that no node can take: it says so at
// once. The replica count and labels are restored and nothing is left behind. The daemon is
// resumed once the call answered, in the cleanup in any case, and by a detached watchdog should
// this test process die.
func TestIntegrationBackupWithAWorkerDaemonStopped(t *testing.T) {
	t.Run("during the stop", func(t *testing.T) {
		bkWorkerStopped(t, func(testbed.Bed, string) { time.Sleep(1500 * time.Millisecond) })
	})
	t.Run("during the upload", func(t *testing.T) {
		bkWorkerStopped(t, func(tb testbed.Bed, service string) {
			h := helper.Name(backup.Op, service, "upload", tb.NodeID(t, "worker-2"))
			testbed.WaitFor(t, time.Minute, h+" created", func() bool {
				_, err := tb.TryDockerOn("manager", "service", "inspect", "--format", "{{.ID}}", h)
				return err == nil
			})
		})
	})
}

// bkWorkerStopped runs the backup and stops worker-2's daemon once freezeAt returns.
func bkWorkerStopped(t *testing.T, freezeAt func(tb testbed.Bed, service string)) {
	tb := testbed.Get(t)
	pause, resume := testbed.PausableDockerd(t, tb, "worker-2", 300*time.Second)
	// No pre-command: the scenario of the report is stop, upload, start.
	s := newBkService(t, tb, "swarm-utils.backup.exec=")

	cfg := tb.Config()
	cfg.Timeouts.BackupStart = 5 * time.Minute
	// worker-2's step runs into its timeout on purpose: shorter than the bed's 30 s and 60 s,
	// still many times what a stop (about 2 s) and an upload (about 5 s) take here.
	cfg.Timeouts.BackupStop = 15 * time.Second
	cfg.Timeouts.BackupUpload = 20 * time.Second
	d, _ := bkDeps(t, cfg)

	done := make(chan operation.Result, 1)
	started := time.Now()
	go func() { done <- d.BackupService(context.Background(), s.Name) }()
	freezeAt(tb, s.Name)
	pause()
	var r operation.Result
	select {
	case r = <-done:
	case <-time.After(150 * time.Second): // a hang guard, not a timing assertion
		resume()
		t.Fatalf("no answer within 150 s with worker-2's daemon stopped")
	}
	js, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("answered after %s; result:\n%s", time.Since(started).Round(time.Second), js)

	if r.OK {
		t.Fatal("the backup reports OK although worker-2 was lost")
	}
	var start *operation.Step
	worker2Failed := false
	for i, st := range r.Steps {
		switch {
		case st.Name == "start":
			start = &r.Steps[i]
		case !st.OK && (st.Node == "worker-2" || st.Name == "stop"):
			worker2Failed = true
			t.Logf("step %s on %q failed: %s", st.Name, st.Node, st.Error)
		}
	}
	if !worker2Failed {
		t.Errorf("no step on worker-2 (nor the stop) failed")
	}
	if start == nil || start.OK || !strings.Contains(start.Error, "2 desired, 1 running, 1 pending: no suitable node") {
		t.Errorf("start step %+v, want it failed at once with 2 desired, 1 running, 1 pending: no suitable node", start)
	}
	// Back at its count, the label gone; no helper and no key secret left, even with the node lost.
	spec := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{json .Spec.Labels}}", s.Name)
	if !strings.HasPrefix(spec, "2 ") || strings.Contains(spec, bkRestoreLabel) {
		t.Errorf("service spec after the backup: %s (want 2 replicas and no %s label)", spec, bkRestoreLabel)
	}
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)

	resume()
	testbed.WaitFor(t, 3*time.Minute, "worker-2 ready after SIGCONT", func() bool { return tb.NodeReady("worker-2") })
	testbed.WaitFor(t, 2*time.Minute, "both replicas running again once worker-2 is back", func() bool { return tb.RunningReplicas(t, s.Name) == 2 })
}
