package helper_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// fakeDocker answers `docker info` with node n1 (this node: steps run directly) and runs
// `docker exec CONTAINER …` as the container's name says: "big" prints 200 kB then exits 3,
// "sleep" records its PID in $PIDFILE and sleeps, anything else prints "ok CONTAINER".
const fakeDocker = `#!/bin/sh
case $1 in
info) echo n1 ;;
exec)
  case $2 in
  big) head -c 200000 /dev/zero | tr '\0' x; echo; exit 3 ;;
  sleep) echo $$ >"$PIDFILE"; exec sleep 1000 ;;
  *) echo "ok $2" ;;
  esac ;;
*) echo "unexpected docker $*" >&2; exit 1 ;;
esac
`

// directEngine is the engine over the real docker CLI layer and bashexec, with the fake docker
// first on PATH: the Direct path end to end (sh, timeout(1), the fake docker's processes).
func directEngine(t *testing.T) (*helper.Engine, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(fakeDocker), 0o755); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	// os/exec finds the program on this process's PATH, the script's commands on the env's.
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv("PIDFILE", pidFile)
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	secrets := bashexec.NewSecrets()
	x := bashexec.New(bashexec.Options{Logger: log, Secrets: secrets, KillGrace: 200 * time.Millisecond})
	return &helper.Engine{Swarm: &swarm.CLI{Runner: x}, Secrets: secrets, Log: log, PollInterval: time.Millisecond}, pidFile
}

func tasks(containers ...string) []swarm.RunningTask {
	var ts []swarm.RunningTask
	for i, c := range containers {
		ts = append(ts, swarm.RunningTask{ID: "t" + c, NodeID: "n1", Node: "manager", ContainerID: c, Slot: i + 1})
	}
	return ts
}

// Only the tail of a direct step's output is kept: the first task printed 200 kB, so the markers
// of the tasks before and its own begin marker are gone, yet every task reports its exit code.
func TestExecInTasksDirectOutputCut(t *testing.T) {
	e, _ := directEngine(t)
	steps := e.ExecInTasks(context.Background(), helper.Exec{Action: "clean-service", LockKey: "service:web", Target: "web", Step: "exec",
		Shell: "sh", Command: "clean", Timeout: 30 * time.Second}, tasks("c0", "big", "c2"))
	if len(steps) != 1 || len(steps[0].Tasks) != 3 {
		t.Fatalf("steps %+v", steps)
	}
	total := 0
	for i, want := range []struct {
		state string
		exit  int
		logs  string
	}{
		{"complete", 0, "[… output cut …]"},
		{"failed", 3, "[… "},
		{"complete", 0, "ok c2"},
	} {
		got := steps[0].Tasks[i]
		total += len(got.Logs)
		if got.State != want.state || got.ExitCode != want.exit || !strings.HasPrefix(got.Logs, want.logs) {
			t.Errorf("task %d: %s exit %d logs %.40q…, want %s exit %d logs %q…", i, got.State, got.ExitCode, got.Logs, want.state, want.exit, want.logs)
		}
	}
	if total > bashexec.TaskOutputTail+100 {
		t.Errorf("task logs hold %d bytes, want at most the kept tail (%d)", total, bashexec.TaskOutputTail)
	}
	if steps[0].OK || !strings.Contains(steps[0].Error, "1 of 3 tasks") {
		t.Errorf("step %+v", steps[0])
	}
}

// Cancelling a direct step ends its whole process tree — sh, timeout(1) in its own process
// group, the docker it runs — and the step says why: the cancel's cause.
func TestExecInTasksDirectCancelEndsTheTree(t *testing.T) {
	e, pidFile := directEngine(t)
	cause := errors.New("server shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan []operation.Step)
	go func() {
		done <- e.ExecInTasks(ctx, helper.Exec{Action: "clean-service", LockKey: "service:web", Target: "web", Step: "exec",
			Shell: "sh", Command: "clean", Timeout: 30 * time.Second}, tasks("sleep"))
	}()
	var pid int
	for pid == 0 { // wait until the fake docker runs
		select {
		case steps := <-done:
			t.Fatalf("ended before the command ran: %+v", steps)
		case <-time.After(5 * time.Millisecond):
		}
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	cancel(cause)
	steps := <-done
	if !processGone(pid) {
		t.Errorf("docker exec (pid %d) still runs after the cancel", pid)
	}
	if len(steps) != 1 || steps[0].OK || !strings.Contains(steps[0].Error, "server shutting down") {
		t.Errorf("step %+v, want failed with the cancel's cause", steps)
	}
	if task := steps[0].Tasks[0]; task.State == "complete" || !strings.Contains(task.Error, "server shutting down") {
		t.Errorf("task %+v", task)
	}
}

// processGone: pid is absent, or a zombie nobody reaped (dead too).
func processGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}
