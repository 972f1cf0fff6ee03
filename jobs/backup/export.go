package backup

import (
	"context"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// What restore-service (jobs/restore) reuses of backup-service: the volume mapping, the
// airtight stop/start, the per-run S3 key secrets, and the whole backup as a plan run under
// restore's own lock (its safety backup).

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

// CreateS3Secrets creates one secret per key (removed again on error).
func (j *Job) CreateS3Secrets(ctx context.Context, lockKey, accessKey, secretKey string) (S3Secrets, error) {
	return j.createS3Secrets(ctx, lockKey, accessKey, secretKey)
}

// RemoveS3Secrets removes them once their helper is gone.
func (j *Job) RemoveS3Secrets(ctx context.Context, s S3Secrets) { j.removeS3Secrets(ctx, s) }

// PlanLocked is the backup of the service as a plan for a caller that already holds the
// service's lock (lockKey): the checks of Run, then its steps. Job.Mark names the archives.
func (j *Job) PlanLocked(ctx context.Context, name, lockKey string) (operation.Plan, error) {
	settings, vols, err := j.check(ctx, name)
	if err != nil {
		return operation.Plan{}, err
	}
	return j.prepare(ctx, name, lockKey, settings, vols)
}
