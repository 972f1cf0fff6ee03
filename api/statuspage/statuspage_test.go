package statuspage

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/schedule"
)

const adminToken = "page-admin-token-0001"

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// fakeTargets is the cluster, counting the page's reads.
type fakeTargets struct {
	services []parse.Service
	nodes    []parse.Node
	reads    atomic.Int32
}

func (f *fakeTargets) Service(_ context.Context, name string) (parse.Service, error) {
	for _, s := range f.services {
		if s.Name == name {
			return s, nil
		}
	}
	return parse.Service{}, errors.New("not found")
}
func (f *fakeTargets) Services(context.Context) ([]parse.Service, error) {
	f.reads.Add(1)
	return f.services, nil
}
func (f *fakeTargets) Nodes(context.Context) ([]parse.Node, error) {
	f.reads.Add(1)
	return f.nodes, nil
}

// fakeRuns answers LastRuns from a list, counting the calls and the targets asked about.
type fakeRuns struct {
	runs    []Run
	reads   atomic.Int32
	targets atomic.Int32
}

func (f *fakeRuns) LastRuns(_ context.Context, targets []Target) ([][]Run, error) {
	f.reads.Add(1)
	f.targets.Add(int32(len(targets)))
	out := make([][]Run, len(targets))
	for i, t := range targets {
		for _, r := range f.runs {
			if r.Target == t.Name {
				out[i] = append(out[i], r)
			}
		}
	}
	return out, nil
}

// fakeBackups answers BackupsOf from a map by service.
type fakeBackups struct {
	mu       sync.Mutex
	archives map[string][]restore.Archive
	errs     map[string]error
	reads    int
}

func (f *fakeBackups) BackupsOf(_ context.Context, svc parse.Service) (restore.Listing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return restore.Listing{Archives: f.archives[svc.Name]}, f.errs[svc.Name]
}

// hourly runs at every full hour.
type hourly struct{}

func (hourly) Next(op string, _ Target, after time.Time) (time.Time, bool, error) {
	if op == OpUpdateService {
		return time.Time{}, false, nil
	}
	return after.Truncate(time.Hour).Add(time.Hour), true, nil
}

type fixture struct {
	cluster *fakeTargets
	runs    *fakeRuns
	backups *fakeBackups
	page    *Page
	mux     *http.ServeMux
}

func newFixture(t *testing.T, cfg config.Config, cluster *fakeTargets, runs []Run, archives map[string][]restore.Archive) *fixture {
	t.Helper()
	if cfg.AdminTokens == nil {
		cfg.AdminTokens = []string{adminToken}
	}
	cfg.CleanExecShell, cfg.BackupExecShell = "/bin/sh", "/bin/sh"
	if cfg.S3.URL == "" {
		cfg.S3 = config.S3{URL: "s3.local:9000", Bucket: "backups", AccessKey: "fixture-access-key", SecretKey: "fixture-secret-key"}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The authoriser reads labels through its own view, so that the page's reads are counted alone.
	authTargets := &fakeTargets{services: cluster.services, nodes: cluster.nodes}
	f := &fixture{cluster: cluster, runs: &fakeRuns{runs: runs}, backups: &fakeBackups{archives: archives, errs: map[string]error{}}}
	auth := authz.New(authz.Options{Config: cfg, Targets: authTargets, Log: log, Now: func() time.Time { return now }})
	f.page = New(Options{Auth: auth, Targets: cluster, Runs: f.runs, Backups: f.backups, Schedules: hourly{}, Config: cfg, Log: log,
		Now: func() time.Time { return now }})
	f.mux = http.NewServeMux()
	f.page.Register(f.mux)
	return f
}

type page struct {
	status int
	body   string
	header http.Header
}

func (f *fixture) do(t *testing.T, r *http.Request) page {
	t.Helper()
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, r)
	return page{rec.Code, rec.Body.String(), rec.Header()}
}

func (f *fixture) get(t *testing.T, bearer string) page {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://status.example/", nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	return f.do(t, r)
}

var cardRE = regexp.MustCompile(`data-kind="(\w+)" data-target="([^"]+)" data-state="(\w+)"`)

// cards lists "kind/name:state" of the page's cards, in order.
func cards(body string) []string {
	var out []string
	for _, m := range cardRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+"/"+m[2]+":"+m[3])
	}
	return out
}

