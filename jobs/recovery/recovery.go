// Package recovery is the recover job: repair what a swarm-utils process that died in the
// middle of its work left in the cluster (helpers, services a backup left stopped).
package recovery

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

const (
	// Op is the operation's name in results and logs.
	Op = "recover"
	// repairParallel bounds how many targets are repaired at once.
	repairParallel = 8
)

// Swarm is what recovery reads and removes; stopping tasks goes through the helper engine.
type Swarm interface {
	swarm.TaskReader
	ListServices(ctx context.Context, labels ...string) ([]parse.ServiceRow, error)
	InspectServices(ctx context.Context, ids []string) ([]parse.Service, error)
	Remove(ctx context.Context, id string) error
	ListSecrets(ctx context.Context, labels ...string) ([]string, error)
	RemoveSecret(ctx context.Context, name string) error
	DryRun() bool
}

// Stopped is the repair of services a backup left stopped (backup.Job.RecoverStopped).
type Stopped interface {
	RecoverStopped(ctx context.Context, only string) operation.Report
}

// Job runs recover.
type Job struct {
	Swarm    Swarm
	Helpers  *helper.Engine
	Stopped  Stopped
	Locks    *operation.Locks
	LockWait time.Duration
	Log      *slog.Logger
	// Instance is SWARM_UTILS_INSTANCE: helpers and secrets of other instances are left alone
	// ("": every one, as before instances).
	Instance string
	// Cluster, when set, is taken per lock key before its helpers are removed: a key another
	// live run holds (another process, another instance) keeps its helpers.
	Cluster operation.ClusterLock
	Lease   time.Duration
}

// sweeper removes expired cluster locks (clusterlock.Locks).
type sweeper interface {
	SweepExpired(ctx context.Context) (int, error)
}

// Options narrow a repair. The zero value, what serve and `swarm-utils recover` use,
// repairs the whole cluster.
type Options struct {
	// Only limits the repair to one lock key ("service:NAME", "node:NAME"): the helpers carrying
	// it and, for a service, its restore label. Integration tests share the swarm with others.
	Only string
}

// Run cleans up after a swarm-utils process that died in the middle of its work (kill -9,
// OOM, node reboot). Run it once at start, before serving requests or cron runs, while this
// process has no operation of its own:
//
//  1. every helper service (label swarm-utils.helper=true) of this instance whose target's
//     cluster lock no live run holds belongs to a dead process: it is removed, finished or
//     still running (nobody would ever collect it). Helpers of other instances, and of a live
//     run of any process, are left alone (SPEC §11). A running one is
//     waited for until it stopped (and stopped by swarm-utils where the engine leaves a removed
//     job's task running: docker before 24, moby/moby#44312), so an
//     uploader still mounting a service's volumes is interrupted before step 2;
//  2. every service a backup left at 0 replicas (label swarm-utils.backup.restore-replicas) is
//     scaled back to the recorded count and the label removed (backup.Job.RecoverStopped).
//
// Each target is repaired under its in-process lock, so that an operation asked for meanwhile
// waits. Each repair is one Result; a summary is logged.
func (j *Job) Run(ctx context.Context, o Options) operation.Report {
	started := time.Now()
	rep := operation.Report{Operation: Op, OK: true, Results: []operation.Result{}}
	defer func() { rep.Duration = operation.Since(started) }()

	// Helpers first: an uploader of a stopped service must not still be reading its volumes
	// when the service starts writing them again.
	rep.Results = append(rep.Results, j.removeStaleHelpers(ctx, o.Only)...)
	// Then the secrets those helpers used: docker refuses to remove one a service still uses.
	rep.Results = append(rep.Results, j.removeStaleSecrets(ctx, o.Only)...)
	only := ""
	if o.Only != "" {
		var isService bool
		if only, isService = strings.CutPrefix(o.Only, "service:"); !isService {
			only = "\x00" // a node key: no service to restore
		}
	}
	if sw, ok := j.Cluster.(sweeper); ok && o.Only == "" {
		// Locks of dead holders that nobody claimed since: litter, and confusing to read.
		if n, err := sw.SweepExpired(ctx); err != nil {
			j.Log.Warn("remove expired cluster locks", "err", err)
		} else if n > 0 {
			j.Log.Info("removed expired cluster locks", "count", n)
		}
	}
	restored := j.Stopped.RecoverStopped(ctx, only)
	rep.Results = append(rep.Results, restored.Results...)

	var helpers, secrets, services, failures int
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
			case s.Name == "remove-secret":
				secrets++
			case s.Name == "recover-start":
				services++
			}
		}
	}
	level := slog.LevelInfo
	switch {
	case failures > 0:
		level = slog.LevelError
	case helpers+secrets+services > 0:
		level = slog.LevelWarn
	}
	j.Log.Log(ctx, level, fmt.Sprintf("repaired: %d helpers removed, %d services restored", helpers, services),
		"secretsRemoved", secrets, "failed", failures, "durationMs", time.Since(started).Milliseconds())
	return rep
}

