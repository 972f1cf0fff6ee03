# Which Docker engine the test bed runs, and where the current one's binaries are kept.
#   SU_ENGINE=current  moby's dockerd (Engine API 1.56) with runc 1.3, built once (the default)
#   SU_ENGINE=debian   Debian's docker.io 20.10 (Engine API 1.41) with Debian's runc
# The built binaries live outside the checkout (SU_CACHE_DIR, default /var/cache/swarm-utils), in a
# folder named after their versions, so a second run on the same machine does not rebuild them.
MOBY_VERSION=v2.0.0-beta.24
RUNC_VERSION=v1.3.0
SU_ENGINE=${SU_ENGINE:-current}
SU_CACHE_DIR=${SU_CACHE_DIR:-/var/cache/swarm-utils}
ENGINE_CURRENT_BIN=$SU_CACHE_DIR/engine/moby-$MOBY_VERSION-runc-$RUNC_VERSION/bin
case $SU_ENGINE in
  current | debian) ;;
  *) echo "SU_ENGINE must be current or debian, not '$SU_ENGINE'" >&2; exit 2 ;;
esac
