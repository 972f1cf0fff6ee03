package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Handler is the whole API with its access log.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/update/service", s.handleUpdateService)
	mux.HandleFunc("POST /api/update/check", s.handleServiceAction(updateCheckAction))
	mux.HandleFunc("POST /api/backup/service", s.handleServiceAction(backupAction))
	mux.HandleFunc("POST /api/clean/service", s.handleServiceAction(cleanAction))
	mux.HandleFunc("POST /api/clean/node", s.handleCleanNode)
	mux.HandleFunc("POST /api/restore/service", s.handleRestoreService)
	mux.HandleFunc("POST /api/move/service", s.handleMoveService)
	mux.HandleFunc("GET /api/jobs/{id}", s.handleJob)
	mux.HandleFunc("GET /api/services", s.handleServices)
	mux.HandleFunc("GET /api/nodes", s.handleNodes)
	mux.HandleFunc("GET /api/backups", s.handleBackups)
	mux.HandleFunc("GET /api/runs", s.handleRuns)
	mux.HandleFunc("GET /api/volumes", s.handleVolumes)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	s.statusPage().Register(mux) // GET /, POST /login, POST /logout
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	return s.accessLog(s.jsonFallback(mux))
}

// The token-guarded actions: the operation and the label holding its token.
var (
	cleanAction     = authz.Action{Op: OpCleanService, TokenLabel: authz.LabelCleanToken}
	backupAction    = authz.Action{Op: OpBackupService, TokenLabel: authz.LabelBackupToken}
	updateAction    = authz.Action{Op: OpUpdateService, TokenLabel: authz.LabelUpdateToken}
	cleanNodeAction = authz.Action{Op: OpCleanNode, TokenLabel: authz.LabelNodeCleanToken}
	restoreAction   = authz.Action{Op: OpRestoreService, TokenLabel: authz.LabelRestoreToken}
	// An update check (updates by digest) is an update: the same token and OIDC rules.
	updateCheckAction = authz.Action{Op: OpUpdateCheck, TokenLabel: authz.LabelUpdateToken}
)

// runService runs clean-service, backup-service or an update check.
func (s *Server) runService(a authz.Action, ctx context.Context, name string) operation.Result {
	switch a.Op {
	case OpBackupService:
		return s.ops.BackupService(ctx, name)
	case OpUpdateCheck:
		return s.ops.CheckUpdate(ctx, name)
	}
	return s.ops.CleanService(ctx, name)
}

// readRequest reads a POST request as far as authorisation needs: the body into req, then each
// check in order (flags, required fields, the image's syntax), then the token — the one in
// the body (*bodyToken, read after decoding) or the Authorization header. The first failure
// is answered and ok is false. No docker call happens here.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request, req any, bodyToken *string, checks ...func() *apiError) (token authz.Token, ok bool) {
	e := decodeBody(w, r, req)
	for _, check := range checks {
		if e != nil {
			break
		}
		e = check()
	}
	if e == nil {
		token, e = s.token(r, *bodyToken)
	}
	if e != nil {
		writeError(w, e)
		return authz.Token{}, false
	}
	return token, true
}

// authorizeService decides whether token may do a on the named service (read fresh); on a
// refusal it answers and ok is false. Only after it may the access log name the target: an
// unauthorised request's "name" may be anything, a token too.
func (s *Server) authorizeService(w http.ResponseWriter, r *http.Request, token authz.Token, a authz.Action, name string) (svc parse.Service, admin, ok bool) {
	svc, admin, ae := s.auth.Service(r.Context(), token, a, name)
	if e := fromAuth(ae); e != nil {
		writeError(w, e)
		return parse.Service{}, false, false
	}
	setTarget(r, name)
	return svc, admin, true
}

// waitFlag is the check that reads waitRes (default true) into wait.
func waitFlag(wait *bool, raw *json.RawMessage) func() *apiError {
	return func() (e *apiError) {
		*wait, e = flag("waitRes", *raw, true)
		return e
	}
}

