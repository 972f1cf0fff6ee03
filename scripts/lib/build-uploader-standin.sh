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
# The images' files get the modes a docker build gives them, whatever the caller's umask.
umask 022

log() { printf '[uploader-standin] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: $0 OUTDIR"
OUTDIR=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
[[ $OUTDIR != / ]] || die "refusing to build into /"
ROOTFS=$OUTDIR/rootfs

# shellcheck source=scripts/lib/rootfs.sh
source "$REPO/scripts/lib/rootfs.sh"

rm -rf "$ROOTFS"
mkdir -p "$ROOTFS/usr/bin" "$ROOTFS/backup"

log "building /usr/bin/backup"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
  -o "$ROOTFS/usr/bin/backup" ./testdata/uploader-standin)

busybox_rootfs "$ROOTFS" "${BUSYBOX:-}" || die "no static busybox"
count=$BUSYBOX_APPLETS

log "rootfs ready at $ROOTFS ($count busybox applets)"
