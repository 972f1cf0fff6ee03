package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/notify"
)

// How long Open waits for another process holding the history file: serve waits for an old
// task of itself to let go (a restart on the same volume); a one-shot command next to a
// running serve gives up soon and runs unrecorded.
const (
	serveHistoryLockWait   = 10 * time.Second
	oneShotHistoryLockWait = time.Second
)

// observers are the run history and the notifications of one process.
type observers struct {
	store    *history.Store
	notifier *notify.Notifier
	// down is why serve could not open the run history ("" when it could or it is off).
	down string
}

// attachObservers adds the run history and the notifications to d's observers. serve creates
// the data directory and, when the store cannot be opened, runs without it and says so (error
// log, /readyz's history field, GET /api/runs 503). A one-shot command records only into a
// directory that exists and that it may write, and only when no serve holds the store; else
// it runs unrecorded. A notification URL shoutrrr refuses is an error.
func attachObservers(d *jobs.Deps, serve bool, log *slog.Logger) (*observers, error) {
	o := &observers{}
	mask := d.Secrets.Mask
	if d.Config.HistoryDays > 0 {
		store, err := openHistory(d.Config.DataDir, d.Config.HistoryDays, serve, log)
		switch {
		case err != nil && serve:
			o.down = mask(err.Error())
			log.Error("RUN HISTORY UNAVAILABLE: serve runs without it (no GET /api/runs, no jobs after a restart); "+
				"mount a writable volume at SWARM_UTILS_DATA_DIR or set SWARM_UTILS_HISTORY_DAYS=0", "dataDir", d.Config.DataDir, "err", o.down)
		case err != nil:
			log.Warn("this run is not recorded in the run history", "dataDir", d.Config.DataDir, "err", mask(err.Error()))
		case store != nil:
			o.store = store
			d.Observers = append(d.Observers, &history.Recorder{Store: store, Mask: mask, Log: log})
		}
	}
	if len(d.Config.Notify.URLs) > 0 {
		n, err := notify.New(notify.Options{URLs: d.Config.Notify.URLs, On: d.Config.Notify.On, Mask: mask, Log: log})
		if err != nil {
			return o, err
		}
		o.notifier = n
		d.Observers = append(d.Observers, n)
	}
	return o, nil
}

// openHistory opens the store; nil, nil for a one-shot command whose data directory does
// not exist (a laptop, a CI job: nothing to record into).
func openHistory(dir string, days int, serve bool, log *slog.Logger) (*history.Store, error) {
	wait := oneShotHistoryLockWait
	if serve {
		wait = serveHistoryLockWait
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create the data directory: %w", err)
		}
	} else if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		log.Debug("no run history: the data directory does not exist", "dataDir", dir)
		return nil, nil
	}
	store, err := history.Open(dir, days, history.Options{LockWait: wait, Log: log})
	if history.IsHeld(err) {
		return nil, fmt.Errorf("%w: another swarm-utils holds it (a serve records the runs of its API and cron, not of other processes)", err)
	}
	if err != nil {
		return nil, err
	}
	return store, nil
}

// close waits for the notifications being sent (each bounded by notify.DefaultTimeout), then
// closes the store. nil-safe.
func (o *observers) close(log *slog.Logger) {
	if o == nil {
		return
	}
	if o.notifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), notify.DefaultTimeout+2*time.Second)
		if err := o.notifier.Wait(ctx); err != nil {
			log.Warn("notifications still being sent at exit are dropped", "err", err)
		}
		cancel()
	}
	if o.store != nil {
		if err := o.store.Close(); err != nil {
			log.Warn("close the run history", "err", err)
		}
	}
}
