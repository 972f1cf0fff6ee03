package bashexec

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
)

// Secrets is a concurrency-safe set of values (tokens, passwords, S3 keys)
// that Mask replaces with "***".
//
// A set from NewSecrets masks every non-empty value, however short. The
// process-wide set (NewGlobalSecrets) masks every line of every operation, so
// it ignores values shorter than MinGlobalSecret: a label value "e" would
// garble every log line of every tenant. An operation's own secrets (label S3
// keys, a registry password) go with its ctx instead (WithSecrets): masked
// whatever their length, only in that operation's commands, and let go with it,
// so rotated secrets do not pile up.
type Secrets struct {
	mu     sync.RWMutex
	values []string
	min    int // shorter values are not registered
}

// MinGlobalSecret is the shortest value the process-wide set registers.
const MinGlobalSecret = 6

// NewSecrets returns a registry holding values.
func NewSecrets(values ...string) *Secrets {
	s := &Secrets{}
	s.Add(values...)
	return s
}

// NewGlobalSecrets returns the process-wide registry: values shorter than
// MinGlobalSecret are not registered (see Secrets).
func NewGlobalSecrets(values ...string) *Secrets {
	s := &Secrets{min: MinGlobalSecret}
	s.Add(values...)
	return s
}

// Add registers values; empty strings, duplicates and, in the process-wide
// set, values shorter than MinGlobalSecret are ignored.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if v != "" && len(v) >= s.min && !contains(s.values, v) {
			s.values = append(s.values, v)
		}
	}
}

type ctxSecretsKey struct{}

// WithSecrets returns ctx carrying values as secrets of one operation: Exec
// masks them in the log lines, errors and kept output of commands run with
// this ctx (or one derived from it), and For(ctx) adds them to a set.
func WithSecrets(ctx context.Context, values ...string) context.Context {
	op := NewSecrets(values...)
	if parent, ok := ctx.Value(ctxSecretsKey{}).(*Secrets); ok {
		op.Add(parent.list()...)
	}
	if len(op.values) == 0 {
		return ctx
	}
	return context.WithValue(ctx, ctxSecretsKey{}, op)
}

// For is s plus the operation's secrets ctx carries (WithSecrets); s itself
// when it carries none. A nil receiver stands for an empty set.
func (s *Secrets) For(ctx context.Context) *Secrets {
	op, ok := ctx.Value(ctxSecretsKey{}).(*Secrets)
	if !ok {
		return s
	}
	all := NewSecrets(s.list()...)
	all.Add(op.list()...)
	return all
}

func (s *Secrets) list() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.values)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Mask replaces every occurrence of every registered value with "***". Bytes
// covered by any occurrence are masked together, so overlapping or adjacent
// secrets ("abcd" and "cdef" in "abcdef") leave no fragment behind. A nil
// receiver returns text unchanged.
func (s *Secrets) Mask(text string) string {
	if s == nil || text == "" {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()

	var covered []bool // allocated on the first match only
	for _, v := range s.values {
		for from := 0; ; {
			i := strings.Index(text[from:], v)
			if i < 0 {
				break
			}
			if covered == nil {
				covered = make([]bool, len(text))
			}
			start := from + i
			for j := start; j < start+len(v); j++ {
				covered[j] = true
			}
			from = start + 1 // +1, not +len(v): self-overlapping occurrences count too
		}
	}
	if covered == nil {
		return text
	}

	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); i++ {
		if !covered[i] {
			b.WriteByte(text[i])
			continue
		}
		b.WriteString("***")
		for i+1 < len(text) && covered[i+1] {
			i++
		}
	}
	return b.String()
}

// longest is the length of the longest registered value (0 for a nil receiver).
func (s *Secrets) longest() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, v := range s.values {
		n = max(n, len(v))
	}
	return n
}

// cutAfter moves a cut at index at of text forward past every secret that
// spans it, so that the part from the cut on holds no fragment of a secret.
func (s *Secrets) cutAfter(text []byte, at int) int {
	return s.moveCut(text, at, true)
}

// cutBefore moves a cut at index at of text back to the start of every secret
// that spans it, so that the part before the cut holds no fragment of a secret.
func (s *Secrets) cutBefore(text []byte, at int) int {
	return s.moveCut(text, at, false)
}

func (s *Secrets) moveCut(text []byte, at int, forward bool) int {
	if s == nil {
		return at
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Repeat until stable: moving past one secret may land inside an overlapping one.
	for moved := true; moved; {
		moved = false
		for _, v := range s.values {
			lo, hi := max(0, at-len(v)+1), min(len(text), at+len(v)-1)
			for from := lo; from < hi; {
				i := bytes.Index(text[from:hi], []byte(v))
				if i < 0 {
					break
				}
				start := from + i
				if start < at && at < start+len(v) {
					if forward {
						at = start + len(v)
					} else {
						at = start
					}
					moved = true
					break
				}
				from = start + 1
			}
		}
	}
	return at
}
