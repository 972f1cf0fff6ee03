// Package update is the update-service job (SPEC §4): roll a service to a new image, after a
// private registry login when its labels ask for one, and judge the rollout by the service's
// UpdateStatus.
package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Op is the operation's name in results and logs.
const Op = "update-service"

// Swarm is what update-service does to the cluster: it runs on the manager, no helper.
type Swarm interface {
	swarm.TaskReader
	Service(ctx context.Context, name string) (parse.Service, error)
	Logs(ctx context.Context, id string, tail int) (string, error)
	UpdateImage(ctx context.Context, u swarm.ImageUpdate) (swarm.UpdateResult, error)
	Rollback(ctx context.Context, r swarm.RollbackRequest) error
	Login(ctx context.Context, env []string, user, password, registry string) error
	// CreateProbe and Remove: an update check's probe (Check).
	CreateProbe(ctx context.Context, p swarm.Probe) (swarm.ProbeResult, error)
	Remove(ctx context.Context, id string) error
}

// Job runs update-service.
type Job struct {
	Swarm        Swarm
	Helpers      *helper.Engine // runs exec-pre and exec-post in the tasks
	Ops          *operation.Runner
	Config       config.Config
	Secrets      *bashexec.Secrets
	Log          *slog.Logger
	PollInterval time.Duration
}

// Options is one update-service request.
type Options struct {
	Service string // exact service name
	Image   string // new image reference
	Force   bool   // docker service update --force: roll the tasks even when the image is unchanged
}

const (
	// loginTimeout is the budget of `docker login` (swarm.CLI bounds the command the same).
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

// Run rolls the service to a new image: exec-pre in every running task (when labelled), then
// `docker service update --image IMG --with-registry-auth [--force]` run directly on the
// manager, after a `docker login` into a private DOCKER_CONFIG when the service's labels ask for
// registry auth; the service's UpdateStatus after the rollout is the verdict, not the CLI's exit
// code. A rollout that ends paused is rolled back when rollback-on-failure applies (label, else
// SWARM_UTILS_UPDATE_ROLLBACK_ON_FAILURE), else left paused for inspection, as docker left it.
// exec-post runs in every new task of an update that changed the image.
func (j *Job) Run(ctx context.Context, o Options) operation.Result {
	if err := validImageRef(o.Image); err != nil {
		return operation.Failed(Op, o.Service, err)
	}
	svc, err := j.Swarm.Service(ctx, o.Service)
	if err != nil {
		return operation.Failed(Op, o.Service, err)
	}
	settings, err := settingsOf(svc, j.Config)
	if err != nil {
		return operation.Failed(Op, o.Service, err)
	}
	if !settings.Enabled {
		return operation.Failed(Op, o.Service, operation.Errorf(operation.KindNotFound, "service %s is not enabled for update (label %s=true)", o.Service, parse.LabelUpdateEnable))
	}
	if settings.RegistryAuth {
		// Registered before any command runs, so no log line, error or result can show it; with
		// the operation only, so a short or rotated password garbles no other operation's logs.
		ctx = bashexec.WithSecrets(ctx, settings.Registry.Password)
		if err := validRegistry(settings.Registry); err != nil {
			return operation.Failed(Op, o.Service, err)
		}
	}
	lockKey := operation.LockKeyService(o.Service)
	// The preparation only reads: beside the claim.
	return j.Ops.RunOp(ctx, operation.Op{Name: Op, Target: o.Service, LockKey: lockKey, PrepareOnlyReads: true, Prepare: func(ctx context.Context) (operation.Plan, error) {
		// Read again under the lock: the previous image and version are what this update replaces.
		svc, err := j.Swarm.Service(ctx, o.Service)
		if err != nil {
			return operation.Plan{}, err
		}
		var tasks []swarm.RunningTask
		if settings.ExecPre != "" {
			if tasks, err = swarm.RunningTasks(ctx, j.Swarm, svc); err != nil {
				return operation.Plan{}, fmt.Errorf("update %s: exec-pre: %w", svc.Name, err)
			}
		}
		return operation.Plan{Budget: j.budget(svc, settings, len(tasks)), Do: func(ctx context.Context, r *operation.Result) error {
			return operation.MaskErr(j.Secrets, j.pipeline(ctx, r, svc, settings, o, tasks))
		}}, nil
	}})
}

// budget is the update's, the rollback's and each exec's timeout; an exec per task, the new
// tasks counted as the old ones (or the replica count).
func (j *Job) budget(svc parse.Service, s Settings, running int) time.Duration {
	b := j.Config.Timeouts.UpdateService + j.Config.Timeouts.Pending
	if s.RegistryAuth {
		b += loginTimeout
	}
	if s.RollbackOnFailure {
		b += j.Config.Timeouts.UpdateService + j.Config.Timeouts.Pending
	}
	perTask := func(d time.Duration, n int) time.Duration {
		return (d + helper.Slack + j.Config.Timeouts.Pending) * time.Duration(max(n, 1))
	}
	if s.ExecPre != "" {
		b += perTask(s.ExecPreTimeout, running)
	}
	if s.ExecPost != "" {
		b += perTask(s.ExecPostTimeout, max(running, int(svc.Replicas)))
	}
	return b
}

// settingsOf reads the update labels. Registry values missing from both the labels and the
// configuration are a configuration error naming each missing value; other bad labels are
// invalid input.
func settingsOf(svc parse.Service, cfg config.Config) (Settings, error) {
	s, err := SettingsFromLabels(svc.Labels, cfg)
	if err == nil {
		return s, nil
	}
	// Does anything but missing registry values make the labels fail?
	filled := cfg
	filled.Registry = config.Registry{User: "x", Password: "x", URL: "x"}
	if _, err2 := SettingsFromLabels(svc.Labels, filled); err2 == nil {
		if missing := missingRegistry(svc.Labels, cfg); len(missing) > 0 {
			return Settings{}, operation.Errorf(operation.KindConfig, "service %s: %s=true but the registry login is incomplete: %s",
				svc.Name, parse.LabelUpdateRegistryAuth, strings.Join(missing, "; "))
		}
	}
	return Settings{}, operation.Errorf(operation.KindInvalid, "service %s labels: %w", svc.Name, err)
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
		return &operation.Error{Kind: operation.KindInvalid, Err: err}
	}
	return nil
}