func svc(name string, labels ...string) parse.Service {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	if _, ok := l[parse.LabelBackupVolumes]; !ok && l[parse.LabelBackupEnable] == "true" {
		l[parse.LabelBackupVolumes] = "data"
	}
	return parse.Service{ID: "id-" + name, Name: name, Image: "registry:5000/app:1", Mode: parse.ModeReplicated, Replicas: 1, Labels: l}
}

func node(host string, labels ...string) parse.Node {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return parse.Node{ID: "nid-" + host, Hostname: host, Role: "worker", State: "ready", Availability: "active", Labels: l}
}

func TestUnauthorisedGetsTheFormAndNothingIsRead(t *testing.T) {
	cluster := &fakeTargets{services: []parse.Service{svc("shop_db", parse.LabelBackupEnable, "true", authz.LabelBackupToken, "shop-backup-token-1")},
		nodes: []parse.Node{node("worker-1")}}
	cookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: CookieName, Value: v}) }
	}
	for _, tc := range []struct {
		name        string
		prepare     func(*http.Request)
		clearCookie bool
		says        string
	}{
		{"no token", func(*http.Request) {}, false, ""},
		{"unknown bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer not-a-token-at-all") }, false, "Unknown token"},
		{"unknown cookie", cookie(base64.RawURLEncoding.EncodeToString([]byte("not-a-token-at-all"))), true, "Unknown token"},
		{"cookie not base64", cookie("%%%"), false, ""},
		{"basic auth only", func(r *http.Request) { r.SetBasicAuth("u", "p") }, false, ""},
		{"oversized bearer", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", authz.MaxTokenBytes+1))
		}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Config{}, cluster, []Run{{Operation: OpBackupService, Target: "shop_db", OK: true}}, nil)
			r := httptest.NewRequest(http.MethodGet, "http://status.example/", nil)
			tc.prepare(r)
			p := f.do(t, r)
			if p.status != http.StatusUnauthorized || !strings.Contains(p.body, `<form method="post" action="/login"`) || !strings.Contains(p.body, tc.says) {
				t.Fatalf("%d, want 401 with the login form saying %q:\n%s", p.status, tc.says, p.body)
			}
			if strings.Contains(p.body, "shop_db") || strings.Contains(p.body, "worker-1") {
				t.Errorf("the form shows a target:\n%s", p.body)
			}
			if n := f.cluster.reads.Load() + f.runs.reads.Load() + int32(f.backups.reads); n != 0 {
				t.Errorf("%d reads of targets, runs or backups for an unauthorised request", n)
			}
			cleared := strings.Contains(p.header.Get("Set-Cookie"), CookieName+"=;")
			if cleared != tc.clearCookie {
				t.Errorf("cookie cleared %v, want %v (Set-Cookie %q)", cleared, tc.clearCookie, p.header.Get("Set-Cookie"))
			}
			if p.header.Get("Content-Security-Policy") == "" || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("headers %v", p.header)
			}
		})
	}
}

