package api

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/operation"
)

// RunHistory is the store of ended runs; *history.Store in production. The status page reads
// the same store: Last, the last run per operation and target, once per page.
type RunHistory interface {
	List(f history.Filter) ([]history.Record, error)
	Get(id string) (history.Record, bool, error)
	Last() ([]history.Record, error)
}

// maxRunQuery bounds the target and id a caller may ask for.
const maxRunQuery = 256

// runsBody is GET /api/runs's answer.
type runsBody struct {
	Runs  []history.Record `json:"runs"`
	Limit int              `json:"limit"`
}

// historyUnavailable is why the run history cannot answer: off, or its store not opened.
func (s *Server) historyUnavailable() *apiError {
	if s.historyDown != "" {
		return errorf(http.StatusServiceUnavailable, kindUnavailable, "the run history is unavailable: %s", s.historyDown)
	}
	return errorf(http.StatusNotFound, string(operation.KindNotFound), "the run history is off (SWARM_UTILS_HISTORY_DAYS=0)")
}

// handleRuns: GET /api/runs?target=&operation=&limit=, newest first. Admin tokens see every
// run; another token the runs on the targets it is a token of.
func (s *Server) handleRuns(w http.ResponseWriter, r *http.Request) {
	token, e := s.token(r, "")
	if e != nil {
		writeError(w, e)
		return
	}
	scope, ae := s.auth.Scope(r.Context(), token)
	if ae != nil {
		writeError(w, fromAuth(ae))
		return
	}
	q := r.URL.Query()
	f := history.Filter{Operation: q.Get("operation"), Target: q.Get("target"), Limit: history.DefaultLimit}
	switch {
	case f.Operation != "" && !slices.Contains(allOperations, f.Operation):
		writeError(w, errorf(http.StatusBadRequest, string(operation.KindInvalid), "operation %.40q is not one of %v", f.Operation, allOperations))
		return
	case len(f.Target) > maxRunQuery:
		writeError(w, errorf(http.StatusBadRequest, string(operation.KindInvalid), "target is longer than %d bytes", maxRunQuery))
		return
	}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			writeError(w, errorf(http.StatusBadRequest, string(operation.KindInvalid), "limit %.20q is not a positive number (at most %d)", raw, history.MaxLimit))
			return
		}
		f.Limit = min(n, history.MaxLimit)
	}
	if s.history == nil {
		writeError(w, s.historyUnavailable())
		return
	}
	f.Visible = func(rec history.Record) bool { return scope.Sees(rec.Operation == OpCleanNode, rec.Target) }
	runs, err := s.history.List(f)
	if err != nil {
		s.log.Error("read the run history failed", "err", err)
		writeError(w, errorf(http.StatusInternalServerError, kindInternal, "the run history could not be read (see the swarm-utils log)"))
		return
	}
	writeJSON(w, http.StatusOK, runsBody{Runs: runs, Limit: f.Limit})
}

// storedJob is a job that ended before a restart, from the run history, when the token may
// see its target's runs; nil otherwise.
func (s *Server) storedJob(r *http.Request, token authz.Token, id string) *JobView {
	if s.history == nil || len(id) > maxRunQuery {
		return nil
	}
	rec, ok, err := s.history.Get(id)
	if err != nil {
		s.log.Error("read the run history failed", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	scope, ae := s.auth.Scope(r.Context(), token)
	if ae != nil || !scope.Sees(rec.Operation == OpCleanNode, rec.Target) {
		return nil
	}
	res := rec.Result()
	started, ended := rec.StartedAt, rec.EndedAt()
	return &JobView{ID: rec.ID, Operation: rec.Operation, Target: rec.Target, State: JobDone, CreatedAt: started, StartedAt: &started,
		EndedAt: &ended, Status: resultStatus(res), Result: &res, Links: map[string]string{"self": "/api/jobs/" + rec.ID}}
}
