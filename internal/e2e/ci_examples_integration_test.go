//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
)

// curlImage is the image the CI examples run; the bed has no Docker Hub, so a stand-in with the
// host's curl, running as curlimages/curl's non-root user (100:101), takes its name on the manager.
const curlImage = "curlimages/curl:8.10.1"

// ensureCurlImage imports the stand-in on the manager unless an image of that name is there.
func ensureCurlImage(t *testing.T, tb testbed.Bed) {
	t.Helper()
	if _, _, err := docker(tb, nil, "", "image", "inspect", curlImage); err == nil {
		return
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl on the host to build the curl image from")
	}
	root := t.TempDir()
	files := []string{curl}
	out, err := exec.Command("ldd", curl).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", curl, err)
	}
	files = append(files, regexp.MustCompile(`(/\S+)`).FindAllString(string(out), -1)...)
	for _, f := range files {
		dst := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command("cp", "-L", f, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v: %s", f, err, b)
		}
	}
	for name, body := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/false\ncurl_user:x:100:101:curl:/home/curl_user:/bin/false\n",
		"etc/group":  "root:x:0:\ncurl_group:x:101:\n",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarball, err := exec.Command("tar", "-C", root, "-c", ".").Output()
	if err != nil {
		t.Fatalf("tar: %v", err)
	}
	if _, e, err := docker(tb, nil, string(tarball), "import", "--change", "USER 100:101", "--change", `ENTRYPOINT ["`+curl+`"]`,
		"-", curlImage); err != nil {
		t.Fatalf("import %s: %v: %s", curlImage, err, e)
	}
	t.Cleanup(func() { _, _, _ = docker(tb, nil, "", "image", "rm", curlImage) })
}

// exampleCall is the shell an example's deploy job runs, read from the YAML as the CI reads it.
func exampleCall(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Jobs map[string]struct {
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
		Deploy struct {
			Script []string `yaml:"script"`
		} `yaml:"deploy"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if s := doc.Deploy.Script; len(s) > 0 { // GitLab: each entry a line of one shell
		return strings.Join(s, "\n")
	}
	for _, st := range doc.Jobs["deploy"].Steps { // GitHub Actions: the step's run, under bash -e
		if strings.Contains(st.Run, "/api/update/service") {
			return st.Run
		}
	}
	t.Fatalf("%s: no deploy call", file)
	return ""
}

// runExample runs an example's call lines with bash, as the runner would, against the manager.
func runExample(tb testbed.Bed, script, dir string, env ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DOCKER_HOST=" + tb.ManagerHost}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// testCIExamples runs the call lines of examples/github-actions.yml and examples/gitlab-ci.yml
// from the non-root curl container on the overlay network: an update that works passes the job,
// one that fails (a crashing image) fails it with the reason in the log.
func testCIExamples(t *testing.T, tb testbed.Bed, repo, token string) {
	ensureCurlImage(t, tb)
	name := "it-e2e-ci-" + randHex(t, 4)
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--update-monitor", "2s", "--update-failure-action", "pause",
		"--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.registry.auth=true",
		"--label", "swarm-utils.update.registry.user="+tb.RegistryUser, "--label", "swarm-utils.update.registry.password="+tb.RegistryPassword,
		"--label", "swarm-utils.update.registry.url="+tb.Registry,
		tb.WorkloadImage)
	images := []string{tb.WorkloadImage2, tb.WorkloadImage}
	for i, example := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		t.Run(example, func(t *testing.T) {
			script := exampleCall(t, filepath.Join(repo, "examples", example))
			env := []string{"SWARM_UTILS_TOKEN=" + token, "SERVICE=" + name}
			dir := t.TempDir()
			out, err := runExample(tb, script, dir, append(env, "IMAGE="+images[i])...)
			t.Logf("successful update, job output:\n%s", out)
			if err != nil {
				t.Fatalf("the job failed: %v", err)
			}
			if strings.Contains(out, token) {
				t.Errorf("the token is in the job's output")
			}
			var res operation.Result
			if err := json.Unmarshal([]byte(lastJSON(out)), &res); err != nil || !res.OK {
				t.Fatalf("answer %q (%v), want an OK result", out, err)
			}
			if got := fmt.Sprint(res.Steps[len(res.Steps)-1].Details["change"]); got != "updated" {
				t.Errorf("change %q, want updated", got)
			}
			out, err = runExample(tb, script, dir, append(env, "IMAGE="+tb.CrashImage)...)
			t.Logf("failing update, job output:\n%s", out)
			if err == nil {
				t.Fatalf("the job passed though the update failed")
			}
			if !strings.Contains(out, "paused") || !strings.Contains(out, "non-zero exit (3)") {
				t.Errorf("the job's log does not say why: %s", out)
			}
		})
	}
}

// lastJSON is the last line of out that starts with '{' (curl prints the answer without a
// trailing newline, tee copies it).
func lastJSON(out string) string {
	i := strings.LastIndex(out, `{"operation"`)
	if i < 0 {
		return out
	}
	return out[i:]
}
