package update

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

const (
	svcName    = "shop_web"
	failedID   = "38u2pvkaxkqegg49j689jk1za"
	rejectedID = "n9zidbqxs08sowm5gjdkswkdk"
	olderID    = "8sjennmkjgl02nvjb8we9731v"
	password   = "Pa55-w0rd-Ü-never-shown"
	crashImage = "192.168.213.1:5000/su/crash:1@sha256:4930acb8f2c7a2b1aa9fba66462dfd28adb54c402bcae8d1f1ce751a936fd774"
)

var enabledOnly = map[string]string{parse.LabelUpdateEnable: "true"}

func testConfig() config.Config {
	return config.Config{
		Registry: config.Registry{User: "ci", Password: password, URL: "192.168.213.1:5000"},
		Timeouts: config.Timeouts{UpdateService: 42 * time.Second, Pending: 50 * time.Millisecond, Lock: time.Second, Extra: time.Second},
	}
}

// cluster is a fake swarm with shop_web on oldImage and, in its history, the tasks an update
// may have failed: failedID (worker-1, exit 3), rejectedID (a failed pull, no container) and an
// older failure on worker-2 logged last.
type cluster struct {
	f          *swarmtest.Fake
	configDirs []string // DOCKER_CONFIG of every login and update
	t          *testing.T
}

func newCluster(t *testing.T, labels map[string]string, logDriver string) *cluster {
	c := &cluster{t: t, f: swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"))}
	svc := c.f.AddService(parse.Service{Name: svcName, Image: oldImage, Labels: labels, Replicas: 1, LogDriver: logDriver, Version: 145,
		UpdateStatus: &parse.UpdateStatus{State: "completed", Message: "update completed"}}, "worker-1")
	at := func(s string) time.Time { ts, _ := time.Parse(time.RFC3339Nano, s); return ts }
	c.f.AddTask(svc.ID, "worker-1", parse.Task{ID: failedID, NodeID: "n1", Slot: 1, DesiredState: "shutdown", State: "failed",
		Err: "task: non-zero exit (3)", ExitCode: 3, ContainerID: strings.Repeat("a", 64), Timestamp: at("2026-11-22T10:34:12.393691449Z")}, "crashing with "+password+"\n")
	c.f.AddTask(svc.ID, "worker-1", parse.Task{ID: rejectedID, NodeID: "n1", Slot: 1, DesiredState: "shutdown", State: "rejected",
		Err: "No such image: 192.168.213.1:5000/su/workload:2", Timestamp: at("2026-11-22T10:30:27.1Z")}, "")
	c.f.AddTask(svc.ID, "worker-2", parse.Task{ID: olderID, NodeID: "n2", Slot: 2, DesiredState: "shutdown", State: "failed",
		Err: "task: non-zero exit (1)", ExitCode: 1, ContainerID: strings.Repeat("b", 64), Timestamp: at("2026-11-22T10:35:00Z")}, "crashing with "+password+"\n")
	c.f.OnLogin = func(env []string, _, _, _ string) error { c.checkConfigDir(env); return nil }
	return c
}

// after makes the update end with the service on image in state status (nil: no status), the
// update command returning cmdErr; unchanged: docker refused it, nothing changed.
func (c *cluster) after(image string, status *parse.UpdateStatus, cmdErr error, unchanged bool) {
	c.f.OnUpdate = func(svc *parse.Service, u swarm.ImageUpdate) (swarm.UpdateResult, error) {
		if len(u.Env) > 0 {
			c.checkConfigDir(u.Env)
		}
		if !unchanged {
			svc.Image, svc.UpdateStatus, svc.Version = image, status, svc.Version+15
		}
		return swarm.UpdateResult{}, cmdErr
	}
}

// checkConfigDir: the private DOCKER_CONFIG exists, is private and seeded while commands run.
func (c *cluster) checkConfigDir(env []string) {
	dir := envValue(env, "DOCKER_CONFIG")
	if dir == "" {
		c.t.Errorf("runs without DOCKER_CONFIG: %q", env)
		return
	}
	c.configDirs = append(c.configDirs, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		c.t.Errorf("DOCKER_CONFIG %s: %v", dir, err)
		return
	}
	if fi.Mode().Perm() != 0o700 {
		c.t.Errorf("DOCKER_CONFIG %s has mode %v, want 0700", dir, fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		c.t.Errorf("DOCKER_CONFIG %s has no config.json: %v", dir, err)
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func (c *cluster) job(cfg config.Config) *Job {
	w := swarmtest.Wire(c.f, cfg)
	return &Job{Swarm: c.f, Helpers: w.Helpers, Ops: w.Ops, Config: cfg, Secrets: w.Secrets, Log: w.Log, PollInterval: time.Millisecond}
}

func verbs(calls []swarmtest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Verb)
	}
	return out
}

// assertNoSecret checks the typed calls (login and update env, none else carries it) and the
// whole result.
func assertNoSecret(t *testing.T, f *swarmtest.Fake, r operation.Result, secret string) {
	t.Helper()
	for _, c := range f.Calls() {
		if strings.Contains(fmt.Sprintf("%+v %+v", c, c.Update), secret) {
			t.Errorf("secret in call %+v", c)
		}
	}
	js, _ := json.Marshal(r)
	if strings.Contains(string(js), secret) || strings.Contains(r.Error, secret) {
		t.Errorf("secret in the result: %s", js)
	}
	if r.Err() != nil && strings.Contains(r.Err().Error(), secret) {
		t.Errorf("secret in the error: %v", r.Err())
	}
}

func TestUpdateRollsTheImage(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			c := newCluster(t, enabledOnly, "json-file")
			c.after(newPinned, &parse.UpdateStatus{State: "completed", Message: "update completed"}, nil, false)
			r := c.job(testConfig()).Run(context.Background(), Options{Service: svcName, Image: newImage, Force: force})
			if !r.OK {
				t.Fatalf("not OK: %s", r.Error)
			}
			ch := c.f.Changes()
			if len(ch) != 1 || ch[0].Verb != "update-image" {
				t.Fatalf("changes %v, want one image update (no login without registry auth)", verbs(ch))
			}
			want := swarm.ImageUpdate{Service: svcName, Image: newImage, Force: force, Timeout: 42 * time.Second}
			if u := *ch[0].Update; u.Service != want.Service || u.Image != want.Image || u.Force != want.Force || u.Timeout != want.Timeout || len(u.Env) != 0 {
				t.Errorf("update %+v, want %+v", u, want)
			}
			if len(r.Steps) != 1 || r.Steps[0].Name != "update" || !r.Steps[0].OK {
				t.Fatalf("steps %+v, want one OK update step", r.Steps)
			}
			det := r.Steps[0].Details
			if det["previousImage"] != oldImage || det["image"] != newImage || det["updateState"] != "completed" || det["serviceImage"] != newPinned ||
				(det["force"] == "true") != force {
				t.Errorf("details %v", det)
			}
		})
	}
}

