package bashexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeProc writes a /proc with the given processes; withChildren adds
// task/<pid>/children files (kernels with CONFIG_PROC_CHILDREN).
func fakeProc(t *testing.T, withChildren bool, procs ...proc) procFS {
	t.Helper()
	root := t.TempDir()
	kids := map[int][]string{}
	for _, p := range procs {
		kids[p.ppid] = append(kids[p.ppid], strconv.Itoa(p.pid))
	}
	for _, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(p.pid))
		if err := os.MkdirAll(filepath.Join(dir, "task", strconv.Itoa(p.pid)), 0o755); err != nil {
			t.Fatal(err)
		}
		state := "S"
		if p.dead {
			state = "Z"
		}
		// A command name with spaces and parentheses, as a process may choose.
		stat := fmt.Sprintf("%d (a) b (c) %s %d %d 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", p.pid, state, p.ppid, p.pgid, p.start)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if withChildren {
			children := strings.Join(kids[p.pid], " ")
			if err := os.WriteFile(filepath.Join(dir, "task", strconv.Itoa(p.pid), "children"), []byte(children), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return procFS{root: root}
}

func TestDescendants(t *testing.T) {
	procs := []proc{
		{pid: 100, ppid: 1, pgid: 100, start: 5},   // the command (sh)
		{pid: 101, ppid: 100, pgid: 101, start: 6}, // timeout: a group of its own
		{pid: 102, ppid: 101, pgid: 101, start: 7}, // docker exec
		{pid: 103, ppid: 102, pgid: 103, start: 8}, // its child in yet another group
		{pid: 104, ppid: 100, pgid: 100, start: 9, dead: true},
		{pid: 105, ppid: 100, pgid: 100, start: 10},
		{pid: 200, ppid: 1, pgid: 200, start: 3}, // unrelated
		{pid: 201, ppid: 200, pgid: 200, start: 4},
	}
	want := []proc{procs[1], procs[2], procs[3], procs[5]}
	for _, withChildren := range []bool{true, false} {
		t.Run(fmt.Sprintf("children files %v", withChildren), func(t *testing.T) {
			fs := fakeProc(t, withChildren, procs...)
			got := fs.descendants(100)
			slices.SortFunc(got, func(a, b proc) int { return a.pid - b.pid })
			if !slices.Equal(got, want) {
				t.Errorf("descendants(100) = %+v\nwant %+v", got, want)
			}
			if d := fs.descendants(103); len(d) != 0 {
				t.Errorf("descendants of a leaf = %+v, want none", d)
			}
		})
	}

	t.Run("alive tells a reused pid apart", func(t *testing.T) {
		fs := fakeProc(t, false, procs...)
		if !fs.alive(procs[1]) || fs.alive(proc{pid: 101, start: 99}) || fs.alive(procs[4]) || fs.alive(proc{pid: 999}) {
			t.Error("alive: want true only for a running process with the same start time")
		}
	})
}

// sleepsOf lists the live processes below us whose argv is exactly sleep <arg>.
func sleepsOf(arg string) []proc {
	want := []byte("sleep\x00" + arg + "\x00")
	var out []proc
	for _, p := range sysProc.descendants(os.Getpid()) {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/cmdline"); err == nil && bytes.Equal(b, want) {
			out = append(out, p)
		}
	}
	return out
}

// TestStopEndsTree stops commands whose descendants left the command's process
// group — GNU timeout makes a group of its own, setsid a session — and checks
// that Run returns the real cause only after every one of them ended.
func TestStopEndsTree(t *testing.T) {
	errShutdown := errors.New("shutting down")
	tests := []struct {
		name    string
		script  string // runs sleep <arg>; each case its own arg to tell its sleeps apart
		timeout time.Duration
		cancel  bool // cancel ctx with errShutdown once the sleep runs, else let timeout elapse
		want    []error
	}{
		{name: "timeout in its own group, cancelled", script: "timeout 60 sleep 61", cancel: true, want: []error{context.Canceled, errShutdown}},
		{name: "timeout in its own group, step timeout", script: "timeout 60 sleep 62", timeout: 2 * time.Second, want: []error{ErrTimeout}},
		// The inner sh and its sleep ignore SIGTERM and timeout only forwards it: SIGKILL must reach them.
		{name: "TERM ignored outside the group", script: `timeout 60 sh -c 'trap "" TERM; sleep 63; :'`, cancel: true, want: []error{context.Canceled}},
		{name: "new session", script: "setsid sleep 64 & wait", cancel: true, want: []error{context.Canceled}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arg := strconv.Itoa(61 + i)
			e, _ := newTestExec(Options{KillGrace: 200 * time.Millisecond})
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)

			type outcome struct {
				res Result
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := e.Run(ctx, Command{Args: []string{"sh", "-c", tt.script}, Timeout: tt.timeout})
				done <- outcome{res, err}
			}()
			// Remember every sleep seen (by pid and start time) until Run returns.
			seen := map[int]proc{}
			var out outcome
		watch:
			for {
				for _, p := range sleepsOf(arg) {
					seen[p.pid] = p
				}
				if len(seen) > 0 && tt.cancel {
					cancel(errShutdown)
				}
				select {
				case out = <-done:
					break watch
				case <-time.After(5 * time.Millisecond):
				}
			}
			if len(seen) == 0 {
				t.Fatalf("never saw sleep %s running (error %v)", arg, out.err)
			}
			for _, want := range tt.want {
				if !errors.Is(out.err, want) {
					t.Errorf("error = %v, want it to wrap %v", out.err, want)
				}
			}
			if tt.cancel && errors.Is(out.err, ErrTimeout) {
				t.Errorf("error = %v: a cancel is not a timeout", out.err)
			}
			for _, p := range seen {
				if sysProc.alive(p) {
					t.Errorf("sleep %s (pid %d) survived Run", arg, p.pid)
					_ = syscall.Kill(p.pid, syscall.SIGKILL) // not left for later tests
				}
			}
			if out.res.ExitCode != -1 {
				t.Errorf("ExitCode = %d, want -1", out.res.ExitCode)
			}
		})
	}
}
