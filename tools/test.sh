#!/usr/bin/env bash
# Run the whole test suite: the pure core without bpy and the window test (Debian's blender under Xvfb),
# then everything else on Blender 4.2, 4.5 and 5.0.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
status=0
for name in core 4.2 4.5 5.0; do
  # The window test drives Debian's blender, not the bpy module: it runs once, with the pure core.
  label="bpy $name"; only=(-m "not window"); [[ $name == core ]] && { label="no bpy (pure core) + window test"; only=(); }
  echo "=== tests with $label ==="
  python="$("$root/tools/venv.sh" "$name")" || { status=1; continue; }
  "$python" -m pytest -q "${only[@]}" "$@" || status=1
done
exit $status
