package api

import (
	"bytes"
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
	"testing"
)

// fuzzOps answers every operation at once and records any call that breaks the API's promise:
// an operation only ever starts on a target that exists under exactly that name, and
// update-service only with an image reference that passed the request's validation.
type fuzzOps struct {
	known map[string]bool
	mu    sync.Mutex
	bad   []string
}

func (o *fuzzOps) check(op, target string, ok bool, why string) operation.Result {
	if !o.known[target] {
		ok, why = false, "unknown target reached the operation"
	}
	if !ok {
		o.mu.Lock()
		o.bad = append(o.bad, op+" "+target+": "+why)
		o.mu.Unlock()
	}
	return operation.Result{Operation: op, Target: target, OK: true, Steps: []operation.Step{}}
}

func (o *fuzzOps) CleanNode(_ context.Context, name string) operation.Result {
	return o.check(OpCleanNode, name, true, "")
}
func (o *fuzzOps) CleanService(_ context.Context, name string) operation.Result {
	return o.check(OpCleanService, name, true, "")
}
func (o *fuzzOps) BackupService(_ context.Context, name string) operation.Result {
	return o.check(OpBackupService, name, true, "")
}
func (o *fuzzOps) UpdateService(_ context.Context, u update.Options) operation.Result {
	return o.check(OpUpdateService, u.Service, validImage(u.Image) == nil, "image "+u.Image+" reached the operation")
}

func (o *fuzzOps) RestoreService(_ context.Context, r restore.Options) operation.Result {
	return o.check(OpRestoreService, r.Service, true, "")
}

func (o *fuzzOps) CheckUpdate(_ context.Context, name string) operation.Result {
	return o.check(OpUpdateCheck, name, true, "")
}

func (o *fuzzOps) violations() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.bad
	o.bad = nil
	return v
}

// fuzzSeeds are request bodies as CI pipelines send them (examples/*.yml build them with printf),
// the bodies of the route tests, and the malformed ones seen in their place.
func fuzzSeeds() []string {
	tok := func(s string) string { return `"token":"` + s + `"` }
	return []string{
		`{` + tok(adminToken) + `,"serviceName":"shop_web","image":"registry:5000/shop/web:1.1"}`, // examples/gitlab-ci.yml
		`{` + tok(webUpdate) + `,"serviceName":"shop_web","image":"registry:5000/shop/web:1.1","isForce":"true"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web","image":"evil/miner:latest","isForce":true,"waitRes":false}`,
		`{` + tok(dbUpdate) + `,"serviceName":"shop_db","image":"registry:5000/shop/db:2","waitRes":"false"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web"}`,
		`{` + tok(webClean) + `,"serviceName":"shop_web","waitRes":null}`,
		`{` + tok(webBackup) + `,"serviceName":"shop_web"}`,
		`{` + tok(adminToken) + `,"nodeName":"worker-1"}`,
		`{` + tok(workerToken) + `,"nodeName":"node-id-w1","waitRes":true}`,
		`{"serviceName":"shop_web"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_we"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web","servicename":"shop_db"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web","serviceName":"shop_db"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web"} {}`,
		`{` + tok(adminToken) + `,"serviceName":42}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web","waitRes":"maybe"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web","image":"--privileged"}`,
		`{` + tok(adminToken) + `,"serviceName":"app; rm -rf /","image":"$(id)"}`,
		`{` + tok(adminToken) + `,"serviceName":"shop_web\u0000x","image":"a\nb"}`,
		"\ufeff{}", `{"token":`, ``, `[]`, `null`, `"x"`, `{}`, `{"a":{"b":[1,2,{"c":null}]}}`,
		`{"token":"` + strings.Repeat("x", 300) + `"}`,
		strings.Repeat("[", 200),
		`{"serviceName":"\ud800","token":"\u00e9"}`,
	}
}

var fuzzPaths = []string{"/api/clean/service", "/api/backup/service", "/api/update/service", "/api/clean/node"}

