package backup

import (
	"context"
	"time"

	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// What restore-service and move-service (jobs/restore) reuse of backup-service: the volume
// mapping, the airtight stop/start, the per-run S3 key secrets, and the backup's steps run
// under their own lock while they hold the service stopped (Locked).

// Volume is one configured volume: Entry as in the label and the archive (backup/<Entry>/…),
// Source the docker volume the service mounts.
type Volume = volume

// VolumesOf maps the label's volume names to the service's volume mounts.
func VolumesOf(svc parse.Service, entries []string) ([]Volume, error) { return volumesOf(svc, entries) }

// Stop records the replica count on the service (LabelRestoreReplicas) and scales it to 0.
func (j *Job) Stop(ctx context.Context, name string, replicas uint64, timeout time.Duration) operation.Step {
	return j.stop(ctx, name, replicas, timeout)
}

// Start scales the service back to replicas and drops the label, retrying until timeout.
func (j *Job) Start(ctx context.Context, name string, replicas uint64, timeout time.Duration) operation.Step {
	return j.start(ctx, name, replicas, timeout)
}

// S3Secrets are the per-run secrets holding the S3 keys of one helper.
type S3Secrets = s3Secrets

// Refs are the --secret values; Env the _FILE variables naming the files.
func (s S3Secrets) Refs() []string { return s.refs }
func (s S3Secrets) Env() []string  { return s.env }

// CreateS3Secrets creates one secret per key and extra value (removed again on error).
func (j *Job) CreateS3Secrets(ctx context.Context, lockKey, accessKey, secretKey string, extra ...SecretFile) (S3Secrets, error) {
	return j.createS3Secrets(ctx, lockKey, accessKey, secretKey, extra...)
}

// RemoveS3Secrets removes them once their helper is gone.
func (j *Job) RemoveS3Secrets(ctx context.Context, s S3Secrets) { j.removeS3Secrets(ctx, s) }

// Locked is the backup of a service prepared for a caller that holds its lock and stops and
// starts the service itself (restore's safety backup, move): the service and the nodes of
// its running tasks are read before that caller's stop, and the uploads run while it is
// stopped, so the service is scaled down once for the whole operation.
type Locked struct {
	j        *Job
	name     string
	lockKey  string
	settings Settings
	vols     []volume
	tasks    []swarm.RunningTask
	nodes    []taskNode
	// Service is the service as read under the lock (after Recovered, if any).
	Service parse.Service
	// Recovered is the start of a stop an earlier backup left, when there was one.
	Recovered *operation.Step
	// Budget covers the pre-exec, volume checks and uploads (not the stop and start).
	Budget time.Duration
}

// PrepareLocked reads the service under the caller's lock (lockKey), starts it again if an
// earlier backup left it stopped, and reads its running tasks.
func (j *Job) PrepareLocked(ctx context.Context, name, lockKey string) (*Locked, error) {
	settings, vols, err := j.check(ctx, name)
	if err != nil {
		return nil, err
	}
	svc, err := j.Swarm.Service(ctx, name)
	if err != nil {
		return nil, err
	}
	l := &Locked{j: j, name: name, lockKey: lockKey, settings: settings, vols: vols}
	if recovered, wasStopped := j.recoverStopped(ctx, svc, settings.StartTimeout); wasStopped {
		l.Recovered = &recovered
		if !recovered.OK {
			return nil, operation.Errorf(operation.KindDocker, "service %s was left stopped by an earlier backup and could not be started: %s", name, recovered.Error)
		}
		if svc, err = j.Swarm.Service(ctx, name); err != nil {
			return nil, err
		}
	}
	l.Service = svc
	if l.tasks, err = swarm.RunningTasks(ctx, j.Swarm, svc); err != nil {
		return nil, err
	}
	l.nodes = nodesOf(l.tasks)
	pending := j.Config.Timeouts.Pending
	n := time.Duration(max(len(l.nodes), 1))
	if settings.Exec != "" {
		l.Budget += (settings.ExecTimeout+pending)*time.Duration(max(len(l.tasks), 1)) + helper.Slack*n
	}
	l.Budget += (settings.UploadTimeout + pending) * n
	return l, nil
}

// Nodes are the hostnames of the nodes that ran a task when it was prepared.
func (l *Locked) Nodes() []string {
	out := make([]string, 0, len(l.nodes))
	for _, n := range l.nodes {
		out = append(out, n.Name)
	}
	return out
}

// PreExec runs the service's backup pre-command in its tasks (none: no steps); call it
// before the stop.
func (l *Locked) PreExec(ctx context.Context) []operation.Step {
	s := l.settings
	if s.Exec == "" || len(l.tasks) == 0 {
		return nil
	}
	return l.j.Helpers.ExecInTasks(ctx, helper.Exec{Action: Op, LockKey: l.lockKey, Target: l.name, Step: "pre-exec",
		Shell: s.Shell, Command: s.Exec, Timeout: s.ExecTimeout}, l.tasks)
}

// Upload runs the uploader (its entrypoint checks the volumes first) on every node that ran
// a task, all with one set of key secrets made for it; call it while the service is stopped.
func (l *Locked) Upload(ctx context.Context) []operation.Step {
	keys, err := l.j.createS3Secrets(ctx, l.lockKey, l.settings.S3.AccessKey, l.settings.S3.SecretKey, ageFiles(l.j.Config.Age)...)
	steps := l.j.uploadFromNodes(ctx, l.name, l.lockKey, l.settings, l.vols, l.nodes, keys, err)
	if err == nil {
		// Every uploader is removed: docker lets the secrets go now.
		l.j.removeS3Secrets(ctx, keys)
	}
	return steps
}
