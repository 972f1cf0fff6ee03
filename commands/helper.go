package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Labels every helper service carries. The lock label is the cross-restart lock (SPEC §6).
const (
	labelHelper       = "swarm-utils.helper"
	labelHelperLock   = "swarm-utils.helper.lock"
	labelHelperAction = "swarm-utils.helper.action"
	dockerSock        = "/var/run/docker.sock"
)

// helperSpec is one short-lived job pinned to one node.
type helperSpec struct {
	Action     string   // operation, e.g. "clean-node"
	LockKey    string   // target, e.g. "node:worker-1"
	Target     string   // target name, for the helper's name
	Step       string   // step, e.g. "prune"
	NodeID     string   // pin: node.id constraint
	NodeName   string   // for the helper's name and the logs
	Image      string   // helper image
	Entrypoint string   // overrides the image's entrypoint when set (offen's is a scheduler)
	Args       []string // command; empty = the image's own command
	Env        []string // KEY=VALUE; secret values are masked in every log line
	Mounts     []string // extra --mount values
	Socket     bool     // mount the node's docker.sock
	Timeout    time.Duration
	// Direct: the command only drives the node's docker CLI (Args is a script run by sh), so on
	// the node swarm-utils itself talks to it runs directly, without a helper (SPEC §1: what the
	// manager can do itself, it does itself). Saves a helper lifecycle and a container start.
	Direct bool
}

// helperOutcome is what a helper did.
type helperOutcome struct {
	Name string
	Task TaskResult // a one-shot job has exactly one task
	Logs string     // raw (unmasked) logs, for parsing; Task.Logs is the masked copy
	Err  error
}

// helperName is deterministic so that a helper left behind by a crashed run blocks the next
// one (SPEC §6): swarm-utils-<action>-<target>-<step>[-<node>]. Docker allows 63 characters;
// longer names keep a prefix plus a hash of the whole.
func helperName(action, target, step, node string) string {
	name := "swarm-utils-" + action + "-" + target + "-" + step
	if node != "" && node != target {
		name += "-" + node
	}
	clean := []byte(name)
	for i, c := range clean {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			clean[i] = '-'
		}
	}
	name = string(clean)
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(name))
		name = name[:54] + "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

// taskState is the first word of `docker service ps`'s CURRENT STATE, lower-cased.
func taskState(row parse.TaskRow) string {
	f := strings.Fields(row.CurrentState)
	if len(f) == 0 {
		return "new"
	}
	return strings.ToLower(f[0])
}

func terminalState(s string) bool {
	switch s {
	case "complete", "failed", "rejected", "shutdown", "orphaned", "remove":
		return true
	}
	return false
}

// unscheduled states: the task has no node yet.
func unscheduledState(s string) bool { return s == "new" || s == "allocated" || s == "pending" }

