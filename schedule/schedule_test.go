package schedule

import (
	"context"
	"errors"
	"fmt"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// recorder is fake Operations and Targets that records every call as a start and an end event.
type recorder struct {
	mu      sync.Mutex
	events  []event
	delay   time.Duration
	fail    map[string]bool // "op target" that fail
	listErr error
	active  int // operations running at once; must stay <= 1
	maxSeen int
	svcs    []parse.Service // nil: labelled
	nodes   []parse.Node    // nil: three nodes without labels
}

type event struct {
	call  string // "clean-node *", "clean-service a", ...
	start bool
	at    time.Time
}

// labelled: svc-a and svc-b are cleaned, svc-b and svc-c backed up.
var labelled = []parse.Service{
	{Name: "svc-a", Labels: map[string]string{parse.LabelCleanEnable: "true"}},
	{Name: "svc-b", Labels: map[string]string{parse.LabelCleanEnable: " True ", parse.LabelBackupEnable: "true"}},
	{Name: "svc-c", Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelCleanEnable: "false"}},
	{Name: "svc-d", Labels: map[string]string{}},
}

var threeNodes = []parse.Node{{ID: "n1", Hostname: "manager"}, {ID: "n2", Hostname: "worker-1"}, {ID: "n3", Hostname: "worker-2"}}

func (r *recorder) op(ctx context.Context, op, target string) operation.Result {
	call := op + " " + target
	r.mu.Lock()
	r.events = append(r.events, event{call, true, time.Now()})
	r.active++
	r.maxSeen = max(r.maxSeen, r.active)
	r.mu.Unlock()
	select {
	case <-time.After(r.delay):
	case <-ctx.Done():
	}
	r.mu.Lock()
	r.active--
	r.events = append(r.events, event{call, false, time.Now()})
	failed := r.fail[call]
	r.mu.Unlock()
	res := operation.Result{Operation: op, Target: target, OK: true}
	switch {
	case ctx.Err() != nil:
		res.OK, res.Error, res.ErrorKind = false, "canceled", operation.KindCanceled
	case failed:
		res.OK, res.Error, res.ErrorKind = false, "exec failed", operation.KindDocker
	}
	return res
}

func (r *recorder) CleanAllNodes(ctx context.Context) operation.Report {
	res := r.op(ctx, "clean-node", "*")
	return operation.Report{Operation: "clean-node", OK: res.OK, Results: []operation.Result{
		res, {Operation: "clean-node", Target: "worker-2", OK: true, Skipped: "node is drain"}}}
}
func (r *recorder) CleanService(ctx context.Context, name string) operation.Result {
	return r.op(ctx, "clean-service", name)
}
func (r *recorder) BackupService(ctx context.Context, name string) operation.Result {
	return r.op(ctx, "backup-service", name)
}
func (r *recorder) CleanNode(ctx context.Context, name string) operation.Result {
	return r.op(ctx, "clean-node", name)
}
func (r *recorder) CheckUpdate(ctx context.Context, name string) operation.Result {
	return r.op(ctx, "update-check", name)
}
func (r *recorder) Services(context.Context) ([]parse.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listErr != nil {
		return nil, r.listErr
	}
	if r.svcs == nil {
		return labelled, nil
	}
	return slices.Clone(r.svcs), nil
}
func (r *recorder) Nodes(context.Context) ([]parse.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listErr != nil {
		return nil, r.listErr
	}
	if r.nodes == nil {
		return threeNodes, nil
	}
	return slices.Clone(r.nodes), nil
}

// setServices changes the labels the next refresh reads.
func (r *recorder) setServices(svcs []parse.Service) {
	r.mu.Lock()
	r.svcs = svcs
	r.mu.Unlock()
}

func (r *recorder) count(call string) int {
	n := 0
	for _, c := range r.calls() {
		if c == call {
			n++
		}
	}
	return n
}

func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.start {
			out = append(out, e.call)
		}
	}
	return out
}

var fullRun = []string{"clean-node *", "clean-service svc-a", "clean-service svc-b", "backup-service svc-b", "backup-service svc-c"}

func allOn(expr string) config.Cron {
	return config.Cron{Expr: expr, CleanNode: true, CleanService: true, BackupService: true}
}

