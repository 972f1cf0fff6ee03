package api

import (
	"context"
	"encoding/json"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/parse"
)

// fakeOps records calls and answers with result (or a per-call function).
type fakeOps struct {
	mu      sync.Mutex
	calls   []string
	update  []update.Options
	restore []restore.Options
	result  func(ctx context.Context, op, target string) operation.Result
}

func (f *fakeOps) do(ctx context.Context, op, target string) operation.Result {
	f.mu.Lock()
	f.calls = append(f.calls, op+" "+target)
	fn := f.result
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, op, target)
	}
	return operation.Result{Operation: op, Target: target, OK: true, Steps: []operation.Step{}}
}

func (f *fakeOps) CleanNode(ctx context.Context, name string) operation.Result {
	return f.do(ctx, OpCleanNode, name)
}
func (f *fakeOps) CleanService(ctx context.Context, name string) operation.Result {
	return f.do(ctx, OpCleanService, name)
}
func (f *fakeOps) BackupService(ctx context.Context, name string) operation.Result {
	return f.do(ctx, OpBackupService, name)
}
func (f *fakeOps) UpdateService(ctx context.Context, o update.Options) operation.Result {
	f.mu.Lock()
	f.update = append(f.update, o)
	f.mu.Unlock()
	return f.do(ctx, OpUpdateService, o.Service)
}
func (f *fakeOps) RestoreService(ctx context.Context, o restore.Options) operation.Result {
	f.mu.Lock()
	f.restore = append(f.restore, o)
	f.mu.Unlock()
	return f.do(ctx, OpRestoreService, o.Service)
}
func (f *fakeOps) CleanAllNodes(ctx context.Context) operation.Report {
	return operation.Report{Operation: OpCleanNode, OK: true, Results: []operation.Result{f.do(ctx, OpCleanNode, "*")}}
}

func (f *fakeOps) CheckUpdate(ctx context.Context, name string) operation.Result {
	return f.do(ctx, OpUpdateCheck, name)
}

func (f *fakeOps) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// failWith is an operation result that failed with kind.
func failWith(kind operation.Kind) func(context.Context, string, string) operation.Result {
	return func(_ context.Context, op, target string) operation.Result {
		return operation.Result{Operation: op, Target: target, OK: false, Error: string(kind) + " happened", ErrorKind: kind, Steps: []operation.Step{}}
	}
}

type fakeTargets struct {
	services []parse.Service
	nodes    []parse.Node
	err      error // every call fails with it
	pingErr  error
	listed   atomic.Int32 // Services calls
	docker   atomic.Int32 // calls of any method: each costs docker processes in production
	// block, when set, holds Services until it is closed.
	block chan struct{}
}

func (f *fakeTargets) Service(_ context.Context, name string) (parse.Service, error) {
	f.docker.Add(1)
	if f.err != nil {
		return parse.Service{}, f.err
	}
	for _, s := range f.services {
		if s.Name == name {
			return s, nil
		}
	}
	return parse.Service{}, &operation.Error{Kind: operation.KindNotFound, Err: errString("service " + name + " not found")}
}
func (f *fakeTargets) Services(context.Context) ([]parse.Service, error) {
	f.docker.Add(1)
	f.listed.Add(1)
	if f.block != nil {
		<-f.block
	}
	return f.services, f.err
}
func (f *fakeTargets) Nodes(context.Context) ([]parse.Node, error) {
	f.docker.Add(1)
	return f.nodes, f.err
}
func (f *fakeTargets) Ping(context.Context) error {
	f.docker.Add(1)
	return f.pingErr
}

// fakeClock is a settable clock for the caches: tests move it instead of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type errString string

func (e errString) Error() string { return string(e) }

// Tokens of the fixture. Each is a secret that must never reach the log.
const (
	adminToken   = "admin-secret-0123456789"
	webClean     = "web-clean-token-aaaa"
	webBackup    = "web-backup-token-bbbb"
	webUpdate    = "web-update-token-cccc"
	dbClean      = "db-clean-token-dddd"
	dbUpdate     = "db-update-token-eeee"
	workerToken  = "worker1-clean-token-ffff"
	s3SecretKey  = "s3-secret-key-gggg"
	registryPass = "registry-pass-hhhh"
)

