package backup

// uploadScript is the uploader's entrypoint (sh, which offen's alpine image and the test
// stand-in both have): it checks that every volume entry given after the marker is mounted at
// /backup/<entry>, names the empty ones, and only then runs offen's one-shot `backup`, so the
// check costs no helper of its own. An entry that is not mounted fails the helper (exit 3)
// before anything is read or uploaded. The script is a constant; the entries arrive as
// positional arguments and are only ever expanded as single words.
//
// `backup` runs as the script's child, not exec'd, so that the script prints the done line
// ("MARKER done", the helper's Spec.DoneLine) once it exited 0; the script passes a stop
// (SIGTERM, SIGINT) on to it and exits with its exit code.
const uploadScript = `m=$1; shift; bad=
for e in "$@"; do
  if ! grep -qF " /backup/$e " /proc/self/mountinfo; then echo "$m unmounted $e"; bad=1
  elif [ -z "$(ls -A "/backup/$e" 2>/dev/null)" ]; then echo "$m empty $e"; fi
done
[ -z "$bad" ] || { echo "$m refused"; exit 3; }
echo "$m checked"
backup & p=$!
trap 'kill -TERM "$p" 2>/dev/null' TERM INT
wait "$p"; rc=$?
while [ "$rc" -gt 128 ] && kill -0 "$p" 2>/dev/null; do wait "$p"; rc=$?; done
[ "$rc" -eq 0 ] && echo "$m done"
exit "$rc"`
