package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

const opUpdateService = "update-service"

// UpdateOptions is one update-service request.
type UpdateOptions struct {
	Service string // exact service name
	Image   string // new image reference
	Force   bool   // docker service update --force: roll the tasks even when the image is unchanged
}

const (
	// loginTimeout bounds `docker login`: one round trip from the daemon to the registry.
	loginTimeout = 30 * time.Second
	// verdictTimeout bounds reading the outcome after the update command ended (on top of the
	// settle window), also when the operation's context is already done: a timed-out update
	// still reports its state.
	verdictTimeout = 15 * time.Second
	// failedTaskLogLines is how much of a failed task's log goes into the result.
	failedTaskLogLines = 20
	// maxFailedTasks bounds the task history inspected to find the task that failed the update.
	maxFailedTasks = 50
)

// UpdateService rolls the service to a new image: `docker service update --image IMG
// --with-registry-auth [--force]` run directly on the manager (no helper), after a
// `docker login` into a private DOCKER_CONFIG when the service's labels ask for registry auth.
// The service's UpdateStatus after the rollout is the verdict, not the CLI's exit code.
//
// A failed rollout is left as docker left it (paused, or rolled back by the service's own
// --update-failure-action rollback): the failure action is the service owner's choice, a paused
// update keeps the failed task for inspection, and the next update-service with a fixed image
// resumes it. An automatic rollback here would override that choice.
func (d *Deps) UpdateService(ctx context.Context, o UpdateOptions) Result {
	if err := validImageRef(o.Image); err != nil {
		return failed(opUpdateService, o.Service, err)
	}
	svc, err := d.inspectService(ctx, o.Service)
	if err != nil {
		return failed(opUpdateService, o.Service, err)
	}
	settings, err := updateSettings(svc, d.Config)
	if err != nil {
		return failed(opUpdateService, o.Service, err)
	}
	if !settings.Enabled {
		return failed(opUpdateService, o.Service, errorf(KindNotFound, "service %s is not enabled for update (label %s=true)", o.Service, parse.LabelUpdateEnable))
	}
	if settings.RegistryAuth {
		// Registered before any command runs, so no log line, error or result can show it.
		if d.Secrets != nil {
			d.Secrets.Add(settings.Registry.Password)
		}
		if err := validRegistry(settings.Registry); err != nil {
			return failed(opUpdateService, o.Service, err)
		}
	}
	budget := func() time.Duration {
		b := d.Config.Timeouts.UpdateService + d.Config.Timeouts.Pending
		if settings.RegistryAuth {
			b += loginTimeout
		}
		return b
	}
	return d.operation(ctx, opUpdateService, o.Service, serviceLockKey(o.Service), budget, func(ctx context.Context, r *Result) error {
		return maskSecretsErr(d.Secrets, d.updateService(ctx, r, svc, settings, o))
	}, func(ctx context.Context) error {
		// Read again under the lock: the previous image and version are what this update replaces.
		svc, err = d.inspectService(ctx, o.Service)
		return err
	})
}

// updateSettings reads the update labels. Registry values missing from both the labels and the
// configuration are a configuration error naming each missing value; other bad labels are
// invalid input.
func updateSettings(svc parse.Service, cfg config.Config) (parse.UpdateSettings, error) {
	s, err := parse.UpdateSettingsFromLabels(svc.Labels, cfg)
	if err == nil {
		return s, nil
	}
	// Does anything but missing registry values make the labels fail?
	filled := cfg
	filled.Registry = config.Registry{User: "x", Password: "x", URL: "x"}
	if _, err2 := parse.UpdateSettingsFromLabels(svc.Labels, filled); err2 == nil {
		if missing := missingRegistry(svc.Labels, cfg); len(missing) > 0 {
			return parse.UpdateSettings{}, errorf(KindConfig, "service %s: %s=true but the registry login is incomplete: %s",
				svc.Name, parse.LabelUpdateRegistryAuth, strings.Join(missing, "; "))
		}
	}
	return parse.UpdateSettings{}, errorf(KindInvalid, "service %s labels: %w", svc.Name, err)
}

