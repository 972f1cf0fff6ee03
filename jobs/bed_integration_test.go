//go:build integration

package jobs

import (
	"testing"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// testDeps builds real dependencies (the real docker CLI through bashexec) for the test swarm,
// logging into the test log. (testbed cannot do it: it would import this package.)
func testDeps(t testing.TB, cfg config.Config) *Deps {
	t.Helper()
	log := testbed.NewTestLogger(t)
	secrets := bashexec.NewSecrets(cfg.SecretValues()...)
	return NewDeps(cfg, bashexec.New(bashexec.Options{Logger: log, Secrets: secrets}), secrets, log)
}

// testDepsRecorded is testDeps that also keeps the log, docker command lines included.
func testDepsRecorded(t testing.TB, cfg config.Config) (*Deps, *testbed.Recorder) {
	t.Helper()
	log, rec := testbed.NewRecordingLogger(t)
	secrets := bashexec.NewSecrets(cfg.SecretValues()...)
	return NewDeps(cfg, bashexec.New(bashexec.Options{Logger: log, Secrets: secrets}), secrets, log), rec
}
