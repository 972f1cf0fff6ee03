package cleannode

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/helper"
)

// pruneScript, run by sh with a docker and a timeout on PATH that only record their argv:
// the helper-container reap runs exactly where clean-node asks for it (engines before 24).
func TestPruneScriptReapsHelperContainersOnlyWhenAsked(t *testing.T) {
	steps := []pruneStep{{Name: "container", Timeout: 30 * time.Second}, {Name: "image", Timeout: 60 * time.Second, Option: "rm"}}
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
			"timeout 60 docker image rm -- app:1 sha256:0123 x y;echo z",
			"docker image rm -- app:1 sha256:0123 x y;echo z",
		}, []string{"container:30:reap", "image:60:rm", "--", "app:1", "sha256:0123", "x y;echo z"}},
		{"current engine", false, []string{
			"timeout 30 docker container prune -f --filter label!=swarm-utils.helper=true",
			"docker container prune -f --filter label!=swarm-utils.helper=true",
			"timeout 60 docker image rm -- app:1 sha256:0123 x y;echo z",
			"docker image rm -- app:1 sha256:0123 x y;echo z",
		}, []string{"container:30", "image:60:rm", "--", "app:1", "sha256:0123", "x y;echo z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The last reference shows that input stays one word, never shell text.
			args := pruneArgs(steps, c.reap, []string{"app:1", "sha256:0123", "x y;echo z"})
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

// Only the tail of a helper's output is kept (bashexec.TaskOutputTail): a container prune that
// printed 200 kB takes its own begin marker with it, yet every step reports its exit code —
// from its end marker or the script's summary — and none is reported as "did not run".
func TestPruneScriptOutputCut(t *testing.T) {
	dir := t.TempDir()
	docker := `case "$*" in *"container prune"*) head -c 200000 /dev/zero | tr '\0' x; echo; exit 0 ;; *"image rm"*) exit 2 ;; esac; echo "Total reclaimed space: 1B"`
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+docker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	marker := helper.NewMarker()
	steps := []pruneStep{{Name: "container", Timeout: 30 * time.Second}, {Name: "image", Timeout: 30 * time.Second, Option: "rm"}, {Name: "builder", Timeout: 30 * time.Second}}
	cmd := exec.Command("sh", append([]string{"-c", pruneScript, "sh", marker}, pruneArgs(steps, false, []string{"app:1"})...)...)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pruneScript: %v\n%s", err, out)
	}
	tail := "[… cut …]\n" + string(out[len(out)-bashexec.TaskOutputTail:])
	if strings.Contains(tail, marker+" begin container") {
		t.Fatal("the container step's begin marker is in the kept tail: nothing was cut")
	}
	parts, done := helper.ParseMarked(tail, marker)
	got := helper.WithCut(parts, []string{"container", "image", "builder"})
	for name, code := range map[string]int{"container": 0, "image": 2, "builder": 0} {
		if p := got[name]; !done || !p.Ended || p.ExitCode != code {
			t.Errorf("%s: %+v (done %v), want ended with exit code %d", name, p, done, code)
		}
	}
}

// The image step runs without --force: docker refusing an image a container started to use
// since the listing (a conflict) or one already gone is no failure; any other error is.
func TestPruneScriptImageRemovalToleratesImagesInUse(t *testing.T) {
	for _, c := range []struct {
		name, output string
		exit, want   int
	}{
		{"removed", "Untagged: app:1\nDeleted: sha256:aa", 0, 0},
		{"in use", "Untagged: app:1\nError response from daemon: conflict: unable to remove repository reference \"app:2\" (must force) - container 1 is using its referenced image 2", 1, 0},
		{"gone meanwhile", "Error response from daemon: No such image: app:3", 1, 0},
		{"daemon error", "Error response from daemon: conflict: x\nError response from daemon: i/o error", 1, 1},
		{"timed out", "", 124, 124},
		{"nothing to remove", "", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			docker := "printf '" + c.output + "\\n'; exit " + strconv.Itoa(c.exit)
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+docker+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			refs := []string{"app:1", "app:2", "app:3"}
			if c.name == "nothing to remove" {
				refs = nil
			}
			marker := helper.NewMarker()
			args := pruneArgs([]pruneStep{{Name: "image", Timeout: 30 * time.Second, Option: "rm"}}, false, refs)
			cmd := exec.Command("sh", append([]string{"-c", pruneScript, "sh", marker}, args...)...)
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pruneScript: %v\n%s", err, out)
			}
			parts, done := helper.ParseMarked(string(out), marker)
			if !done || len(parts) != 1 || parts[0].ExitCode != c.want {
				t.Errorf("parts %+v done=%v, want exit code %d\n%s", parts, done, c.want, out)
			}
		})
	}
}

// Without a keep-list or rollback targets the image step stays docker's prune, with its until
// filter when asked.
func TestPruneScriptImagePrune(t *testing.T) {
	for _, c := range []struct {
		option, want string
	}{
		{"", "docker image prune -a -f"},
		{"until=86400s", "docker image prune -a -f --filter until=86400s"},
	} {
		dir := t.TempDir()
		calls := filepath.Join(dir, "calls")
		if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\necho \"docker $*\" >>\"$CALLS\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		args := pruneArgs([]pruneStep{{Name: "image", Timeout: 30 * time.Second, Option: c.option}, {Name: "df-after", Timeout: 5 * time.Second}}, false, nil)
		cmd := exec.Command("sh", append([]string{"-c", pruneScript, "sh", helper.NewMarker()}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "CALLS="+calls)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pruneScript: %v\n%s", err, out)
		}
		got, _ := os.ReadFile(calls)
		if want := c.want + "\ndocker system df --format {{json .}}\n"; string(got) != want {
			t.Errorf("option %q: docker calls\n%s\nwant\n%s", c.option, got, want)
		}
	}
}

// A disk usage or prune that met another one, or a container going away as docker listed
// them, is tried again; any other failure is the step's.
func TestPruneScriptRetriesRaces(t *testing.T) {
	for _, c := range []struct {
		name  string
		first string // the first docker call's error
		calls int
		rc    string
	}{
		{"another disk usage", "Error response from daemon: a disk usage operation is already running", 2, "0"},
		{"a container going away", "Error response from daemon: failed to retrieve container list: rw layer snapshot not found for container 4354", 2, "0"},
		{"no such container", "Error response from daemon: No such container: 4354", 2, "0"},
		{"another failure", "Error response from daemon: permission denied", 1, "1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			calls := filepath.Join(dir, "calls")
			body := `echo x >>"$CALLS"; [ "$(wc -l <"$CALLS")" -gt 1 ] && { echo '{"Type":"Images","Size":"1B"}'; exit 0; }; echo "$FIRST" >&2; exit 1`
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			marker := helper.NewMarker()
			cmd := exec.Command("sh", "-c", pruneScript, "sh", marker, "df-before:10", "--")
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "CALLS="+calls, "FIRST="+c.first)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pruneScript: %v\n%s", err, out)
			}
			b, _ := os.ReadFile(calls)
			if n := strings.Count(string(b), "x"); n != c.calls || !strings.Contains(string(out), marker+" end df-before "+c.rc+"\n") {
				t.Errorf("docker called %d times, want %d; output:\n%s", n, c.calls, out)
			}
		})
	}
}
