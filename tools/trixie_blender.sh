#!/usr/bin/env bash
# Debian trixie's Blender 4.3 (Python 3.13) in a cached chroot, for the window test on Blender 4.x.
#
#   tools/trixie_blender.sh                                  build or complete the chroot, print its path
#   tools/trixie_blender.sh run [--bind DIR]... -- CMD...    run CMD inside it (DIRs appear at the same path)
#
# The chroot lives in $OPTICAL_FLOW_TRIXIE (default /var/cache/optical-flow-trixie), outside any clone, so
# later runs on this machine reuse it; each step checks what is missing first. Needs root. /proc, /dev, /sys
# and the DIRs are mounted in a mount namespace of this script's own and unmounted when it ends (also on
# failure), so no mount is ever left behind in the host's view.
set -euo pipefail
ROOT="${OPTICAL_FLOW_TRIXIE:-/var/cache/optical-flow-trixie}"
PACKAGES=(blender xvfb xdotool imagemagick python3-numpy)
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

die() { echo "trixie_blender.sh: $*" >&2; exit 2; }

mirror() {
  # The Debian mirror this machine's apt uses (deb822 "URIs:" or one-line "deb URI suite ..." entries).
  local uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ {print $2; exit}')"
  [[ -n $uri ]] || uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}')"
  echo "${uri:-http://deb.debian.org/debian}"
}

inside_namespace() {
  # Runs in a private mount namespace: mount, run "$@" in the chroot, unmount (trap) whatever happens.
  local binds=()
  while [[ $1 == --bind ]]; do binds+=("$2"); shift 2; done
  mounted=()
  trap 'for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R "${mounted[i]}" || umount -lR "${mounted[i]}"; done' EXIT
  local dir
  for dir in /proc /dev /sys "${binds[@]}"; do
    mkdir -p "$ROOT$dir"
    mount --rbind "$dir" "$ROOT$dir"
    mount --make-rslave "$ROOT$dir"
    mounted+=("$ROOT$dir")
  done
  local child status
  trap '[[ -n ${child:-} ]] && kill -TERM "$child" 2> /dev/null' TERM INT HUP
  chroot "$ROOT" /usr/bin/env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" <&0 &
  child=$!
  wait "$child" && status=0 || status=$?
  while kill -0 "$child" 2> /dev/null; do wait "$child" && status=0 || status=$?; done
  return "$status"
}

namespace=(unshare --mount --propagation private -- bash -c
  "set -euo pipefail; $(declare -f inside_namespace); ROOT='$ROOT'; inside_namespace \"\$@\"" trixie_blender)
in_chroot() { "${namespace[@]}" "$@"; }

missing_packages() {
  local package
  for package in "${PACKAGES[@]}"; do
    [[ "$(chroot "$ROOT" dpkg-query -W -f '${Status}' "$package" 2> /dev/null)" == "install ok installed" ]] \
      || echo "$package"
  done
}

complete() {
  [[ -x $ROOT/usr/bin/apt-get && ! -d $ROOT/debootstrap && -z "$(missing_packages)" ]]  # debootstrap/ goes when done
}

build() {
  if [[ ! -x $ROOT/usr/bin/apt-get || -d $ROOT/debootstrap ]]; then
    command -v debootstrap > /dev/null || {
      apt-get update -qq -o DPkg::Lock::Timeout=600
      apt-get install -y -qq -o DPkg::Lock::Timeout=600 debootstrap > /dev/null
    }
    rm -rf "$ROOT.partial"
    local uri
    uri="$(mirror)"
    echo "trixie_blender.sh: debootstrap trixie from $uri into $ROOT" >&2
    # In a mount namespace of its own, so the /proc and /sys it mounts cannot outlive it.
    unshare --mount --propagation private -- debootstrap --variant=minbase trixie "$ROOT.partial" "$uri" > /dev/null
    ln -sfn ../proc/self/mounts "$ROOT.partial/etc/mtab"
    rm -rf "$ROOT"
    mv "$ROOT.partial" "$ROOT"
  fi
  local missing
  missing="$(missing_packages)"
  if [[ -n $missing ]]; then
    echo "trixie_blender.sh: installing $(echo $missing) into $ROOT" >&2
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    in_chroot apt-get update -qq
    in_chroot apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" > /dev/null
    in_chroot apt-get clean
    missing="$(missing_packages)"
    [[ -z $missing ]] || die "still missing in $ROOT: $missing"
  fi
}

# Runs share the chroot (a shared lock, held by the command until it ends); a build waits for them to end.
[[ $EUID -eq 0 ]] || die "needs root (debootstrap, chroot and mounts)"
mkdir -p "$(dirname "$ROOT")"
exec {lock}> "$ROOT.lock"
flock -s "$lock"
if ! complete; then
  flock -x "$lock"
  complete || build  # another run may have built it meanwhile
  flock -s "$lock"
fi
if [[ ${1:-} != run ]]; then
  echo "$ROOT"
  exit 0
fi
shift
args=()
while [[ ${1:-} == --bind ]]; do
  [[ -d ${2:-} ]] || die "--bind needs an existing folder, got '${2:-}'"
  args+=(--bind "$(cd "$2" && pwd -P)")
  shift 2
done
[[ ${1:-} == -- ]] && shift
[[ $# -gt 0 ]] || die "run needs a command after --"
exec "${namespace[@]}" "${args[@]}" "$@"  # the caller's signals reach the command through inside_namespace
