package bashexec

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLineWatch(t *testing.T) {
	cases := []struct {
		name   string
		writes []string
		seen   bool
	}{
		{"whole line in one write", []string{"a\n@@m done\nb\n"}, true},
		{"split across writes", []string{"x\n@@m d", "on", "e\n"}, true},
		{"carriage return", []string{"@@m done\r\n"}, true},
		{"no newline yet", []string{"@@m done"}, false},
		{"a longer line", []string{"@@m done and more\n"}, false},
		{"a prefix of it", []string{"@@m don\n"}, false},
		{"inside a line", []string{"say @@m done\n"}, false},
		{"after a long line", []string{strings.Repeat("y", 100), "\n@@m done\n"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sink bytes.Buffer
			w := newLineWatch(&sink, "@@m done")
			for _, p := range c.writes {
				if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", p, n, err)
				}
			}
			select {
			case <-w.seen:
				if !c.seen {
					t.Fatal("seen, want not")
				}
			default:
				if c.seen {
					t.Fatal("not seen, want seen")
				}
			}
			if got, want := sink.String(), strings.Join(c.writes, ""); got != want {
				t.Fatalf("passed on %q, want %q", got, want)
			}
		})
	}
}

func TestRunEndAtLine(t *testing.T) {
	e := New(Options{Logger: slog.New(slog.DiscardHandler), KillGrace: 100 * time.Millisecond})
	cases := []struct {
		name     string
		script   string
		endedAt  bool
		wantOut  string
		wantExit int
	}{
		{"stopped at the line", `echo a; echo "@@m done"; sleep 30`, true, "a\n@@m done\n", -1},
		{"ends without it", `echo a; exit 0`, false, "a\n", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := e.Run(ctx, Command{Args: []string{"sh", "-c", c.script}, EndAtLine: "@@m done", KeepTail: TaskOutputTail})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.EndedAtLine != c.endedAt || res.Stdout != c.wantOut || res.ExitCode != c.wantExit {
				t.Fatalf("got ended %v, stdout %q, exit %d; want %v, %q, %d", res.EndedAtLine, res.Stdout, res.ExitCode, c.endedAt, c.wantOut, c.wantExit)
			}
		})
	}
}
