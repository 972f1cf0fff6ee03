#!/usr/bin/env bash
# Build the root file system of the TEST STAND-IN for offen/docker-volume-backup.
#
#   scripts/lib/build-uploader-standin.sh OUTDIR
#
# Produces OUTDIR/rootfs with
#   /usr/bin/backup   static Go binary from testdata/uploader-standin (the entrypoint)
#   /bin/busybox      static busybox plus symlinks for its applets (/bin/sh, ls, tar, ...)
#   /tmp              mode 1777, where the archive is written before upload
#   /etc/passwd,group root only, so tools can name uid/gid 0
# The caller imports it: tar -C OUTDIR/rootfs -c . | docker import --change 'ENTRYPOINT ["/usr/bin/backup"]' - IMAGE
# Set BUSYBOX to choose the busybox binary (default: the one on PATH; it must be static).
set -euo pipefail

log() { printf '[uploader-standin] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: $0 OUTDIR"
OUTDIR=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
[[ $OUTDIR != / ]] || die "refusing to build into /"
ROOTFS=$OUTDIR/rootfs

BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}
[[ -n $BUSYBOX && -x $BUSYBOX ]] || die "busybox not found (install busybox-static or set BUSYBOX)"
# A dynamic busybox would need a libc the image does not have.
if command -v file >/dev/null; then
  file -L "$BUSYBOX" | grep -q 'statically linked' || die "$BUSYBOX is not statically linked"
elif ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is not statically linked"
fi

rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,backup}
chmod 1777 "$ROOTFS/tmp"

log "building /usr/bin/backup"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
  -o "$ROOTFS/usr/bin/backup" ./testdata/uploader-standin)

install -m 0755 "$BUSYBOX" "$ROOTFS/bin/busybox"
# `busybox --install -s DIR` would link to the host's busybox path, so the
# links are made here, absolute to /bin/busybox inside the image.
count=0
while IFS= read -r applet; do
  [[ -n $applet && $applet != bin/busybox && $applet == */* ]] || continue # linuxrc: not a tool
  target=$ROOTFS/$applet
  [[ -e $target || -L $target ]] && continue # never shadow /usr/bin/backup
  mkdir -p "$(dirname "$target")"
  ln -s /bin/busybox "$target"
  count=$((count + 1))
done < <("$BUSYBOX" --list-full)
[[ -L $ROOTFS/bin/sh ]] || ln -s /bin/busybox "$ROOTFS/bin/sh"

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\n' >"$ROOTFS/etc/group"

log "rootfs ready at $ROOTFS ($count busybox applets)"
