package commands

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

// pruneScript runs the prune steps named in "$@" ("container:SECS[:reap]" ...), in order.
//   - The container step spares helper containers: a helper of another operation on this node
//     that just ended may not have had its logs read yet. With ":reap" (a node whose engine is
//     older than 24) it then removes helper containers older than a minute: such an engine keeps
//     the exited container of a finished job on its node even after the service is removed
//     (moby/moby#44312), so leftovers live at most until the node's next clean.
//   - Docker runs one prune of a kind per node at a time ("a prune operation is already
//     running"); a prune that meets another one is retried a few times.
const pruneScript = `exec 2>&1
m=$1; shift
prune() {
  for try in 1 2 3 4 5; do
    out=$("$@" 2>&1); rc=$?
    case $out in *"already running"*) sleep 1 ;; *) break ;; esac
  done
  printf '%s\n' "$out"
  return $rc
}
for step in "$@"; do
  name=${step%%:*}; secs=${step#*:}; reap=
  case $secs in *:reap) secs=${secs%:reap}; reap=1 ;; esac
  echo "$m begin $name"
  case $name in
    container) prune timeout "$secs" docker container prune -f --filter label!=swarm-utils.helper=true &&
               { [ -z "$reap" ] || prune docker container prune -f --filter label=swarm-utils.helper=true --filter until=1m >/dev/null; } ;;
    image) prune timeout "$secs" docker image prune -a -f ;;
    builder) prune timeout "$secs" docker builder prune -f ;;
    *) echo "unknown step $name"; false ;;
  esac
  echo "$m end $name $?"
done
echo "$m done"`

// execScript runs SHELL -c CMD in each container given after the first four arguments.
const execScript = `exec 2>&1
m=$1; secs=$2; shell=$3; cmd=$4; shift 4
for c in "$@"; do
  echo "$m begin $c"
  timeout "$secs" docker exec "$c" "$shell" -c "$cmd"
  echo "$m end $c $?"
done
echo "$m done"`

// volumeCheckScript prints each named volume that exists on the node, one per line.
const volumeCheckScript = `exec 2>&1
m=$1; shift
for v in "$@"; do
  if docker volume inspect --format '{{.Name}}' "$v" >/dev/null 2>&1; then echo "$m has $v"; fi
done
echo "$m done"`

func newMarker() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "@@swarm-utils-" + hex.EncodeToString(b)
}

// seconds rounds a timeout up to whole seconds for timeout(1), at least 1.
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// scriptPart is what one marked part of a script's output says.
type scriptPart struct {
	Name     string
	Output   string
	ExitCode int
	Ended    bool // its end marker was seen
}

// parseMarked splits a script's output into its parts; done tells whether the script ran to
// its end (false: it was killed, e.g. by the helper's timeout).
func parseMarked(out, marker string) (parts []scriptPart, done bool) {
	var cur *scriptPart
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
			parts = append(parts, scriptPart{Name: f[1], ExitCode: -1})
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

// markedLines returns the words after "MARKER has " lines (volumeCheckScript).
func markedLines(out, marker, verb string) []string {
	var words []string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, marker+" "+verb+" "); ok {
			words = append(words, strings.TrimSpace(rest))
		}
	}
	return words
}

// timedOut tells timeout(1)'s exit codes: 124 (coreutils) or 143 (busybox, killed by TERM).
func timedOut(code int) bool { return code == 124 || code == 143 }
