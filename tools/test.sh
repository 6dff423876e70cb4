#!/usr/bin/env bash
# Run ruff and the whole test suite: the pure core without bpy and the window tests (Debian's blender 3.4, and
# Blender 4.3 in the Debian trixie chroot of tools/trixie_blender.sh, under Xvfb), then everything that needs
# bpy on Blender 4.2, 4.5 and 5.0, then the training layouts loaded with torchvision and ptlflow.
# The tests mirror the package: tests/core, tests/blender, tests/cli, and tests/loaders (the layouts loaded by
# torchvision and ptlflow). The pure-core tests (tests/core) import no bpy, so they run once, in the first stage.
# The tests of the command line's process handling (marker any_blender_line: kills, resume, signals, a full
# disk, Dask) add nothing Blender-specific to the bake that the other tests check on each line, so they run on one line, ANY_LINE.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# The real-Blender tests (Debian's blender 3.4, headless and in a window on a virtual screen) need
# these Debian packages; Debian's blender uses Debian's numpy and h5py. optipng (libpng) writes the
# PNG files with every row filter that the PNG reader's tests read.
missing_packages() {
  for tool in blender Xvfb xdotool import optipng; do command -v "$tool" > /dev/null || return 0; done
  ! dpkg -s python3-numpy python3-h5py > /dev/null 2>&1
}
if missing_packages && [[ $EUID -eq 0 ]] && command -v apt-get > /dev/null; then
  apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    blender xvfb xdotool imagemagick optipng python3-numpy python3-h5py > /dev/null
fi
status=0
loaders="tests/loaders"  # the layouts with their loaders need torch: only in its own environment
ANY_LINE=4.5
# A bpy test keeps about one core busy (Python, the writer process and Cycles at a tiny size take turns), so each
# Blender line's tests run in as many pytest processes as there are cores, up to 4, a test file per process.
workers=$(( $(nproc) < 4 ? $(nproc) : 4 ))
# Each Blender line's environment is built while the stage before it runs (the window tests mostly wait on
# Blender): at most two lines' environments exist at once, as CI removes each after its stage.
lines=(core 4.2 4.5 5.0 torch)
declare -A next_line=([core]=4.2 [4.2]=4.5 [4.5]=5.0)
for name in "${lines[@]}"; do
  [[ -z $* && -n ${next_line[$name]:-} ]] && { "$root/tools/venv.sh" "${next_line[$name]}" > /dev/null 2>&1 & }
  # The window tests drive the blender program, not the bpy module: they run once, with the pure core.
  case $name in
    core) label="no bpy (pure core) + window test"; only=(--ignore="$loaders") ;;
    torch) label="training layouts with torchvision and ptlflow"; only=($loaders) ;;
    *) label="bpy $name"; marks="not window"; [[ $name == "$ANY_LINE" ]] || marks+=" and not any_blender_line"
       only=(-m "$marks" --ignore="$loaders" --ignore=tests/core -n "$workers" --dist loadfile) ;;
  esac
  echo "=== tests with $label (${SECONDS} s after the start) ==="
  python="$("$root/tools/venv.sh" "$name")" || { status=1; continue; }
  if [[ $name == core ]]; then
    echo "=== ruff check (ruff.toml) ==="
    "$python" -m ruff check . || status=1
    echo "=== import contracts (.importlinter: layers, a core without bpy, no circles) ==="
    contracts="$(mktemp)"  # the whole report only when a contract is broken
    if "$(dirname "$python")/lint-imports" --no-cache --no-logo > "$contracts" 2>&1; then grep Contracts: "$contracts"
    else cat "$contracts"; status=1; fi
    rm -f "$contracts"
    echo "=== documentation site (mkdocs build --strict: a broken link or a page left out fails) ==="
    site="$(mktemp -d)"
    NO_MKDOCS_2_WARNING=1 "$python" -m mkdocs build --strict --quiet --site-dir "$site" || status=1
    rm -rf "$site"
  fi
  "$python" -m pytest -q "${only[@]}" "$@" || status=1
  # A CI machine is fresh and its disk may be small: drop what no later step uses (about 1.1 GB per Blender
  # line, and the 1.4 GB chroot after the window tests). The torch and BlenderProc environments serve every stage.
  if [[ ${CI:-} == true ]]; then
    chroot="${OPTICAL_FLOW_TRIXIE:-/var/cache/optical-flow-trixie}"
    [[ $name == core && -d $chroot ]] && flock -x "$chroot.lock" rm -rf "$chroot"  # after runs that share it
    [[ $name == [0-9]* ]] && rm -rf "$root/.venv/$name"
  fi
done
wait
echo "=== all stages took ${SECONDS} s ==="
exit $status
