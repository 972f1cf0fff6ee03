// Package labels reads typed settings from service and node labels, for the jobs that own
// them: a Reader remembers the first problem, so a job's settings function stays a flat list
// of fields.
package labels

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Reader reads labels; Err is the first problem found.
type Reader struct {
	Labels map[string]string
	Err    error
}

// Fail records a problem with label, unless one is recorded already.
func (r *Reader) Fail(label, format string, args ...any) {
	if r.Err == nil {
		r.Err = fmt.Errorf("label %s: %s", label, fmt.Sprintf(format, args...))
	}
}

// Str returns the label's value with surrounding spaces removed; "" when absent.
func (r *Reader) Str(label string) string { return strings.TrimSpace(r.Labels[label]) }

// StrOr returns the label's trimmed value, or def when the label is absent or blank.
func (r *Reader) StrOr(label, def string) string {
	if v := r.Str(label); v != "" {
		return v
	}
	return def
}

// Bool reads true/false (any case); an absent label gives def; anything else is an error.
func (r *Reader) Bool(label string, def bool) bool {
	v, err := parse.BoolLabel(r.Labels, label, def)
	if err != nil && r.Err == nil {
		r.Err = err
	}
	return v
}

// Millis reads a positive duration as the variables take it (config.ParseDuration: plain
// milliseconds such as "600_000", or "30s", "10m"); absent or blank gives def.
func (r *Reader) Millis(label string, def time.Duration) time.Duration {
	v := r.Str(label)
	if v == "" {
		return def
	}
	d, err := config.ParseDuration(v)
	if err == nil && d == 0 {
		err = errors.New("must be more than 0") // no time at all
	}
	if err != nil {
		r.Fail(label, "%q %v", v, err)
		return def
	}
	return d
}

// Duration reads an optional non-negative duration (config.ParseDuration; 0 allowed); absent or
// blank gives def.
func (r *Reader) Duration(label string, def time.Duration) time.Duration {
	v := r.Str(label)
	if v == "" {
		return def
	}
	d, err := config.ParseDuration(v)
	if err != nil {
		r.Fail(label, "%q %v", v, err)
		return def
	}
	return d
}

// Command reads a command label as written (it becomes one argv element); blank gives "".
func (r *Reader) Command(label string) string {
	v := r.Labels[label]
	if strings.TrimSpace(v) == "" {
		return ""
	}
	return v
}

// List reads a comma-separated list: items trimmed, empties and duplicates dropped.
func (r *Reader) List(label string) []string { return parse.ListLabel(r.Labels, label) }
