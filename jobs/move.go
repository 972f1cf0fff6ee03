package jobs

import (
	"context"

	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
)

// MoveOptions is one move-service request.
type MoveOptions = restore.MoveOptions

// MoveService moves a one-replica service and its volumes to another node (SPEC §10).
func (d *Deps) MoveService(ctx context.Context, o MoveOptions) operation.Result {
	d.wire()
	store := d.BackupStore
	if store == nil {
		store = restore.S3Store{}
	}
	j := &restore.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Store: store, Config: d.Config, Secrets: d.Secrets, Log: d.Log, PollInterval: d.PollInterval}
	ctx = d.begin(ctx)
	return d.ended(ctx, j.Move(ctx, o))
}