// missingRegistry names every registry value that neither its label nor the configuration sets.
func missingRegistry(labels map[string]string, cfg config.Config) []string {
	var missing []string
	for _, f := range []struct{ what, label, env, def string }{
		{"user", parse.LabelUpdateRegistryUser, "SWARM_UTILS_REGISTRY_USER", cfg.Registry.User},
		{"password", parse.LabelUpdateRegistryPassword, "SWARM_UTILS_REGISTRY_PASSWORD", cfg.Registry.Password},
		{"url", parse.LabelUpdateRegistryURL, "SWARM_UTILS_REGISTRY_URL", cfg.Registry.URL},
	} {
		if strings.TrimSpace(labels[f.label]) == "" && f.def == "" {
			missing = append(missing, fmt.Sprintf("registry %s: set label %s or %s", f.what, f.label, f.env))
		}
	}
	return missing
}

// validImageRef rejects what docker's reference grammar rejects, before it reaches the
// command line: a bad image is the caller's mistake (400), not a docker failure.
func validImageRef(ref string) error {
	if _, err := parse.ParseImageRef(ref); err != nil {
		return &Error{Kind: KindInvalid, Err: err}
	}
	return nil
}

// validRegistry checks the login values that go into argv.
func validRegistry(reg config.Registry) error {
	bad := func(s string) bool {
		return strings.HasPrefix(s, "-") || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
	}
	if bad(reg.URL) {
		return errorf(KindConfig, "registry url %q (label %s or SWARM_UTILS_REGISTRY_URL) is not valid: no spaces, control characters or leading '-'", reg.URL, parse.LabelUpdateRegistryURL)
	}
	if bad(reg.User) {
		return errorf(KindConfig, "registry user %q (label %s or SWARM_UTILS_REGISTRY_USER) is not valid: no spaces, control characters or leading '-'", reg.User, parse.LabelUpdateRegistryUser)
	}
	return nil
}

// updateService is the pipeline under the lock: login (when registry auth applies), update,
// verdict.
func (d *Deps) updateService(ctx context.Context, r *Result, svc parse.Service, s parse.UpdateSettings, o UpdateOptions) error {
	var env []string
	if s.RegistryAuth {
		dir, err := privateDockerConfig(s.Registry.URL)
		if err != nil {
			return fmt.Errorf("update %s: %w", svc.Name, err)
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				d.Log.Error("remove private docker config", "dir", dir, "err", err)
			}
		}()
		env = []string{"DOCKER_CONFIG=" + dir}
		step, err := d.login(ctx, env, s.Registry)
		r.Steps = append(r.Steps, step)
		if err != nil {
			return err
		}
	}
	step, err := d.update(ctx, env, svc, s, o)
	r.Steps = append(r.Steps, step)
	return err
}

// privateDockerConfig makes a DOCKER_CONFIG directory (0700) for one call, so that concurrent
// updates with different registry logins never see each other's credentials and nothing stays
// on disk. The seeded (empty) auth entry stops the CLI from picking a system credential helper
// (it only looks for one in a config without auths), which would keep the login beyond this call.
func privateDockerConfig(registryURL string) (string, error) {
	dir, err := os.MkdirTemp("", "swarm-utils-docker-config-")
	if err != nil {
		return "", fmt.Errorf("create private docker config: %w", err)
	}
	seed, _ := json.Marshal(map[string]any{"auths": map[string]any{registryURL: map[string]any{}}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), seed, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("create private docker config: %w", err)
	}
	return dir, nil
}

// login runs `docker login` with the password on stdin only.
func (d *Deps) login(ctx context.Context, env []string, reg config.Registry) (Step, error) {
	started := time.Now()
	st := Step{Name: "login", Details: map[string]string{"registry": reg.URL, "user": reg.User}}
	_, err := d.dockerIn(ctx, false, loginTimeout, env, []byte(reg.Password),
		"login", "-u", reg.User, "--password-stdin", "--", reg.URL)
	st.Duration = Duration(time.Since(started))
	if err != nil {
		if rejectedLogin(err) {
			err = errorf(KindConfig, "log in to registry %s as %s: the registry rejected the credentials (labels %s/%s or SWARM_UTILS_REGISTRY_USER/_PASSWORD): %w",
				reg.URL, reg.User, parse.LabelUpdateRegistryUser, parse.LabelUpdateRegistryPassword, err)
		} else {
			err = fmt.Errorf("log in to registry %s as %s: %w", reg.URL, reg.User, err)
		}
		err = maskSecretsErr(d.Secrets, err)
		st.Error = err.Error()
		return st, err
	}
	st.OK = true
	return st, nil
}

