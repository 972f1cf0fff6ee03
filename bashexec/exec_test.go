package bashexec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newTestExec returns an Exec that logs JSON at debug level into the returned buffer.
func newTestExec(o Options) (*Exec, *bytes.Buffer) {
	var buf bytes.Buffer
	o.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(o), &buf
}

func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestRun(t *testing.T) {
	bigStdin := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tests := []struct {
		name       string
		cmd        Command
		wantStdout string
		wantStderr string
		wantExit   int
		wantErr    string // substring; "" = no error
	}{
		{name: "stdout", cmd: Command{Args: []string{"printf", "%s\n", "hello"}}, wantStdout: "hello\n"},
		{name: "no trailing newline kept raw", cmd: Command{Args: []string{"printf", "a\nb"}}, wantStdout: "a\nb"},
		{
			name:       "exit code and stderr",
			cmd:        Command{Args: []string{"sh", "-c", "echo out; echo oops >&2; exit 7"}},
			wantStdout: "out\n", wantStderr: "oops\n", wantExit: 7,
			wantErr: "sh -c 'echo out; echo oops >&2; exit 7': exit code 7: oops",
		},
		{name: "stdin", cmd: Command{Args: []string{"cat"}, Stdin: []byte("secret\npassword")}, wantStdout: "secret\npassword"},
		{name: "big stdin", cmd: Command{Args: []string{"cat"}, Stdin: bigStdin}, wantStdout: string(bigStdin)},
		{name: "no stdin is empty, not inherited", cmd: Command{Args: []string{"cat"}}, wantStdout: ""},
		{name: "stdin not read", cmd: Command{Args: []string{"true"}, Stdin: bigStdin}},
		{name: "program not found", cmd: Command{Args: []string{"no-such-program-bashexec"}}, wantExit: -1, wantErr: "start no-such-program-bashexec: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newTestExec(Options{})
			res, err := e.Run(context.Background(), tt.cmd)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if res.Stdout != tt.wantStdout || res.Stderr != tt.wantStderr || res.ExitCode != tt.wantExit {
				t.Errorf("got stdout %.40q stderr %q exit %d, want %.40q %q %d",
					res.Stdout, res.Stderr, res.ExitCode, tt.wantStdout, tt.wantStderr, tt.wantExit)
			}
			var exitErr *ExitError
			if isExit := errors.As(err, &exitErr); isExit != (tt.wantExit > 0) {
				t.Errorf("error %v: is *ExitError = %v, want %v", err, isExit, tt.wantExit > 0)
			} else if isExit && exitErr.ExitCode != tt.wantExit {
				t.Errorf("ExitError.ExitCode = %d, want %d", exitErr.ExitCode, tt.wantExit)
			}
		})
	}
}

