//go:build integration

package testbed

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// A helper job pinned to worker-2 that mounts docker.sock talks to worker-2's own daemon:
// it sees the container that runs only there, and not the one that runs only on worker-1.
func TestHelperJobPinnedToWorker2SeesWorker2Daemon(t *testing.T) {
	tb := Get(t)
	id := randSuffix()
	only2, only1 := "it-bed-w2-"+id, "it-bed-w1-"+id
	tb.Service(t, only2, "--constraint", "node.hostname==worker-2", tb.WorkloadImage)
	tb.Service(t, only1, "--constraint", "node.hostname==worker-1", tb.WorkloadImage)

	helper := "it-bed-helper-" + id
	t.Cleanup(func() { _, _ = tb.TryDockerOn("manager", "service", "rm", helper) })
	tb.Docker(t, "service", "create", "--detach", "--quiet", "--name", helper,
		"--mode", "replicated-job", "--restart-condition", "none", "--log-driver", "json-file",
		"--constraint", "node.hostname==worker-2",
		"--mount", "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock",
		tb.HelperImage, "docker", "ps", "--format", "{{.Names}}")
	WaitFor(t, 60*time.Second, "helper job to complete", func() bool {
		out := tb.Docker(t, "service", "ps", "--format", "{{.CurrentState}}", helper)
		if strings.HasPrefix(out, "Failed") || strings.HasPrefix(out, "Rejected") {
			t.Fatalf("helper failed: %s", out)
		}
		return strings.HasPrefix(out, "Complete")
	})
	logs := tb.Docker(t, "service", "logs", "--raw", helper)
	if !strings.Contains(logs, only2+".1.") {
		t.Errorf("helper's docker ps on worker-2 does not list %s:\n%s", only2, logs)
	}
	if strings.Contains(logs, only1) {
		t.Errorf("helper's docker ps lists %s, which runs only on worker-1:\n%s", only1, logs)
	}
	if node := strings.TrimSpace(tb.Docker(t, "service", "ps", "--format", "{{.Node}}", helper)); node != "worker-2" {
		t.Errorf("helper ran on %q, want worker-2", node)
	}
	tb.Docker(t, "service", "rm", helper)
	if out, err := tb.TryDockerOn("manager", "service", "inspect", helper); err == nil {
		t.Errorf("helper still exists after removal: %s", out)
	}
}

// An image pushed with registry auth from worker-1 can be pulled with auth on worker-2, and
// not without it.
func TestRegistryPushAndPullWithAuthFromWorkers(t *testing.T) {
	tb := Get(t)
	ref := tb.Registry + "/it-bed/pushed-" + randSuffix() + ":1"
	login := func(node string) []string {
		cfg := t.TempDir()
		cmd := exec.Command("docker", "login", "-u", tb.RegistryUser, "--password-stdin", tb.Registry)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+tb.Host(node), "DOCKER_CONFIG="+cfg)
		cmd.Stdin = strings.NewReader(tb.RegistryPassword)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker login on %s: %v: %s", node, err, out)
		}
		return []string{"--config", cfg}
	}
	w1 := login("worker-1")
	tb.DockerOn(t, "worker-1", append(w1, "pull", "-q", tb.HelperImage)...)
	tb.DockerOn(t, "worker-1", "tag", tb.HelperImage, ref)
	tb.DockerOn(t, "worker-1", append(w1, "push", "-q", ref)...)

	anon := []string{"--config", filepath.Join(t.TempDir(), "empty")}
	if out, err := tb.TryDockerOn("worker-2", append(anon, "pull", "-q", ref)...); err == nil {
		t.Fatalf("pull without credentials succeeded: %s", out)
	} else if !strings.Contains(err.Error(), "no basic auth credentials") && !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("pull without credentials failed for another reason: %v", err)
	}
	w2 := login("worker-2")
	tb.DockerOn(t, "worker-2", append(w2, "pull", "-q", ref)...)
	if got := tb.DockerOn(t, "worker-2", "image", "inspect", "--format", "{{index .RepoTags 0}}", ref); strings.TrimSpace(got) != ref {
		t.Errorf("worker-2 has %q, want %q", got, ref)
	}
	tb.DockerOn(t, "worker-1", "rmi", ref)
	tb.DockerOn(t, "worker-2", "rmi", ref)
}
