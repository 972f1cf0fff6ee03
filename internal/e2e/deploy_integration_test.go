//go:build integration

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/s3client"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// overlayNet is the network the stack file expects to exist (external: true).
const overlayNet = "swarm-utils-overlay-net"

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// docker runs the docker CLI against the manager with extra environment and optional stdin.
// SWARM_UTILS_* and DOCKER_GID of the test's own environment are dropped, so that only what
// the test sets reaches `docker stack deploy`'s substitution.
func docker(tb testbed.Bed, env []string, stdin string, args ...string) (stdout, stderr string, err error) {
	return dockerWithin(tb, 3*time.Minute, env, stdin, args...)
}

// dockerWithin is docker with its own bound on how long the command may take.
func dockerWithin(tb testbed.Bed, timeout time.Duration, env []string, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWARM_UTILS_") && !strings.HasPrefix(kv, "DOCKER_GID=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "DOCKER_HOST="+tb.ManagerHost), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// waitUntil polls cond every 200 ms until it holds or the timeout passes; false on timeout.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

// client is a plain HTTP client on the overlay network: busybox wget in a throwaway container
// on the manager (the network is attachable), as a CI job would run curl. busybox wget prints
// no body on a non-2xx answer but names the status on stderr ("server returned error: HTTP/1.1
// 401 Unauthorized") and exits 1. (No -T: busybox wget's timeout option crashes here.)
type client struct {
	tb    testbed.Bed
	image string
	base  string // http://<service>:3000
}

type reply struct {
	body, stderr string
	err          error
}

func (c client) do(token, path, body string) reply {
	args := []string{"run", "--rm", "--network", overlayNet, c.image, "wget", "-q", "-O-"}
	if token != "" {
		args = append(args, "--header", "Authorization: Bearer "+token)
	}
	if body != "" {
		args = append(args, "--header", "Content-Type: application/json", "--post-data", body)
	}
	out, errOut, err := docker(c.tb, nil, "", append(args, c.base+path)...)
	return reply{out, errOut, err}
}

// result calls path and decodes a 2xx answer into a Result that must be OK; it returns the raw
// answer too.
func (c client) result(t *testing.T, token, path, body string) (operation.Result, string) {
	t.Helper()
	r := c.do(token, path, body)
	if r.err != nil {
		t.Fatalf("POST %s %s: %v: %s", path, body, r.err, r.stderr)
	}
	var res operation.Result
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatalf("POST %s: not a result: %v\n%s", path, err, r.body)
	}
	if !res.OK {
		t.Fatalf("POST %s %s: result not ok:\n%s", path, body, r.body)
	}
	return res, r.body
}

