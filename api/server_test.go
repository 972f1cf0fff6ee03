package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

func TestStatusFor(t *testing.T) {
	for kind, want := range map[operation.Kind]int{
		"":                           200,
		operation.KindNotFound:       404,
		operation.KindBusy:           409,
		operation.KindInvalid:        400,
		operation.KindImpossible:     422,
		operation.KindConfig:         422,
		operation.KindTimeout:        504,
		operation.KindDocker:         502,
		operation.KindForbidden:      403,
		operation.KindCanceled:       503,
		operation.Kind("surprising"): 500,
	} {
		if got := StatusFor(kind); got != want {
			t.Errorf("StatusFor(%q) = %d, want %d", kind, got, want)
		}
	}
}

// TestActionRoutes covers every status code of the four POST routes with fakes: what decides
// it, the call that reaches the operation (or none), and the message a CI log shows.
func TestActionRoutes(t *testing.T) {
	big := `{"token":"` + adminToken + `","serviceName":"shop_web","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name       string
		path, body string
		bearer     string
		result     func(context.Context, string, string) operation.Result
		targetsErr error
		status     int
		call       string // the operation call expected; "" = none
		msg        string // in the body
	}{
		{name: "admin clean-service", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			status: 200, call: "clean-service shop_web", msg: `"ok": true`},
		{name: "label token in body", path: "/api/clean/service", body: `{"token":"` + webClean + `","serviceName":"shop_web"}`,
			status: 200, call: "clean-service shop_web"},
		{name: "label token in Authorization header", path: "/api/clean/service", body: `{"serviceName":"shop_web"}`, bearer: webClean,
			status: 200, call: "clean-service shop_web"},
		{name: "same token in body and header", path: "/api/clean/service", body: `{"token":"` + webClean + `","serviceName":"shop_web"}`, bearer: webClean,
			status: 200, call: "clean-service shop_web"},
		{name: "body and header tokens differ", path: "/api/clean/service", body: `{"token":"` + webClean + `","serviceName":"shop_web"}`, bearer: adminToken,
			status: 400, msg: "differ"},
		{name: "update check with the update token", path: "/api/update/check", body: `{"token":"` + webUpdate + `","serviceName":"shop_web"}`,
			status: 200, call: "update-check shop_web"},
		{name: "update check with another service's update token", path: "/api/update/check", body: `{"token":"` + dbUpdate + `","serviceName":"shop_web"}`,
			status: 403, msg: `may not run update-check on service \"shop_web\"`},
		{name: "update check with the clean token", path: "/api/update/check", body: `{"token":"` + webClean + `","serviceName":"shop_web"}`,
			status: 401, msg: "swarm-utils.update.token"},
		{name: "backup token", path: "/api/backup/service", body: `{"token":"` + webBackup + `","serviceName":"shop_web"}`,
			status: 200, call: "backup-service shop_web"},
		{name: "no token", path: "/api/clean/service", body: `{"serviceName":"shop_web"}`,
			status: 401, msg: "no token"},
		{name: "unknown token", path: "/api/clean/service", body: `{"token":"guess","serviceName":"shop_web"}`,
			status: 401, msg: "unknown token"},
		{name: "token of another action is unknown for this one", path: "/api/backup/service", body: `{"token":"` + webClean + `","serviceName":"shop_web"}`,
			status: 401, msg: "swarm-utils.backup.token"},
		{name: "another service's token", path: "/api/clean/service", body: `{"token":"` + dbClean + `","serviceName":"shop_web"}`,
			status: 403, msg: `may not run clean-service on service \"shop_web\"`},
		{name: "name is never a prefix match", path: "/api/clean/service", body: `{"token":"` + webClean + `","serviceName":"shop_we"}`,
			status: 404, msg: "not found"},
		{name: "admin, unknown service", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"nope"}`,
			status: 404, msg: `service \"nope\" not found`},
		{name: "action not enabled", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"plain"}`,
			result: failWith(operation.KindNotFound), status: 404, call: "clean-service plain", msg: "not_found"},
		{name: "busy", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			result: failWith(operation.KindBusy), status: 409, call: "clean-service shop_web", msg: `"errorKind": "busy"`},
		{name: "invalid", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			result: failWith(operation.KindInvalid), status: 400, call: "clean-service shop_web"},
		{name: "impossible", path: "/api/backup/service", body: `{"token":"` + adminToken + `","serviceName":"shop_db"}`,
			result: failWith(operation.KindImpossible), status: 422, call: "backup-service shop_db"},
		{name: "config", path: "/api/backup/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			result: failWith(operation.KindConfig), status: 422, call: "backup-service shop_web"},
		{name: "timeout", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			result: failWith(operation.KindTimeout), status: 504, call: "clean-service shop_web"},
		{name: "docker failure", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			result: failWith(operation.KindDocker), status: 502, call: "clean-service shop_web"},
		{name: "forbidden by the operation", path: "/api/update/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web","image":"x:1"}`,
			result: failWith(operation.KindForbidden), status: 403, call: "update-service shop_web"},
		{name: "canceled", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			result: failWith(operation.KindCanceled), status: 503, call: "clean-service shop_web"},
		{name: "failure without a kind", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			result: func(context.Context, string, string) operation.Result { return operation.Result{} }, status: 500, call: "clean-service shop_web"},
		{name: "docker down while authorising", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"}`,
			targetsErr: errString("Cannot connect to the Docker daemon"), status: 502, msg: "Cannot connect to the Docker daemon"},
		{name: "missing serviceName", path: "/api/clean/service", body: `{"token":"` + adminToken + `"}`,
			status: 400, msg: "missing required field(s): serviceName"},
		{name: "missing serviceName and image", path: "/api/update/service", body: `{"token":"` + adminToken + `"}`,
			status: 400, msg: "missing required field(s): serviceName, image"},
		{name: "unknown field", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web","force":true}`,
			status: 400, msg: `unknown field \"force\": the allowed fields are token, serviceName, waitRes`},
		{name: "field name in another case", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web","servicename":"shop_db"}`,
			status: 400, msg: `unknown field \"servicename\"`},
		{name: "field given twice", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web","serviceName":"shop_db"}`,
			status: 400, msg: `field \"serviceName\" is given more than once`},
		{name: "trailing data", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web"} {}`,
			status: 400, msg: "one JSON object"},
		{name: "malformed JSON", path: "/api/clean/service", body: `{"token":`,
			status: 400, msg: "malformed JSON"},
		{name: "empty body", path: "/api/clean/node", body: ``,
			status: 400, msg: "body is empty"},
		{name: "array body", path: "/api/clean/service", body: `[]`,
			status: 400, msg: "must be a JSON object"},
		{name: "wrong type", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":42}`,
			status: 400, msg: `field \"serviceName\" must be a JSON string`},
		{name: "waitRes not a boolean", path: "/api/clean/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web","waitRes":"maybe"}`,
			status: 400, msg: `field \"waitRes\" must be true or false`},
		{name: "image that is a flag", path: "/api/update/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web","image":"--privileged"}`,
			status: 400, msg: "not an image reference"},
		{name: "body over 64 KiB", path: "/api/clean/service", body: big,
			status: 413, msg: "larger than"},
		{name: "update: admin, any image", path: "/api/update/service", body: `{"token":"` + adminToken + `","serviceName":"shop_web","image":"evil/miner:latest"}`,
			status: 200, call: "update-service shop_web"},
		{name: "update: service token, new tag of its image", path: "/api/update/service", body: `{"token":"` + webUpdate + `","serviceName":"shop_web","image":"registry:5000/shop/web:1.1"}`,
			status: 200, call: "update-service shop_web"},
		{name: "update: service token, another image", path: "/api/update/service", body: `{"token":"` + webUpdate + `","serviceName":"shop_web","image":"evil/miner:latest"}`,
			status: 403, msg: "may only deploy new tags"},
		{name: "update: image-allow glob matches", path: "/api/update/service", body: `{"token":"` + dbUpdate + `","serviceName":"shop_db","image":"registry:5000/shop/db:2"}`,
			status: 200, call: "update-service shop_db"},
		{name: "update: image-allow glob does not match", path: "/api/update/service", body: `{"token":"` + dbUpdate + `","serviceName":"shop_db","image":"postgres:17"}`,
			status: 403, msg: "swarm-utils.update.image-allow"},
		{name: "clean-node admin", path: "/api/clean/node", body: `{"token":"` + adminToken + `","nodeName":"manager"}`,
			status: 200, call: "clean-node manager"},
		{name: "clean-node by ID", path: "/api/clean/node", body: `{"token":"` + adminToken + `","nodeName":"node-id-w1"}`,
			status: 200, call: "clean-node node-id-w1"},
		{name: "clean-node node label token", path: "/api/clean/node", body: `{"token":"` + workerToken + `","nodeName":"worker-1"}`,
			status: 200, call: "clean-node worker-1"},
		{name: "clean-node token of another node", path: "/api/clean/node", body: `{"token":"` + workerToken + `","nodeName":"worker-2"}`,
			status: 403, msg: "swarm-utils.clean.token"},
		{name: "clean-node service token", path: "/api/clean/node", body: `{"token":"` + webClean + `","nodeName":"worker-1"}`,
			status: 401, msg: "unknown token"},
		{name: "clean-node unknown node", path: "/api/clean/node", body: `{"token":"` + adminToken + `","nodeName":"worker-9"}`,
			status: 404, msg: `node \"worker-9\" not found`},
		{name: "clean-node missing nodeName", path: "/api/clean/node", body: `{"token":"` + adminToken + `","serviceName":"x"}`,
			status: 400, msg: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.ops.result = tt.result
			h.targets.err = tt.targetsErr
			res := h.do("POST", tt.path, tt.body, tt.bearer)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d\n%s", res.Status, tt.status, res.Body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			body := res.json(t)
			if res.Status >= 400 && (body["error"] == nil || body["error"] == "") && tt.status != 500 {
				t.Errorf("error response without a message: %s", res.Body)
			}
			if tt.msg != "" && !strings.Contains(string(res.Body), tt.msg) {
				t.Errorf("body does not say %q:\n%s", tt.msg, res.Body)
			}
			var want []string
			if tt.call != "" {
				want = []string{tt.call}
			}
			if got := h.ops.Calls(); !slices.Equal(got, want) {
				t.Errorf("operation calls %q, want %q", got, want)
			}
		})
	}
}

