// Package api is swarm-utils' HTTP door: the four operations for CI pipelines (token-guarded,
// SPEC §4), background jobs (waitRes=false), read-only listings, probes and metrics.
package api

import (
	"context"
	"fmt"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Operations are the pipelines the API starts; *jobs.Deps (or Instrumented) in production.
type Operations interface {
	CleanNode(ctx context.Context, name string) operation.Result
	CleanService(ctx context.Context, name string) operation.Result
	BackupService(ctx context.Context, name string) operation.Result
	UpdateService(ctx context.Context, o update.Options) operation.Result
}

// Targets reads what authorisation and the listings need; *jobs.Deps in production.
type Targets interface {
	// Service returns the service named exactly name; an error of operation.KindNotFound when
	// there is none.
	Service(ctx context.Context, name string) (parse.Service, error)
	Services(ctx context.Context) ([]parse.Service, error)
	Nodes(ctx context.Context) ([]parse.Node, error)
	Ping(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	Ops     Operations
	Targets Targets
	Config  config.Config // admin tokens, and the defaults behind the labels shown by the listings
	Log     *slog.Logger
	Metrics *Metrics // nil: /metrics answers 404
	MaxJobs int      // 0: DefaultMaxJobs
}

// Server holds the handlers' state: the job store and the lifetime of the operations it
// started, which is the server's, not any request's.
type Server struct {
	ops     Operations
	targets Targets
	cfg     config.Config
	log     *slog.Logger
	metrics *Metrics
	jobs    *jobStore

	ctx    context.Context // operations run under it; Abort cancels it
	cancel context.CancelFunc

	mu      sync.Mutex
	closing bool
	running sync.WaitGroup

	known knownCache
	oidc  *oidcVerifier // nil: OIDC off
}

// knownCache keeps the service list that tells an unknown token (401) from another service's
// token (403) for a few seconds, so that a stream of bad tokens does not become a stream of
// `docker service inspect` of every service. The target itself is always read fresh.
type knownCache struct {
	mu   sync.Mutex
	at   time.Time
	svcs []parse.Service
}

const knownCacheTTL = 3 * time.Second

func (s *Server) servicesForAuth(ctx context.Context) ([]parse.Service, error) {
	s.known.mu.Lock()
	defer s.known.mu.Unlock()
	if s.known.svcs != nil && time.Since(s.known.at) < knownCacheTTL {
		return s.known.svcs, nil
	}
	svcs, err := s.targets.Services(ctx)
	if err != nil {
		return nil, err
	}
	s.known.svcs, s.known.at = svcs, time.Now()
	return svcs, nil
}

// New builds a Server; its operations run until Abort.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{ops: o.Ops, targets: o.Targets, cfg: o.Config, log: o.Log, metrics: o.Metrics,
		jobs: newJobStore(o.MaxJobs), ctx: ctx, cancel: cancel, oidc: newOIDCVerifier(o.Config.OIDC)}
}

// Context is the operations' lifetime; the cron runs under it too, so one Abort stops both.
func (s *Server) Context() context.Context { return s.ctx }

// Abort cancels every running operation; each one ends safely (helpers removed, services
// scaled back) and reports KindCanceled.
func (s *Server) Abort() { s.cancel() }

// Drain refuses new operations (503) and waits until the running ones ended or ctx is done.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handler is the whole API with its access log.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/update/service", s.handleUpdateService)
	mux.HandleFunc("POST /api/backup/service", s.handleServiceAction(backupAction))
	mux.HandleFunc("POST /api/clean/service", s.handleServiceAction(cleanAction))
	mux.HandleFunc("POST /api/clean/node", s.handleCleanNode)
	mux.HandleFunc("GET /api/jobs/{id}", s.handleJob)
	mux.HandleFunc("GET /api/services", s.handleServices)
	mux.HandleFunc("GET /api/nodes", s.handleNodes)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	return s.accessLog(jsonFallback(mux))
}

// serviceAction is one token-guarded action on a service.
type serviceAction struct {
	op          string
	enableLabel string
	tokenLabel  string
}

var (
	cleanAction  = serviceAction{OpCleanService, parse.LabelCleanEnable, parse.LabelCleanToken}
	backupAction = serviceAction{OpBackupService, parse.LabelBackupEnable, parse.LabelBackupToken}
	updateAction = serviceAction{OpUpdateService, parse.LabelUpdateEnable, parse.LabelUpdateToken}
)

func (a serviceAction) run(ops Operations, ctx context.Context, name string) operation.Result {
	if a.op == OpBackupService {
		return ops.BackupService(ctx, name)
	}
	return ops.CleanService(ctx, name)
}

func (s *Server) handleServiceAction(a serviceAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req serviceRequest
		if e := decodeBody(w, r, &req); e != nil {
			writeError(w, e)
			return
		}
		setTarget(r, req.ServiceName)
		wait, e := flag("waitRes", req.WaitRes, true)
		if e == nil {
			e = required([2]string{"serviceName", req.ServiceName})
		}
		var token string
		if e == nil {
			token, e = tokenFrom(r, req.Token)
		}
		if e == nil {
			setToken(r, token)
			_, _, e = s.authorizeService(r.Context(), token, a, req.ServiceName)
		}
		if e != nil {
			writeError(w, e)
			return
		}
		name := req.ServiceName
		s.launch(w, r, a.op, name, token, wait, func(ctx context.Context) operation.Result { return a.run(s.ops, ctx, name) })
	}
}