// validRegistry checks the login values that go into argv.
func validRegistry(reg config.Registry) error {
	bad := func(s string) bool {
		return strings.HasPrefix(s, "-") || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
	}
	if bad(reg.URL) {
		return operation.Errorf(operation.KindConfig, "registry url %q (label %s or SWARM_UTILS_REGISTRY_URL) is not valid: no spaces, control characters or leading '-'", reg.URL, parse.LabelUpdateRegistryURL)
	}
	if bad(reg.User) {
		return operation.Errorf(operation.KindConfig, "registry user %q (label %s or SWARM_UTILS_REGISTRY_USER) is not valid: no spaces, control characters or leading '-'", reg.User, parse.LabelUpdateRegistryUser)
	}
	return nil
}

// pipeline is the job under the lock: login (when registry auth applies), exec-pre, update,
// verdict, rollback (when it applies), exec-post.
func (j *Job) pipeline(ctx context.Context, r *operation.Result, svc parse.Service, s Settings, o Options, tasks []swarm.RunningTask) error {
	env, done, err := j.privateConfig(s)
	if err != nil {
		return fmt.Errorf("update %s: %w", svc.Name, err)
	}
	defer done()
	if s.RegistryAuth {
		step, err := j.login(ctx, env, s.Registry)
		r.Steps = append(r.Steps, step)
		if err != nil {
			return err
		}
	}
	if s.ExecPre != "" {
		steps, failed := j.exec(ctx, svc.Name, "exec-pre", s.ExecPreShell, s.ExecPre, s.ExecPreTimeout, s.ExecPreContinue, tasks)
		r.Steps = append(r.Steps, steps...)
		if failed > 0 && !s.ExecPreContinue {
			// The verdict is there also when the update never started.
			r.Steps = append(r.Steps, operation.Step{Name: "update", Error: "not started: exec-pre failed", Details: map[string]string{
				"previousImage": svc.Image, "image": o.Image, "previousDigest": imageDigest(svc.Image), "change": ChangeUnchanged}})
			return fmt.Errorf("update %s: exec-pre failed on %d node(s), the update was not started (label %s=continue updates anyway)",
				svc.Name, failed, parse.LabelUpdateExecPreOnFailure)
		}
		if err := operation.CtxErr(ctx); err != nil {
			return err
		}
	}
	step, change, err := j.update(ctx, env, svc, s, o)
	r.Steps = append(r.Steps, step)
	if change == ChangePaused && s.RollbackOnFailure && !step.OK && operation.CtxErr(ctx) == nil {
		rb, rbErr := j.rollback(ctx, env, svc.Name)
		r.Steps = append(r.Steps, rb)
		if rbErr != nil {
			return fmt.Errorf("%w; then %w", err, rbErr)
		}
		// step's Details is the map in r.Steps: the update step tells the final verdict.
		step.Details["change"], step.Details["rolledBack"] = ChangeRolledBack, "true"
		return fmt.Errorf("%s was rolled back to %s (%s=true) after its update failed: %w", svc.Name, rb.Details["serviceImage"], parse.LabelUpdateRollback, err)
	}
	if err != nil || change != ChangeUpdated || s.ExecPost == "" {
		return err
	}
	after, err := j.Swarm.Service(ctx, svc.Name)
	if err == nil {
		tasks, err = swarm.RunningTasks(ctx, j.Swarm, after)
	}
	if err != nil {
		return fmt.Errorf("update %s: exec-post: %w", svc.Name, err)
	}
	steps, failed := j.exec(ctx, svc.Name, "exec-post", s.ExecPostShell, s.ExecPost, s.ExecPostTimeout, s.ExecPostContinue, tasks)
	r.Steps = append(r.Steps, steps...)
	if failed > 0 && !s.ExecPostContinue {
		return fmt.Errorf("update %s: exec-post failed on %d node(s); the service stays on %s", svc.Name, failed, after.Image)
	}
	if len(tasks) == 0 {
		r.Steps = append(r.Steps, operation.Step{Name: "exec-post", OK: true, Details: map[string]string{"skipped": "no running tasks"}})
	}
	return nil
}

