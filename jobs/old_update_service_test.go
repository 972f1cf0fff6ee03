package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
)

const (
	updSvcName    = "shop_web"
	updSvcID      = "84ivmtbd61x2y56tp4ydc4n58"
	updOldImage   = "192.168.213.1:5000/su/workload:1@sha256:599ada10929ce4a84db0db307ce02690db720efce8c34a6bfe14339279411337"
	updNewImage   = "192.168.213.1:5000/su/workload:2"
	updNewPinned  = updNewImage + "@sha256:3567e5cff2ce46850f44dcf3d8314a65d6c8bcd756dec4561635691b31d1d389"
	updFailedID   = "38u2pvkaxkqegg49j689jk1za"
	updRejectedID = "n9zidbqxs08sowm5gjdkswkdk"
	updPassword   = "Pa55-w0rd-Ü-never-shown"
)

// updUpdateStatus is docker's UpdateStatus object; nil when the service was never updated (or
// its last update changed no task).
type updUpdateStatus struct{ State, Message string }

// updServiceJSON is `docker service inspect` output shaped like parse/testdata's real capture.
func updServiceJSON(image string, version int, labels map[string]string, logDriver string, us *updUpdateStatus) string {
	lj, _ := json.Marshal(labels)
	status := ""
	if us != nil {
		completed := ""
		if us.State == "completed" || us.State == "rollback_completed" {
			completed = `"CompletedAt": "2026-11-22T10:34:10.678807745Z",`
		}
		status = fmt.Sprintf(`,
        "UpdateStatus": {
            "State": %q,
            "StartedAt": "2026-11-22T10:34:07.130502903Z",
            %s
            "Message": %q
        }`, us.State, completed, us.Message)
	}
	return fmt.Sprintf(`[
    {
        "ID": %q,
        "Version": {"Index": %d},
        "CreatedAt": "2026-11-22T10:28:15.574389425Z",
        "UpdatedAt": "2026-11-22T10:34:10.678807745Z",
        "Spec": {
            "Name": %q,
            "Labels": %s,
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": %q,
                    "Init": false,
                    "StopGracePeriod": 5000000000,
                    "DNSConfig": {},
                    "Isolation": "default"
                },
                "Resources": {"Limits": {}, "Reservations": {}},
                "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0},
                "Placement": {"Constraints": ["node.role==worker"], "Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
                "LogDriver": {"Name": %q},
                "ForceUpdate": 0,
                "Runtime": "container"
            },
            "Mode": {"Replicated": {"Replicas": 2}},
            "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 2000000000, "MaxFailureRatio": 0, "Order": "stop-first"},
            "EndpointSpec": {"Mode": "vip"}
        },
        "Endpoint": {"Spec": {}}%s
    }
]
`, updSvcID, version, updSvcName, lj, image, logDriver, status)
}

// updFailedPs is `docker service ps --no-trunc --format json` after an update to a crashing
// image paused, and a pull that failed (captured from the test swarm).
var updFailedPs = `{"CurrentState":"Assigned less than a second ago","DesiredState":"Ready","Error":"","ID":"b7zwngfdg7w6egs3qx9fr2fvg","Image":"192.168.213.1:5000/su/workload:2","Name":"shop_web.1","Node":"worker-1","Ports":""}
{"CurrentState":"Rejected 1 second ago","DesiredState":"Running","Error":"\"No such image: 192.168.213.1:5000/su/workload:2\"","ID":"` + updRejectedID + `","Image":"192.168.213.1:5000/su/workload:2","Name":"shop_web.1","Node":"worker-1","Ports":""}
{"CurrentState":"Failed less than a second ago","DesiredState":"Shutdown","Error":"\"task: non-zero exit (3)\"","ID":"` + updFailedID + `","Image":"192.168.213.1:5000/su/crash:1@sha256:4930acb8f2c7a2b1aa9fba66462dfd28adb54c402bcae8d1f1ce751a936fd774","Name":"shop_web.1","Node":"worker-1","Ports":""}
{"CurrentState":"Shutdown less than a second ago","DesiredState":"Shutdown","Error":"","ID":"5b28dtfrj1d60wwmp2oumy7py","Image":"192.168.213.1:5000/su/workload:1@sha256:599ada10929ce4a84db0db307ce02690db720efce8c34a6bfe14339279411337","Name":"shop_web.1","Node":"worker-1","Ports":""}
{"CurrentState":"Failed 3 hours ago","DesiredState":"Shutdown","Error":"\"task: non-zero exit (1)\"","ID":"8sjennmkjgl02nvjb8we9731v","Image":"192.168.213.1:5000/su/workload:1@sha256:599ada10929ce4a84db0db307ce02690db720efce8c34a6bfe14339279411337","Name":"shop_web.2","Node":"worker-2","Ports":""}
`

