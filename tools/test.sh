#!/usr/bin/env bash
# Run the whole test suite: the pure core without bpy, then everything on Blender 4.2, 4.5 and 5.0.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
status=0
for name in core 4.2 4.5 5.0; do
  label="bpy $name"; [[ $name == core ]] && label="no bpy (pure core)"
  echo "=== tests with $label ==="
  python="$("$root/tools/venv.sh" "$name")" || { status=1; continue; }
  "$python" -m pytest -q "$@" || status=1
done
exit $status
