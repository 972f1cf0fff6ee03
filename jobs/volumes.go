package jobs

import (
	"context"

	"github.com/swarm-utils/swarm-utils/jobs/volumes"
)

// VolumeListing is every node's local volumes.
type VolumeListing = volumes.Listing

// Volumes lists every node's local volumes (in use or not, size), all nodes in parallel; with
// unusedOnly only those no container uses.
func (d *Deps) Volumes(ctx context.Context, unusedOnly bool) VolumeListing {
	d.wire()
	j := &volumes.Job{Swarm: d.cluster, Helpers: d.helpers, Ops: d.ops, Config: d.Config}
	return j.List(ctx, unusedOnly)
}
