package statuspage

import (
	"time"

	"github.com/swarm-utils/swarm-utils/config"
)

// Cron is Schedules of the cron: a target's own schedule (its clean.cron or backup.cron label,
// as the scheduler holds it) where it has one, else the global SWARM_UTILS_CRON_EXPR's times
// under the SWARM_UTILS_IS_CRON_* switches. The page asks only about jobs enabled on the
// target, which is what the cron runs (the services whose enable label is true; every node).
type Cron struct {
	Switches config.Cron
	// Times returns the next n run times of the global cron after from:
	// (*schedule.Scheduler).Next.
	Times func(from time.Time, n int) []time.Time
	// Own tells the next run of a target's own schedule of op (target: the service's name, the
	// node's ID), whether it has one, and the label's error when it is invalid:
	// (*schedule.Scheduler).NextOwn. nil: no target has its own schedule.
	Own func(op, target string, after time.Time) (next time.Time, own bool, err error)
}

// Next implements Schedules. An own schedule whose expression does not parse is the error the
// page shows.
func (c Cron) Next(op string, t Target, after time.Time) (time.Time, bool, error) {
	if c.Own != nil {
		target := t.Name
		if t.Kind == KindNode && t.ID != "" {
			target = t.ID // the cron cleans a node by its ID
		}
		if next, own, err := c.Own(op, target, after); own {
			return next, err == nil && !next.IsZero(), err
		}
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
