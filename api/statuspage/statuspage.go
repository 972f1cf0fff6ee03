// Package statuspage is the status page at GET / (SPEC §12): one server-rendered HTML page
// (html/template, embedded; a few lines of plain JS) that tells an operator, also on a phone,
// per service and per node the last run of each job, the next cron time and the newest
// backups, failing targets first.
//
// It is behind the API's tokens (package authz): a login form keeps the token in an HttpOnly,
// SameSite=Strict cookie, and scripts may send "Authorization: Bearer" instead. A token that is
// neither an admin token nor a cached label token gets the form again (401) before anything is
// read. An admin token sees every target, a label token the services and nodes one of whose
// token labels it is. The page never shows a secret: it shows no labels, and every free text
// (an error) passes through a masker of the configured secrets and the target's secret labels.
//
// The page reads its data through three small interfaces defined here (Runs, Backups,
// Schedules), so that the run history, the backup catalogue and the cron plug in as they are.
package statuspage

import (
	"context"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Target is a service or a node the page shows: what Runs and Schedules are asked about.
type Target struct {
	Kind   string            // KindService or KindNode
	Name   string            // the service's name; the node's hostname
	ID     string            // the service's or node's ID
	Labels map[string]string // its labels (per-target schedules are read from them)
}

// Target kinds.
const (
	KindService = "service"
	KindNode    = "node"
)

// Operation names, as operation.Result spells them.
const (
	OpCleanNode      = "clean-node"
	OpCleanService   = "clean-service"
	OpBackupService  = "backup-service"
	OpUpdateService  = "update-service"
	OpRestoreService = "restore-service"
)

// Run is one run of an operation on a target.
type Run struct {
	Operation string
	Target    string // the service's name; the node's hostname (or ID)
	StartedAt time.Time
	Duration  time.Duration // 0 while running
	Running   bool          // queued or running: no outcome yet
	OK        bool
	Skipped   string // why it had nothing to do (OK is true)
	Error     string // why it failed; masked again before it is shown
	ErrorKind string
}

// Runs is the run history. In production: the run history store; until it is plugged in, the
// API's job store (runs started through the API since the process started).
type Runs interface {
	// LastRuns returns, for each of the targets (out[i] is targets[i]'s), the newest run of
	// each operation on it, at most one per operation, in any order; none when it never ran.
	// The page asks once per load, for every target it shows.
	LastRuns(ctx context.Context, targets []Target) ([][]Run, error)
}

// Backups is the backup catalogue (*jobs.Deps, restore.Catalogue).
type Backups interface {
	// BackupsOf lists the service's archives in its S3 location, newest first (the page
	// shows the newest few, so a cut listing does not matter here).
	BackupsOf(ctx context.Context, svc parse.Service) (restore.Listing, error)
}

// Schedules tells when the cron runs a job (Cron for the one global cron).
type Schedules interface {
	// Next returns the first time after `after` at which the cron runs op on t; ok is false
	// when no schedule runs it; err when t's schedule is invalid (the page shows it).
	Next(op string, t Target, after time.Time) (next time.Time, ok bool, err error)
}

// Auth decides who may see the page (*authz.Authorizer).
type Auth interface {
	Admin(tok authz.Token) bool
	// Known tells whether tok is an admin token or any target's label token, without a docker
	// call for a token it does not know (the label-token cache).
	Known(ctx context.Context, tok authz.Token) bool
}

// Targets lists the cluster's services and nodes (*jobs.Deps).
type Targets interface {
	Services(ctx context.Context) ([]parse.Service, error)
	Nodes(ctx context.Context) ([]parse.Node, error)
}

// Options configure a Page.
type Options struct {
	Auth      Auth
	Targets   Targets
	Runs      Runs      // nil: no runs are shown
	Backups   Backups   // nil: no backups are shown
	Schedules Schedules // nil: no cron
	Config    config.Config
	Log       *slog.Logger
	Now       func() time.Time // nil: time.Now
	// StaleAfter is how many scheduled backup runs may pass after the newest archive before
	// the page warns that the backup is stale (0: DefaultStaleAfter).
	StaleAfter int
	// BackupsFor is how long a service's listing of Backups is reused by later loads (0:
	// DefaultBackupsFor; negative: every load lists again).
	BackupsFor time.Duration
}

// DefaultStaleAfter: a backup is stale once two scheduled runs have passed since the newest
// archive — one late or failed run is tolerated, the second is not.
const DefaultStaleAfter = 2

// CookieName holds the token of a browser that logged in (base64url, HttpOnly, SameSite=Strict).
const CookieName = "swarm-utils-token"

// CookieMaxAge is how long a login lasts.
const CookieMaxAge = 12 * time.Hour

// maxFormBytes bounds the login form's body.
const maxFormBytes = 16 << 10

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets/status.css assets/status.js
var assetFiles embed.FS

var templates = template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))

