package jobs

import (
	"cmp"
	"context"

	"github.com/swarm-utils/swarm-utils/operation"
)

// Observer is told of every run that ended, whichever door started it: the run history and
// the notifications. RunEnded must return quickly (it runs before the door answers) and never
// fail the run.
type Observer interface {
	RunEnded(id, who string, r operation.Result)
}

// begin gives ctx a run id (the id of the history record, the run label of its helpers and the
// holder of its lock) unless the door set one (the API's job id).
func (d *Deps) begin(ctx context.Context) context.Context {
	if operation.RunOf(ctx) == "" {
		ctx = operation.WithRun(ctx, operation.NewRunID())
	}
	return ctx
}

// ended tells every observer of r; who is the door's caller, else d.Caller (cli, or cron in
// serve, where every run not started through the API is the cron's).
func (d *Deps) ended(ctx context.Context, r operation.Result) operation.Result {
	if len(d.Observers) == 0 {
		return r
	}
	id := operation.RunOf(ctx)
	if id == "" {
		id = operation.NewRunID()
	}
	who := cmp.Or(operation.CallerOf(ctx), d.Caller, operation.CallerCLI)
	for _, o := range d.Observers {
		o.RunEnded(id, who, r)
	}
	return r
}

// endedAll tells the observers of each target's run; each gets its own id.
func (d *Deps) endedAll(ctx context.Context, rep operation.Report) operation.Report {
	for _, r := range rep.Results {
		d.ended(operation.WithRun(ctx, ""), r)
	}
	return rep
}
