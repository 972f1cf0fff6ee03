//go:build integration

package jobs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
)

// recBinary builds swarm-utils from the repository root: these tests kill it with SIGKILL, so
// it must be a process of its own. One build serves every test of the package (a link takes
// seconds on a loaded machine); it lives in a folder of the package's own, removed by TestMain.
func recBinary(t *testing.T) string {
	t.Helper()
	recBuild.once.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			recBuild.err = errors.New("cannot find the test file's directory")
			return
		}
		dir, err := os.MkdirTemp("", "swarm-utils-it-bin-")
		if err != nil {
			recBuild.err = err
			return
		}
		recBuild.dir = dir
		bin := filepath.Join(dir, "swarm-utils")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = filepath.Join(filepath.Dir(file), "..")
		if out, err := build.CombinedOutput(); err != nil {
			recBuild.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		recBuild.bin = bin
	})
	if recBuild.err != nil {
		t.Fatal(recBuild.err)
	}
	return recBuild.bin
}

var recBuild struct {
	once     sync.Once
	bin, dir string
	err      error
}

// recLease is the lock lease of the swarm-utils processes these tests start: recover waits one
// lease for the holder it finds (here always a killed one), and the default 30 s would be most
// of each test. A renewal still has a third of it, 3 s, for its two docker calls.
const recLease = 9 * time.Second

// recEnv configures swarm-utils for the bed as scripts/demo does.
func recEnv(tb testbed.Bed) []string {
	return append(os.Environ(),
		"SWARM_UTILS_DOCKER_HOST="+tb.ManagerHost,
		"SWARM_UTILS_DOCKER_CLI_IMAGE_NAME="+tb.HelperImage, "SWARM_UTILS_BACKUP_IMAGE="+tb.UploaderImage,
		"SWARM_UTILS_S3_URL="+tb.S3URL, "SWARM_UTILS_S3_HTTPS=false", "SWARM_UTILS_S3_BUCKET="+tb.S3Bucket,
		"SWARM_UTILS_S3_ACCESS_KEY="+tb.S3AccessKey, "SWARM_UTILS_S3_SECRET_KEY="+tb.S3SecretKey,
		"SWARM_UTILS_LOG_FORMAT=text", "SWARM_UTILS_LOG_LEVEL=info",
		fmt.Sprintf("SWARM_UTILS_LOCK_LEASE=%d", recLease.Milliseconds()),
	)
}

// recRun runs swarm-utils to its end and returns stdout, stderr (the log) and its error.
func recRun(t *testing.T, tb testbed.Bed, bin string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = recEnv(tb), &stdout, &stderr
	err := cmd.Run()
	t.Logf("swarm-utils %s: %v\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), err
}

// recStart starts swarm-utils; the test kills it.
func recStart(t *testing.T, tb testbed.Bed, bin string, args ...string) *exec.Cmd {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = recEnv(tb), io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Logf("killed swarm-utils %s; its log:\n%s", strings.Join(args, " "), stderr.String())
	})
	return cmd
}

// recKill kills swarm-utils with SIGKILL: no deferred restore, no helper removal.
func recKill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	var exitErr *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exitErr) {
		t.Fatalf("swarm-utils ended before it was killed (err %v): the crash did not happen mid-run", err)
	}
}

// recHelpers returns the target's helper services whose name contains step and whose task
// is running.
func recRunningHelpers(t *testing.T, tb testbed.Bed, service, step string) []string {
	t.Helper()
	out := tb.Docker(t, "service", "ls", "--filter", "label=swarm-utils.helper.lock=service:"+service, "--format", "{{.Name}}")
	var running []string
	for _, name := range strings.Fields(out) {
		if !strings.Contains(name, "-"+step+"-") {
			continue
		}
		st, err := tb.TryDockerOn("manager", "service", "ps", "--format", "{{.CurrentState}}", name)
		if err == nil && strings.HasPrefix(st, "Running") {
			running = append(running, name)
		}
	}
	return running
}

// recAssertContainersGone checks that no container of the helpers runs on any node: docker
// 20.10 leaves a removed job's task running unless it is stopped.
func recAssertContainersGone(t *testing.T, tb testbed.Bed, helpers []string) {
	t.Helper()
	for _, node := range []string{"manager", "worker-1", "worker-2"} {
		for _, h := range helpers {
			out := tb.DockerOn(t, node, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+h)
			if strings.TrimSpace(out) != "" {
				t.Errorf("helper %s still runs a container on %s after recover", h, node)
			}
		}
	}
}

// recReport parses recover's JSON output.
func recReport(t *testing.T, out string) operation.Report {
	t.Helper()
	var rep operation.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("recover output is not a report: %v\n%s", err, out)
	}
	return rep
}

// stallingS3 is an S3 endpoint on the bed's own S3 host that accepts connections and never
// answers: an upload to it stays in flight until it is stopped.
func stallingS3(t *testing.T, tb testbed.Bed) (addr string, conns *atomic.Int32) {
	t.Helper()
	host, _, err := net.SplitHostPort(tb.S3URL)
	if err != nil {
		t.Fatalf("S3 URL %q: %v", tb.S3URL, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on the bed's S3 host: %v", err)
	}
	conns = new(atomic.Int32)
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			_ = c.Close()
		}
	})
	return ln.Addr().String(), conns
}

