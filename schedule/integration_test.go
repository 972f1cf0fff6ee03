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
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// onlyOurs runs the real clean-service on this test's services and only records the rest: the
// swarm is shared with other tests, whose services and nodes a real run must not touch.
type onlyOurs struct {
	deps    *jobs.Deps
	prefix  string
	mu      sync.Mutex
	calls   []string
	results []operation.Result
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
	r := o.deps.CleanService(ctx, name)
	o.mu.Lock()
	o.results = append(o.results, r)
	o.mu.Unlock()
	return r
}

func (o *onlyOurs) CleanNode(_ context.Context, name string) operation.Result {
	o.record("clean-node " + name)
	return operation.Result{Operation: "clean-node", Target: name, OK: true}
}

func (o *onlyOurs) CheckUpdate(_ context.Context, name string) operation.Result {
	if !strings.HasPrefix(name, o.prefix) {
		return operation.Result{Operation: "update-check", Target: name, OK: true, Skipped: "not this test's"}
	}
	o.record("update-check " + name)
	return operation.Result{Operation: "update-check", Target: name, OK: true}
}

func (o *onlyOurs) snapshot() ([]string, []operation.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls), slices.Clone(o.results)
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

// TestOwnCleanCronOnTheCluster: a service labelled with its own clean.cron (every second) is
// left out of the global run and cleaned for real on its own schedule; a labelled service
// without one stays with the global run.
func TestOwnCleanCronOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "it-own-" + hex.EncodeToString(b) + "-"
	cfg := tb.Config()
	log := testbed.NewTestLogger(t)
	secrets := bashexec.NewSecrets(cfg.SecretValues()...)
	d := jobs.NewDeps(cfg, bashexec.New(bashexec.Options{Logger: log, Secrets: secrets}), secrets, log)
	own, global := prefix+"own", prefix+"global"
	tb.Service(t, own, "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo own-schedule",
		"--label", "swarm-utils.clean.cron=* * * * * *", tb.WorkloadImage)
	tb.Service(t, global, "--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo global", tb.WorkloadImage)

	ops := &onlyOurs{deps: d, prefix: prefix}
	cfg.Cron.CleanNode, cfg.Cron.BackupService = false, false
	s, err := New(cfg.Cron, ops, d, log)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	calls, _ := ops.snapshot()
	if !slices.Equal(calls, []string{"clean-service " + global}) {
		t.Errorf("global run calls %q, want only %s", calls, global)
	}
	if !slices.Contains(sum.Phases[1].OwnSchedule, own) {
		t.Errorf("global run's clean-service phase does not list %s as on its own schedule: %+v", own, sum.Phases[1])
	}

	// Now the schedules: the own one runs every second, the global one (03:00) not in this test.
	s.RefreshEvery = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	testbed.WaitFor(t, 30*time.Second, own+" cleaned on its own schedule twice", func() bool {
		_, results := ops.snapshot()
		n := 0
		for _, r := range results {
			if r.Target == own && r.OK {
				n++
			}
		}
		return n >= 2
	})
	s.Stop()
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelWait()
	if err := s.Wait(waitCtx); err != nil {
		t.Fatalf("a run did not end: %v", err)
	}
	calls, results := ops.snapshot()
	if n := slices.Index(calls[1:], "clean-service "+global); n >= 0 {
		t.Errorf("%s was cleaned outside the global run: %q", global, calls)
	}
	for _, r := range results {
		if r.Target != own {
			continue
		}
		if !r.OK || len(r.Steps) == 0 || len(r.Steps[0].Tasks) == 0 || !strings.Contains(r.Steps[0].Tasks[0].Logs, "own-schedule") {
			t.Errorf("own-schedule clean of %s: %+v", own, r)
		}
	}
}
