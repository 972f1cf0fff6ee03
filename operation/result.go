package operation

import (
	"fmt"
	"strconv"
	"time"
)

// Result is what one operation on one target did: every step, and in every helper step every
// task. It is the CLI's JSON output and the API's response body, on success and failure alike.
type Result struct {
	Operation string    `json:"operation"`
	Target    string    `json:"target"`
	OK        bool      `json:"ok"`
	Skipped   string    `json:"skipped,omitempty"` // why the target was not touched (e.g. node drained)
	Error     string    `json:"error,omitempty"`
	ErrorKind Kind      `json:"errorKind,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	Duration  Duration  `json:"durationMs"`
	Steps     []Step    `json:"steps"`

	err error
}

// Err is the operation's error, nil when OK.
func (r *Result) Err() error { return r.err }

// Fail records err as the operation's error; the first error wins.
func (r *Result) Fail(err error) {
	if err == nil || r.err != nil {
		return
	}
	r.err = err
	r.OK = false
	r.Error = err.Error()
	r.ErrorKind = KindOf(err)
}

// Step is one stage of an operation, on one node when it runs in a helper.
type Step struct {
	Name   string `json:"name"`
	Node   string `json:"node,omitempty"`
	Helper string `json:"helper,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	// ErrorKind is set when the step knows why it failed beyond "docker failed" (busy: another
	// run's helper holds its name; timeout); the operation's Kind is its first failed step's.
	ErrorKind Kind              `json:"errorKind,omitempty"`
	Duration  Duration          `json:"durationMs"`
	Tasks     []TaskResult      `json:"tasks,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// TaskResult is one task of a helper service, or one target task a helper acted on.
type TaskResult struct {
	TaskID   string `json:"taskId,omitempty"`
	Target   string `json:"target,omitempty"` // the target task or step this entry is about
	Node     string `json:"node,omitempty"`
	State    string `json:"state"`
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
	Logs     string `json:"logs,omitempty"`
}

// Duration marshals as whole milliseconds, the unit of every setting.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, time.Duration(d).Milliseconds(), 10), nil
}

// UnmarshalJSON reads whole milliseconds back (a helper's steps travel as JSON).
func (d *Duration) UnmarshalJSON(b []byte) error {
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("a duration in milliseconds: %w", err)
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}

// Report groups the results of an operation over several targets (clean-node --all, cron).
type Report struct {
	Operation string   `json:"operation"`
	OK        bool     `json:"ok"`
	Duration  Duration `json:"durationMs"`
	Results   []Result `json:"results"`
}

// Failed is the Result of an operation that could not start.
func Failed(op, target string, err error) Result {
	r := Result{Operation: op, Target: target, OK: true, StartedAt: time.Now().UTC(), Steps: []Step{}}
	r.Fail(err)
	return r
}

// Skipped is the Result of an operation that had nothing to do on its target.
func Skipped(op, target, why string) Result {
	return Result{Operation: op, Target: target, OK: true, Skipped: why, StartedAt: time.Now().UTC(), Steps: []Step{}}
}

// Since is the time since started, as a Duration.
func Since(started time.Time) Duration { return Duration(time.Since(started)) }