// updTaskJSON is one task of `docker inspect --type task`.
func updTaskJSON(id, node, state, errText string, exit int, ts string) string {
	return fmt.Sprintf(`{
        "ID": %q,
        "Version": {"Index": 253},
        "Spec": {"ContainerSpec": {"Image": "192.168.213.1:5000/su/crash:1"}, "LogDriver": {"Name": "json-file"}, "ForceUpdate": 0},
        "ServiceID": %q,
        "Slot": 1,
        "NodeID": %q,
        "Status": {
            "Timestamp": %q,
            "State": %q,
            "Message": "started",
            "Err": %q,
            "ContainerStatus": {"ContainerID": "86a8e186f2d180d2462708dbfae4fda258be0c7ba1b44596fa7b5ee20539b352", "PID": 0, "ExitCode": %d},
            "PortStatus": {}
        },
        "DesiredState": "shutdown"
    }`, id, updSvcID, node, ts, state, errText, exit)
}

// updFakeSwarm answers the docker commands of update-service like a manager would.
type updFakeSwarm struct {
	t         *testing.T
	mu        sync.Mutex
	labels    map[string]string
	logDriver string
	// after the update command ran:
	updated     bool
	afterImage  string
	afterStatus *updUpdateStatus
	unchanged   bool // docker refused the update: the version stays
	// answers
	updateErr   error
	loginErr    error
	loginStderr string
	// seen
	configDirs []string
	logsCalls  int
}

func newUpdFakeSwarm(t *testing.T, labels map[string]string) *updFakeSwarm {
	return &updFakeSwarm{t: t, labels: labels, logDriver: "json-file", afterImage: updNewPinned,
		afterStatus: &updUpdateStatus{"completed", "update completed"}}
}