// removeStaleSecrets removes the secrets swarm-utils made for helpers (the uploader's S3 keys)
// that a dead process left (of lock key only, when set), one Result each.
func (j *Job) removeStaleSecrets(ctx context.Context, only string) []operation.Result {
	filters := []string{helper.LabelSecret + "=true"}
	if j.Instance != "" {
		// Secrets made before instances carry no instance label: a default instance's
		// repair no longer finds those (docker refuses to remove one in use anyway).
		filters = append(filters, helper.LabelInstance+"="+j.Instance)
	}
	if only != "" {
		filters = append(filters, helper.LabelLock+"="+only)
	}
	ids, err := j.Swarm.ListSecrets(ctx, filters...)
	if err != nil {
		return []operation.Result{operation.Failed(Op, "*", fmt.Errorf("list secrets left by an earlier run: %w", err))}
	}
	var results []operation.Result
	for _, id := range ids {
		r := operation.Result{Operation: Op, Target: id, OK: true, StartedAt: time.Now().UTC()}
		st := operation.Step{Name: "remove-secret", OK: true, Details: map[string]string{"secret": id}}
		if err := j.Swarm.RemoveSecret(ctx, id); err != nil {
			st.OK, st.Error = false, fmt.Sprintf("remove secret %s left by an earlier run: %v", id, err)
			j.Log.Error("could not remove a secret left by an earlier run", "secret", id, "err", err)
		} else {
			j.Log.Warn("removed a secret left by an earlier run", "secret", id)
		}
		st.Duration = operation.Since(r.StartedAt)
		r.Steps, r.Duration = []operation.Step{st}, st.Duration
		if !st.OK {
			r.Fail(operation.Errorf(operation.KindDocker, "%s", st.Error))
		}
		results = append(results, r)
	}
	return results
}

// removeStaleHelpers removes every helper (of lock key only, when set), one Result each.
func (j *Job) removeStaleHelpers(ctx context.Context, only string) []operation.Result {
	filters := []string{helper.LabelHelper + "=true"}
	if only != "" {
		filters = append(filters, helper.LabelLock+"="+only)
	}
	rows, err := j.Swarm.ListServices(ctx, filters...)
	if err != nil {
		return []operation.Result{operation.Failed(Op, "*", fmt.Errorf("list helper services left by an earlier run: %w", err))}
	}
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	// One removed since the list is skipped: docker still prints the others.
	svcs, err := j.Swarm.InspectServices(ctx, ids)
	if err != nil {
		return []operation.Result{operation.Failed(Op, "*", fmt.Errorf("inspect helper services left by an earlier run: %w", err))}
	}
	byKey := map[string][]helper.Stale{}
	for _, s := range svcs {
		if s.Labels[helper.LabelHelper] != "true" {
			continue
		}
		if j.Instance != "" && helper.InstanceOf(s.Labels) != j.Instance {
			continue // another instance's: not ours to judge (SPEC §11)
		}
		h := helper.Stale{ID: s.ID, Name: s.Name, LockKey: s.Labels[helper.LabelLock], Action: s.Labels[helper.LabelAction], Step: s.Labels[helper.LabelStep]}
		byKey[h.LockKey] = append(byKey[h.LockKey], h)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	perKey := make([][]operation.Result, len(keys))
	sem := make(chan struct{}, repairParallel)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			perKey[i] = j.removeHelpersOf(ctx, key, byKey[key])
		})
	}
	wg.Wait()
	var results []operation.Result
	for _, rs := range perKey {
		results = append(results, rs...)
	}
	return results
}