func TestTooLargeChunked(t *testing.T) {
	h := newHarness(t)
	// No Content-Length: the limit must hold while reading.
	pr := strings.NewReader(`{"token":"` + adminToken + `","serviceName":"` + strings.Repeat("a", 2*MaxBodyBytes) + `"}`)
	req := httptest.NewRequest("POST", "/api/clean/service", struct{ *strings.Reader }{pr})
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Fatalf("status %d, want 413: %s", rec.Code, rec.Body)
	}
	if len(h.ops.Calls()) != 0 {
		t.Errorf("an operation ran: %v", h.ops.Calls())
	}
}

func TestUpdateOptionsReachTheOperation(t *testing.T) {
	h := newHarness(t)
	res := h.do("POST", "/api/update/service", `{"token":"`+adminToken+`","serviceName":"shop_web","image":"registry:5000/shop/web:2","isForce":"true"}`, "")
	if res.Status != 200 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	want := update.Options{Service: "shop_web", Image: "registry:5000/shop/web:2", Force: true}
	if len(h.ops.update) != 1 || h.ops.update[0] != want {
		t.Errorf("UpdateService got %+v, want %+v", h.ops.update, want)
	}
}

func TestMethodAndPathErrorsAreJSON(t *testing.T) {
	h := newHarness(t)
	res := h.do("GET", "/api/clean/node", "", "")
	if res.Status != 405 || res.Header.Get("Allow") == "" || !strings.Contains(res.json(t)["error"].(string), "POST") {
		t.Errorf("GET on a POST route: %d Allow=%q %s", res.Status, res.Header.Get("Allow"), res.Body)
	}
	res = h.do("POST", "/api/update", `{}`, "")
	if res.Status != 404 || res.json(t)["errorKind"] != "not_found" {
		t.Errorf("unknown path: %d %s", res.Status, res.Body)
	}
}