// rejectedLogin tells wrong credentials from an unreachable registry.
func rejectedLogin(err error) bool {
	var exit *bashexec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	msg := strings.ToLower(exit.Stderr)
	return strings.Contains(msg, "401") || strings.Contains(msg, "unauthorized") ||
		strings.Contains(msg, "incorrect username or password") || strings.Contains(msg, "authentication required")
}

// update runs the rollout and decides from the service's UpdateStatus afterwards.
func (d *Deps) update(ctx context.Context, env []string, svc parse.Service, s parse.UpdateSettings, o UpdateOptions) (Step, error) {
	started := time.Now()
	st := Step{Name: "update", Details: map[string]string{"previousImage": svc.Image, "image": o.Image}}
	if o.Force {
		st.Details["force"] = "true"
	}
	if s.RegistryAuth {
		if w := registryMismatch(o.Image, s.Registry.URL); w != "" {
			st.Details["warning"] = w
		}
	}
	args := []string{"service", "update", "--detach=false", "--quiet", "--image", o.Image, "--with-registry-auth"}
	if o.Force {
		args = append(args, "--force")
	}
	args = append(args, "--", svc.Name)
	timeout := d.Config.Timeouts.UpdateService
	res, cmdErr := d.dockerResult(ctx, bashexec.Command{Args: args, Env: env, Timeout: timeout})
	if res.DryRun {
		st.OK, st.Duration = true, Duration(time.Since(started))
		st.Details["updateState"] = "dry-run"
		return st, nil
	}
	if cmdErr == nil {
		if w := strings.TrimSpace(res.Stderr); w != "" { // e.g. "image ... could not be accessed on a registry to record its digest"
			st.Details["dockerWarning"] = d.Secrets.Mask(w)
		}
	}

	// The verdict is read also when the operation's context is done (timeout, shutdown): it may
	// run past the budget by the settle window and the reads, but the result tells the state.
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.Config.Timeouts.Pending+verdictTimeout)
	defer cancel()
	interrupted := cmdErr != nil && (errors.Is(cmdErr, bashexec.ErrTimeout) || ctx.Err() != nil)
	after, inspectErr := d.settledService(vctx, svc.Name, !interrupted)
	err := d.updateVerdict(vctx, &st, svc, after, inspectErr, o.Image, cmdErr, interrupted, ctx.Err())
	st.Duration = Duration(time.Since(started))
	if err != nil {
		err = maskSecretsErr(d.Secrets, err)
		st.OK, st.Error = false, err.Error()
		return st, err
	}
	st.OK = true
	return st, nil
}

// transientUpdate: docker is still rolling forward or back.
func transientUpdate(state string) bool { return state == "updating" || state == "rollback_started" }

// settledService inspects the service after the update command; when wait, it polls while the
// update is still in motion (the CLI can return a moment before swarmkit records the end, and
// it does not wait for a rollback to finish), for up to the pending timeout.
func (d *Deps) settledService(ctx context.Context, name string, wait bool) (parse.Service, error) {
	deadline := time.Now().Add(d.Config.Timeouts.Pending)
	interval := d.PollInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	for {
		after, err := d.inspectService(ctx, name)
		if err != nil || !wait || after.UpdateStatus == nil || !transientUpdate(after.UpdateStatus.State) || time.Now().After(deadline) {
			return after, err
		}
		select {
		case <-ctx.Done():
			return after, nil
		case <-time.After(interval):
		}
	}
}

