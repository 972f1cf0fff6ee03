package cleannode

// pruneScript runs the steps named before "--" in "$@" ("NAME:SECS[:OPTION]" ...), in order;
// the arguments after "--" are the image references the image step removes. The steps come
// from Go constants and numbers (no spaces); the references are expanded as single words.
//   - df-before, df-after: `docker system df`; images: `docker image ls`, for Go to decide which
//     images go (keep-list, age, rollback targets), only the fields it needs and short IDs, so
//     that the kept tail of the output holds a few hundred images.
//   - The container step spares helper containers: a helper of another operation on this node
//     that just ended may not have had its logs read yet. With ":reap" (a node whose engine is
//     older than 24) it then removes helper containers older than a minute: such an engine keeps
//     the exited container of a finished job on its node even after the service is removed
//     (moby/moby#44312), so leftovers live at most until the node's next clean.
//   - The image step prunes every unused image (":until=…s": only older ones), or with ":rm"
//     removes the references Go chose, without --force: an image a container started to use
//     since it was listed is refused by docker and stays, which is no failure.
//   - Docker runs one prune of a kind, and one disk usage, per node at a time ("a prune
//     operation is already running", "a disk usage operation is already running"); a prune or
//     disk usage that meets another one is retried a few times. So is one that met a container
//     going away as it listed them (a current engine's "rw layer snapshot not found for
//     container", "No such container": a removed helper's container, which the engine removes
//     a moment after its job).
//   - Only the tail of its output is kept: the summary ("ended" lines) before "done" gives every
//     step's exit code even when a huge prune output cut the early steps' markers.
const pruneScript = `exec 2>&1
m=$1; shift; sum=; steps=
while [ $# -gt 0 ] && [ "$1" != -- ]; do steps="$steps $1"; shift; done
[ $# -gt 0 ] && shift
prune() {
  for try in 1 2 3 4 5; do
    out=$("$@" 2>&1); rc=$?
    case $out in *"already running"*|*"snapshot not found"*|*"No such container"*) sleep 1 ;; *) break ;; esac
  done
  printf '%s\n' "$out"
  return $rc
}
rmimages() {
  secs=$1; shift
  [ $# -gt 0 ] || { echo "no image to remove"; return 0; }
  out=$(timeout "$secs" docker image rm -- "$@" 2>&1); rc=$?
  printf '%s\n' "$out"
  case $rc in
    0|124|143) ;;
    *) errs=$(printf '%s\n' "$out" | grep '^Error')
       [ -n "$errs" ] && ! printf '%s\n' "$errs" | grep -qv -e 'conflict' -e 'No such image' && rc=0 ;;
  esac
  return $rc
}
set -f # the steps are split on spaces, never globbed
for step in $steps; do
  name=${step%%:*}; rest=${step#*:}; secs=${rest%%:*}; opt=
  case $rest in *:*) opt=${rest#*:} ;; esac
  echo "$m begin $name"
  case $name in
    df-before|df-after) prune timeout "$secs" docker system df --format '{{json .}}' ;;
    images) timeout "$secs" docker image ls --digests --format '{"ID":{{json .ID}},"Repository":{{json .Repository}},"Tag":{{json .Tag}},"Digest":{{json .Digest}},"CreatedAt":{{json .CreatedAt}}}' ;;
    container) prune timeout "$secs" docker container prune -f --filter label!=swarm-utils.helper=true &&
               { [ "$opt" != reap ] || prune docker container prune -f --filter label=swarm-utils.helper=true --filter until=1m >/dev/null; } ;;
    image) case $opt in
             rm) rmimages "$secs" "$@" ;;
             until=*) prune timeout "$secs" docker image prune -a -f --filter "$opt" ;;
             *) prune timeout "$secs" docker image prune -a -f ;;
           esac ;;
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
