package schedule

import (
	"context"
	"errors"
	"time"

	cron "github.com/netresearch/go-cron"
	"github.com/swarm-utils/swarm-utils/operation"
)

// keepRefreshing reads the labels now and every RefreshEvery until Stop or ctx ends.
func (s *Scheduler) keepRefreshing(ctx context.Context) {
	every := s.RefreshEvery
	if every <= 0 {
		every = RefreshEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

// Entries reads the labels and returns every own schedule with its next run time or its error
// (the listings and `cron next`).
func (s *Scheduler) Entries(ctx context.Context) ([]Entry, error) {
	svcs, err := s.targets.Services(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := s.targets.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	return Entries(svcs, nodes, s.cfg, time.Now()), nil
}

// Refresh brings the own schedules in the cron in line with the labels: new and changed
// expressions are scheduled, removed ones unscheduled, invalid ones logged once per change. A
// failed read keeps the schedules as they are. Start calls it on its period.
func (s *Scheduler) Refresh(ctx context.Context) {
	entries, err := s.Entries(ctx)
	if err != nil {
		s.log.Warn("cron: cannot read the labels of the own schedules; they stay as they were", "err", err)
		return
	}
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped || s.cron == nil {
		return
	}
	want := map[string]Entry{}
	for _, e := range entries {
		want[e.key()] = e
	}
	s.emu.Lock()
	defer s.emu.Unlock()
	for key, cur := range s.scheduled {
		if w, ok := want[key]; !ok || w.Expr != cur.expr || w.Error != "" {
			s.cron.Remove(cur.id)
			delete(s.scheduled, key)
			s.log.Info("own schedule removed", "job", key, "expr", cur.expr)
		}
	}
	invalid := map[string]string{}
	for key, e := range want {
		if e.Error != "" {
			if s.invalid[key] != e.Error {
				s.log.Error("own schedule invalid: the job does not run for this target until the label is fixed", "operation", e.Operation, "target", e.Target, "err", e.Error)
			}
			invalid[key] = e.Error
			continue
		}
		if _, ok := s.scheduled[key]; ok {
			continue
		}
		id, err := s.cron.ScheduleJob(e.sched, s.ownJob(ctx, e), cron.WithName(key))
		if err != nil {
			s.log.Error("own schedule not added", "job", key, "err", err)
			continue
		}
		s.scheduled[key] = scheduled{id: id, expr: e.Expr, sched: e.sched}
		s.log.Info("own schedule", "operation", e.Operation, "target", e.Target, "label", e.Label, "expr", e.Expr, "next", e.Next)
	}
	s.invalid = invalid
}

// NextOwn returns the first time after `after` at which the target's own schedule of op runs,
// as the cron holds it (the labels as Refresh last read them): own is false when the target
// has no own schedule of op (the global cron's times apply), err is the label's error when its
// expression does not parse, next is zero when it never runs again. target is the service's
// name or the node's ID. It reads no label: the status page asks it for every target.
func (s *Scheduler) NextOwn(op, target string, after time.Time) (next time.Time, own bool, err error) {
	key := Entry{Operation: op, Target: target}.key()
	s.emu.Lock()
	defer s.emu.Unlock()
	if msg, ok := s.invalid[key]; ok {
		return time.Time{}, true, errors.New(msg)
	}
	if sc, ok := s.scheduled[key]; ok {
		return sc.sched.Next(after), true, nil
	}
	return time.Time{}, false, nil
}

// ownJob runs one target's operation on its schedule: at most MaxTargetRuns at once, never
// after Stop, counted by Wait.
func (s *Scheduler) ownJob(ctx context.Context, e Entry) cron.Job {
	return cron.FuncJob(func() {
		if s.enter() != nil {
			return
		}
		defer s.running.Done()
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-s.slots }()
		if ctx.Err() != nil {
			return
		}
		var r operation.Result
		switch e.Operation {
		case OpCleanService:
			r = s.ops.CleanService(ctx, e.Target)
		case OpBackupService:
			r = s.ops.BackupService(ctx, e.Target)
		case OpCleanNode:
			r = s.ops.CleanNode(ctx, e.NodeID)
		case OpUpdateCheck:
			r = s.ops.CheckUpdate(ctx, e.Target)
		}
		attrs := []any{"operation", e.Operation, "target", e.Target, "expr", e.Expr, "ok", r.OK,
			"durationMs", time.Duration(r.Duration).Milliseconds()}
		switch {
		case !r.OK:
			s.log.Warn("own schedule run end", append(attrs, "err", r.Error)...)
		case r.Skipped != "":
			s.log.Info("own schedule run end", append(attrs, "skipped", r.Skipped)...)
		default:
			s.log.Info("own schedule run end", attrs...)
		}
	})
}