func TestUpdateRegistryLogin(t *testing.T) {
	// The password comes from its label, user and url fall back to the configuration per field.
	labels := map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "true",
		parse.LabelUpdateRegistryPassword: password + "-label"}
	cfg := testConfig()
	cfg.Registry.Password = "config-password-unused"
	c := newCluster(t, labels, "json-file")
	c.after(newPinned, &parse.UpdateStatus{State: "completed"}, nil, false)
	var gotUser, gotPassword, gotRegistry string
	c.f.OnLogin = func(env []string, user, pw, reg string) error {
		c.checkConfigDir(env)
		gotUser, gotPassword, gotRegistry = user, pw, reg
		return nil
	}
	j := c.job(cfg)
	r := j.Run(context.Background(), Options{Service: svcName, Image: newImage})
	if !r.OK {
		t.Fatalf("not OK: %s", r.Error)
	}
	// The label's password was the operation's secret only: a rotated one does not stay.
	if j.Secrets.Mask(password+"-label") != password+"-label" {
		t.Error("the label's password stayed in the process-wide secrets")
	}
	ch := c.f.Changes()
	if got := verbs(ch); len(got) != 2 || got[0] != "login" || got[1] != "update-image" {
		t.Fatalf("changes %v, want login then update", got)
	}
	if gotUser != "ci" || gotPassword != password+"-label" || gotRegistry != "192.168.213.1:5000" {
		t.Errorf("login as %q with the label's password=%v to %q", gotUser, gotPassword == password+"-label", gotRegistry)
	}
	loginDir, updateDir := envValue(ch[0].Args, "DOCKER_CONFIG"), envValue(ch[1].Update.Env, "DOCKER_CONFIG")
	if loginDir == "" || loginDir != updateDir {
		t.Errorf("DOCKER_CONFIG of login %q and update %q differ", loginDir, updateDir)
	}
	if _, err := os.Stat(loginDir); !os.IsNotExist(err) {
		t.Errorf("private DOCKER_CONFIG %s left behind (stat: %v)", loginDir, err)
	}
	if len(r.Steps) != 2 || r.Steps[0].Name != "login" || r.Steps[1].Name != "update" {
		t.Fatalf("steps %+v, want login then update", r.Steps)
	}
	if r.Steps[0].Details["registry"] != "192.168.213.1:5000" || r.Steps[0].Details["user"] != "ci" {
		t.Errorf("login details %v", r.Steps[0].Details)
	}
	assertNoSecret(t, c.f, r, password)
}