func (f *updFakeSwarm) handle(c bashexec.Command) (bashexec.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(c.Args) < 2 || c.Args[0] != "docker" {
		f.t.Errorf("not a docker command: %q", c.Args)
		return bashexec.Result{ExitCode: -1}, fmt.Errorf("unexpected command")
	}
	args := c.Args[1:]
	line := strings.Join(args, " ")
	switch {
	case strings.HasPrefix(line, "service inspect"):
		if args[len(args)-1] != updSvcName {
			return bashexec.Result{ExitCode: 1, Stderr: "Status: Error: no such service: x, Code: 1"},
				&bashexec.ExitError{Line: line, ExitCode: 1, Stderr: "Status: Error: no such service: " + args[len(args)-1] + ", Code: 1"}
		}
		if f.updated && !f.unchanged {
			return bashexec.Result{Stdout: updServiceJSON(f.afterImage, 160, f.labels, f.logDriver, f.afterStatus)}, nil
		}
		return bashexec.Result{Stdout: updServiceJSON(updOldImage, 145, f.labels, f.logDriver, &updUpdateStatus{"completed", "update completed"})}, nil
	case strings.HasPrefix(line, "service ls"): // earlier helpers of the target: none
		return bashexec.Result{}, nil
	case strings.HasPrefix(line, "login"):
		f.checkConfigDir(c)
		if f.loginErr != nil {
			return bashexec.Result{ExitCode: 1, Stderr: f.loginStderr}, f.loginErr
		}
		return bashexec.Result{Stdout: "Login Succeeded\n"}, nil
	case strings.HasPrefix(line, "service update"):
		if dir := updEnv(c.Env, "DOCKER_CONFIG"); dir != "" {
			f.checkConfigDir(c)
		}
		f.updated = true
		if f.updateErr != nil {
			return bashexec.Result{ExitCode: 1, Stdout: updSvcName + "\n"}, f.updateErr
		}
		return bashexec.Result{Stdout: updSvcName + "\n"}, nil
	case strings.HasPrefix(line, "service ps"):
		return bashexec.Result{Stdout: updFailedPs}, nil
	case strings.HasPrefix(line, "inspect --type task"):
		var objs []string
		for _, id := range args[4:] {
			switch id {
			case updFailedID:
				objs = append(objs, updTaskJSON(id, "oapfpmjglwg6fonmk3dwj4m40", "failed", "task: non-zero exit (3)", 3, "2026-11-22T10:34:12.393691449Z"))
			case updRejectedID: // the pull failed: no container, no exit code
				objs = append(objs, `{"ID": "`+id+`", "Version": {"Index": 300}, "Spec": {"ContainerSpec": {"Image": "192.168.213.1:5000/su/workload:2"}},
        "ServiceID": "`+updSvcID+`", "Slot": 1, "NodeID": "oapfpmjglwg6fonmk3dwj4m40",
        "Status": {"Timestamp": "2026-11-22T10:30:27.1Z", "State": "rejected", "Message": "preparing", "Err": "No such image: 192.168.213.1:5000/su/workload:2", "ContainerStatus": {"ContainerID": "", "PID": 0, "ExitCode": 0}, "PortStatus": {}},
        "DesiredState": "shutdown"}`)
			case "8sjennmkjgl02nvjb8we9731v": // older failure of another slot, logged later
				objs = append(objs, updTaskJSON(id, "j6nj1pdjwjyzn1cxyr9qktq99", "failed", "task: non-zero exit (1)", 1, "2026-11-22T10:35:00.000000000Z"))
			}
		}
		return bashexec.Result{Stdout: "[" + strings.Join(objs, ",") + "]"}, nil
	case strings.HasPrefix(line, "service logs"):
		f.logsCalls++
		return bashexec.Result{Stdout: "crashing with " + updPassword + "\n"}, nil
	}
	f.t.Errorf("unexpected docker command: %q", c.Args)
	return bashexec.Result{ExitCode: 1}, fmt.Errorf("unexpected command")
}

