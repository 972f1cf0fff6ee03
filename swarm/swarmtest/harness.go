package swarmtest

import (
	"log/slog"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Wiring is what a job needs around the fake: the helper engine, the operation runner, the
// secrets and a log kept for assertions.
type Wiring struct {
	Helpers *helper.Engine
	Ops     *operation.Runner
	Secrets *bashexec.Secrets
	Log     *slog.Logger
	logs    *testbed.Recorder
}

// Logs is everything logged so far.
func (w *Wiring) Logs() string { return w.logs.String() }

// Wire builds the engine and runner over f with cfg's timeouts; waits poll every millisecond.
func Wire(f *Fake, cfg config.Config) *Wiring {
	buf := &testbed.Recorder{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secrets := bashexec.NewGlobalSecrets(cfg.SecretValues()...)
	h := &helper.Engine{Swarm: f, Secrets: secrets, Log: log, Pending: cfg.Timeouts.Pending, PollInterval: time.Millisecond,
		DockerCLIImage: cfg.DockerCLIImage, Instance: cfg.Instance}
	// The cluster lock too, so that every job's test runs the path production runs.
	ops := &operation.Runner{Locks: operation.NewLocks(), Claim: h.Claim, LockWait: cfg.Timeouts.Lock, Extra: cfg.Timeouts.Extra, Log: log,
		Cluster: &clusterlock.Locks{Swarm: f, Log: log, Poll: time.Millisecond}, Lease: cfg.Timeouts.LockLease, Instance: cfg.Instance}
	return &Wiring{Helpers: h, Ops: ops, Secrets: secrets, Log: log, logs: buf}
}

// Step is the helper step a job carries (its swarm-utils.helper.step label).
func Step(j swarm.Job) string {
	for _, l := range j.Labels {
		if l.Key == helper.LabelStep {
			return l.Value
		}
	}
	return ""
}
