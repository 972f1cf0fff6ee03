package bashexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds; the bound only stops a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProcessSlotWait(t *testing.T) {
	errGone := errors.New("client went away")
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want []error
	}{
		{name: "cancel while waiting", want: []error{context.Canceled, errGone}, ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(50*time.Millisecond, func() { cancel(errGone) })
			return ctx, func() { cancel(nil) }
		}},
		{name: "deadline while waiting", want: []error{context.DeadlineExceeded}, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTestExec(Options{MaxProcs: 2, KillGrace: 100 * time.Millisecond})
			holdCtx, release := context.WithCancel(context.Background())
			var holders sync.WaitGroup
			for range 2 {
				holders.Go(func() { _, _ = e.Run(holdCtx, Command{Args: []string{"sleep", "30"}}) })
			}
			defer holders.Wait()
			defer release()
			waitFor(t, "both slots taken", func() bool { n, _ := e.Running(); return n == 2 })

			marker := filepath.Join(t.TempDir(), "ran")
			ctx, cancel := tt.ctx()
			defer cancel()
			res, err := e.Run(ctx, Command{Args: []string{"touch", marker}})
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("error = %v, want it to wrap %v", err, want)
				}
			}
			if err == nil || !strings.Contains(err.Error(), "touch "+marker+": not started: waited ") ||
				!strings.Contains(err.Error(), " for a process slot (all 2 in use)") {
				t.Errorf("error = %v, want it to say it waited for a process slot", err)
			}
			if res.ExitCode != -1 {
				t.Errorf("ExitCode = %d, want -1", res.ExitCode)
			}
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Errorf("the command ran although no slot was free (stat: %v)", err)
			}

			release()
			holders.Wait()
			if n, limit := e.Running(); n != 0 || limit != 2 {
				t.Errorf("Running() = %d, %d after the holders ended; want 0, 2", n, limit)
			}
			if _, err := e.Run(context.Background(), Command{Args: []string{"touch", marker}}); err != nil {
				t.Errorf("after the slots were freed: %v", err)
			}
		})
	}
}

// TestProcessLimit runs more commands than slots at once; each counts the
// commands running beside it through a file that exists only while it runs.
func TestProcessLimit(t *testing.T) {
	const limit, commands = 3, 12
	e, _ := newTestExec(Options{MaxProcs: limit})
	dir := t.TempDir()
	script := `touch "$1/$$"; sleep 0.2; ls "$1" | wc -l; rm "$1/$$"`
	counts := make([]int, commands)
	var wg sync.WaitGroup
	for i := range commands {
		wg.Go(func() {
			res, err := e.Run(context.Background(), Command{Args: []string{"sh", "-c", script, "sh", dir}})
			if err != nil {
				t.Error(err)
				return
			}
			counts[i], _ = strconv.Atoi(strings.TrimSpace(res.Stdout))
		})
	}
	wg.Wait()
	for i, n := range counts {
		if n < 1 || n > limit {
			t.Errorf("command %d saw %d running, want 1..%d", i, n, limit)
		}
	}
}

// TestSlotsReleased: a command that could not start, failed or was stopped gives its slot back.
func TestSlotsReleased(t *testing.T) {
	e, _ := newTestExec(Options{MaxProcs: 1, KillGrace: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	runs := []struct {
		ctx context.Context
		cmd Command
	}{
		{context.Background(), Command{Args: []string{"no-such-program-bashexec"}}},
		{context.Background(), Command{Args: []string{"sh", "-c", "exit 2"}}},
		{context.Background(), Command{Args: []string{"sleep", "30"}, Timeout: 100 * time.Millisecond}},
		{ctx, Command{Args: []string{"sleep", "30"}}},
		{context.Background(), Command{Args: []string{"sh", "-c", printScript(20<<20, 1)}}}, // too much output
	}
	for i, r := range runs {
		if _, err := e.Run(r.ctx, r.cmd); err == nil {
			t.Errorf("run %d (%v): want an error", i, r.cmd.Args)
		}
		if n, _ := e.Running(); n != 0 {
			t.Fatalf("after run %d (%v): %d slots still taken", i, r.cmd.Args, n)
		}
	}
	bounded, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if _, err := e.Run(bounded, Command{Args: []string{"true"}}); err != nil {
		t.Errorf("the only slot was not given back: %v", err)
	}
}

func TestDefaultMaxProcs(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, limit := New(Options{MaxProcs: n}).Running(); limit != DefaultMaxProcs {
			t.Errorf("MaxProcs %d: limit %d, want %d", n, limit, DefaultMaxProcs)
		}
	}
}

// TestDryRunTakesNoSlot: a command only logged starts no process, so it never waits for a slot.
func TestDryRunTakesNoSlot(t *testing.T) {
	e, _ := newTestExec(Options{MaxProcs: 1, DryRun: true, KillGrace: 100 * time.Millisecond})
	holdCtx, release := context.WithCancel(context.Background())
	var holder sync.WaitGroup
	holder.Go(func() { _, _ = e.Run(holdCtx, Command{Args: []string{"sleep", "30"}, ReadOnly: true}) })
	defer holder.Wait()
	defer release()
	waitFor(t, "the slot taken", func() bool { n, _ := e.Running(); return n == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res, err := e.Run(ctx, Command{Args: []string{"docker", "service", "rm", "x"}}); err != nil || !res.DryRun {
		t.Errorf("dry-run with no free slot: %+v, %v; want DryRun and no error", res, err)
	}
}
