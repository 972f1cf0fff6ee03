package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/urfave/cli/v3"
)

// jobCommands are the one-shot subcommands; each prints its structured result (JSON, or text
// for people; see printOut) and exits non-zero when the operation failed.
func jobCommands(deps jobs.DepsFunc) []*cli.Command {
	cmds := []*cli.Command{
		{
			Name:  "clean-node",
			Usage: "prune containers, unused images (except the keep-list, younger than until, rollback targets) and build cache on a node, or on every node with --all; reports disk usage before and after",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "node", Usage: "node hostname (exact) or ID"},
				&cli.BoolFlag{Name: "all", Usage: "clean every ready, active node in parallel"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				switch {
				case cmd.Bool("all") && cmd.String("node") == "":
					rep := deps().CleanAllNodes(ctx)
					return printJSON(cmd, rep, rep.OK, "clean-node --all")
				case !cmd.Bool("all") && cmd.String("node") != "":
					return printResult(cmd, deps().CleanNode(ctx, cmd.String("node")))
				}
				return fmt.Errorf("give exactly one of --node NAME or --all")
			},
		},
		serviceJob("clean-service", "run the service's swarm-utils.clean.exec command inside every running task",
			deps, (*jobs.Deps).CleanService),
		serviceJob("backup-service", "back the service's volumes up to S3 (pre-exec, optional stop, upload from every node with a task, start)",
			deps, (*jobs.Deps).BackupService),
		{
			Name:  "backups",
			Usage: "list the service's backup archives in its S3 location, newest first (key, node, time, size, encrypted)",
			Flags: []cli.Flag{serviceFlag()},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				name := cmd.String("service")
				l, err := deps().BackupListing(ctx, name)
				if err != nil {
					return fmt.Errorf("list the backups of service %s: %w", name, err)
				}
				if l.Archives == nil {
					l.Archives = []restore.Archive{}
				}
				return printListing(cmd, backupList{Service: name, Backups: l.Archives, Cut: l.Cut}, true, "backups")
			},
		},
		{
			Name: "restore-service",
			Usage: "put one of the service's backups back into its volumes: safety backup first (archives named pre-restore), " +
				"scale to 0, on each node replace the volumes' content with that node's archive, scale back",
			Flags: []cli.Flag{
				serviceFlag(),
				&cli.StringFlag{Name: "backup", Value: "latest", Usage: "latest (newest that is not a safety backup), an archive KEY (see backups), or a TIME (RFC 3339): the newest at or before it"},
				&cli.BoolFlag{Name: "no-safety-backup", Usage: "do not back the current content up first"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return printResult(cmd, deps().RestoreService(ctx, jobs.RestoreOptions{
					Service: cmd.String("service"), Backup: cmd.String("backup"), NoSafetyBackup: cmd.Bool("no-safety-backup"),
				}))
			},
		},
		{
			Name: "move-service",
			Usage: "move a one-replica service and its volumes to another node: stop, back up on the old node, restore that archive on NODE, " +
				"pin its placement to node.hostname==NODE, start; on a failure it starts again where it was",
			Flags: []cli.Flag{
				serviceFlag(),
				&cli.StringFlag{Name: "node", Usage: "node hostname (exact) or ID to move to", Required: true},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return printResult(cmd, deps().MoveService(ctx, jobs.MoveOptions{Service: cmd.String("service"), Node: cmd.String("node")}))
			},
		},
		{
			Name:  "update-service",
			Usage: "roll the service to a new image (docker service update --image IMG --with-registry-auth), with the exec-pre/exec-post labels run in its tasks and a failed rollout rolled back when rollback-on-failure applies",
			Flags: []cli.Flag{
				serviceFlag(),
				&cli.StringFlag{Name: "image", Usage: "new image reference", Required: true},
				&cli.BoolFlag{Name: "force", Usage: "update even if the image did not change (docker service update --force)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return printResult(cmd, deps().UpdateService(ctx, jobs.UpdateOptions{
					Service: cmd.String("service"), Image: cmd.String("image"), Force: cmd.Bool("force"),
				}))
			},
		},
		{
			Name: "recover",
			Usage: "repair what a killed swarm-utils left behind: remove its helper services (stopping running ones) and start " +
				"the services a backup left at 0 replicas (serve does this at start); run it while no other swarm-utils works on the cluster",
			Flags: []cli.Flag{
				// Tests share the swarm with other tests: they repair only their own target.
				&cli.StringFlag{Name: "only-target", Hidden: true, Usage: "repair only this lock key (service:NAME or node:NAME)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				only := cmd.String("only-target")
				if only != "" {
					kind, name, _ := strings.Cut(only, ":")
					if err := swarm.ValidName(kind, name); err != nil || (kind != "service" && kind != "node") {
						return fmt.Errorf("--only-target %q: want service:NAME or node:NAME", only)
					}
				}
				rep := deps().RepairWith(ctx, jobs.RepairOptions{Only: only})
				return printJSON(cmd, rep, rep.OK, "recover")
			},
		},
	}
	for _, c := range cmds {
		c.Flags = append(c.Flags, &cli.BoolFlag{Name: flagText, Hidden: true, Usage: "the same as --format text"})
	}
	return cmds
}

// serviceFlag is --service, the flag of every subcommand on one service.
func serviceFlag() cli.Flag {
	return &cli.StringFlag{Name: "service", Usage: "service name (exact)", Required: true}
}

// serviceJob is a subcommand that runs op on --service and prints its result.
func serviceJob(name, usage string, deps jobs.DepsFunc, op func(*jobs.Deps, context.Context, string) operation.Result) *cli.Command {
	return &cli.Command{Name: name, Usage: usage, Flags: []cli.Flag{serviceFlag()},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return printResult(cmd, op(deps(), ctx, cmd.String("service")))
		}}
}

// backupList is the catalogue of one service as the backups subcommand prints it.
type backupList struct {
	Service string            `json:"service"`
	Backups []restore.Archive `json:"backups"`
	Cut     string            `json:"cut,omitempty"` // how the listing was bounded
}

func (l backupList) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d backups of %s\n", len(l.Backups), l.Service)
	for _, a := range l.Backups {
		var marks []string
		if a.Safety {
			marks = append(marks, "safety backup")
		}
		if a.Encrypted {
			marks = append(marks, "encrypted")
		}
		fmt.Fprintf(&b, "%s  %-12s %10d B  %s", a.Time.Format(time.RFC3339), a.Node, a.Size, a.Key)
		if len(marks) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(marks, ", "))
		}
		b.WriteString("\n")
	}
	if l.Cut != "" {
		fmt.Fprintf(&b, "(cut: %s)\n", l.Cut)
	}
	return b.String()
}

func printResult(cmd *cli.Command, r operation.Result) error {
	return printJSON(cmd, r, r.OK, r.Operation+" "+r.Target)
}

// printJSON prints the result as --format (or the terminal) says; see printOut.
func printJSON(cmd *cli.Command, v interface{ Text() string }, ok bool, what string) error {
	return printOut(cmd, v, v.Text, ok, what)
}
