package api

import (
	"context"
	"time"

	"github.com/swarm-utils/swarm-utils/api/statuspage"
)

// statusPage is the page at GET / over the server's authorisation, targets and catalogue; its
// runs are Options.Runs, else the job store's.
func (s *Server) statusPage() *statuspage.Page {
	o := statuspage.Options{Auth: s.auth, Targets: s.targets, Runs: s.runs, Schedules: s.schedules, Config: s.cfg, Log: s.log, Now: s.now}
	if o.Runs == nil {
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

// LastRuns implements statuspage.Runs: the newest job of each operation on t. A node's jobs
// are keyed by the name the request gave (hostname or ID).
func (j jobRuns) LastRuns(_ context.Context, t statuspage.Target) ([]statuspage.Run, error) {
	keys := map[string]bool{"service:" + t.Name: true}
	if t.Kind == statuspage.KindNode {
		keys = map[string]bool{"node:" + t.Name: true, "node:" + t.ID: t.ID != ""}
	}
	j.store.mu.Lock()
	var mine []*job
	for _, jb := range j.store.order {
		if keys[jb.key] {
			mine = append(mine, jb)
		}
	}
	j.store.mu.Unlock()

	seen := map[string]bool{}
	var out []statuspage.Run
	for i := len(mine) - 1; i >= 0; i-- { // newest first
		v := mine[i].view()
		if seen[v.Operation] {
			continue
		}
		seen[v.Operation] = true
		r := statuspage.Run{Operation: v.Operation, Target: t.Name, StartedAt: v.CreatedAt, Running: v.Result == nil}
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
		out = append(out, r)
	}
	return out, nil
}
