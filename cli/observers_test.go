package cli

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/jobs"
)

// Where a run history is opened: serve creates its directory; a one-shot command records only
// into an existing one that no serve holds.
func TestOpenHistory(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := t.TempDir()
	notADir := filepath.Join(base, "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(base, "held")
	if err := os.Mkdir(held, 0o700); err != nil {
		t.Fatal(err)
	}
	holder, err := history.Open(held, 30, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tests := []struct {
		name    string
		dir     string
		serve   bool
		opened  bool
		errText string
	}{
		{"one-shot, no directory: unrecorded, no error", filepath.Join(base, "missing"), false, false, ""},
		{"one-shot, directory exists", t.TempDir(), false, true, ""},
		{"serve creates the directory", filepath.Join(base, "new", "data"), true, true, ""},
		{"serve, not a directory", notADir, true, false, "create the data directory"},
		{"one-shot next to a serve holding it", held, false, false, "another swarm-utils holds it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := openHistory(tt.dir, 30, tt.serve, log)
			if s != nil {
				defer s.Close()
			}
			if (s != nil) != tt.opened {
				t.Errorf("opened %v, want %v (err %v)", s != nil, tt.opened, err)
			}
			if tt.errText == "" && err != nil || tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)) {
				t.Errorf("err %v, want %q", err, tt.errText)
			}
		})
	}
}

// serve without a usable data directory still starts: no recorder, the reason kept for
// /readyz and GET /api/runs; a notification URL shoutrrr refuses is an error.
func TestAttachObservers(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       config.Config
		serve     bool
		observers int
		down      string
		errText   string
	}{
		{"serve with a data dir", config.Config{DataDir: t.TempDir(), HistoryDays: 30}, true, 1, "", ""},
		{"serve, data dir unusable", config.Config{DataDir: notADir, HistoryDays: 30}, true, 0, "create the data directory", ""},
		{"history off", config.Config{DataDir: notADir, HistoryDays: 0}, true, 0, "", ""},
		{"notifications", config.Config{HistoryDays: 0, Notify: config.Notify{URLs: []string{"generic://127.0.0.1:1/h"}, On: "failure"}}, false, 1, "", ""},
		{"a URL shoutrrr refuses", config.Config{Notify: config.Notify{URLs: []string{"nosuch://secret-value-123@h"}, On: "failure"}}, true, 0, "", "URL 1 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := jobs.NewDeps(tt.cfg, &bashexec.Fake{}, nil, log)
			obs, err := attachObservers(d, tt.serve, log)
			defer obs.close(log)
			if len(d.Observers) != tt.observers {
				t.Errorf("%d observers, want %d", len(d.Observers), tt.observers)
			}
			if tt.down == "" && obs.down != "" || !strings.Contains(obs.down, tt.down) {
				t.Errorf("down %q, want %q", obs.down, tt.down)
			}
			if tt.errText == "" && err != nil || tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText) || strings.Contains(err.Error(), "secret-value")) {
				t.Errorf("err %v, want %q without the URL", err, tt.errText)
			}
		})
	}
}