// checkConfigDir: the private DOCKER_CONFIG exists, is private and seeded while commands run.
func (f *updFakeSwarm) checkConfigDir(c bashexec.Command) {
	dir := updEnv(c.Env, "DOCKER_CONFIG")
	if dir == "" {
		f.t.Errorf("%q runs without DOCKER_CONFIG", c.Args)
		return
	}
	f.configDirs = append(f.configDirs, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		f.t.Errorf("DOCKER_CONFIG %s: %v", dir, err)
		return
	}
	if fi.Mode().Perm() != 0o700 {
		f.t.Errorf("DOCKER_CONFIG %s has mode %v, want 0700", dir, fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		f.t.Errorf("DOCKER_CONFIG %s has no config.json: %v", dir, err)
	}
}

func updEnv(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func updConfig() config.Config {
	return config.Config{
		Registry: config.Registry{User: "ci", Password: updPassword, URL: "192.168.213.1:5000"},
		Timeouts: config.Timeouts{UpdateService: 42 * time.Second, Pending: 50 * time.Millisecond, Lock: time.Second, Extra: time.Second},
	}
}

func updDeps(t *testing.T, cfg config.Config, f *updFakeSwarm) (*Deps, *bashexec.Fake) {
	fake := &bashexec.Fake{Handler: f.handle}
	d := NewDeps(cfg, fake, nil, slog.New(slog.DiscardHandler))
	d.PollInterval = time.Millisecond
	return d, fake
}

// updCalls returns the calls whose docker subcommand line starts with prefix.
func updCalls(fake *bashexec.Fake, prefix string) []bashexec.Command {
	var out []bashexec.Command
	for _, c := range fake.Calls {
		if strings.HasPrefix(strings.Join(c.Args[1:], " "), prefix) {
			out = append(out, c)
		}
	}
	return out
}

// updAssertNoSecret checks every command's argv and env, and the whole result JSON.
func updAssertNoSecret(t *testing.T, fake *bashexec.Fake, r operation.Result, secret string) {
	t.Helper()
	for _, c := range fake.Calls {
		for _, s := range append(slices.Clone(c.Args), c.Env...) {
			if strings.Contains(s, secret) {
				t.Errorf("secret in the argv or env of %q", c.Args)
			}
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

var updEnabledOnly = map[string]string{"swarm-utils.update.enable": "true"}

func TestUpdateServiceArgv(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			f := newUpdFakeSwarm(t, updEnabledOnly)
			d, fake := updDeps(t, updConfig(), f)
			r := d.UpdateService(context.Background(), UpdateOptions{Service: updSvcName, Image: updNewImage, Force: force})
			if !r.OK {
				t.Fatalf("not OK: %s", r.Error)
			}
			if n := len(updCalls(fake, "login")); n != 0 {
				t.Errorf("%d logins without registry auth", n)
			}
			ups := updCalls(fake, "service update")
			if len(ups) != 1 {
				t.Fatalf("%d update commands, want 1", len(ups))
			}
			want := []string{"docker", "service", "update", "--detach=false", "--quiet", "--image", updNewImage, "--with-registry-auth"}
			if force {
				want = append(want, "--force")
			}
			want = append(want, "--", updSvcName)
			if !slices.Equal(ups[0].Args, want) {
				t.Errorf("update argv\n got %q\nwant %q", ups[0].Args, want)
			}
			if ups[0].Timeout != 42*time.Second {
				t.Errorf("update timeout %s, want the configured 42s", ups[0].Timeout)
			}
			if dir := updEnv(ups[0].Env, "DOCKER_CONFIG"); dir != "" {
				t.Errorf("private DOCKER_CONFIG %s without registry auth", dir)
			}
			for _, c := range fake.Calls {
				if c.Args[0] != "docker" || slices.Contains(c.Args, "-c") {
					t.Errorf("not a plain docker argv: %q", c.Args)
				}
			}
			if len(r.Steps) != 1 || r.Steps[0].Name != "update" || !r.Steps[0].OK {
				t.Fatalf("steps %+v, want one OK update step", r.Steps)
			}
			det := r.Steps[0].Details
			if det["previousImage"] != updOldImage || det["image"] != updNewImage || det["updateState"] != "completed" || det["serviceImage"] != updNewPinned {
				t.Errorf("details %v", det)
			}
		})
	}
}

func TestUpdateServiceRegistryLogin(t *testing.T) {
	// The password comes from its label, user and url fall back to the configuration per field.
	labels := map[string]string{
		"swarm-utils.update.enable":            "true",
		"swarm-utils.update.registry.auth":     "true",
		"swarm-utils.update.registry.password": updPassword + "-label",
	}
	cfg := updConfig()
	cfg.Registry.Password = "config-password-unused"
	f := newUpdFakeSwarm(t, labels)
	d, fake := updDeps(t, cfg, f)
	r := d.UpdateService(context.Background(), UpdateOptions{Service: updSvcName, Image: updNewImage})
	if !r.OK {
		t.Fatalf("not OK: %s", r.Error)
	}
	logins := updCalls(fake, "login")
	if len(logins) != 1 {
		t.Fatalf("%d logins, want 1", len(logins))
	}
	want := []string{"docker", "login", "-u", "ci", "--password-stdin", "--", "192.168.213.1:5000"}
	if !slices.Equal(logins[0].Args, want) {
		t.Errorf("login argv\n got %q\nwant %q", logins[0].Args, want)
	}
	if string(logins[0].Stdin) != updPassword+"-label" {
		t.Errorf("login stdin is not the label's password")
	}
	ups := updCalls(fake, "service update")
	if len(ups) != 1 {
		t.Fatalf("%d updates, want 1", len(ups))
	}
	if ups[0].Stdin != nil {
		t.Errorf("update got stdin")
	}
	loginDir, updateDir := updEnv(logins[0].Env, "DOCKER_CONFIG"), updEnv(ups[0].Env, "DOCKER_CONFIG")
	if loginDir == "" || loginDir != updateDir {
		t.Errorf("DOCKER_CONFIG of login %q and update %q differ", loginDir, updateDir)
	}
	if _, err := os.Stat(loginDir); !os.IsNotExist(err) {
		t.Errorf("private DOCKER_CONFIG %s left behind (stat: %v)", loginDir, err)
	}
	// The login must come before the update.
	if i, j := slices.IndexFunc(fake.Calls, func(c bashexec.Command) bool { return c.Args[1] == "login" }),
		slices.IndexFunc(fake.Calls, func(c bashexec.Command) bool { return len(c.Args) > 2 && c.Args[2] == "update" }); i > j {
		t.Errorf("login (call %d) after update (call %d)", i, j)
	}
	if len(r.Steps) != 2 || r.Steps[0].Name != "login" || r.Steps[1].Name != "update" {
		t.Fatalf("steps %+v, want login then update", r.Steps)
	}
	if r.Steps[0].Details["registry"] != "192.168.213.1:5000" || r.Steps[0].Details["user"] != "ci" {
		t.Errorf("login details %v", r.Steps[0].Details)
	}
	updAssertNoSecret(t, fake, r, updPassword)
}

func TestUpdateServiceRejectedLogin(t *testing.T) {
	labels := map[string]string{"swarm-utils.update.enable": "true", "swarm-utils.update.registry.auth": "true"}
	f := newUpdFakeSwarm(t, labels)
	// A daemon that echoes what it got: the password must still not come out.
	f.loginStderr = "Error response from daemon: login attempt to http://192.168.213.1:5000/v2/ failed with status: 401 Unauthorized (" + updPassword + ")"
	f.loginErr = &bashexec.ExitError{Line: "docker login -u ci --password-stdin -- 192.168.213.1:5000", ExitCode: 1, Stderr: f.loginStderr}
	d, fake := updDeps(t, updConfig(), f)
	r := d.UpdateService(context.Background(), UpdateOptions{Service: updSvcName, Image: updNewImage})
	if r.OK || r.ErrorKind != operation.KindConfig {
		t.Fatalf("ok=%v kind=%s err=%s, want a config failure", r.OK, r.ErrorKind, r.Error)
	}
	if !strings.Contains(r.Error, "rejected the credentials") || !strings.Contains(r.Error, "192.168.213.1:5000") {
		t.Errorf("error does not say the registry rejected the login: %s", r.Error)
	}
	if n := len(updCalls(fake, "service update")); n != 0 {
		t.Errorf("%d updates after a failed login", n)
	}
	if len(r.Steps) != 1 || r.Steps[0].OK || r.Steps[0].Error == "" {
		t.Errorf("steps %+v, want one failed login step", r.Steps)
	}
	for _, dir := range f.configDirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("private DOCKER_CONFIG %s left behind after a failed login", dir)
		}
	}
	if len(f.configDirs) == 0 {
		t.Errorf("login ran without a private DOCKER_CONFIG")
	}
	updAssertNoSecret(t, fake, r, updPassword)
}

