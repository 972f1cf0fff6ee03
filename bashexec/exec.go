// Package bashexec is the only place in swarm-utils that starts processes.
// It runs argv (never shell strings) with github.com/go-cmd/cmd, enforces
// timeouts with SIGTERM→SIGKILL escalation on the whole process group, turns
// non-zero exits into errors, masks secrets in logs and errors, logs one
// copy-pasteable shell line per command and honours dry-run.
package bashexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	gocmd "github.com/go-cmd/cmd"
)

// Command is one process to run, as argv (never a shell string).
type Command struct {
	Args     []string      // argv; Args[0] is the program, e.g. "docker"
	Stdin    []byte        // optional (e.g. docker login --password-stdin); never logged
	Env      []string      // extra KEY=VALUE appended to the runner's base env
	Timeout  time.Duration // 0 = none (the ctx still applies)
	ReadOnly bool          // true for inspect/ls/ps/logs: runs even in dry-run mode
}

// Result is what a command produced.
//
// Stdout and Stderr are raw and complete, NOT masked: callers parse them, and
// parsed values (labels, env of services) may legitimately contain secrets.
// Callers mask what they put into user-visible results with Secrets.Mask.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int // -1 when the process did not exit by itself (signal, timeout, not started)
	Duration time.Duration
	DryRun   bool // true when the command was only logged
}

// Runner runs commands; *Exec for real, *Fake in other packages' unit tests.
type Runner interface {
	Run(ctx context.Context, c Command) (Result, error)
}

