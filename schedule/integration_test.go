//go:build integration

package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// onlyOurs runs the real clean-service on this test's services and only records the rest: the
// swarm is shared with other tests, whose services and nodes a real run must not touch.
type onlyOurs struct {
	deps   *jobs.Deps
	prefix string
	mu     sync.Mutex
	calls  []string
}

func (o *onlyOurs) record(call string) {
	o.mu.Lock()
	o.calls = append(o.calls, call)
	o.mu.Unlock()
}

func (o *onlyOurs) CleanAllNodes(context.Context) operation.Report {
	o.record("clean-node *")
	return operation.Report{Operation: "clean-node", OK: true, Results: []operation.Result{}}
}

func (o *onlyOurs) CleanService(ctx context.Context, name string) operation.Result {
	if !strings.HasPrefix(name, o.prefix) {
		return operation.Result{Operation: "clean-service", Target: name, OK: true, Skipped: "not this test's"}
	}
	o.record("clean-service " + name)
	return o.deps.CleanService(ctx, name)
}

func (o *onlyOurs) BackupService(_ context.Context, name string) operation.Result {
	if !strings.HasPrefix(name, o.prefix) {
		return operation.Result{Operation: "backup-service", Target: name, OK: true, Skipped: "not this test's"}
	}
	o.record("backup-service " + name)
	return operation.Result{Operation: "backup-service", Target: name, OK: true}
}

// TestRunFindsLabelledServicesOnTheCluster: a run lists the labelled services through the real
// docker CLI (label values read as the pipelines read them) and cleans ours for real, in order.
func TestRunFindsLabelledServicesOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "it-api-" + hex.EncodeToString(b) + "-"
	cfg := tb.Config()
	log := testbed.NewTestLogger(t)
	secrets := bashexec.NewSecrets(cfg.SecretValues()...)
	d := jobs.NewDeps(cfg, bashexec.New(bashexec.Options{Logger: log, Secrets: secrets}), secrets, log)
	tb.Service(t, prefix+"a", "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo a", tb.WorkloadImage)
	tb.Service(t, prefix+"b", "--label", "swarm-utils.clean.enable= True ", "--label", "swarm-utils.clean.exec=echo b",
		"--label", "swarm-utils.backup.enable=true", tb.WorkloadImage)
	tb.Service(t, prefix+"c", "--label", "swarm-utils.clean.enable=false", "--label", "swarm-utils.backup.enable=false", tb.WorkloadImage)

	ops := &onlyOurs{deps: d, prefix: prefix}
	s, err := New(cfg.Cron, ops, d, log)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"clean-node *", "clean-service " + prefix + "a", "clean-service " + prefix + "b", "backup-service " + prefix + "b"}
	if !slices.Equal(ops.calls, want) {
		t.Errorf("calls %q, want %q", ops.calls, want)
	}
	for _, p := range sum.Phases {
		for _, r := range p.Results {
			if strings.HasPrefix(r.Target, prefix) && !r.OK {
				t.Errorf("%s %s failed: %s", r.Operation, r.Target, r.Error)
			}
		}
	}
}