func TestUpdateServiceMissingRegistrySettings(t *testing.T) {
	labels := map[string]string{
		"swarm-utils.update.enable":        "true",
		"swarm-utils.update.registry.auth": "true",
		"swarm-utils.update.registry.user": "from-label",
	}
	cfg := updConfig()
	cfg.Registry = config.Registry{}
	f := newUpdFakeSwarm(t, labels)
	d, fake := updDeps(t, cfg, f)
	r := d.UpdateService(context.Background(), UpdateOptions{Service: updSvcName, Image: updNewImage})
	if r.OK || r.ErrorKind != operation.KindConfig {
		t.Fatalf("ok=%v kind=%s err=%s, want config", r.OK, r.ErrorKind, r.Error)
	}
	for _, want := range []string{"swarm-utils.update.registry.password", "SWARM_UTILS_REGISTRY_PASSWORD", "swarm-utils.update.registry.url", "SWARM_UTILS_REGISTRY_URL"} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("error does not name %s: %s", want, r.Error)
		}
	}
	if strings.Contains(r.Error, "SWARM_UTILS_REGISTRY_USER") {
		t.Errorf("error names the user, which the label sets: %s", r.Error)
	}
	for _, c := range fake.Calls {
		if c.Args[1] != "service" || c.Args[2] != "inspect" {
			t.Errorf("ran %q with incomplete registry settings", c.Args)
		}
	}
}

