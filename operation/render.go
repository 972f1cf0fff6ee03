package operation

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Text renders a Result for people: one line for the operation, one per step and per task.
func (r Result) Text() string {
	var b strings.Builder
	status := "OK"
	switch {
	case r.Skipped != "":
		status = "SKIPPED (" + r.Skipped + ")"
	case !r.OK:
		status = "FAILED: " + r.Error
	}
	fmt.Fprintf(&b, "%s %s: %s  [%s]\n", r.Operation, r.Target, status, time.Duration(r.Duration).Round(time.Millisecond))
	for _, s := range r.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %-16s %-10s %s", mark, s.Name, s.Node, time.Duration(s.Duration).Round(time.Millisecond))
		for _, k := range slices.Sorted(maps.Keys(s.Details)) {
			fmt.Fprintf(&b, "  %s=%s", k, s.Details[k])
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "  error: %s", s.Error)
		}
		b.WriteString("\n")
		for _, t := range s.Tasks {
			if t.Target == "" {
				continue
			}
			fmt.Fprintf(&b, "       task %-24s %-10s exit %d %s\n", t.Target, t.State, t.ExitCode, firstLine(t.Logs))
		}
	}
	return b.String()
}

// Text renders a Report: each result in turn.
func (rep Report) Text() string {
	var b strings.Builder
	for _, r := range rep.Results {
		b.WriteString(r.Text())
	}
	return b.String()
}

// firstLine is a task's log in one line of the text output: its first, at most 80 bytes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return Head(s, 80)
}