func TestLoginAndLogout(t *testing.T) {
	cluster := &fakeTargets{services: []parse.Service{svc("shop_db", parse.LabelCleanEnable, "true", parse.LabelCleanExec, "true",
		authz.LabelCleanToken, "shop-clean-token-1")}}
	form := func(token string, headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://status.example/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		cookie bool
		secure bool
	}{
		{"admin, same origin", form(adminToken, "Sec-Fetch-Site", "same-origin", "Origin", "http://status.example"), http.StatusSeeOther, true, false},
		{"label token", form("shop-clean-token-1", "Origin", "http://status.example"), http.StatusSeeOther, true, false},
		{"behind a TLS proxy", form(adminToken, "Sec-Fetch-Site", "same-origin", "X-Forwarded-Proto", "https"), http.StatusSeeOther, true, true},
		{"no browser headers (a script)", form(adminToken), http.StatusSeeOther, true, false},
		{"cross-site", form(adminToken, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"), http.StatusForbidden, false, false},
		{"foreign origin", form(adminToken, "Origin", "https://evil.example"), http.StatusForbidden, false, false},
		{"unknown token", form("not-a-token-at-all", "Sec-Fetch-Site", "same-origin"), http.StatusUnauthorized, false, false},
		{"empty token", form("", "Sec-Fetch-Site", "same-origin"), http.StatusUnauthorized, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Config{}, cluster, nil, nil)
			p := f.do(t, tc.req)
			if p.status != tc.status {
				t.Fatalf("%d, want %d:\n%s", p.status, tc.status, p.body)
			}
			res := http.Response{Header: p.header}
			var got *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == CookieName {
					got = c
				}
			}
			if (got != nil) != tc.cookie {
				t.Fatalf("cookie set %v, want %v", got != nil, tc.cookie)
			}
			if strings.Contains(p.body, tc.req.PostForm.Get("token")) && tc.req.PostForm.Get("token") != "" {
				t.Errorf("the answer echoes the token:\n%s", p.body)
			}
			if got == nil {
				return
			}
			if !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Secure != tc.secure || got.Path != "/" || got.MaxAge <= 0 {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Secure=%v, Path=/", got, tc.secure)
			}
			// The cookie is what GET / accepts next.
			r := httptest.NewRequest(http.MethodGet, "http://status.example/", nil)
			r.AddCookie(&http.Cookie{Name: CookieName, Value: got.Value})
			if p := f.do(t, r); p.status != http.StatusOK || !strings.Contains(p.body, `data-target="shop_db"`) {
				t.Errorf("GET / with the cookie: %d\n%s", p.status, p.body)
			}
		})
	}

	t.Run("logout", func(t *testing.T) {
		f := newFixture(t, config.Config{}, cluster, nil, nil)
		r := httptest.NewRequest(http.MethodPost, "http://status.example/logout", nil)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		if p := f.do(t, r); p.status != http.StatusForbidden || p.header.Get("Set-Cookie") != "" {
			t.Errorf("cross-site logout: %d, Set-Cookie %q", p.status, p.header.Get("Set-Cookie"))
		}
		r = httptest.NewRequest(http.MethodPost, "http://status.example/logout", nil)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		p := f.do(t, r)
		if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("logout: %d, Set-Cookie %q", p.status, p.header.Get("Set-Cookie"))
		}
	})
}

// TestPageNeverShowsASecret renders an admin's page over configured secrets, secret labels and
// errors that carry them, and looks for each one.
func TestPageNeverShowsASecret(t *testing.T) {
	cfg := config.Config{
		AdminTokens: []string{adminToken, "second-admin-token-2"},
		S3:          config.S3{URL: "s3.local:9000", Bucket: "b", AccessKey: "CONFIG-ACCESS-KEY-1", SecretKey: "config-s3-secret-key-1"},
		Registry:    config.Registry{User: "ci", Password: "registry-password-1", URL: "registry:5000"},
		Cron:        config.Cron{Expr: "0 0 * * * *", BackupService: true, CleanService: true, CleanNode: true},
	}
	secrets := []string{adminToken, "second-admin-token-2", "CONFIG-ACCESS-KEY-1", "config-s3-secret-key-1", "registry-password-1",
		"label-backup-token-1", "label-clean-token-1", "label-update-token-1", "label-restore-token-1", "LABEL-ACCESS-KEY-1",
		"label-s3-secret-key-1", "label-registry-password-1", "node-clean-token-1"}
	cluster := &fakeTargets{
		services: []parse.Service{svc("shop_db",
			parse.LabelBackupEnable, "true", parse.LabelBackupVolumes, "data", authz.LabelBackupToken, "label-backup-token-1",
			parse.LabelBackupS3AccessKey, "LABEL-ACCESS-KEY-1", parse.LabelBackupS3SecretKey, "label-s3-secret-key-1",
			parse.LabelCleanEnable, "true", parse.LabelCleanExec, "echo label-clean-token-1", authz.LabelCleanToken, "label-clean-token-1",
			parse.LabelUpdateEnable, "true", parse.LabelUpdateRegistryAuth, "true", parse.LabelUpdateRegistryPassword, "label-registry-password-1",
			authz.LabelUpdateToken, "label-update-token-1", authz.LabelRestoreToken, "label-restore-token-1")},
		nodes: []parse.Node{node("worker-1", authz.LabelNodeCleanToken, "node-clean-token-1")},
	}
	runs := []Run{
		{Operation: OpBackupService, Target: "shop_db", StartedAt: now.Add(-time.Hour), Error: "upload with key LABEL-ACCESS-KEY-1 / label-s3-secret-key-1 failed", ErrorKind: "docker"},
		{Operation: OpCleanService, Target: "shop_db", StartedAt: now.Add(-time.Hour), Error: "exec label-clean-token-1 config-s3-secret-key-1: exit 1"},
		{Operation: OpUpdateService, Target: "shop_db", StartedAt: now.Add(-time.Hour), Error: "login registry-password-1 label-registry-password-1 refused"},
		{Operation: OpCleanNode, Target: "worker-1", StartedAt: now.Add(-time.Hour), Error: "node-clean-token-1 second-admin-token-2"},
	}
	f := newFixture(t, cfg, cluster, runs, nil)
	f.backups.errs["shop_db"] = errors.New("list s3 with CONFIG-ACCESS-KEY-1:label-s3-secret-key-1: denied")
	for _, bearer := range []string{adminToken, "label-backup-token-1", "node-clean-token-1"} {
		p := f.get(t, bearer)
		if p.status != http.StatusOK {
			t.Fatalf("%d:\n%s", p.status, p.body)
		}
		if !strings.Contains(p.body, "***") || !strings.Contains(p.body, "failed") {
			t.Errorf("the errors are not on the page (nothing was tested):\n%s", p.body)
		}
		for _, s := range secrets {
			if strings.Contains(p.body, s) {
				t.Errorf("secret %q is on the page of token %.6s…", s, bearer)
			}
		}
	}
}

