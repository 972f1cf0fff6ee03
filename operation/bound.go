package operation

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Size is about how many bytes the Result takes in memory and as JSON: the strings it holds,
// of which task logs are nearly all.
func (r *Result) Size() int {
	n := len(r.Operation) + len(r.Target) + len(r.Skipped) + len(r.Error) + 64
	for _, s := range r.Steps {
		n += len(s.Name) + len(s.Node) + len(s.Helper) + len(s.Error) + 64
		for k, v := range s.Details {
			n += len(k) + len(v)
		}
		for _, t := range s.Tasks {
			n += len(t.TaskID) + len(t.Target) + len(t.Node) + len(t.State) + len(t.Error) + len(t.Logs) + 32
		}
	}
	return n
}

// Bounded returns the Result with its task logs cut so that its Size is at most about limit:
// each log keeps its tail (where a failure shows), the longest logs give up the most, and a cut
// log starts with a note of how much was left out. A stored result must not hold every byte a
// hundred tasks printed; the steps, states, exit codes and errors always stay whole.
func (r Result) Bounded(limit int) Result {
	over := r.Size() - limit
	if over <= 0 {
		return r
	}
	var lengths []int
	for _, s := range r.Steps {
		for _, t := range s.Tasks {
			if t.Logs != "" {
				lengths = append(lengths, len(t.Logs))
			}
		}
	}
	keep := logAllowance(lengths, over+cutNoteRoom*len(lengths))
	steps := make([]Step, len(r.Steps))
	for i, s := range r.Steps {
		steps[i] = s
		if len(s.Tasks) == 0 {
			continue
		}
		steps[i].Tasks = make([]TaskResult, len(s.Tasks))
		for j, t := range s.Tasks {
			if len(t.Logs) > keep {
				t.Logs = keepTail(t.Logs, keep, limit)
			}
			steps[i].Tasks[j] = t
		}
	}
	r.Steps = steps
	return r
}

// cutNoteRoom is about how long keepTail's note is.
const cutNoteRoom = 80

// logAllowance is the largest per-log length that frees at least over bytes when every longer
// log is cut to it (water-filling: the short logs stay whole).
func logAllowance(lengths []int, over int) int {
	slices.Sort(lengths)
	total := 0
	for _, l := range lengths {
		total += l
	}
	target := total - over // bytes of logs that may stay
	if target <= 0 {
		return 0
	}
	for i, l := range lengths {
		rest := len(lengths) - i
		if l*rest >= target {
			return target / rest
		}
		target -= l
	}
	return lengths[len(lengths)-1]
}

// keepTail keeps about the last n bytes of s, cut at a rune boundary, behind a note.
func keepTail(s string, n, limit int) string {
	start := len(s) - n
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return fmt.Sprintf("[… %d bytes cut to keep the stored result under %d KiB …]\n", start, limit/1024) + s[start:]
}

// Head shortens s to at most n bytes on a rune boundary, marking a cut with "…" (a record's
// fields, a log's first line in the text output).
func Head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := max(n-len("…"), 0)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…"
}
