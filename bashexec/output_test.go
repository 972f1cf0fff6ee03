package bashexec

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCapture(t *testing.T) {
	tests := []struct {
		name    string
		tail    bool
		keep    int
		secrets []string
		in      string
		want    string
		wantCut int64
	}{
		{name: "head under the limit", keep: 10, in: "hello", want: "hello"},
		{name: "head at the limit", keep: 5, in: "hello", want: "hello"},
		{name: "head over the limit", keep: 10, in: "0123456789abcdefghijklmno", want: "0123456789", wantCut: 15},
		{name: "head cut before a secret across it", keep: 6, secrets: []string{"SECRET"}, in: "....SECRET....", want: "....", wantCut: 10},
		{name: "head cut before a rune", keep: 3, in: "aaü", want: "aa", wantCut: 2},
		{name: "head over a big limit keeps only the start", keep: 1 << 20, in: strings.Repeat("y", 1<<20+1),
			want: strings.Repeat("y", overLimitHead), wantCut: 1<<20 + 1 - overLimitHead},
		{name: "tail under the limit", tail: true, keep: 10, in: "hello", want: "hello"},
		{name: "tail at the limit", tail: true, keep: 5, in: "hello", want: "hello"},
		{name: "tail over the limit", tail: true, keep: 10, in: "0123456789abcdefghijklmno",
			want: "[… 15 bytes cut …]\nfghijklmno", wantCut: 15},
		{name: "tail cut after a secret across it", tail: true, keep: 8, secrets: []string{"SECRET"},
			in: strings.Repeat(".", 20) + "SECRET......", want: "[… 26 bytes cut …]\n......", wantCut: 26},
		{name: "tail cut after overlapping secrets", tail: true, keep: 7, secrets: []string{"abcd", "cdef"},
			in: "zzzzabcdefzz", want: "[… 10 bytes cut …]\nzz", wantCut: 10},
		{name: "tail cut after a rune", tail: true, keep: 4, in: "aaaaübbb", want: "[… 6 bytes cut …]\nbbb", wantCut: 6},
		{name: "tail of megabytes", tail: true, keep: 64 << 10, in: strings.Repeat("x", 40_000_000) + "END",
			want: "[… 39.9 MB cut …]\n" + strings.Repeat("x", 64<<10-3) + "END", wantCut: 40_000_003 - 64<<10},
	}
	for _, tt := range tests {
		// Every chunking gives the same result: os/exec writes in pieces of any size.
		for _, chunk := range []int{1, 3, 7, 32 << 10, 1 << 30} {
			if chunk < 7 && len(tt.in) > 1<<20 {
				continue // too slow, and the small chunkings are covered by the short inputs
			}
			t.Run(tt.name+"/chunk "+byteSize(int64(chunk)), func(t *testing.T) {
				s := NewSecrets(tt.secrets...)
				c := newCapture(tt.tail, tt.keep, s)
				for in := tt.in; in != ""; {
					n := min(chunk, len(in))
					if w, err := c.Write([]byte(in[:n])); w != n || err != nil {
						t.Fatalf("Write = %d, %v; want %d, nil", w, err, n)
					}
					in = in[n:]
				}
				got, cut := c.result(s)
				if got != tt.want || cut != tt.wantCut {
					t.Errorf("result = %.60q (%d bytes), cut %d; want %.60q (%d bytes), cut %d", got, len(got), cut, tt.want, len(tt.want), tt.wantCut)
				}
				if cap(c.buf) > c.size() {
					t.Errorf("buffer capacity %d, over the bound %d", cap(c.buf), c.size())
				}
				if !utf8.ValidString(got) {
					t.Errorf("result %q is not valid UTF-8", got)
				}
			})
		}
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 999: "999 bytes", 1000: "1.0 kB", 65_536: "65.5 kB",
		39_934_464: "39.9 MB", 999_960: "1.0 MB", 16 << 20: "16.8 MB", 5_000_000_000: "5.0 GB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// printScript prints n bytes of x, then THE-END and a newline, to fd (1 or 2).
func printScript(n int, fd int) string {
	return "head -c " + strconv.Itoa(n) + " /dev/zero | tr '\\0' x >&" + strconv.Itoa(fd) + "; echo THE-END >&" + strconv.Itoa(fd)
}

func TestOutputLimits(t *testing.T) {
	const mib = 1 << 20
	end := "THE-END\n"
	tests := []struct {
		name          string
		script        string
		maxOutput     int
		keepTail      int
		wantStdout    string // "" with wantStdoutLen: only its length and end are checked
		wantStdoutLen int
		wantStdoutCut int64
		wantStderr    string
		wantStderrCut int64
		wantErr       error
		wantErrText   string
	}{
		{
			name:   "task output keeps the tail of 40 MB with a note",
			script: printScript(40_000_000, 1) + "; " + printScript(100_000, 2), keepTail: TaskOutputTail,
			wantStdout:    "[… 39.9 MB cut …]\n" + strings.Repeat("x", TaskOutputTail-len(end)) + end,
			wantStdoutCut: 40_000_000 + int64(len(end)) - TaskOutputTail,
			wantStderr:    "[… 34.5 kB cut …]\n" + strings.Repeat("x", TaskOutputTail-len(end)) + end,
			wantStderrCut: 100_000 + int64(len(end)) - TaskOutputTail,
		},
		{
			name:   "JSON read at its limit is whole",
			script: printScript(mib-len(end), 1), maxOutput: mib,
			wantStdout: strings.Repeat("x", mib-len(end)) + end,
		},
		{
			name:   "JSON read over its limit is an error, not a cut document",
			script: printScript(mib-len(end)+1, 1), maxOutput: mib,
			// Only the start stays in the Result, to show what it was.
			wantStdout: strings.Repeat("x", overLimitHead), wantStdoutCut: mib + 1 - overLimitHead,
			wantErr: ErrOutputTooLarge, wantErrText: "stdout is over its limit of 1048576 bytes (1.0 MB printed): output too large",
		},
		{
			name:          "default limit holds for every command",
			script:        printScript(40_000_000, 1),
			wantStdoutLen: overLimitHead, wantStdoutCut: 40_000_000 + int64(len(end)) - overLimitHead,
			wantErr: ErrOutputTooLarge, wantErrText: "stdout is over its limit of 16777216 bytes (40.0 MB printed)",
		},
		{
			name:   "a failed exit wins over too much output",
			script: printScript(2*mib, 1) + "; echo failed >&2; exit 3", maxOutput: mib,
			wantStdoutLen: overLimitHead, wantStdoutCut: 2*mib + int64(len(end)) - overLimitHead, wantStderr: "failed\n",
			wantErrText: "exit code 3: failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := newTestExec(Options{})
			res, err := e.Run(context.Background(), Command{Args: []string{"sh", "-c", tt.script}, MaxOutput: tt.maxOutput, KeepTail: tt.keepTail})
			if tt.wantErr == nil && tt.wantErrText == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantErrText) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErrText)
			}
			if tt.wantStdout != "" && res.Stdout != tt.wantStdout {
				t.Errorf("stdout: got %d bytes %.30q…, want %d bytes %.30q…", len(res.Stdout), res.Stdout, len(tt.wantStdout), tt.wantStdout)
			}
			if tt.wantStdoutLen != 0 && len(res.Stdout) != tt.wantStdoutLen {
				t.Errorf("stdout: got %d bytes, want %d", len(res.Stdout), tt.wantStdoutLen)
			}
			if res.Stderr != tt.wantStderr {
				t.Errorf("stderr: got %d bytes %.30q…, want %d bytes %.30q…", len(res.Stderr), res.Stderr, len(tt.wantStderr), tt.wantStderr)
			}
			if res.StdoutCut != tt.wantStdoutCut || res.StderrCut != tt.wantStderrCut {
				t.Errorf("cut stdout %d, stderr %d; want %d, %d", res.StdoutCut, res.StderrCut, tt.wantStdoutCut, tt.wantStderrCut)
			}
			recs := logRecords(t, logs)
			if last := recs[len(recs)-1]; tt.wantStdoutCut > 0 && last["stdout_cut"] != float64(tt.wantStdoutCut) {
				t.Errorf("log record %v: want stdout_cut %d", last, tt.wantStdoutCut)
			}
		})
	}
}

// TestTailNeverLeaksPartOfASecret cuts a real process's output through a
// secret: masking the kept tail must leave no piece of it.
func TestTailNeverLeaksPartOfASecret(t *testing.T) {
	secret := "S3cr3t-K3y-zq"
	for _, through := range []int{1, 5, len(secret) - 1} { // kept bytes of the secret if the cut ignored it
		t.Run(strconv.Itoa(through), func(t *testing.T) {
			e, _ := newTestExec(Options{Secrets: NewSecrets(secret)})
			const keep = 4096
			script := `printf '%s' "$1"; head -c "$2" /dev/zero | tr '\0' .`
			res, err := e.Run(context.Background(), Command{Args: []string{"sh", "-c", script, "sh", secret, strconv.Itoa(keep - through)}, KeepTail: keep})
			if err != nil {
				t.Fatal(err)
			}
			_, body, _ := strings.Cut(res.Stdout, "…]\n")
			if body != strings.Repeat(".", keep-through) {
				t.Errorf("kept %q, want only the dots after the secret", e.secrets.Mask(res.Stdout))
			}
		})
	}
}
