package helper

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// A helper that runs several commands reports each one between marker lines, so one helper
// lifecycle (~0.6 s) serves a whole node instead of one per command. The scripts are constants:
// everything that comes from input (commands, shells, container ids) arrives as positional
// arguments and is expanded as single words, never re-parsed by the shell. The marker carries
// a random nonce so that a command's own output cannot forge a step result.

// execScript runs SHELL -c CMD in each container given after the first four arguments. Only
// the tail of a helper's output is kept: the summary of "ended" lines at its end gives every
// part's exit code even when the head, with the early parts' markers, was cut.
const execScript = `exec 2>&1
m=$1; secs=$2; shell=$3; cmd=$4; shift 4
sum=
for c in "$@"; do
  echo "$m begin $c"
  timeout "$secs" docker exec "$c" "$shell" -c "$cmd"
  rc=$?
  echo "$m end $c $rc"
  sum="$sum$m ended $c $rc
"
done
printf '%s' "$sum"
echo "$m done"`

func NewMarker() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "@@swarm-utils-" + hex.EncodeToString(b)
}

// Seconds rounds a timeout up to whole seconds for timeout(1), at least 1.
func Seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// ScriptPart is what one marked part of a script's output says.
type ScriptPart struct {
	Name     string
	Output   string
	ExitCode int
	Ended    bool // its end marker, or its line in the script's summary, was seen
	// Cut: its begin marker was lost with the head of the output (only the tail of a helper's
	// output is kept); it ran, but Output lacks its start or all of it.
	Cut bool
}

// ParseMarked splits a script's output into its parts; done tells whether the script ran to
// its end (false: it was killed, e.g. by the helper's timeout). When the head of the output was
// cut, the first part seen may have lost its begin marker (its end marker tells it ran), and
// parts with no markers left still come from the summary ("MARKER ended NAME CODE" lines) that
// scripts print before "done"; see also WithCut for parts the output says nothing of.
func ParseMarked(out, marker string) (parts []ScriptPart, done bool) {
	var cur *ScriptPart
	var body []string
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, marker+" ")
		if !ok {
			// Before any marker, lines may be the cut head's last part's output.
			if cur != nil || len(parts) == 0 {
				body = append(body, line)
			}
			continue
		}
		f := strings.Fields(rest)
		switch {
		case len(f) == 2 && f[0] == "begin":
			parts = append(parts, ScriptPart{Name: f[1], ExitCode: -1})
			cur, body = &parts[len(parts)-1], nil
			seen[f[1]] = true
		case len(f) == 3 && f[0] == "end" && cur != nil && f[1] == cur.Name:
			cur.ExitCode, _ = strconv.Atoi(f[2])
			cur.Ended = true
			cur.Output = strings.Join(body, "\n")
			cur, body = nil, nil
		case len(f) == 3 && f[0] == "end" && cur == nil && len(parts) == 0:
			// Its begin marker was cut off: it ran, and this is the end of its output.
			code, _ := strconv.Atoi(f[2])
			parts = append(parts, ScriptPart{Name: f[1], Output: strings.Join(body, "\n"), ExitCode: code, Ended: true, Cut: true})
			body = nil
			seen[f[1]] = true
		case len(f) == 3 && f[0] == "ended" && !seen[f[1]]:
			code, _ := strconv.Atoi(f[2])
			parts = append(parts, ScriptPart{Name: f[1], ExitCode: code, Ended: true, Cut: true})
			seen[f[1]] = true
		case len(f) == 1 && f[0] == "done":
			done = true
		}
	}
	if cur != nil {
		cur.Output = strings.TrimRight(strings.Join(body, "\n"), "\n")
	}
	return parts, done
}

// WithCut returns the parts by name, adding those of names (the parts in the order the script
// runs them) that come before the first part seen and left no trace: a later part's markers
// prove they ran, so their output was cut (Cut, not Ended, exit code -1), not "did not run".
func WithCut(parts []ScriptPart, names []string) map[string]ScriptPart {
	byName := make(map[string]ScriptPart, len(names))
	for _, p := range parts {
		byName[p.Name] = p
	}
	last := -1 // the last of names seen
	for i, n := range names {
		if _, ok := byName[n]; ok {
			last = i
		}
	}
	for _, n := range names[:last+1] {
		if _, ok := byName[n]; !ok {
			byName[n] = ScriptPart{Name: n, ExitCode: -1, Cut: true}
		}
	}
	return byName
}

// MarkedLines returns the words after "MARKER VERB " lines (the uploader's "empty" and
// "unmounted").
func MarkedLines(out, marker, verb string) []string {
	var words []string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, marker+" "+verb+" "); ok {
			words = append(words, strings.TrimSpace(rest))
		}
	}
	return words
}

// TimedOut tells timeout(1)'s exit codes: 124 (coreutils) or 143 (busybox, killed by TERM).
func TimedOut(code int) bool { return code == 124 || code == 143 }
