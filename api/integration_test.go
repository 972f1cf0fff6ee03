//go:build integration

package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// These tests serve the real API (Run: listener, mux, jobs, metrics) over real *jobs.Deps
// against the test swarm. Names are it-api-<rand>-…; other tests run on the same swarm at the
// same time, so nothing here touches what it did not create, except clean-node on worker-2.

func randID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const itAdmin = "it-api-admin-token"

// liveAPI is Run on addr over real dependencies; log records every line for the secret checks.
type liveAPI struct {
	base    string
	deps    *jobs.Deps
	metrics *Metrics
	log     *testbed.Recorder
	secrets []string // must never appear in the log
}

// startAPI serves the API on addr; each change edits the server's Options first.
func startAPI(t *testing.T, cfg config.Config, addr string, change ...func(*Options)) *liveAPI {
	t.Helper()
	a := &liveAPI{log: &testbed.Recorder{}, metrics: NewMetrics(), secrets: []string{itAdmin}}
	log := slog.New(slog.NewTextHandler(a.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secrets := bashexec.NewSecrets(cfg.SecretValues()...)
	a.deps = jobs.NewDeps(cfg, bashexec.New(bashexec.Options{Logger: log, Secrets: secrets}), secrets, log)
	a.deps.OnHelperCreated = a.metrics.HelperCreated
	o := Options{Ops: Instrumented{Ops: a.deps, Metrics: a.metrics}, Targets: a.deps, Backups: a.deps, Config: cfg, Log: log, Metrics: a.metrics}
	for _, c := range change {
		c(&o)
	}
	srv := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan net.Addr, 1)
	ended := make(chan error, 1)
	go func() {
		ended <- Run(ctx, RunOptions{Addr: addr, Server: srv, Grace: 30 * time.Second, Log: log,
			OnListen: func(a net.Addr) { listening <- a }})
	}()
	select {
	case l := <-listening:
		a.base = "http://" + l.String()
	case err := <-ended:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-ended; err != nil {
			t.Errorf("Run: %v", err)
		}
		out := a.log.String()
		for _, s := range a.secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret %q reached the log", s)
			}
		}
		if t.Failed() {
			t.Logf("swarm-utils log:\n%s", out)
		}
	})
	return a
}

type reply struct {
	status int
	body   string
	header http.Header
}

func (r reply) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("not JSON (%v): %s", err, r.body)
	}
	return m
}

func (a *liveAPI) call(t *testing.T, method, path, bearer, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, string(b), res.Header}
}

func expect(t *testing.T, what string, r reply, status int, says string) {
	t.Helper()
	if r.status != status || !strings.Contains(r.body, says) {
		t.Errorf("%s: %d, want %d saying %q:\n%s", what, r.status, status, says, r.body)
	}
}

func jsonBody(fields map[string]any) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

// assertNoHelpersFor fails when a helper service for one of our targets is left behind (other
// tests' helpers may exist at the same time).
func assertNoHelpersFor(t *testing.T, tb testbed.Bed, id string) {
	t.Helper()
	out := tb.Docker(t, "service", "ls", "--filter", "label=swarm-utils.helper=true", "--format", "{{.Name}}")
	for _, name := range strings.Fields(out) {
		if strings.Contains(name, id) {
			t.Errorf("helper service left behind: %s", name)
		}
	}
}

