"""Cost of exact flow for every object kind (modifier stacks, instances, text, curves) against the Vector pass.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/every_kind_speed.py
Bakes the test scene of tests/blender/test_bake_every_object_kind.py (tests/scenes.py ``every_kind_scene``, every kind
of object that the surface motion follows, at the resolution asked for) in rounds; each round bakes every row
once, in turn. The table gives medians of ms per frame and each row's ratio to the Vector-pass bake of its round
(flow only, frame gap 1: the bake BlenderProc makes), lowest–highest over the rounds. .npy files only.
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
    "flow only, K=1 (Vector pass)": {"occlusion": False},
    "surface motion: occlusion, self-check, K=1 (default)": {},
    "surface motion: occlusion, K=1, self-check off": {"verify": False},
    "surface motion: occlusion + scene flow, K=3": {"frame_gap": 3, "scene_flow": True},
}


def main() -> None:
    ratio_benchmark(__doc__, lambda folder, frames: scenes.every_kind_scene(folder, frames)[0], ROWS,
                    "ratio to the Vector pass (lowest–highest)")


if __name__ == "__main__":
    run_and_exit(main)