// FuzzDecodeRequest feeds arbitrary bodies to the decoder of each request type and to the four
// action routes (over fakes, with the body's own token): nothing panics, every answer is JSON
// with a 2xx or 4xx status, an accepted body is exactly one JSON object of known, distinct,
// case-exact fields, and no operation starts on a name that is not exactly a target.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	targets := fixtureTargets()
	ops := &fuzzOps{known: map[string]bool{}}
	for _, s := range targets.services {
		ops.known[s.Name] = true
	}
	for _, n := range targets.nodes {
		ops.known[n.Hostname], ops.known[n.ID] = true, true
	}
	srv := New(Options{Ops: ops, Targets: targets, Config: fixtureConfig(), Log: slog.New(slog.DiscardHandler)})
	f.Cleanup(srv.Abort)
	handler := srv.Handler()
	// 409 and 429: a background job still running on its target, or its token's quota, when the next body comes.
	answers := map[int]bool{200: true, 202: true, 400: true, 401: true, 403: true, 404: true, 409: true, 413: true, 429: true}

	f.Fuzz(func(t *testing.T, body string) {
		for _, dst := range []func() any{
			func() any { return &serviceRequest{} }, func() any { return &updateRequest{} }, func() any { return &nodeRequest{} },
		} {
			checkDecoded(t, body, dst())
		}
		for _, path := range fuzzPaths {
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
			if !answers[rec.Code] || !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("POST %s %q: %d\n%s", path, body, rec.Code, rec.Body)
			}
		}
		if v := ops.violations(); len(v) > 0 {
			t.Fatalf("body %q: %s", body, strings.Join(v, "; "))
		}
	})
}

// checkDecoded runs decodeBody on body and, when it accepts, checks the invariants with an
// independent reading of the same bytes.
func checkDecoded(t *testing.T, body string, dst any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	e := decodeBody(httptest.NewRecorder(), req, dst)
	if e != nil {
		if e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%T %q rejected with status %d: %s", dst, body, e.Status, e.Msg)
		}
		if e.Msg == "" {
			t.Fatalf("%T %q rejected without a message", dst, body)
		}
		return
	}
	if len(body) > MaxBodyBytes {
		t.Fatalf("%T: accepted a body of %d bytes", dst, len(body))
	}
	if string(bytes.TrimSpace([]byte(body))) == "null" {
		// decodeBody lets a JSON null through (encoding/json leaves dst untouched); the handlers
		// then answer 400 for the missing fields, so it is harmless, but it is not an object.
		return
	}
	var fields map[string]json.RawMessage
	if !json.Valid([]byte(body)) || json.Unmarshal([]byte(body), &fields) != nil || fields == nil {
		t.Fatalf("%T: accepted %q, which is not one JSON object", dst, body)
	}
	allowed := map[string]bool{}
	for _, name := range strings.Split(fieldList(dst), ", ") {
		allowed[name] = true
	}
	keys := topLevelKeys(t, body)
	if len(keys) != len(fields) {
		t.Fatalf("%T: accepted %q, which repeats a field", dst, body)
	}
	for _, k := range keys {
		if !allowed[k] {
			t.Fatalf("%T: accepted %q with the field %q", dst, body, k)
		}
	}
	// Every string field holds what the body says; booleans are kept raw for flag().
	got, _ := json.Marshal(dst)
	var back map[string]any
	_ = json.Unmarshal(got, &back)
	for k, raw := range fields {
		var want any
		_ = json.Unmarshal(raw, &want)
		if s, isString := back[k].(string); isString {
			if w, _ := want.(string); w != s {
				t.Fatalf("%T: field %s decoded as %q, the body says %s", dst, k, s, raw)
			}
		}
	}
	for _, name := range []string{"waitRes", "isForce"} {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		if v, e := flag(name, raw, true); e == nil {
			if s := string(bytes.TrimSpace(raw)); s != "null" && s != `"`+boolWord(v)+`"` && s != boolWord(v) {
				t.Fatalf("%s %s read as %v", name, raw, v)
			}
		}
	}
}

func boolWord(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

// topLevelKeys lists the keys of the JSON object in body in order, repeats included.
func topLevelKeys(t *testing.T, body string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q", body)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("read key of %q: %v", body, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("read value of %q: %v", body, err)
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		t.Fatalf("end of %q: %v", body, err)
	}
	return keys
}
