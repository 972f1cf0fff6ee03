package cli

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/history"
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