// TestDeployedStack deploys deploy/swarm-utils.stack.yml as a user would (image, manager
// constraint, docker.sock, overlay network, secrets through *_FILE) and drives the service
// from a client container: health, clean-service with the service's label token, a backup to
// S3 with keys that exist only as secrets, clean-node with the admin token, a wrong token.
func TestDeployedStack(t *testing.T) {
	tb := testbed.Get(t)
	image := os.Getenv("SWARM_UTILS_IMAGE")
	if image == "" {
		t.Skip("no SWARM_UTILS_IMAGE: run `scripts/cluster images swarm-utils` and `eval \"$(scripts/cluster env)\"`")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rebuildImage(t, repo)
	// The deployed swarm-utils has no registry login of its own, so its helpers run from images
	// the workers already have, as on a real cluster after first use. Earlier tests' clean-node
	// runs may have pruned them: put them back.
	for _, node := range []string{"worker-1", "worker-2"} {
		for _, img := range []string{tb.HelperImage, tb.WorkloadImage, tb.UploaderImage} {
			if _, err := tb.TryDockerOn(node, "pull", "-q", img); err != nil {
				t.Fatalf("pull %s on %s: %v", img, node, err)
			}
		}
	}

	r := randHex(t, 4)
	stack := "it-e2e-" + r
	service := stack + "_swarm-utils"
	adminToken, otherAdmin := "adm-"+randHex(t, 16), "adm2-"+randHex(t, 16)
	cleanToken, wrongToken := "cln-"+randHex(t, 16), "bad-"+randHex(t, 16)
	secrets := []string{tb.S3AccessKey, tb.S3SecretKey, adminToken, otherAdmin, cleanToken, wrongToken}

	ensureNetwork(t, tb)

	prefix := "it_e2e_" + r
	for name, value := range map[string]string{
		"admin_tokens":  otherAdmin + "," + adminToken + "\n", // a list, with the trailing newline `echo` would leave
		"s3_access_key": tb.S3AccessKey, "s3_secret_key": tb.S3SecretKey,
	} {
		full := prefix + "_" + name
		if _, e, err := docker(tb, nil, value, "secret", "create", "--label", "it-e2e="+r, full, "-"); err != nil {
			t.Fatalf("secret create %s: %v: %s", full, err, e)
		}
		t.Cleanup(func() { // after the stack is gone (cleanups run last-in first-out)
			if _, e, err := docker(tb, nil, "", "secret", "rm", full); err != nil {
				t.Errorf("secret rm %s: %v: %s", full, err, e)
			}
		})
	}

	// The group of the manager's docker.sock as a container sees it (the stack runs as 10001:it).
	sock := strings.Fields(tb.Docker(t, "run", "--rm", "-v", "/var/run/docker.sock:/var/run/docker.sock",
		tb.HelperImage, "stat", "-c", "%g %a", "/var/run/docker.sock"))
	if len(sock) != 2 || len(sock[1]) != 3 || sock[1][1] < '6' {
		t.Fatalf("docker.sock as a container sees it: %v; want a group id and group read-write", sock)
	}
	gid := sock[0]

	// Two labelled target services: one to clean with its own token, one to back up.
	app := "it-e2e-" + r + "-app"
	tb.Service(t, app, "--replicas", "2", "--replicas-max-per-node", "1", "--constraint", "node.role==worker",
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.token="+cleanToken,
		"--label", `swarm-utils.clean.exec=echo "e2e cleaned $(cat /version)"`, tb.WorkloadImage)
	db, vol := "it-bk-e2e-"+r, "it-bk-e2e-"+r+"-data"
	sweepVolumes(tb, "worker-2", "it-bk-e2e-")
	t.Cleanup(func() { removeVolume(t, tb, "worker-2", vol) }) // after the service is removed
	tb.Service(t, db, "--constraint", "node.hostname==worker-2", "--mount", "type=volume,src="+vol+",dst=/data",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.volume-list-upload="+vol,
		"--label", "swarm-utils.backup.exec=echo e2e > /data/e2e.txt", tb.WorkloadImage)
	s3 := tb.S3(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		objs, _ := s3client.List(ctx, s3, tb.S3Bucket, db+"/")
		_ = s3client.Remove(ctx, s3, tb.S3Bucket, objs)
	})

	// Stand-ins for GitHub's and GitLab's OIDC issuers, which the deployment trusts instead.
	issuers := startCIIssuers(t, tb)

	// The deployment, exactly as in deploy/ (with backups): only the variables differ, and a
	// third file trusts the stand-in issuers' certificate.
	env := []string{
		"SWARM_UTILS_IMAGE=" + image, "DOCKER_GID=" + gid, "SWARM_UTILS_SECRET_PREFIX=" + prefix,
		"SWARM_UTILS_S3_URL=" + tb.S3URL, "SWARM_UTILS_S3_BUCKET=" + tb.S3Bucket, "SWARM_UTILS_S3_HTTPS=false",
		"SWARM_UTILS_DOCKER_CLI_IMAGE_NAME=" + tb.HelperImage, "SWARM_UTILS_BACKUP_IMAGE=" + tb.UploaderImage,
		"SWARM_UTILS_LOG_LEVEL=debug", "SWARM_UTILS_HEALTHCHECK_INTERVAL=1s",
		// No cron run in the middle of the test (a 3 AM run would clean and back up everything).
		"SWARM_UTILS_IS_CRON_CLEAN_NODE=false", "SWARM_UTILS_IS_CRON_CLEAN_SERVICE=false", "SWARM_UTILS_IS_CRON_BACKUP_SERVICE=false",
	}
	// The run history's volume, once the stack (and its container) is gone.
	t.Cleanup(func() {
		if _, e, err := docker(tb, nil, "", "volume", "rm", stack+"_swarm-utils-data"); err != nil {
			t.Errorf("volume rm %s_swarm-utils-data: %v: %s", stack, err, e)
		}
	})
	env = append(env, issuers.env()...)
	t.Cleanup(func() { removeStack(t, tb, stack) })
	deployed := time.Now()
	if _, e, err := docker(tb, env, "", "stack", "deploy", "--quiet", "--with-registry-auth",
		"-c", filepath.Join(repo, "deploy", "swarm-utils.stack.yml"), "-c", filepath.Join(repo, "deploy", "swarm-utils.backup.stack.yml"),
		"-c", filepath.Join(repo, "internal", "e2e", "testdata", "oidc-ca.stack.yml"), stack); err != nil {
		t.Fatalf("stack deploy: %v: %s", err, e)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, err := serviceLogs(t, tb, service)
			t.Logf("%s logs (%v):\n%s", service, err, logs)
		}
	})
	ctr := waitHealthy(t, tb, service)
	t.Logf("%s healthy %s after stack deploy", service, time.Since(deployed).Round(100*time.Millisecond))

	// Non-root, with the socket's group, and the secrets only as files.
	if id := strings.TrimSpace(tb.Docker(t, "exec", ctr, "id", "-u")) + ":" + strings.TrimSpace(tb.Docker(t, "exec", ctr, "id", "-g")); id != "10001:"+gid {
		t.Errorf("swarm-utils runs as %s, want 10001:%s", id, gid)
	}
	inspect := tb.Docker(t, "service", "inspect", service)
	for _, s := range secrets {
		if strings.Contains(inspect, s) {
			t.Errorf("a secret is in `docker service inspect %s`", service)
		}
	}

	c := client{tb: tb, image: tb.WorkloadImage, base: "http://" + service + ":3000"}

	t.Run("CI examples' call lines", func(t *testing.T) { testCIExamples(t, tb, repo, adminToken) })
	t.Run("OIDC CI examples' call lines", func(t *testing.T) { testOIDCExamples(t, tb, repo, issuers) })
	t.Run("healthz", func(t *testing.T) {
		for _, base := range []string{c.base, "http://swarm-utils:3000"} { // the stack's alias, as examples/ use it
			rep := client{tb: tb, image: c.image, base: base}.do("", "/healthz", "")
			var health struct{ OK bool }
			if rep.err != nil || json.Unmarshal([]byte(rep.body), &health) != nil || !health.OK {
				t.Errorf("GET %s/healthz: %v %s\n%s", base, rep.err, rep.stderr, rep.body)
			}
		}
	})

	t.Run("clean-service with the service's label token", func(t *testing.T) {
		res, raw := c.result(t, cleanToken, "/api/clean/service", `{"serviceName":"`+app+`"}`)
		cleaned := map[string]bool{}
		for _, st := range res.Steps {
			for _, task := range st.Tasks {
				if strings.Contains(task.Logs, "e2e cleaned 1") {
					cleaned[task.Node] = true
				}
			}
		}
		if !cleaned["worker-1"] || !cleaned["worker-2"] {
			t.Errorf("clean.exec did not run in the task on each worker (ran on %v):\n%s", cleaned, raw)
		}
	})

	t.Run("backup-service with S3 keys from secrets", func(t *testing.T) {
		c.result(t, adminToken, "/api/backup/service", `{"serviceName":"`+db+`"}`)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		objs, err := s3client.List(ctx, s3, tb.S3Bucket, db+"/")
		if err != nil || len(objs) == 0 {
			t.Errorf("no backup of %s in s3://%s/%s/: %v", db, tb.S3Bucket, db, err)
		}
	})

	t.Run("wrong token is 401", func(t *testing.T) {
		rep := c.do(wrongToken, "/api/clean/service", `{"serviceName":"`+app+`"}`)
		var exit *exec.ExitError
		if !errors.As(rep.err, &exit) || !strings.Contains(rep.stderr, "401 Unauthorized") {
			t.Errorf("want wget to fail with 401, got %v: %s\n%s", rep.err, rep.stderr, rep.body)
		}
	})

	t.Run("clean-node with the admin token", func(t *testing.T) {
		// The prune removes the images the bed pre-pulls on worker-1; put them back afterwards.
		t.Cleanup(func() {
			for _, img := range []string{tb.HelperImage, tb.WorkloadImage, tb.UploaderImage} {
				if _, err := tb.TryDockerOn("worker-1", "pull", "-q", img); err != nil {
					t.Errorf("re-pull %s on worker-1: %v", img, err)
				}
			}
		})
		res, _ := c.result(t, adminToken, "/api/clean/node", `{"nodeName":"worker-1"}`)
		if res.Operation != "clean-node" || res.Target != "worker-1" || len(res.Steps) == 0 {
			t.Errorf("unexpected clean-node result: %+v", res)
		}
	})

	assertNoHelpers(t, tb, app, db, "clean-node-worker-1")

	// The log has what happened, and none of the secrets (it read them from the secret files).
	logs, err := serviceLogs(t, tb, service)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http server listening", `"route":"POST /api/clean/node"`, `"route":"POST /api/backup/service"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the swarm-utils log lacks %s", want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%d chars) reached `docker service logs %s`", len(s), service)
		}
	}

	// Last: it restarts swarm-utils (serviceLogs says why a read after that may hang).
	t.Run("run history survives a restart", func(t *testing.T) { testRunHistory(t, tb, c, service, ctr, app, db, adminToken, cleanToken) })
}

