package testbed

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// NewTestLogger logs at debug level into t.Log.
func NewTestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(&tWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// NewRecordingLogger is NewTestLogger that also keeps every line, for assertions on what was
// logged (and so on which docker commands ran: bashexec logs each one).
func NewRecordingLogger(t testing.TB) (*slog.Logger, *Recorder) {
	rec := &Recorder{}
	w := io.MultiWriter(&tWriter{t: t}, rec)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), rec
}

type tWriter struct {
	t  testing.TB
	mu sync.Mutex
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Recorder is a slog writer that keeps everything written, for "never logged" assertions.
type Recorder struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}