func TestUpdateRejectedLogin(t *testing.T) {
	labels := map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "true"}
	c := newCluster(t, labels, "json-file")
	// A daemon that echoes what it got: the password must still not come out.
	stderr := "Error response from daemon: login attempt to http://192.168.213.1:5000/v2/ failed with status: 401 Unauthorized (" + password + ")"
	c.f.OnLogin = func(env []string, _, _, _ string) error {
		c.checkConfigDir(env)
		return &bashexec.ExitError{Line: "docker login -u ci --password-stdin -- 192.168.213.1:5000", ExitCode: 1, Stderr: stderr}
	}
	r := c.job(testConfig()).Run(context.Background(), Options{Service: svcName, Image: newImage})
	if r.OK || r.ErrorKind != operation.KindConfig {
		t.Fatalf("ok=%v kind=%s err=%s, want a config failure", r.OK, r.ErrorKind, r.Error)
	}
	if !strings.Contains(r.Error, "rejected the credentials") || !strings.Contains(r.Error, "192.168.213.1:5000") {
		t.Errorf("error does not say the registry rejected the login: %s", r.Error)
	}
	if n := len(c.f.Calls("update-image")); n != 0 {
		t.Errorf("%d updates after a failed login", n)
	}
	if len(r.Steps) != 1 || r.Steps[0].OK || r.Steps[0].Error == "" {
		t.Errorf("steps %+v, want one failed login step", r.Steps)
	}
	if len(c.configDirs) == 0 {
		t.Errorf("login ran without a private DOCKER_CONFIG")
	}
	for _, dir := range c.configDirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("private DOCKER_CONFIG %s left behind after a failed login", dir)
		}
	}
	assertNoSecret(t, c.f, r, password)
}

// Refusals before any change: each with its Kind, nothing but reads done.
func TestUpdateRefuses(t *testing.T) {
	noRegistry := func(c *config.Config) { c.Registry = config.Registry{} }
	for _, tc := range []struct {
		name, service, image string
		labels               map[string]string
		cfg                  func(*config.Config)
		kind                 operation.Kind
		want, notWant        []string
	}{
		{name: "incomplete registry login", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "true",
			parse.LabelUpdateRegistryUser: "from-label"}, cfg: noRegistry, kind: operation.KindConfig,
			want:    []string{"swarm-utils.update.registry.password", "SWARM_UTILS_REGISTRY_PASSWORD", "swarm-utils.update.registry.url", "SWARM_UTILS_REGISTRY_URL"},
			notWant: []string{"SWARM_UTILS_REGISTRY_USER"}},
		{name: "bad label", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "maybe"},
			kind: operation.KindInvalid, want: []string{"swarm-utils.update.registry.auth"}},
		{name: "registry url like a flag", labels: map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateRegistryAuth: "true",
			parse.LabelUpdateRegistryURL: "-reg"}, kind: operation.KindConfig, want: []string{"registry url", "not valid"}},
		{name: "no labels", labels: map[string]string{}, kind: operation.KindNotFound, want: []string{"not enabled for update"}},
		{name: "disabled", labels: map[string]string{parse.LabelUpdateEnable: "false", parse.LabelUpdateRegistryAuth: "true"},
			kind: operation.KindNotFound, want: []string{"swarm-utils.update.enable=true"}},
		{name: "unknown service", service: "shop_nope", labels: enabledOnly, kind: operation.KindNotFound, want: []string{`"shop_nope" not found`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.labels, "json-file")
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if tc.service == "" {
				tc.service = svcName
			}
			r := c.job(cfg).Run(context.Background(), Options{Service: tc.service, Image: newImage})
			if r.OK || r.ErrorKind != tc.kind {
				t.Fatalf("ok=%v kind=%s err=%s, want %s", r.OK, r.ErrorKind, r.Error, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("error does not name %s: %s", w, r.Error)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(r.Error, w) {
					t.Errorf("error names %s: %s", w, r.Error)
				}
			}
			if ch := c.f.Changes(); len(ch) != 0 {
				t.Errorf("changes %v", verbs(ch))
			}
		})
	}
}