// Page serves the status page.
type Page struct {
	o    Options
	csrf *http.CrossOriginProtection
}

// New builds a Page.
func New(o Options) *Page {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.BackupsFor == 0 {
		o.BackupsFor = DefaultBackupsFor
	}
	if o.Backups != nil && o.BackupsFor > 0 {
		o.Backups = newBackupCache(o.Backups, o.BackupsFor, pageBudget, o.Now)
	}
	return &Page{o: o, csrf: http.NewCrossOriginProtection()}
}

// Register adds the page's routes: GET / (the page or the login form), POST /login,
// POST /logout and the page's stylesheet and script.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.handlePage)
	mux.HandleFunc("POST /login", p.handleLogin)
	mux.HandleFunc("POST /logout", p.handleLogout)
	mux.HandleFunc("GET /assets/status.css", asset("assets/status.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /assets/status.js", asset("assets/status.js", "text/javascript; charset=utf-8"))
}

func asset(name, contentType string) http.HandlerFunc {
	body, err := assetFiles.ReadFile(name)
	if err != nil {
		panic("statuspage: embedded " + name + " missing: " + err.Error())
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	}
}

// handlePage: the page for a known token (Bearer header first, else the cookie), else the
// login form with 401. Nothing is read for an unknown token.
func (p *Page) handlePage(w http.ResponseWriter, r *http.Request) {
	raw, fromCookie := p.presented(r)
	if raw == "" {
		p.renderLogin(w, r, http.StatusUnauthorized, "")
		return
	}
	tok := authz.NewToken(raw)
	if !p.o.Auth.Known(r.Context(), tok) {
		if fromCookie {
			clearCookie(w, r) // a revoked or rotated token: log in again
		}
		p.renderLogin(w, r, http.StatusUnauthorized, "Unknown token: it is neither an admin token nor any service's or node's swarm-utils token.")
		return
	}
	v := p.build(r.Context(), tok, p.o.Auth.Admin(tok))
	p.render(w, http.StatusOK, "page.html", v)
}

// presented is the request's token: an "Authorization: Bearer" header, else the login cookie.
func (p *Page) presented(r *http.Request) (raw string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if raw, err := authz.FromRequest(r, ""); err == nil {
			return raw, false
		}
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > authz.MaxTokenBytes {
		return "", true
	}
	return string(b), true
}

// handleLogin checks the form's token and keeps it in the cookie. The form is a state change
// a foreign site must not make (login CSRF would show the victim another token's view): it is
// refused unless the browser says it came from this origin (http.CrossOriginProtection:
// Sec-Fetch-Site, else Origin against Host); the cookie is SameSite=Strict besides.
func (p *Page) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := p.csrf.Check(r); err != nil {
		p.renderLogin(w, r, http.StatusForbidden, "Refused: the login form was sent from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.renderLogin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	raw := strings.TrimSpace(r.PostForm.Get("token"))
	switch {
	case raw == "":
		p.renderLogin(w, r, http.StatusUnauthorized, "Enter a token.")
		return
	case len(raw) > authz.MaxTokenBytes:
		p.renderLogin(w, r, http.StatusUnauthorized, "Unknown token: it is longer than any swarm-utils token.")
		return
	case !p.o.Auth.Known(r.Context(), authz.NewToken(raw)):
		p.renderLogin(w, r, http.StatusUnauthorized, "Unknown token: it is neither an admin token nor any service's or node's swarm-utils token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: base64.RawURLEncoding.EncodeToString([]byte(raw)), Path: "/",
		MaxAge: int(CookieMaxAge.Seconds()), HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleLogout forgets the cookie; cross-site requests are refused like the login's.
func (p *Page) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := p.csrf.Check(r); err != nil {
		p.renderLogin(w, r, http.StatusForbidden, "Refused: the logout form was sent from another site.")
		return
	}
	clearCookie(w, r)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// secure tells whether the browser reached us over TLS: directly, or through a proxy that says
// so in X-Forwarded-Proto (swarm-utils itself serves plain HTTP; a TLS proxy in front is the
// deployment the README recommends). Only then is the cookie Secure: a Secure cookie over
// plain HTTP would never be sent back, and the login would not work at all.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

type loginView struct {
	Message string
}

func (p *Page) renderLogin(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="swarm-utils"`)
	}
	p.render(w, status, "login.html", loginView{Message: msg})
}

// contentPolicy allows only the page's own stylesheet and script and forms to itself.
const contentPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (p *Page) render(w http.ResponseWriter, status int, name string, data any) {
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		p.o.Log.Error("render the status page", "template", name, "err", err)
		http.Error(w, "the status page could not be rendered; see the swarm-utils log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}
