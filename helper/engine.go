// Package helper is the helper-service engine: a step that must run on a particular node runs
// in a short-lived one-shot service pinned to it. The engine creates the helper, waits for its
// task, collects its exit code and logs, always removes it, stops a task a removed helper left
// running, and claims a target against helpers of earlier runs. Helpers that print several
// results use marker scripts (script.go).
package helper

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Labels every helper service carries. The lock label is the cross-restart lock (SPEC §6); the
// step label tells recovery what a helper was doing without reading its name back.
const (
	LabelHelper = "swarm-utils.helper"
	LabelLock   = "swarm-utils.helper.lock"
	LabelAction = "swarm-utils.helper.action"
	LabelStep   = "swarm-utils.helper.step"
	// LabelInstance and LabelRun tell whose helper it is (SPEC §11): a process never removes
	// a helper of another instance, nor of a run that still holds its target's lock.
	LabelInstance = "swarm-utils.helper.instance"
	LabelRun      = "swarm-utils.helper.run"
	// LabelSecret marks a swarm secret swarm-utils created for a helper (it also carries
	// LabelLock): recovery removes those a crash left.
	LabelSecret = "swarm-utils.secret"
	dockerSock  = "/var/run/docker.sock"
)

// Slack covers a helper's own start and the docker CLI's start inside it, on top of the
// timeouts of the commands it runs.
const Slack = 5 * time.Second

// Swarm is what the engine does to the cluster.
type Swarm interface {
	swarm.TaskReader
	ListServices(ctx context.Context, labels ...string) ([]parse.ServiceRow, error)
	Logs(ctx context.Context, id string, tail int) (string, error)
	FollowLogs(ctx context.Context, id string, tail int, until string) (string, bool, error)
	JobTasks(ctx context.Context, ids []string) ([]parse.TaskRow, error)
	CreateJob(ctx context.Context, j swarm.Job) (string, error)
	Remove(ctx context.Context, id string) error
	LocalNodeID(ctx context.Context) (string, error)
	Node(ctx context.Context, id string) (parse.Node, error)
	APIVersion(ctx context.Context) (string, error)
	RunLocal(ctx context.Context, args []string, timeout time.Duration) (bashexec.Result, error)
}

// Engine runs helpers.
type Engine struct {
	Swarm   Swarm
	Secrets *bashexec.Secrets
	Log     *slog.Logger
	// Pending is how long a helper may stay unscheduled (SWARM_UTILS_PENDING_TIMEOUT).
	Pending time.Duration
	// PollInterval is how often a helper's task state is read; 100 ms keeps a helper's whole
	// lifecycle near the ~0.6 s floor without loading the manager.
	PollInterval time.Duration
	// DockerCLIImage runs the helpers that drive a node's docker CLI (Direct steps, stops).
	DockerCLIImage string
	// OnCreated is called for every helper created (metrics); nil-safe.
	OnCreated func(action string)
	// Instance is SWARM_UTILS_INSTANCE, on every helper's LabelInstance ("": the default one).
	Instance string
	// LocalNode, when set, is the node ID of the daemon this engine talks to, known beforehand
	// (inside a helper, from its arguments): no `docker info` to read it.
	LocalNode string

	polls   pollBatch
	follows atomic.Int32 // follows running (follow.go)

	localOnce sync.Once
	localNode string
	apiOnce   sync.Once
	apiVer    string // see localAPIVersion
}

// Spec is one short-lived job pinned to one node.
type Spec struct {
	Action     string   // operation, e.g. "clean-node"
	LockKey    string   // target, e.g. "node:worker-1"
	Target     string   // target name, for the helper's name
	Step       string   // step, e.g. "prune"
	NodeID     string   // pin: node.id constraint
	NodeName   string   // for the helper's name and the logs
	Image      string   // helper image
	Entrypoint string   // overrides the image's entrypoint when set (offen's is a scheduler)
	User       string   // overrides the image's user when set (the restore helper writes as root)
	Args       []string // command; empty = the image's own command
	Env        []string // KEY=VALUE; secret values are masked in every log line
	Mounts     []string // extra --mount values
	Secrets    []string // --secret values; the secrets must exist and outlive the helper
	Socket     bool     // mount the node's docker.sock
	Timeout    time.Duration
	// Direct: the command only drives the node's docker CLI (Args is a script run by sh), so on
	// the node swarm-utils itself talks to it runs directly, without a helper (SPEC §1: what the
	// manager can do itself, it does itself). Saves a helper lifecycle and a container start.
	Direct bool
	// DoneLine is the line the command prints as its very last action when it ran to its end
	// (a marker script's "MARKER done", the uploader's script once `backup` exited 0), so that
	// its exit code is 0: its logs are then followed while it runs (follow.go). "" for a
	// command that prints none (a stopper's `docker rm`, the volume listing).
	DoneLine string
	// RemoveLate: nothing later in the operation waits for this helper to be gone (no secret it
	// uses, no helper of the same name), so once its task ended and its logs were read its
	// removal runs beside the end of the operation (operation.Tidy).
	RemoveLate bool
}

