//go:build integration

package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/swarm-utils/swarm-utils/api/statuspage"
	"github.com/swarm-utils/swarm-utils/internal/s3client"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/schedule"
)

// TestStatusPageInChromium: real jobs on the cluster (a clean-node of worker-2, a backup of a
// service on worker-1 through the stand-in uploader, a clean-service whose command fails), the
// API on 127.0.0.1, and Debian's chromium (headless, a phone's viewport) logging in through the
// form. The rendered DOM — after the page's script ran — shows the failing service first, the
// backup's archive (node, size), the clean-node run, relative times, no horizontal scrolling
// and no secret; JavaScript cannot read the HttpOnly cookie; a label token sent as Bearer sees
// its service alone; logging out brings the form back. Screenshots go to the artifacts folder.
func TestStatusPageInChromium(t *testing.T) {
	tb := testbed.Get(t)
	browser := chromium(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, "127.0.0.1:0", func(o *Options) {
		sched, err := schedule.New(cfg.Cron, o.Ops.(Instrumented), o.Targets.(schedule.Targets), o.Log)
		if err != nil {
			t.Fatal(err)
		}
		o.Schedules = statuspage.Cron{Switches: cfg.Cron, Times: sched.Next, Own: sched.NextOwn}
	})
	bk, cl := "it-api-"+id+"-page-bk", "it-api-"+id+"-page-cl"
	vol := bk + "-data"
	backupTok := "it-api-page-backup-" + id
	a.secrets = append(a.secrets, backupTok, tb.S3SecretKey)
	s3 := tb.S3(t)
	t.Cleanup(func() {
		objs, _ := s3client.List(context.Background(), s3, tb.S3Bucket, bk+"/")
		_ = s3client.Remove(context.Background(), s3, tb.S3Bucket, objs)
		_, _ = tb.TryDockerOn("worker-1", "volume", "rm", "-f", vol)
	})
	tb.Service(t, bk, "--replicas", "1", "--constraint", "node.hostname==worker-1",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.volume-list-upload="+vol,
		"--label", "swarm-utils.backup.token="+backupTok, "--mount", "type=volume,src="+vol+",dst=/data", tb.WorkloadImage)
	tb.Service(t, cl, "--replicas", "1", "--constraint", "node.hostname==worker-1",
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo page-test; exit 3", tb.WorkloadImage)

	expect(t, "backup", a.call(t, "POST", "/api/backup/service", backupTok, jsonBody(map[string]any{"serviceName": bk})), 200, `"ok": true`)
	if r := a.call(t, "POST", "/api/clean/service", itAdmin, jsonBody(map[string]any{"serviceName": cl})); r.status == 200 {
		t.Fatalf("clean-service of %s with exit 3 succeeded: %s", cl, r.body)
	}
	expect(t, "clean-node", a.call(t, "POST", "/api/clean/node", itAdmin, jsonBody(map[string]any{"nodeName": "worker-2"})), 200, `"ok": true`)

	// A login form sent from another site is refused, and sets no cookie.
	req, _ := http.NewRequest("POST", a.base+"/login", strings.NewReader(url.Values{"token": {itAdmin}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 {
		t.Errorf("cross-origin login: %d, cookies %v", res.StatusCode, res.Cookies())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(390, 844), chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-dev-shm-usage", true))...)
	defer cancelAlloc()
	phone, cancelPhone := chromedp.NewContext(alloc)
	defer cancelPhone()

	// The form, then a login as a person would: type the token, submit.
	do(t, phone, "log in",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(a.base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")))
	formDOM := value(t, phone, "the form", chromedp.OuterHTML(chromedp.CSS("html")))
	if !strings.Contains(formDOM, `data-js="on"`) || !strings.Contains(formDOM, `action="/login"`) {
		t.Errorf("the login page: no form, or its script did not run: %s", formDOM)
	}
	dir := artifactsDir(t)
	save(t, filepath.Join(dir, "status-page-login.png"), value(t, phone, "login screenshot", chromedp.FullScreenshot(100)))
	do(t, phone, "submit the form",
		chromedp.SendKeys(chromedp.ID("token"), itAdmin),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("summary")),
		chromedp.WaitReady(chromedp.CSS(`html[data-js="on"]`)))

	dom := value(t, phone, "read the DOM", chromedp.Evaluate[pageDOM](fmt.Sprintf(domScript, bk, cl)))
	t.Logf("rendered cards %v, archives %q, times %q, width %d/%d", dom.Cards, dom.Archives, dom.Times, dom.ScrollWidth, dom.InnerWidth)
	var ours []string
	for _, c := range dom.Cards {
		if strings.Contains(c, id) {
			ours = append(ours, c)
		}
	}
	if want := []string{"service/" + cl + ":failed", "service/" + bk + ":ok"}; !slices.Equal(ours, want) {
		t.Errorf("our service cards %v, want %v (failing first)", ours, want)
	}
	if !slices.Contains(dom.Cards, "node/worker-2:ok") {
		t.Errorf("no ok card of worker-2 (its clean-node ran): %v", dom.Cards)
	}
	if len(dom.Archives) != 1 || !strings.Contains(dom.Archives[0], "worker-1") || !strings.Contains(dom.Archives[0], "B") || !strings.Contains(dom.Archives[0], "ago") {
		t.Errorf("archives of %s: %q, want one of worker-1 with its size and age", bk, dom.Archives)
	}
	if !strings.Contains(dom.FailNote, "command failed") {
		t.Errorf("the failed clean-service says %q, want its error", dom.FailNote)
	}
	if !slices.ContainsFunc(dom.Times, func(s string) bool { return strings.HasSuffix(s, " ago") }) ||
		!slices.ContainsFunc(dom.Times, func(s string) bool { return strings.HasPrefix(s, "in ") }) {
		t.Errorf("times %q: the script did not write relative times (past runs, next cron)", dom.Times)
	}
	if dom.Cookie != "" {
		t.Errorf("JavaScript reads cookies %q: the token cookie must be HttpOnly", dom.Cookie)
	}
	if dom.ScrollWidth > dom.InnerWidth || dom.InnerWidth > 400 {
		t.Errorf("on a %d px wide phone the page is %d px wide: it scrolls sideways", dom.InnerWidth, dom.ScrollWidth)
	}
	if dom.TheadDisplay != "none" {
		t.Errorf("on a phone the job tables' header is %q, want none (rows stack)", dom.TheadDisplay)
	}
	for _, s := range append(slices.Clone(a.secrets), cfg.S3.AccessKey, cfg.Registry.Password) {
		if s != "" && strings.Contains(dom.HTML, s) {
			t.Errorf("secret %q is in the rendered page", s)
		}
	}

	save(t, filepath.Join(dir, "status-page-phone.png"), value(t, phone, "phone screenshot", chromedp.FullScreenshot(100)))
	do(t, phone, "desktop viewport", chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(`html[data-js="on"]`)))
	save(t, filepath.Join(dir, "status-page-desktop.png"), value(t, phone, "desktop screenshot", chromedp.FullScreenshot(100)))

	// Logging out forgets the cookie: the form again, also on the next visit.
	do(t, phone, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	if after := value(t, phone, "after logout", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(after, bk) {
		t.Errorf("after logout the page still shows a service")
	}

	// A script's Bearer label token: its service alone, no cookie needed.
	script, cancelScript := chromedp.NewContext(alloc)
	defer cancelScript()
	do(t, script, "bearer", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + backupTok}})
		return err
	}), chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(chromedp.ID("summary")), chromedp.WaitReady(chromedp.CSS(`html[data-js="on"]`)))
	bearer := value(t, script, "bearer DOM", chromedp.Evaluate[pageDOM](fmt.Sprintf(domScript, bk, cl)))
	if want := []string{"service/" + bk + ":ok"}; !slices.Equal(bearer.Cards, want) {
		t.Errorf("the backup token's page shows %v, want %v", bearer.Cards, want)
	}
	if strings.Contains(bearer.HTML, cl) || strings.Contains(bearer.HTML, backupTok) {
		t.Errorf("the backup token's page shows another service or the token")
	}
	assertNoHelpersFor(t, tb, id)
}

// pageDOM is what domScript reads from the rendered page.
type pageDOM struct {
	JS           string   `json:"js"`
	Cards        []string `json:"cards"`
	Archives     []string `json:"archives"`
	FailNote     string   `json:"failNote"`
	Times        []string `json:"times"`
	Cookie       string   `json:"cookie"`
	ScrollWidth  int      `json:"scrollWidth"`
	InnerWidth   int      `json:"innerWidth"`
	TheadDisplay string   `json:"theadDisplay"`
	HTML         string   `json:"html"`
}

// domScript reads the DOM as the browser laid it out (%[1]s: the backed-up service, %[2]s: the
// failing one).
const domScript = `(() => {
  const q = (s) => [...document.querySelectorAll(s)];
  const note = document.querySelector('[data-target="%[2]s"] .note');
  const thead = document.querySelector('table.jobs thead');
  return {
    js: document.documentElement.dataset.js,
    cards: q('section.card').map(c => c.dataset.kind + '/' + c.dataset.target + ':' + c.dataset.state),
    archives: q('[data-target="%[1]s"] li.archive').map(li => li.textContent),
    failNote: note ? note.textContent : '',
    times: q('time').map(t => t.textContent),
    cookie: document.cookie,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    theadDisplay: thead ? getComputedStyle(thead).display : '',
    html: document.documentElement.outerHTML,
  };
})()`

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("chromium, %s: %v", what, err)
	}
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("chromium, %s: %v", what, err)
	}
	return v
}

// chromium is Debian's browser (scripts/install-deps installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium: scripts/install-deps installs Debian's chromium")
	return ""
}

// artifactsDir is $SU_ARTIFACTS (scripts/test sets it and prints it), else artifacts/ at the
// repository's root.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SU_ARTIFACTS")
	if dir == "" {
		root, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				t.Fatal("no go.mod above the test's folder")
			}
			root = parent
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts folder: %v", err)
	}
	return dir
}

func save(t *testing.T, path string, png []byte) {
	t.Helper()
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot %s is not a PNG (%d bytes)", path, len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