// exec runs an exec-pre/exec-post command in the tasks, one step per node as clean-service
// does. With onFailure continue a failed node's step is kept (its error and tasks shown) but
// counts as OK, so it fails neither the call nor the update.
func (j *Job) exec(ctx context.Context, service, name, shell, command string, timeout time.Duration, cont bool, tasks []swarm.RunningTask) (steps []operation.Step, failed int) {
	steps = j.Helpers.ExecInTasks(ctx, helper.Exec{Action: Op, LockKey: operation.LockKeyService(service), Target: service, Step: name,
		Shell: shell, Command: command, Timeout: timeout}, tasks)
	for i := range steps {
		if steps[i].OK {
			continue
		}
		failed++
		if cont {
			if steps[i].Details == nil {
				steps[i].Details = map[string]string{}
			}
			steps[i].Details["onFailure"] = "continue"
			steps[i].OK = true
		}
	}
	if len(tasks) == 0 && name == "exec-pre" {
		steps = append(steps, operation.Step{Name: name, OK: true, Details: map[string]string{"skipped": "no running tasks"}})
	}
	return steps, failed
}

// rollback runs `docker service rollback` and waits until docker says it ended.
func (j *Job) rollback(ctx context.Context, env []string, name string) (operation.Step, error) {
	started := time.Now()
	st := operation.Step{Name: "rollback", Details: map[string]string{}}
	cmdErr := j.Swarm.Rollback(ctx, swarm.RollbackRequest{Service: name, Env: env, Timeout: j.Config.Timeouts.UpdateService})
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.Config.Timeouts.Pending+verdictTimeout)
	defer cancel()
	after, err := j.settled(vctx, name, true)
	st.Duration = operation.Since(started)
	if err != nil {
		err = fmt.Errorf("roll %s back: read its state afterwards: %w", name, err)
		if cmdErr != nil {
			err = fmt.Errorf("roll %s back: %w (and reading its state afterwards: %v)", name, cmdErr, err)
		}
		st.Error = operation.MaskErr(j.Secrets, err).Error()
		return st, err
	}
	state := "none"
	if after.UpdateStatus != nil {
		state = after.UpdateStatus.State
	}
	st.Details["updateState"], st.Details["serviceImage"] = state, after.Image
	if state != "rollback_completed" {
		err := fmt.Errorf("roll %s back: its update state is %s%s", name, state, updateStatusMessage(after))
		if cmdErr != nil {
			err = fmt.Errorf("%w: %w", err, cmdErr)
		}
		err = operation.MaskErr(j.Secrets, err)
		st.Error = err.Error()
		return st, err
	}
	st.OK = true
	return st, nil
}