func TestFailingTargetsFirst(t *testing.T) {
	enabled := []string{parse.LabelCleanEnable, "true", parse.LabelCleanExec, "true"}
	cluster := &fakeTargets{
		services: []parse.Service{svc("a_ok", enabled...), svc("b_failed", enabled...), svc("c_stale", parse.LabelBackupEnable, "true"),
			svc("d_never", enabled...), svc("e_failed", enabled...), svc("f_unlabelled")},
		nodes: []parse.Node{node("manager"), node("worker-1"), node("worker-2")},
	}
	runs := []Run{
		{Operation: OpCleanService, Target: "a_ok", StartedAt: now.Add(-time.Minute), OK: true, Duration: time.Second},
		// The newest run counts: an old success does not hide a new failure, and the other way round.
		{Operation: OpCleanService, Target: "b_failed", StartedAt: now.Add(-2 * time.Minute), OK: true},
		{Operation: OpCleanService, Target: "b_failed", StartedAt: now.Add(-time.Minute), Error: "exit 3", ErrorKind: "docker"},
		{Operation: OpCleanService, Target: "e_failed", StartedAt: now.Add(-time.Minute), Error: "exit 1"},
		{Operation: OpCleanService, Target: "a_ok", StartedAt: now.Add(-time.Hour), Error: "old failure"},
		{Operation: OpCleanNode, Target: "worker-2", StartedAt: now.Add(-time.Minute), Error: "prune failed"},
		{Operation: OpCleanNode, Target: "manager", StartedAt: now.Add(-time.Minute), OK: true},
	}
	archives := map[string][]restore.Archive{"c_stale": {{Node: "worker-1", Time: now.Add(-5 * time.Hour), Size: 2048}}}
	f := newFixture(t, config.Config{}, cluster, runs, archives)
	p := f.get(t, adminToken)
	want := []string{"service/b_failed:failed", "service/e_failed:failed", "service/c_stale:warning", "service/a_ok:ok", "service/d_never:idle",
		"node/worker-2:failed", "node/manager:ok", "node/worker-1:idle"}
	if got := cards(p.body); !slices.Equal(got, want) {
		t.Errorf("cards\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(p.body, `data-failing="3" data-warning="1" data-ok="4"`) {
		t.Errorf("summary wrong:\n%s", p.body)
	}
	if !strings.Contains(p.body, "1 more service(s) have no swarm-utils job") {
		t.Errorf("the unlabelled service is not counted:\n%s", p.body)
	}
}

func TestStaleBackupWarning(t *testing.T) {
	// The cron backs up every full hour; now is 12:00.
	for _, tc := range []struct {
		name     string
		archives []restore.Archive
		noCron   bool
		want     string // "" = no warning
	}{
		{"fresh", []restore.Archive{{Node: "w1", Time: now.Add(-30 * time.Minute)}}, false, ""},
		{"one run missed", []restore.Archive{{Node: "w1", Time: now.Add(-90 * time.Minute)}}, false, ""},
		{"two runs missed", []restore.Archive{{Node: "w1", Time: now.Add(-150 * time.Minute)}, {Node: "w2", Time: now.Add(-10 * time.Hour)}}, false,
			"stale: the newest backup is from 2026-12-01 09:30 UTC, and 2 scheduled backups have been due since (the last at 2026-12-01 11:00 UTC)"},
		{"the second due just now", []restore.Archive{{Node: "w1", Time: now.Add(-2 * time.Hour)}}, false, ""},
		{"the second due a minute ago", []restore.Archive{{Node: "w1", Time: now.Add(-2*time.Hour - time.Minute)}}, false, "stale:"},
		{"none", nil, false, "no backup yet"},
		{"old but no cron", []restore.Archive{{Node: "w1", Time: now.Add(-100 * time.Hour)}}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := &fakeTargets{services: []parse.Service{svc("shop_db", parse.LabelBackupEnable, "true")}}
			f := newFixture(t, config.Config{}, cluster, nil, map[string][]restore.Archive{"shop_db": tc.archives})
			if tc.noCron {
				f.page.o.Schedules = nil
			}
			p := f.get(t, adminToken)
			stale := strings.Contains(p.body, `data-stale="true"`)
			if stale != (tc.want != "") || !strings.Contains(p.body, tc.want) {
				t.Errorf("stale %v, want %q:\n%s", stale, tc.want, p.body)
			}
			wantState := "ok"
			if tc.want != "" {
				wantState = "warning"
			}
			if got := cards(p.body); len(got) != 1 || !strings.HasSuffix(got[0], ":"+wantState) && !(wantState == "ok" && strings.HasSuffix(got[0], ":idle")) {
				t.Errorf("cards %v, want the service %s", got, wantState)
			}
			if n := len(tc.archives); n > 0 && strings.Count(p.body, `class="archive"`) != n {
				t.Errorf("%d archives shown, want %d", strings.Count(p.body, `class="archive"`), n)
			}
		})
	}
}

