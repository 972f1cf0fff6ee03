package backup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The uploader's script runs `backup` and prints its done line only when it exited 0; a stop
// sent to the script reaches `backup`, and the script exits with backup's exit code.
func TestUploadScriptRunsBackup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		backup string // the fake backup's body
		stop   bool   // SIGTERM the script once backup runs
		exit   int
		done   bool
	}{
		{name: "uploaded", backup: `echo "Uploaded a copy of backup"; exit 0`, exit: 0, done: true},
		{name: "failed", backup: `echo "upload failed" >&2; exit 1`, exit: 1},
		{name: "stopped", backup: `trap 'echo "backup got TERM"; exit 7' TERM; touch "$READY"; while :; do sleep 0.05; done`, stop: true, exit: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "backup"), []byte("#!/bin/sh\n"+tc.backup+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			ready := filepath.Join(dir, "ready")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", uploadScript, "sh", "@@m")
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "READY="+ready)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.WaitDelay = 2 * time.Second // a backup the stop missed keeps the pipes open
			t.Cleanup(func() { _ = exec.Command("pkill", "-f", "-TERM", filepath.Join(dir, "backup")).Run() })
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				for _, err := os.Stat(ready); err != nil; _, err = os.Stat(ready) {
					if ctx.Err() != nil {
						t.Fatal("backup never started")
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			_ = cmd.Wait()
			if got := cmd.ProcessState.ExitCode(); got != tc.exit {
				t.Errorf("exit code %d, want %d; output %q", got, tc.exit, out.String())
			}
			if got := strings.Contains(out.String(), "\n@@m done\n"); got != tc.done {
				t.Errorf("done line printed: %v, want %v; output %q", got, tc.done, out.String())
			}
			if tc.stop && !strings.Contains(out.String(), "backup got TERM") {
				t.Errorf("the stop did not reach backup: %q", out.String())
			}
		})
	}
}
