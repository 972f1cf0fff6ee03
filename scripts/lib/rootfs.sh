# Sourced by the image builders (scripts/cluster, scripts/lib/build-*.sh): the pieces every
# `docker import`ed test image shares. Images have no libc, so every binary must be static.

# require_static BIN: fail unless BIN is a statically linked executable.
require_static() {
  [[ -n $1 && -x $1 ]] || { echo "not found or not executable: ${1:-?}" >&2; return 1; }
  if command -v file >/dev/null; then
    file -L "$1" | grep -q 'statically linked' || { echo "$1 is not statically linked" >&2; return 1; }
  elif ldd "$1" >/dev/null 2>&1; then
    echo "$1 is not statically linked" >&2
    return 1
  fi
}

# busybox_rootfs ROOTFS [BUSYBOX]: busybox at /bin/busybox with every applet linked absolute to
# it (`busybox --install -s` would link to the host's path), never shadowing a file already
# there; /bin/sh, /tmp (1777), and root in /etc/passwd and /etc/group unless present.
busybox_rootfs() {
  local rootfs=$1 busybox=${2:-$(command -v busybox || true)} applet target
  require_static "$busybox" || { echo "install busybox-static (or set BUSYBOX)" >&2; return 1; }
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp}
  chmod 1777 "$rootfs/tmp"
  install -m 0755 "$busybox" "$rootfs/bin/busybox"
  BUSYBOX_APPLETS=0
  while IFS= read -r applet; do
    [[ -n $applet && $applet != bin/busybox && $applet == */* ]] || continue # linuxrc: not a tool
    target=$rootfs/$applet
    [[ -e $target || -L $target ]] && continue
    mkdir -p "$(dirname "$target")"
    ln -s /bin/busybox "$target"
    BUSYBOX_APPLETS=$((BUSYBOX_APPLETS + 1))
  done < <("$busybox" --list-full)
  [[ -e $rootfs/bin/sh || -L $rootfs/bin/sh ]] || ln -s /bin/busybox "$rootfs/bin/sh"
  [[ -e $rootfs/etc/passwd ]] || printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
  [[ -e $rootfs/etc/group ]] || printf 'root:x:0:\n' >"$rootfs/etc/group"
}