// privateConfig is the docker config of the commands that need s's registry login: none
// (env nil) without registry auth, else a private one (privateDockerConfig); done removes it.
func (j *Job) privateConfig(s Settings) (env []string, done func(), err error) {
	if !s.RegistryAuth {
		return nil, func() {}, nil
	}
	dir, err := privateDockerConfig(s.Registry.URL)
	if err != nil {
		return nil, func() {}, err
	}
	return []string{"DOCKER_CONFIG=" + dir}, func() {
		if err := os.RemoveAll(dir); err != nil {
			j.Log.Error("remove private docker config", "dir", dir, "err", err)
		}
	}, nil
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
func (j *Job) login(ctx context.Context, env []string, reg config.Registry) (operation.Step, error) {
	started := time.Now()
	st := operation.Step{Name: "login", Details: map[string]string{"registry": reg.URL, "user": reg.User}}
	err := j.Swarm.Login(ctx, env, reg.User, reg.Password, reg.URL)
	st.Duration = operation.Since(started)
	if err != nil {
		if rejectedLogin(err) {
			err = operation.Errorf(operation.KindConfig, "log in to registry %s as %s: the registry rejected the credentials (labels %s/%s or SWARM_UTILS_REGISTRY_USER/_PASSWORD): %w",
				reg.URL, reg.User, parse.LabelUpdateRegistryUser, parse.LabelUpdateRegistryPassword, err)
		} else {
			err = fmt.Errorf("log in to registry %s as %s: %w", reg.URL, reg.User, err)
		}
		err = operation.MaskErr(j.Secrets, err)
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

// The verdict of an update (its step's details "change").
const (
	ChangeUpdated    = "updated"      // the service runs the new image
	ChangeUnchanged  = "unchanged"    // same digest as before and no force, or docker refused: nothing changed
	ChangeRolledBack = "rolled-back"  // the rollout failed and the service runs the previous image again
	ChangePaused     = "paused"       // the rollout failed and stays paused (or its rollback did)
	ChangeUpdating   = "updating"     // still rolling (timeout): the state docker left it in
	ChangeRollingBck = "rolling-back" // docker's own rollback had not ended when the wait did
)

// update runs the rollout and decides from the service's UpdateStatus afterwards; change is
// "" when unknown (dry-run, the service unreadable).
func (j *Job) update(ctx context.Context, env []string, svc parse.Service, s Settings, o Options) (st operation.Step, change string, err error) {
	started := time.Now()
	st = operation.Step{Name: "update", Details: map[string]string{"previousImage": svc.Image, "image": o.Image}}
	if d := imageDigest(svc.Image); d != "" {
		st.Details["previousDigest"] = d
	}
	if o.Force {
		st.Details["force"] = "true"
	}
	if s.RegistryAuth {
		if w := registryMismatch(o.Image, s.Registry.URL); w != "" {
			st.Details["warning"] = w
		}
	}
	res, cmdErr := j.Swarm.UpdateImage(ctx, swarm.ImageUpdate{Service: svc.Name, Image: o.Image, Force: o.Force, Env: env, Timeout: j.Config.Timeouts.UpdateService})
	if res.DryRun {
		st.OK, st.Duration = true, operation.Since(started)
		st.Details["updateState"] = "dry-run"
		return st, "", nil
	}
	if cmdErr == nil {
		if w := res.Warning; w != "" { // e.g. "image ... could not be accessed on a registry to record its digest"
			st.Details["dockerWarning"] = j.Secrets.For(ctx).Mask(w)
		}
	}

	// The verdict is read also when the operation's context is done (timeout, shutdown): it may
	// run past the budget by the settle window and the reads, but the result tells the state.
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.Config.Timeouts.Pending+verdictTimeout)
	defer cancel()
	interrupted := cmdErr != nil && (errors.Is(cmdErr, bashexec.ErrTimeout) || ctx.Err() != nil)
	after, inspectErr := j.settled(vctx, svc.Name, !interrupted)
	err = j.verdict(vctx, &st, svc, after, inspectErr, o, cmdErr, interrupted, ctx.Err())
	change = st.Details["change"]
	st.Duration = operation.Since(started)
	if err != nil {
		err = operation.MaskErr(j.Secrets, err)
		st.OK, st.Error = false, err.Error()
		return st, change, err
	}
	st.OK = true
	return st, change, nil
}

// imageDigest is the digest a service's image reference is pinned to, "" when none.
func imageDigest(image string) string {
	ref, err := parse.ParseImageRef(image)
	if err != nil {
		return ""
	}
	return ref.Digest()
}

// changeOf names the verdict of an update state.
func changeOf(state string) string {
	switch state {
	case "completed":
		return ChangeUpdated
	case "paused", "rollback_paused":
		return ChangePaused
	case "rollback_completed":
		return ChangeRolledBack
	case "rollback_started":
		return ChangeRollingBck
	case "updating":
		return ChangeUpdating
	}
	return ""
}

// transientUpdate: docker is still rolling forward or back.
func transientUpdate(state string) bool { return state == "updating" || state == "rollback_started" }

// settled inspects the service after the update command; when wait, it polls while the
// update is still in motion (the CLI can return a moment before swarmkit records the end, and
// it does not wait for a rollback to finish), for up to the pending timeout. The end of ctx
// ends the wait with the last answer.
func (j *Job) settled(ctx context.Context, name string, wait bool) (after parse.Service, err error) {
	deadline := time.Now().Add(j.Config.Timeouts.Pending)
	_ = swarm.Poll(ctx, j.PollInterval, func(ctx context.Context) (bool, error) {
		after, err = j.Swarm.Service(ctx, name)
		return err != nil || !wait || after.UpdateStatus == nil || !transientUpdate(after.UpdateStatus.State) || time.Now().After(deadline), nil
	})
	return after, err
}

// verdict decides the update's outcome from the service after it, filling st's details.
func (j *Job) verdict(ctx context.Context, st *operation.Step, before, after parse.Service, inspectErr error, o Options, cmdErr error, interrupted bool, ctxErr error) error {
	name, image := before.Name, o.Image
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
	if d := imageDigest(after.Image); d != "" {
		st.Details["newDigest"] = d
	}
	st.Details["change"] = changeOf(state)
	if state == "rollback_completed" || state == "rollback_started" {
		// The service's own update_config rolled it back.
		st.Details["rolledBack"] = "true"
	}
	if after.Version == before.Version || (state == "none" && sameImage(after.Image, image)) {
		st.Details["change"] = ChangeUnchanged
	}
	prev, next := st.Details["previousDigest"], st.Details["newDigest"]
	if state == "completed" && !o.Force && prev != "" && prev == next {
		// The same content under another tag: the tasks ran this digest already.
		st.Details["change"] = ChangeUnchanged
	}

	switch {
	case interrupted && ctxErr != nil:
		return &operation.Error{Kind: operation.KindOf(ctxErr), Err: fmt.Errorf("update %s to %s stopped while its update state was %s: %w", name, image, state, ctxErr)}
	case interrupted:
		return operation.Errorf(operation.KindTimeout, "update %s to %s did not finish within %s; its update state is %s%s", name, image, j.Config.Timeouts.UpdateService, state, updateStatusMessage(after))
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
		return operation.Errorf(operation.KindDocker, "update %s to %s: the service runs %s after the update", name, image, after.Image)
	case "paused", "rollback_started", "rollback_paused", "rollback_completed":
		msg := fmt.Sprintf("update %s to %s %s%s", name, image, updateStateWords(state), updateStatusMessage(after))
		if task, ok := j.failedTask(ctx, after, st); ok {
			st.Tasks = []operation.TaskResult{task}
			msg += fmt.Sprintf("; task %s on %s: %s", task.TaskID, updNodeName(task.Node), task.State)
			if task.Error != "" {
				msg += ": " + task.Error
			}
			if task.ExitCode != 0 {
				msg += fmt.Sprintf(" (exit code %d)", task.ExitCode)
			}
		}
		return operation.Errorf(operation.KindDocker, "%s", j.Secrets.For(ctx).Mask(msg))
	default: // "updating" past the settle window, or a state this code does not know
		if cmdErr != nil {
			return fmt.Errorf("update %s to %s: update state %s%s: %w", name, image, state, updateStatusMessage(after), cmdErr)
		}
		return operation.Errorf(operation.KindTimeout, "update %s to %s: docker returned but the update state is still %s%s", name, image, state, updateStatusMessage(after))
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
func (j *Job) failedTask(ctx context.Context, svc parse.Service, st *operation.Step) (operation.TaskResult, bool) {
	// No desired-state filter: right after the update paused, docker may not yet have set the
	// failed task's desired state to shutdown.
	rows, err := j.Swarm.Tasks(ctx, svc.ID, false)
	if err != nil {
		st.Details["failedTask"] = j.Secrets.For(ctx).Mask("unavailable: " + err.Error())
		return operation.TaskResult{}, false
	}
	named := ""
	if m := taskInMessage.FindStringSubmatch(updateStatusMessage(svc)); m != nil {
		named = m[1]
	}
	nodeByTask, errByTask := map[string]string{}, map[string]string{}
	var ids []string
	for _, r := range rows {
		if r.ID == named || r.Error != "" || r.State() == "failed" || r.State() == "rejected" {
			nodeByTask[r.ID], errByTask[r.ID] = r.Node, r.Error
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return operation.TaskResult{}, false
	}
	if len(ids) > maxFailedTasks {
		ids = ids[:maxFailedTasks]
	}
	tasks, err := j.Swarm.InspectTasks(ctx, ids...)
	if err != nil {
		st.Details["failedTask"] = j.Secrets.For(ctx).Mask("unavailable: " + err.Error())
		return operation.TaskResult{}, false
	}
	if len(tasks) == 0 {
		return operation.TaskResult{}, false
	}
	sort.SliceStable(tasks, func(i, j int) bool {
		if (tasks[i].ID == named) != (tasks[j].ID == named) {
			return tasks[i].ID == named
		}
		return tasks[i].Timestamp.After(tasks[j].Timestamp)
	})
	t := tasks[0]
	why := t.Err
	if why == "" {
		why = errByTask[t.ID] // docker service ps --no-trunc's ERROR column
	}
	res := operation.TaskResult{TaskID: t.ID, Node: nodeByTask[t.ID], State: t.State, ExitCode: t.ExitCode, Error: j.Secrets.For(ctx).Mask(why)}
	switch {
	case t.ContainerID == "": // never started (rejected, pull failed): no logs to read
	case svc.LogDriver == "json-file", svc.LogDriver == "journald", svc.LogDriver == "": // "" is the daemon's default, usually json-file: try
		logs, err := j.Swarm.Logs(ctx, t.ID, failedTaskLogLines)
		res.Logs = j.Secrets.For(ctx).Mask(strings.TrimSpace(logs))
		if err != nil && svc.LogDriver != "" {
			res.Logs += j.Secrets.For(ctx).Mask("\n(logs unavailable: " + err.Error() + ")")
		}
	default:
		// docker serves no logs for it (SPEC §7): the task's error and exit code are all there is.
		st.Details["logs"] = fmt.Sprintf("unavailable: the service's log driver %s is not json-file or journald; the failed task's error and exit code are from docker service ps --no-trunc and task inspect", svc.LogDriver)
	}
	return res, true
}
