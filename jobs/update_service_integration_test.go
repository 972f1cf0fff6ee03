//go:build integration

package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"github.com/swarm-utils/swarm-utils/operation"
	"os"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// updServiceName is unique per run: other people's tests share the swarm.
func updServiceName(what string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "it-upd-" + what + "-" + hex.EncodeToString(b)
}

// updIsolate points the test process's docker config at an empty directory, so that the only
// registry credentials anywhere in this process are the ones update-service logs in with, and
// TMPDIR at a directory of its own, where the private DOCKER_CONFIG must not stay behind. Call
// it after creating the test's services (tb.Service needs the operator's login).
func updIsolate(t *testing.T) (tmp string) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	tmp = t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return tmp
}

func updAssertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
}

func updResultJSON(t *testing.T, r operation.Result) string {
	t.Helper()
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

func updServiceState(t *testing.T, tb testbed.Bed, name string) (image, state string) {
	t.Helper()
	out := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", name)
	image, state, _ = strings.Cut(strings.TrimSpace(out), " ")
	return image, state
}

// updHasImage: the node's daemon knows the reference (a tag, or a digest it pulled by).
func updHasImage(tb testbed.Bed, node, ref string) bool {
	_, err := tb.TryDockerOn(node, "image", "inspect", "--format", "{{.ID}}", ref)
	return err == nil
}

// The update goes through the password-protected registry with credentials that exist only in
// update-service's private login: the manager resolves the digest with them and both workers,
// which do not have tag 2, pull it with them.
func TestUpdateServiceClusterThroughAuthenticatedRegistry(t *testing.T) {
	tb := testbed.Get(t)
	workers := []string{"worker-1", "worker-2"}
	// Tag 2's digest, read on the manager (not a placement target) with the operator's login.
	tb.Docker(t, "pull", "-q", tb.WorkloadImage2)
	// Its digest in its own repository: the same content may be known under other
	// repositories too (the update-check test pushes it under another name).
	repo, _, _ := strings.Cut(tb.WorkloadImage2[strings.LastIndex(tb.WorkloadImage2, "/")+1:], ":")
	repo = tb.WorkloadImage2[:strings.LastIndex(tb.WorkloadImage2, "/")+1] + repo
	var digestRef string
	for _, ref := range strings.Fields(tb.Docker(t, "image", "inspect", "--format", "{{range .RepoDigests}}{{.}} {{end}}", tb.WorkloadImage2)) {
		if strings.HasPrefix(ref, repo+"@") {
			digestRef = ref
		}
	}
	_, digest, ok := strings.Cut(digestRef, "@")
	if !ok {
		t.Fatalf("no digest of %s in %s", tb.WorkloadImage2, repo)
	}
	// Workers must pull tag 2, so that they need the credentials --with-registry-auth sends.
	for _, node := range workers {
		for _, ref := range []string{tb.WorkloadImage2, digestRef} {
			if updHasImage(tb, node, ref) {
				_, _ = tb.TryDockerOn(node, "image", "rm", ref)
			}
			if updHasImage(tb, node, ref) {
				t.Fatalf("%s has %s and it cannot be removed (in use by another test?)", node, ref)
			}
		}
	}
	name := updServiceName("auth")
	tb.Service(t, name, "--replicas", "2", "--replicas-max-per-node", "1", "--constraint", "node.role==worker",
		"--update-monitor", "1s",
		"--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.registry.auth=true",
		tb.WorkloadImage)
	tmp := updIsolate(t)

	d := testDeps(t, tb.Config())
	r := d.UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.WorkloadImage2})
	js := updResultJSON(t, r)
	t.Logf("result: %s", js)
	if !r.OK {
		t.Fatalf("update failed: %s", r.Error)
	}
	if len(r.Steps) != 2 || r.Steps[0].Name != "login" || r.Steps[1].Name != "update" {
		t.Fatalf("steps %s, want login then update", js)
	}
	if got := r.Steps[1].Details["updateState"]; got != "completed" {
		t.Errorf("updateState %q, want completed", got)
	}
	image, state := updServiceState(t, tb, name)
	if image != tb.WorkloadImage2+"@"+digest {
		t.Errorf("service image %q, want %s@%s (the digest resolved with the private login)", image, tb.WorkloadImage2, digest)
	}
	if state != "completed" {
		t.Errorf("UpdateStatus %q, want completed", state)
	}

	// Every running task answers /version = 2, on both workers.
	ps := tb.Docker(t, "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.ID}} {{.Node}}", name)
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(ps), "\n") {
		id, node, _ := strings.Cut(line, " ")
		cid := strings.TrimSpace(tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", id))
		if v := strings.TrimSpace(tb.DockerOn(t, node, "exec", cid, "cat", "/version")); v != "2" {
			t.Errorf("task %s on %s: /version = %q, want 2", id, node, v)
		}
		seen[node] = true
	}
	for _, node := range workers {
		if !seen[node] {
			t.Errorf("no running task on %s (tasks: %q)", node, ps)
		}
		if !updHasImage(tb, node, digestRef) {
			t.Errorf("%s did not pull %s", node, digestRef)
		}
	}
	if strings.Contains(js, tb.RegistryPassword) {
		t.Errorf("registry password in the result")
	}
	updAssertEmptyDir(t, tmp)
	tb.AssertNoHelpers(t)
}

