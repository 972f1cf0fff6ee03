package cli

import (
	"context"

	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/urfave/cli/v3"
)

// volumesCommand is `swarm-utils volumes [--unused]`.
func volumesCommand(deps jobs.DepsFunc) *cli.Command {
	return &cli.Command{
		Name:  "volumes",
		Usage: "list every node's local volumes: whether any container (running or stopped) uses each, and its size (all nodes in parallel)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "unused", Usage: "only the volumes no container uses"},
			&cli.BoolFlag{Name: flagText, Hidden: true, Usage: "the same as --format text"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			l := deps().Volumes(ctx, cmd.Bool("unused"))
			return printListing(cmd, l, l.OK, "volumes")
		},
	}
}
