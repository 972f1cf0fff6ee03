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
				Usage: "print the next run times of SWARM_UTILS_CRON_EXPR, then the targets' own schedules (labels clean.cron, backup.cron, update.auto) with their next time or why their expression is invalid",
				Flags: []cli.Flag{&cli.IntFlag{Name: "count", Value: 5, Usage: "how many run times"}},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					n := cmd.Int("count")
					if n < 1 || n > maxNextCount {
						return fmt.Errorf("cron next: --count must be between 1 and %d, not %d", maxNextCount, n)
					}
					d := deps()
					s, err := schedule.New(d.Config.Cron, nil, d, slog.Default())
					if err != nil {
						return err
					}
					w := cmd.Root().Writer
					for _, t := range s.Next(time.Now(), int(n)) {
						if _, err := fmt.Fprintln(w, t.Format(time.RFC3339)); err != nil {
							return err
						}
					}
					return printOwnSchedules(ctx, cmd, s)
				},
			},
		},
	}
}

// printOwnSchedules lists the targets' own schedules after the global times; without docker
// it says so and the global times stand.
func printOwnSchedules(ctx context.Context, cmd *cli.Command, s *schedule.Scheduler) error {
	entries, err := s.Entries(ctx)
	if err != nil {
		_, err = fmt.Fprintf(cmd.Root().ErrWriter, "own schedules: cannot read the labels: %v\n", err)
		return err
	}
	w := cmd.Root().Writer
	if _, err := fmt.Fprintf(w, "# own schedules: %d (labels re-read every %s; TZ %s)\n", len(entries), schedule.RefreshEvery, time.Local); err != nil {
		return err
	}
	invalid := 0
	for _, e := range entries {
		line := fmt.Sprintf("%s %s %q (%s)", e.Operation, e.Target, e.Expr, e.Label)
		switch {
		case e.Error != "":
			invalid++
			line += " INVALID: " + e.Error
		case e.Next != nil:
			line += " next " + e.Next.Format(time.RFC3339)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	if invalid > 0 {
		return fmt.Errorf("cron next: %d own schedule(s) have an invalid expression", invalid)
	}
	return nil
}
