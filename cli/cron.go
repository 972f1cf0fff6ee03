package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/schedule"
	"github.com/urfave/cli/v3"
)

// maxNextCount bounds `cron next --count`: the times are computed and printed at once.
const maxNextCount = 10000

// cronCommand is `swarm-utils cron`: one run now, or the next run times of the expression.
func cronCommand(deps jobs.DepsFunc) *cli.Command {
	return &cli.Command{
		Name:  "cron",
		Usage: "the maintenance cron: run it once now, or show when it runs",
		Commands: []*cli.Command{
			{
				Name:  "run-now",
				Usage: "run clean-node (all nodes), clean-service and backup-service (all labelled services) once, as the SWARM_UTILS_IS_CRON_* switches say, and print the summary",
				Action: func(ctx context.Context, cmd *cli.Command) error {
					d := deps()
					s, err := schedule.New(d.Config.Cron, d, d, slog.Default())
					if err != nil {
						return err
					}
					sum, err := s.Run(ctx)
					if err != nil {
						return err
					}
					return printOut(cmd, sum, func() string { return summaryText(sum) }, sum.OK,
						fmt.Sprintf("cron run: %d of %d targets", sum.Failures, sum.Targets))
				},
			},
			{
				Name:  "next",
				Usage: "print the next run times of SWARM_UTILS_CRON_EXPR",
				Flags: []cli.Flag{&cli.IntFlag{Name: "count", Value: 5, Usage: "how many run times"}},
				Action: func(_ context.Context, cmd *cli.Command) error {
					n := cmd.Int("count")
					if n < 1 || n > maxNextCount {
						return fmt.Errorf("cron next: --count must be between 1 and %d, not %d", maxNextCount, n)
					}
					s, err := schedule.New(deps().Config.Cron, nil, nil, slog.Default())
					if err != nil {
						return err
					}
					for _, t := range s.Next(time.Now(), int(n)) {
						if _, err := fmt.Fprintln(cmd.Root().Writer, t.Format(time.RFC3339)); err != nil {
							return err
						}
					}
					return nil
				},
			},
		},
	}
}
