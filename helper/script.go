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

// execScript runs SHELL -c CMD in each container given after the first four arguments.
const execScript = `exec 2>&1
m=$1; secs=$2; shell=$3; cmd=$4; shift 4
for c in "$@"; do
  echo "$m begin $c"
  timeout "$secs" docker exec "$c" "$shell" -c "$cmd"
  echo "$m end $c $?"
done
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
	Ended    bool // its end marker was seen
}

// ParseMarked splits a script's output into its parts; done tells whether the script ran to
// its end (false: it was killed, e.g. by the helper's timeout).
func ParseMarked(out, marker string) (parts []ScriptPart, done bool) {
	var cur *ScriptPart
	var body []string
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, marker+" ")
		if !ok {
			if cur != nil {
				body = append(body, line)
			}
			continue
		}
		f := strings.Fields(rest)
		switch {
		case len(f) == 2 && f[0] == "begin":
			parts = append(parts, ScriptPart{Name: f[1], ExitCode: -1})
			cur, body = &parts[len(parts)-1], nil
		case len(f) == 3 && f[0] == "end" && cur != nil && f[1] == cur.Name:
			cur.ExitCode, _ = strconv.Atoi(f[2])
			cur.Ended = true
			cur.Output = strings.Join(body, "\n")
			cur, body = nil, nil
		case len(f) == 1 && f[0] == "done":
			done = true
		}
	}
	if cur != nil {
		cur.Output = strings.TrimRight(strings.Join(body, "\n"), "\n")
	}
	return parts, done
}

// MarkedLines returns the words after "MARKER has " lines (volumeCheckScript).
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