// removeHelpersOf removes the helpers of one lock key under that key's in-process lock.
func (j *Job) removeHelpersOf(ctx context.Context, key string, helpers []helper.Stale) []operation.Result {
	slices.SortFunc(helpers, func(a, b helper.Stale) int { return strings.Compare(a.Name, b.Name) })
	results := make([]operation.Result, 0, len(helpers))
	if key != "" {
		release, err := j.Locks.Acquire(ctx, key, j.LockWait)
		if err != nil {
			for _, h := range helpers {
				results = append(results, operation.Failed(Op, key, fmt.Errorf("remove helper %s: %w", h.Name, err)))
			}
			return results
		}
		defer release()
		if j.Cluster != nil {
			// Waiting one lease longer than an operation tells a dead holder (its lock expires:
			// its helpers are ours to remove) from a live one (it keeps renewing).
			lease, err := j.Cluster.Acquire(ctx, key, operation.Holder{Instance: j.Instance, Operation: Op, Run: operation.RunOf(ctx)}, j.lease(), time.Now().Add(j.lease()+j.LockWait))
			if operation.KindOf(err) == operation.KindBusy {
				// A live run (another process or instance) holds the target: its helpers are
				// its own to remove.
				for _, h := range helpers {
					results = append(results, operation.Skipped(Op, key, fmt.Sprintf("helper %s belongs to a live run: %v", h.Name, err)))
				}
				return results
			}
			if err != nil {
				for _, h := range helpers {
					results = append(results, operation.Failed(Op, key, fmt.Errorf("remove helper %s: %w", h.Name, err)))
				}
				return results
			}
			defer lease.Release()
		}
	}
	for _, h := range helpers {
		results = append(results, j.removeStaleHelper(ctx, h))
	}
	return results
}

func (j *Job) lease() time.Duration {
	if j.Lease > 0 {
		return j.Lease
	}
	return operation.DefaultLease
}

// removeStaleHelper removes one helper left by a dead process and, when its task still runs,
// stops it and waits until it did.
func (j *Job) removeStaleHelper(ctx context.Context, h helper.Stale) (r operation.Result) {
	target := h.LockKey
	if target == "" {
		target = h.Name
	}
	r = operation.Result{Operation: Op, Target: target, OK: true, StartedAt: time.Now().UTC()}
	st := operation.Step{Name: "remove-helper", Helper: h.Name, OK: true, Details: map[string]string{"action": h.Action, "lockKey": h.LockKey}}
	if h.Step != "" {
		st.Details["step"] = h.Step
	}
	defer func() {
		st.Duration = operation.Since(r.StartedAt)
		r.Steps = []operation.Step{st}
		r.Duration = st.Duration
		if !st.OK {
			r.Fail(operation.Errorf(operation.KindDocker, "%s", st.Error))
		}
	}()

	// Its task, as the dead process last left it.
	var running []parse.TaskRow
	h.State = "gone"
	if rows, err := j.Swarm.Tasks(ctx, h.ID, false); err == nil {
		if len(rows) > 0 {
			h.TaskID, h.Node, h.State = rows[0].ID, rows[0].Node, swarm.TaskState(rows[0])
			for _, t := range rows {
				if !swarm.Terminal(swarm.TaskState(t)) {
					running = append(running, t)
				}
			}
		}
	} else if !swarm.IsNoSuch(err) {
		h.State = "unknown"
		j.Log.Warn("read helper state", "helper", h.Name, "err", err)
	}
	st.Node = h.Node
	st.Details["state"] = h.State
	if len(running) > 0 {
		st.Details["interrupted"] = interruptedWhat(h)
	}

	if err := j.Swarm.Remove(ctx, h.ID); err != nil {
		st.OK, st.Error = false, fmt.Sprintf("remove helper %s (%s %s, %s): %v", h.Name, h.Action, h.LockKey, h.State, err)
		j.Log.Error("could not remove helper left by an earlier run", "helper", h.Name, "lockKey", h.LockKey, "action", h.Action, "state", h.State, "err", err)
		return r
	}
	attrs := []any{"helper", h.Name, "lockKey", h.LockKey, "action", h.Action, "step", h.Step, "node", h.Node, "state", h.State}
	if len(running) == 0 {
		j.Log.Warn("removed helper left by an earlier run", attrs...)
		return r
	}
	j.Log.Warn("removed helper left running by an earlier run: "+st.Details["interrupted"], attrs...)
	if j.Swarm.DryRun() {
		return r
	}
	for _, t := range running {
		if err := j.Helpers.StopOrphan(ctx, h, t); err != nil {
			st.OK, st.Error = false, err.Error()
			j.Log.Error("helper removed but its task still runs", "helper", h.Name, "task", t.ID, "node", t.Node, "err", err)
		}
	}
	if st.OK {
		st.Details["stopped"] = "true"
	}
	return r
}

// interruptedWhat says what stopping a running helper breaks off.
func interruptedWhat(h helper.Stale) string {
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
