package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/operation"
)

// recordingOps makes the fake operations record what jobs.Deps would: the run under its
// context's id and caller, in the store.
func recordingOps(t *testing.T, h *harness, store *history.Store) {
	t.Helper()
	h.ops.result = func(ctx context.Context, op, target string) operation.Result {
		r := operation.Result{Operation: op, Target: target, OK: true, StartedAt: time.Now().UTC(), Steps: []operation.Step{{Name: "exec", Node: "worker-1", OK: true}}}
		if target == "plain" {
			r.Fail(operation.Errorf(operation.KindDocker, "step exec failed: exit 1"))
		}
		(&history.Recorder{Store: store}).RunEnded(operation.RunOf(ctx), operation.CallerOf(ctx), r)
		return r
	}
}

func openStore(t *testing.T, dir string) *history.Store {
	t.Helper()
	s, err := history.Open(dir, 30, history.Options{LockWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func runsOf(t *testing.T, r response) []history.Record {
	t.Helper()
	var body runsBody
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("runs body: %v\n%s", err, r.Body)
	}
	return body.Runs
}

func TestRunsListing(t *testing.T) {
	store := openStore(t, t.TempDir())
	h := newHarness(t, func(o *Options) { o.History = store })
	recordingOps(t, h, store)
	for _, req := range []struct{ path, body string }{
		{"/api/clean/service", `{"token":"` + webClean + `","serviceName":"shop_web"}`},
		{"/api/backup/service", `{"token":"` + webBackup + `","serviceName":"shop_web"}`},
		{"/api/clean/service", `{"token":"` + dbClean + `","serviceName":"shop_db"}`},
		{"/api/clean/node", `{"token":"` + workerToken + `","nodeName":"worker-1"}`},
		{"/api/clean/service", `{"token":"` + adminToken + `","serviceName":"plain"}`},
	} {
		h.do("POST", req.path, req.body, "")
	}
	targets := func(runs []history.Record) string {
		var out []string
		for _, r := range runs {
			out = append(out, r.Operation+" "+r.Target+" "+r.Who)
		}
		return strings.Join(out, ", ")
	}
	tests := []struct {
		name, query, token string
		status             int
		want               string // the runs, newest first
	}{
		{"admin sees all", "", adminToken, 200,
			"clean-service plain admin, clean-node worker-1 label-token, clean-service shop_db label-token, backup-service shop_web label-token, clean-service shop_web label-token"},
		{"admin filters by target", "?target=shop_web", adminToken, 200, "backup-service shop_web label-token, clean-service shop_web label-token"},
		{"admin filters by operation and limit", "?operation=clean-service&limit=2", adminToken, 200, "clean-service plain admin, clean-service shop_db label-token"},
		{"a service's token sees its service's runs of every action", "", webBackup, 200, "backup-service shop_web label-token, clean-service shop_web label-token"},
		{"a service's token filtering on another target sees nothing", "?target=shop_db", webClean, 200, ""},
		{"a node's token sees its node", "", workerToken, 200, "clean-node worker-1 label-token"},
		{"unknown token", "", "no-such-token-xyz", 401, ""},
		{"no token", "", "", 401, ""},
		{"unknown operation", "?operation=rm-rf", adminToken, 400, ""},
		{"limit not a number", "?limit=ten", adminToken, 400, ""},
		{"limit zero", "?limit=0", adminToken, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("GET", "/api/runs"+tt.query, "", tt.token)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if tt.status != 200 {
				return
			}
			if got := targets(runsOf(t, r)); got != tt.want {
				t.Errorf("runs\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
	r := h.do("GET", "/api/runs?target=plain", "", adminToken)
	if runs := runsOf(t, r); len(runs) != 1 || runs[0].OK || runs[0].Outcome != "docker" || runs[0].Error == "" || len(runs[0].Steps) != 1 {
		t.Errorf("a failed run as stored: %s", r.Body)
	}
	if r := h.do("GET", "/api/runs?limit=100000", "", adminToken); r.Status != 200 || !strings.Contains(string(r.Body), fmt.Sprintf(`"limit": %d`, history.MaxLimit)) {
		t.Errorf("a limit past the most is capped: %d %s", r.Status, r.Body)
	}
}

func TestRunsWithoutHistory(t *testing.T) {
	off := newHarness(t)
	if r := off.do("GET", "/api/runs", "", adminToken); r.Status != 404 || !strings.Contains(string(r.Body), "SWARM_UTILS_HISTORY_DAYS=0") {
		t.Errorf("history off: %d %s", r.Status, r.Body)
	}
	down := newHarness(t, func(o *Options) { o.HistoryDown = "open /data/history.db: permission denied" })
	if r := down.do("GET", "/api/runs", "", adminToken); r.Status != 503 || !strings.Contains(string(r.Body), "permission denied") {
		t.Errorf("history down: %d %s", r.Status, r.Body)
	}
	r := down.do("GET", "/readyz", "", "")
	if m := r.json(t); r.Status != 200 || !strings.Contains(fmt.Sprint(m["history"]), "permission denied") {
		t.Errorf("readyz with the history down: %d %s (want ready, naming the history)", r.Status, r.Body)
	}
	if r := down.do("GET", "/api/runs", "", "no-such-token-xyz"); r.Status != 401 {
		t.Errorf("history down, unknown token: %d, want 401 first", r.Status)
	}
}

// A background job that ended is readable after a restart: a new server over the same store
// answers GET /api/jobs/{id} from the run history.
func TestBackgroundJobSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	first := newHarness(t, func(o *Options) { o.History = store })
	recordingOps(t, first, store)
	res := first.do("POST", "/api/clean/service", `{"token":"`+webClean+`","serviceName":"shop_web","waitRes":false}`, "")
	if res.Status != 202 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	id, _ := res.json(t)["id"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := store.Get(id); ok {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("the job's run was never stored under its id")
		}
		time.Sleep(10 * time.Millisecond)
	}

	restarted := newHarness(t, func(o *Options) { o.History = store })
	tests := []struct {
		name, token string
		status      int
	}{
		{"the token that started it", webClean, 200},
		{"another token of its service", webBackup, 200},
		{"an admin", adminToken, 200},
		{"another service's token", dbClean, 404},
		{"an unknown token", "no-such-token-xyz", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := restarted.do("GET", "/api/jobs/"+id, "", tt.token)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if tt.status != 200 {
				return
			}
			var v JobView
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatal(err)
			}
			if v.ID != id || v.State != JobDone || v.Status != 200 || v.Result == nil || v.Result.Target != "shop_web" || len(v.Result.Steps) != 1 {
				t.Errorf("job from the history: %s", r.Body)
			}
		})
	}
}

// The run counters keep bounded labels: operation and outcome only; the last-success gauge
// has a target, but only targets a run succeeded on.
func TestMetricsLabelsAreBounded(t *testing.T) {
	h := newHarness(t)
	h.metrics.SetBuildInfo("v1.2.3")
	h.ops.result = func(ctx context.Context, op, target string) operation.Result {
		if target == "shop_db" {
			return failWith(operation.KindDocker)(ctx, op, target)
		}
		return operation.Result{Operation: op, Target: target, OK: true, StartedAt: time.Unix(1_700_000_000, 0), Duration: operation.Duration(2 * time.Second), Steps: []operation.Step{}}
	}
	h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, "")
	h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_db"}`, "")
	h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"no-such-service-at-all"}`, "") // 404 before any run
	ops := Instrumented{Ops: h.ops, Metrics: h.metrics}
	h.ops.result = failWith(operation.KindNotFound)
	ops.CleanService(context.Background(), "invented-name-from-the-cli")
	h.metrics.SeedLastSuccess([]history.Record{
		{Operation: OpBackupService, Target: "shop_web", OK: true, StartedAt: time.Unix(1_600_000_000, 0)},
		{Operation: OpCleanService, Target: "shop_web", OK: true, StartedAt: time.Unix(1_500_000_000, 0)}, // older: no step back
		{Operation: "an-old-operation", Target: "x", OK: true, StartedAt: time.Unix(1_600_000_000, 0)},
	})
	body := string(h.do("GET", "/metrics", "", "").Body)
	for _, want := range []string{
		`swarm_utils_last_success_timestamp_seconds{operation="clean-service",target="shop_web"} 1.700000002e+09`,
		`swarm_utils_last_success_timestamp_seconds{operation="backup-service",target="shop_web"} 1.6e+09`,
		`swarm_utils_build_info{goversion="go`, `version="v1.2.3"} 1`,
		`swarm_utils_operations_total{operation="clean-service",outcome="not_found"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, never := range []string{"shop_db", "no-such-service-at-all", "invented-name-from-the-cli", "an-old-operation"} {
		if strings.Contains(body, never) {
			t.Errorf("metrics have a series for %q", never)
		}
	}
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, "swarm_utils_operations_total{") && strings.Contains(line, "target=") {
			t.Errorf("a run counter has a target label: %s", line)
		}
	}
}
