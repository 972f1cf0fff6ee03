#!/usr/bin/env bash
# bench-breakdown.sh LOG START_NS END_NS
#
# Where one swarm-utils run spent its time, from its JSON debug log (SWARM_UTILS_LOG_LEVEL=debug,
# SWARM_UTILS_LOG_FORMAT=json: every docker command is logged with its duration). START_NS and
# END_NS are the run's wall-clock bounds (date +%s%N) as the benchmark measured them.
# Prints a timeline of the docker commands (start offset, duration, command) and of the helpers'
# start and end, then a summary:
# start-up before the first command, time per command kind (sum, count) and the tail after the
# last one.
set -euo pipefail
log=$1 start=$2 end=$3
jq -r --argjson t0 "$start" --argjson t1 "$end" -s '
  def ns: (.time | capture("^(?<s>[^.]+)(\\.(?<f>[0-9]+))?Z$")) as $t
          | (($t.s + "Z") | fromdateiso8601) * 1000000000
            + ((($t.f // "0") + "000000000")[0:9] | tonumber);
  def ms: . / 1000000 | floor;
  def kind: .cmd | split(" ") | (index("docker") // 0) as $i | .[$i + 1:]
            | map(select(startswith("-") | not)) | .[0:2] | join(" ");
  def pad: tostring | (" " * (5 - length)) + .;
  . as $all
  | [ $all[] | select(.msg == "exec done") | {e: ns, dur: .duration, cmd: .cmd} | .b = (.e - .dur) ] | sort_by(.b) as $ex
  | [ $all[] | select(.msg == "helper start" or .msg == "helper end")
      | {b: ns, dur: 0, cmd: "== \(.msg) on \(.node)\(if .state then " (\(.state), exit \(.exit))" else "" end)"} ] as $hl
  | if ($ex | length) == 0 then "    (no docker commands logged: run with SWARM_UTILS_LOG_LEVEL=debug)" else
    ( ($ex + $hl) | sort_by(.b)[]
      | "    +\(((.b - $t0) | ms) | pad)ms \(if .dur > 0 then "\((.dur | ms) | pad)ms" else "       " end)  \(.cmd | if length > 110 then .[0:107] + "..." else . end)" ),
    "    -- summary (wall \((($t1 - $t0) | ms))ms):",
    "    start-up before the first docker command: \((($ex[0].b - $t0) | ms))ms",
    ( $ex | group_by(kind) | map({k: (.[0] | kind), n: length, sum: (map(.dur) | add)}) | sort_by(-.sum)[]
      | "    docker \(.k): \(.n)x, \((.sum | ms))ms summed" ),
    "    after the last docker command until exit: \((($t1 - ($ex | map(.e) | max)) | ms))ms"
    end
' "$log"