// Outcome is what a helper did.
type Outcome struct {
	Name string
	Task operation.TaskResult // a one-shot job has exactly one task
	Logs string               // raw (unmasked) logs, for parsing; Task.Logs is the masked copy
	Err  error
}

// Step turns the outcome into the Step name on node, started at started.
func (o Outcome) Step(name, node string, started time.Time) operation.Step {
	s := operation.Step{Name: name, Node: node, Helper: o.Name, OK: o.Err == nil, Duration: operation.Since(started), Tasks: []operation.TaskResult{o.Task}}
	if o.Err != nil {
		s.Error = o.Err.Error()
		s.ErrorKind = StepKind(o.Err)
	}
	return s
}

// InstanceOf is the instance a helper or secret with these labels belongs to (none: default,
// as helpers made before instances existed).
func InstanceOf(labels map[string]string) string {
	return cmp.Or(strings.TrimSpace(labels[LabelInstance]), parse.DefaultInstance)
}

// StepKind is the Kind a failed step passes on to its operation: busy and timeout say more than
// "docker failed"; anything else stays the runner's default (docker).
func StepKind(err error) operation.Kind {
	switch k := operation.KindOf(err); k {
	case operation.KindBusy, operation.KindTimeout:
		return k
	}
	return ""
}

// Name is deterministic so that a helper left behind by a crashed run blocks the next one
// (SPEC §6): swarm-utils-<action>-<target>-<step>[-<node ID>]. Docker allows 63 characters;
// longer names keep a prefix plus a hash of the whole.
func Name(action, target, step, node string) string {
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

// Run creates the helper, waits for its task to end, collects state, exit code, error and
// logs, and always removes it — on success, failure, timeout and cancel alike. A helper whose
// node rejected its task is run once more (see rejectedRetries).
func (e *Engine) Run(ctx context.Context, spec Spec) (out Outcome) {
	if spec.Direct && spec.NodeID != "" && spec.NodeID == e.localNodeID(ctx) {
		return e.runDirect(ctx, spec)
	}
	for try := 0; ; try++ {
		out = e.runOnce(ctx, spec)
		if out.Task.State != "rejected" || try == rejectedRetries || ctx.Err() != nil {
			return out
		}
		e.Log.Warn("the node rejected the helper's task before it ran; creating it once more",
			"helper", out.Name, "node", spec.NodeName, "err", out.Task.Error)
	}
}

// rejectedRetries is how many more times a helper is created when its node rejected the task:
// "rejected" means the node could not start a container at all (an image pull or a layer
// extraction that failed — current engines fail concurrent pulls of one image on a node now
// and then — or a mount it could not make), so nothing of the helper ran and another try is
// safe for every kind of helper.
const rejectedRetries = 1

// runOnce is one helper's lifecycle, from create to removal.
func (e *Engine) runOnce(ctx context.Context, spec Spec) (out Outcome) {
	// Keyed by node ID: hostnames are not unique (cloned VMs).
	out.Name = Name(spec.Action, spec.Target, spec.Step, cmp.Or(spec.NodeID, spec.NodeName))
	out.Task = operation.TaskResult{Node: spec.NodeName, State: "not created", ExitCode: -1}
	job := swarm.Job{Name: out.Name, NodeID: spec.NodeID,
		Labels: []swarm.Label{{Key: LabelHelper, Value: "true"}, {Key: LabelLock, Value: spec.LockKey},
			{Key: LabelAction, Value: spec.Action}, {Key: LabelStep, Value: spec.Step},
			{Key: LabelInstance, Value: cmp.Or(e.Instance, parse.DefaultInstance)}, {Key: LabelRun, Value: operation.RunOf(ctx)}},
		// Swarm keeps the exited container of a finished job task on its node even after the
		// service is removed; the label lets later helpers there remove it (clean-node).
		ContainerLabels: []swarm.Label{{Key: LabelHelper, Value: "true"}},
		Env:             spec.Env, Secrets: spec.Secrets, Entrypoint: spec.Entrypoint, User: spec.User, Image: spec.Image, Args: spec.Args}
	if spec.Socket {
		job.Mounts = append(job.Mounts, "type=bind,src="+dockerSock+",dst="+dockerSock)
	}
	job.Mounts = append(job.Mounts, spec.Mounts...)

	e.Log.Info("helper start", "helper", out.Name, "node", spec.NodeName, "step", spec.Step)
	id, err := e.Swarm.CreateJob(ctx, job)
	if err != nil {
		if alreadyExists(err) {
			// Another run's helper holds the name (a concurrent process, a restart): the target
			// is busy, and that helper is not ours to remove.
			out.Task.State = "busy"
			out.Err = operation.Errorf(operation.KindBusy, "%s is busy: a helper named %s already exists", spec.LockKey, out.Name)
			return out
		}
		out.Err = fmt.Errorf("create helper %s on %s: %w", out.Name, spec.NodeName, operation.MaskErr(e.Secrets.For(ctx), err))
		// A create that timed out may still have made the service.
		e.Remove(ctx, out.Name)
		return out
	}
	if e.OnCreated != nil {
		e.OnCreated(spec.Action)
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
	late := false
	defer func() {
		if orphan == nil {
			return
		}
		h := Stale{ID: id, Name: out.Name, LockKey: spec.LockKey, Action: spec.Action, Step: spec.Step,
			Node: spec.NodeName, NodeID: spec.NodeID, TaskID: orphan.ID, State: swarm.TaskState(*orphan)}
		if err := e.StopOrphan(context.WithoutCancel(ctx), h, *orphan); err != nil {
			e.Log.Error("stop the task of a removed helper", "helper", out.Name, "err", err)
		}
	}()
	defer func() {
		if !late || !operation.Tidy(ctx, func() { e.Remove(ctx, id) }) {
			e.Remove(ctx, id)
		}
	}()

	var f *follower
	var startFollow func() *follower
	if spec.DoneLine != "" {
		startFollow = func() *follower {
			f = e.follow(ctx, id, out.Name, spec)
			return f
		}
		defer func() {
			if f != nil {
				f.stop()
				<-f.ended // no docker process outlives its helper
			}
		}()
	}
	row, ranToEnd, err := e.wait(ctx, id, out.Name, spec, startFollow)
	if row.ID != "" {
		out.Task.TaskID = row.ID
		out.Task.State = swarm.TaskState(row)
		out.Task.Error = row.Error
	}
	if ranToEnd && !swarm.Terminal(out.Task.State) {
		// Its done line came: the command ran to its end, and the manager records the task
		// complete a moment later.
		out.Task.State, out.Task.Error = "complete", ""
	}
	if (row.ID != "" || ranToEnd) && swarm.Terminal(out.Task.State) {
		e.collect(ctx, id, &out, f)
		// A rejected helper is tried again under the same name: it must be gone first.
		late = spec.RemoveLate && out.Task.State != "rejected"
	} else if row.ID != "" {
		// Timed out or cancelled while running: whatever it logged so far helps.
		out.Logs, _ = e.Swarm.Logs(context.WithoutCancel(ctx), id, LogTailLines)
		out.Logs = noteTailLines(out.Logs)
		out.Task.Logs = e.Secrets.For(ctx).Mask(out.Logs)
		// A task still preparing with an error (its image cannot be pulled) has no container
		// to stop.
		if !swarm.Unscheduled(out.Task.State) && (out.Task.State != "preparing" || row.Error == "") {
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
		out.Err = operation.Errorf(operation.KindDocker, "%s", e.Secrets.For(ctx).Mask(msg))
	}
	e.Log.Info("helper end", "helper", out.Name, "node", spec.NodeName, "state", out.Task.State, "exit", out.Task.ExitCode)
	return out
}

// alreadyExists tells docker's answer to a create whose name is taken ("name conflicts with an
// existing object", gRPC AlreadyExists).
func alreadyExists(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "alreadyexists") || strings.Contains(msg, "name conflicts with an existing object")
}

// firstPoll is how many poll intervals after its create a helper's task is first read, at the
// latest: a task is scheduled, its container created, started and ended, and that reported back
// to the manager, which never took less than ~0.4 s on the test bed; polls before that only cost
// a docker process each. The first poll falls on the process's grid of poll intervals, so that
// helpers that run at once, created a few ms apart, poll in the same rounds (pollBatch).
const firstPoll = 3

// firstPollIn is how long a helper created now waits for its first poll: at least firstPoll-1
// intervals, to the next point of the grid.
func firstPollIn(interval time.Duration, now time.Time) time.Duration {
	if interval <= 0 {
		return 0
	}
	at := now.Add((firstPoll - 1) * interval)
	return at.Truncate(interval).Add(interval).Sub(now)
}

// untilGrid is how long until the next multiple of d (absolute time), at least a tenth of d.
func untilGrid(d time.Duration, now time.Time) time.Duration {
	wait := now.Truncate(d).Add(d).Sub(now)
	if wait < d/10 {
		wait += d
	}
	return wait
}

// maxFailedPolls is how many reads of a helper's state in a row may fail before the helper
// does.
const maxFailedPolls = 3

// wait polls the helper's task until it ends, failing it when it stays unscheduled past the
// pending timeout or runs past its step timeout. With startFollow (a helper with a done line)
// its logs are followed once a poll saw its task on its node (a follow started before that
// never sees the task), and it is polled every slowPoll from then on until the done line came:
// ranToEnd, also when the manager does not record its task ended yet.
func (e *Engine) wait(ctx context.Context, id, name string, spec Spec, startFollow func() *follower) (last parse.TaskRow, ranToEnd bool, err error) {
	created := time.Now()
	var scheduled time.Time
	state := "new"
	failed := 0
	check := func(ctx context.Context) (bool, error) {
		rows, err := e.helperTasks(ctx, id, name)
		if err != nil {
			// One read that failed (a docker CLI that timed out on a loaded manager) is
			// retried at the next poll; only reads failing in a row fail the helper.
			if failed++; failed < maxFailedPolls && ctx.Err() == nil {
				e.Log.Warn("read helper state, retrying", "helper", name, "err", err)
				return false, nil
			}
			return false, fmt.Errorf("read helper state: %w", err)
		}
		failed = 0
		state = "new"
		if len(rows) > 0 {
			last = rows[0]
			state = swarm.TaskState(last)
		}
		now := time.Now()
		switch {
		case swarm.Terminal(state):
			return true, nil
		case swarm.Unscheduled(state):
			if now.Sub(created) > e.Pending {
				why := last.Error
				if why == "" {
					why = "no node took it"
				}
				return false, operation.Errorf(operation.KindTimeout, "not scheduled on %s within the pending timeout %s: %s", spec.NodeName, e.Pending, why)
			}
		default:
			if scheduled.IsZero() {
				scheduled = now
			}
			// A node that cannot pull the helper's image keeps its task preparing with the
			// pull's error and tries again for as long as it is left: that is failed like a
			// helper no node takes, not after the step's whole timeout.
			if state == "preparing" && last.Error != "" && now.Sub(scheduled) > min(e.Pending, spec.Timeout) {
				return false, operation.Errorf(operation.KindDocker, "still preparing on %s after %s (is its image %s reachable from there?): %s",
					spec.NodeName, min(e.Pending, spec.Timeout), spec.Image, last.Error)
			}
			if now.Sub(scheduled) > spec.Timeout {
				return false, operation.Errorf(operation.KindTimeout, "still %s after its timeout %s", state, spec.Timeout)
			}
		}
		return false, nil
	}
	interval := e.PollInterval
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	var f *follower
	var seen, ended <-chan struct{}
	timer := time.NewTimer(firstPollIn(interval, created))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-seen:
			ranToEnd = true
		case <-ended:
			if f.done {
				ranToEnd = true
				break
			}
			// The follow returned without the done line (the helper failed, or its logs could
			// not be followed): polled as any other helper from now on.
			seen, ended = nil, nil
			if f.err != nil && ctx.Err() == nil {
				e.Log.Debug("follow helper logs", "helper", name, "err", f.err)
			}
			timer.Reset(untilGrid(interval, time.Now()))
			continue
		case <-timer.C:
		}
		if err != nil || ranToEnd && last.ID != "" {
			break // a done line after a poll that told the task: nothing more to read
		}
		var done bool
		if done, err = check(ctx); done || err != nil || ranToEnd {
			break
		}
		if startFollow != nil && f == nil && !swarm.Unscheduled(state) {
			if f = startFollow(); f != nil {
				seen, ended = f.seen, f.ended
			} else {
				startFollow = nil // too many follows already: polled as any helper
			}
		}
		// The next poll falls on the grid, whatever this one took: helpers polling at once stay
		// in the same rounds.
		next := interval
		if seen != nil {
			next = slowPoll
		}
		timer.Reset(untilGrid(next, time.Now()))
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		aborted := operation.Aborted(ctx)
		err = &operation.Error{Kind: operation.KindOf(aborted), Err: fmt.Errorf("stopped while %s: %w", state, aborted)}
	}
	if err != nil {
		ranToEnd = false
	}
	return last, ranToEnd, err
}

