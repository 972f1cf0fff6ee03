package cleannode

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/helper"
)

// pruneScript, run by sh with a docker and a timeout on PATH that only record their argv:
// the helper-container reap runs exactly where clean-node asks for it (engines before 24).
func TestPruneScriptReapsHelperContainersOnlyWhenAsked(t *testing.T) {
	steps := []pruneStep{{"container", 30 * time.Second}, {"image", 60 * time.Second}}
	reap := "docker container prune -f --filter label=swarm-utils.helper=true --filter until=1m"
	for _, c := range []struct {
		name  string
		reap  bool
		want  []string
		wantA []string
	}{
		{"engine before 24", true, []string{
			"timeout 30 docker container prune -f --filter label!=swarm-utils.helper=true",
			"docker container prune -f --filter label!=swarm-utils.helper=true",
			reap,
			"timeout 60 docker image prune -a -f",
			"docker image prune -a -f",
		}, []string{"container:30:reap", "image:60"}},
		{"current engine", false, []string{
			"timeout 30 docker container prune -f --filter label!=swarm-utils.helper=true",
			"docker container prune -f --filter label!=swarm-utils.helper=true",
			"timeout 60 docker image prune -a -f",
			"docker image prune -a -f",
		}, []string{"container:30", "image:60"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := pruneArgs(steps, c.reap)
			if !slices.Equal(args, c.wantA) {
				t.Fatalf("pruneArgs = %q, want %q", args, c.wantA)
			}
			dir := t.TempDir()
			calls := filepath.Join(dir, "calls")
			for name, body := range map[string]string{
				"docker":  `echo "docker $*" >>"$CALLS"; echo "Total reclaimed space: 0B"`,
				"timeout": `echo "timeout $*" >>"$CALLS"; shift; exec "$@"`,
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			marker := helper.NewMarker()
			cmd := exec.Command("sh", append([]string{"-c", pruneScript, "sh", marker}, args...)...)
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "CALLS="+calls)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pruneScript: %v\n%s", err, out)
			}
			parts, done := helper.ParseMarked(string(out), marker)
			if !done || len(parts) != 2 || parts[0].ExitCode != 0 || parts[1].ExitCode != 0 {
				t.Fatalf("parts %+v done=%v\n%s", parts, done, out)
			}
			got, err := os.ReadFile(calls)
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); !slices.Equal(lines, c.want) {
				t.Errorf("docker calls\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
