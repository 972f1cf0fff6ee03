package statuspage

import (
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/schedule"
)

// Cron is Schedules of the cron: a target's own schedule (its clean.cron or backup.cron label,
// package schedule) where it has one, else the global SWARM_UTILS_CRON_EXPR's times under the
// SWARM_UTILS_IS_CRON_* switches. The page asks only about jobs enabled on the target, which
// is what the cron runs (the services whose enable label is true; every node).
type Cron struct {
	Switches config.Cron
	// Times returns the next n run times of the global cron after from:
	// (*schedule.Scheduler).Next.
	Times func(from time.Time, n int) []time.Time
}

// Next implements Schedules. An own schedule whose expression does not parse is the error the
// page shows.
func (c Cron) Next(op string, t Target, after time.Time) (time.Time, bool, error) {
	var own []schedule.Entry
	switch t.Kind {
	case KindService:
		own = schedule.ForService(parse.Service{ID: t.ID, Name: t.Name, Labels: t.Labels}, c.Switches, after)
	case KindNode:
		own = schedule.ForNode(parse.Node{ID: t.ID, Hostname: t.Name, Labels: t.Labels}, after)
	}
	for _, e := range own {
		if e.Operation != op {
			continue
		}
		if e.Error != "" {
			return time.Time{}, false, errorString(e.Error)
		}
		if e.Next == nil {
			return time.Time{}, false, nil
		}
		return *e.Next, true, nil
	}
	on := false
	switch op {
	case OpCleanNode:
		on = c.Switches.CleanNode
	case OpCleanService:
		on = c.Switches.CleanService
	case OpBackupService:
		on = c.Switches.BackupService
	}
	if !on || c.Times == nil {
		return time.Time{}, false, nil
	}
	next := c.Times(after, 1)
	if len(next) == 0 {
		return time.Time{}, false, nil
	}
	return next[0], true, nil
}

// errorString is an own schedule's error as the page shows it.
type errorString string

func (e errorString) Error() string { return string(e) }
