//go:build integration

package api

import (
	"encoding/json"
	"errors"
	"github.com/swarm-utils/swarm-utils/operation"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// hostileValues are names and image references a caller might send to break out of argv or
// confuse the lookup. Each must be rejected (400) or treated as data (404), never run.
func hostileValues(pwned string) []string {
	return []string{
		"app; rm -rf /", "app && touch " + pwned, "app | touch " + pwned, "app>" + pwned, "$(touch " + pwned + ")",
		"`touch " + pwned + "`", "${IFS}touch${IFS}" + pwned, `a'b"c`, `app\`, "--help", "-f", "--all", "-",
		"app\nx", "app\rx", "app\x00x", "app\tx", "приложение", "app🙂", "\u202eppa", strings.Repeat("a", 300) + "!",
		"../../etc/passwd", "app*", "*", "?", "app ", " app", "label=swarm-utils.helper=true", "%s%n%x", "{{.ID}}",
	}
}

// TestAPIHostileNamesAndImagesOnTheCluster: shell metacharacters, quotes, flags, control
// characters, unicode and overlong values in serviceName, nodeName, image and token are
// rejected or not found, never a 5xx, and nothing they spell runs.
func TestAPIHostileNamesAndImagesOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, "127.0.0.1:0")
	pwned := "/tmp/pwned-" + id
	target := "it-hostile-" + id + "-upd"
	tb.Service(t, target, "--label", "swarm-utils.update.enable=true", tb.WorkloadImage)
	imageBefore := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.Version.Index}}", target)

	rejectedOrNotFound := func(what string, r reply, also ...int) {
		t.Helper()
		var body struct {
			OK        bool   `json:"ok"`
			ErrorKind string `json:"errorKind"`
		}
		err := json.Unmarshal([]byte(r.body), &body)
		ok := r.status == http.StatusBadRequest || r.status == http.StatusNotFound
		for _, s := range also {
			ok = ok || r.status == s
		}
		if !ok || err != nil || body.OK {
			t.Errorf("%s: %d, want 400 or 404 (or %v), JSON with ok=false:\n%s", what, r.status, also, r.body)
		}
	}
	for _, v := range hostileValues(pwned) {
		q := jsonBody(map[string]any{"serviceName": v})
		rejectedOrNotFound("clean-service "+q, a.call(t, "POST", "/api/clean/service", itAdmin, q))
		rejectedOrNotFound("backup-service "+q, a.call(t, "POST", "/api/backup/service", itAdmin, q))
		q = jsonBody(map[string]any{"serviceName": v, "image": tb.WorkloadImage})
		rejectedOrNotFound("update-service "+q, a.call(t, "POST", "/api/update/service", itAdmin, q))
		q = jsonBody(map[string]any{"nodeName": v})
		rejectedOrNotFound("clean-node "+q, a.call(t, "POST", "/api/clean/node", itAdmin, q))
		// As an image of a service that may be updated, by an admin (who may deploy any image):
		// only the reference's syntax stands between the value and docker.
		q = jsonBody(map[string]any{"serviceName": target, "image": v})
		r := a.call(t, "POST", "/api/update/service", itAdmin, q)
		if r.status != http.StatusBadRequest {
			t.Errorf("update-service image %.40q: %d, want 400:\n%.600s", v, r.status, r.body)
		}
		q = jsonBody(map[string]any{"serviceName": target, "token": v})
		rejectedOrNotFound("token "+q, a.call(t, "POST", "/api/clean/service", "", q), http.StatusUnauthorized)
	}
	// Values made of allowed characters that are still no image reference: docker refuses them,
	// so the request must be refused first (400), not reported as a docker failure (502).
	t.Run("image references docker refuses", func(t *testing.T) {
		for _, v := range []string{strings.Repeat("a", 300), "Upper/Case:1", "a..b", "a//b", "a:b:c", "a@sha256:1"} {
			r := a.call(t, "POST", "/api/update/service", itAdmin, jsonBody(map[string]any{"serviceName": target, "image": v}))
			if r.status != http.StatusBadRequest {
				t.Errorf("update-service image %.40q: %d, want 400: %.300s", v, r.status, r.obj(t)["error"])
			}
		}
	})
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists: a hostile value ran as a command (%v)", pwned, err)
		_ = os.Remove(pwned)
	}
	if after := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.Version.Index}}", target); after != imageBefore {
		t.Errorf("the service changed under hostile images: %s -> %s", strings.TrimSpace(imageBefore), strings.TrimSpace(after))
	}
	assertNoHelpersFor(t, tb, id)
}

// labelCommand is a clean.exec label that would create marker in whatever shell re-parsed it
// (quotes closed early, command substitution), and prints where it was expanded.
// volume is what a would-be injection run in a helper (which has the node's docker CLI and
// socket) would leave behind: a volume on that node, visible after the helper and its container
// are gone (a current engine removes both together).
func labelCommand(marker, volume string) string {
	return strings.Join([]string{
		`echo "uid=$(id -u)" "home=$HOME" 'single ; touch ` + marker + ` ; docker volume create ` + volume + ` ; quoted'`,
		`echo "double \" ; touch ` + marker + ` ; \" quoted" ` + "`echo backticks`" + ` $((6*7)) '$HOME' \$HOME`,
		`echo "docker here: [$(command -v docker || echo none)]"`,
	}, "\n")
}

// TestAPILabelCommandsAreInertOnTheCluster: a clean.exec label full of quotes and expansions
// runs as exactly one `sh -c` in each target container — its output equals `sh -c` of the
// same string run there by hand — and never in the helper (or the host, for a step on the
// manager) that carries it: no marker from a would-be injection exists there. A shell label
// that is a command line is one argv element, not a command: the step fails, nothing runs.
func TestAPILabelCommandsAreInertOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, "127.0.0.1:0")
	marker := "/tmp/hp-" + id
	volume := "it-hostile-" + id + "-injected"
	cmd := labelCommand(marker, volume)
	svc := "it-hostile-" + id + "-lbl"
	tb.Service(t, svc, "--replicas", "3", "--replicas-max-per-node", "1",
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec="+cmd, tb.WorkloadImage)

	r := a.call(t, "POST", "/api/clean/service", itAdmin, jsonBody(map[string]any{"serviceName": svc}))
	var res operation.Result
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.status != http.StatusOK || !res.OK {
		t.Fatalf("clean-service with a hostile label: %d %v\n%s", r.status, err, r.body)
	}
	tasks := 0
	for _, st := range res.Steps {
		ctrs := targetContainers(t, tb, svc, st.Node)
		for _, task := range st.Tasks {
			tasks++
			ctr := ctrs[task.TaskID]
			if ctr == "" {
				t.Errorf("no container of task %s on %s", task.TaskID, st.Node)
				continue
			}
			want := tb.DockerOn(t, st.Node, "exec", ctr, "/bin/sh", "-c", cmd)
			if strings.TrimSpace(task.Logs) != strings.TrimSpace(want) {
				t.Errorf("task %s on %s printed\n%s\nbut sh -c of the label prints\n%s", task.Target, st.Node, task.Logs, want)
			}
			for _, line := range []string{"single ; touch " + marker + " ; docker volume create " + volume + " ; quoted", `double " ; touch ` + marker + ` ; " quoted backticks 42 $HOME $HOME`, "docker here: [none]"} {
				if !strings.Contains(task.Logs, line) {
					t.Errorf("task %s on %s: output lacks %q:\n%s", task.Target, st.Node, line, task.Logs)
				}
			}
			if out, err := tb.TryDockerOn(st.Node, "exec", ctr, "test", "-e", marker); err == nil {
				t.Errorf("%s exists in the target container on %s: %s", marker, st.Node, out)
			}
		}
		// The helper that ran the step: no volume from an injection on its node, and, where the
		// engine keeps a removed job's container (docker 20.10), no marker in its filesystem.
		if _, err := tb.TryDockerOn(st.Node, "volume", "inspect", volume); err == nil {
			t.Errorf("volume %s exists on %s: a helper there re-parsed the label's command", volume, st.Node)
			_, _ = tb.TryDockerOn(st.Node, "volume", "rm", volume)
		}
		if st.Helper != "" && st.Helper != "direct" {
			assertHelperFilesystemLacks(t, tb, st.Node, st.Helper, marker)
		}
	}
	if tasks != 3 {
		t.Errorf("want the command in 3 tasks, got %d:\n%s", tasks, r.body)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists on the host: a step on the manager re-parsed the label (%v)", marker, err)
		_ = os.Remove(marker)
	}

	// The shell label is one argv element: "/bin/sh -c 'touch ...'" is no executable.
	shellMarker := "/tmp/hp-shell-" + id
	bad := "it-hostile-" + id + "-shell"
	tb.Service(t, bad, "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=true",
		"--label", "swarm-utils.clean.exec.shell=/bin/sh -c 'touch "+shellMarker+"'", tb.WorkloadImage)
	r = a.call(t, "POST", "/api/clean/service", itAdmin, jsonBody(map[string]any{"serviceName": bad}))
	res = operation.Result{}
	_ = json.Unmarshal([]byte(r.body), &res)
	if r.status == http.StatusOK || res.OK || len(res.Steps) != 1 || len(res.Steps[0].Tasks) != 1 || res.Steps[0].Tasks[0].ExitCode == 0 {
		t.Errorf("a shell label that is a command line: want the step to fail, got %d:\n%s", r.status, r.body)
	} else {
		st := res.Steps[0]
		for _, ctr := range targetContainers(t, tb, bad, st.Node) {
			if _, err := tb.TryDockerOn(st.Node, "exec", ctr, "test", "-e", shellMarker); err == nil {
				t.Errorf("%s exists in the target container: the shell label ran as a command line", shellMarker)
			}
		}
	}
	if _, err := os.Stat(shellMarker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists on the host", shellMarker)
		_ = os.Remove(shellMarker)
	}
	assertNoHelpersFor(t, tb, id)
}

// targetContainers maps the running tasks of service on node to their container ids.
func targetContainers(t *testing.T, tb testbed.Bed, service, node string) map[string]string {
	t.Helper()
	out := tb.Docker(t, "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--filter", "node="+node, "--format", "{{.ID}}", service)
	m := map[string]string{}
	for _, task := range strings.Fields(out) {
		m[task] = strings.TrimSpace(tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", task))
	}
	return m
}

// assertHelperFilesystemLacks finds the exited container of helper on node (docker 20.10 keeps
// it after the helper service is removed) and checks that path was not created in it. On a
// current engine it checks that the container went with the helper.
func assertHelperFilesystemLacks(t *testing.T, tb testbed.Bed, node, helper, path string) {
	t.Helper()
	list := func() []string {
		return strings.Fields(tb.DockerOn(t, node, "container", "ls", "-a", "-q", "--filter", "label=com.docker.swarm.service.name="+helper))
	}
	ids := list()
	if !tb.KeepsRemovedJobTasks() {
		// A current engine removes the container with the job (moby/moby#44312 is fixed), a
		// moment later when the job was removed as its container was exiting (its done line
		// came before the manager recorded the task complete).
		for deadline := time.Now().Add(20 * time.Second); len(ids) != 0 && time.Now().Before(deadline); ids = list() {
			time.Sleep(200 * time.Millisecond)
		}
		if len(ids) != 0 {
			t.Errorf("%s engine: helper %s's container is still on %s 20 s after the helper was removed: %q", tb.Engine, helper, node, ids)
		}
		return
	}
	if len(ids) == 0 {
		t.Errorf("no container of helper %s on %s to inspect", helper, node)
		return
	}
	for _, ctr := range ids {
		diff, err := tb.TryDockerOn(node, "diff", ctr)
		if err != nil {
			t.Errorf("docker diff of helper %s on %s: %v", helper, node, err)
			continue
		}
		if strings.Contains(diff, path) {
			t.Errorf("helper %s on %s created %s: it re-parsed the label's command:\n%s", helper, node, path, diff)
		}
	}
}

// TestAPINamesAreExactOnTheCluster: services app and app2 with their own clean tokens are never
// confused — each token works on its own service only, and neither a prefix, an ID, an ID
// prefix nor another case of a name resolves to a service.
func TestAPINamesAreExactOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, "127.0.0.1:0")
	app, app2 := "it-hostile-"+id+"-app", "it-hostile-"+id+"-app2"
	tokApp, tokApp2 := "it-hostile-app-clean-"+id, "it-hostile-app2-clean-"+id
	a.secrets = append(a.secrets, tokApp, tokApp2)
	for name, tok := range map[string]string{app: tokApp, app2: tokApp2} {
		tb.ServiceDetached(t, name, "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo I am "+name,
			"--label", "swarm-utils.clean.token="+tok, tb.WorkloadImage)
	}
	for _, name := range []string{app, app2} {
		testbed.WaitFor(t, 90*time.Second, name+" to run", func() bool { return tb.RunningReplicas(t, name) == 1 })
	}
	id2 := strings.TrimSpace(tb.Docker(t, "service", "inspect", "--format", "{{.ID}}", app2))

	clean := func(token, name string) reply {
		return a.call(t, "POST", "/api/clean/service", "", jsonBody(map[string]any{"token": token, "serviceName": name}))
	}
	for _, c := range []struct{ token, name, self string }{{tokApp, app, app}, {tokApp2, app2, app2}} {
		r := clean(c.token, c.name)
		var res operation.Result
		_ = json.Unmarshal([]byte(r.body), &res)
		if r.status != 200 || res.Target != c.self || len(res.Steps) != 1 || len(res.Steps[0].Tasks) != 1 ||
			strings.TrimSpace(res.Steps[0].Tasks[0].Logs) != "I am "+c.self {
			t.Errorf("%s with its own token: %d, want 200 and only its own command's output:\n%s", c.name, r.status, r.body)
		}
	}
	expect(t, "app's token on app2", clean(tokApp, app2), 403, "may not run clean-service")
	expect(t, "app2's token on app", clean(tokApp2, app), 403, "may not run clean-service")
	for what, name := range map[string]string{
		"a prefix of app":    app[:len(app)-1],
		"app2's full ID":     id2,
		"app2's ID prefix":   id2[:12],
		"app2 in upper case": strings.ToUpper(app2),
		"app2 plus a space":  app2 + " ",
	} {
		r := clean(tokApp2, name)
		if r.status != http.StatusNotFound && r.status != http.StatusBadRequest {
			t.Errorf("%s (%q) with app2's token: %d, want 404 or 400:\n%s", what, name, r.status, r.body)
		}
	}
	expect(t, "app's clean token for update", a.call(t, "POST", "/api/update/service", "", jsonBody(map[string]any{"token": tokApp, "serviceName": app, "image": tb.WorkloadImage})),
		401, "unknown token")
	expect(t, "app's token in the header, app2's in the body", a.call(t, "POST", "/api/clean/service", tokApp, jsonBody(map[string]any{"token": tokApp2, "serviceName": app2})),
		400, "differ")
	assertNoHelpersFor(t, tb, id)
}

// TestAPIOversizedAndMalformedBodiesOnTheCluster: bodies over 64 KiB are 413 whether their
// length is announced or chunked, exactly 64 KiB is read, oversized headers are refused, deep
// nesting and invalid UTF-8 are 400.
func TestAPIOversizedAndMalformedBodiesOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	a := startAPI(t, cfg, "127.0.0.1:0")
	missing := "it-hostile-" + id + "-missing"

	exactly := func(n int) string {
		b := `{"serviceName":"` + missing + `"}`
		return b + strings.Repeat(" ", n-len(b))
	}
	expect(t, "a body of exactly 64 KiB", a.call(t, "POST", "/api/clean/service", itAdmin, exactly(MaxBodyBytes)), 404, "not found")
	expect(t, "a body of 64 KiB + 1 byte", a.call(t, "POST", "/api/clean/service", itAdmin, exactly(MaxBodyBytes+1)), 413, "64 KiB")
	expect(t, "64 MiB", a.call(t, "POST", "/api/update/service", itAdmin, `{"image":"`+strings.Repeat("a", 64<<20)+`"}`), 413, "64 KiB")

	// Chunked: no Content-Length, so only reading tells the size.
	req, err := http.NewRequest("POST", a.base+"/api/clean/node", io.MultiReader(strings.NewReader(`{"nodeName":"`), strings.NewReader(strings.Repeat("n", 2<<20)), strings.NewReader(`"}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+itAdmin)
	if req.ContentLength != 0 {
		t.Fatalf("the request announces its length (%d): it would not be sent chunked", req.ContentLength)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("chunked body: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 2 MiB body: %d, want 413:\n%s", res.StatusCode, b)
	}

	req, _ = http.NewRequest("POST", a.base+"/api/clean/service", strings.NewReader(`{"serviceName":"x"}`))
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", 200<<10))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("oversized header: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 200 KiB Authorization header: %d, want 431", res.StatusCode)
	}

	expect(t, "deep nesting", a.call(t, "POST", "/api/clean/service", itAdmin, `{"serviceName":`+strings.Repeat("[", MaxBodyBytes-20)+`}`), 400, "") // deeper than encoding/json's limit, within the body limit
	expect(t, "invalid UTF-8", a.call(t, "POST", "/api/clean/service", itAdmin, "{\"serviceName\":\"app\xff\xfe\"}"), 400, "")
	expect(t, "NUL in a key", a.call(t, "POST", "/api/clean/service", itAdmin, "{\"serviceName\\u0000\":\"app\"}"), 400, "unknown field")
	expect(t, "server still answers", a.call(t, "GET", "/healthz", "", ""), 200, "up")
}
