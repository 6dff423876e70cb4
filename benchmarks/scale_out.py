"""What a chunk of a scale-out costs before it renders, and local:2 against one process, on this machine.

Run with the bpy module and Dask:  "$(tools/venv.sh 4.5)" benchmarks/scale_out.py
Saves bake_speed.py's heavy scene as a .blend and prints two tables:
- the per-chunk overhead: a new process with ``import bpy``, then opening the scene, then a whole
  one-frame bake through the command line, against the time per frame inside a long bake;
- the wall time of one bake process with two Cycles threads against ``--scheduler local:2`` (two worker
  processes, one Cycles thread each) over the same frames, rounds alternating.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from bake_speed import heavy_scene, set_resolution, table

import bpy

ROOT = Path(__file__).resolve().parents[1]


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def bake(blend: Path, out: Path, *extra: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return seconds([sys.executable, "-m", "optical_flow_addon", "bake", str(blend), str(out), *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="frames of the wall-time bakes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--resolution", default="640x480")
    args = parser.parse_args()
    width, height = map(int, args.resolution.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="scale_out_benchmark_"))
    scene, triangles = heavy_scene(args.frames)
    set_resolution(scene, width, height)
    blend = folder / "heavy.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    python = sys.executable
    out = folder / "out"
    open_scene = f"import bpy; bpy.ops.wm.open_mainfile(filepath={str(blend)!r})"
    overhead = {
        "new process + import bpy": [seconds([python, "-c", "import bpy"]) for _ in range(args.rounds + 1)],
        "new process + import bpy + open the scene": [seconds([python, "-c", open_scene])
                                                      for _ in range(args.rounds + 1)],
        "a chunk of 1 frame (whole command)": [bake(blend, out, "--frames", "1-1", "--threads", "2")
                                               for _ in range(args.rounds + 1)],
    }
    walls: dict[str, list[float]] = {"one process, 2 Cycles threads": [],
                                     "local:2, 1 Cycles thread each, 2 chunks": [],
                                     "local:2, 1 Cycles thread each, 8 chunks": []}
    for _ in range(args.rounds):
        walls["one process, 2 Cycles threads"].append(bake(blend, out, "--threads", "2"))
        for chunks in (2, 8):
            walls[f"local:2, 1 Cycles thread each, {chunks} chunks"].append(
                bake(blend, out, "--scheduler", "local:2", "--threads", "1",
                     "--chunk-size", str(args.frames // chunks)))
    one_frame = median(overhead["a chunk of 1 frame (whole command)"])
    per_frame = (median(walls["one process, 2 Cycles threads"]) - one_frame) / (args.frames - 1)
    print(f"{triangles:,} triangles, {width}x{height}, .npy + HDF5, {args.frames} frames, median of "
          f"{args.rounds + 1} runs (overhead) and {args.rounds} rounds (wall time)\n")
    rows = [["step", "seconds", "runs"]] + [[name, f"{median(times):.2f}", " ".join(f"{t:.2f}" for t in times)]
                                            for name, times in overhead.items()]
    rows.append(["each further frame of a long bake", f"{per_frame:.2f}", ""])
    rows.append(["overhead per chunk (1-frame chunk - a further frame)", f"{one_frame - per_frame:.2f}", ""])
    print(table(rows) + "\n")
    base = median(walls["one process, 2 Cycles threads"])
    rows = [["bake", "wall s", "against one process", "runs"]] + [
        [name, f"{median(times):.1f}", f"{median(times) / base:.2f}", " ".join(f"{t:.1f}" for t in times)]
        for name, times in walls.items()]
    print(table(rows))
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
