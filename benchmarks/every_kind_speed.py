"""Cost of exact flow for every object kind (modifier stacks, instances, text, curves) against the Vector pass.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/every_kind_speed.py
Bakes the test scene of tests/test_bake_every_object_kind.py (tests/scenes.py ``every_kind_scene``, every kind
of object that the surface motion follows, at the resolution asked for) in rounds; each round bakes every row
once, in turn. The table gives medians of ms per frame and each row's ratio to the Vector-pass bake of its round
(flow only, frame gap 1: the bake BlenderProc makes), lowest–highest over the rounds. .npy files only.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy

from bake_speed import floor_ms, ratio_rows, run_and_exit, set_resolution, silence_blender, table
from occlusion_speed import bake_ms
import scenes

ROWS = {  # row name -> BakeOptions fields
    "flow only, K=1 (Vector pass)": {"occlusion": False},
    "surface motion: occlusion, self-check, K=1 (default)": {},
    "surface motion: occlusion, K=1, self-check off": {"verify": False},
    "surface motion: occlusion + scene flow, K=3": {"frame_gap": 3, "scene_flow": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resolution", default="640x480")
    args = parser.parse_args()
    width, height = (int(v) for v in args.resolution.split("x"))
    report = silence_blender()
    frames = list(range(1, args.frames + 1))
    print(f"Blender {bpy.app.version_string}, {args.resolution}, {args.frames} frames, {os.cpu_count()} CPU cores\n",
          file=report)
    with tempfile.TemporaryDirectory() as folder:
        scene, _ = scenes.every_kind_scene(Path(folder), args.frames)
        set_resolution(scene, width, height)
        floor_ms(scene, frames[:1])  # load Cycles' kernels once, outside every timing
        times = {name: [] for name in ROWS}
        for round_ in range(args.rounds):
            for name, fields in ROWS.items():
                times[name].append(bake_ms(scene, frames, Path(folder) / f"{round_}_{len(times[name])}", fields)[0])
    print(table(ratio_rows(times, "ratio to the Vector pass (lowest–highest)")), file=report)


if __name__ == "__main__":
    run_and_exit(main)