// serviceLogs is `docker service logs` of service, stdout and stderr, each try bounded: docker
// itself can leave that read hanging after the end of the logs, e.g. once a task of the service
// was shut down by a forced update (docker/cli#4678, moby/swarmkit#1956; seen here on the
// current engine, for 3 minutes). A try that hangs is made again; when every one hangs, the
// logs are the service's containers' own (`docker logs`, the same lines without the broker).
func serviceLogs(t *testing.T, tb testbed.Bed, service string) (string, error) {
	t.Helper()
	const tries, each = 3, 30 * time.Second
	var last string
	for try := 1; try <= tries; try++ {
		started := time.Now()
		out, e, err := dockerWithin(tb, each, nil, "", "service", "logs", "--raw", "--no-trunc", service)
		if err == nil {
			return out + e, nil
		}
		last = fmt.Sprintf("%v: %s", err, e)
		if time.Since(started) < each { // failed, not hung: the fallback would hide that
			return "", fmt.Errorf("service logs %s: %s", service, last)
		}
		t.Logf("docker service logs %s hung (try %d of %d, killed after %s)", service, try, tries, each)
	}
	ids, e, err := docker(tb, nil, "", "ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+service)
	if err != nil || strings.TrimSpace(ids) == "" {
		return "", fmt.Errorf("service logs %s hung %d times (%s), and its containers: %v %q %s", service, tries, last, err, ids, e)
	}
	var all strings.Builder
	for _, id := range strings.Fields(ids) {
		out, e, err := docker(tb, nil, "", "logs", id)
		if err != nil {
			return "", fmt.Errorf("logs of container %s of %s: %v: %s", id, service, err, e)
		}
		all.WriteString(out + e)
	}
	return all.String(), nil
}

// rebuildImage rebuilds SWARM_UTILS_IMAGE from the working tree (a few seconds), so that the
// test deploys the code under test; SU_E2E_REBUILD=0 deploys the image as it is.
func rebuildImage(t *testing.T, repo string) {
	t.Helper()
	if os.Getenv("SU_E2E_REBUILD") == "0" {
		return
	}
	out, err := exec.Command(filepath.Join(repo, "scripts", "cluster"), "images", "swarm-utils").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/cluster images swarm-utils: %v\n%s", err, out)
	}
}