// collect reads the ended task's exit code and error (a failed one's only), and the helper's
// logs (both at once: they are independent reads and each costs a docker round trip) unless
// its follow (f) has them whole.
func (e *Engine) collect(ctx context.Context, id string, out *Outcome, f *follower) {
	logs, followed := f.followed()
	var logsErr error
	done := make(chan struct{})
	if followed {
		logs = noteTailLines(logs)
		close(done)
	} else {
		go e.readLogs(ctx, id, &logs, &logsErr, done)
	}
	if out.Task.State == "complete" {
		// A job's task completes only when its container exited 0: the inspect, one docker
		// process per helper, would tell nothing more.
		out.Task.ExitCode = 0
	} else if tasks, err := e.Swarm.InspectTasks(ctx, out.Task.TaskID); err == nil {
		if len(tasks) > 0 {
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
	out.Task.Logs = e.Secrets.For(ctx).Mask(logs)
	out.Task.Error = e.Secrets.For(ctx).Mask(out.Task.Error)
}

// readLogs reads the helper's logs into logs and logsErr, then closes done.
func (e *Engine) readLogs(ctx context.Context, id string, logs *string, logsErr *error, done chan<- struct{}) {
	defer close(done)
	defer func() {
		// A panic in this goroutine would crash serve; the logs are then only missing.
		if p := recover(); p != nil {
			*logsErr = fmt.Errorf("internal error: %v", p)
			e.Log.Error("read helper logs panicked", "helper", id, "panic", e.Secrets.For(ctx).Mask(fmt.Sprint(p)), "stack", string(debug.Stack()))
		}
	}()
	*logs, *logsErr = e.Swarm.Logs(ctx, id, LogTailLines)
	*logs = noteTailLines(*logs)
}

// LogTailLines is how many of a helper's last log lines the daemon sends (`service logs --tail`),
// so that it does not stream a huge output whole; the docker CLI keeps at most the last
// bashexec.TaskOutputTail bytes of them. Marker scripts end with a summary of a few lines per
// part, which the tail always holds.
const LogTailLines = 10000

// noteTailLines says so when the daemon's --tail may have left lines out, as bashexec's note
// does for the bytes it cut.
func noteTailLines(logs string) string {
	lines := strings.Count(logs, "\n")
	if !strings.HasSuffix(logs, "\n") {
		lines++
	}
	if lines < LogTailLines || strings.HasPrefix(logs, "[… ") {
		return logs
	}
	return "[… earlier lines cut …]\n" + logs
}

// removeTimeout bounds the removal of a helper, also after its operation's context ended.
const removeTimeout = 30 * time.Second

// Remove removes a helper even when ctx is already cancelled: nothing is left behind.
func (e *Engine) Remove(ctx context.Context, id string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	if err := e.Swarm.Remove(rctx, id); err != nil {
		e.Log.Error("remove helper", "helper", id, "err", err)
	}
}

// Claim handles helpers left from earlier runs for the same target (a crash, a restart):
// finished ones are removed; a running one means the target is busy.
func (e *Engine) Claim(ctx context.Context, lockKey string) error {
	rows, err := e.Swarm.ListServices(ctx, LabelLock+"="+lockKey)
	if err != nil {
		return fmt.Errorf("look for earlier helpers of %s: %w", lockKey, err)
	}
	for _, svc := range rows {
		tasks, err := e.Swarm.Tasks(ctx, svc.ID, false)
		if err != nil && swarm.IsNoSuch(err) {
			continue // removed since the list: its run was tidying up after itself
		}
		if err != nil {
			return fmt.Errorf("read earlier helper %s: %w", svc.Name, err)
		}
		for _, t := range tasks {
			if st := swarm.TaskState(t); !swarm.Terminal(st) {
				return operation.Errorf(operation.KindBusy, "%s is busy: helper %s from an earlier run is still %s", lockKey, svc.Name, st)
			}
		}
		e.Log.Warn("removing finished helper left from an earlier run", "helper", svc.Name, "target", lockKey)
		e.Remove(ctx, svc.ID)
	}
	return nil
}

// localNodeID is the swarm node ID of the daemon swarm-utils talks to, read once; "" when it
// cannot be read (then every step uses a helper).
func (e *Engine) localNodeID(ctx context.Context) string {
	if e.LocalNode != "" {
		return e.LocalNode
	}
	e.localOnce.Do(func() {
		id, err := e.Swarm.LocalNodeID(ctx)
		if err != nil {
			e.Log.Warn("cannot tell which node this is; every step will use a helper", "err", err)
			return
		}
		e.localNode = id
	})
	return e.localNode
}

// KnowLocalNode records the local node's ID read along with another answer (`docker node
// inspect -- NAME self`), so that no `docker info` reads it again; a first answer stays.
func (e *Engine) KnowLocalNode(id string) {
	if id != "" {
		e.localOnce.Do(func() { e.localNode = id })
	}
}

// ReadLocalNode reads the local node's ID in the background, off the critical path of a step
// that will need it; a later use waits for that read.
func (e *Engine) ReadLocalNode(ctx context.Context) {
	if e.LocalNode == "" {
		go e.localNodeID(context.WithoutCancel(ctx))
	}
}

// IsLocal tells whether nodeID is the node swarm-utils talks to, where Direct steps need no
// helper.
func (e *Engine) IsLocal(ctx context.Context, nodeID string) bool {
	return nodeID != "" && nodeID == e.localNodeID(ctx)
}

// runDirect runs a Direct step's command here, against the local node's daemon, and reports it
// like a helper's single task.
func (e *Engine) runDirect(ctx context.Context, spec Spec) (out Outcome) {
	out.Name = "direct"
	out.Task = operation.TaskResult{Node: spec.NodeName, State: "complete"}
	e.Log.Info("direct step start", "node", spec.NodeName, "step", spec.Step)
	res, err := e.Swarm.RunLocal(ctx, spec.Args, spec.Timeout)
	out.Logs = res.Stdout + res.Stderr
	out.Task.Logs = e.Secrets.For(ctx).Mask(out.Logs)
	out.Task.ExitCode = res.ExitCode
	switch {
	case res.DryRun:
		out.Task.State = "dry-run"
	case err != nil:
		out.Task.State = "failed"
		out.Task.Error = e.Secrets.For(ctx).Mask(err.Error())
		var exit *bashexec.ExitError
		switch {
		case ctx.Err() != nil:
			// Its whole process tree was ended (bashexec); the answer is why: the budget, a
			// shutdown, the caller.
			out.Task.State = "aborted"
			aborted := operation.Aborted(ctx)
			out.Task.Error = e.Secrets.For(ctx).Mask(aborted.Error())
			out.Err = &operation.Error{Kind: operation.KindOf(aborted), Err: fmt.Errorf("%s on %s: aborted: %w", spec.Step, spec.NodeName, aborted)}
		case errors.Is(err, bashexec.ErrTimeout):
			out.Err = operation.Errorf(operation.KindTimeout, "%s on %s: still running after its timeout %s", spec.Step, spec.NodeName, spec.Timeout)
		case errors.As(err, &exit) && TimedOut(exit.ExitCode):
			// The step's own `timeout N docker …` ended it.
			out.Err = operation.Errorf(operation.KindTimeout, "%s on %s: timed out (timeout(1) exit code %d)", spec.Step, spec.NodeName, exit.ExitCode)
		default:
			out.Err = &operation.Error{Kind: operation.KindOf(err), Err: fmt.Errorf("%s on %s: %w", spec.Step, spec.NodeName, operation.MaskErr(e.Secrets.For(ctx), err))}
		}
	}
	e.Log.Info("direct step end", "node", spec.NodeName, "step", spec.Step, "state", out.Task.State, "exit", out.Task.ExitCode)
	return out
}
