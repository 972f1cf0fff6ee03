// Package cleanservice is the clean-service job (SPEC §3): run the service's
// swarm-utils.clean.exec command inside every running task, on whichever node each runs.
package cleanservice

import (
	"context"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Op is the operation's name in results, logs and helper names.
const Op = "clean-service"

// Swarm is what clean-service reads from the cluster; the helper engine does the rest.
type Swarm interface {
	swarm.TaskReader
	Service(ctx context.Context, name string) (parse.Service, error)
}

// Job runs clean-service.
type Job struct {
	Swarm   Swarm
	Helpers *helper.Engine
	Ops     *operation.Runner
	Config  config.Config
}

// Run is the job: 1. read the service and its clean labels (beside the wait for the lock);
// 2. under the lock, list its running tasks (beside the claim); 3. exec the command in each,
// one helper per node, the nodes in parallel.
func (j *Job) Run(ctx context.Context, name string) operation.Result {
	if err := swarm.ValidName("service", name); err != nil {
		return operation.Failed(Op, name, err)
	}
	// Whether a task runs on the node swarm-utils talks to (no helper there) is known by then.
	j.Helpers.ReadLocalNode(ctx)
	var svc parse.Service
	var settings Settings
	lockKey := operation.LockKeyService(name)
	return j.Ops.RunOp(ctx, operation.Op{Name: Op, Target: name, LockKey: lockKey,
		Read: func(ctx context.Context) error {
			var err error
			if svc, err = j.Swarm.Service(ctx, name); err != nil {
				return err
			}
			if settings, err = SettingsFromLabels(svc.Labels, j.Config); err != nil {
				return operation.Errorf(operation.KindInvalid, "service %s labels: %w", name, err)
			}
			if !settings.Enabled {
				return operation.Errorf(operation.KindNotFound, "service %s is not enabled for clean (label %sclean.enable=true)", name, parse.LabelPrefix)
			}
			return nil
		},
		Prepare: func(ctx context.Context) (operation.Plan, error) {
			tasks, err := swarm.RunningTasks(ctx, j.Swarm, svc)
			if err != nil {
				return operation.Plan{}, err
			}
			return operation.Plan{
				Budget: (settings.ExecTimeout + helper.Slack + j.Config.Timeouts.Pending) * time.Duration(max(len(tasks), 1)),
				Do: func(ctx context.Context, r *operation.Result) error {
					r.Steps = j.Helpers.ExecInTasks(ctx, helper.Exec{Action: Op, LockKey: lockKey, Target: name, Step: "exec",
						Shell: settings.Shell, Command: settings.Exec, Timeout: settings.ExecTimeout, RemoveLate: true}, tasks)
					if len(tasks) == 0 {
						r.Skipped = "no running tasks"
					}
					return nil
				},
			}, nil
		},
		PrepareOnlyReads: true,
	})
}