func TestUpdateRejectsBadImages(t *testing.T) {
	for _, img := range []string{
		"", "-v", "--help", "img name", "img\tx", "img\nx", "img\x00", "img;rm -rf /", "$(id)", "img`id`", "reg/img:é",
		"img:", "/img", strings.Repeat("a", 513),
	} {
		t.Run(fmt.Sprintf("%q", img), func(t *testing.T) {
			c := newCluster(t, enabledOnly, "json-file")
			r := c.job(testConfig()).Run(context.Background(), Options{Service: svcName, Image: img})
			if r.OK || r.ErrorKind != operation.KindInvalid {
				t.Fatalf("ok=%v kind=%s err=%s, want invalid", r.OK, r.ErrorKind, r.Error)
			}
			if calls := c.f.Calls(); len(calls) != 0 {
				t.Errorf("made %d calls for a bad image", len(calls))
			}
		})
	}
	for _, img := range []string{"nginx", "nginx:1.27", "registry:5000/team/app:v1.2.3-rc_1", "app@sha256:" + strings.Repeat("a", 64)} {
		if err := validImageRef(img); err != nil {
			t.Errorf("valid image %q rejected: %v", img, err)
		}
	}
}

func TestUpdateVerdict(t *testing.T) {
	cliPaused := &bashexec.ExitError{Line: "docker service update ...", ExitCode: 1,
		Stderr: "service update paused: update paused due to failure or early termination of task " + failedID}
	st := func(state, msg string) *parse.UpdateStatus { return &parse.UpdateStatus{State: state, Message: msg} }
	for _, tc := range []struct {
		name       string
		status     *parse.UpdateStatus
		afterImage string
		logDriver  string
		cmdErr     error
		unchanged  bool
		wantOK     bool
		wantKind   operation.Kind
		wantState  string
		wantInErr  []string
		wantLogs   bool
	}{
		{name: "completed", status: st("completed", "update completed"), wantOK: true, wantState: "completed"},
		{name: "completed though the CLI failed", status: st("completed", "update completed"),
			cmdErr: &bashexec.ExitError{ExitCode: 1, Stderr: "connection reset"}, wantOK: true, wantState: "completed"},
		{name: "no task had to change", status: nil, afterImage: newPinned, wantOK: true, wantState: "unchanged"},
		{name: "paused", status: st("paused", "update paused due to failure or early termination of task "+failedID),
			afterImage: crashImage, cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "paused", wantLogs: true,
			wantInErr: []string{"paused", "update paused due to failure or early termination of task " + failedID, "task: non-zero exit (3)", "exit code 3", "worker-1"}},
		{name: "paused, syslog driver: no logs", status: st("paused", "update paused due to failure or early termination of task "+failedID),
			logDriver: "syslog", cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "paused",
			wantInErr: []string{"task: non-zero exit (3)"}},
		{name: "paused, log driver none: the task's error all the same", status: st("paused", "update paused due to failure or early termination of task "+failedID),
			logDriver: "none", cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "paused",
			wantInErr: []string{"task " + failedID + " on worker-1: failed: task: non-zero exit (3)", "exit code 3"}},
		{name: "paused by a failed pull", status: st("paused", "update paused due to failure or early termination of task "+rejectedID),
			cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "paused",
			wantInErr: []string{"task " + rejectedID + " on worker-1: rejected: No such image: 192.168.213.1:5000/su/workload:2"}},
		{name: "rolled back", status: st("rollback_completed", "rollback completed"), afterImage: oldImage,
			wantKind: operation.KindDocker, wantState: "rollback_completed", wantLogs: true,
			// no task named: the most recent failed one is reported
			wantInErr: []string{"rolled back", "task: non-zero exit (1)", "worker-2"}},
		{name: "rollback paused", status: st("rollback_paused", "update rolled back due to failure or early termination of task "+failedID),
			cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "rollback_paused", wantLogs: true, wantInErr: []string{"rollback is paused", failedID}},
		{name: "update timed out", status: st("updating", "update in progress"),
			cmdErr: fmt.Errorf("docker service update ...: %w after 42s", bashexec.ErrTimeout), wantKind: operation.KindTimeout, wantState: "updating",
			wantInErr: []string{"did not finish within 42s", "updating", "update in progress"}},
		{name: "docker refused the update", unchanged: true, cmdErr: &bashexec.ExitError{ExitCode: 1, Stderr: "invalid reference format"},
			wantKind: operation.KindDocker, wantInErr: []string{"invalid reference format"}},
		{name: "still updating after the CLI returned", status: st("updating", "update in progress"),
			wantKind: operation.KindTimeout, wantState: "updating", wantInErr: []string{"still updating"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logDriver := "json-file"
			if tc.logDriver != "" {
				logDriver = tc.logDriver
			}
			c := newCluster(t, enabledOnly, logDriver)
			img := newPinned
			if tc.afterImage != "" {
				img = tc.afterImage
			}
			c.after(img, tc.status, tc.cmdErr, tc.unchanged)
			j := c.job(testConfig())
			j.Secrets.Add(password) // the fake task log prints it
			r := j.Run(context.Background(), Options{Service: svcName, Image: newImage})
			if r.OK != tc.wantOK || (!tc.wantOK && r.ErrorKind != tc.wantKind) {
				t.Fatalf("ok=%v kind=%s err=%s, want ok=%v kind=%s", r.OK, r.ErrorKind, r.Error, tc.wantOK, tc.wantKind)
			}
			for _, want := range tc.wantInErr {
				if !strings.Contains(r.Error, want) {
					t.Errorf("error does not contain %q: %s", want, r.Error)
				}
			}
			if len(r.Steps) != 1 {
				t.Fatalf("steps %+v, want one", r.Steps)
			}
			step := r.Steps[0]
			if tc.wantState != "" && step.Details["updateState"] != tc.wantState {
				t.Errorf("updateState %q, want %q", step.Details["updateState"], tc.wantState)
			}
			if step.OK != tc.wantOK || (!tc.wantOK && step.Error == "") {
				t.Errorf("step ok=%v error=%q", step.OK, step.Error)
			}
			logsRead := len(c.f.Calls("logs"))
			if tc.wantLogs {
				if len(step.Tasks) != 1 || !strings.Contains(step.Tasks[0].Logs, "crashing with ***") || logsRead != 1 {
					t.Errorf("failed task %+v (%d log reads), want its masked logs", step.Tasks, logsRead)
				}
			} else if logsRead != 0 {
				t.Errorf("read task logs %d times", logsRead)
			}
			if tc.logDriver != "" && (!strings.Contains(step.Details["logs"], tc.logDriver) || !strings.Contains(step.Details["logs"], "docker service ps")) {
				t.Errorf("details %v do not say why logs are missing", step.Details)
			}
			assertNoSecret(t, c.f, r, password)
		})
	}
}

func TestRegistryMismatch(t *testing.T) {
	for _, tc := range []struct{ image, registry, want string }{
		{"reg:5000/app:1", "reg:5000", ""},
		{"reg:5000/app:1", "https://reg:5000/v2/", ""},
		{"nginx", "index.docker.io", ""},
		{"nginx", "reg:5000", "image registry docker.io is not the login registry reg:5000"},
		{"other.io/app", "reg:5000", "image registry other.io is not the login registry reg:5000"},
	} {
		if got := registryMismatch(tc.image, tc.registry); !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("registryMismatch(%q, %q) = %q, want %q", tc.image, tc.registry, got, tc.want)
		}
	}
}
