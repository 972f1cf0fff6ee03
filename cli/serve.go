package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/swarm-utils/swarm-utils/api"
	"github.com/swarm-utils/swarm-utils/api/statuspage"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/schedule"
	"github.com/urfave/cli/v3"
)

// serveCommand is `swarm-utils serve`: the HTTP API and the cron together, until SIGTERM.
func serveCommand(deps jobs.DepsFunc) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the HTTP API and the cron together until SIGTERM",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "address to listen on (default: every interface, port SWARM_UTILS_SERVER_PORT)"},
			&cli.StringFlag{Name: "shutdown-grace", Value: "30s",
				Usage: "on SIGTERM, how long running operations may go on before they are aborted safely (" + config.DurationSyntax + "); set the service's stop_grace_period above this plus the backup start timeout"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			grace, err := config.ParseDuration(strings.TrimSpace(cmd.String("shutdown-grace")))
			if err != nil {
				return fmt.Errorf("--shutdown-grace %q %v", cmd.String("shutdown-grace"), err)
			}
			d := deps()
			log := slog.Default()
			metrics := api.NewMetrics()
			metrics.SetBuildInfo(cmd.Root().Version)
			d.OnHelperCreated = metrics.HelperCreated
			metrics.WatchLeftStopped(d.LeftStopped)
			// Runs that no API request started are the cron's.
			d.Caller = operation.CallerCron
			obs, err := attachObservers(d, true, log)
			defer obs.close(log)
			if err != nil {
				return err
			}
			opts := api.Options{Targets: d, Backups: d, Volumes: d, Config: d.Config, Log: log, Metrics: metrics, Secrets: d.Secrets, HistoryDown: obs.down}
			if obs.store != nil {
				opts.History = obs.store
				last, err := obs.store.LastSuccess()
				if err != nil {
					log.Warn("swarm_utils_last_success_timestamp_seconds starts empty", "err", err)
				}
				metrics.SeedLastSuccess(last)
				go obs.store.KeepPruning(ctx, history.PruneEvery)
			}
			ops := api.Instrumented{Ops: d, Metrics: metrics}
			// Always: with every SWARM_UTILS_IS_CRON_* switch off, the targets' own schedules
			// (clean.cron, backup.cron, update.auto) still run.
			sched, err := schedule.New(d.Config.Cron, ops, d, log)
			if err != nil {
				return err
			}
			var c api.Cron = sched
			opts.Ops, opts.Schedules = ops, statuspage.Cron{Switches: d.Config.Cron, Times: sched.Next, Own: sched.NextOwn}
			srv := api.New(opts)
			addr := cmd.String("listen")
			if addr == "" {
				addr = fmt.Sprintf(":%d", d.Config.ServerPort)
			}
			// A service a backup left at 0 (failed restore, start timeout) is retried here, not
			// only at the next start of serve.
			go d.KeepRestoringStopped(ctx, jobs.RetryStoppedEvery)
			return api.Run(ctx, api.RunOptions{Addr: addr, Server: srv, Cron: c, Grace: grace, Log: log, Repair: d.Repair})
		},
	}
}