func TestLabelTokenSeesOnlyItsTargets(t *testing.T) {
	cluster := &fakeTargets{
		services: []parse.Service{
			svc("shop_db", parse.LabelBackupEnable, "true", authz.LabelBackupToken, "shop-backup-token-1"),
			svc("shop_web", parse.LabelUpdateEnable, "true", authz.LabelUpdateToken, "web-update-token-1"),
			// A hashed label token is the same token.
			svc("blog", parse.LabelCleanEnable, "true", parse.LabelCleanExec, "true",
				authz.LabelRestoreToken, "sha256:bf49c3e3b6f5b1b3e0d8aec3ae5f2e1e0bd45e26d0e5b1bda1ca0e55b6d1e6d4", authz.LabelCleanToken, "blog-clean-token-1"),
		},
		nodes: []parse.Node{node("worker-1", authz.LabelNodeCleanToken, "w1-clean-token-1"), node("worker-2")},
	}
	for _, tc := range []struct {
		token string
		want  []string
	}{
		{adminToken, []string{"service/blog", "service/shop_db", "service/shop_web", "node/worker-1", "node/worker-2"}},
		{"shop-backup-token-1", []string{"service/shop_db"}},
		{"web-update-token-1", []string{"service/shop_web"}},
		{"blog-clean-token-1", []string{"service/blog"}},
		{"w1-clean-token-1", []string{"node/worker-1"}},
	} {
		t.Run(tc.token, func(t *testing.T) {
			f := newFixture(t, config.Config{}, cluster, nil, map[string][]restore.Archive{"shop_db": {{Node: "w1", Time: now.Add(-time.Minute)}}})
			p := f.get(t, tc.token)
			if p.status != http.StatusOK {
				t.Fatalf("%d:\n%s", p.status, p.body)
			}
			var got []string
			for _, c := range cards(p.body) {
				got = append(got, c[:strings.LastIndex(c, ":")])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("cards %v, want %v", got, tc.want)
			}
			for _, other := range []string{"shop_db", "shop_web", "blog", "worker-1", "worker-2"} {
				visible := slices.ContainsFunc(tc.want, func(w string) bool { return strings.HasSuffix(w, "/"+other) })
				if !visible && strings.Contains(p.body, other) {
					t.Errorf("%s is on the page of a token that is not its", other)
				}
			}
		})
	}
}

