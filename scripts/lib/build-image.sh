#!/usr/bin/env bash
# Build the root file system of a swarm-utils image equivalent to the Dockerfile's, without
# Docker Hub or `docker build` (the test bed imports it with `docker import`).
#
#   scripts/lib/build-image.sh OUTDIR
#
# Produces
#   OUTDIR/rootfs     the runtime stage of the Dockerfile:
#     /usr/local/bin/swarm-utils  CGO_ENABLED=0 static build of this repository (the entrypoint)
#     /usr/local/bin/docker       the static docker CLI (DOCKER_CLI, default /usr/local/bin/docker)
#     /bin/busybox + applets      sh and wget (the HEALTHCHECK uses wget), as alpine has them
#     /etc/passwd, /etc/group     root and swarm-utils (uid/gid 10001)
#     /tmp                        mode 1777 (HOME=/tmp: the docker CLI writes ~/.docker there)
#     /data                       10001:10001 0700 (SWARM_UTILS_DATA_DIR, the run history)
#   OUTDIR/changes    one `docker import --change` per line: the runtime stage's ENV, USER,
#                     EXPOSE, HEALTHCHECK, ENTRYPOINT and CMD, taken from the Dockerfile itself
#                     (plus the base image's PATH), so the two images cannot drift apart.
# The caller imports it:
#   mapfile -t ch <OUTDIR/changes; args=(); for c in "${ch[@]}"; do args+=(--change "$c"); done
#   tar -C OUTDIR/rootfs -c . | docker import "${args[@]}" - IMAGE
# Environment: BUSYBOX (static busybox, default the one on PATH), DOCKER_CLI, VERSION (main.version).
set -euo pipefail
# The images' files get the modes a docker build gives them, whatever the caller's umask.
umask 022

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: $0 OUTDIR"
OUTDIR=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
[[ $OUTDIR != / ]] || die "refusing to build into /"
ROOTFS=$OUTDIR/rootfs
BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
VERSION=${VERSION:-$(git -C "$REPO" describe --tags --always --dirty 2>/dev/null || echo dev)}

# shellcheck source=scripts/lib/rootfs.sh
source "$REPO/scripts/lib/rootfs.sh"
static() { require_static "$1" 2>/dev/null; }
[[ -x $DOCKER_CLI ]] || die "docker CLI not found at $DOCKER_CLI (set DOCKER_CLI)"
static "$DOCKER_CLI" || die "$DOCKER_CLI is not statically linked"

rm -rf "$ROOTFS"
mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/etc"

log "building /usr/local/bin/swarm-utils ($VERSION)"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
  -o "$ROOTFS/usr/local/bin/swarm-utils" .)
static "$ROOTFS/usr/local/bin/swarm-utils" || die "swarm-utils is not statically linked"

# The docker:*-cli images ship a stripped CLI; strip ours too when we can (-40% of the image).
if command -v strip >/dev/null && strip -o "$OUTDIR/docker.stripped" "$DOCKER_CLI" 2>/dev/null &&
  "$OUTDIR/docker.stripped" --version >/dev/null 2>&1; then
  install -m 0755 "$OUTDIR/docker.stripped" "$ROOTFS/usr/local/bin/docker"
else
  install -m 0755 "$DOCKER_CLI" "$ROOTFS/usr/local/bin/docker"
fi
rm -f "$OUTDIR/docker.stripped"

# After docker and swarm-utils: busybox never shadows them.
busybox_rootfs "$ROOTFS" "$BUSYBOX" || die "no static busybox"
count=$BUSYBOX_APPLETS

# As `adduser -D -u 10001 -H swarm-utils` does on alpine: user and group 10001, no home.
printf 'root:x:0:0:root:/root:/bin/sh\nswarm-utils:x:10001:10001::/tmp:/sbin/nologin\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nswarm-utils:x:10001:\n' >"$ROOTFS/etc/group"
# The run history's directory, the image user's own as the Dockerfile makes it.
install -d -m 0700 "$ROOTFS/data"
chown 10001:10001 "$ROOTFS/data" || die "chown $ROOTFS/data to 10001 (run as root)"

# The runtime stage's image settings, from the Dockerfile: continuation lines joined, only the
# instructions after the last FROM, only those that configure the image (not RUN/COPY).
{
  echo 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' # the base image's
  awk '
    /^[[:space:]]*#/ { next }
    { line = line $0 }
    /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, " ", line); next }
    { gsub(/[[:space:]]+/, " ", line); sub(/^ /, "", line); sub(/ $/, "", line)
      if (line != "") lines[++n] = line; line = "" }
    END {
      for (i = 1; i <= n; i++) if (toupper(lines[i]) ~ /^FROM /) last = i
      for (i = last + 1; i <= n; i++)
        if (toupper(lines[i]) ~ /^(ENV|USER|EXPOSE|HEALTHCHECK|ENTRYPOINT|CMD|WORKDIR|STOPSIGNAL|LABEL) /) print lines[i]
    }' "$REPO/Dockerfile"
} >"$OUTDIR/changes"
grep -q '^ENTRYPOINT ' "$OUTDIR/changes" || die "no ENTRYPOINT in the Dockerfile's runtime stage"

log "rootfs ready at $ROOTFS ($count busybox applets, $(du -sh "$ROOTFS" | cut -f1)); changes in $OUTDIR/changes"
