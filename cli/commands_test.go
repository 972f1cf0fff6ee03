package cli

import (
	"bytes"
	"context"
	"io"

	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/urfave/cli/v3"
)

// runCommands runs `swarm-utils args...` with the subcommands cmds and returns what it printed
// and its error (not an exit).
func runCommands(cmds []*cli.Command, args ...string) (string, error) {
	var out bytes.Buffer
	root := &cli.Command{Name: "swarm-utils", Writer: &out, ErrWriter: io.Discard, Commands: cmds,
		ExitErrHandler: func(context.Context, *cli.Command, error) {}}
	err := root.Run(context.Background(), append([]string{"swarm-utils"}, args...))
	return out.String(), err
}

// depsOf is the DepsFunc of d.
func depsOf(d *jobs.Deps) jobs.DepsFunc { return func() *jobs.Deps { return d } }
