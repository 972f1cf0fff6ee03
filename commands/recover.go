package commands

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/parse"
)

const (
	opRecover = "recover"
	// helperStopWait bounds the wait for a removed helper's task to stop: its container gets
	// SIGTERM and, after the default 10 s grace, SIGKILL.
	helperStopWait = 30 * time.Second
	// orphanStopGrace is how long a current engine gets to stop a removed helper's task on its
	// own (10 s grace plus slack) before swarm-utils removes the container itself.
	orphanStopGrace = 15 * time.Second
	// repairParallel bounds how many targets are repaired at once.
	repairParallel = 8
)

// Every step name a helper may carry (helperName's <step> part), longest first so that a
// prefix match finds the right one.
var helperSteps = []string{"volume-check", "pre-exec", "upload", "prune", "exec", "stop"}

var containerIDRe = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// RepairOptions narrow a repair. The zero value, what serve and `swarm-utils recover` use,
// repairs the whole cluster.
type RepairOptions struct {
	// Only limits the repair to one lock key ("service:NAME", "node:NAME"): the helpers carrying
	// it and, for a service, its restore label. Integration tests share the swarm with others.
	Only string
}

// Repair cleans up after a swarm-utils process that died in the middle of its work (kill -9,
// OOM, node reboot). Run it once at start, before serving requests or cron runs, while this
// process has no operation of its own:
//
//  1. every helper service (label swarm-utils.helper=true) belongs to a dead process: it is
//     removed, finished or still running (nobody would ever collect it). A running one is
//     waited for until it stopped (and stopped by swarm-utils where the engine leaves a removed
//     job's task running: docker before 24, moby/moby#44312), so an
//     uploader still mounting a service's volumes is interrupted before step 2;
//  2. every service a backup left at 0 replicas (label swarm-utils.backup.restore-replicas) is
//     scaled back to the recorded count and the label removed (RecoverStoppedServices).
//
// Each target is repaired under its in-process lock, so that an operation asked for meanwhile
// waits. Each repair is one Result; a summary is logged.
func (d *Deps) Repair(ctx context.Context) Report { return d.RepairWith(ctx, RepairOptions{}) }

// RepairWith is Repair limited by o.
func (d *Deps) RepairWith(ctx context.Context, o RepairOptions) Report {
	started := time.Now()
	rep := Report{Operation: opRecover, OK: true, Results: []Result{}}
	defer func() { rep.Duration = Duration(time.Since(started)) }()

	// Helpers first: an uploader of a stopped service must not still be reading its volumes
	// when the service starts writing them again.
	rep.Results = append(rep.Results, d.removeStaleHelpers(ctx, o.Only)...)
	only := ""
	if o.Only != "" {
		var isService bool
		if only, isService = strings.CutPrefix(o.Only, "service:"); !isService {
			only = "\x00" // a node key: no service to restore
		}
	}
	restored := d.recoverStoppedServices(ctx, only)
	rep.Results = append(rep.Results, restored.Results...)

	var helpers, services, failures int
	for _, r := range rep.Results {
		rep.OK = rep.OK && r.OK
		if !r.OK {
			failures++
		}
		for _, s := range r.Steps {
			switch {
			case !s.OK:
			case s.Name == "remove-helper":
				helpers++
			case s.Name == "recover-start":
				services++
			}
		}
	}
	level := slog.LevelInfo
	switch {
	case failures > 0:
		level = slog.LevelError
	case helpers+services > 0:
		level = slog.LevelWarn
	}
	d.Log.Log(ctx, level, fmt.Sprintf("repaired: %d helpers removed, %d services restored", helpers, services),
		"failed", failures, "durationMs", time.Since(started).Milliseconds())
	return rep
}

// staleHelper is a helper service found at start, with the task it ran.
type staleHelper struct {
	ID, Name, LockKey, Action, Step string
	Node, NodeID, TaskID, State     string
}

