// Package backup is the backup-service job (SPEC §5): upload a service's named volumes to S3
// from every node that runs one of its tasks, with an optional pre-command and an airtight
// stop/start around the upload.
package backup

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Op is the operation's name in results, logs and helper names.
const Op = "backup-service"

const (
	// LabelRestoreReplicas is put on a service while backup-service holds it at 0 replicas: the
	// replica count to go back to, kept in the cluster so that a crash of swarm-utils between
	// stop and start is repaired by the next run (SPEC §5: the stop/start pair is airtight).
	LabelRestoreReplicas = "swarm-utils.backup.restore-replicas"
	// labelStackNamespace names the stack of a service deployed with `docker stack deploy`;
	// its volumes are named "<stack>_<volume>".
	labelStackNamespace = "com.docker.stack.namespace"
)

// Swarm is what backup-service does to the cluster besides its helpers.
type Swarm interface {
	swarm.TaskReader
	Service(ctx context.Context, name string) (parse.Service, error)
	ListServices(ctx context.Context, labels ...string) ([]parse.ServiceRow, error)
	Scale(ctx context.Context, s swarm.Scale) error
	CreateSecret(ctx context.Context, s swarm.Secret) error
	RemoveSecret(ctx context.Context, name string) error
	DryRun() bool
}

// Job runs backup-service.
type Job struct {
	Swarm        Swarm
	Helpers      *helper.Engine
	Ops          *operation.Runner
	Config       config.Config
	Secrets      *bashexec.Secrets
	Log          *slog.Logger
	PollInterval time.Duration
	// Mark, when set, goes into the archive names after the node (restore's safety backup:
	// <service>_<node>_pre-restore_<time>.tar.gz).
	Mark string
}

// Run is the job:
//  1. read the service and its backup labels; map the labelled volumes to its mounts;
//  2. under the lock: start it again if an earlier backup left it stopped; list its tasks;
//  3. pre-exec in every task (a failure is reported, fails the operation, the backup goes on);
//  4. stop: record the replica count on the service and scale it to 0 (replicated only);
//  5. on every node with a task: upload its volumes (one helper each, which checks them first);
//  6. start again at the recorded count — also when anything in between fails or is cancelled.
func (j *Job) Run(ctx context.Context, name string) operation.Result {
	settings, vols, err := j.check(ctx, name)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	// The operation's own secrets: masked in its commands only (short or rotated keys garble no
	// other operation's logs).
	ctx = bashexec.WithSecrets(ctx, settings.S3.AccessKey, settings.S3.SecretKey)
	lockKey := operation.LockKeyService(name)
	return j.Ops.Run(ctx, Op, name, lockKey, func(ctx context.Context) (operation.Plan, error) {
		return j.prepare(ctx, name, lockKey, settings, vols)
	})
}

// check reads the service and its backup labels and refuses what cannot be backed up.
func (j *Job) check(ctx context.Context, name string) (Settings, []volume, error) {
	svc, err := j.Swarm.Service(ctx, name)
	if err != nil {
		return Settings{}, nil, err
	}
	settings, err := SettingsFromLabels(svc.Labels, j.Config)
	if err != nil {
		// Missing S3 values and volumes are reported here, naming the label and the variable.
		return Settings{}, nil, operation.Errorf(operation.KindConfig, "service %s backup settings: %w", name, err)
	}
	if !settings.Enabled {
		return Settings{}, nil, operation.Errorf(operation.KindNotFound, "service %s is not enabled for backup (label %s=true)", name, parse.LabelBackupEnable)
	}
	if err := settings.S3.Validate(); err != nil {
		return Settings{}, nil, operation.Errorf(operation.KindConfig, "service %s S3 settings: %w", name, err)
	}
	if len(settings.Volumes) == 0 {
		return Settings{}, nil, operation.Errorf(operation.KindConfig, "service %s: label %s lists no volumes", name, parse.LabelBackupVolumes)
	}
	if settings.Stop && svc.Mode != parse.ModeReplicated {
		return Settings{}, nil, operation.Errorf(operation.KindImpossible,
			"service %s is %s: %s=true needs a replicated service (only those can be scaled to 0 and back); set it to false",
			name, svc.Mode, parse.LabelBackupStop)
	}
	vols, err := volumesOf(svc, settings.Volumes)
	if err != nil {
		return Settings{}, nil, err
	}
	return settings, vols, nil
}