// updateVerdict decides the update's outcome from the service after it, filling st's details.
func (d *Deps) updateVerdict(ctx context.Context, st *Step, before, after parse.Service, inspectErr error, image string, cmdErr error, interrupted bool, ctxErr error) error {
	name := before.Name
	if inspectErr != nil {
		if cmdErr != nil {
			return fmt.Errorf("update %s to %s: %w (and reading its state afterwards: %v)", name, image, cmdErr, inspectErr)
		}
		return fmt.Errorf("update %s to %s: read its state afterwards: %w", name, image, inspectErr)
	}
	st.Details["serviceImage"] = after.Image
	state := "none"
	if us := after.UpdateStatus; us != nil {
		state = us.State
		if us.Message != "" {
			st.Details["updateMessage"] = us.Message
		}
	}
	st.Details["updateState"] = state

	switch {
	case interrupted && ctxErr != nil:
		return &Error{Kind: KindOf(ctxErr), Err: fmt.Errorf("update %s to %s stopped while its update state was %s: %w", name, image, state, ctxErr)}
	case interrupted:
		return errorf(KindTimeout, "update %s to %s did not finish within %s; its update state is %s%s", name, image, d.Config.Timeouts.UpdateService, state, updateStatusMessage(after))
	case after.Version == before.Version && cmdErr != nil:
		// docker refused the update itself (bad reference, no access, ...): nothing changed.
		return fmt.Errorf("update %s to %s: %w", name, image, cmdErr)
	}

	switch state {
	case "completed":
		return nil
	case "none":
		// swarmkit clears UpdateStatus on every update and sets it only when tasks must change:
		// none means the service already ran this image.
		if sameImage(after.Image, image) {
			st.Details["updateState"] = "unchanged"
			return nil
		}
		if cmdErr != nil {
			return fmt.Errorf("update %s to %s: %w", name, image, cmdErr)
		}
		return errorf(KindDocker, "update %s to %s: the service runs %s after the update", name, image, after.Image)
	case "paused", "rollback_started", "rollback_paused", "rollback_completed":
		msg := fmt.Sprintf("update %s to %s %s%s", name, image, updateStateWords(state), updateStatusMessage(after))
		if task, ok := d.failedTask(ctx, after, st); ok {
			st.Tasks = []TaskResult{task}
			msg += fmt.Sprintf("; task %s on %s: %s", task.TaskID, updNodeName(task.Node), task.State)
			if task.Error != "" {
				msg += ": " + task.Error
			}
			if task.ExitCode != 0 {
				msg += fmt.Sprintf(" (exit code %d)", task.ExitCode)
			}
		}
		return errorf(KindDocker, "%s", d.Secrets.Mask(msg))
	default: // "updating" past the settle window, or a state this code does not know
		if cmdErr != nil {
			return fmt.Errorf("update %s to %s: update state %s%s: %w", name, image, state, updateStatusMessage(after), cmdErr)
		}
		return errorf(KindTimeout, "update %s to %s: docker returned but the update state is still %s%s", name, image, state, updateStatusMessage(after))
	}
}

func updateStatusMessage(svc parse.Service) string {
	if svc.UpdateStatus == nil || svc.UpdateStatus.Message == "" {
		return ""
	}
	return ": " + svc.UpdateStatus.Message
}

func updateStateWords(state string) string {
	switch state {
	case "paused":
		return "failed and is paused"
	case "rollback_started":
		return "failed and is being rolled back"
	case "rollback_paused":
		return "failed and its rollback is paused"
	case "rollback_completed":
		return "failed and was rolled back"
	}
	return state
}

func updNodeName(s string) string {
	if s == "" {
		return "an unknown node"
	}
	return s
}

// sameImage compares references ignoring a pinned digest and docker's implied defaults
// (docker.io/library/, :latest), which `service update` adds or keeps.
func sameImage(a, b string) bool { return parse.SameImage(a, b) }

// registryMismatch warns when the image comes from another registry than the login's:
// --with-registry-auth then sends no credentials for it.
func registryMismatch(image, registryURL string) string {
	ref, err := parse.ParseImageRef(image)
	if err != nil {
		return "" // validImageRef has refused it already
	}
	host := ref.Domain()
	login := registryURL
	if _, rest, ok := strings.Cut(login, "://"); ok {
		login = rest
	}
	login, _, _ = strings.Cut(login, "/")
	if login == "index.docker.io" || login == "registry-1.docker.io" {
		login = "docker.io"
	}
	if strings.EqualFold(host, login) {
		return ""
	}
	return fmt.Sprintf("image registry %s is not the login registry %s: no credentials are sent for it", host, login)
}