// ExitError: the process ran and exited non-zero.
type ExitError struct {
	Line     string // the masked, shell-quoted command line
	ExitCode int
	Stderr   string // masked, trimmed; only the tail when long
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: exit code %d", e.Line, e.ExitCode)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// ErrTimeout is wrapped by the error Run returns when Command.Timeout elapsed.
var ErrTimeout = errors.New("timed out")

// maxErrStderr bounds ExitError.Stderr; the tail is kept because that is
// where programs print the reason they failed.
const maxErrStderr = 4 << 10

// Options configure New.
type Options struct {
	Logger    *slog.Logger  // nil -> slog.Default()
	Secrets   *Secrets      // nil -> none
	DryRun    bool          // log mutating commands instead of running them
	KillGrace time.Duration // after SIGTERM, SIGKILL this long later; 0 -> 3s
	Env       []string      // base environment; nil -> os.Environ() at each run
}

// Exec runs real processes. It is safe for concurrent use.
type Exec struct {
	log     *slog.Logger
	secrets *Secrets
	dryRun  bool
	grace   time.Duration
	env     []string
}

var _ Runner = (*Exec)(nil)

// New returns an Exec configured by o.
func New(o Options) *Exec {
	e := &Exec{log: o.Logger, secrets: o.Secrets, dryRun: o.DryRun, grace: o.KillGrace, env: o.Env}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.grace <= 0 {
		e.grace = 3 * time.Second
	}
	return e
}

// Run runs c and waits for it. Errors: *ExitError for a non-zero exit,
// ErrTimeout (wrapped) when c.Timeout elapsed, ctx.Err() (wrapped) when ctx
// ended first, and a plain wrapped error when the program could not start.
// The Result holds whatever output was captured, also on error.
func (e *Exec) Run(ctx context.Context, c Command) (Result, error) {
	if len(c.Args) == 0 {
		return Result{ExitCode: -1}, errors.New("bashexec: empty command")
	}
	line := e.line(c)
	if e.dryRun && !c.ReadOnly {
		e.log.LogAttrs(ctx, slog.LevelInfo, "dry-run", slog.String("cmd", line))
		return Result{DryRun: true}, nil
	}

	e.log.LogAttrs(ctx, slog.LevelDebug, "exec", slog.String("cmd", line))
	res, err := e.run(ctx, c, line)
	attrs := []slog.Attr{
		slog.String("cmd", line),
		slog.Int("exit", res.ExitCode),
		slog.Duration("duration", res.Duration),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", e.secrets.Mask(err.Error())))
	}
	e.log.LogAttrs(ctx, slog.LevelDebug, "exec done", attrs...)
	return res, err
}

// line is the masked, copy-pasteable shell line for c. Each word is masked
// before quoting so that "***" ends up inside valid quoting; the whole line
// is masked again in case quoting spelled out a secret containing quotes.
func (e *Exec) line(c Command) string {
	env := make([]string, len(c.Env))
	for i, kv := range c.Env {
		env[i] = e.secrets.Mask(kv)
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = e.secrets.Mask(a)
	}
	return e.secrets.Mask(envPrefix(env) + Quote(args))
}

func (e *Exec) run(ctx context.Context, c Command, line string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("%s: not started: %w", line, err)
	}

	// Neither Buffered nor Streaming: both split output into lines with a
	// bounded buffer (Buffered drops lines >= 64 KiB). go-cmd's run() assigns
	// its own writers (nil here) before calling BeforeExec, so ours win.
	// WaitDelay stops Wait from hanging forever when a child that escaped the
	// process group keeps stdout/stderr open after the command exited.
	var stdout, stderr bytes.Buffer
	gc := gocmd.NewCmdOptions(gocmd.Options{
		BeforeExec: []func(*exec.Cmd){func(x *exec.Cmd) {
			x.Stdout, x.Stderr = &stdout, &stderr
			x.WaitDelay = e.grace
		}},
	}, c.Args[0], c.Args[1:]...)
	gc.Env = e.environ(c.Env)

	var stdin io.Reader
	if c.Stdin != nil {
		stdin = bytes.NewReader(c.Stdin)
	}
	start := time.Now()
	gc.StartWithStdin(stdin)

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var stopErr error
	select {
	case <-gc.Done():
	case <-ctx.Done():
		stopErr = fmt.Errorf("%s: %w", line, ctx.Err())
	case <-timeout:
		stopErr = fmt.Errorf("%s: %w after %s", line, ErrTimeout, c.Timeout)
	}
	if stopErr != nil {
		e.stop(gc)
	}

	// Done is closed after exec.Cmd.Wait returned, i.e. after the copying
	// goroutines finished writing into the buffers.
	st := gc.Status()
	res := Result{
		Stdout:   stdout.String(),
		Stderr:   stderr.String(),
		ExitCode: st.Exit,
		Duration: time.Since(start),
	}
	switch {
	case stopErr != nil:
		res.ExitCode = -1
		return res, stopErr
	case st.PID == 0 && st.Error != nil:
		return res, fmt.Errorf("start %s: %w", line, st.Error)
	case st.Error != nil: // killed by a signal from elsewhere, or WaitDelay expired
		return res, fmt.Errorf("%s: %w%s", line, st.Error, suffix(e.errStderr(res.Stderr)))
	case st.Exit != 0:
		return res, &ExitError{Line: line, ExitCode: st.Exit, Stderr: e.errStderr(res.Stderr)}
	}
	return res, nil
}

// stop sends SIGTERM to the process group (go-cmd's Stop), then SIGKILL to
// the group every KillGrace until go-cmd reports the command done. Repeating
// covers a command that was still starting (PID unknown) at the first try.
func (e *Exec) stop(gc *gocmd.Cmd) {
	_ = gc.Stop()
	t := time.NewTimer(e.grace)
	defer t.Stop()
	for {
		select {
		case <-gc.Done():
			return
		case <-t.C:
		}
		if pid := gc.Status().PID; pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		t.Reset(e.grace)
	}
}

// environ is the base environment plus extra; os/exec lets later entries
// win, so extra overrides the base. nil keeps os/exec's default (our env).
func (e *Exec) environ(extra []string) []string {
	base := e.env
	if base == nil {
		if len(extra) == 0 {
			return nil
		}
		base = os.Environ()
	}
	return append(base[:len(base):len(base)], extra...)
}

// errStderr is stderr fit for an error message: masked first (so truncation
// cannot split a secret into an unmasked fragment), trimmed, then cut to the tail.
func (e *Exec) errStderr(stderr string) string {
	s := strings.TrimSpace(e.secrets.Mask(stderr))
	if len(s) <= maxErrStderr {
		return s
	}
	s = s[len(s)-maxErrStderr:]
	for i := 0; i < 3 && len(s) > 0 && s[0]&0xC0 == 0x80; i++ { // not mid-rune
		s = s[1:]
	}
	return "…" + s
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