func TestPageShowsRunsNextCronAndBackups(t *testing.T) {
	cluster := &fakeTargets{services: []parse.Service{svc("shop_db", parse.LabelBackupEnable, "true", parse.LabelCleanEnable, "true", parse.LabelCleanExec, "true")},
		nodes: []parse.Node{node("worker-1", parse.LabelNodeCleanEnable, "false")}}
	runs := []Run{
		{Operation: OpBackupService, Target: "shop_db", StartedAt: now.Add(-10 * time.Minute), OK: true, Duration: 4200 * time.Millisecond},
		{Operation: OpCleanService, Target: "shop_db", StartedAt: now.Add(-time.Minute), Running: true},
		{Operation: OpRestoreService, Target: "shop_db", StartedAt: now.Add(-time.Hour), OK: true, Skipped: "nothing to restore"},
	}
	archives := map[string][]restore.Archive{"shop_db": {
		{Node: "worker-1", Time: now.Add(-10 * time.Minute), Size: 3 << 20}, {Node: "worker-2", Time: now.Add(-10 * time.Minute), Size: 512},
		{Node: "worker-1", Time: now.Add(-70 * time.Minute), Size: 1}, {Node: "worker-1", Time: now.Add(-130 * time.Minute), Size: 1},
		{Node: "worker-1", Time: now.Add(-190 * time.Minute), Size: 1, Safety: true}}}
	f := newFixture(t, config.Config{}, cluster, runs, archives)
	p := f.get(t, adminToken)
	for _, want := range []string{
		`data-op="backup-service" data-state="ok"`, "4.2 s", `<time datetime="2026-12-01T11:50:00Z">2026-12-01 11:50 UTC</time>`,
		`data-op="clean-service" data-state="running"`,
		`data-op="restore-service" data-state="ok"`, "skipped: nothing to restore",
		`<time datetime="2026-12-01T13:00:00Z">`, // the next cron time
		"3.0 MiB", "512 B", "and 1 older", `data-node="worker-2"`,
		`data-target="worker-1" data-state="idle"`, "disabled by the node&#39;s labels",
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", p.body)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{duration(0), "–"}, {duration(850 * time.Millisecond), "850 ms"}, {duration(4200 * time.Millisecond), "4.2 s"},
		{duration(185 * time.Second), "3 min 5 s"}, {duration(130 * time.Minute), "2 h 10 min"},
		{size(512), "512 B"}, {size(3482), "3.4 KiB"}, {size(12 << 20), "12.0 MiB"}, {size(5 << 30), "5.0 GiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestCronSchedules(t *testing.T) {
	times := func(from time.Time, n int) []time.Time { return []time.Time{from.Add(time.Hour)} }
	c := Cron{Switches: config.Cron{BackupService: true, CleanNode: true}, Times: times}
	for _, tc := range []struct {
		op string
		ok bool
	}{{OpBackupService, true}, {OpCleanNode, true}, {OpCleanService, false}, {OpUpdateService, false}} {
		next, ok, err := c.Next(tc.op, Target{}, now)
		if err != nil || ok != tc.ok || ok && !next.Equal(now.Add(time.Hour)) {
			t.Errorf("%s: %v %v %v, want ok %v", tc.op, next, ok, err, tc.ok)
		}
	}
}

// TestStaleWithTheRealCron: the global cron's parser behind Cron; a daily 03:00 backup is
// stale once two 03:00s have passed since the newest archive.
func TestStaleWithTheRealCron(t *testing.T) {
	cron := config.Cron{Expr: "0 0 3 * * *", BackupService: true}
	sched, err := schedule.New(cron, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		age   time.Duration // before 12:00
		stale bool
	}{{9*time.Hour - time.Minute, false}, {33*time.Hour - time.Minute, false}, {33*time.Hour + time.Minute, true}} {
		cluster := &fakeTargets{services: []parse.Service{svc("shop_db", parse.LabelBackupEnable, "true")}}
		f := newFixture(t, config.Config{}, cluster, nil, map[string][]restore.Archive{"shop_db": {{Node: "w1", Time: now.Add(-tc.age)}}})
		f.page.o.Schedules = Cron{Switches: cron, Times: sched.Next}
		p := f.get(t, adminToken)
		if got := strings.Contains(p.body, `data-stale="true"`); got != tc.stale {
			t.Errorf("archive %v old: stale %v, want %v", tc.age, got, tc.stale)
		}
		if !strings.Contains(p.body, `<time datetime="2026-12-02T03:00:00Z">`) {
			t.Errorf("the next cron time (03:00 tomorrow) is not on the page")
		}
	}
}
