// Package bashexec is the only place in swarm-utils that starts processes.
// It runs argv (never shell strings) with github.com/go-cmd/cmd, enforces
// timeouts with SIGTERM→SIGKILL escalation on the whole process tree, turns
// non-zero exits into errors, masks secrets in logs and errors, logs one
// copy-pasteable shell line per command and honours dry-run. Output is kept in
// bounded buffers and at most Options.MaxProcs processes run at once.
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
	Timeout  time.Duration // 0 = none (the ctx still applies); counts from the start, not the wait for a slot
	ReadOnly bool          // true for inspect/ls/ps/logs: runs even in dry-run mode

	// MaxOutput bounds stdout kept whole; 0 (or less) means DefaultMaxOutput (16 MiB).
	// Beyond it the process still runs to its end, the excess is discarded,
	// Result.Stdout holds only its first 64 KiB and Run returns an error wrapping
	// ErrOutputTooLarge (unless a stop, start or exit error comes first). For JSON
	// reads (inspect, ls, ps --format json): a document is whole or an error.
	// Ignored when KeepTail is set.
	MaxOutput int

	// KeepTail > 0 keeps only the last KeepTail bytes of stdout and of stderr, each
	// then starting with a note of how much was cut ("[… 39.9 MB cut …]\n"); never
	// an error. For task and helper output: KeepTail: bashexec.TaskOutputTail.
	// 0: stdout as MaxOutput says, stderr's last DefaultStderrTail (64 KiB) bytes.
	KeepTail int

	// EndAtLine, when set, ends the command as soon as its stdout held a whole line equal to
	// it: the process tree is stopped, Result.EndedAtLine is set and Run returns no error
	// (a `docker service logs --follow` read until a helper's last line).
	EndAtLine string
}

// Result is what a command produced.
//
// Stdout and Stderr are raw, NOT masked: callers parse them, and parsed values
// (labels, env of services) may legitimately contain secrets. Callers mask
// what they put into user-visible results with Secrets.Mask. They are whole
// unless the Command's limits cut them (StdoutCut, StderrCut > 0); a cut never
// leaves a fragment of a registered secret or of a UTF-8 sequence.
type Result struct {
	Stdout    string
	Stderr    string
	StdoutCut int64 // bytes of stdout left out (see Command.MaxOutput, KeepTail)
	StderrCut int64 // bytes of stderr left out (see Command.KeepTail)
	ExitCode  int   // -1 when the process did not exit by itself (signal, timeout, not started)
	Duration  time.Duration
	DryRun    bool // true when the command was only logged
	// EndedAtLine: stdout held Command.EndAtLine and the command was stopped there (ExitCode -1).
	EndedAtLine bool
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
	// MaxProcs bounds the processes running at once; a Run waiting for a slot
	// ends with its ctx. 0 (or less) -> DefaultMaxProcs. Share one Exec.
	MaxProcs int
}

// DefaultMaxProcs is Options.MaxProcs when unset.
const DefaultMaxProcs = 32

// Exec runs real processes. It is safe for concurrent use.
type Exec struct {
	log     *slog.Logger
	secrets *Secrets
	dryRun  bool
	grace   time.Duration
	env     []string
	slots   chan struct{} // one token per running process
	proc    procFS
}

var _ Runner = (*Exec)(nil)

// New returns an Exec configured by o.
func New(o Options) *Exec {
	if o.MaxProcs <= 0 {
		o.MaxProcs = DefaultMaxProcs
	}
	e := &Exec{log: o.Logger, secrets: o.Secrets, dryRun: o.DryRun, grace: o.KillGrace, env: o.Env,
		slots: make(chan struct{}, o.MaxProcs), proc: sysProc}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.grace <= 0 {
		e.grace = 3 * time.Second
	}
	return e
}

// Running is how many processes run now (or are starting), and the limit.
func (e *Exec) Running() (n, limit int) { return len(e.slots), cap(e.slots) }

