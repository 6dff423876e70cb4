"""Cost of the other per-pixel truth: the default bake, and with segmentation, normals, stereo or truth scale 2.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/truth_speed.py
Bakes the test scene of tests/blender/test_bake_stereo.py (tests/scenes.py ``occlusion_scene`` with a parallel Stereo
3D rig) in rounds; each round bakes every row once, in turn. The table gives medians of ms per frame and each row's
ratio to the default bake of its round, lowest–highest. .npy files only, no images. A second table gives the peak
memory of the default bake and of truth scale 2 for 10 and 100 frames (--memory-frames), each in a fresh process.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bake_speed import run_and_exit
from occlusion_speed import ratio_benchmark
import scenes

ROWS = {  # row name -> BakeOptions fields
    "default bake": {},
    "+ segmentation": {"segmentation": True},
    "+ normals": {"normals": True},
    "+ stereo (two views)": {"stereo": True},
    "truth scale 2 (2×2 samples a pixel)": {"truth_scale": 2},
}


def stereo_scene(folder: Path, frames: int):
    scene, _ = scenes.occlusion_scene(frames)
    scene.render.use_multiview, scene.render.views_format = True, "STEREO_3D"
    scene.camera.data.stereo.convergence_mode = "PARALLEL"
    return scene


def main() -> None:
    ratio_benchmark(__doc__, stereo_scene, ROWS, "ratio to the default bake (lowest–highest)",
                    memory_rows=("default bake", "truth scale 2 (2×2 samples a pixel)"))


if __name__ == "__main__":
    run_and_exit(main)
