package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
)

// requestInfo is what handlers tell the access log about a request. The token is kept only
// to keep it out of the log (a CI script that swaps fields must not leak it as the target).
type requestInfo struct {
	target, job, token string
}

type infoKey struct{}

func info(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func setTarget(r *http.Request, target string) { info(r).target = target }
func setJob(r *http.Request, id string)        { info(r).job = id }
func setToken(r *http.Request, token string)   { info(r).token = token }

// probePaths are polled by orchestrators and scrapers: their access lines are debug only.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLog writes one line per request: method, path, status, duration, target and job. Never
// the body, the query string or any header.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		ri := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
		if sw.status == 0 {
			sw.status = http.StatusOK
			if r.Context().Err() != nil {
				sw.status = 499 // the caller hung up before the answer (nginx's "client closed request")
			}
		}
		level := slog.LevelInfo
		switch {
		case probePaths[r.URL.Path] && sw.status < 400:
			level = slog.LevelDebug
		case sw.status >= 500:
			level = slog.LevelWarn
		}
		target := ri.target
		if ri.token != "" && authz.Equal(target, ri.token) {
			target = "***"
		}
		if len(target) > 128 {
			target = target[:128] + "..."
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int64("durationMs", time.Since(started).Milliseconds()),
			slog.String("remote", r.RemoteAddr),
		}
		if target != "" {
			attrs = append(attrs, slog.String("target", target))
		}
		if ri.job != "" {
			attrs = append(attrs, slog.String("job", ri.job))
		}
		s.log.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// jsonFallback answers unknown paths (404) and wrong methods (405, with Allow) in JSON like
// every other error, instead of ServeMux's plain text.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerOnly{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeError(w, errorf(http.StatusMethodNotAllowed, "invalid", "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow")))
		case http.StatusNotFound:
			writeError(w, errorf(http.StatusNotFound, "not_found", "no such API path: %s %s", r.Method, r.URL.Path))
		default: // redirects of unclean paths
			mux.ServeHTTP(w, r)
		}
	})
}

// headerOnly records what ServeMux's fallback handlers would answer, without answering.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header         { return h.header }
func (h *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerOnly) WriteHeader(code int)        { h.status = code }
