// Package cli defines every swarm-utils subcommand: the jobs (one-shot, JSON results), serve,
// cron, config and version.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/schedule"
	"github.com/urfave/cli/v3"
)

// New is the swarm-utils command line: every subcommand is defined in this package.
func New(version string) *cli.Command {
	config.SetVersion(version) // SWARM_UTILS_IMAGE defaults to this version's image
	// cfg is filled by Before, which runs before any subcommand's Action.
	var cfg config.Config

	var deps *jobs.Deps
	depsFunc := func() *jobs.Deps {
		if deps == nil {
			deps = newDeps(cfg)
		}
		return deps
	}
	// One-shot commands record their runs and notify (serve wires its own, see serve.go).
	var obs *observers
	oneShot := func() *jobs.Deps {
		d := depsFunc()
		if obs == nil {
			var err error
			if obs, err = attachObservers(d, false, slog.Default()); err != nil {
				slog.Error("notifications are off for this command", "err", err)
			}
		}
		return d
	}
	commandsList := append(jobCommands(oneShot),
		serveCommand(depsFunc),
		cronCommand(oneShot),
		updateCheckCommand(oneShot),
		configCommand(&cfg),
		versionCommand(version),
		restoreHelperCommand(),
		volumesCommand(depsFunc),
		cleanNodeHelperCommand(),
	)

	root := &cli.Command{
		Name:    "swarm-utils",
		Usage:   "keep a Docker Swarm cluster healthy: clean nodes and services, back volumes up to S3, update services",
		Version: version,
		Flags:   append(config.Flags(), outputFlags()...),
		// `swarm-utils completion bash|zsh|fish|pwsh` prints the script to source.
		EnableShellCompletion: true,
		// Errors are logged once by main; cli must not print them too.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Commands:       commandsList,
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return fmt.Errorf("unknown command %q (see swarm-utils --help)", cmd.Args().First())
			}
			return cli.ShowRootCommandHelp(cmd)
		},
		After: func(context.Context, *cli.Command) error {
			obs.close(slog.Default())
			return nil
		},
		Before: func(ctx context.Context, cmd *cli.Command) (context.Context, error) {
			if cmd.Args().First() == completionCommand || completing() {
				return ctx, nil // prints a script or the shell's candidates; needs no configuration, logs nothing
			}
			c, err := config.FromCommand(cmd)
			if err == nil {
				err = c.Validate()
			}
			if err != nil {
				return ctx, fmt.Errorf("configuration: %w", err)
			}
			if _, err := textOutput(cmd); err != nil {
				return ctx, err // before anything runs
			}
			logLevel := c.LogLevel
			if cmd.Bool(flagQuiet) && (logLevel == "debug" || logLevel == "info") {
				logLevel = "warn"
			}
			logger, err := newLogger(os.Stderr, c.LogFormat, logLevel)
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
var quietCommands = map[string]bool{"config": true, "version": true, "help": true, completionCommand: true, restore.HelperCommand: true, cleannode.NodeHelperCommand: true}

// completionCommand is the subcommand urfave adds with EnableShellCompletion.
const completionCommand = "completion"

// completing tells whether the shell asks for completions: its script calls swarm-utils with
// this flag last (urfave does not tell Before).
func completing() bool {
	return len(os.Args) > 1 && os.Args[len(os.Args)-1] == "--generate-shell-completion"
}

func configCommand(cfg *config.Config) *cli.Command {
	return &cli.Command{
		Name: "config",
		Usage: "print the effective configuration (secrets masked) and check it: exits non-zero when it is invalid " +
			"(also a cron expression that does not parse, or S3 settings that are set but incomplete); with --markdown the table of every variable",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "markdown", Usage: "print the Markdown table of every variable and flag"}},
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.Bool("markdown") {
				_, err := fmt.Fprint(cmd.Root().Writer, config.Markdown())
				return err
			}
			masked := cfg.Masked()
			err := checkConfig(*cfg)
			if perr := printOut(cmd, masked, func() string { return configText(masked) }, err == nil, "configuration check"); perr != nil && err == nil {
				return perr
			}
			if err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			return nil
		},
	}
}

// checkConfig checks what Validate leaves to the moment of use: the cron expression, and the
// S3 settings once any of them is set (a service's labels may still fill in the rest, but a
// configuration that sets some and not others is most likely a mistake).
func checkConfig(c config.Config) error {
	var errs []error
	if _, err := schedule.New(c.Cron, nil, nil, slog.Default()); err != nil {
		errs = append(errs, err)
	}
	if s := c.S3; s.URL != "" || s.Bucket != "" || s.AccessKey != "" || s.SecretKey != "" {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// configText is the configuration for people: VARIABLE=value, sorted.
func configText(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s=%s\n", k, m[k])
	}
	return b.String()
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
