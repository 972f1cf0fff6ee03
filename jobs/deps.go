// Package jobs wires the jobs to one cluster: Deps holds the configuration, the runner, the
// locks and the helper engine, and offers every job and listing as one method, which is what
// the API, the cron and the CLI consume through the interfaces they define.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/swarm-utils/swarm-utils/jobs/cleanservice"
	"github.com/swarm-utils/swarm-utils/jobs/recovery"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Deps is what every job needs. Set the exported fields before the first call; the jobs are
// wired at the first call.
type Deps struct {
	Config  config.Config
	Secrets *bashexec.Secrets
	Locks   *operation.Locks
	Log     *slog.Logger
	// Swarm is the cluster; *swarm.CLI over Runner unless set otherwise (tests: swarmtest.Fake).
	Swarm swarm.Swarm
	// PollInterval is how often task states are read while waiting; 100 ms keeps a helper's
	// whole lifecycle near the ~0.6 s floor without loading the manager.
	PollInterval time.Duration
	// BackupStore lists the archives in S3; restore.S3Store (minio-go) unless set.
	BackupStore restore.Store
	// OnHelperCreated is called for every helper created (metrics); nil-safe.
	OnHelperCreated func(action string)
	// Observers are told of every ended run (history, notifications); see observe.go.
	Observers []Observer
	// Caller is who a run is recorded as when its context names no one (operation.CallerOf):
	// operation.CallerCLI unless set; serve sets operation.CallerCron.
	Caller string

	wireOnce sync.Once
	cluster  swarm.Swarm // Swarm as this instance sees it
	helpers  *helper.Engine
	ops      *operation.Runner
	// leftStopped is RetryStopped's last count; -1 until its first pass.
	leftStopped atomic.Int64
}

// DepsFunc builds the dependencies once the configuration is read (in the root's Before).
type DepsFunc func() *Deps

// UpdateOptions is one update-service request.
type UpdateOptions = update.Options

// RepairOptions narrow a repair.
type RepairOptions = recovery.Options

// NewDeps wires the defaults around a runner.
func NewDeps(cfg config.Config, runner bashexec.Runner, secrets *bashexec.Secrets, log *slog.Logger) *Deps {
	if log == nil {
		log = slog.Default()
	}
	if secrets == nil {
		secrets = bashexec.NewGlobalSecrets()
	}
	secrets.Add(cfg.SecretValues()...)
	if short := shortSecrets(cfg.SecretValues()); short > 0 {
		log.Warn("configured secrets too short to be masked in logs; use longer ones", "count", short, "minBytes", bashexec.MinGlobalSecret)
	}
	d := &Deps{Config: cfg, Secrets: secrets, Locks: operation.NewLocks(), Log: log, PollInterval: 100 * time.Millisecond,
		Swarm: &swarm.CLI{Runner: runner, DockerHost: cfg.DockerHost, Dry: cfg.DryRun}}
	d.leftStopped.Store(-1)
	return d
}

// shortSecrets counts the values the process-wide secrets do not mask (bashexec.MinGlobalSecret).
func shortSecrets(values []string) int {
	n := 0
	for _, v := range values {
		if len(v) < bashexec.MinGlobalSecret {
			n++
		}
	}
	return n
}

func (d *Deps) wire() {
	d.wireOnce.Do(func() {
		d.cluster = d.Swarm
		if d.Config.Instance != "" {
			d.cluster = instanceSwarm{Swarm: d.cluster, instance: d.Config.Instance}
		}
		d.helpers = &helper.Engine{Swarm: d.cluster, Secrets: d.Secrets, Log: d.Log, Pending: d.Config.Timeouts.Pending,
			PollInterval: d.PollInterval, DockerCLIImage: d.Config.DockerCLIImage, Instance: d.Config.Instance,
			OnCreated: func(action string) {
				if d.OnHelperCreated != nil {
					d.OnHelperCreated(action)
				}
			}}
		d.ops = &operation.Runner{Locks: d.Locks, Claim: d.helpers.Claim, LockWait: d.Config.Timeouts.Lock, Extra: d.Config.Timeouts.Extra, Log: d.Log,
			Cluster: &clusterlock.Locks{Swarm: d.cluster, Log: d.Log}, Lease: d.Config.Timeouts.LockLease, Instance: d.Config.Instance}
	})
}

// Helpers is the helper engine.
func (d *Deps) Helpers() *helper.Engine { d.wire(); return d.helpers }

func (d *Deps) cleanNode() *cleannode.Job {
	d.wire()
	return &cleannode.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Config: d.Config}
}

func (d *Deps) backup() *backup.Job {
	d.wire()
	return &backup.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Config: d.Config, Secrets: d.Secrets, Log: d.Log, PollInterval: d.PollInterval}
}

// CleanNode prunes containers, images (-a) and build cache on the node named exactly name
// (hostname or full ID).
func (d *Deps) CleanNode(ctx context.Context, name string) operation.Result {
	ctx = d.begin(ctx)
	return d.ended(ctx, d.cleanNode().Node(ctx, name))
}

