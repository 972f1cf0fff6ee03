// Package testbed gives integration tests (build tag `integration`) the local 3-node swarm that
// scripts/cluster brings up: its addresses and images from the environment, docker commands
// against any node, and services that are removed when the test ends.
package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/s3client"
)

// Bed is the running test swarm, as `scripts/cluster env` describes it.
type Bed struct {
	ManagerHost, Worker1Host, Worker2Host      string // DOCKER_HOST values
	Registry, RegistryUser, RegistryPassword   string
	S3URL, S3Bucket, S3AccessKey, S3SecretKey  string
	S3Dir                                      string // versitygw's posix root; bucket = S3Dir/S3Bucket
	HelperImage, WorkloadImage, WorkloadImage2 string
	CrashImage, UploaderImage                  string
	HostIP                                     string // the bed's bridge address in the root namespace
	// Engine is the bed's dockerd: "current" (moby v2, Engine API 1.56) or "debian" (20.10).
	Engine string
}

// KeepsRemovedJobTasks tells whether the bed's engine leaves the task (and container) of a
// removed replicated-job behind, as docker before 24 does (moby/moby#44312).
func (b Bed) KeepsRemovedJobTasks() bool { return b.Engine == "debian" }

// Get returns the bed, or skips the test when the environment does not describe one.
func Get(t testing.TB) Bed {
	t.Helper()
	b := Bed{
		ManagerHost: os.Getenv("SU_MANAGER_HOST"), Worker1Host: os.Getenv("SU_WORKER_1_HOST"), Worker2Host: os.Getenv("SU_WORKER_2_HOST"),
		Registry: os.Getenv("SU_REGISTRY"), RegistryUser: os.Getenv("SU_REGISTRY_USER"), RegistryPassword: os.Getenv("SU_REGISTRY_PASSWORD"),
		S3URL: os.Getenv("SU_S3_URL"), S3Bucket: os.Getenv("SU_S3_BUCKET"), S3AccessKey: os.Getenv("SU_S3_ACCESS_KEY"),
		S3SecretKey: os.Getenv("SU_S3_SECRET_KEY"), S3Dir: os.Getenv("SU_S3_DIR"),
		HelperImage: os.Getenv("HELPER_IMAGE"), WorkloadImage: os.Getenv("WORKLOAD_IMAGE"), WorkloadImage2: os.Getenv("WORKLOAD_IMAGE_2"),
		CrashImage: os.Getenv("CRASH_IMAGE"), UploaderImage: os.Getenv("UPLOADER_IMAGE"),
		HostIP: os.Getenv("SU_HOST_IP"), Engine: os.Getenv("SU_ENGINE"),
	}
	if b.ManagerHost == "" || b.HelperImage == "" {
		t.Skip("no test swarm: run `scripts/cluster up` and `eval \"$(scripts/cluster env)\"`")
	}
	if b.Engine != "current" && b.Engine != "debian" {
		t.Fatalf("SU_ENGINE=%q: the bed's engine must be current or debian (eval \"$(scripts/cluster env)\")", b.Engine)
	}
	return b
}

// Host returns the DOCKER_HOST of a node by hostname.
func (b Bed) Host(node string) string {
	switch node {
	case "worker-1":
		return b.Worker1Host
	case "worker-2":
		return b.Worker2Host
	}
	return b.ManagerHost
}

// Docker runs docker against the manager and fails the test on error.
func (b Bed) Docker(t testing.TB, args ...string) string {
	t.Helper()
	return b.DockerOn(t, "manager", args...)
}

// DockerOn runs docker against one node's own daemon and fails the test on error.
func (b Bed) DockerOn(t testing.TB, node string, args ...string) string {
	t.Helper()
	out, err := b.TryDockerOn(node, args...)
	if err != nil {
		t.Fatalf("docker %s on %s: %v", strings.Join(args, " "), node, err)
	}
	return out
}

