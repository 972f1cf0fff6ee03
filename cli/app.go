// Package cli defines every swarm-utils subcommand: the jobs (one-shot, JSON results), serve,
// cron, config and version.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/urfave/cli/v3"
)

// New is the swarm-utils command line: every subcommand is defined in this package.
func New(version string) *cli.Command {
	// cfg is filled by Before, which runs before any subcommand's Action.
	var cfg config.Config

	var deps *jobs.Deps
	depsFunc := func() *jobs.Deps {
		if deps == nil {
			deps = newDeps(cfg)
		}
		return deps
	}
	commandsList := append(jobCommands(depsFunc),
		serveCommand(depsFunc),
		cronCommand(depsFunc),
		configCommand(&cfg),
		versionCommand(version),
		restoreHelperCommand(),
		cleanNodeHelperCommand(),
	)

	root := &cli.Command{
		Name:    "swarm-utils",
		Usage:   "keep a Docker Swarm cluster healthy: clean nodes and services, back volumes up to S3, update services",
		Version: version,
		Flags:   config.Flags(),
		// Errors are logged once by main; cli must not print them too.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Commands:       commandsList,
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return fmt.Errorf("unknown command %q (see swarm-utils --help)", cmd.Args().First())
			}
			return cli.ShowRootCommandHelp(cmd)
		},
		Before: func(ctx context.Context, cmd *cli.Command) (context.Context, error) {
			c, err := config.FromCommand(cmd)
			if err == nil {
				err = c.Validate()
			}
			if err != nil {
				return ctx, fmt.Errorf("configuration: %w", err)
			}
			logger, err := newLogger(os.Stderr, c.LogFormat, c.LogLevel)
			if err != nil {
				return ctx, fmt.Errorf("configuration: %w", err)
			}
			slog.SetDefault(logger)
			cfg = c
			level := slog.LevelInfo
			if sub := cmd.Command(cmd.Args().First()); sub == nil || quietCommands[sub.Name] {
				level = slog.LevelDebug
			}
			slog.Log(ctx, level, "effective configuration", "version", version, "config", c.Masked())
			return ctx, nil
		},
	}
	// Usage errors are returned, not printed with the whole help, so main logs them once.
	_ = root.Walk(func(c *cli.Command) error {
		c.OnUsageError = func(_ context.Context, cmd *cli.Command, err error, _ bool) error {
			return fmt.Errorf("%w (see %s --help)", err, cmd.FullName())
		}
		return nil
	})
	return root
}

// newDeps wires every door to one bashexec.Exec, so that its process limit (MaxProcs, default
// 32) bounds everything that starts docker at once: the jobs, the API's listings and readiness
// (jobs.Deps is the API's Targets), the cron and serve's repair.
func newDeps(cfg config.Config) *jobs.Deps {
	secrets := bashexec.NewGlobalSecrets(cfg.SecretValues()...)
	runner := bashexec.New(bashexec.Options{Logger: slog.Default(), Secrets: secrets, DryRun: cfg.DryRun})
	return jobs.NewDeps(cfg, runner, secrets, slog.Default())
}

// quietCommands (and no or an unknown command) print for people and scripts: the start-up
// configuration line is debug only for them.
var quietCommands = map[string]bool{"config": true, "version": true, "help": true, restore.HelperCommand: true, cleannode.NodeHelperCommand: true}

func configCommand(cfg *config.Config) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "print the effective configuration as JSON (secrets masked), or with --markdown the table of every variable",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "markdown", Usage: "print the Markdown table of every variable and flag"}},
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.Bool("markdown") {
				_, err := fmt.Fprint(cmd.Root().Writer, config.Markdown())
				return err
			}
			out, err := json.MarshalIndent(cfg.Masked(), "", "  ")
			if err != nil {
				return fmt.Errorf("encode configuration: %w", err)
			}
			_, err = fmt.Fprintln(cmd.Root().Writer, string(out))
			return err
		},
	}
}

func versionCommand(version string) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(_ context.Context, cmd *cli.Command) error {
			_, err := fmt.Fprintf(cmd.Root().Writer, "swarm-utils %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
