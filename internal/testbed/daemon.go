package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PausableDockerd prepares a test to freeze (SIGSTOP) the dockerd of one node of this bed and
// resume it (SIGCONT, at most once; in the cleanup in any case, and by a detached watchdog after
// watchdog should this test process die). It waits until the node is ready before and, in the
// cleanup, after.
func PausableDockerd(t *testing.T, tb Bed, node string, watchdog time.Duration) (pause, resume func()) {
	t.Helper()
	pid := bedDockerdPid(t, node)
	WaitFor(t, 2*time.Minute, node+" ready before the test", func() bool { return tb.NodeReady(node) })
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT dockerd %d: %v", pid, err)
			}
		})
	}
	dog := exec.Command("sh", "-c", "sleep "+strconv.Itoa(int(watchdog.Seconds()))+"; kill -CONT "+strconv.Itoa(pid))
	dog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := dog.Start(); err != nil {
		t.Fatalf("start the watchdog: %v", err)
	}
	t.Cleanup(func() {
		resume()
		_ = dog.Process.Kill() // ours, by pid; its sleep ends by itself
		_ = dog.Wait()
		WaitFor(t, 3*time.Minute, node+" ready after SIGCONT", func() bool { return tb.NodeReady(node) })
	})
	pause = func() {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP dockerd %d: %v", pid, err)
		}
	}
	return pause, resume
}

// bedDockerdPid is the pid of the dockerd of this bed's node: in the namespace su-NODE, or
// suN-NODE for bed N (scripts/cluster), told by SU_CLUSTER_DIR (…/su-cluster[-N]) and checked
// against the bed's registry on the daemon's command line, so that no other bed's daemon is
// ever stopped.
func bedDockerdPid(t *testing.T, node string) int {
	t.Helper()
	dir := filepath.Base(os.Getenv("SU_CLUSTER_DIR"))
	bed, ok := strings.CutPrefix(dir, "su-cluster")
	if !ok || os.Getenv("SU_REGISTRY") == "" {
		t.Fatalf("SU_CLUSTER_DIR %q / SU_REGISTRY do not name a bed", os.Getenv("SU_CLUSTER_DIR"))
	}
	ns := "su" + strings.TrimPrefix(bed, "-") + "-" + node
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		t.Fatalf("cannot list the processes of %s: %v", ns, err)
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
	t.Fatalf("no dockerd in %s", ns)
	return 0
}

// NodeReady tells whether the manager sees node as ready.
func (tb Bed) NodeReady(node string) bool {
	out, err := tb.TryDockerOn("manager", "node", "inspect", "--format", "{{.Status.State}}", node)
	return err == nil && strings.TrimSpace(out) == "ready"
}
