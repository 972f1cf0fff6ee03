package cli

import (
	"context"

	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/urfave/cli/v3"
)

// updateCheckCommand is `swarm-utils update-check --service NAME`: one update check now, as the
// cron runs it for services labelled swarm-utils.update.auto=true.
func updateCheckCommand(deps jobs.DepsFunc) *cli.Command {
	return &cli.Command{
		Name: "update-check",
		Usage: "check once whether the registry has a new digest for the tag the service runs (labels update.enable=true and update.auto=true) " +
			"and, when it has, roll the service to tag@digest through the update pipeline; the result says which digest replaced which",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "service", Usage: "service name (exact)", Required: true},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return printResult(cmd, deps().CheckUpdate(ctx, cmd.String("service")))
		},
	}
}
