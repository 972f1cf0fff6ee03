package cleannode

// pruneScript runs the prune steps named in "$@" ("container:SECS[:reap]" ...), in order.
//   - The container step spares helper containers: a helper of another operation on this node
//     that just ended may not have had its logs read yet. With ":reap" (a node whose engine is
//     older than 24) it then removes helper containers older than a minute: such an engine keeps
//     the exited container of a finished job on its node even after the service is removed
//     (moby/moby#44312), so leftovers live at most until the node's next clean.
//   - Docker runs one prune of a kind per node at a time ("a prune operation is already
//     running"); a prune that meets another one is retried a few times.
//   - Only the tail of its output is kept: the summary ("ended" lines) before "done" gives every
//     step's exit code even when a huge prune output cut the early steps' markers.
const pruneScript = `exec 2>&1
m=$1; shift; sum=
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
  rc=$?
  echo "$m end $name $rc"
  sum="$sum$m ended $name $rc
"
done
printf '%s' "$sum"
echo "$m done"`