// Run runs c and waits for it. Errors: *ExitError for a non-zero exit,
// ErrTimeout (wrapped) when c.Timeout elapsed, ctx.Err() and its cause
// (wrapped) when ctx ended first — also while waiting for a process slot —,
// ErrOutputTooLarge (wrapped) when stdout exceeded c.MaxOutput, and a plain
// wrapped error when the program could not start. A stopped command's whole
// process tree is ended, also what left its process group. The Result holds
// whatever output was kept, also on error.
func (e *Exec) Run(ctx context.Context, c Command) (Result, error) {
	if len(c.Args) == 0 {
		return Result{ExitCode: -1}, errors.New("bashexec: empty command")
	}
	if s := e.secrets.For(ctx); s != e.secrets {
		// The operation's own secrets are masked in this command only (WithSecrets).
		op := *e
		op.secrets = s
		e = &op
	}
	line := e.line(c)
	if e.dryRun && !c.ReadOnly {
		e.log.LogAttrs(ctx, slog.LevelInfo, "dry-run", slog.String("cmd", line))
		return Result{DryRun: true}, nil
	}

	e.log.LogAttrs(ctx, slog.LevelDebug, "exec", slog.String("cmd", line))
	res, queued, err := e.run(ctx, c, line)
	attrs := []slog.Attr{
		slog.String("cmd", line),
		slog.Int("exit", res.ExitCode),
		slog.Duration("duration", res.Duration),
	}
	if queued > 0 {
		attrs = append(attrs, slog.Duration("queued", queued))
	}
	if res.StdoutCut > 0 {
		attrs = append(attrs, slog.Int64("stdout_cut", res.StdoutCut))
	}
	if res.StderrCut > 0 {
		attrs = append(attrs, slog.Int64("stderr_cut", res.StderrCut))
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

// acquire takes a process slot, waiting at most as long as ctx lives; queued
// is how long it waited when no slot was free at once.
func (e *Exec) acquire(ctx context.Context) (queued time.Duration, err error) {
	select {
	case e.slots <- struct{}{}:
		return 0, nil
	default:
	}
	start := time.Now()
	select {
	case e.slots <- struct{}{}:
		return time.Since(start), nil
	case <-ctx.Done():
		return time.Since(start), ctxErr(ctx)
	}
}

func (e *Exec) release() { <-e.slots }

// ctxErr is ctx.Err() together with the cause its canceller gave, if any
// (context.WithCancelCause, WithTimeoutCause): errors.Is finds both.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	cause := context.Cause(ctx)
	if cause == nil || errors.Is(cause, err) {
		if cause != nil {
			return cause
		}
		return err
	}
	return fmt.Errorf("%w: %w", err, cause)
}

func (e *Exec) run(ctx context.Context, c Command, line string) (Result, time.Duration, error) {
	if ctx.Err() != nil {
		return Result{ExitCode: -1}, 0, fmt.Errorf("%s: not started: %w", line, ctxErr(ctx))
	}
	queued, err := e.acquire(ctx)
	if err != nil {
		return Result{ExitCode: -1}, queued, fmt.Errorf("%s: not started: waited %s for a process slot (all %d in use): %w",
			line, queued.Round(time.Millisecond), cap(e.slots), err)
	}
	defer e.release()

	// Neither Buffered nor Streaming: both split output into lines with a
	// bounded buffer (Buffered drops lines >= 64 KiB) and Buffered keeps all
	// of them. os/exec copies the pipes into our bounded captures instead;
	// go-cmd's run() assigns its own writers (nil here) before calling
	// BeforeExec, so ours win. WaitDelay stops Wait from hanging forever when
	// a child that escaped the process group keeps stdout/stderr open after
	// the command exited.
	keepOut, keepErr := c.MaxOutput, DefaultStderrTail
	if keepOut <= 0 {
		keepOut = DefaultMaxOutput
	}
	if c.KeepTail > 0 {
		keepOut, keepErr = c.KeepTail, c.KeepTail
	}
	stdout := newCapture(c.KeepTail > 0, keepOut, e.secrets)
	stderr := newCapture(true, keepErr, e.secrets)
	var out io.Writer = stdout
	var atLine <-chan struct{}
	if c.EndAtLine != "" {
		w := newLineWatch(stdout, c.EndAtLine)
		out, atLine = w, w.seen
	}
	gc := gocmd.NewCmdOptions(gocmd.Options{
		BeforeExec: []func(*exec.Cmd){func(x *exec.Cmd) {
			x.Stdout, x.Stderr = out, stderr
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
	endedAtLine := false
	select {
	case <-gc.Done():
	case <-atLine:
		endedAtLine = true
		e.stop(gc, line)
	case <-ctx.Done():
		stopErr = fmt.Errorf("%s: %w", line, ctxErr(ctx))
	case <-timeout:
		stopErr = fmt.Errorf("%s: %w after %s", line, ErrTimeout, c.Timeout)
	}
	if stopErr != nil {
		e.stop(gc, line)
	}

	// Done is closed after exec.Cmd.Wait returned, i.e. after the copying
	// goroutines finished writing into the captures.
	st := gc.Status()
	res := Result{ExitCode: st.Exit, Duration: time.Since(start)}
	res.Stdout, res.StdoutCut = stdout.result(e.secrets)
	res.Stderr, res.StderrCut = stderr.result(e.secrets)
	switch {
	case endedAtLine:
		res.ExitCode, res.EndedAtLine = -1, true
		return res, queued, nil
	case stopErr != nil:
		res.ExitCode = -1
		return res, queued, stopErr
	case st.PID == 0 && st.Error != nil:
		return res, queued, fmt.Errorf("start %s: %w", line, st.Error)
	case st.Error != nil: // killed by a signal from elsewhere, or WaitDelay expired
		return res, queued, fmt.Errorf("%s: %w%s", line, st.Error, suffix(e.errStderr(res.Stderr)))
	case st.Exit != 0:
		return res, queued, &ExitError{Line: line, ExitCode: st.Exit, Stderr: e.errStderr(res.Stderr)}
	case c.KeepTail <= 0 && res.StdoutCut > 0:
		return res, queued, fmt.Errorf("%s: stdout is over its limit of %d bytes (%s printed): %w",
			line, keepOut, byteSize(stdout.total), ErrOutputTooLarge)
	}
	return res, queued, nil
}

// stop ends the command's whole process tree: SIGTERM, then SIGKILL every
// KillGrace until go-cmd reports the command done (repeating covers a command
// that was still starting at the first try), then the same for members that
// left the command's process group and outlived it. Members are signalled
// before the group so that the walk finds them (see procTree).
func (e *Exec) stop(gc *gocmd.Cmd, line string) {
	tree := newProcTree(e.proc)
	tree.refresh(startedPID(gc, 10*e.grace))
	tree.signal(syscall.SIGTERM)
	_ = gc.Stop() // SIGTERM to the group; marks the command stopped even while starting
	t := time.NewTimer(e.grace)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-gc.Done():
			done = true
		case <-t.C:
			pid := gc.Status().PID
			tree.refresh(pid)
			tree.signal(syscall.SIGKILL)
			if pid > 0 {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
			t.Reset(e.grace)
		}
	}
	if tree.waitGone(e.grace) {
		return
	}
	tree.signal(syscall.SIGKILL)
	if !tree.waitGone(e.grace) {
		e.log.Warn("processes of a stopped command survived SIGKILL", "cmd", line, "pids", tree.pids())
	}
}

// startedPID is the command's pid once go-cmd has recorded it, 0 when the command ended or
// never started first or wait passed. go-cmd records the pid some time after the process
// started; a stop that walked the tree in between would find nothing, and go-cmd's own
// SIGTERM to the group once it records the pid would end the command's process while what
// left its group lives on, re-parented where no walk finds it.
func startedPID(gc *gocmd.Cmd, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		if pid := gc.Status().PID; pid > 0 {
			return pid
		}
		select {
		case <-gc.Done():
			return 0
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0
		}
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
