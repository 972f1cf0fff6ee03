// Package schedule is swarm-utils' cron door: on SWARM_UTILS_CRON_EXPR it cleans every node,
// then runs clean-service and then backup-service on every service labelled for them, as the
// SWARM_UTILS_IS_CRON_* switches say; one global run never overlaps another. Beside it, targets
// run on their own schedules (targets.go): a service's swarm-utils.clean.cron or backup.cron, a
// node's clean.cron, and the update checks of services labelled swarm-utils.update.auto=true
// (on their update.auto.cron, else SWARM_UTILS_UPDATE_AUTO_CRON); the global run leaves those
// targets to them. The labels are read again every RefreshEvery, so a label change needs no
// restart.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cron "github.com/netresearch/go-cron"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Operations are the pipelines a run calls; *jobs.Deps (or api.Instrumented) in production.
type Operations interface {
	CleanAllNodes(ctx context.Context) operation.Report
	CleanNode(ctx context.Context, name string) operation.Result
	CleanService(ctx context.Context, name string) operation.Result
	BackupService(ctx context.Context, name string) operation.Result
	CheckUpdate(ctx context.Context, name string) operation.Result
}

// Targets reads the services and nodes with their labels; *jobs.Deps in production (helpers
// and other instances' targets left out).
type Targets interface {
	Services(ctx context.Context) ([]parse.Service, error)
	Nodes(ctx context.Context) ([]parse.Node, error)
}

// ErrBusy is Run's answer while another run is in progress.
var ErrBusy = errors.New("a cron run is already in progress")

// ErrStopped is Run's answer after Stop.
var ErrStopped = errors.New("the cron is stopped")

// parser reads every expression: six fields with seconds first (SPEC §2), five (seconds = 0),
// or a descriptor such as @daily; CRON_TZ=Zone in front sets its zone.
var parser = cron.MustNewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// RefreshEvery is how often the labels behind the own schedules are read again.
const RefreshEvery = time.Minute

// MaxTargetRuns bounds the own-schedule runs at once (each is one operation on one target).
const MaxTargetRuns = 4

// Scheduler runs the maintenance on a cron expression, and on demand.
type Scheduler struct {
	cfg     config.Cron
	ops     Operations
	targets Targets
	log     *slog.Logger
	sched   cron.Schedule

	// RefreshEvery overrides the package's RefreshEvery (tests).
	RefreshEvery time.Duration

	guard   sync.Mutex // held for the whole of a global run: those never overlap
	mu      sync.Mutex // orders running.Add before Stop's Wait
	stopped bool
	stop    chan struct{}
	running sync.WaitGroup
	cron    *cron.Cron
	slots   chan struct{} // MaxTargetRuns

	emu       sync.Mutex
	scheduled map[string]scheduled // own schedules in the cron, by Entry.key
	invalid   map[string]string    // the last error logged per key, so that it is logged once
}

type scheduled struct {
	id    cron.EntryID
	expr  string
	sched cron.Schedule
}

// New checks the expression and builds a Scheduler.
func New(cfg config.Cron, ops Operations, targets Targets, log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.Default()
	}
	sched, err := ParseExpr(cfg.Expr)
	if err != nil {
		return nil, fmt.Errorf("SWARM_UTILS_CRON_EXPR: %w", err)
	}
	if cfg.UpdateAutoExpr != "" {
		if _, err := ParseExpr(cfg.UpdateAutoExpr); err != nil {
			return nil, fmt.Errorf("%s: %w", GlobalUpdateAutoCron, err)
		}
	}
	return &Scheduler{cfg: cfg, ops: ops, targets: targets, log: log, sched: sched, stop: make(chan struct{}),
		slots: make(chan struct{}, MaxTargetRuns), scheduled: map[string]scheduled{}, invalid: map[string]string{}}, nil
}

// globalOn tells whether the global cron has anything to do.
func (s *Scheduler) globalOn() bool {
	return s.cfg.CleanNode || s.cfg.CleanService || s.cfg.BackupService
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

// Start runs the schedules in the background: the global one (when a SWARM_UTILS_IS_CRON_*
// switch is on) and the targets' own, read from their labels now and every RefreshEvery.
// Scheduled runs use ctx (the server's operations lifetime), so cancelling it aborts a run
// safely. A tick that comes while the same job is still going is skipped. Stop ends the schedules.
func (s *Scheduler) Start(ctx context.Context) {
	logger := cron.NewSlogLogger(s.log.With("component", "cron"))
	s.cron = cron.New(
		cron.WithParser(parser),
		cron.WithLogger(logger),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)),
	)
	if s.globalOn() {
		s.cron.Schedule(s.sched, cron.FuncJob(func() {
			if _, err := s.Run(ctx); errors.Is(err, ErrBusy) {
				s.log.Warn("cron run skipped: the previous run is still going")
			}
		}))
	}
	s.cron.Start()
	attrs := []any{"timeZone", time.Local.String(), "updateAutoExpr", s.cfg.UpdateAutoExpr}
	if s.globalOn() {
		attrs = append(attrs, "expr", s.cfg.Expr, "next", s.Next(time.Now(), 1),
			"cleanNode", s.cfg.CleanNode, "cleanService", s.cfg.CleanService, "backupService", s.cfg.BackupService)
	} else {
		attrs = append(attrs, "global", "off: every SWARM_UTILS_IS_CRON_* switch is false; the targets' own schedules run")
	}
	s.log.Info("cron started", attrs...)
	if s.targets != nil {
		go s.keepRefreshing(ctx)
	}
}

