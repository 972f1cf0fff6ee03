package operation

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Head keeps at most n bytes, never splits a rune, and marks a cut.
func TestHead(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven byte", 10, "eleven …"},
		{"ééééé", 8, "éé…"},    // byte 5 is inside the third é: the cut goes back to its start
		{"aéééé", 8, "aéé…"},   // the third é starts at byte 5: it ends the kept part
		{"日本語のテキスト", 9, "日本…"}, // three-byte runes
		{"abcdef", 2, "…"},     // no room but for the mark
		{"", 0, ""},
	} {
		got := Head(tc.s, tc.n)
		if got != tc.want || !utf8.ValidString(got) || len(got) > max(tc.n, len("…")) {
			t.Errorf("Head(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// The text output shows a task's first log line in at most 80 bytes, cut on a rune boundary.
func TestTextFirstLogLine(t *testing.T) {
	for _, tc := range []struct {
		name, logs, want string
	}{
		{"short", "  done\nmore\n", "done"},
		{"long ascii", strings.Repeat("x", 100), strings.Repeat("x", 77) + "…"},
		{"long multibyte", strings.Repeat("é", 50), strings.Repeat("é", 38) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Result{Operation: "clean-service", Target: "db", OK: true, Steps: []Step{{Name: "exec", OK: true,
				Tasks: []TaskResult{{Target: "db.1", State: "complete", Logs: tc.logs}}}}}
			text := r.Text()
			if !strings.Contains(text, " "+tc.want+"\n") || !utf8.ValidString(text) {
				t.Errorf("text lacks the first line %q:\n%s", tc.want, text)
			}
		})
	}
}