func newTestScheduler(t *testing.T, cfg config.Cron, r *recorder) (*Scheduler, *testbed.Recorder) {
	t.Helper()
	buf := &testbed.Recorder{}
	s, err := New(cfg, r, r, slog.New(slog.NewTextHandler(buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, buf
}

func TestRunOrderAndSummary(t *testing.T) {
	r := &recorder{fail: map[string]bool{"backup-service svc-c": true}}
	s, log := newTestScheduler(t, allOn("0 0 3 * * *"), r)
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.calls(); !slices.Equal(got, fullRun) {
		t.Errorf("calls %q, want %q", got, fullRun)
	}
	if sum.OK || sum.Targets != 6 || sum.Failures != 1 || sum.Skipped != 1 || len(sum.Phases) != 3 {
		t.Errorf("summary %+v", sum)
	}
	for i, op := range []string{"clean-node", "clean-service", "backup-service"} {
		if sum.Phases[i].Operation != op || !sum.Phases[i].Enabled {
			t.Errorf("phase %d: %+v", i, sum.Phases[i])
		}
	}
	line := log.String()
	for _, want := range []string{"cron run end", "targets=6", "failures=1", "skipped=1", "durationMs=", "svc-c: exec failed"} {
		if !strings.Contains(line, want) {
			t.Errorf("summary log lacks %q:\n%s", want, line)
		}
	}
}

func TestRunHonoursSwitches(t *testing.T) {
	for _, tt := range []struct {
		cfg  config.Cron
		want []string
	}{
		{config.Cron{CleanNode: true}, []string{"clean-node *"}},
		{config.Cron{CleanService: true}, []string{"clean-service svc-a", "clean-service svc-b"}},
		{config.Cron{BackupService: true}, []string{"backup-service svc-b", "backup-service svc-c"}},
		{config.Cron{CleanNode: true, BackupService: true}, []string{"clean-node *", "backup-service svc-b", "backup-service svc-c"}},
		{config.Cron{}, nil},
	} {
		t.Run(fmt.Sprintf("%+v", tt.cfg), func(t *testing.T) {
			r := &recorder{}
			tt.cfg.Expr = "0 0 3 * * *"
			s, _ := newTestScheduler(t, tt.cfg, r)
			sum, err := s.Run(context.Background())
			if err != nil || !sum.OK {
				t.Fatalf("%v %+v", err, sum)
			}
			if got := r.calls(); !slices.Equal(got, tt.want) {
				t.Errorf("calls %q, want %q", got, tt.want)
			}
			for _, p := range sum.Phases {
				if !p.Enabled && p.Targets != 0 {
					t.Errorf("disabled phase ran: %+v", p)
				}
			}
		})
	}
}

func TestRunListErrorIsAFailure(t *testing.T) {
	r := &recorder{listErr: errors.New("docker is down")}
	s, _ := newTestScheduler(t, allOn("0 0 3 * * *"), r)
	sum, _ := s.Run(context.Background())
	// clean-node still runs: CleanAllNodes reads the nodes itself and reports its own failure.
	if sum.OK || sum.Failures != 2 || !strings.Contains(sum.Phases[1].Error, "docker is down") {
		t.Errorf("summary %+v", sum)
	}
	if got := r.calls(); !slices.Equal(got, []string{"clean-node *"}) {
		t.Errorf("calls %q", got)
	}
}

func TestRunBusyAndCanceled(t *testing.T) {
	r := &recorder{delay: 200 * time.Millisecond}
	s, _ := newTestScheduler(t, allOn("0 0 3 * * *"), r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Summary)
	go func() { sum, _ := s.Run(ctx); done <- sum }()
	for len(r.calls()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.Run(context.Background()); !errors.Is(err, ErrBusy) {
		t.Errorf("second run: %v, want ErrBusy", err)
	}
	cancel()
	sum := <-done
	if !sum.Canceled || sum.OK {
		t.Errorf("summary %+v", sum)
	}
	if got := r.calls(); !slices.Equal(got, []string{"clean-node *"}) {
		t.Errorf("a canceled run went on: %q", got)
	}
	s.Stop()
	if _, err := s.Run(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("run after Stop: %v", err)
	}
}

func TestBadExpression(t *testing.T) {
	for _, expr := range []string{"61 * * * *", "* * * * * * * *", "nonsense", ""} {
		if _, err := New(config.Cron{Expr: expr}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "SWARM_UTILS_CRON_EXPR") ||
			!strings.Contains(err.Error(), "five fields") {
			t.Errorf("New(%q): %v", expr, err)
		}
	}
	if _, err := New(config.Cron{Expr: "0 3 * * *", UpdateAutoExpr: "every now and then"}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), GlobalUpdateAutoCron) {
		t.Errorf("a bad %s: %v", GlobalUpdateAutoCron, err)
	}
	s, err := New(config.Cron{Expr: "*/10 * * * * *"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	next := s.Next(from, 2)
	if len(next) != 2 || !next[0].Equal(from.Add(7*time.Second)) || !next[1].Equal(from.Add(17*time.Second)) {
		t.Errorf("next %v", next)
	}
}

// TestCronEverySecondOrderAndNoOverlap runs the real go-cron schedule "* * * * * *" for about
// 3.5 s with runs that take ~1.3 s: ticks that come during a run are skipped, runs never
// overlap, and each run is clean-node → clean-service → backup-service.
func TestCronEverySecondOrderAndNoOverlap(t *testing.T) {
	r := &recorder{delay: 260 * time.Millisecond} // 5 operations per run
	s, log := newTestScheduler(t, allOn("* * * * * *"), r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	time.Sleep(3500 * time.Millisecond)
	s.Stop()
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelWait()
	if err := s.Wait(waitCtx); err != nil {
		t.Fatalf("a run did not end: %v", err)
	}

	r.mu.Lock()
	events, maxSeen := slices.Clone(r.events), r.maxSeen
	r.mu.Unlock()
	if maxSeen != 1 {
		t.Errorf("%d operations ran at once", maxSeen)
	}
	// Events come in start/end pairs, one operation at a time; split them into runs.
	var runs [][]string
	for i := 0; i < len(events); i += 2 {
		start, end := events[i], events[i+1]
		if !start.start || end.start || start.call != end.call {
			t.Fatalf("operations interleave at event %d: %+v %+v", i, start, end)
		}
		if start.call == "clean-node *" {
			runs = append(runs, nil)
		}
		if len(runs) == 0 {
			t.Fatalf("a run did not start with clean-node: %q", start.call)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], start.call)
	}
	if len(runs) < 2 {
		t.Fatalf("%d runs in 3.5 s, want at least 2", len(runs))
	}
	for i, run := range runs {
		if !slices.Equal(run, fullRun) {
			t.Errorf("run %d: %q, want %q", i, run, fullRun)
		}
	}
	if n := strings.Count(log.String(), "cron run end"); n != len(runs) {
		t.Errorf("%d summary lines for %d runs", n, len(runs))
	}
	if !strings.Contains(log.String(), "skip") {
		t.Errorf("no tick was skipped although runs take longer than a second:\n%s", log.String())
	}
}
