//go:build integration

package jobs_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
)

// TestIntegrationBackupWithAWorkerDaemonStopped freezes worker-2's dockerd (SIGSTOP) in the
// middle of a stop=true backup of a service with one task on each worker (at most one per node):
// 1.5 s in (the stop), or as soon as worker-2's volume check is created. Whatever step worker-2
// was in fails within its pending plus step timeout, and the start does not wait for the start
// timeout (5 minutes, as in production) for the replica that no node can take: it says so at
// once. The replica count and labels are restored and nothing is left behind. The daemon is
// resumed once the call answered, in the cleanup in any case, and by a detached watchdog should
// this test process die.
func TestIntegrationBackupWithAWorkerDaemonStopped(t *testing.T) {
	t.Run("during the stop", func(t *testing.T) {
		bkWorkerStopped(t, func(testbed.Bed, string) { time.Sleep(1500 * time.Millisecond) })
	})
	t.Run("during the volume check", func(t *testing.T) {
		bkWorkerStopped(t, func(tb testbed.Bed, service string) {
			h := helper.Name(backup.Op, service, "volume-check", tb.NodeID(t, "worker-2"))
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
	pid := bkDockerdPid(t, "worker-2")
	testbed.WaitFor(t, 2*time.Minute, "worker-2 ready before the test", func() bool { return bkNodeReady(tb, "worker-2") })
	// No pre-command: the scenario of the report is stop, volume check, upload, start.
	s := newBkService(t, tb, "swarm-utils.backup.exec=")

	cfg := tb.Config()
	cfg.Timeouts.BackupStart = 5 * time.Minute
	d, _ := bkDeps(t, cfg)

	var resumeOnce sync.Once
	resume := func() {
		resumeOnce.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT dockerd %d: %v", pid, err)
			}
		})
	}
	watchdog := exec.Command("sh", "-c", "sleep 300; kill -CONT "+strconv.Itoa(pid))
	watchdog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := watchdog.Start(); err != nil {
		t.Fatalf("start the watchdog: %v", err)
	}
	t.Cleanup(func() {
		resume()
		_ = watchdog.Process.Kill() // ours, by pid; its sleep ends by itself
		_ = watchdog.Wait()
		testbed.WaitFor(t, 3*time.Minute, "worker-2 ready after SIGCONT", func() bool { return bkNodeReady(tb, "worker-2") })
	})

	done := make(chan operation.Result, 1)
	started := time.Now()
	go func() { done <- d.BackupService(context.Background(), s.Name) }()
	freezeAt(tb, s.Name)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP dockerd %d: %v", pid, err)
	}
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
	testbed.WaitFor(t, 3*time.Minute, "worker-2 ready after SIGCONT", func() bool { return bkNodeReady(tb, "worker-2") })
	testbed.WaitFor(t, 2*time.Minute, "both replicas running again once worker-2 is back", func() bool { return tb.RunningReplicas(t, s.Name) == 2 })
}

// bkDockerdPid is the pid of the dockerd of this bed's node: in the namespace su-NODE, or
// suN-NODE for bed N (scripts/cluster), told by SU_CLUSTER_DIR (…/su-cluster[-N]) and checked
// against the bed's registry on the daemon's command line, so that no other bed's daemon is
// ever stopped.
func bkDockerdPid(t *testing.T, node string) int {
	t.Helper()
	dir := filepath.Base(os.Getenv("SU_CLUSTER_DIR"))
	bed, ok := strings.CutPrefix(dir, "su-cluster")
	if !ok || os.Getenv("SU_REGISTRY") == "" {
		t.Skipf("SU_CLUSTER_DIR %q / SU_REGISTRY do not name a bed", os.Getenv("SU_CLUSTER_DIR"))
	}
	ns := "su" + strings.TrimPrefix(bed, "-") + "-" + node
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		t.Skipf("cannot list the processes of %s: %v", ns, err)
	}
	for _, f := range strings.Fields(string(out)) {
		comm, err := os.ReadFile("/proc/" + f + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
		if !strings.Contains(string(cmdline), "\x00--insecure-registry\x00"+os.Getenv("SU_REGISTRY")+"\x00") {
			t.Fatalf("dockerd %s in %s does not use this bed's registry %s: not stopping it", f, ns, os.Getenv("SU_REGISTRY"))
		}
		pid, _ := strconv.Atoi(f)
		return pid
	}
	t.Skipf("no dockerd in %s", ns)
	return 0
}

func bkNodeReady(tb testbed.Bed, node string) bool {
	out, err := tb.TryDockerOn("manager", "node", "inspect", "--format", "{{.Status.State}}", node)
	return err == nil && strings.TrimSpace(out) == "ready"
}
