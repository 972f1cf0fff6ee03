package cli

import (
	"context"
	"log/slog"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/urfave/cli/v3"
)

// cleanNodeHelperCommand is what clean-node runs inside its helper on a node whose images are
// chosen in Go (hidden: not for people): survey, choose and prune there in one helper.
func cleanNodeHelperCommand() *cli.Command {
	return &cli.Command{
		Name:      cleannode.NodeHelperCommand,
		Hidden:    true,
		Usage:     "clean-node's helper: survey this node's images, choose and prune them",
		ArgsUsage: "TASK_JSON",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			runner := bashexec.New(bashexec.Options{Logger: slog.Default(), Secrets: bashexec.NewGlobalSecrets()})
			return cleannode.RunNodeHelper(ctx, cmd.Args().First(), runner, slog.Default(), cmd.Root().Writer)
		},
	}
}
