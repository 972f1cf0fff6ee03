package statuspage

import (
	"time"

	"github.com/swarm-utils/swarm-utils/config"
)

// Cron is Schedules of the one global cron: SWARM_UTILS_CRON_EXPR's times and the
// SWARM_UTILS_IS_CRON_* switches. The page asks only about jobs enabled on the target, which
// is what the cron runs (the services whose enable label is true; every node).
type Cron struct {
	Switches config.Cron
	// Times returns the next n run times after from: (*schedule.Scheduler).Next.
	Times func(from time.Time, n int) []time.Time
}

// Next implements Schedules.
func (c Cron) Next(op string, _ Target, after time.Time) (time.Time, bool, error) {
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
