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

// Token reads a token label: a plain token, or sha256:<64 hex digits>. The value is never put
// into an error.
func (r *Reader) Token(label string) string {
	v := r.Str(label)
	if _, hashed, ok := parse.TokenHash(v); hashed && !ok {
		r.Fail(label, "a hashed token must be %s followed by the 64 hex digits of the token's SHA-256", parse.TokenHashPrefix)
	}
	return v
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
	v, ok := r.Labels[label]
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true
	case "false":
		return false
	}
	r.Fail(label, "%q is not true or false", v)
	return def
}

// Millis reads a positive number of milliseconds ("600_000" allowed); absent or blank gives def.
func (r *Reader) Millis(label string, def time.Duration) time.Duration {
	v := r.Str(label)
	if v == "" {
		return def
	}
	d, err := config.ParseMillis(v)
	if err == nil && d == 0 {
		err = errors.New("must be more than 0 milliseconds") // no time at all
	}
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
func (r *Reader) List(label string) []string {
	var out []string
	seen := map[string]bool{}
	for item := range strings.SplitSeq(r.Labels[label], ",") {
		item = strings.TrimSpace(item)
		if item == "" || seen[item] {
			continue
		}
		seen[item] = true
		out = append(out, item)
	}
	return out
}
