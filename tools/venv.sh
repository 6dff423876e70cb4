#!/usr/bin/env bash
# Create (once) .venv/<name> with Python 3.11 and the pinned packages; print its python.
#   tools/venv.sh core     -> no bpy: for the pure core, ruff and the documentation site (MkDocs + Material)
#   tools/venv.sh 4.5      -> bpy of that Blender line (4.2, 4.5, 5.0)
#   tools/venv.sh torch    -> torchvision and ptlflow, whose dataset classes load the training layouts
#   tools/venv.sh blenderproc -> BlenderProc 2.8 and OpenCV, whose `blenderproc vis hdf5` the tests run on our files
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
declare -A EXTRA=([core]="ruff==0.17.6 import-linter==2.16 mkdocs==1.6.1 mkdocs-material==9.8.1 mkdocstrings==1.0.8 mkdocstrings-python==2.0.11" [4.2]="bpy==4.2.23" [4.5]="bpy==4.5.4" [5.0]="bpy==5.0.1"
                  [torch]="torch==2.14.1 torchvision==0.29.1 ptlflow==0.4.2"
                  [blenderproc]="blenderproc==2.8.0 opencv-python-headless==4.10.0.84")
name="$1"
venv="$root/.venv/$name"
stamp="$venv/.installed"
mkdir -p "$root/.venv"
exec {lock}> "$root/.venv/$name.lock"
flock "$lock"  # tools/test.sh builds one environment in the background while tests may ask for it
want="$(cat "$root/tools/requirements.txt")${EXTRA[$name]:+ ${EXTRA[$name]}}"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  python3.11 -m venv --clear "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tools/requirements.txt" \
    ${EXTRA[$name]:-} >&2
  printf '%s' "$want" > "$stamp"
fi
echo "$venv/bin/python"
