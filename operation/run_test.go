package operation

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A step that failed because the operation was stopped (its budget, a shutdown) makes the result
// say so, with the stop's cause and Kind, not "step failed" as a docker failure.
func TestRunAnswersAnAbortWithItsCause(t *testing.T) {
	shutdown := errors.New("server shutting down")
	for _, tc := range []struct {
		name   string
		budget time.Duration
		stop   func(cancel context.CancelCauseFunc)
		kind   Kind
		want   string
	}{
		{"shutdown", time.Hour, func(cancel context.CancelCauseFunc) { cancel(shutdown) }, KindCanceled, "server shutting down"},
		{"budget", time.Millisecond, func(context.CancelCauseFunc) {}, KindTimeout, "past its budget of 1ms"},
		{"not stopped", time.Hour, nil, KindDocker, "step exec on n1 failed: exit code 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			o := &Runner{Locks: NewLocks(), LockWait: time.Second, Log: slog.New(slog.DiscardHandler)}
			r := o.Run(ctx, "clean-service", "web", "service:web", func(context.Context) (Plan, error) {
				return Plan{Budget: tc.budget, Do: func(ctx context.Context, r *Result) error {
					if tc.stop != nil {
						tc.stop(cancel)
						<-ctx.Done()
					}
					r.Steps = append(r.Steps, Step{Name: "exec", Node: "n1", Error: "exit code 1"})
					return nil
				}}, nil
			})
			if r.OK || r.ErrorKind != tc.kind || !strings.Contains(r.Error, tc.want) {
				t.Errorf("result %s %q, want %s %q", r.ErrorKind, r.Error, tc.kind, tc.want)
			}
		})
	}
}