func TestUpdateServiceBadLabelIsInvalid(t *testing.T) {
	f := newUpdFakeSwarm(t, map[string]string{"swarm-utils.update.enable": "true", "swarm-utils.update.registry.auth": "maybe"})
	d, _ := updDeps(t, updConfig(), f)
	r := d.UpdateService(context.Background(), UpdateOptions{Service: updSvcName, Image: updNewImage})
	if r.ErrorKind != operation.KindInvalid || !strings.Contains(r.Error, "swarm-utils.update.registry.auth") {
		t.Fatalf("kind=%s err=%s, want invalid naming the label", r.ErrorKind, r.Error)
	}
}

func TestUpdateServiceRejectsBadImages(t *testing.T) {
	for _, image := range []string{
		"", "-v", "--help", "img name", "img\tx", "img\nx", "img\x00", "img;rm -rf /", "$(id)", "img`id`", "reg/img:é",
		"img:", "/img", strings.Repeat("a", 513),
	} {
		t.Run(fmt.Sprintf("%q", image), func(t *testing.T) {
			f := newUpdFakeSwarm(t, updEnabledOnly)
			d, fake := updDeps(t, updConfig(), f)
			r := d.UpdateService(context.Background(), UpdateOptions{Service: updSvcName, Image: image})
			if r.OK || r.ErrorKind != operation.KindInvalid {
				t.Fatalf("ok=%v kind=%s err=%s, want invalid", r.OK, r.ErrorKind, r.Error)
			}
			if len(fake.Calls) != 0 {
				t.Errorf("ran %d commands for a bad image", len(fake.Calls))
			}
		})
	}
	for _, image := range []string{"nginx", "nginx:1.27", "registry:5000/team/app:v1.2.3-rc_1", "app@sha256:" + strings.Repeat("a", 64)} {
		if _, err := parse.ParseImageRef(image); err != nil {
			t.Errorf("valid image %q rejected: %v", image, err)
		}
	}
}

