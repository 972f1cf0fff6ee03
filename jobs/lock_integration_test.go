//go:build integration

package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/schedule"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// lockConfigs lists the cluster locks of key (the lock and its lease extension).
func lockConfigs(t *testing.T, tb testbed.Bed, key string) string {
	t.Helper()
	return strings.TrimSpace(tb.Docker(t, "config", "ls", "--filter", "label="+clusterlock.LabelLock+"="+key, "--format", "{{.Name}}"))
}

// A CLI run (its own process: its own in-process locks) beside serve on the same service:
// while serve's backup holds the service at 0, the CLI's backup-service, clean-service and the
// repair of stopped services are busy, naming the holder; none of serve's helpers is touched,
// serve's backup succeeds and the service ends at its count; no lock is left.
func TestIntegrationLockCLIBesideServe(t *testing.T) {
	tb := testbed.Get(t)
	s := newBkService(t, tb, "swarm-utils.clean.enable=true", "swarm-utils.clean.exec=true")
	serve, _ := bkDeps(t, tb.Config())
	cliCfg := tb.Config()
	cliCfg.Timeouts.Lock = 300 * time.Millisecond
	cli, _ := bkDeps(t, cliCfg)

	done := make(chan operation.Result, 1)
	go func() { done <- serve.BackupService(context.Background(), s.Name) }()
	testbed.WaitFor(t, time.Minute, s.Name+" scaled to 0 by serve's backup", func() bool {
		out, _ := tb.TryDockerOn("manager", "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", s.Name)
		return strings.TrimSpace(out) == "0"
	})
	key := operation.LockKeyService(s.Name)
	for name, run := range map[string]func() operation.Result{
		"backup-service": func() operation.Result { return cli.BackupService(context.Background(), s.Name) },
		"clean-service":  func() operation.Result { return cli.CleanService(context.Background(), s.Name) },
		"recover-stopped": func() operation.Result {
			rep := cli.RecoverStoppedServices(context.Background())
			for _, r := range rep.Results {
				if r.Target == s.Name {
					return r
				}
			}
			return operation.Result{OK: true, Target: "(none)"}
		},
	} {
		r := run()
		if r.OK || r.ErrorKind != operation.KindBusy || !strings.Contains(r.Error, "operation backup-service since") {
			select {
			case <-done:
				t.Logf("serve's backup ended before the CLI's %s: the check below may not apply", name)
				continue
			default:
			}
			t.Errorf("CLI %s beside serve's backup: ok=%v kind=%q err=%q; want busy naming serve's backup", name, r.OK, r.ErrorKind, r.Error)
		}
	}
	if out, _ := tb.TryDockerOn("manager", "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", s.Name); strings.TrimSpace(out) != "0" {
		select {
		case <-done:
		default:
			t.Errorf("the service was scaled to %s while serve's backup held it at 0", strings.TrimSpace(out))
		}
	}
	r := <-done
	if !r.OK {
		t.Fatalf("serve's backup failed beside the CLI: %s\n%s", r.Error, mustJSONt(r))
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoHelpers(t, tb, s.Name)
	if left := lockConfigs(t, tb, key); left != "" {
		t.Errorf("cluster locks left: %s", left)
	}
}

func mustJSONt(v any) string { return fmt.Sprintf("%+v", v) }

// TestHelperProcessHoldsLock is not a test: run by TestIntegrationLockKilledHolderExpires as a
// separate process, it takes a cluster lock and sleeps until killed.
func TestHelperProcessHoldsLock(t *testing.T) {
	key := os.Getenv("SU_IT_HOLD_LOCK")
	if key == "" {
		t.Skip("only run as the helper process of TestIntegrationLockKilledHolderExpires")
	}
	lease, err := time.ParseDuration(os.Getenv("SU_IT_HOLD_LEASE"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := &clusterlock.Locks{Swarm: &swarm.CLI{Runner: bashexec.New(bashexec.Options{Logger: log})}, Log: log}
	if _, err := l.Acquire(context.Background(), key, operation.Holder{Instance: "it-killed", Operation: "clean-service", Run: "doomed"}, lease, time.Now()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("holding", key)
	time.Sleep(10 * time.Minute)
}

// kill -9 of the lock holder: its lock stays until its lease ends (a claimant is busy, naming
// it), then the next claimant takes it over and runs.
func TestIntegrationLockKilledHolderExpires(t *testing.T) {
	tb := testbed.Get(t)
	name := "it-lock-" + bkRand(t)
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=true", tb.WorkloadImage)
	key := operation.LockKeyService(name)
	const lease = 8 * time.Second // waited out on purpose (the claimant before it needs a few seconds)

	holder := exec.Command(os.Args[0], "-test.run=^TestHelperProcessHoldsLock$", "-test.v")
	holder.Env = append(os.Environ(), "SU_IT_HOLD_LOCK="+key, "SU_IT_HOLD_LEASE="+lease.String())
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	var killOnce sync.Once
	kill := func() { killOnce.Do(func() { _ = holder.Process.Kill(); _ = holder.Wait() }) }
	t.Cleanup(kill)
	t.Cleanup(func() { _, _ = tb.TryDockerOn("manager", "config", "rm", clusterlock.Name(key)) })
	testbed.WaitFor(t, 30*time.Second, "the helper process holds the lock", func() bool { return lockConfigs(t, tb, key) != "" })
	claimed := time.Now()
	kill() // SIGKILL: no release

	cfg := tb.Config()
	cfg.Timeouts.Lock = 500 * time.Millisecond
	impatient := testDepsOf(t, cfg)
	r := impatient.CleanService(context.Background(), name)
	if r.ErrorKind != operation.KindBusy || !strings.Contains(r.Error, "instance it-killed, operation clean-service") {
		t.Fatalf("within the dead holder's lease: ok=%v kind=%q err=%q; want busy naming it", r.OK, r.ErrorKind, r.Error)
	}
	cfg.Timeouts.Lock = lease + 10*time.Second
	patient := testDepsOf(t, cfg)
	r = patient.CleanService(context.Background(), name)
	if !r.OK {
		t.Fatalf("after the lease: ok=%v kind=%q err=%q", r.OK, r.ErrorKind, r.Error)
	}
	if waited := time.Since(claimed); waited < lease-2*time.Second {
		t.Errorf("got the lock %s after the dead holder's claim, before its lease of %s", waited, lease)
	}
	if left := lockConfigs(t, tb, key); left != "" {
		t.Errorf("cluster locks left: %s", left)
	}
}

func testDepsOf(t *testing.T, cfg config.Config) *jobs.Deps {
	d, _ := bkDeps(t, cfg)
	return d
}

// recover of one instance leaves another instance's running helper alone (and that run
// succeeds); a second process of the same instance leaves it too, as its run holds the lock.
func TestIntegrationRecoverLeavesOtherInstancesHelper(t *testing.T) {
	tb := testbed.Get(t)
	id := bkRand(t)
	instB := "it-b-" + id
	name := "it-inst-" + id
	tb.Service(t, name, "--replicas", "1", "--constraint", "node.role==worker",
		"--label", "swarm-utils.instance="+instB,
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=sleep 8", tb.WorkloadImage)
	cfgB := tb.Config()
	cfgB.Instance = instB
	cfgB.Timeouts.LockLease = 3 * time.Second // the repair waits one lease for a dead holder
	cfgB.Timeouts.Lock = 500 * time.Millisecond
	b := testDepsOf(t, cfgB)
	cfgA := cfgB
	cfgA.Instance = "it-a-" + id
	a := testDepsOf(t, cfgA)
	sameB := testDepsOf(t, cfgB)

	done := make(chan operation.Result, 1)
	go func() { done <- b.CleanService(context.Background(), name) }()
	key := operation.LockKeyService(name)
	var helperName string
	testbed.WaitFor(t, time.Minute, "instance B's helper running", func() bool {
		out, _ := tb.TryDockerOn("manager", "service", "ls", "--filter", "label=swarm-utils.helper.lock="+key, "--format", "{{.Name}}")
		helperName = strings.TrimSpace(out)
		return helperName != ""
	})
	for _, rp := range []struct {
		who string
		d   *jobs.Deps
	}{{"another instance", a}, {"another process of the same instance", sameB}} {
		rep := rp.d.RepairWith(context.Background(), jobs.RepairOptions{Only: key})
		select {
		case <-done:
			t.Fatalf("instance B's run (8 s) ended before the repair of %s was checked", rp.who)
		default:
		}
		if _, err := tb.TryDockerOn("manager", "service", "inspect", helperName); err != nil {
			t.Errorf("recover of %s removed the running helper %s: %+v", rp.who, helperName, rep)
		}
	}
	r := <-done
	if !r.OK {
		t.Fatalf("instance B's clean-service beside the repairs: %s", r.Error)
	}
	bkAssertNoHelpers(t, tb, name)
}

// Two instances with disjoint services run their crons at the same second: each cleans only its
// own services, both succeed.
func TestIntegrationTwoInstancesCronsAtOneSecond(t *testing.T) {
	tb := testbed.Get(t)
	id := bkRand(t)
	type inst struct {
		name, svc string
		d         *jobs.Deps
		sched     *schedule.Scheduler
		sum       schedule.Summary
		err       error
	}
	insts := []*inst{{name: "it-cron-a-" + id}, {name: "it-cron-b-" + id}}
	for _, in := range insts {
		in.svc = in.name + "-web"
		tb.Service(t, in.svc, "--replicas", "1", "--constraint", "node.role==worker", "--label", "swarm-utils.instance="+in.name,
			"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=echo cleaned-by-"+in.name, tb.WorkloadImage)
		cfg := tb.Config()
		cfg.Instance = in.name
		cfg.Cron.CleanService, cfg.Cron.BackupService, cfg.Cron.CleanNode = true, false, false
		cfg.Cron.Expr = "0 0 3 * * *"
		in.d = testDepsOf(t, cfg)
		s, err := schedule.New(cfg.Cron, in.d, in.d, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		in.sched = s
	}
	// The API's lookups go through Deps.Service: another instance's service is not found (404).
	if _, err := insts[0].d.Service(context.Background(), insts[1].svc); operation.KindOf(err) != operation.KindNotFound {
		t.Errorf("%s sees %s of %s: %v, want not found", insts[0].name, insts[1].svc, insts[1].name, err)
	}
	if _, err := insts[1].d.Service(context.Background(), insts[1].svc); err != nil {
		t.Errorf("%s does not see its own %s: %v", insts[1].name, insts[1].svc, err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, in := range insts {
		wg.Go(func() {
			<-start
			in.sum, in.err = in.sched.Run(context.Background())
		})
	}
	close(start)
	wg.Wait()
	for _, in := range insts {
		if in.err == nil && !in.sum.OK {
			t.Errorf("%s: cron run failed: %+v", in.name, in.sum)
		}
		if in.err != nil {
			t.Fatalf("%s: cron run: %v", in.name, in.err)
		}
		got := fmt.Sprintf("%+v", in.sum)
		if !strings.Contains(got, in.svc) {
			t.Errorf("%s's cron did not clean its service %s: %s", in.name, in.svc, got)
		}
		for _, other := range insts {
			if other != in && strings.Contains(got, other.svc) {
				t.Errorf("%s's cron touched %s of %s: %s", in.name, other.svc, other.name, got)
			}
		}
	}
}