// prepare reads the service again under the lock (the replica count may have changed while we
// waited), repairs a stop an earlier backup left, and plans the steps.
func (j *Job) prepare(ctx context.Context, name, lockKey string, settings Settings, vols []volume) (operation.Plan, error) {
	svc, err := j.Swarm.Service(ctx, name)
	if err != nil {
		return operation.Plan{}, err
	}
	recovered, wasStopped := j.recoverStopped(ctx, svc, settings.StartTimeout)
	if wasStopped {
		if !recovered.OK {
			return operation.Plan{}, operation.Errorf(operation.KindDocker, "service %s was left stopped by an earlier backup and could not be started: %s", name, recovered.Error)
		}
		if svc, err = j.Swarm.Service(ctx, name); err != nil {
			return operation.Plan{}, err
		}
	}
	tasks, err := swarm.RunningTasks(ctx, j.Swarm, svc)
	if err != nil {
		return operation.Plan{}, err
	}
	nodes := nodesOf(tasks)

	pending := j.Config.Timeouts.Pending
	n := time.Duration(max(len(nodes), 1))
	var budget time.Duration
	if settings.Exec != "" {
		budget += (settings.ExecTimeout+pending)*time.Duration(max(len(tasks), 1)) + helper.Slack*n
	}
	budget += (settings.UploadTimeout + pending) * n
	if settings.Stop {
		budget += settings.StopTimeout + settings.StartTimeout
	}

	do := func(ctx context.Context, r *operation.Result) error {
		if wasStopped {
			r.Steps = append(r.Steps, recovered)
		}
		if len(tasks) == 0 {
			r.Skipped = "no running tasks: no node holds a task whose volumes could be uploaded"
			return nil
		}
		if settings.Exec != "" {
			// A failed pre-command is reported in its step; the backup goes on (README).
			r.Steps = append(r.Steps, j.Helpers.ExecInTasks(ctx, helper.Exec{Action: Op, LockKey: lockKey, Target: name, Step: "pre-exec",
				Shell: settings.Shell, Command: settings.Exec, Timeout: settings.ExecTimeout}, tasks)...)
		}
		// The key secrets do not depend on the stop: they are made while the tasks stop, and
		// removed once the uploaders are gone (on an early return: after the start).
		var keys s3Secrets
		var keysErr error
		keysMade := make(chan struct{})
		go func() {
			defer close(keysMade)
			defer func() {
				if p := recover(); p != nil {
					keysErr = fmt.Errorf("internal error: %v", p)
				}
			}()
			keys, keysErr = j.createS3Secrets(ctx, lockKey, settings.S3.AccessKey, settings.S3.SecretKey, ageFiles(j.Config.Age)...)
		}()
		keysGone := false
		defer func() {
			<-keysMade
			if keysErr == nil && !keysGone {
				j.removeS3Secrets(ctx, keys)
			}
		}()
		if settings.Stop && svc.Replicas > 0 {
			prev := svc.Replicas
			// Registered before the scale-down is issued: from then on the start always runs,
			// on cancel, timeout, failure and panic alike.
			defer func() {
				r.Steps = append(r.Steps, j.start(ctx, name, prev, settings.StartTimeout))
			}()
			st := j.stop(ctx, name, prev, settings.StopTimeout)
			r.Steps = append(r.Steps, st)
			if !st.OK {
				// Tasks may still be writing: an archive now would not be the consistent one
				// the stop was asked for.
				return operation.CtxErr(ctx)
			}
		}
		<-keysMade
		r.Steps = append(r.Steps, j.uploadFromNodes(ctx, name, lockKey, settings, vols, nodes, keys, keysErr)...)
		if keysErr == nil {
			// The uploaders are removed: the secrets can go, before the start.
			j.removeS3Secrets(ctx, keys)
			keysGone = true
		}
		return operation.CtxErr(ctx)
	}
	return operation.Plan{Budget: budget, Do: do}, nil
}