// CleanAllNodes cleans every node in parallel.
func (d *Deps) CleanAllNodes(ctx context.Context) operation.Report {
	return d.endedAll(ctx, d.cleanNode().All(ctx))
}

// CleanService runs the service's clean command inside every running task.
func (d *Deps) CleanService(ctx context.Context, name string) operation.Result {
	d.wire()
	j := &cleanservice.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Config: d.Config}
	ctx = d.begin(ctx)
	return d.ended(ctx, j.Run(ctx, name))
}

// BackupService uploads the service's volumes to S3.
func (d *Deps) BackupService(ctx context.Context, name string) operation.Result {
	ctx = d.begin(ctx)
	return d.ended(ctx, d.backup().Run(ctx, name))
}

// RecoverStoppedServices starts again every service that a backup left at 0 replicas.
func (d *Deps) RecoverStoppedServices(ctx context.Context) operation.Report {
	return d.backup().RecoverStopped(ctx, "")
}

// RetryStoppedEvery is how often serve retries the start of services a backup left at 0.
const RetryStoppedEvery = 30 * time.Second

// KeepRestoringStopped retries, every interval until ctx ends, the start of every service a
// backup left at 0 replicas (a failed restore, a start that timed out, a crash) that no
// operation of this process holds, once two passes in a row saw it so (backup.Job.RetryStopped);
// LeftStopped tells how many the last pass left. serve runs it
// beside the API: without it such a service would wait for the next start of serve.
func (d *Deps) KeepRestoringStopped(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	seen := map[string]uint64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.leftStopped.Store(int64(d.retryStoppedOnce(ctx, seen)))
	}
}

// retryStoppedOnce is one pass of KeepRestoringStopped; a panic in it is logged and counted as
// a pass that could not read the cluster (-1), never the end of serve or of the retries.
func (d *Deps) retryStoppedOnce(ctx context.Context, seen map[string]uint64) (left int) {
	defer func() {
		if p := recover(); p != nil {
			d.Log.Error("the retry of services left stopped panicked; retrying at the next pass", "panic", fmt.Sprint(p))
			left = -1
		}
	}()
	return d.backup().RetryStopped(ctx, seen)
}

// LeftStopped is how many services the last pass of KeepRestoringStopped left at 0 replicas
// with the restore label (for /readyz and a metric); -1 before the first pass or when the
// cluster could not be read. It starts no process.
func (d *Deps) LeftStopped() int { return int(d.leftStopped.Load()) }

// UpdateService rolls the service to a new image.
func (d *Deps) UpdateService(ctx context.Context, o UpdateOptions) operation.Result {
	d.wire()
	j := &update.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Config: d.Config, Secrets: d.Secrets, Log: d.Log, PollInterval: d.PollInterval}
	ctx = d.begin(ctx)
	return d.ended(ctx, j.Run(ctx, o))
}

// CheckUpdate is one update check of a service labelled swarm-utils.update.auto=true: when the
// registry's digest of its tag changed, the update pipeline rolls it to tag@digest.
func (d *Deps) CheckUpdate(ctx context.Context, name string) operation.Result {
	d.wire()
	j := &update.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Config: d.Config, Secrets: d.Secrets, Log: d.Log, PollInterval: d.PollInterval}
	ctx = d.begin(ctx)
	res := j.Check(ctx, name)
	if res.OK && res.Skipped != "" {
		// Unchanged (or not labelled): a check every few minutes per service would bury the
		// history and, with NOTIFY_ON=always, the operators' inbox. Updates and failures count.
		return res
	}
	return d.ended(ctx, res)
}

// Repair cleans up after a swarm-utils process that died in the middle of its work.
func (d *Deps) Repair(ctx context.Context) operation.Report {
	return d.RepairWith(ctx, RepairOptions{})
}

// RepairWith is Repair limited by o.
func (d *Deps) RepairWith(ctx context.Context, o RepairOptions) operation.Report {
	d.wire()
	j := &recovery.Job{Swarm: d.cluster, Helpers: d.helpers, Stopped: d.backup(), Locks: d.Locks, LockWait: d.Config.Timeouts.Lock, Log: d.Log,
		Instance: d.Config.Instance, Cluster: d.ops.Cluster, Lease: d.Config.Timeouts.LockLease}
	return j.Run(ctx, o)
}

// RestoreOptions is one restore-service request.
type RestoreOptions = restore.Options

// RestoreService puts one of the service's archives back into its volumes (SPEC §10).
func (d *Deps) RestoreService(ctx context.Context, o RestoreOptions) operation.Result {
	ctx = d.begin(ctx)
	return d.ended(ctx, d.restoreJob().Run(ctx, o))
}

// restoreJob is the job behind restore-service and move-service.
func (d *Deps) restoreJob() *restore.Job {
	d.wire()
	return &restore.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Store: d.backupStore(), Config: d.Config, Secrets: d.Secrets, Log: d.Log, PollInterval: d.PollInterval}
}

// backupStore is BackupStore, else S3 through minio-go.
func (d *Deps) backupStore() restore.Store {
	if d.BackupStore == nil {
		return restore.S3Store{}
	}
	return d.BackupStore
}