// runHelper creates the helper, waits for its task to end, collects state, exit code, error and
// logs, and always removes it — on success, failure, timeout and cancel alike.
func (d *Deps) runHelper(ctx context.Context, spec helperSpec) (out helperOutcome) {
	if spec.Direct && spec.NodeID != "" && spec.NodeID == d.localNodeID(ctx) {
		return d.runDirect(ctx, spec)
	}
	out.Name = helperName(spec.Action, spec.Target, spec.Step, spec.NodeName)
	out.Task = TaskResult{Node: spec.NodeName, State: "not created", ExitCode: -1}
	args := []string{"service", "create", "--detach", "--quiet", "--name", out.Name,
		"--mode", "replicated-job", "--restart-condition", "none", "--log-driver", "json-file",
		"--constraint", "node.id==" + spec.NodeID,
		"--label", labelHelper + "=true", "--label", labelHelperLock + "=" + spec.LockKey,
		"--label", labelHelperAction + "=" + spec.Action,
		// Swarm keeps the exited container of a finished job task on its node even after the
		// service is removed; the label lets later helpers there remove it (helperHousekeeping).
		"--container-label", labelHelper + "=true",
		// The helper image's tag is fixed; resolving its digest would cost a registry round
		// trip per helper. Registry auth still goes along for private helper images.
		"--no-resolve-image", "--with-registry-auth"}
	if spec.Socket {
		args = append(args, "--mount", "type=bind,src="+dockerSock+",dst="+dockerSock)
	}
	for _, m := range spec.Mounts {
		args = append(args, "--mount", m)
	}
	for _, e := range spec.Env {
		args = append(args, "--env", e)
	}
	if spec.Entrypoint != "" {
		args = append(args, "--entrypoint", spec.Entrypoint)
	}
	args = append(args, spec.Image)
	args = append(args, spec.Args...)

	d.Log.Info("helper start", "helper", out.Name, "node", spec.NodeName, "step", spec.Step)
	id, err := d.docker(ctx, false, readTimeout, args...)
	id = strings.TrimSpace(id)
	if err != nil {
		out.Err = fmt.Errorf("create helper %s on %s: %w", out.Name, spec.NodeName, err)
		// A create that timed out may still have made the service.
		d.removeHelper(ctx, out.Name)
		return out
	}
	if d.OnHelperCreated != nil {
		d.OnHelperCreated(spec.Action)
	}
	if id == "" { // dry-run
		out.Task.State = "dry-run"
		out.Task.ExitCode = 0
		return out
	}
	// Registered before the removal, so it runs after it: a helper stopped mid-run (timeout,
	// cancel) is waited for until its task stopped, and its container removed on its node where
	// the engine leaves a removed job's task running (docker before 24, moby/moby#44312).
	var orphan *parse.TaskRow
	defer func() {
		if orphan == nil {
			return
		}
		sctx := context.WithoutCancel(ctx)
		h := staleHelper{ID: id, Name: out.Name, LockKey: spec.LockKey, Action: spec.Action, Step: spec.Step,
			Node: spec.NodeName, NodeID: spec.NodeID, TaskID: orphan.ID, State: taskState(*orphan)}
		if err := d.stopOrphanTask(sctx, h, *orphan); err != nil {
			d.Log.Error("stop the task of a removed helper", "helper", out.Name, "err", err)
		}
	}()
	defer d.removeHelper(ctx, id)

	row, err := d.waitHelper(ctx, id, spec)
	if row.ID != "" {
		out.Task.TaskID = row.ID
		out.Task.State = taskState(row)
		out.Task.Error = row.Error
	}
	if row.ID != "" && terminalState(out.Task.State) {
		d.collectTask(ctx, id, &out)
	} else if row.ID != "" {
		// Timed out or cancelled while running: whatever it logged so far helps.
		out.Logs, _ = d.helperLogs(context.WithoutCancel(ctx), id)
		out.Task.Logs = d.Secrets.Mask(out.Logs)
		if !unscheduledState(out.Task.State) {
			orphan = &row
		}
	}
	if err != nil {
		out.Err = fmt.Errorf("helper %s on %s: %w", out.Name, spec.NodeName, err)
		return out
	}
	if out.Task.State != "complete" || out.Task.ExitCode != 0 {
		msg := fmt.Sprintf("helper %s on %s ended %s with exit code %d", out.Name, spec.NodeName, out.Task.State, out.Task.ExitCode)
		if out.Task.Error != "" {
			msg += ": " + out.Task.Error
		}
		out.Err = errorf(KindDocker, "%s", d.Secrets.Mask(msg))
	}
	d.Log.Info("helper end", "helper", out.Name, "node", spec.NodeName, "state", out.Task.State, "exit", out.Task.ExitCode)
	return out
}

// waitHelper polls the helper's task until it ends, failing it when it stays unscheduled past
// the pending timeout or runs past its step timeout.
func (d *Deps) waitHelper(ctx context.Context, id string, spec helperSpec) (parse.TaskRow, error) {
	created := time.Now()
	pending := d.Config.Timeouts.Pending
	var scheduled time.Time
	var last parse.TaskRow
	tick := time.NewTicker(d.PollInterval)
	defer tick.Stop()
	for {
		out, err := d.docker(ctx, true, readTimeout, "service", "ps", "--no-trunc", "--format", "json", id)
		if err != nil {
			return last, fmt.Errorf("read helper state: %w", err)
		}
		rows, err := parse.ServicePs(out)
		if err != nil {
			return last, fmt.Errorf("read helper state: %w", err)
		}
		state := "new"
		if len(rows) > 0 {
			last = rows[0]
			state = taskState(last)
		}
		now := time.Now()
		switch {
		case terminalState(state):
			return last, nil
		case unscheduledState(state):
			if now.Sub(created) > pending {
				why := last.Error
				if why == "" {
					why = "no node took it"
				}
				return last, errorf(KindTimeout, "not scheduled on %s within the pending timeout %s: %s", spec.NodeName, pending, why)
			}
		default:
			if scheduled.IsZero() {
				scheduled = now
			}
			if now.Sub(scheduled) > spec.Timeout {
				return last, errorf(KindTimeout, "still %s after its timeout %s", state, spec.Timeout)
			}
		}
		select {
		case <-ctx.Done():
			return last, &Error{Kind: KindOf(ctx.Err()), Err: fmt.Errorf("stopped while %s: %w", state, ctx.Err())}
		case <-tick.C:
		}
	}
}

// collectTask reads the ended task's exit code and error, and the helper's logs (both at once:
// they are independent reads and each costs a docker round trip).
func (d *Deps) collectTask(ctx context.Context, id string, out *helperOutcome) {
	var logs string
	var logsErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		logs, logsErr = d.helperLogs(ctx, id)
	}()
	if js, err := d.docker(ctx, true, readTimeout, "inspect", "--type", "task", "--", out.Task.TaskID); err == nil {
		if tasks, err := parse.TaskInspect(js); err == nil && len(tasks) > 0 {
			t := tasks[0]
			out.Task.ExitCode = t.ExitCode
			if t.Err != "" {
				out.Task.Error = t.Err
			}
		}
	} else {
		out.Task.Error = strings.TrimSpace(out.Task.Error + "; inspect: " + err.Error())
	}
	<-done
	if logsErr != nil {
		logs += "\n(logs unavailable: " + logsErr.Error() + ")"
	}
	out.Logs = logs
	out.Task.Logs = d.Secrets.Mask(logs)
	out.Task.Error = d.Secrets.Mask(out.Task.Error)
}