func TestIntegrationRecoverAfterKillMidBackup(t *testing.T) {
	tb := testbed.Get(t)
	bin := recBinary(t)
	s3, conns := stallingS3(t, tb)
	name := "it-rec-" + bkRand(t)
	vol := name + "-data"
	bkVolumeCleanup(t, tb, vol)
	tb.Service(t, name, "--replicas", "2", "--replicas-max-per-node", "1", "--constraint", "node.role==worker",
		"--mount", "type=volume,src="+vol+",dst=/data",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.stop=true",
		"--label", "swarm-utils.backup.volume-list-upload="+vol,
		"--label", "swarm-utils.backup.volume-list-upload.s3.url="+s3,
		tb.WorkloadImage)

	backup := recStart(t, tb, bin, "backup-service", "--service", name)
	var uploaders []string
	testbed.WaitFor(t, 2*time.Minute, "the backup to be stopped with both uploads in flight", func() bool {
		spec := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels \""+bkRestoreLabel+"\"}}", name)
		uploaders = recRunningHelpers(t, tb, name, "upload")
		return strings.TrimSpace(spec) == "0 2" && len(uploaders) == 2
	})
	recKill(t, backup)

	// The crash really left a mess: stopped service, restore label, uploaders still running.
	if spec := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels \""+bkRestoreLabel+"\"}}", name); strings.TrimSpace(spec) != "0 2" {
		t.Fatalf("after kill -9 the service is %q, want 0 replicas with restore label 2", spec)
	}
	if left := recRunningHelpers(t, tb, name, "upload"); len(left) != 2 {
		t.Fatalf("after kill -9 running uploaders %v, want 2", left)
	}
	if conns.Load() == 0 {
		t.Error("no uploader reached the stalling S3: the uploads were not in flight")
	}
	if left := bkKeySecrets(t, tb, name); len(left) != 2 {
		t.Errorf("after kill -9 key secrets %v, want the run's 2 (one set for every uploader)", left)
	}

	out, logs, err := recRun(t, tb, bin, "recover", "--only-target", "service:"+name)
	if err != nil {
		t.Fatalf("recover failed: %v", err)
	}
	bkAssertRestored(t, tb, name)
	bkAssertNoHelpers(t, tb, name)
	recAssertContainersGone(t, tb, uploaders)
	bkAssertNoKeySecrets(t, tb, name)

	rep := recReport(t, out)
	removed := map[string]bool{}
	restored := false
	for _, r := range rep.Results {
		for _, s := range r.Steps {
			switch s.Name {
			case "remove-helper":
				if !s.OK || s.Details["step"] != "upload" || s.Details["state"] != "running" || s.Details["stopped"] != "true" ||
					!strings.Contains(s.Details["interrupted"], "uploader is interrupted") {
					t.Errorf("remove-helper step %+v", s)
				}
				removed[s.Helper] = true
			case "recover-start":
				restored = s.OK && r.Target == name && s.Details["replicas"] == "2"
			}
		}
	}
	if !rep.OK || len(removed) != 2 || !removed[uploaders[0]] || !removed[uploaders[1]] || !restored {
		t.Errorf("report: ok %v, removed %v (want %v), restored %v", rep.OK, removed, uploaders, restored)
	}
	for _, want := range []string{"level=WARN msg=\"repaired: 2 helpers removed, 1 services restored\" secretsRemoved=2", "a running uploader is interrupted", "lockKey=service:" + name} {
		if !strings.Contains(logs, want) {
			t.Errorf("recover's log lacks %q", want)
		}
	}
}

func TestIntegrationRecoverAfterKillMidClean(t *testing.T) {
	tb := testbed.Get(t)
	bin := recBinary(t)
	name := "it-rec-" + bkRand(t)
	// On a worker: a task on the manager is cleaned directly, without a helper to leave behind.
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=sleep 300",
		tb.WorkloadImage)

	// The helper must outlive the busy refusal (a lock wait) and recover's wait for the killed
	// holder's lease: its command and timeout are far longer than both.
	clean := recStart(t, tb, bin, "clean-service", "--service", name, "--clean-service-exec-timeout", "5m")
	var execs []string
	testbed.WaitFor(t, time.Minute, "the clean helper to run", func() bool {
		execs = recRunningHelpers(t, tb, name, "exec")
		return len(execs) == 1
	})
	recKill(t, clean)
	if left := recRunningHelpers(t, tb, name, "exec"); len(left) != 1 {
		t.Fatalf("after kill -9 running helpers %v, want the exec helper", left)
	}

	// The helper left running holds the target across the restart: the next run is refused.
	out, _, err := recRun(t, tb, bin, "clean-service", "--service", name)
	if err == nil || !strings.Contains(out, `"errorKind": "busy"`) {
		t.Fatalf("clean-service with a running helper left: err %v, want busy\n%s", err, out)
	}

	out, logs, err := recRun(t, tb, bin, "recover", "--only-target", "service:"+name)
	if err != nil {
		t.Fatalf("recover failed: %v", err)
	}
	bkAssertNoHelpers(t, tb, name)
	recAssertContainersGone(t, tb, execs)
	rep := recReport(t, out)
	if !rep.OK || len(rep.Results) != 1 || len(rep.Results[0].Steps) != 1 {
		t.Fatalf("report %s", out)
	}
	if s := rep.Results[0].Steps[0]; s.Name != "remove-helper" || s.Helper != execs[0] || s.Details["step"] != "exec" ||
		s.Details["state"] != "running" || s.Details["stopped"] != "true" || s.Details["action"] != "clean-service" {
		t.Errorf("step %+v", s)
	}
	if !strings.Contains(logs, `level=WARN msg="repaired: 1 helpers removed, 0 services restored"`) {
		t.Error("recover's log lacks its summary")
	}

	tb.Docker(t, "service", "update", "--detach", "--label-add", "swarm-utils.clean.exec=echo cleaned", name)
	out, _, err = recRun(t, tb, bin, "clean-service", "--service", name)
	if err != nil || !strings.Contains(out, `"ok": true`) || !strings.Contains(out, "cleaned") {
		t.Errorf("clean-service after recover: err %v\n%s", err, out)
	}
	bkAssertNoHelpers(t, tb, name)
}
