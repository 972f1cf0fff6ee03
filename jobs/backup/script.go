package backup

// volumeCheckScript prints each named volume that exists on the node, one per line.
const volumeCheckScript = `exec 2>&1
m=$1; shift
for v in "$@"; do
  if docker volume inspect --format '{{.Name}}' "$v" >/dev/null 2>&1; then echo "$m has $v"; fi
done
echo "$m done"`
