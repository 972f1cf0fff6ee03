// Package schedule is swarm-utils' cron door: on SWARM_UTILS_CRON_EXPR (with a seconds field)
// it cleans every node, then runs clean-service and then backup-service on every service
// labelled for them, as the SWARM_UTILS_IS_CRON_* switches say. One run never overlaps another.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"log/slog"
	"sync"
	"time"

	cron "github.com/netresearch/go-cron"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Operations are the pipelines a run calls; *jobs.Deps (or api.Instrumented) in production.
type Operations interface {
	CleanAllNodes(ctx context.Context) operation.Report
	CleanService(ctx context.Context, name string) operation.Result
	BackupService(ctx context.Context, name string) operation.Result
}

// Targets finds the labelled services; *jobs.Deps in production.
type Targets interface {
	// EnabledServices returns the names of the services whose label is true.
	EnabledServices(ctx context.Context, label string) ([]string, error)
}

// ErrBusy is Run's answer while another run is in progress.
var ErrBusy = errors.New("a cron run is already in progress")

// ErrStopped is Run's answer after Stop.
var ErrStopped = errors.New("the cron is stopped")

// parser reads SWARM_UTILS_CRON_EXPR: six fields, seconds first (SPEC §2), or a descriptor
// such as @daily.
var parser = cron.MustNewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Scheduler runs the maintenance on a cron expression, and on demand.
type Scheduler struct {
	cfg     config.Cron
	ops     Operations
	targets Targets
	log     *slog.Logger
	sched   cron.Schedule

	guard   sync.Mutex // held for the whole of a run: runs never overlap
	mu      sync.Mutex // orders running.Add before Stop's Wait
	stopped bool
	running sync.WaitGroup
	cron    *cron.Cron
}

// New checks the expression and builds a Scheduler.
func New(cfg config.Cron, ops Operations, targets Targets, log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.Default()
	}
	sched, err := parser.Parse(cfg.Expr)
	if err != nil {
		return nil, fmt.Errorf("SWARM_UTILS_CRON_EXPR %q: %w (six fields, seconds first, e.g. \"0 0 3 * * *\")", cfg.Expr, err)
	}
	return &Scheduler{cfg: cfg, ops: ops, targets: targets, log: log, sched: sched}, nil
}

// Next returns the next n run times after from.
func (s *Scheduler) Next(from time.Time, n int) []time.Time {
	out := make([]time.Time, 0, max(n, 0))
	for t := from; len(out) < n; {
		t = s.sched.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Start runs the schedule in the background; scheduled runs use ctx (the server's operations
// lifetime), so cancelling it aborts a run safely. A tick that comes while a run is still going
// is skipped. Stop ends the schedule.
func (s *Scheduler) Start(ctx context.Context) {
	logger := cron.NewSlogLogger(s.log.With("component", "cron"))
	s.cron = cron.New(
		cron.WithParser(parser),
		cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)),
	)
	s.cron.Schedule(s.sched, cron.FuncJob(func() {
		if _, err := s.Run(ctx); errors.Is(err, ErrBusy) {
			s.log.Warn("cron run skipped: the previous run is still going")
		}
	}))
	s.cron.Start()
	s.log.Info("cron started", "expr", s.cfg.Expr, "next", s.Next(time.Now(), 1),
		"cleanNode", s.cfg.CleanNode, "cleanService", s.cfg.CleanService, "backupService", s.cfg.BackupService)
}

// Stop ends the schedule: no run starts after it, scheduled or by Run. A run in progress goes
// on (see Wait).
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	if s.cron != nil {
		s.cron.Stop()
	}
}

// Wait blocks until no run is in progress, or ctx is done.
func (s *Scheduler) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Summary is what one run did.
type Summary struct {
	StartedAt time.Time          `json:"startedAt"`
	Duration  operation.Duration `json:"durationMs"`
	OK        bool               `json:"ok"`
	Targets   int                `json:"targets"`
	Failures  int                `json:"failures"`
	Skipped   int                `json:"skipped"`
	Canceled  bool               `json:"canceled,omitempty"`
	Phases    []Phase            `json:"phases"`
}

