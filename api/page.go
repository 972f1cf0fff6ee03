package api

import (
	"context"
	"fmt"
	"time"

	"github.com/swarm-utils/swarm-utils/api/statuspage"
	"github.com/swarm-utils/swarm-utils/history"
)

// statusPage is the page at GET / over the server's authorisation, targets and catalogue; its
// runs are Options.Runs, else the run history's with the job store's running jobs, else the
// job store's alone.
func (s *Server) statusPage() *statuspage.Page {
	o := statuspage.Options{Auth: s.auth, Targets: s.targets, Runs: s.runs, Schedules: s.schedules, Config: s.cfg, Log: s.log, Now: s.now}
	switch {
	case o.Runs != nil:
	case s.history != nil:
		o.Runs = historyRuns{history: s.history, jobs: jobRuns{s.jobs}}
	default:
		o.Runs = jobRuns{s.jobs}
	}
	if s.backups != nil {
		o.Backups = s.backups
	}
	return statuspage.New(o)
}

// jobRuns is statuspage.Runs over the job store: the runs started through the API since the
// process started (the last DefaultMaxJobs), not the cron's. The run history replaces it.
type jobRuns struct{ store *jobStore }

// LastRuns implements statuspage.Runs: the newest job of each operation on each target, in
// one pass over the store. A node's jobs are keyed by the name the request gave (hostname or
// ID).
func (j jobRuns) LastRuns(_ context.Context, targets []statuspage.Target) ([][]statuspage.Run, error) {
	keySets := make([][]string, len(targets))
	for i, t := range targets {
		keySets[i] = []string{"service:" + t.Name}
		if t.Kind == statuspage.KindNode {
			keySets[i] = []string{"node:" + t.Name}
			if t.ID != "" {
				keySets[i] = append(keySets[i], "node:"+t.ID)
			}
		}
	}
	out := make([][]statuspage.Run, len(targets))
	for i, views := range j.store.newestOf(keySets) {
		for _, v := range views {
			out[i] = append(out[i], jobRun(v, targets[i].Name))
		}
	}
	return out, nil
}

// jobRun is a job of the store as the page's run of target.
func jobRun(v JobView, target string) statuspage.Run {
	r := statuspage.Run{Operation: v.Operation, Target: target, StartedAt: v.CreatedAt, Running: v.Result == nil}
	if v.StartedAt != nil {
		r.StartedAt = *v.StartedAt
	}
	if res := v.Result; res != nil {
		r.OK, r.Skipped, r.Error, r.ErrorKind = res.OK, res.Skipped, res.Error, string(res.ErrorKind)
		r.Duration = time.Duration(res.Duration)
		if !res.StartedAt.IsZero() {
			r.StartedAt = res.StartedAt
		}
	}
	return r
}

// historyRuns is statuspage.Runs over the run history (API, cron and CLI runs, across
// restarts), with the job store's queued and running jobs on top: the history only holds
// ended runs.
type historyRuns struct {
	history RunHistory
	jobs    jobRuns
}

// LastRuns implements statuspage.Runs with one read of the history's last run per operation
// and target (history.Store.Last), whatever the number of targets. A node's runs are found
// under its hostname and its ID.
func (h historyRuns) LastRuns(ctx context.Context, targets []statuspage.Target) ([][]statuspage.Run, error) {
	recs, err := h.history.Last()
	if err != nil {
		return nil, fmt.Errorf("read the run history: %w", err)
	}
	byTarget := map[string][]history.Record{}
	for _, rec := range recs {
		byTarget[rec.Target] = append(byTarget[rec.Target], rec)
	}
	live, err := h.jobs.LastRuns(ctx, targets)
	if err != nil {
		return nil, err
	}
	out := make([][]statuspage.Run, len(targets))
	for i, t := range targets {
		names := []string{t.Name}
		if t.Kind == statuspage.KindNode && t.ID != "" && t.ID != t.Name {
			names = append(names, t.ID)
		}
		newest := map[string]statuspage.Run{}
		for _, name := range names {
			for _, rec := range byTarget[name] {
				if old, ok := newest[rec.Operation]; ok && !old.StartedAt.Before(rec.StartedAt) {
					continue
				}
				newest[rec.Operation] = statuspage.Run{Operation: rec.Operation, Target: t.Name, StartedAt: rec.StartedAt,
					Duration: time.Duration(rec.DurationMs) * time.Millisecond, OK: rec.OK, Skipped: rec.Skipped,
					Error: rec.Error, ErrorKind: rec.ErrorKind}
			}
		}
		for _, r := range live[i] {
			if old, ok := newest[r.Operation]; !ok || r.Running || r.StartedAt.After(old.StartedAt) {
				newest[r.Operation] = r
			}
		}
		for _, r := range newest {
			out[i] = append(out[i], r)
		}
	}
	return out, nil
}
