package backup

// uploadScript is the uploader's entrypoint (sh, which offen's alpine image and the test
// stand-in both have): it checks that every volume entry given after the marker is mounted at
// /backup/<entry>, names the empty ones, and only then execs offen's one-shot `backup`, so the
// check costs no helper of its own. An entry that is not mounted fails the helper (exit 3)
// before anything is read or uploaded. The script is a constant; the entries arrive as
// positional arguments and are only ever expanded as single words.
const uploadScript = `m=$1; shift; bad=
for e in "$@"; do
  if ! grep -qF " /backup/$e " /proc/self/mountinfo; then echo "$m unmounted $e"; bad=1
  elif [ -z "$(ls -A "/backup/$e" 2>/dev/null)" ]; then echo "$m empty $e"; fi
done
[ -z "$bad" ] || { echo "$m refused"; exit 3; }
echo "$m checked"
exec backup`