// ensureNetwork creates the attachable overlay network unless it exists, and removes it at the
// end only if it created it.
func ensureNetwork(t *testing.T, tb testbed.Bed) {
	t.Helper()
	out, e, err := docker(tb, nil, "", "network", "inspect", "--format", "{{.Driver}} {{.Attachable}}", overlayNet)
	if err == nil {
		if strings.TrimSpace(out) != "overlay true" {
			t.Fatalf("network %s exists but is %q, not an attachable overlay", overlayNet, strings.TrimSpace(out))
		}
		return
	}
	if !strings.Contains(strings.ToLower(e), "no such network") && !strings.Contains(strings.ToLower(e), "not found") {
		t.Fatalf("network inspect %s: %v: %s", overlayNet, err, e)
	}
	if _, e, err := docker(tb, nil, "", "network", "create", "--driver", "overlay", "--attachable", overlayNet); err != nil {
		t.Fatalf("network create %s: %v: %s", overlayNet, err, e)
	}
	t.Cleanup(func() {
		var last string
		if !waitUntil(30*time.Second, func() bool {
			_, e, err := docker(tb, nil, "", "network", "rm", overlayNet)
			last = e
			return err == nil
		}) {
			t.Errorf("network rm %s: %s", overlayNet, last)
		}
	})
}

