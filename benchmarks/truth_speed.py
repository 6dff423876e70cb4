"""Cost of the other per-pixel truth: the default bake, and with segmentation, normals or stereo.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/truth_speed.py
Bakes the test scene of tests/test_bake_stereo.py (tests/scenes.py ``occlusion_scene`` with a parallel Stereo 3D rig)
in rounds; each round bakes every row once, in turn. The table gives medians of ms per frame and each row's ratio to
the default bake of its round, lowest–highest. .npy files only, no images.
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
    "default bake": {},
    "+ segmentation": {"segmentation": True},
    "+ normals": {"normals": True},
    "+ stereo (two views)": {"stereo": True},
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
        scene, _ = scenes.occlusion_scene(args.frames)
        scene.render.use_multiview, scene.render.views_format = True, "STEREO_3D"
        scene.camera.data.stereo.convergence_mode = "PARALLEL"
        set_resolution(scene, width, height)
        floor_ms(scene, frames[:1])  # load Cycles' kernels once, outside every timing
        times = {name: [] for name in ROWS}
        for round_ in range(args.rounds):
            for name, fields in ROWS.items():
                times[name].append(bake_ms(scene, frames, Path(folder) / f"{round_}_{len(times[name])}", fields)[0])
    print(table(ratio_rows(times, "ratio to the default bake (lowest–highest)")), file=report)


if __name__ == "__main__":
    run_and_exit(main)