func (s *Server) handleUpdateService(w http.ResponseWriter, r *http.Request) {
	var req updateRequest
	if e := decodeBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	setTarget(r, req.ServiceName)
	wait, e := flag("waitRes", req.WaitRes, true)
	var force bool
	if e == nil {
		force, e = flag("isForce", req.IsForce, false)
	}
	if e == nil {
		e = required([2]string{"serviceName", req.ServiceName}, [2]string{"image", req.Image})
	}
	if e == nil {
		e = validImage(req.Image)
	}
	var token string
	if e == nil {
		token, e = tokenFrom(r, req.Token)
	}
	var (
		svc   parse.Service
		admin bool
	)
	if e == nil {
		setToken(r, token)
		svc, admin, e = s.authorizeService(r.Context(), token, updateAction, req.ServiceName)
	}
	if e == nil && !admin {
		e = s.checkImage(svc, req.Image)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	opts := update.Options{Service: req.ServiceName, Image: req.Image, Force: force}
	s.launch(w, r, OpUpdateService, req.ServiceName, token, wait, func(ctx context.Context) operation.Result {
		return s.ops.UpdateService(ctx, opts)
	})
}

// authorizeService applies SPEC §4 to a service action: admin tokens may act on any service;
// another token only on the service whose label for this action equals it. An unknown token
// is 401, a known token of another service 403, an unknown service 404 (told only to callers
// with a known token). Whether the action is enabled is the operation's own check (404).
func (s *Server) authorizeService(ctx context.Context, token string, a serviceAction, name string) (parse.Service, bool, *apiError) {
	admin := anyToken(token, s.cfg.AdminTokens)
	if !admin && looksLikeJWT(token) {
		return s.authorizeServiceOIDC(ctx, token, a, name)
	}
	svc, err := s.targets.Service(ctx, name)
	found := err == nil
	if err != nil && operation.KindOf(err) != operation.KindNotFound {
		return parse.Service{}, false, fromErr("inspect service "+name, err)
	}
	if admin {
		if !found {
			return parse.Service{}, true, errorf(http.StatusNotFound, string(operation.KindNotFound), "service %q not found (names are exact: stack_service)", name)
		}
		return svc, true, nil
	}
	if found && equalToken(token, labelValue(svc.Labels, a.tokenLabel)) {
		return svc, false, nil
	}
	known, err := s.serviceTokenKnown(ctx, a.tokenLabel, token)
	if err != nil {
		return parse.Service{}, false, fromErr("check the token against the services' labels", err)
	}
	switch {
	case !known:
		return parse.Service{}, false, errorf(http.StatusUnauthorized, kindUnauthorized,
			"unknown token for %s: it is neither an admin token nor any service's %s", a.op, a.tokenLabel)
	case !found:
		return parse.Service{}, false, errorf(http.StatusNotFound, string(operation.KindNotFound), "service %q not found (names are exact: stack_service)", name)
	}
	return parse.Service{}, false, errorf(http.StatusForbidden, string(operation.KindForbidden),
		"this token may not run %s on service %q: it is not that service's %s label (one token per service and action)", a.op, name, a.tokenLabel)
}

// serviceTokenKnown tells whether token is some service's token for the action.
func (s *Server) serviceTokenKnown(ctx context.Context, tokenLabel, token string) (bool, error) {
	svcs, err := s.servicesForAuth(ctx)
	if err != nil {
		return false, err
	}
	tokens := make([]string, 0, len(svcs))
	for _, svc := range svcs {
		tokens = append(tokens, labelValue(svc.Labels, tokenLabel))
	}
	return anyToken(token, tokens), nil
}

// checkImage closes SPEC §4 weakness (1) for service tokens: the image must match the
// service's swarm-utils.update.image-allow globs, or, without that label, be the service's
// current image repository with another tag or digest. Admin tokens may deploy any image.
func (s *Server) checkImage(svc parse.Service, image string) *apiError {
	settings, err := update.SettingsFromLabels(svc.Labels, s.cfg)
	if err != nil || !settings.Enabled {
		return nil // the operation reports the bad labels or the disabled action
	}
	if len(settings.ImageAllow) > 0 {
		if settings.ImageAllowed(image) {
			return nil
		}
		return errorf(http.StatusForbidden, string(operation.KindForbidden),
			"image %q is not allowed for service %q by its %s label (%s)", image, svc.Name, parse.LabelUpdateImageAllow, strings.Join(settings.ImageAllow, ","))
	}
	current := imageRepository(svc.Image)
	if current != "" && imageRepository(image) == current {
		return nil
	}
	return errorf(http.StatusForbidden, string(operation.KindForbidden),
		"a service token may only deploy new tags of the service's image %q (set the %s label on %q to allow other images, or use an admin token)",
		current, parse.LabelUpdateImageAllow, svc.Name)
}

// imageRepository is an image reference's repository, normalised as docker does ("nginx" is
// "docker.io/library/nginx"). A reference docker would refuse keeps its text without tag and
// digest; the operation rejects it later anyway.
func imageRepository(ref string) string {
	if r, err := parse.ParseImageRef(ref); err == nil {
		return r.Repository()
	}
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

func (s *Server) handleCleanNode(w http.ResponseWriter, r *http.Request) {
	var req nodeRequest
	if e := decodeBody(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	setTarget(r, req.NodeName)
	wait, e := flag("waitRes", req.WaitRes, true)
	if e == nil {
		e = required([2]string{"nodeName", req.NodeName})
	}
	var token string
	if e == nil {
		token, e = tokenFrom(r, req.Token)
	}
	if e == nil {
		setToken(r, token)
		e = s.authorizeNode(r.Context(), token, req.NodeName)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	name := req.NodeName
	s.launch(w, r, OpCleanNode, name, token, wait, func(ctx context.Context) operation.Result { return s.ops.CleanNode(ctx, name) })
}

// authorizeNode is authorizeService for clean-node, with the node label swarm-utils.clean.token.
func (s *Server) authorizeNode(ctx context.Context, token, name string) *apiError {
	admin := anyToken(token, s.cfg.AdminTokens)
	if !admin && looksLikeJWT(token) {
		return s.authorizeNodeOIDC(ctx, token, name)
	}
	nodes, err := s.targets.Nodes(ctx)
	if err != nil {
		return fromErr("list nodes", err)
	}
	var node *parse.Node
	tokens := make([]string, 0, len(nodes))
	for i, n := range nodes {
		if n.Hostname == name || n.ID == name {
			node = &nodes[i]
		}
		tokens = append(tokens, labelValue(n.Labels, parse.LabelNodeCleanToken))
	}
	switch {
	case admin && node != nil:
		return nil
	case !admin && node != nil && equalToken(token, labelValue(node.Labels, parse.LabelNodeCleanToken)):
		return nil
	case !admin && !anyToken(token, tokens):
		return errorf(http.StatusUnauthorized, kindUnauthorized,
			"unknown token for %s: it is neither an admin token nor any node's %s label", OpCleanNode, parse.LabelNodeCleanToken)
	case node == nil:
		return errorf(http.StatusNotFound, string(operation.KindNotFound), "node %q not found (use its exact hostname or ID)", name)
	}
	return errorf(http.StatusForbidden, string(operation.KindForbidden),
		"this token may not run %s on node %q: it is not that node's %s label", OpCleanNode, name, parse.LabelNodeCleanToken)
}

func labelValue(labels map[string]string, key string) string { return strings.TrimSpace(labels[key]) }

// launch runs the operation as a job under the server's lifetime (a caller that hangs up does
// not abort it) and answers with its Result, or at once with 202 when waitRes is false.
func (s *Server) launch(w http.ResponseWriter, r *http.Request, op, target, token string, wait bool, run func(context.Context) operation.Result) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "swarm-utils is shutting down: try again when it is back"))
		return
	}
	j := s.jobs.add(op, target, token)
	if j == nil {
		s.mu.Unlock()
		writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "too many operations are running (%d): try again later", s.jobs.len()))
		return
	}
	s.running.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.running.Done()
		var res operation.Result
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("operation panicked", "operation", op, "target", target, "panic", fmt.Sprint(p))
				res = operation.Result{Operation: op, Target: target, Error: "internal error: the operation panicked; see the swarm-utils log", Steps: []operation.Step{}}
			}
			j.finish(res)
		}()
		j.setRunning()
		res = run(s.ctx)
	}()

	setJob(r, j.id)
	w.Header().Set("X-Job-Id", j.id)
	if !wait {
		w.Header().Set("Location", "/api/jobs/"+j.id)
		writeJSON(w, http.StatusAccepted, j.view())
		return
	}
	select {
	case <-j.done:
		res := *j.view().Result
		writeJSON(w, resultStatus(res), res)
	case <-r.Context().Done():
		// The caller hung up; the operation goes on and its result stays at /api/jobs/{id}.
	}
}

// handleJob answers GET /api/jobs/{id} to an admin token or the token that started the job;
// to anyone else the job does not exist.
func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	setTarget(r, id)
	token, e := tokenFrom(r, "")
	if e != nil {
		writeError(w, e)
		return
	}
	setToken(r, token)
	j := s.jobs.get(id)
	admin := anyToken(token, s.cfg.AdminTokens)
	if j == nil || !(admin || j.ownedBy(token)) {
		writeError(w, errorf(http.StatusNotFound, string(operation.KindNotFound),
			"job %q not found (jobs are kept in memory, the last %d, until swarm-utils restarts; only the token that started one, or an admin token, may read it)", id, s.jobs.max))
		return
	}
	writeJSON(w, http.StatusOK, j.view())
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "status": "up"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.targets.Ping(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "status": "not ready", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "status": "ready"})
}
