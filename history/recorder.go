package history

import (
	"log/slog"

	"github.com/swarm-utils/swarm-utils/operation"
)

// Recorder stores every ended run (jobs.Observer). A run that cannot be stored is logged; it
// never fails the run.
type Recorder struct {
	Store *Store
	Mask  func(string) string // the process's masker; nil: none
	Log   *slog.Logger
}

// RunEnded stores the run.
func (r *Recorder) RunEnded(id, who string, res operation.Result) {
	if err := r.Store.Add(FromResult(id, who, res, r.Mask)); err != nil {
		log := r.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("the run could not be stored in the run history", "operation", res.Operation, "target", res.Target, "err", err)
	}
}