// waitHealthy waits until the service's task runs on the manager and its container is healthy
// (the stack's healthcheck: wget /healthz inside the container); it returns the container ID.
func waitHealthy(t *testing.T, tb testbed.Bed, service string) string {
	t.Helper()
	var ctr, state string
	if !waitUntil(90*time.Second, func() bool {
		out, _, err := docker(tb, nil, "", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service)
		ids := strings.Fields(out)
		if err != nil || len(ids) != 1 {
			return false
		}
		ctr = ids[0]
		out, _, _ = docker(tb, nil, "", "inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", ctr)
		state = strings.TrimSpace(out)
		return state == "healthy"
	}) {
		ps, _, _ := docker(tb, nil, "", "service", "ps", "--no-trunc", service)
		t.Fatalf("%s not healthy after 90s (container %q: %q):\n%s", service, ctr, state, ps)
	}
	node := strings.TrimSpace(tb.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", service))
	if node != "manager" {
		t.Errorf("%s runs on %q, want the manager", service, node)
	}
	return ctr
}

// removeStack removes the stack and waits until its service and container are gone, so that
// its secrets and the network can be removed after it.
func removeStack(t *testing.T, tb testbed.Bed, stack string) {
	started := time.Now()
	defer func() { t.Logf("stack %s removed in %s", stack, time.Since(started).Round(100*time.Millisecond)) }()
	if _, e, err := docker(tb, nil, "", "stack", "rm", stack); err != nil {
		t.Errorf("stack rm %s: %v: %s", stack, err, e)
		return
	}
	if !waitUntil(60*time.Second, func() bool {
		svcs, _, err1 := docker(tb, nil, "", "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
		ctrs, _, err2 := docker(tb, nil, "", "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack)
		return err1 == nil && err2 == nil && strings.TrimSpace(svcs+ctrs) == ""
	}) {
		t.Errorf("stack %s still has services or containers 60s after stack rm", stack)
	}
}

// assertNoHelpers fails the test when a helper service whose name contains one of the given
// targets is still there after a few seconds (tb.AssertNoHelpers would also see the helpers of
// other tests that run on the same swarm meanwhile; theirs end within seconds).
func assertNoHelpers(t *testing.T, tb testbed.Bed, targets ...string) {
	t.Helper()
	var left []string
	if !waitUntil(10*time.Second, func() bool {
		left = left[:0]
		out := tb.Docker(t, "service", "ls", "--filter", "label=swarm-utils.helper=true", "--format", "{{.Name}}")
		for _, name := range strings.Fields(out) {
			for _, target := range targets {
				if strings.Contains(name, target) {
					left = append(left, name)
				}
			}
		}
		return len(left) == 0
	}) {
		t.Errorf("helper services left behind: %v", left)
	}
}

// sweepVolumes removes the volumes earlier runs had to leave (see removeVolume); those still
// in use stay.
func sweepVolumes(tb testbed.Bed, node, prefix string) {
	out, _ := tb.TryDockerOn(node, "volume", "ls", "-q", "--filter", "name="+prefix)
	for _, v := range strings.Fields(out) {
		if strings.HasPrefix(v, prefix) {
			_, _ = tb.TryDockerOn(node, "volume", "rm", v)
		}
	}
}

// removeVolume removes a volume on a node once the containers that used it are gone (a
// removed helper's container holds it for a while: an it-bk-* volume left here is swept by the
// backup tests' next run).
func removeVolume(t *testing.T, tb testbed.Bed, node, vol string) {
	if !waitUntil(3*time.Second, func() bool {
		_, err := tb.TryDockerOn(node, "volume", "rm", "-f", vol)
		return err == nil
	}) {
		t.Logf("volume %s on %s left for the next run's sweep", vol, node)
	}
}

// testRunHistory: the runs above are in GET /api/runs (the stack's /data volume is writable by
// the image's user), a token sees only its target's, and a waitRes=false job that ended is
// still readable after the service restarted.
func testRunHistory(t *testing.T, tb testbed.Bed, c client, service, ctr, app, db, adminToken, cleanToken string) {
	ready := c.do("", "/readyz", "")
	if ready.err != nil || strings.Contains(ready.body, `"history"`) {
		t.Errorf("readyz: %v %s (want ready without a history warning)", ready.err, ready.body)
	}
	type runs struct {
		Runs []struct{ ID, Operation, Target, Who, Outcome string }
	}
	list := func(token, query string) runs {
		t.Helper()
		r := c.do(token, "/api/runs"+query, "")
		var out runs
		if r.err != nil || json.Unmarshal([]byte(r.body), &out) != nil {
			t.Fatalf("GET /api/runs%s: %v %s\n%s", query, r.err, r.stderr, r.body)
		}
		return out
	}
	seen := map[string]string{}
	for _, r := range list(adminToken, "").Runs {
		seen[r.Operation+" "+r.Target] = r.Who + " " + r.Outcome
	}
	for key, want := range map[string]string{
		"clean-service " + app: "label-token ok", "backup-service " + db: "admin ok", "clean-node worker-1": "admin ok",
	} {
		if seen[key] != want {
			t.Errorf("run %s: %q, want %q (all: %v)", key, seen[key], want, seen)
		}
	}
	for _, r := range list(cleanToken, "").Runs {
		if r.Target != app {
			t.Errorf("the clean token of %s sees a run on %s", app, r.Target)
		}
	}

	r := c.do(cleanToken, "/api/clean/service", `{"serviceName":"`+app+`","waitRes":false}`)
	var job struct{ ID string }
	if r.err != nil || json.Unmarshal([]byte(r.body), &job) != nil || job.ID == "" {
		t.Fatalf("background clean-service: %v %s\n%s", r.err, r.stderr, r.body)
	}
	if !waitUntil(60*time.Second, func() bool {
		return strings.Contains(c.do(cleanToken, "/api/jobs/"+job.ID, "").body, `"state": "done"`)
	}) {
		t.Fatalf("job %s never done", job.ID)
	}
	if _, e, err := docker(tb, nil, "", "service", "update", "--quiet", "--force", service); err != nil {
		t.Fatalf("restart %s: %v: %s", service, err, e)
	}
	if again := waitHealthy(t, tb, service); again == ctr {
		t.Fatalf("%s was not restarted (same container %s)", service, ctr)
	}
	after := c.do(cleanToken, "/api/jobs/"+job.ID, "")
	if after.err != nil || !strings.Contains(after.body, `"state": "done"`) || !strings.Contains(after.body, `"target": "`+app+`"`) {
		t.Errorf("job %s after the restart: %v %s\n%s", job.ID, after.err, after.stderr, after.body)
	}
}
