package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// requestInfo is what handlers tell the access log about a request. The token is kept only
// to keep it out of the log (a CI script that swaps fields must not leak it as the target).
type requestInfo struct {
	route, target, job, token string
	release                   func() // gives the request's in-flight slot back; nil when it holds none
}

// releaseSlot gives the request's in-flight slot back early: a waitRes=true request holds it
// while its body is read and it is authorised, not while it waits for its operation.
func releaseSlot(r *http.Request) {
	if i := info(r); i.release != nil {
		i.release()
		i.release = nil
	}
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

// minMaskedToken is the shortest presented token the access log masks by itself.
const minMaskedToken = 6

// probePaths are polled by orchestrators and scrapers: their access lines are debug only.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLog writes one line per request: method, route pattern (never the raw path), status,
// duration, the target once authorised, and job. Never the body, the query string or any
// header.
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
		if !s.log.Enabled(r.Context(), level) { // a probe's line at the default level: nothing to mask
			return
		}
		// Every field passes through the masker: the configured secrets, every plain label token
		// read so far, and the request's own token, known or not.
		mask := func(v string) string {
			v = s.secrets.Mask(v)
			// A known token is a registered secret whatever its length; an unknown one is masked
			// too (a typo of a real one), unless it is so short that masking would garble the line.
			if len(ri.token) >= minMaskedToken {
				v = strings.ReplaceAll(v, ri.token, "***")
			}
			return v
		}
		target := ri.target
		if len(target) > 128 {
			target = target[:128] + "..."
		}
		route := ri.route
		if route == "" {
			route = "none" // the raw path is never logged: it may hold anything, a token too
		}
		attrs := []slog.Attr{
			slog.String("method", mask(r.Method)),
			slog.String("route", mask(route)),
			slog.Int("status", sw.status),
			slog.Int64("durationMs", time.Since(started).Milliseconds()),
			slog.String("remote", mask(r.RemoteAddr)),
		}
		if target != "" {
			attrs = append(attrs, slog.String("target", mask(target)))
		}
		if ri.job != "" {
			attrs = append(attrs, slog.String("job", mask(ri.job)))
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
func (s *Server) jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		info(r).route = pattern
		if pattern != "" {
			if !probePaths[r.URL.Path] { // probes cost nothing and must answer under load
				if !s.admit(w, r) {
					return
				}
				defer releaseSlot(r)
			}
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

// DefaultMaxInFlight bounds the API requests being read and authorised at once; with bodies of
// at most MaxBodyBytes it bounds their memory. A request past it waits up to DefaultAdmitWait
// for a slot (its body unread, so it costs a connection, not memory), then is 503 with
// Retry-After: a burst of CI calls is served, a flood is refused.
const (
	DefaultMaxInFlight = 64
	DefaultAdmitWait   = 10 * time.Second
)

// admit takes an in-flight slot for the request, or answers 503.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	select {
	case s.inFlight <- struct{}{}:
	default:
		t := time.NewTimer(s.admitWait)
		defer t.Stop()
		select {
		case s.inFlight <- struct{}{}:
		case <-t.C:
			w.Header().Set("Retry-After", "1")
			writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "too many requests in flight (%d): try again in a second", cap(s.inFlight)))
			return false
		case <-r.Context().Done():
			writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "the request ended while it waited for a slot"))
			return false
		}
	}
	info(r).release = func() { <-s.inFlight }
	return true
}

// headerOnly records what ServeMux's fallback handlers would answer, without answering.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header         { return h.header }
func (h *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerOnly) WriteHeader(code int)        { h.status = code }
