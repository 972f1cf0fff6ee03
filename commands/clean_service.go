package commands

import (
	"context"
	"time"

	"github.com/swarm-utils/swarm-utils/parse"
)

const opCleanService = "clean-service"

func serviceLockKey(name string) string { return "service:" + name }

// CleanService runs the service's swarm-utils.clean.exec command inside every running task,
// on whichever node each task runs.
func (d *Deps) CleanService(ctx context.Context, name string) Result {
	svc, err := d.inspectService(ctx, name)
	if err != nil {
		return failed(opCleanService, name, err)
	}
	settings, err := parse.CleanSettingsFromLabels(svc.Labels, d.Config)
	if err != nil {
		return failed(opCleanService, name, errorf(KindInvalid, "service %s labels: %w", name, err))
	}
	if !settings.Enabled {
		return failed(opCleanService, name, errorf(KindNotFound, "service %s is not enabled for clean (label %sclean.enable=true)", name, parse.LabelPrefix))
	}
	var tasks []runningTask
	budget := func() time.Duration {
		return (settings.ExecTimeout + helperSlack + d.Config.Timeouts.Pending) * time.Duration(max(len(tasks), 1))
	}
	return d.operation(ctx, opCleanService, name, serviceLockKey(name), budget, func(ctx context.Context, r *Result) error {
		r.Steps = d.execInTasks(ctx, opCleanService, serviceLockKey(name), name, "exec", tasks, settings.Shell, settings.Exec, settings.ExecTimeout)
		if len(tasks) == 0 {
			r.Skipped = "no running tasks"
		}
		return nil
	}, func(ctx context.Context) error {
		tasks, err = d.runningTasks(ctx, svc)
		return err
	})
}