func TestUpdateServiceNotEnabledOrUnknown(t *testing.T) {
	for _, tc := range []struct {
		name, service string
		labels        map[string]string
		want          string
	}{
		{"no labels", updSvcName, map[string]string{}, "not enabled for update"},
		{"disabled", updSvcName, map[string]string{"swarm-utils.update.enable": "false", "swarm-utils.update.registry.auth": "true"}, "swarm-utils.update.enable=true"},
		{"unknown service", "shop_nope", updEnabledOnly, `"shop_nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newUpdFakeSwarm(t, tc.labels)
			d, fake := updDeps(t, updConfig(), f)
			r := d.UpdateService(context.Background(), UpdateOptions{Service: tc.service, Image: updNewImage})
			if r.OK || r.ErrorKind != operation.KindNotFound || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("ok=%v kind=%s err=%q, want not_found with %q", r.OK, r.ErrorKind, r.Error, tc.want)
			}
			if n := len(updCalls(fake, "service update")) + len(updCalls(fake, "login")); n != 0 {
				t.Errorf("%d update/login commands for a service that may not be updated", n)
			}
		})
	}
}

func TestUpdateServiceVerdict(t *testing.T) {
	cliPaused := &bashexec.ExitError{Line: "docker service update ...", ExitCode: 1,
		Stderr: "service update paused: update paused due to failure or early termination of task " + updFailedID}
	for _, tc := range []struct {
		name       string
		status     *updUpdateStatus
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
		{name: "completed", status: &updUpdateStatus{"completed", "update completed"}, wantOK: true, wantState: "completed"},
		{name: "completed though the CLI failed", status: &updUpdateStatus{"completed", "update completed"},
			cmdErr: &bashexec.ExitError{ExitCode: 1, Stderr: "connection reset"}, wantOK: true, wantState: "completed"},
		{name: "no task had to change", status: nil, afterImage: updNewPinned, wantOK: true, wantState: "unchanged"},
		{name: "paused", status: &updUpdateStatus{"paused", "update paused due to failure or early termination of task " + updFailedID},
			afterImage: "192.168.213.1:5000/su/crash:1@sha256:4930acb8f2c7a2b1aa9fba66462dfd28adb54c402bcae8d1f1ce751a936fd774", cmdErr: cliPaused,
			wantKind: operation.KindDocker, wantState: "paused", wantLogs: true,
			wantInErr: []string{"paused", "update paused due to failure or early termination of task " + updFailedID, "task: non-zero exit (3)", "exit code 3", "worker-1"}},
		{name: "paused, syslog driver: no logs", status: &updUpdateStatus{"paused", "update paused due to failure or early termination of task " + updFailedID},
			logDriver: "syslog", cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "paused",
			wantInErr: []string{"task: non-zero exit (3)"}},
		{name: "paused by a failed pull", status: &updUpdateStatus{"paused", "update paused due to failure or early termination of task " + updRejectedID},
			cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "paused",
			wantInErr: []string{"task " + updRejectedID + " on worker-1: rejected: No such image: 192.168.213.1:5000/su/workload:2"}},
		{name: "rolled back", status: &updUpdateStatus{"rollback_completed", "rollback completed"}, afterImage: updOldImage,
			wantKind: operation.KindDocker, wantState: "rollback_completed", wantLogs: true,
			// no task named: the most recent failed one is reported
			wantInErr: []string{"rolled back", "task: non-zero exit (1)", "worker-2"}},
		{name: "rollback paused", status: &updUpdateStatus{"rollback_paused", "update rolled back due to failure or early termination of task " + updFailedID},
			cmdErr: cliPaused, wantKind: operation.KindDocker, wantState: "rollback_paused", wantLogs: true, wantInErr: []string{"rollback is paused", updFailedID}},
		{name: "update timed out", status: &updUpdateStatus{"updating", "update in progress"},
			cmdErr: fmt.Errorf("docker service update ...: %w after 42s", bashexec.ErrTimeout), wantKind: operation.KindTimeout, wantState: "updating",
			wantInErr: []string{"did not finish within 42s", "updating", "update in progress"}},
		{name: "docker refused the update", unchanged: true,
			cmdErr:   &bashexec.ExitError{ExitCode: 1, Stderr: "invalid reference format"},
			wantKind: operation.KindDocker, wantInErr: []string{"invalid reference format"}},
		{name: "still updating after the CLI returned", status: &updUpdateStatus{"updating", "update in progress"},
			wantKind: operation.KindTimeout, wantState: "updating", wantInErr: []string{"still updating"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newUpdFakeSwarm(t, updEnabledOnly)
			f.afterStatus, f.updateErr, f.unchanged = tc.status, tc.cmdErr, tc.unchanged
			if tc.afterImage != "" {
				f.afterImage = tc.afterImage
			}
			if tc.logDriver != "" {
				f.logDriver = tc.logDriver
			}
			d, fake := updDeps(t, updConfig(), f)
			d.Secrets.Add(updPassword) // the fake task log prints it
			r := d.UpdateService(context.Background(), UpdateOptions{Service: updSvcName, Image: updNewImage})
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
			st := r.Steps[0]
			if tc.wantState != "" && st.Details["updateState"] != tc.wantState {
				t.Errorf("updateState %q, want %q", st.Details["updateState"], tc.wantState)
			}
			if st.OK != tc.wantOK || (!tc.wantOK && st.Error == "") {
				t.Errorf("step ok=%v error=%q", st.OK, st.Error)
			}
			if tc.wantLogs {
				if len(st.Tasks) != 1 || !strings.Contains(st.Tasks[0].Logs, "crashing with ***") {
					t.Errorf("failed task %+v, want its masked logs", st.Tasks)
				}
			} else if f.logsCalls != 0 {
				t.Errorf("read task logs %d times", f.logsCalls)
			}
			if tc.logDriver == "syslog" && !strings.Contains(st.Details["logs"], "syslog") {
				t.Errorf("details %v do not say why logs are missing", st.Details)
			}
			updAssertNoSecret(t, fake, r, updPassword)
		})
	}
}
