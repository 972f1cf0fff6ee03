// Package history keeps every run (API, cron and CLI alike) in an embedded store (bbolt) in
// SWARM_UTILS_DATA_DIR for SWARM_UTILS_HISTORY_DAYS, so that "did my backup run?" has an answer
// after a restart: GET /api/runs, the status page, and GET /api/jobs/{id} of a background job
// that ended before the restart all read it.
package history

import (
	"maps"
	"slices"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
)

// Record is one ended run as the store keeps it: the Result without the tasks' logs, each text
// bounded, so that a record stays a few KiB whatever the run printed.
type Record struct {
	ID        string    `json:"id"` // the run id (for API runs, the job id)
	Operation string    `json:"operation"`
	Target    string    `json:"target"`
	Who       string    `json:"who"` // admin, label-token, oidc:<subject>, cron or cli; never a token
	StartedAt time.Time `json:"startedAt"`
	// DurationMs is the run's duration, lock wait included.
	DurationMs int64         `json:"durationMs"`
	Outcome    string        `json:"outcome"` // ok, skipped, or the error kind (docker, timeout, …)
	OK         bool          `json:"ok"`
	Skipped    string        `json:"skipped,omitempty"`
	Error      string        `json:"error,omitempty"` // masked before it is stored
	ErrorKind  string        `json:"errorKind,omitempty"`
	Steps      []StepSummary `json:"steps"`
	// MoreSteps counts the steps past MaxSteps that were not kept.
	MoreSteps int `json:"moreSteps,omitempty"`
}

// StepSummary is one step of a run, without its tasks.
type StepSummary struct {
	Name       string            `json:"name"`
	Node       string            `json:"node,omitempty"`
	OK         bool              `json:"ok"`
	Error      string            `json:"error,omitempty"`
	ErrorKind  string            `json:"errorKind,omitempty"`
	DurationMs int64             `json:"durationMs"`
	Details    map[string]string `json:"details,omitempty"`
}

// Bounds of a record: a run over many nodes, or a step that printed pages, stays small.
const (
	MaxSteps      = 64
	MaxErrorBytes = 1024
	MaxDetails    = 16
	MaxTextBytes  = 256 // names, nodes, detail values, who
)

// Outcome is how a run ended, in the words of the metrics' outcome label: ok, skipped, the
// error kind, or failed when a failure has no kind.
func Outcome(r operation.Result) string {
	switch {
	case !r.OK && r.ErrorKind != "":
		return string(r.ErrorKind)
	case !r.OK:
		return "failed"
	case r.Skipped != "":
		return "skipped"
	}
	return "ok"
}

// FromResult is the record of r. mask hides secrets in error texts (nil: none known).
func FromResult(id, who string, r operation.Result, mask func(string) string) Record {
	if mask == nil {
		mask = func(s string) string { return s }
	}
	rec := Record{ID: id, Operation: cut(r.Operation, MaxTextBytes), Target: cut(r.Target, MaxTextBytes), Who: cut(who, MaxTextBytes),
		StartedAt: r.StartedAt.UTC(), DurationMs: time.Duration(r.Duration).Milliseconds(), Outcome: Outcome(r), OK: r.OK,
		Skipped: cut(r.Skipped, MaxErrorBytes), Error: cut(mask(r.Error), MaxErrorBytes), ErrorKind: string(r.ErrorKind), Steps: []StepSummary{}}
	for i, s := range r.Steps {
		if i == MaxSteps {
			rec.MoreSteps = len(r.Steps) - MaxSteps
			break
		}
		st := StepSummary{Name: cut(s.Name, MaxTextBytes), Node: cut(s.Node, MaxTextBytes), OK: s.OK, Error: cut(mask(s.Error), MaxErrorBytes),
			ErrorKind: string(s.ErrorKind), DurationMs: time.Duration(s.Duration).Milliseconds()}
		for _, k := range slices.Sorted(maps.Keys(s.Details)) {
			if len(st.Details) == MaxDetails {
				break
			}
			if st.Details == nil {
				st.Details = map[string]string{}
			}
			st.Details[cut(k, MaxTextBytes)] = cut(mask(s.Details[k]), MaxTextBytes)
		}
		rec.Steps = append(rec.Steps, st)
	}
	return rec
}

// Result is the record as an operation.Result (without tasks), for GET /api/jobs/{id} of a
// run that ended before a restart.
func (rec Record) Result() operation.Result {
	r := operation.Result{Operation: rec.Operation, Target: rec.Target, OK: rec.OK, Skipped: rec.Skipped, Error: rec.Error,
		ErrorKind: operation.Kind(rec.ErrorKind), StartedAt: rec.StartedAt, Duration: operation.Duration(time.Duration(rec.DurationMs) * time.Millisecond),
		Steps: []operation.Step{}}
	for _, s := range rec.Steps {
		r.Steps = append(r.Steps, operation.Step{Name: s.Name, Node: s.Node, OK: s.OK, Error: s.Error, ErrorKind: operation.Kind(s.ErrorKind),
			Duration: operation.Duration(time.Duration(s.DurationMs) * time.Millisecond), Details: s.Details})
	}
	return r
}

// EndedAt is when the run ended.
func (rec Record) EndedAt() time.Time {
	return rec.StartedAt.Add(time.Duration(rec.DurationMs) * time.Millisecond)
}

// cut bounds a record's text field (operation.Head: on a rune boundary, marked "…").
func cut(s string, n int) string { return operation.Head(s, n) }
