package bashexec

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	mu  sync.Mutex                // serialises Add
	set atomic.Pointer[secretSet] // nil: none; replaced, never changed, so Mask takes no lock
	min int                       // shorter values are not registered
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
// set, values shorter than MinGlobalSecret are ignored. Adding only known
// values costs no copy.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.set.Load()
	var all []string
	var added map[string]bool // for many new values; a few are compared one by one
	for _, v := range values {
		if v == "" || len(v) < s.min || cur.has(v) {
			continue
		}
		if all == nil {
			all = append(make([]string, 0, len(cur.list())+len(values)), cur.list()...)
			if len(values) > indexFrom {
				added = map[string]bool{}
			}
		}
		if added != nil {
			if added[v] {
				continue
			}
			added[v] = true
		} else if slices.Contains(all[len(cur.list()):], v) {
			continue
		}
		all = append(all, v)
	}
	if all != nil {
		s.set.Store(newSecretSet(all))
	}
}

// secretSet is one immutable state of a Secrets.
type secretSet struct {
	values  []string
	known   map[string]bool // nil for a few values
	longest int
	// With more than indexFrom values, Mask looks values up by their first 4 bytes at each
	// position of the text (prefixes; filter is a bit per hash of a prefix, to skip the lookup
	// at most positions) instead of searching the text once per value: the access log masks
	// short fields against every label token of the cluster. Values shorter than 4 bytes are
	// searched for one by one (short).
	prefixes map[uint32][]string
	filter   *[1 << 10]uint64
	short    []string
}

// indexFrom is the number of values from which Mask uses the prefix index: below it, one
// strings.Index per value over a 64 KiB log is faster than a lookup per byte.
const indexFrom = 16

func newSecretSet(values []string) *secretSet {
	set := &secretSet{values: values}
	for _, v := range values {
		set.longest = max(set.longest, len(v))
	}
	if len(values) <= indexFrom {
		return set
	}
	set.known = make(map[string]bool, len(values))
	for _, v := range values {
		set.known[v] = true
	}
	set.prefixes, set.filter = map[uint32][]string{}, new([1 << 10]uint64)
	for _, v := range values {
		if len(v) < 4 {
			set.short = append(set.short, v)
			continue
		}
		k := prefixKey(v, 0)
		set.prefixes[k] = append(set.prefixes[k], v)
		h := prefixHash(k)
		set.filter[h>>6] |= 1 << (h & 63)
	}
	return set
}

func prefixKey(text string, at int) uint32 {
	return uint32(text[at]) | uint32(text[at+1])<<8 | uint32(text[at+2])<<16 | uint32(text[at+3])<<24
}

// prefixHash is 16 bits of a prefix (Fibonacci hashing).
func prefixHash(k uint32) uint32 { return (k * 0x9E3779B1) >> 16 }

func (set *secretSet) list() []string {
	if set == nil {
		return nil
	}
	return set.values
}

func (set *secretSet) has(v string) bool {
	switch {
	case set == nil:
		return false
	case set.known == nil: // a few values
		return slices.Contains(set.values, v)
	}
	return set.known[v]
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
	if len(op.set.Load().list()) == 0 {
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
	return slices.Clone(s.set.Load().list())
}

// Mask replaces every occurrence of every registered value with "***". Bytes
// covered by any occurrence are masked together, so overlapping or adjacent
// secrets ("abcd" and "cdef" in "abcdef") leave no fragment behind. A nil
// receiver returns text unchanged.
func (s *Secrets) Mask(text string) string {
	if s == nil || text == "" {
		return text
	}
	set := s.set.Load()
	if set == nil {
		return text
	}
	var covered []bool // allocated on the first match only
	cover := func(start, n int) {
		if covered == nil {
			covered = make([]bool, len(text))
		}
		for j := start; j < start+n; j++ {
			covered[j] = true
		}
	}
	search := func(v string) {
		for from := 0; ; {
			i := strings.Index(text[from:], v)
			if i < 0 {
				return
			}
			cover(from+i, len(v))
			from += i + 1 // +1, not +len(v): self-overlapping occurrences count too
		}
	}
	if set.prefixes == nil {
		for _, v := range set.values {
			search(v)
		}
	} else {
		for _, v := range set.short {
			search(v)
		}
		for p := 0; p+4 <= len(text); p++ {
			k := prefixKey(text, p)
			if h := prefixHash(k); set.filter[h>>6]&(1<<(h&63)) == 0 {
				continue
			}
			for _, v := range set.prefixes[k] {
				if strings.HasPrefix(text[p:], v) {
					cover(p, len(v))
				}
			}
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
	if set := s.set.Load(); set != nil {
		return set.longest
	}
	return 0
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
	values := s.set.Load().list()
	// Repeat until stable: moving past one secret may land inside an overlapping one.
	for moved := true; moved; {
		moved = false
		for _, v := range values {
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