// An image whose task exits 3 at once pauses the update (the service's own failure action);
// the result says so with the task's error and logs.
func TestUpdateServiceClusterCrashPauses(t *testing.T) {
	ParallelSafe(t)
	tb := testbed.Get(t)
	name := updServiceName("crash")
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--update-monitor", "2s", "--update-failure-action", "pause",
		"--label", "swarm-utils.update.enable=true",
		tb.WorkloadImage)

	d := testDeps(t, tb.Config())
	r := d.UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.CrashImage})
	js := updResultJSON(t, r)
	t.Logf("result: %s", js)
	if r.OK {
		t.Fatalf("update to a crashing image succeeded")
	}
	if r.ErrorKind != operation.KindDocker {
		t.Errorf("error kind %s, want docker", r.ErrorKind)
	}
	for _, want := range []string{"paused", "task: non-zero exit (3)", "exit code 3"} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("error does not contain %q: %s", want, r.Error)
		}
	}
	if len(r.Steps) != 1 || r.Steps[0].Details["updateState"] != "paused" {
		t.Fatalf("steps %s, want one update step in state paused", js)
	}
	if tasks := r.Steps[0].Tasks; len(tasks) != 1 || tasks[0].ExitCode != 3 || !strings.Contains(tasks[0].Logs, "crashing") {
		t.Errorf("failed task %+v, want exit code 3 and its log line", tasks)
	}
	if _, state := updServiceState(t, tb, name); state != "paused" {
		t.Errorf("service UpdateStatus %q, want paused (left as docker left it)", state)
	}
	assertNoHelpersOf(t, tb, name)
}

func TestUpdateServiceClusterUnknownService(t *testing.T) {
	tb := testbed.Get(t)
	name := updServiceName("missing")
	d := testDeps(t, tb.Config())
	r := d.UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.WorkloadImage2})
	if r.OK || r.ErrorKind != operation.KindNotFound || !strings.Contains(r.Error, name) {
		t.Fatalf("ok=%v kind=%s err=%q, want not_found naming %s", r.OK, r.ErrorKind, r.Error, name)
	}
	tb.AssertNoHelpers(t)
}

// A wrong password in the labels fails at the login, clearly, before anything changes; the
// password shows nowhere.
func TestUpdateServiceClusterWrongRegistryPassword(t *testing.T) {
	tb := testbed.Get(t)
	name := updServiceName("badpw")
	wrong := "wrong-" + updServiceName("pw")
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.registry.auth=true",
		"--label", "swarm-utils.update.registry.password="+wrong,
		tb.WorkloadImage)
	tmp := updIsolate(t)
	before, _ := updServiceState(t, tb, name)

	d := testDeps(t, tb.Config())
	r := d.UpdateService(context.Background(), UpdateOptions{Service: name, Image: tb.WorkloadImage2})
	js := updResultJSON(t, r)
	t.Logf("result: %s", js)
	if r.OK || r.ErrorKind != operation.KindConfig {
		t.Fatalf("ok=%v kind=%s err=%q, want a config failure", r.OK, r.ErrorKind, r.Error)
	}
	if !strings.Contains(r.Error, "rejected the credentials") || !strings.Contains(r.Error, tb.Registry) {
		t.Errorf("error does not say the registry rejected the login: %s", r.Error)
	}
	if strings.Contains(js, wrong) || strings.Contains(r.Err().Error(), wrong) {
		t.Errorf("password in the result")
	}
	if after, _ := updServiceState(t, tb, name); after != before {
		t.Errorf("service image changed from %s to %s after a failed login", before, after)
	}
	updAssertEmptyDir(t, tmp)
	tb.AssertNoHelpers(t)
}