var taskInMessage = regexp.MustCompile(`\btask ([a-z0-9]{25})\b`)

// failedTask finds the task that failed the update: the one docker's message names, else the
// most recent failed one. Its logs are added when the service's log driver serves them (SPEC §7).
func (d *Deps) failedTask(ctx context.Context, svc parse.Service, st *Step) (TaskResult, bool) {
	// No desired-state filter: right after the update paused, docker may not yet have set the
	// failed task's desired state to shutdown.
	out, err := d.docker(ctx, true, readTimeout, "service", "ps", "--no-trunc", "--format", "json", "--", svc.ID)
	if err != nil {
		st.Details["failedTask"] = d.Secrets.Mask("unavailable: " + err.Error())
		return TaskResult{}, false
	}
	rows, err := parse.ServicePs(out)
	if err != nil {
		st.Details["failedTask"] = "unavailable: " + err.Error()
		return TaskResult{}, false
	}
	named := ""
	if m := taskInMessage.FindStringSubmatch(updateStatusMessage(svc)); m != nil {
		named = m[1]
	}
	nodeByTask := map[string]string{}
	var ids []string
	for _, r := range rows {
		if r.ID == named || r.Error != "" || r.State() == "failed" || r.State() == "rejected" {
			nodeByTask[r.ID] = r.Node
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return TaskResult{}, false
	}
	if len(ids) > maxFailedTasks {
		ids = ids[:maxFailedTasks]
	}
	js, err := d.docker(ctx, true, readTimeout, append([]string{"inspect", "--type", "task", "--"}, ids...)...)
	if err != nil {
		st.Details["failedTask"] = d.Secrets.Mask("unavailable: " + err.Error())
		return TaskResult{}, false
	}
	tasks, err := parse.TaskInspect(js)
	if err != nil || len(tasks) == 0 {
		return TaskResult{}, false
	}
	sort.SliceStable(tasks, func(i, j int) bool {
		if (tasks[i].ID == named) != (tasks[j].ID == named) {
			return tasks[i].ID == named
		}
		return tasks[i].Timestamp.After(tasks[j].Timestamp)
	})
	t := tasks[0]
	res := TaskResult{TaskID: t.ID, Node: nodeByTask[t.ID], State: t.State, ExitCode: t.ExitCode, Error: d.Secrets.Mask(t.Err)}
	switch {
	case t.ContainerID == "": // never started (rejected, pull failed): no logs to read
	case svc.LogDriver == "json-file", svc.LogDriver == "journald", svc.LogDriver == "": // "" is the daemon's default, usually json-file: try
		logs, err := d.taskLogs(ctx, t.ID)
		res.Logs = d.Secrets.Mask(logs)
		if err != nil && svc.LogDriver != "" {
			res.Logs += d.Secrets.Mask("\n(logs unavailable: " + err.Error() + ")")
		}
	default:
		st.Details["logs"] = fmt.Sprintf("unavailable: the service's log driver %s is not json-file or journald", svc.LogDriver)
	}
	return res, true
}

// taskLogs returns the last lines of one task's stdout and stderr.
func (d *Deps) taskLogs(ctx context.Context, taskID string) (string, error) {
	res, err := d.dockerResult(ctx, bashexec.Command{ReadOnly: true, Timeout: 10 * time.Second,
		Args: []string{"service", "logs", "--raw", "--no-trunc", "--tail", fmt.Sprint(failedTaskLogLines), "--", taskID}})
	return strings.TrimSpace(res.Stdout + res.Stderr), err
}

// secretMaskedError keeps an error's Kind and chain but shows its text with secrets masked.
type secretMaskedError struct {
	msg string
	err error
}

func (e *secretMaskedError) Error() string { return e.msg }
func (e *secretMaskedError) Unwrap() error { return e.err }

func maskSecretsErr(s *bashexec.Secrets, err error) error {
	if err == nil {
		return nil
	}
	if msg := s.Mask(err.Error()); msg != err.Error() {
		return &secretMaskedError{msg: msg, err: err}
	}
	return err
}