func TestRunLargeOutput(t *testing.T) {
	mib := 1 << 20
	tests := []struct {
		name       string
		script     string
		wantStdout string
		wantStderr string
	}{
		{
			name:       "single 1 MiB line",
			script:     "head -c 1048576 /dev/zero | tr '\\0' a",
			wantStdout: strings.Repeat("a", mib),
		},
		{
			name:       "single 1 MiB line with newline",
			script:     "head -c 1048576 /dev/zero | tr '\\0' a; echo",
			wantStdout: strings.Repeat("a", mib) + "\n",
		},
		{
			name:       "multi-MB multi-line",
			script:     "yes abcdefghij | head -n 400000",
			wantStdout: strings.Repeat("abcdefghij\n", 400000),
		},
		{
			// stdout is whole up to DefaultMaxOutput; stderr keeps its last DefaultStderrTail bytes.
			name:       "big stdout and stderr at once",
			script:     "head -c 3000000 /dev/zero | tr '\\0' o & head -c 3000000 /dev/zero | tr '\\0' e >&2; wait",
			wantStdout: strings.Repeat("o", 3000000),
			wantStderr: "[… 2.9 MB cut …]\n" + strings.Repeat("e", DefaultStderrTail),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newTestExec(Options{})
			res, err := e.Run(context.Background(), Command{Args: []string{"sh", "-c", tt.script}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stdout != tt.wantStdout {
				t.Errorf("stdout: got %d bytes, want %d (intact: %v)", len(res.Stdout), len(tt.wantStdout), res.Stdout == tt.wantStdout)
			}
			if res.Stderr != tt.wantStderr {
				t.Errorf("stderr: got %d bytes, want %d", len(res.Stderr), len(tt.wantStderr))
			}
		})
	}
}

// processGone reports whether pid no longer runs (absent, or a zombie that
// nobody reaped, which is dead too).
func processGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name   string
		script string
		grace  time.Duration
	}{
		// TERM ignored by sh and (inherited) by its child: only SIGKILL to the group ends it.
		{name: "TERM trapped, escalates to KILL", script: `trap "" TERM; sleep 30 & echo $!; wait`, grace: 200 * time.Millisecond},
		// A grace longer than the test bound proves SIGTERM alone ended it.
		{name: "TERM suffices", script: `sleep 30 & echo $!; wait`, grace: 25 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newTestExec(Options{KillGrace: tt.grace, Secrets: NewSecrets("hunter22")})
			start := time.Now()
			res, err := e.Run(context.Background(), Command{
				Args:    []string{"sh", "-c", tt.script, "sh", "hunter22"},
				Timeout: 300 * time.Millisecond,
			})
			if took := time.Since(start); took > 15*time.Second {
				t.Fatalf("returned after %v, want well under 30s", took)
			}
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("error = %v, want ErrTimeout", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "timed out after 300ms") || !strings.Contains(msg, "sh -c") ||
				strings.Contains(msg, "hunter22") || !strings.Contains(msg, "***") {
				t.Errorf("error text %q: want the masked command and the timeout", msg)
			}
			if res.ExitCode != -1 {
				t.Errorf("ExitCode = %d, want -1", res.ExitCode)
			}
			// The backgrounded sleep is in the same process group: it must be dead too.
			pid, perr := strconv.Atoi(strings.TrimSpace(res.Stdout))
			if perr != nil {
				t.Fatalf("child pid from stdout %q: %v", res.Stdout, perr)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !processGone(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("child sleep %d still running after the command returned", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestContextEnds(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{name: "cancel", want: context.Canceled, ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}},
		{name: "deadline", want: context.DeadlineExceeded, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := tt.ctx()
			defer cancel()
			e, _ := newTestExec(Options{KillGrace: 200 * time.Millisecond})
			start := time.Now()
			_, err := e.Run(ctx, Command{Args: []string{"sh", "-c", `trap "" TERM; sleep 30`}, Timeout: time.Minute})
			if !errors.Is(err, tt.want) || errors.Is(err, ErrTimeout) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Fatalf("returned after %v, want well under 30s", took)
			}
		})
	}

	t.Run("already cancelled does not start", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "ran")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e, _ := newTestExec(Options{})
		_, err := e.Run(ctx, Command{Args: []string{"touch", marker}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Fatalf("command ran although ctx was cancelled (stat: %v)", err)
		}
	})
}