func fixtureTargets() *fakeTargets {
	return &fakeTargets{
		services: []parse.Service{
			{ID: "id-web", Name: "shop_web", Image: "registry:5000/shop/web:1.0@sha256:" + strings.Repeat("ab", 32), Mode: parse.ModeReplicated, Replicas: 2, Labels: map[string]string{
				parse.LabelCleanEnable: "true", parse.LabelCleanExec: "rm -rf /tmp/cache", authz.LabelCleanToken: webClean,
				parse.LabelBackupEnable: "true", parse.LabelBackupVolumes: "web-data", authz.LabelBackupToken: webBackup,
				parse.LabelBackupS3SecretKey: s3SecretKey,
				parse.LabelUpdateEnable:      "true", authz.LabelUpdateToken: webUpdate,
				parse.LabelUpdateRegistryAuth: "true", parse.LabelUpdateRegistryPassword: registryPass,
				"com.example.other": "not ours",
			}},
			{ID: "id-db", Name: "shop_db", Image: "postgres:16", Mode: parse.ModeGlobal, Labels: map[string]string{
				parse.LabelCleanEnable: "true", parse.LabelCleanExec: "vacuum", authz.LabelCleanToken: dbClean,
				parse.LabelUpdateEnable: "true", authz.LabelUpdateToken: dbUpdate,
				authz.LabelUpdateImageAllow: "registry:5000/shop/db:*",
			}},
			{ID: "id-plain", Name: "plain", Image: "nginx", Mode: parse.ModeReplicated, Replicas: 1, Labels: map[string]string{}},
		},
		nodes: []parse.Node{
			{ID: "node-id-m", Hostname: "manager", Role: "manager", State: "ready", Availability: "active", Labels: map[string]string{}},
			{ID: "node-id-w1", Hostname: "worker-1", Role: "worker", State: "ready", Availability: "active", Labels: map[string]string{
				authz.LabelNodeCleanToken: workerToken, parse.LabelNodeCleanImageKeep: "nginx, team/*", parse.LabelNodeCleanImageUntil: "24h"}},
			{ID: "node-id-w2", Hostname: "worker-2", Role: "worker", State: "ready", Availability: "active", Labels: map[string]string{
				parse.LabelNodeCleanEnable: "false"}},
		},
	}
}

func fixtureConfig() config.Config {
	return config.Config{
		AdminTokens:     []string{"another-admin", adminToken},
		CleanExecShell:  "/bin/sh",
		BackupExecShell: "/bin/sh",
		S3:              config.S3{URL: "s3.local:7070", Bucket: "b", AccessKey: "s3-access-key-iiii", SecretKey: "cfg-secret", RetentionDays: 5},
		Registry:        config.Registry{User: "ci", Password: "cfg-registry-pass", URL: "registry:5000"},
		Timeouts: config.Timeouts{CleanServiceExec: time.Minute, BackupExec: time.Minute, BackupStop: time.Minute, BackupUpload: time.Minute,
			BackupStart: time.Minute, CleanNodeImage: time.Minute, CleanNodeBuilder: time.Minute, CleanNodeContainer: time.Minute},
	}
}

// harness is a Server over fakes with a log that records every line.
type harness struct {
	t       *testing.T
	ops     *fakeOps
	targets *fakeTargets
	server  *Server
	handler http.Handler
	metrics *Metrics
	log     *testbed.Recorder
}

// newHarness builds the server over the fixture; each change edits its Options first.
func newHarness(t *testing.T, change ...func(*Options)) *harness {
	h := &harness{t: t, ops: &fakeOps{}, targets: fixtureTargets(), metrics: NewMetrics(), log: &testbed.Recorder{}}
	o := Options{Ops: Instrumented{Ops: h.ops, Metrics: h.metrics}, Targets: h.targets, Config: fixtureConfig(),
		Log: slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: h.metrics}
	for _, c := range change {
		c(&o)
	}
	h.server = New(o)
	h.handler = h.server.Handler()
	t.Cleanup(func() {
		h.server.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.server.Drain(ctx); err != nil {
			t.Errorf("operations still running at the end of the test: %v", err)
		}
		for _, secret := range []string{adminToken, webClean, webBackup, webUpdate, dbClean, dbUpdate, workerToken, s3SecretKey, registryPass} {
			if strings.Contains(h.log.String(), secret) {
				t.Errorf("a token or secret reached the log: %q\n%s", secret, h.log.String())
			}
		}
	})
	return h
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// do sends a request; bearer "" sends no Authorization header.
func (h *harness) do(method, path, body, bearer string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}
