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
	ctx = d.begin(ctx)
	return d.ended(ctx, d.restoreJob().Move(ctx, o))
}