// removeStaleHelpers removes every helper (of lock key only, when set), one Result each.
func (d *Deps) removeStaleHelpers(ctx context.Context, only string) []Result {
	args := []string{"service", "ls", "--filter", "label=" + labelHelper + "=true"}
	if only != "" {
		args = append(args, "--filter", "label="+labelHelperLock+"="+only)
	}
	out, err := d.docker(ctx, true, readTimeout, append(args, "--format", "json")...)
	var rows []parse.ServiceRow
	if err == nil {
		rows, err = parse.ServiceLs(out)
	}
	if err != nil {
		return []Result{failed(opRecover, "*", fmt.Errorf("list helper services left by an earlier run: %w", err))}
	}
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	out, err = d.docker(ctx, true, readTimeout, append([]string{"service", "inspect", "--"}, ids...)...)
	if err != nil && !isNoSuch(err) { // one removed since the list: docker still prints the others
		return []Result{failed(opRecover, "*", fmt.Errorf("inspect helper services left by an earlier run: %w", err))}
	}
	svcs, err := parse.ServiceInspect(out)
	if err != nil {
		return []Result{failed(opRecover, "*", fmt.Errorf("inspect helper services left by an earlier run: %w", err))}
	}
	byKey := map[string][]staleHelper{}
	for _, s := range svcs {
		if s.Labels[labelHelper] != "true" {
			continue
		}
		h := staleHelper{ID: s.ID, Name: s.Name, LockKey: s.Labels[labelHelperLock], Action: s.Labels[labelHelperAction]}
		if h.Step = helperStepOf(h); h.Step == "" && h.Action == opBackupService && s.Image == d.Config.BackupImage {
			h.Step = "upload" // a long name is shortened with a hash; the uploader's image tells
		}
		byKey[h.LockKey] = append(byKey[h.LockKey], h)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	perKey := make([][]Result, len(keys))
	sem := make(chan struct{}, repairParallel)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			perKey[i] = d.removeHelpersOf(ctx, key, byKey[key])
		})
	}
	wg.Wait()
	var results []Result
	for _, rs := range perKey {
		results = append(results, rs...)
	}
	return results
}

// helperStepOf reads the step out of the helper's name: swarm-utils-<action>-<target>-<step>[-<node>].
func helperStepOf(h staleHelper) string {
	_, target, _ := strings.Cut(h.LockKey, ":")
	rest, ok := strings.CutPrefix(h.Name, helperName(h.Action, target, "", "")) // "...-<target>-"
	if !ok {
		return ""
	}
	for _, s := range helperSteps {
		if rest == s || strings.HasPrefix(rest, s+"-") {
			return s
		}
	}
	return ""
}

// removeHelpersOf removes the helpers of one lock key under that key's in-process lock.
func (d *Deps) removeHelpersOf(ctx context.Context, key string, helpers []staleHelper) []Result {
	slices.SortFunc(helpers, func(a, b staleHelper) int { return strings.Compare(a.Name, b.Name) })
	results := make([]Result, 0, len(helpers))
	if key != "" {
		release, err := d.Locks.Acquire(ctx, key, d.Config.Timeouts.Lock)
		if err != nil {
			for _, h := range helpers {
				results = append(results, failed(opRecover, key, fmt.Errorf("remove helper %s: %w", h.Name, err)))
			}
			return results
		}
		defer release()
	}
	for _, h := range helpers {
		results = append(results, d.removeStaleHelper(ctx, h))
	}
	return results
}

// removeStaleHelper removes one helper left by a dead process and, when its task still runs,
// stops it and waits until it did.
func (d *Deps) removeStaleHelper(ctx context.Context, h staleHelper) (r Result) {
	target := h.LockKey
	if target == "" {
		target = h.Name
	}
	r = Result{Operation: opRecover, Target: target, OK: true, StartedAt: time.Now().UTC()}
	st := Step{Name: "remove-helper", Helper: h.Name, OK: true, Details: map[string]string{"action": h.Action, "lockKey": h.LockKey}}
	if h.Step != "" {
		st.Details["step"] = h.Step
	}
	defer func() {
		st.Duration = Duration(time.Since(r.StartedAt))
		r.Steps = []Step{st}
		r.Duration = st.Duration
		if !st.OK {
			r.fail(errorf(KindDocker, "%s", st.Error))
		}
	}()

	// Its task, as the dead process last left it.
	var running []parse.TaskRow
	h.State = "gone"
	if out, err := d.docker(ctx, true, readTimeout, "service", "ps", "--no-trunc", "--format", "json", h.ID); err == nil {
		if rows, perr := parse.ServicePs(out); perr == nil && len(rows) > 0 {
			h.TaskID, h.Node, h.State = rows[0].ID, rows[0].Node, taskState(rows[0])
			for _, t := range rows {
				if !terminalState(taskState(t)) {
					running = append(running, t)
				}
			}
		}
	} else if !isNoSuch(err) {
		h.State = "unknown"
		d.Log.Warn("read helper state", "helper", h.Name, "err", err)
	}
	st.Node = h.Node
	st.Details["state"] = h.State
	if len(running) > 0 {
		st.Details["interrupted"] = interruptedWhat(h)
	}

	if _, err := d.docker(ctx, false, readTimeout, "service", "rm", h.ID); err != nil && !isNoSuch(err) {
		st.OK, st.Error = false, fmt.Sprintf("remove helper %s (%s %s, %s): %v", h.Name, h.Action, h.LockKey, h.State, err)
		d.Log.Error("could not remove helper left by an earlier run", "helper", h.Name, "lockKey", h.LockKey, "action", h.Action, "state", h.State, "err", err)
		return r
	}
	attrs := []any{"helper", h.Name, "lockKey", h.LockKey, "action", h.Action, "step", h.Step, "node", h.Node, "state", h.State}
	if len(running) == 0 {
		d.Log.Warn("removed helper left by an earlier run", attrs...)
		return r
	}
	d.Log.Warn("removed helper left running by an earlier run: "+st.Details["interrupted"], attrs...)
	if d.Config.DryRun {
		return r
	}
	for _, t := range running {
		if err := d.stopOrphanTask(ctx, h, t); err != nil {
			st.OK, st.Error = false, err.Error()
			d.Log.Error("helper removed but its task still runs", "helper", h.Name, "task", t.ID, "node", t.Node, "err", err)
		}
	}
	if st.OK {
		st.Details["stopped"] = "true"
	}
	return r
}