func TestEnv(t *testing.T) {
	t.Setenv("BASHEXEC_PARENT", "parent")
	script := `printf '%s|%s|%s' "$BASE" "$EXTRA" "$BASHEXEC_PARENT"`
	tests := []struct {
		name string
		base []string
		want string
	}{
		{name: "base given replaces os env", base: []string{"PATH=" + os.Getenv("PATH"), "BASE=base"}, want: "override|extra|"},
		{name: "nil base inherits os env", base: nil, want: "override|extra|parent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTestExec(Options{Env: tt.base})
			res, err := e.Run(context.Background(), Command{
				Args: []string{"sh", "-c", script},
				Env:  []string{"BASE=override", "EXTRA=extra"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stdout != tt.want {
				t.Errorf("got %q, want %q", res.Stdout, tt.want)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		readOnly bool
		wantFile bool
	}{
		{name: "mutating is only logged", readOnly: false, wantFile: false},
		{name: "read-only runs", readOnly: true, wantFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			e, logs := newTestExec(Options{DryRun: true})
			res, err := e.Run(context.Background(), Command{Args: []string{"touch", marker}, ReadOnly: tt.readOnly})
			if err != nil {
				t.Fatal(err)
			}
			if res.DryRun == tt.wantFile {
				t.Errorf("Result.DryRun = %v, want %v", res.DryRun, !tt.wantFile)
			}
			if _, err := os.Stat(marker); (err == nil) != tt.wantFile {
				t.Errorf("file exists = %v, want %v", err == nil, tt.wantFile)
			}
			recs := logRecords(t, logs)
			if !tt.wantFile {
				if len(recs) != 1 || recs[0]["msg"] != "dry-run" || recs[0]["level"] != "INFO" || recs[0]["cmd"] != "touch "+marker {
					t.Errorf("logs = %v, want one INFO dry-run record with the command", recs)
				}
			}
		})
	}
}

func TestLoggingAndMasking(t *testing.T) {
	secrets := NewSecrets("s3cr3t-token", "pa'ss w0rd")
	e, logs := newTestExec(Options{Secrets: secrets})
	res, err := e.Run(context.Background(), Command{
		Args:  []string{"sh", "-c", `echo "got $1 pw=$PW" >&2; exit 3`, "sh", "--token=s3cr3t-token"},
		Env:   []string{"PW=pa'ss w0rd"},
		Stdin: []byte("stdin-only-value"),
	})

	var exitErr *ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode != 3 {
		t.Fatalf("error = %v, want *ExitError with code 3", err)
	}
	wantLine := `PW='***' sh -c 'echo "got $1 pw=$PW" >&2; exit 3' sh '--token=***'`
	if exitErr.Line != wantLine {
		t.Errorf("ExitError.Line = %q, want %q", exitErr.Line, wantLine)
	}
	if exitErr.Stderr != "got --token=*** pw=***" {
		t.Errorf("ExitError.Stderr = %q, want masked", exitErr.Stderr)
	}
	if res.Stderr != "got --token=s3cr3t-token pw=pa'ss w0rd\n" {
		t.Errorf("Result.Stderr = %q, want raw", res.Stderr)
	}

	out := logs.String()
	for _, leak := range []string{"s3cr3t", "w0rd", "stdin-only-value"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains %q:\n%s", leak, out)
		}
	}
	recs := logRecords(t, logs)
	if len(recs) != 2 {
		t.Fatalf("got %d log records, want 2:\n%s", len(recs), out)
	}
	before, after := recs[0], recs[1]
	if before["msg"] != "exec" || before["level"] != "DEBUG" || before["cmd"] != wantLine {
		t.Errorf("first record = %v, want DEBUG exec with cmd %q", before, wantLine)
	}
	if after["level"] != "DEBUG" || after["cmd"] != wantLine || after["exit"] != 3.0 ||
		after["duration"] == nil || !strings.Contains(after["error"].(string), "exit code 3: got --token=***") {
		t.Errorf("second record = %v, want DEBUG with cmd, exit 3, duration, masked error", after)
	}
}

func TestExitErrorStderrKeepsTail(t *testing.T) {
	e, _ := newTestExec(Options{})
	_, err := e.Run(context.Background(), Command{
		Args: []string{"sh", "-c", `head -c 100000 /dev/zero | tr '\0' x >&2; echo THE-END >&2; exit 1`},
	})
	var exitErr *ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("error = %v, want *ExitError", err)
	}
	if len(exitErr.Stderr) > maxErrStderr+len("…") || !strings.HasPrefix(exitErr.Stderr, "…") || !strings.HasSuffix(exitErr.Stderr, "xTHE-END") {
		t.Errorf("Stderr has %d bytes, %.10q…%q; want the tail, at most %d bytes", len(exitErr.Stderr),
			exitErr.Stderr, exitErr.Stderr[max(0, len(exitErr.Stderr)-10):], maxErrStderr)
	}
}

// TestLoggedLineRoundTrips runs the logged cmd through sh and checks that sh
// sees exactly the argv (and env) that Run passed directly.
func TestLoggedLineRoundTrips(t *testing.T) {
	hostile := []string{
		"it's", `"double"`, "$(touch /tmp/bashexec-pwned)", "`id`", "a;b", "a && b | c", "line1\nline2",
		"  spaced  ", "", `back\slash`, "*", "~", "-n", "$HOME", "!bang", "#hash", "tab\there", "ü", "'", "''", "a=b", "{a,b}",
	}
	// Prints $ENVVAL then every argument, NUL-terminated, so any byte survives.
	dump := `printf '%s\000' "$ENVVAL" "$@"`
	tests := []struct {
		name    string
		secrets []string
		args    []string
		envVal  string
		want    []string // what sh must see from the logged line
	}{
		{name: "hostile args", args: hostile, envVal: "$(x) 'q' \"d\"\n;", want: append([]string{"$(x) 'q' \"d\"\n;"}, hostile...)},
		{name: "masked secrets stay valid shell", secrets: []string{"pa'ss", "tok en"},
			args: []string{"--password=pa'ss", "tok en", "x"}, envVal: "pa'ss",
			want: []string{"***", "--password=***", "***", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := newTestExec(Options{Secrets: NewSecrets(tt.secrets...)})
			cmd := Command{Args: append([]string{"sh", "-c", dump, "sh"}, tt.args...), Env: []string{"ENVVAL=" + tt.envVal}}
			direct, err := e.Run(context.Background(), cmd)
			if err != nil {
				t.Fatal(err)
			}
			line, _ := logRecords(t, logs)[0]["cmd"].(string)

			viaShell, err := New(Options{Logger: slog.New(slog.DiscardHandler)}).Run(context.Background(), Command{Args: []string{"sh", "-c", line}})
			if err != nil {
				t.Fatalf("sh -c on logged line %q: %v", line, err)
			}
			got := strings.Split(strings.TrimSuffix(viaShell.Stdout, "\x00"), "\x00")
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || len(got) != len(tt.want) {
				t.Errorf("logged line %q\nsh saw  %q\nwant    %q", line, got, tt.want)
			}
			if len(tt.secrets) == 0 && viaShell.Stdout != direct.Stdout {
				t.Errorf("sh -c line gave %q, direct run gave %q", viaShell.Stdout, direct.Stdout)
			}
		})
	}
	if _, err := os.Stat("/tmp/bashexec-pwned"); err == nil {
		t.Error("a quoted argument was executed by the shell")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	e, _ := newTestExec(Options{KillGrace: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cmds := []struct {
		ctx context.Context
		cmd Command
	}{
		{context.Background(), Command{Args: []string{"echo", "hi"}}},
		{context.Background(), Command{Args: []string{"sh", "-c", "exit 2"}}},
		{context.Background(), Command{Args: []string{"true"}, Stdin: make([]byte, 4<<20)}},
		{context.Background(), Command{Args: []string{"no-such-program-bashexec"}}},
		{context.Background(), Command{Args: []string{"sh", "-c", `trap "" TERM; sleep 30`}, Timeout: 100 * time.Millisecond}},
		{ctx, Command{Args: []string{"sleep", "30"}}},
	}
	for _, c := range cmds {
		_, _ = e.Run(c.ctx, c.cmd)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEmptyCommand(t *testing.T) {
	e, _ := newTestExec(Options{})
	if _, err := e.Run(context.Background(), Command{}); err == nil {
		t.Fatal("empty argv: want an error")
	}
}

func BenchmarkRunTrue(b *testing.B) {
	e := New(Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.Run(ctx, Command{Args: []string{"true"}}); err != nil {
			b.Fatal(err)
		}
	}
}