// TestBackgroundJob: waitRes=false answers 202 at once; GET /api/jobs/{id} shows the job running,
// then done with the result, to the token that started it or an admin only.
func TestBackgroundJob(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	h.ops.result = func(ctx context.Context, op, target string) operation.Result {
		<-release
		return failWith(operation.KindTimeout)(ctx, op, target)
	}
	res := h.do("POST", "/api/clean/service", `{"token":"`+webClean+`","serviceName":"shop_web","waitRes":false}`, "")
	if res.Status != 202 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	accepted := res.json(t)
	id, _ := accepted["id"].(string)
	if len(id) != 32 || res.Header.Get("Location") != "/api/jobs/"+id || res.Header.Get("X-Job-Id") != id {
		t.Fatalf("job id %q, Location %q: %s", id, res.Header.Get("Location"), res.Body)
	}
	if s := accepted["state"]; s != JobQueued && s != JobRunning {
		t.Errorf("state %v", s)
	}

	if r := h.do("GET", "/api/jobs/"+id, "", ""); r.Status != 401 {
		t.Errorf("no token: %d", r.Status)
	}
	if r := h.do("GET", "/api/jobs/"+id, "", dbClean); r.Status != 404 {
		t.Errorf("another service's token: %d", r.Status)
	}
	if r := h.do("GET", "/api/jobs/0123", "", adminToken); r.Status != 404 {
		t.Errorf("unknown job: %d", r.Status)
	}
	waitState := func(want string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := h.do("GET", "/api/jobs/"+id, "", webClean)
			if r.Status != 200 {
				t.Fatalf("GET job: %d %s", r.Status, r.Body)
			}
			if m := r.json(t); m["state"] == want {
				return m
			} else if time.Now().After(deadline) {
				t.Fatalf("job never became %s: %s", want, r.Body)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	running := waitState(JobRunning)
	if running["result"] != nil {
		t.Errorf("a running job has a result: %v", running)
	}
	close(release)
	done := waitState(JobDone)
	result, _ := done["result"].(map[string]any)
	if result == nil || result["errorKind"] != "timeout" || done["status"] != float64(504) || done["operation"] != OpCleanService || done["target"] != "shop_web" {
		t.Errorf("done job: %v", done)
	}
	if r := h.do("GET", "/api/jobs/"+id, "", adminToken); r.Status != 200 {
		t.Errorf("admin reads any job: %d", r.Status)
	}
}

// TestSyncRequestOutlivesItsCaller: a waitRes=true caller that hangs up does not abort the
// operation; its result stays readable as a job.
func TestSyncRequestOutlivesItsCaller(t *testing.T) {
	h := newHarness(t)
	started, release := make(chan struct{}), make(chan struct{})
	var opCtxErr error
	h.ops.result = func(ctx context.Context, op, target string) operation.Result {
		close(started)
		<-release
		opCtxErr = ctx.Err()
		return operation.Result{Operation: op, Target: target, OK: true}
	}
	ctx, hangUp := context.WithCancel(context.Background())
	req := httptest.NewRequest("POST", "/api/clean/service", strings.NewReader(`{"token":"`+adminToken+`","serviceName":"shop_web"}`)).WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { h.handler.ServeHTTP(rec, req); close(done) }()
	<-started
	hangUp()
	<-done
	id := rec.Header().Get("X-Job-Id")
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for h.do("GET", "/api/jobs/"+id, "", adminToken).json(t)["state"] != JobDone {
		if time.Now().After(deadline) {
			t.Fatal("job never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if opCtxErr != nil {
		t.Errorf("the operation's context ended with the request: %v", opCtxErr)
	}
}

func TestJobStoreKeepsTheLastJobs(t *testing.T) {
	s := newJobStore(3, 0)
	owner := authz.NewToken("tok").Digest
	add := func(target string) (*job, *apiError) {
		return s.add(newJob{operation: "clean-node", target: target, key: "node:" + target, owner: owner, admin: true})
	}
	var jobs []*job
	for i := range 3 {
		j, e := add(fmt.Sprint(i))
		if e != nil {
			t.Fatal(e)
		}
		jobs = append(jobs, j)
	}
	if _, e := add("x"); e == nil || e.Status != 503 {
		t.Fatalf("a full store of running jobs accepted another: %v", e)
	}
	jobs[1].finish(operation.Result{OK: true})
	jobs[0].finish(operation.Result{OK: true})
	j, e := add("3")
	if e != nil || s.len() != 3 {
		t.Fatalf("store did not make room: %v, %d", e, s.len())
	}
	if s.get(jobs[0].id) != nil || s.get(jobs[1].id) == nil || s.get(jobs[2].id) == nil {
		t.Error("not the oldest finished job was dropped")
	}
	if !j.ownedBy(authz.NewToken("tok")) || j.ownedBy(authz.NewToken("tok2")) {
		t.Error("ownedBy")
	}
	if a, b := newJobID(), newJobID(); a == b || len(a) != 32 {
		t.Errorf("job ids %q %q", a, b)
	}
}

// TestJobStoreLimits: one background job per target (409 at once), a quota per non-admin token
// (429), and a share of the store that service tokens cannot fill (admins get in, 503 for the
// rest). Each step adds one job to a store of 8 (2 for admins only), 3 per token; running jobs
// stay running unless the step finishes one first.
func TestJobStoreLimits(t *testing.T) {
	s := newJobStore(8, 3)
	tok := func(name string) authz.Digest { return authz.NewToken(name).Digest }
	var started []*job
	steps := []struct {
		name       string
		finish     int // index in started to finish first; -1 none
		target     string
		owner      string
		admin, bg  bool
		wantStatus int // 0: accepted
	}{
		{name: "background job on web", finish: -1, target: "service:web", owner: "web", bg: true},
		{name: "second background job on web: 409 at once", finish: -1, target: "service:web", owner: "web", bg: true, wantStatus: 409},
		{name: "an admin's background job on web: 409 too", finish: -1, target: "service:web", owner: "admin", admin: true, bg: true, wantStatus: 409},
		{name: "a waiting request on web waits for the lock", finish: -1, target: "service:web", owner: "web"},
		{name: "a node of the same name is another target", finish: -1, target: "node:web", owner: "node", bg: true},
		{name: "third job of one token", finish: -1, target: "service:web", owner: "web"},
		{name: "fourth job of one token: 429", finish: -1, target: "service:web", owner: "web", wantStatus: 429},
		{name: "other tokens fill the non-admin share (6)", finish: -1, target: "service:a", owner: "a"},
		{name: "sixth non-admin job", finish: -1, target: "service:b", owner: "b"},
		{name: "seventh non-admin job: 503", finish: -1, target: "service:c", owner: "c", wantStatus: 503},
		{name: "an admin still gets in", finish: -1, target: "service:c", owner: "admin", admin: true, bg: true},
		{name: "and fills the store", finish: -1, target: "service:d", owner: "admin", admin: true},
		{name: "a full store refuses admins too", finish: -1, target: "service:e", owner: "admin", admin: true, wantStatus: 503},
		{name: "web's background job ended: web is idle for background jobs again", finish: 0, target: "service:web", owner: "admin", admin: true, bg: false},
		{name: "a background job while a waiting request runs on web: 409", finish: -1, target: "service:web", owner: "admin2", admin: true, bg: true, wantStatus: 409},
	}
	for _, st := range steps {
		if st.finish >= 0 {
			started[st.finish].finish(operation.Result{OK: true})
		}
		j, e := s.add(newJob{operation: "op", target: st.target, key: st.target, owner: tok(st.owner), admin: st.admin, background: st.bg})
		switch {
		case st.wantStatus == 0 && e != nil:
			t.Errorf("%s: refused: %d %s", st.name, e.Status, e.Msg)
		case st.wantStatus != 0 && e == nil:
			t.Errorf("%s: accepted, want %d", st.name, st.wantStatus)
		case st.wantStatus != 0 && e.Status != st.wantStatus:
			t.Errorf("%s: %d %s, want %d", st.name, e.Status, e.Msg, st.wantStatus)
		}
		if j != nil {
			started = append(started, j)
		}
	}
}

// TestBackgroundJobOnABusyTargetIs409AtOnce: over HTTP, a service token's second waitRes=false
// call on its service is 409 without starting anything, while the first still runs.
func TestBackgroundJobOnABusyTargetIs409AtOnce(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	h.ops.result = func(_ context.Context, op, target string) operation.Result {
		<-release
		return operation.Result{Operation: op, Target: target, OK: true, Steps: []operation.Step{}}
	}
	defer close(release)
	body := `{"token":"` + webBackup + `","serviceName":"shop_web","waitRes":false}`
	if res := h.do("POST", "/api/backup/service", body, ""); res.Status != http.StatusAccepted {
		t.Fatalf("first: %d %s", res.Status, res.Body)
	}
	for range 5 {
		if res := h.do("POST", "/api/backup/service", body, ""); res.Status != http.StatusConflict || res.json(t)["errorKind"] != "busy" {
			t.Fatalf("next: %d %s", res.Status, res.Body)
		}
	}
	waitFor(t, "the first job runs", func() bool { return len(h.ops.Calls()) == 1 })
	if n := h.server.jobs.len(); n != 1 {
		t.Errorf("%d jobs stored, want 1", n)
	}
}

func TestServicesListing(t *testing.T) {
	h := newHarness(t)
	res := h.do("GET", "/api/services", "", adminToken)
	if res.Status != 200 {
		t.Fatalf("admin: %d %s", res.Status, res.Body)
	}
	for _, secret := range []string{webClean, webBackup, webUpdate, dbClean, s3SecretKey, registryPass, "s3-access-key-iiii", "cfg-secret"} {
		if strings.Contains(string(res.Body), secret) {
			t.Errorf("listing shows secret %q:\n%s", secret, res.Body)
		}
	}
	svcs := res.json(t)["services"].([]any)
	if len(svcs) != 3 {
		t.Fatalf("admin sees %d services, want 3", len(svcs))
	}
	web := svcs[0].(map[string]any)
	if web["name"] != "shop_web" || fmt.Sprint(web["actions"]) != "[clean-service backup-service restore-service update-service]" {
		t.Errorf("web: %v", web)
	}
	labels := web["labels"].(map[string]any)
	if labels["swarm-utils.clean.token"] != "***" || labels["swarm-utils.clean.exec"] != "rm -rf /tmp/cache" || labels["com.example.other"] != nil {
		t.Errorf("labels: %v", labels)
	}
	backup := web["backup"].(map[string]any)
	if s3 := backup["s3"].(map[string]any); s3["secretKey"] != "***" || s3["url"] != "s3.local:7070" {
		t.Errorf("backup s3: %v", s3)
	}

	res = h.do("GET", "/api/services", "", dbUpdate)
	svcs = res.json(t)["services"].([]any)
	if res.Status != 200 || len(svcs) != 1 || svcs[0].(map[string]any)["name"] != "shop_db" ||
		fmt.Sprint(svcs[0].(map[string]any)["actions"]) != "[update-service]" {
		t.Errorf("db update token: %d %s", res.Status, res.Body)
	}
	// A node token is known: an empty list, not 401.
	if res = h.do("GET", "/api/services", "", workerToken); res.Status != 200 || len(res.json(t)["services"].([]any)) != 0 {
		t.Errorf("node token: %d %s", res.Status, res.Body)
	}
	if res = h.do("GET", "/api/services", "", "guess"); res.Status != 401 {
		t.Errorf("unknown token: %d", res.Status)
	}
	if res = h.do("GET", "/api/services", "", ""); res.Status != 401 {
		t.Errorf("no token: %d", res.Status)
	}
	h.targets.err = errString("docker is down")
	if res = h.do("GET", "/api/services", "", adminToken); res.Status != 502 {
		t.Errorf("docker down: %d", res.Status)
	}
}

func TestNodesListing(t *testing.T) {
	h := newHarness(t)
	res := h.do("GET", "/api/nodes", "", adminToken)
	nodes := res.json(t)["nodes"].([]any)
	if res.Status != 200 || len(nodes) != 3 || strings.Contains(string(res.Body), workerToken) {
		t.Fatalf("admin: %d %s", res.Status, res.Body)
	}
	w2 := nodes[2].(map[string]any)
	if w2["hostname"] != "worker-2" || len(w2["actions"].([]any)) != 0 || w2["clean"].(map[string]any)["enabled"] != false {
		t.Errorf("worker-2 (clean disabled): %v", w2)
	}
	res = h.do("GET", "/api/nodes", "", workerToken)
	nodes = res.json(t)["nodes"].([]any)
	if res.Status != 200 || len(nodes) != 1 || nodes[0].(map[string]any)["hostname"] != "worker-1" ||
		nodes[0].(map[string]any)["labels"].(map[string]any)["swarm-utils.clean.token"] != "***" {
		t.Errorf("node token: %d %s", res.Status, res.Body)
	}
	if c := nodes[0].(map[string]any)["clean"].(map[string]any); fmt.Sprint(c["imageKeep"]) != "[nginx team/*]" || c["imageUntil"] != "24h0m0s" {
		t.Errorf("worker-1's image rules: %v", c)
	}
	if res = h.do("GET", "/api/nodes", "", webClean); res.Status != 200 || len(res.json(t)["nodes"].([]any)) != 0 {
		t.Errorf("service token: %d %s", res.Status, res.Body)
	}
	if res = h.do("GET", "/api/nodes", "", "guess"); res.Status != 401 {
		t.Errorf("unknown token: %d", res.Status)
	}
}

func TestProbes(t *testing.T) {
	h := newHarness(t)
	if res := h.do("GET", "/healthz", "", ""); res.Status != 200 {
		t.Errorf("healthz %d", res.Status)
	}
	if res := h.do("GET", "/readyz", "", ""); res.Status != 200 {
		t.Errorf("readyz %d", res.Status)
	}
	h = newHarness(t) // a fresh readiness cache
	h.targets.pingErr = &operation.Error{Kind: operation.KindImpossible, Err: errString("docker's node is a swarm worker, not a manager")}
	if res := h.do("GET", "/readyz", "", ""); res.Status != 503 || !strings.Contains(string(res.Body), "not a manager") {
		t.Errorf("readyz on a worker: %d %s", res.Status, res.Body)
	}
	if res := h.do("GET", "/healthz", "", ""); res.Status != 200 {
		t.Errorf("healthz does not depend on docker: %d", res.Status)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, "")
	h.ops.result = failWith(operation.KindBusy)
	h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, "")
	h.metrics.HelperCreated(OpCleanService)
	h.metrics.HelperCreated(OpCleanService)
	res := h.do("GET", "/metrics", "", "")
	if res.Status != 200 {
		t.Fatalf("metrics %d", res.Status)
	}
	for _, want := range []string{
		`swarm_utils_operations_total{operation="clean-service",outcome="ok"} 1`,
		`swarm_utils_operations_total{operation="clean-service",outcome="busy"} 1`,
		`swarm_utils_operation_duration_seconds_count{operation="clean-service"} 2`,
		`swarm_utils_helpers_created_total{action="clean-service"} 2`,
		`swarm_utils_operations_in_flight{operation="clean-service"} 0`,
		`swarm_utils_operations_total{operation="backup-service",outcome="ok"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(res.Body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestInFlightGauge(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	h.ops.result = func(_ context.Context, op, target string) operation.Result {
		<-release
		return operation.Result{Operation: op, Target: target, OK: true}
	}
	h.do("POST", "/api/backup/service", `{"token":"`+adminToken+`","serviceName":"shop_web","waitRes":false}`, "")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(string(h.do("GET", "/metrics", "", "").Body), `swarm_utils_operations_in_flight{operation="backup-service"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("in-flight gauge never showed the running backup")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
}

func TestAccessLog(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/api/clean/service", `{"token":"`+webClean+`","serviceName":"shop_web"}`, "")
	h.do("POST", "/api/clean/service", `{"serviceName":"shop_web"}`, webClean)
	// A CI script that swapped the fields must not log its token as the target.
	h.do("POST", "/api/clean/service", `{"token":"`+webClean+`","serviceName":"`+webClean+`"}`, "")
	log := h.log.String()
	lines := strings.Count(log, `msg="http request" method=POST route="POST /api/clean/service"`)
	if lines != 3 {
		t.Errorf("%d access lines, want 3:\n%s", lines, log)
	}
	for _, want := range []string{"status=200", "target=shop_web", "durationMs=", "status=404"} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %q:\n%s", want, log)
		}
	}
	// newHarness's cleanup asserts that no token reached the log.
}

// TestAccessLogNeverShowsATokenInAnyField: tokens sent as a target name or as part of the path,
// by authorised and unauthorised callers, known or not, never reach the log; the line names
// the route pattern instead of the path, and a target only once the request is authorised.
//
// It runs with the fixture's few secrets in the masker and with 40 more (a cluster's label
// tokens), for which the masker looks secrets up by prefix instead of one by one.
func TestAccessLogNeverShowsATokenInAnyField(t *testing.T) {
	for _, extra := range []int{0, 40} {
		t.Run(fmt.Sprint(extra, " more secrets"), func(t *testing.T) { accessLogNeverShowsATokenInAnyField(t, extra) })
	}
}

func accessLogNeverShowsATokenInAnyField(t *testing.T, extraSecrets int) {
	const (
		freshToken = "fresh-plain-label-token-zzzz" // a label token only the label cache knows
		unknown    = "unknown-token-that-is-a-typo-yyyy"
		// What no masker knows (another system's secret, a forged log line) is kept out by
		// logging the target only once the request is authorised.
		unmasked = "someone-elses-secret-qqqq"
	)
	h := newHarness(t, func(o *Options) {
		if extraSecrets == 0 {
			return // the server's own masker
		}
		o.Secrets = bashexec.NewGlobalSecrets() // as serve's
		for i := range extraSecrets {
			o.Secrets.Add(fmt.Sprint("label-token-of-another-service-", i))
		}
	})
	// A service whose very name is its token: even an authorised target is masked.
	h.targets.services = append(h.targets.services, parse.Service{ID: "id-fresh", Name: freshToken, Mode: parse.ModeReplicated, Replicas: 1,
		Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true", authz.LabelCleanToken: freshToken}})
	for _, tt := range []struct {
		method, path, body, bearer string
		status                     int
	}{
		{"POST", "/api/clean/service", `{"token":"` + webClean + `","serviceName":"` + adminToken + `"}`, "", 404},
		{"POST", "/api/clean/service", `{"token":"` + unknown + `","serviceName":"` + webBackup + `"}`, "", 401},
		{"POST", "/api/clean/service", `{"token":"` + adminToken + `","serviceName":"` + freshToken + `"}`, "", 200},
		{"POST", "/api/backup/service", `{"token":"` + adminToken + `","serviceName":"` + dbClean + `"}`, "", 404},
		{"POST", "/api/update/service", `{"token":"` + webUpdate + `","serviceName":"` + webUpdate + `","image":"x:1"}`, "", 404},
		{"POST", "/api/clean/node", `{"token":"` + adminToken + `","nodeName":"` + workerToken + `"}`, "", 404},
		{"POST", "/api/clean/node", `{"nodeName":"` + unknown + `"}`, unknown, 401},
		{"POST", "/api/clean/service", `{"token":"` + unknown + `","serviceName":"` + unmasked + `"}`, "", 401},
		{"POST", "/api/update/service", `{"token":"` + dbUpdate + `","serviceName":"` + unmasked + `","image":"x:1"}`, "", 404},
		{"POST", "/api/clean/node", `{"token":"` + workerToken + `","nodeName":"` + unmasked + `"}`, "", 404},
		{"GET", "/api/jobs/" + unmasked, "", webClean, 404},
		{"GET", "/api/jobs/" + webClean, "", webClean, 404},
		{"GET", "/api/jobs/" + adminToken, "", unknown, 401},
		{"GET", "/api/jobs/" + freshToken, "", adminToken, 404},
		{"GET", "/api/" + dbUpdate, "", "", 404},
		{"GET", "/api/services/" + unknown, "", "", 404},
		{"DELETE", "/api/clean/service/" + workerToken, "", "", 404},
	} {
		if res := h.do(tt.method, tt.path, tt.body, tt.bearer); res.Status != tt.status {
			t.Errorf("%s %s: %d, want %d: %s", tt.method, tt.path, res.Status, tt.status, res.Body)
		}
	}
	log := h.log.String()
	for _, secret := range []string{freshToken, unknown, unmasked} { // the fixture's are checked by newHarness
		if strings.Contains(log, secret) {
			t.Errorf("%q reached the log:\n%s", secret, log)
		}
	}
	for _, want := range []string{`route="GET /api/jobs/{id}"`, `route="POST /api/clean/node"`, "route=none", "target=***"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "path=") {
		t.Errorf("the log shows a raw path:\n%s", log)
	}
}

func TestShuttingDownRefusesNewOperations(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.server.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	res := h.do("POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, "")
	if res.Status != http.StatusServiceUnavailable || len(h.ops.Calls()) != 0 {
		t.Errorf("during shutdown: %d %s, calls %v", res.Status, res.Body, h.ops.Calls())
	}
}

// TestBadTokensDoNotListEveryServiceEachTime: telling 401 from 403 needs every service's
// labels; a stream of bad tokens reads them once per few seconds, not once per request.
func TestBadTokensDoNotListEveryServiceEachTime(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		res := h.do("POST", "/api/clean/service", `{"token":"guess-`+fmt.Sprint(i)+`","serviceName":"shop_web"}`, "")
		if res.Status != 401 {
			t.Fatalf("status %d", res.Status)
		}
	}
	if n := h.targets.listed.Load(); n != 1 {
		t.Errorf("services listed %d times for 20 bad tokens, want 1", n)
	}
}

// The store's results are bounded in bytes, one by one and together: a hundred tasks printing
// their whole tail, job after job, must not grow the daemon without end.
func TestJobStoreBoundsResultBytes(t *testing.T) {
	s := newJobStore(1000, 4)
	s.maxBytes = 3 * MaxStoredResult
	owner := authz.NewToken("tok").Digest
	bigResult := func() operation.Result {
		r := operation.Result{Operation: "clean-service", Target: "shop_web", Steps: []operation.Step{{Name: "exec"}}}
		for range 100 {
			r.Steps[0].Tasks = append(r.Steps[0].Tasks, operation.TaskResult{State: "complete", Logs: strings.Repeat("x", 64<<10)})
		}
		return r
	}
	var jobs []*job
	for i := range 6 {
		j, e := s.add(newJob{operation: "clean-service", target: fmt.Sprint(i), key: fmt.Sprint("service:", i), owner: owner, admin: true})
		if e != nil {
			t.Fatal(e)
		}
		s.finish(j, bigResult())
		jobs = append(jobs, j)
		if size := j.view().Result.Size(); size > MaxStoredResult+4096 {
			t.Fatalf("stored result %d holds %d bytes, want at most about %d", i, size, MaxStoredResult)
		}
	}
	if s.bytes > s.maxBytes {
		t.Errorf("the store holds %d bytes of results, over its bound %d", s.bytes, s.maxBytes)
	}
	if s.get(jobs[0].id) != nil || s.get(jobs[5].id) == nil {
		t.Errorf("the oldest finished jobs should go first and the newest stay: %d jobs kept", s.len())
	}
	if s.len() < 2 {
		t.Errorf("only %d jobs kept: the bound should keep as many as fit", s.len())
	}
}
