// Package operation is what every job shares around its steps: the per-target lock, the claim
// of the target against helpers of earlier runs, the budget, and the Result with its error Kind.
package operation

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarm-utils/swarm-utils/bashexec"
)

// Kind classifies why an operation could not be done, so that every door (CLI exit code,
// HTTP status, cron summary) can tell a caller's mistake from a cluster failure.
type Kind string

const (
	KindNotFound   Kind = "not_found"  // unknown target, or not enabled for the action
	KindBusy       Kind = "busy"       // another operation holds the target
	KindInvalid    Kind = "invalid"    // bad request values (image name, node name, ...)
	KindImpossible Kind = "impossible" // the target cannot do it (stop on a global service, ...)
	KindConfig     Kind = "config"     // missing settings (S3, registry login, ...)
	KindTimeout    Kind = "timeout"    // past the operation's budget
	KindDocker     Kind = "docker"     // docker or a step failed
	KindForbidden  Kind = "forbidden"  // the caller may not do it
	KindCanceled   Kind = "canceled"   // shut down before it ended
)

// Error is an operation error with its Kind.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf is an *Error of kind; %w wraps as fmt.Errorf does.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the Kind of err: an *Error's own, timeouts and cancels by their cause,
// anything else (a docker command that failed) KindDocker.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	default:
		return KindDocker
	}
}

// secretMaskedError keeps an error's Kind and chain but shows its text with secrets masked.
type secretMaskedError struct {
	msg string
	err error
}

func (e *secretMaskedError) Error() string { return e.msg }
func (e *secretMaskedError) Unwrap() error { return e.err }

// MaskErr returns err with every known secret masked in its text, its Kind and chain kept.
func MaskErr(s *bashexec.Secrets, err error) error {
	if err == nil || s == nil {
		return err
	}
	if msg := s.Mask(err.Error()); msg != err.Error() {
		return &secretMaskedError{msg: msg, err: err}
	}
	return err
}