// Stop ends the schedules: no run starts after it, scheduled or by Run. A run in progress goes
// on (see Wait).
func (s *Scheduler) Stop() {
	s.mu.Lock()
	if !s.stopped {
		close(s.stop)
	}
	s.stopped = true
	s.mu.Unlock()
	if s.cron != nil {
		s.cron.Stop()
	}
}

// Wait blocks until no run (global or own schedule) is in progress, or ctx is done.
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
	// OwnSchedule are the targets left to their own schedule (a valid clean.cron/backup.cron).
	OwnSchedule []string `json:"ownSchedule,omitempty"`
	failed      []string // "target: error", for the log line
	started     time.Time
}

// Run does one global run now: clean-node on every node, then clean-service on every service
// with swarm-utils.clean.enable=true, then backup-service on every service with
// swarm-utils.backup.enable=true, one service at a time. A target with its own schedule for
// the operation is left to it; one whose own expression is invalid fails here with the
// label's error (it runs nowhere until the label is fixed). ErrBusy when a run is in progress.
// When ctx ends, the running operation aborts safely and no other starts.
func (s *Scheduler) Run(ctx context.Context) (Summary, error) {
	if err := s.enter(); err != nil {
		return Summary{}, err
	}
	defer s.running.Done()
	if !s.guard.TryLock() {
		return Summary{}, ErrBusy
	}
	defer s.guard.Unlock()

	sum := Summary{StartedAt: time.Now().UTC(), Phases: []Phase{}}
	s.log.Info("cron run start")

	var (
		svcs            []parse.Service
		nodes           []parse.Node
		svcErr, nodeErr error
	)
	if (s.cfg.CleanService || s.cfg.BackupService) && ctx.Err() == nil {
		svcs, svcErr = s.targets.Services(ctx)
	}
	if s.cfg.CleanNode && ctx.Err() == nil {
		nodes, nodeErr = s.targets.Nodes(ctx)
	}
	mine := ownOf(Entries(svcs, nodes, s.cfg, time.Now()))

	node := newPhase(OpCleanNode, s.cfg.CleanNode)
	if node.Enabled && ctx.Err() == nil {
		s.cleanNodes(ctx, &node, nodes, nodeErr, mine)
	}
	sum.add(node)

	for _, p := range []struct {
		op      string
		enabled bool
		label   string
		run     func(context.Context, string) operation.Result
	}{
		{OpCleanService, s.cfg.CleanService, parse.LabelCleanEnable, s.ops.CleanService},
		{OpBackupService, s.cfg.BackupService, parse.LabelBackupEnable, s.ops.BackupService},
	} {
		ph := newPhase(p.op, p.enabled)
		if ph.Enabled && ctx.Err() == nil {
			if svcErr != nil {
				ph.Error = fmt.Sprintf("list services with %s=true: %v", p.label, svcErr)
				ph.Failures++
				ph.failed = append(ph.failed, ph.Error)
			}
			for _, svc := range svcs {
				if on, err := parse.BoolLabel(svc.Labels, p.label, false); !on || err != nil {
					continue
				}
				if ctx.Err() != nil {
					break
				}
				if e, ok := mine[p.op+" "+svc.Name]; ok {
					ph.ownSchedule(p.op, e)
					continue
				}
				ph.add(p.run(ctx, svc.Name))
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

// cleanNodes is the clean-node phase: every node at once (CleanAllNodes) unless some node has
// its own clean.cron; then every other node of the listing, in parallel as CleanAllNodes does.
func (s *Scheduler) cleanNodes(ctx context.Context, ph *Phase, nodes []parse.Node, listErr error, mine own) {
	var rest []parse.Node
	for _, n := range nodes {
		if e, ok := mine[OpCleanNode+" "+n.ID]; ok {
			ph.ownSchedule(OpCleanNode, e)
			continue
		}
		rest = append(rest, n)
	}
	if listErr != nil || len(rest) == len(nodes) {
		for _, r := range s.ops.CleanAllNodes(ctx).Results {
			ph.add(r)
		}
		return
	}
	results := make([]operation.Result, len(rest))
	var wg sync.WaitGroup
	for i, n := range rest {
		wg.Go(func() { results[i] = s.ops.CleanNode(ctx, n.ID) })
	}
	wg.Wait()
	for _, r := range results {
		ph.add(r)
	}
}

// ownSchedule leaves a target to its own schedule, or fails it when its expression is invalid.
func (p *Phase) ownSchedule(op string, e Entry) {
	if e.Error == "" {
		p.OwnSchedule = append(p.OwnSchedule, e.Target)
		return
	}
	p.add(operation.Failed(op, e.Target, operation.Errorf(operation.KindInvalid,
		"%s: it runs neither on its own schedule nor on SWARM_UTILS_CRON_EXPR until the label is fixed", e.Error)))
}

// enter registers a run with Wait, unless the scheduler is stopped.
func (s *Scheduler) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	s.running.Add(1)
	return nil
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