// TestAPIServiceRoutesOnTheCluster: every status of the service routes that needs the cluster.
func TestAPIServiceRoutesOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, "127.0.0.1:0")

	web, other, global, broken := "it-api-"+id+"-web", "it-api-"+id+"-other", "it-api-"+id+"-global", "it-api-"+id+"-broken"
	webClean, webUpdate, otherClean := "it-api-web-clean-"+id, "it-api-web-update-"+id, "it-api-other-clean-"+id
	a.secrets = append(a.secrets, webClean, webUpdate, otherClean)
	tb.Service(t, web, "--replicas", "2", "--replicas-max-per-node", "1", "--constraint", "node.role==worker",
		"--update-delay", "5s", "--update-parallelism", "1",
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo cleaned-by-api on $(hostname)",
		"--label", "swarm-utils.clean.token="+webClean,
		"--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.token="+webUpdate,
		tb.WorkloadImage)
	// On a worker: a task on the manager would be cleaned directly, without a helper to count.
	tb.Service(t, other, "--constraint", "node.role==worker", "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=true",
		"--label", "swarm-utils.clean.token="+otherClean, tb.WorkloadImage)
	tb.Service(t, global, "--mode", "global", "--constraint", "node.hostname==worker-1",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.stop=true",
		"--label", "swarm-utils.backup.volume-list-upload=it-api-"+id+"-data", tb.WorkloadImage)
	tb.Service(t, broken, "--label", "swarm-utils.backup.enable=true", tb.WorkloadImage)

	// 200: a CI token on its own service, through the header.
	r := a.call(t, "POST", "/api/clean/service", webClean, jsonBody(map[string]any{"serviceName": web}))
	expect(t, "clean-service with the label token", r, 200, `"ok": true`)
	var res operation.Result
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || len(res.Steps) != 2 || !strings.Contains(r.body, "cleaned-by-api on ") {
		t.Errorf("clean-service result (want one step per worker with the command's output): %v\n%s", err, r.body)
	}
	if r.header.Get("X-Job-Id") == "" {
		t.Error("no X-Job-Id")
	}

	// 401, 403, 404.
	expect(t, "unknown token", a.call(t, "POST", "/api/clean/service", "", jsonBody(map[string]any{"token": "it-api-guess", "serviceName": web})),
		401, "unknown token")
	expect(t, "other project's token", a.call(t, "POST", "/api/clean/service", "", jsonBody(map[string]any{"token": otherClean, "serviceName": web})),
		403, "may not run clean-service")
	expect(t, "unknown service", a.call(t, "POST", "/api/clean/service", itAdmin, jsonBody(map[string]any{"serviceName": "it-api-" + id + "-missing"})),
		404, "not found")
	expect(t, "prefix of a name", a.call(t, "POST", "/api/clean/service", "", jsonBody(map[string]any{"token": webClean, "serviceName": web[:len(web)-1]})),
		404, "not found")
	expect(t, "backup not enabled", a.call(t, "POST", "/api/backup/service", itAdmin, jsonBody(map[string]any{"serviceName": web})),
		404, "not enabled for backup")

	// 400 from the request and from the operation; 413.
	expect(t, "unknown field", a.call(t, "POST", "/api/clean/service", itAdmin, `{"serviceName":"`+web+`","servicename":"x"}`),
		400, `unknown field \"servicename\"`)
	expect(t, "invalid image", a.call(t, "POST", "/api/update/service", itAdmin, jsonBody(map[string]any{"serviceName": web, "image": "bad$image"})),
		400, "not valid")
	expect(t, "body over 64 KiB", a.call(t, "POST", "/api/clean/service", itAdmin, `{"serviceName":"`+strings.Repeat("a", MaxBodyBytes)+`"}`),
		413, "64 KiB")

	// 403: a service token may not deploy another image.
	expect(t, "service token, foreign image", a.call(t, "POST", "/api/update/service", "", jsonBody(map[string]any{"token": webUpdate, "serviceName": web, "image": "evil/miner:1"})),
		403, "may only deploy new tags")

	// 409: the target's lock is held by another operation.
	release, err := a.deps.Locks.Acquire(context.Background(), "service:"+web, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "busy", a.call(t, "POST", "/api/clean/service", itAdmin, jsonBody(map[string]any{"serviceName": web})), 409, "busy")
	release()

	// 422: stop on a global service; missing settings.
	expect(t, "stop on a global service", a.call(t, "POST", "/api/backup/service", itAdmin, jsonBody(map[string]any{"serviceName": global})),
		422, "needs a replicated service")
	expect(t, "backup without volumes", a.call(t, "POST", "/api/backup/service", itAdmin, jsonBody(map[string]any{"serviceName": broken})),
		422, "swarm-utils.backup.volume-list-upload")

	// 202 + job.
	r = a.call(t, "POST", "/api/clean/service", "", jsonBody(map[string]any{"token": otherClean, "serviceName": other, "waitRes": false}))
	expect(t, "waitRes=false", r, 202, `"state"`)
	job := r.obj(t)["id"].(string)
	testbed.WaitFor(t, time.Minute, "the background clean-service", func() bool {
		return a.call(t, "GET", "/api/jobs/"+job, otherClean, "").obj(t)["state"] == JobDone
	})
	done := a.call(t, "GET", "/api/jobs/"+job, otherClean, "").obj(t)
	if done["status"] != float64(200) || done["result"].(map[string]any)["ok"] != true {
		t.Errorf("background job: %v", done)
	}
	expect(t, "job of another token", a.call(t, "GET", "/api/jobs/"+job, webClean, ""), 404, "not found")

	// Listings: admin sees our services with masked tokens; a service token only its own.
	r = a.call(t, "GET", "/api/services", itAdmin, "")
	expect(t, "services for admin", r, 200, web)
	for _, tok := range []string{webClean, webUpdate, otherClean} {
		if strings.Contains(r.body, tok) {
			t.Errorf("/api/services shows a token")
		}
	}
	r = a.call(t, "GET", "/api/services", webClean, "")
	var list struct{ Services []ServiceView }
	_ = json.Unmarshal([]byte(r.body), &list)
	if r.status != 200 || len(list.Services) != 1 || list.Services[0].Name != web || strings.Join(list.Services[0].Actions, ",") != OpCleanService ||
		list.Services[0].Labels["swarm-utils.clean.token"] != "***" {
		t.Errorf("services for web's clean token: %d %s", r.status, r.body)
	}

	// 504: the update's budget is tiny and the forced rolling update takes 5 s per task.
	tight := cfg
	tight.Timeouts.UpdateService = time.Second
	tight.Timeouts.Pending = time.Second
	tight.Timeouts.Extra = time.Millisecond
	b := startAPI(t, tight, "127.0.0.1:0")
	expect(t, "past the budget", b.call(t, "POST", "/api/update/service", itAdmin, jsonBody(map[string]any{"serviceName": web, "image": tb.WorkloadImage, "isForce": true})),
		504, `"errorKind": "timeout"`)

	// Metrics of the real operations, helpers included.
	m := a.call(t, "GET", "/metrics", "", "").body
	for _, want := range []string{
		`swarm_utils_operations_total{operation="clean-service",outcome="ok"} 2`,
		`swarm_utils_operations_total{operation="clean-service",outcome="busy"} 1`,
		`swarm_utils_operations_total{operation="backup-service",outcome="impossible"} 1`,
		`swarm_utils_helpers_created_total{action="clean-service"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	assertNoHelpersFor(t, tb, id)
}

// TestAPICleanNodeAndProbesOnTheCluster: clean-node with node label tokens, listings of nodes,
// readiness against a manager, a worker and no docker at all.
func TestAPICleanNodeAndProbesOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, "127.0.0.1:0")
	w2Token := "it-api-w2-clean-" + id
	a.secrets = append(a.secrets, w2Token)
	tb.Docker(t, "node", "update", "--label-add", "swarm-utils.clean.token="+w2Token, "worker-2")
	t.Cleanup(func() {
		_, _ = tb.TryDockerOn("manager", "node", "update", "--label-rm", "swarm-utils.clean.token", "worker-2")
	})

	// Other tests clean worker-2 too; while one does, the answer is 409 busy (or docker's own
	// "a prune operation is already running" when theirs runs outside swarm-utils), so try again.
	var r reply
	testbed.WaitFor(t, 2*time.Minute, "clean-node worker-2 not busy", func() bool {
		r = a.call(t, "POST", "/api/clean/node", "", jsonBody(map[string]any{"token": w2Token, "nodeName": "worker-2"}))
		return r.status != http.StatusConflict && !strings.Contains(r.body, "a prune operation is already running")
	})
	expect(t, "node token on its node", r, 200, `"ok": true`)
	if !strings.Contains(r.body, `"name": "image-prune"`) {
		t.Errorf("clean-node result without its prune steps:\n%s", r.body)
	}
	expect(t, "node token on another node", a.call(t, "POST", "/api/clean/node", w2Token, jsonBody(map[string]any{"nodeName": "worker-1"})),
		403, "swarm-utils.clean.token")
	expect(t, "unknown token", a.call(t, "POST", "/api/clean/node", "it-api-guess", jsonBody(map[string]any{"nodeName": "worker-1"})),
		401, "unknown token")
	expect(t, "unknown node", a.call(t, "POST", "/api/clean/node", itAdmin, jsonBody(map[string]any{"nodeName": "it-api-" + id})),
		404, "not found")
	expect(t, "missing nodeName", a.call(t, "POST", "/api/clean/node", itAdmin, `{}`), 400, "nodeName")

	r = a.call(t, "GET", "/api/nodes", w2Token, "")
	var list struct{ Nodes []NodeView }
	_ = json.Unmarshal([]byte(r.body), &list)
	if r.status != 200 || len(list.Nodes) != 1 || list.Nodes[0].Hostname != "worker-2" || list.Nodes[0].Labels["swarm-utils.clean.token"] != "***" {
		t.Errorf("nodes for worker-2's token: %d %s", r.status, r.body)
	}
	expect(t, "nodes for admin", a.call(t, "GET", "/api/nodes", itAdmin, ""), 200, `"hostname": "worker-1"`)

	expect(t, "healthz", a.call(t, "GET", "/healthz", "", ""), 200, "up")
	expect(t, "readyz on the manager", a.call(t, "GET", "/readyz", "", ""), 200, "ready")

	onWorker := cfg
	onWorker.DockerHost = tb.Worker1Host
	expect(t, "readyz on a worker", startAPI(t, onWorker, "127.0.0.1:0").call(t, "GET", "/readyz", "", ""), 503, "not a manager")

	noDocker := cfg
	noDocker.DockerHost = "unix:///nonexistent/it-api-" + id + ".sock"
	c := startAPI(t, noDocker, "127.0.0.1:0")
	expect(t, "readyz without docker", c.call(t, "GET", "/readyz", "", ""), 503, "not ready")
	expect(t, "docker unreachable", c.call(t, "POST", "/api/clean/service", itAdmin, jsonBody(map[string]any{"serviceName": "it-api-" + id})),
		502, "inspect service")
	expect(t, "healthz without docker", c.call(t, "GET", "/healthz", "", ""), 200, "up")
	// Helper removal after clean-node is the commands tests' subject; other tests' helpers for
	// worker-2 may exist right now.
}

// TestAPICallFromCurlContainerOnOverlayNetwork is the CI call of SPEC §8, host-served variant:
// a container attached to an attachable overlay network calls the API the way a CI job does.
// The test process serves on the host bridge address 192.168.213.1 (the project's own test host
// address, reachable from containers on every node), not from a swarm service on the overlay
// network; the as-deployed variant (swarm-utils itself as a service on that network) comes with
// the deployment issue. The workload image is busybox, whose wget stands in for curl.
func TestAPICallFromCurlContainerOnOverlayNetwork(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, net.JoinHostPort(tb.HostIP, "0"))
	svc, token, netName := "it-api-"+id+"-ci", "it-api-ci-token-"+id, "it-api-"+id+"-net"
	a.secrets = append(a.secrets, token)

	tb.Docker(t, "network", "create", "--driver", "overlay", "--attachable", netName)
	t.Cleanup(func() { _, _ = tb.TryDockerOn("manager", "network", "rm", netName) })
	tb.Service(t, svc, "--network", netName,
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo ci-clean-ok",
		"--label", "swarm-utils.clean.token="+token, tb.WorkloadImage)

	tb.DockerOn(t, "worker-1", "pull", "-q", tb.WorkloadImage)
	body := jsonBody(map[string]any{"serviceName": svc})
	container := "it-api-" + id + "-curl"
	t.Cleanup(func() { _, _ = tb.TryDockerOn("worker-1", "rm", "-f", container) })
	// As in CI, the token comes from the environment (a CI secret), not from the command line.
	t.Setenv("SU_API_TOKEN", token)
	out := tb.DockerOn(t, "worker-1", "run", "--rm", "--name", container, "--network", netName, "-e", "SU_API_TOKEN", tb.WorkloadImage,
		"sh", "-c", `wget -q -O- --header "Authorization: Bearer $SU_API_TOKEN" --header "Content-Type: application/json" --post-data "$1" "$2"`,
		"sh", body, a.base+"/api/clean/service")
	var res operation.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("the CI call did not get a JSON result (%v):\n%s", err, out)
	}
	if !res.OK || res.Operation != OpCleanService || res.Target != svc || !strings.Contains(out, "ci-clean-ok") {
		t.Errorf("CI call result:\n%s", out)
	}
	if !strings.Contains(a.log.String(), fmt.Sprintf("target=%s", svc)) {
		t.Error("no access log line for the CI call")
	}
	assertNoHelpersFor(t, tb, id)
}
