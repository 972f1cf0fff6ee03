package cli

import (
	"testing"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Everything that starts docker goes through one process limit: the one Exec behind the Deps
// that serve (API and cron) and every job subcommand share.
func TestOneProcessLimit(t *testing.T) {
	d := newDeps(config.Config{})
	c, ok := d.Swarm.(*swarm.CLI)
	if !ok {
		t.Fatalf("swarm %T, want *swarm.CLI", d.Swarm)
	}
	x, ok := c.Runner.(*bashexec.Exec)
	if !ok {
		t.Fatalf("runner %T, want *bashexec.Exec", c.Runner)
	}
	if _, limit := x.Running(); limit != bashexec.DefaultMaxProcs {
		t.Errorf("process limit %d, want %d", limit, bashexec.DefaultMaxProcs)
	}
}
