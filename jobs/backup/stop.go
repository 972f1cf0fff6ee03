package backup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// OpRecover names the repair of services a backup left stopped.
const OpRecover = "backup-recover"

// stop records the replica count on the service and scales it to 0 in one update, then waits
// until none of its tasks runs any more.
func (j *Job) stop(ctx context.Context, name string, replicas uint64, timeout time.Duration) (st operation.Step) {
	started := time.Now()
	n := strconv.FormatUint(replicas, 10)
	st = operation.Step{Name: "stop", OK: true, Details: map[string]string{"replicas": n}}
	defer func() { st.Duration = operation.Since(started) }()
	if err := j.Swarm.Scale(ctx, swarm.Scale{Service: name, Replicas: 0, LabelAdd: &swarm.Label{Key: LabelRestoreReplicas, Value: n}}); err != nil {
		st.OK, st.Error = false, fmt.Sprintf("scale %s to 0: %v", name, err)
		return st
	}
	if j.Swarm.DryRun() {
		return st
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := j.waitTasks(wctx, name, false, func(rows []parse.TaskRow) (bool, string) {
		active := 0
		for _, r := range rows {
			if !swarm.Terminal(swarm.TaskState(r)) {
				active++
			}
		}
		return active == 0, fmt.Sprintf("%d task(s) still running", active)
	})
	if err != nil {
		st.OK, st.Error = false, fmt.Sprintf("stop %s within %s: %v", name, timeout, err)
	}
	return st
}

// start scales the service back to replicas, drops the restore label and waits until that
// many tasks run. It runs on a context of its own (timeout): the operation's may be over
// already. A failing update is retried until the timeout: the service must not stay at 0.
func (j *Job) start(ctx context.Context, name string, replicas uint64, timeout time.Duration) (st operation.Step) {
	started := time.Now()
	n := strconv.FormatUint(replicas, 10)
	st = operation.Step{Name: "start", OK: true, Details: map[string]string{"replicas": n}}
	defer func() { st.Duration = operation.Since(started) }()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var lastErr error
	err := swarm.Poll(rctx, 10*j.PollInterval, func(ctx context.Context) (bool, error) {
		lastErr = j.Swarm.Scale(ctx, swarm.Scale{Service: name, Replicas: replicas, LabelRm: LabelRestoreReplicas})
		switch {
		case lastErr == nil:
			return true, nil
		case swarm.IsNoSuch(lastErr) || ctx.Err() != nil:
			return false, lastErr
		}
		j.Log.Warn("scale back failed, retrying", "service", name, "replicas", n, "err", lastErr)
		return false, nil
	})
	if err != nil {
		if lastErr != nil && errors.Is(err, rctx.Err()) {
			err = lastErr
		}
		st.OK, st.Error = false, fmt.Sprintf("scale %s back to %s: %v", name, n, err)
		j.Log.Error("service left scaled down; restore it by hand", "service", name, "cmd",
			fmt.Sprintf("docker service update --replicas %s --label-rm %s %s", n, LabelRestoreReplicas, name), "err", err)
		return st
	}
	if j.Swarm.DryRun() {
		return st
	}
	var unplaceable error
	err = j.waitTasks(rctx, name, true, func(rows []parse.TaskRow) (bool, string) {
		var ok bool
		ok, unplaceable = startedOrStuck(rows, replicas)
		return ok || unplaceable != nil, fmt.Sprintf("%d of %s task(s) running", countRunning(rows), n)
	})
	switch {
	case unplaceable != nil:
		// The spec is back at its count: swarm places the rest as soon as a node can take them.
		st.OK, st.Error = false, fmt.Sprintf("start %s at %s replicas: %v", name, n, unplaceable)
	case err != nil:
		st.OK, st.Error = false, fmt.Sprintf("start %s at %s replicas within %s: %v", name, n, timeout, err)
	}
	return st
}

func countRunning(rows []parse.TaskRow) int {
	running := 0
	for _, r := range rows {
		if swarm.TaskState(r) == "running" {
			running++
		}
	}
	return running
}

// startedOrStuck tells whether replicas tasks run, or else whether every one that does not is
// pending because the scheduler found no node for it (a node went down, constraints, limits):
// waiting longer would only wait for the start timeout, so that is reported at once.
func startedOrStuck(rows []parse.TaskRow, replicas uint64) (bool, error) {
	running, pending, onTheWay := 0, 0, 0
	why := ""
	for _, r := range rows {
		switch state := swarm.TaskState(r); {
		case state == "running":
			running++
		case state == "pending" && r.Error != "":
			pending++
			why = r.Error
		default:
			onTheWay++
		}
	}
	if uint64(running) >= replicas {
		return true, nil
	}
	if onTheWay > 0 || pending == 0 || uint64(running+pending) < replicas {
		return false, nil // tasks still on their way, or the orchestrator has not made them all
	}
	return false, fmt.Errorf("%d desired, %d running, %d pending: %s", replicas, running, pending, why)
}

// waitTasks reads the service's tasks (only those desired running when desiredRunning) until
// done says so or ctx ends; the error then carries done's last account. A failed read is
// retried.
func (j *Job) waitTasks(ctx context.Context, name string, desiredRunning bool, done func([]parse.TaskRow) (bool, string)) error {
	last := "no answer yet"
	err := swarm.Poll(ctx, j.PollInterval, func(ctx context.Context) (bool, error) {
		rows, err := j.Swarm.Tasks(ctx, name, desiredRunning)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ok, account := done(rows)
		last = account
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, last)
	}
	return nil
}

// recoverStopped repairs a service left at 0 replicas by a backup that never reached its start
// (swarm-utils crashed or was killed): it carries LabelRestoreReplicas. ok is false when there
// was nothing to repair.
func (j *Job) recoverStopped(ctx context.Context, svc parse.Service, timeout time.Duration) (operation.Step, bool) {
	v, has := svc.Labels[LabelRestoreReplicas]
	if !has || svc.Mode != parse.ModeReplicated {
		return operation.Step{}, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || svc.Replicas > 0 {
		// Someone scaled it since (or the label is not ours to read): keep their count, drop
		// the stale label.
		n = svc.Replicas
	}
	j.Log.Warn("service was left stopped by an earlier backup: starting it again", "service", svc.Name, "replicas", n)
	st := j.start(ctx, svc.Name, n, timeout)
	st.Name = "recover-start"
	return st, true
}

// RecoverStopped starts again every service that a backup left at 0 replicas (it carries
// LabelRestoreReplicas), each under its lock; only the service named only, when set. Call it
// when swarm-utils starts.
func (j *Job) RecoverStopped(ctx context.Context, only string) operation.Report {
	started := time.Now()
	rep := operation.Report{Operation: OpRecover, OK: true, Results: []operation.Result{}}
	defer func() { rep.Duration = operation.Since(started) }()
	rows, err := j.Swarm.ListServices(ctx, LabelRestoreReplicas)
	if err != nil {
		rep.OK = false
		rep.Results = append(rep.Results, operation.Failed(rep.Operation, "*", fmt.Errorf("list services left stopped: %w", err)))
		return rep
	}
	for _, row := range rows {
		if only != "" && row.Name != only {
			continue
		}
		if _, err := j.Swarm.Service(ctx, row.Name); operation.KindOf(err) == operation.KindNotFound {
			continue // another instance's (SPEC §11), or removed since the list
		}
		res := j.recoverOne(ctx, row.Name)
		rep.OK = rep.OK && res.OK
		rep.Results = append(rep.Results, res)
	}
	return rep
}

// recoverOne starts one service a backup left stopped, under its lock.
func (j *Job) recoverOne(ctx context.Context, name string) operation.Result {
	return j.Ops.Run(ctx, OpRecover, name, operation.LockKeyService(name), func(ctx context.Context) (operation.Plan, error) {
		svc, err := j.Swarm.Service(ctx, name)
		if err != nil {
			return operation.Plan{}, err
		}
		timeout := j.Config.Timeouts.BackupStart
		if s, perr := SettingsFromLabels(svc.Labels, j.Config); perr == nil && s.StartTimeout > 0 {
			timeout = s.StartTimeout
		}
		return operation.Plan{Budget: timeout, Do: func(ctx context.Context, r *operation.Result) error {
			if st, ok := j.recoverStopped(ctx, svc, timeout); ok {
				r.Steps = append(r.Steps, st)
			} else {
				r.Skipped = "not stopped by a backup any more"
			}
			return nil
		}}, nil
	})
}

// RetryStopped is one pass of the repair that serve repeats: every service that carries
// LabelRestoreReplicas, that no operation of this process holds (a backup between its stop and
// its start does) and that the previous pass saw stopped at the same spec version (seen, kept by
// the caller between passes) is started again, under its lock and claim. The second sighting
// keeps the pass from starting a service another swarm-utils process has just stopped for its
// backup: from its first helper on, the claim refuses. left is how many are still left at 0
// afterwards (-1: the cluster could not be read).
func (j *Job) RetryStopped(ctx context.Context, seen map[string]uint64) (left int) {
	rows, err := j.Swarm.ListServices(ctx, LabelRestoreReplicas)
	if err != nil {
		j.Log.Warn("look for services left stopped by a backup", "err", err)
		return -1
	}
	now := map[string]uint64{}
	for _, row := range rows {
		if j.Ops.Locks.Held(operation.LockKeyService(row.Name)) {
			continue // its own backup (or a repair) runs: it restores the service itself
		}
		svc, err := j.Swarm.Service(ctx, row.Name)
		if err != nil {
			continue // removed since the list, or docker away: the next pass sees
		}
		now[row.Name] = svc.Version
		if v, ok := seen[row.Name]; !ok || v != svc.Version {
			continue // first sighting at this version
		}
		if res := j.recoverOne(ctx, row.Name); !res.OK {
			j.Log.Error("could not start a service a backup left stopped; retrying later", "service", row.Name, "err", res.Error)
		}
	}
	clear(seen)
	for k, v := range now {
		seen[k] = v
	}
	if len(rows) == 0 {
		return 0
	}
	// Counted again: a start that scaled back but whose tasks did not all come up is not
	// "left at 0" any more (its label went with the scale).
	if rows, err = j.Swarm.ListServices(ctx, LabelRestoreReplicas); err != nil {
		return -1
	}
	for _, row := range rows {
		if j.Ops.Locks.Held(operation.LockKeyService(row.Name)) {
			continue
		}
		if _, err := j.Swarm.Service(ctx, row.Name); operation.KindOf(err) != operation.KindNotFound {
			left++ // not another instance's
		}
	}
	return left
}