// helperLogs returns the helper's stdout followed by its stderr.
func (d *Deps) helperLogs(ctx context.Context, id string) (string, error) {
	res, err := d.dockerResult(ctx, bashexec.Command{ReadOnly: true, Timeout: 10 * time.Second,
		Args: []string{"service", "logs", "--raw", "--no-trunc", id}})
	logs := res.Stdout
	if res.Stderr != "" {
		logs += res.Stderr
	}
	return logs, err
}

// removeHelper removes a helper even when ctx is already cancelled: nothing is left behind.
func (d *Deps) removeHelper(ctx context.Context, id string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	defer cancel()
	if _, err := d.docker(rctx, false, readTimeout, "service", "rm", id); err != nil && !isNoSuch(err) {
		d.Log.Error("remove helper", "helper", id, "err", err)
	}
}

// claimTarget handles helpers left from earlier runs for the same target (a crash, a restart):
// finished ones are removed; a running one means the target is busy.
func (d *Deps) claimTarget(ctx context.Context, lockKey string) error {
	out, err := d.docker(ctx, true, readTimeout, "service", "ls", "--filter", "label="+labelHelperLock+"="+lockKey, "--format", "json")
	if err != nil {
		return fmt.Errorf("look for earlier helpers of %s: %w", lockKey, err)
	}
	rows, err := parse.ServiceLs(out)
	if err != nil {
		return fmt.Errorf("look for earlier helpers of %s: %w", lockKey, err)
	}
	for _, svc := range rows {
		ps, err := d.docker(ctx, true, readTimeout, "service", "ps", "--no-trunc", "--format", "json", svc.ID)
		if err != nil {
			return fmt.Errorf("read earlier helper %s: %w", svc.Name, err)
		}
		tasks, err := parse.ServicePs(ps)
		if err != nil {
			return fmt.Errorf("read earlier helper %s: %w", svc.Name, err)
		}
		for _, t := range tasks {
			if st := taskState(t); !terminalState(st) {
				return errorf(KindBusy, "%s is busy: helper %s from an earlier run is still %s", lockKey, svc.Name, st)
			}
		}
		d.Log.Warn("removing finished helper left from an earlier run", "helper", svc.Name, "target", lockKey)
		d.removeHelper(ctx, svc.ID)
	}
	return nil
}

// localNodeID is the swarm node ID of the daemon swarm-utils talks to, read once; "" when it
// cannot be read (then every step uses a helper).
func (d *Deps) localNodeID(ctx context.Context) string {
	d.localOnce.Do(func() {
		out, err := d.docker(ctx, true, readTimeout, "info", "--format", "{{.Swarm.NodeID}}")
		if err != nil {
			d.Log.Warn("cannot tell which node this is; every step will use a helper", "err", err)
			return
		}
		d.localNode = strings.TrimSpace(out)
	})
	return d.localNode
}

// runDirect runs a Direct step's command here, against the local node's daemon, and reports it
// like a helper's single task.
func (d *Deps) runDirect(ctx context.Context, spec helperSpec) (out helperOutcome) {
	out.Name = "direct"
	out.Task = TaskResult{Node: spec.NodeName, State: "complete"}
	var env []string
	if d.Config.DockerHost != "" {
		env = []string{"DOCKER_HOST=" + d.Config.DockerHost}
	}
	d.Log.Info("direct step start", "node", spec.NodeName, "step", spec.Step)
	res, err := d.Runner.Run(ctx, bashexec.Command{Args: spec.Args, Env: env, Timeout: spec.Timeout})
	out.Logs = res.Stdout + res.Stderr
	out.Task.Logs = d.Secrets.Mask(out.Logs)
	out.Task.ExitCode = res.ExitCode
	switch {
	case res.DryRun:
		out.Task.State = "dry-run"
	case err != nil:
		out.Task.State = "failed"
		out.Task.Error = err.Error()
		out.Err = &Error{Kind: KindOf(err), Err: fmt.Errorf("%s on %s: %w", spec.Step, spec.NodeName, err)}
		if errors.Is(err, bashexec.ErrTimeout) {
			out.Err = errorf(KindTimeout, "%s on %s: still running after its timeout %s", spec.Step, spec.NodeName, spec.Timeout)
		}
	}
	d.Log.Info("direct step end", "node", spec.NodeName, "step", spec.Step, "state", out.Task.State, "exit", out.Task.ExitCode)
	return out
}