// interruptedWhat says what stopping a running helper breaks off.
func interruptedWhat(h staleHelper) string {
	switch h.Step {
	case "upload":
		return "a running uploader is interrupted: that backup was not completed"
	case "pre-exec", "exec":
		return "its docker exec client is stopped; a command it started inside the target task may keep running"
	case "prune":
		return "a running prune is interrupted"
	case "volume-check":
		return "a running volume check is interrupted"
	}
	return "its work is interrupted"
}

// stopOrphanTask waits until the task of a removed helper is no longer running. A current
// engine stops it on its own (SIGTERM, then SIGKILL after the 10 s grace). Docker before 24
// leaves a removed job's task running (moby/moby#44312): on such a node, once the task has a
// container, a helper there removes that container. Should a current engine still run it after
// orphanStopGrace, the container is removed all the same.
func (d *Deps) stopOrphanTask(ctx context.Context, h staleHelper, row parse.TaskRow) error {
	wctx, cancel := context.WithTimeout(ctx, helperStopWait)
	defer cancel()
	tick := time.NewTicker(d.PollInterval)
	defer tick.Stop()
	started := time.Now()
	stopSent := false
	legacy := -1 // does the task's node need the workaround? -1: not asked yet
	last := taskState(row)
	for {
		out, err := d.docker(wctx, true, readTimeout, "inspect", "--type", "task", "--", row.ID)
		if err != nil && isNoSuch(err) {
			return nil // reaped: nothing runs any more
		}
		if err == nil {
			if tasks, perr := parse.TaskInspect(out); perr == nil && len(tasks) > 0 {
				t := tasks[0]
				last = strings.ToLower(t.State)
				if t.Terminal() {
					return nil
				}
				if !stopSent && t.ContainerID != "" && t.NodeID != "" {
					if legacy < 0 {
						legacy = 0
						if d.nodeKeepsRemovedJobTasks(wctx, t.NodeID) {
							legacy = 1
						}
					}
					late := time.Since(started) > orphanStopGrace
					if legacy == 1 || late {
						stopSent = true
						why := "the node's engine leaves a removed job's task running (moby/moby#44312)"
						if legacy == 0 {
							why = "the engine has not stopped it after " + orphanStopGrace.String()
						}
						d.Log.Info("removing the container of a removed helper's task", "helper", h.Name, "node", row.Node, "task", row.ID, "why", why)
						if serr := d.removeTaskContainer(wctx, h, t, row.Node); serr != nil {
							d.Log.Warn("stop helper's container", "helper", h.Name, "node", row.Node, "err", serr)
						}
						continue // read its state at once
					}
				}
			}
		}
		select {
		case <-wctx.Done():
			what := "its task " + row.ID
			if row.Node != "" {
				what += " on " + row.Node
			}
			return fmt.Errorf("%s is still %s %s after the helper was removed", what, last, time.Since(started).Round(time.Millisecond))
		case <-tick.C:
		}
	}
}

// removeTaskContainer removes (kills) the container of a task on its node: directly when that
// is the node swarm-utils talks to, else from a helper there (only the node's daemon can).
func (d *Deps) removeTaskContainer(ctx context.Context, h staleHelper, t parse.Task, nodeName string) error {
	if !containerIDRe.MatchString(t.ContainerID) {
		return fmt.Errorf("unexpected container ID %q", t.ContainerID)
	}
	_, target, _ := strings.Cut(h.LockKey, ":")
	if target == "" {
		target = h.Name
	}
	if nodeName == "" {
		nodeName = t.NodeID
	}
	lockKey := h.LockKey
	out := d.runHelper(ctx, helperSpec{
		Action: opRecover, LockKey: lockKey, Target: target, Step: "stop", NodeID: t.NodeID, NodeName: nodeName,
		Image: d.Config.DockerCLIImage, Args: []string{"docker", "rm", "--force", t.ContainerID}, Socket: true, Direct: true,
		Timeout: helperStopWait,
	})
	return out.Err
}