func (s *Server) handleServiceAction(a authz.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var (
			req  serviceRequest
			wait bool
		)
		token, ok := s.readRequest(w, r, &req, &req.Token, waitFlag(&wait, &req.WaitRes),
			func() *apiError { return required([2]string{"serviceName", req.ServiceName}) })
		if !ok {
			return
		}
		name := req.ServiceName
		_, admin, ok := s.authorizeService(w, r, token, a, name)
		if !ok {
			return
		}
		s.launch(w, r, a.Op, name, token, admin, wait, func(ctx context.Context) operation.Result { return s.runService(a, ctx, name) })
	}
}

func (s *Server) handleUpdateService(w http.ResponseWriter, r *http.Request) {
	var (
		req         updateRequest
		wait, force bool
	)
	token, ok := s.readRequest(w, r, &req, &req.Token, waitFlag(&wait, &req.WaitRes),
		func() (e *apiError) { force, e = flag("isForce", req.IsForce, false); return e },
		func() *apiError {
			return required([2]string{"serviceName", req.ServiceName}, [2]string{"image", req.Image})
		},
		func() *apiError { return validImage(req.Image) })
	if !ok {
		return
	}
	svc, admin, ok := s.authorizeService(w, r, token, updateAction, req.ServiceName)
	if !ok {
		return
	}
	if !admin {
		if e := fromAuth(s.auth.Image(svc, req.Image)); e != nil {
			writeError(w, e)
			return
		}
	}
	opts := update.Options{Service: req.ServiceName, Image: req.Image, Force: force}
	s.launch(w, r, OpUpdateService, req.ServiceName, token, admin, wait, func(ctx context.Context) operation.Result {
		return s.ops.UpdateService(ctx, opts)
	})
}

// handleRestoreService: POST /api/restore/service {token, serviceName, backup?, safetyBackup?,
// waitRes?}, for admin tokens and the service's swarm-utils.restore.token.
func (s *Server) handleRestoreService(w http.ResponseWriter, r *http.Request) {
	var (
		req          restoreRequest
		wait, safety bool
	)
	token, ok := s.readRequest(w, r, &req, &req.Token, waitFlag(&wait, &req.WaitRes),
		func() (e *apiError) { safety, e = flag("safetyBackup", req.SafetyBackup, true); return e },
		func() *apiError { return required([2]string{"serviceName", req.ServiceName}) })
	if !ok {
		return
	}
	_, admin, ok := s.authorizeService(w, r, token, restoreAction, req.ServiceName)
	if !ok {
		return
	}
	opts := restore.Options{Service: req.ServiceName, Backup: req.Backup, NoSafetyBackup: !safety}
	s.launch(w, r, OpRestoreService, req.ServiceName, token, admin, wait, func(ctx context.Context) operation.Result {
		return s.ops.RestoreService(ctx, opts)
	})
}

func (s *Server) handleCleanNode(w http.ResponseWriter, r *http.Request) {
	var (
		req  nodeRequest
		wait bool
	)
	token, ok := s.readRequest(w, r, &req, &req.Token, waitFlag(&wait, &req.WaitRes),
		func() *apiError { return required([2]string{"nodeName", req.NodeName}) })
	if !ok {
		return
	}
	if e := fromAuth(s.auth.Node(r.Context(), token, cleanNodeAction, req.NodeName)); e != nil {
		writeError(w, e)
		return
	}
	name := req.NodeName
	setTarget(r, name)
	s.launch(w, r, OpCleanNode, name, token, s.auth.Admin(token), wait, func(ctx context.Context) operation.Result { return s.ops.CleanNode(ctx, name) })
}

// token reads the request's token (authz.FromRequest, at most authz.MaxTokenBytes), hashes it
// once and tells the access log to mask it.
func (s *Server) token(r *http.Request, bodyToken string) (authz.Token, *apiError) {
	raw, e := authz.FromRequest(r, bodyToken)
	if e != nil {
		return authz.Token{}, fromAuth(e)
	}
	setToken(r, raw)
	return authz.NewToken(raw), nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "status": "up"})
}