// Phase is one operation over all its targets.
type Phase struct {
	Operation string             `json:"operation"`
	Enabled   bool               `json:"enabled"` // the SWARM_UTILS_IS_CRON_* switch
	Targets   int                `json:"targets"`
	Failures  int                `json:"failures"`
	Skipped   int                `json:"skipped"`
	Error     string             `json:"error,omitempty"` // the targets could not be listed
	Duration  operation.Duration `json:"durationMs"`
	Results   []operation.Result `json:"results"`
	failed    []string           // "target: error", for the log line
	started   time.Time
}

// Run does one run now: clean-node on every node, then clean-service on every service with
// swarm-utils.clean.enable=true, then backup-service on every service with
// swarm-utils.backup.enable=true, one service at a time. ErrBusy when a run is in progress.
// When ctx ends, the running operation aborts safely and no other starts.
func (s *Scheduler) Run(ctx context.Context) (Summary, error) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return Summary{}, ErrStopped
	}
	if !s.guard.TryLock() {
		s.mu.Unlock()
		return Summary{}, ErrBusy
	}
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()
	defer s.guard.Unlock()

	sum := Summary{StartedAt: time.Now().UTC(), Phases: []Phase{}}
	s.log.Info("cron run start")

	node := newPhase("clean-node", s.cfg.CleanNode)
	if node.Enabled && ctx.Err() == nil {
		rep := s.ops.CleanAllNodes(ctx)
		for _, r := range rep.Results {
			node.add(r)
		}
	}
	sum.add(node)

	for _, p := range []struct {
		op      string
		enabled bool
		label   string
		run     func(context.Context, string) operation.Result
	}{
		{"clean-service", s.cfg.CleanService, parse.LabelCleanEnable, s.ops.CleanService},
		{"backup-service", s.cfg.BackupService, parse.LabelBackupEnable, s.ops.BackupService},
	} {
		ph := newPhase(p.op, p.enabled)
		if ph.Enabled && ctx.Err() == nil {
			names, err := s.targets.EnabledServices(ctx, p.label)
			if err != nil {
				ph.Error = fmt.Sprintf("list services with %s=true: %v", p.label, err)
				ph.Failures++
				ph.failed = append(ph.failed, ph.Error)
			}
			for _, name := range names {
				if ctx.Err() != nil {
					break
				}
				ph.add(p.run(ctx, name))
			}
		}
		sum.add(ph)
	}

	sum.Canceled = ctx.Err() != nil
	sum.OK = sum.Failures == 0 && !sum.Canceled
	sum.Duration = operation.Duration(time.Since(sum.StartedAt))
	s.logSummary(sum)
	return sum, nil
}

func newPhase(op string, enabled bool) Phase {
	return Phase{Operation: op, Enabled: enabled, Results: []operation.Result{}, started: time.Now()}
}

func (p *Phase) add(r operation.Result) {
	p.Results = append(p.Results, r)
	p.Targets++
	switch {
	case !r.OK:
		p.Failures++
		p.failed = append(p.failed, r.Target+": "+r.Error)
	case r.Skipped != "":
		p.Skipped++
	}
}

func (s *Summary) add(p Phase) {
	p.Duration = operation.Duration(time.Since(p.started))
	s.Targets += p.Targets
	s.Failures += p.Failures
	s.Skipped += p.Skipped
	s.Phases = append(s.Phases, p)
}

// logSummary is the one line an operator reads for a run: counts, duration, and what failed.
func (s *Scheduler) logSummary(sum Summary) {
	attrs := []any{"ok", sum.OK, "targets", sum.Targets, "failures", sum.Failures, "skipped", sum.Skipped,
		"durationMs", time.Duration(sum.Duration).Milliseconds()}
	for _, p := range sum.Phases {
		if !p.Enabled {
			attrs = append(attrs, p.Operation, "off")
			continue
		}
		attrs = append(attrs, p.Operation, fmt.Sprintf("%d targets, %d failed, %d skipped", p.Targets, p.Failures, p.Skipped))
		if len(p.failed) > 0 {
			attrs = append(attrs, p.Operation+"Failed", p.failed)
		}
	}
	if sum.Canceled {
		attrs = append(attrs, "canceled", true)
	}
	if sum.OK {
		s.log.Info("cron run end", attrs...)
	} else {
		s.log.Warn("cron run end", attrs...)
	}
}