// TryDockerOn runs docker on a node and returns stdout, or an error with stderr.
func (b Bed) TryDockerOn(node string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+b.Host(node))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Service creates a service (args after the name: flags, image, command) that the test's
// cleanup removes, and waits until all its tasks run. (docker service create without
// --detach would also wait, but then watches each task for 5 more seconds.)
func (b Bed) Service(t testing.TB, name string, args ...string) string {
	t.Helper()
	id := b.ServiceDetached(t, name, args...)
	WaitFor(t, 90*time.Second, name+" to run", func() bool {
		out := b.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.CurrentState}}", id)
		lines := strings.Fields(out)
		if len(lines) == 0 {
			return false
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, "Running") {
				return false
			}
		}
		return true
	})
	return id
}

// ServiceDetached creates a service that the test's cleanup removes, without waiting.
func (b Bed) ServiceDetached(t testing.TB, name string, args ...string) string {
	t.Helper()
	full := append([]string{"service", "create", "--detach", "--quiet", "--with-registry-auth", "--name", name}, args...)
	_, _ = b.TryDockerOn("manager", "service", "rm", name) // left from an aborted run
	t.Cleanup(func() { _, _ = b.TryDockerOn("manager", "service", "rm", name) })
	return strings.TrimSpace(b.Docker(t, full...))
}

// S3 is a client for the bed's bucket, speaking to it as the uploader does (minio-go).
func (b Bed) S3(t testing.TB) *minio.Client {
	t.Helper()
	c, err := s3client.New(b.S3URL, false, b.S3AccessKey, b.S3SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Config is a swarm-utils configuration for the bed: its helper image, S3 and registry, short
// timeouts.
func (b Bed) Config() config.Config {
	c := config.Config{
		DockerCLIImage: b.HelperImage, BackupImage: b.UploaderImage, SelfImage: os.Getenv("SWARM_UTILS_IMAGE"),
		BackupExecShell: "/bin/sh", CleanExecShell: "/bin/sh",
		S3:       config.S3{URL: b.S3URL, HTTPS: false, Bucket: b.S3Bucket, AccessKey: b.S3AccessKey, SecretKey: b.S3SecretKey, RetentionDays: 5},
		Registry: config.Registry{User: b.RegistryUser, Password: b.RegistryPassword, URL: b.Registry},
		Timeouts: config.Timeouts{
			BackupExec: 60 * time.Second, BackupStop: 30 * time.Second, BackupUpload: 60 * time.Second, BackupStart: 60 * time.Second,
			CleanServiceExec: 30 * time.Second, UpdateService: 90 * time.Second,
			CleanNodeImage: 30 * time.Second, CleanNodeBuilder: 30 * time.Second, CleanNodeContainer: 30 * time.Second,
			Pending: 5 * time.Second, Lock: 2 * time.Second, Extra: 10 * time.Second,
		},
		ServerPort: 3000, LogFormat: "text", LogLevel: "debug", AdminTokens: []string{"admin-token-for-tests"},
		Cron:       config.Cron{Expr: "0 0 3 * * *", BackupService: true, CleanService: true, CleanNode: true},
		DockerHost: b.ManagerHost,
	}
	return c
}

// AssertNoHelpers fails the test when any swarm-utils helper service exists.
func (b Bed) AssertNoHelpers(t testing.TB) {
	t.Helper()
	out := b.Docker(t, "service", "ls", "--filter", "label=swarm-utils.helper=true", "--format", "{{.Name}}")
	if s := strings.TrimSpace(out); s != "" {
		t.Errorf("helper services left behind: %s", s)
	}
}

// WaitFor polls cond every 100 ms until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RunningReplicas counts the service's running tasks.
func (b Bed) RunningReplicas(t testing.TB, service string) int {
	t.Helper()
	out := b.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.CurrentState}}", service)
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Running") {
			n++
		}
	}
	return n
}

// NodeID is the swarm node ID of the node with this hostname (locks and helper names key nodes
// by ID).
func (b Bed) NodeID(t testing.TB, hostname string) string {
	t.Helper()
	return strings.TrimSpace(b.Docker(t, "node", "inspect", "--format", "{{.ID}}", "--", hostname))
}
