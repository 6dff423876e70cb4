#!/usr/bin/env bash
# Build a small scene with BlenderProc's five example camera poses and bake its flow into demo_output/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="$("$root/tools/venv.sh" 4.5)"
cd "$root"
exec "$python" -m optical_flow_addon demo demo_output --overwrite "$@"
