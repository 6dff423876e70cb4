"""Cost of point tracks: the default bake with and without N tracks, and the memory that following them takes.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/tracks_speed.py
Bakes the test scene of tests/blender/test_bake_tracks.py (tests/scenes.py ``occlusion_scene``: the camera translates
and turns, a rigid box passes in front of a shape-key sphere and an armature-bent cylinder, open sky) in rounds; each
round bakes both rows in turn. The table gives medians of ms per frame and the ratio of the tracks bake to the bake
without them in the same round, lowest–highest. Then the peak of Python's and numpy's allocations (tracemalloc) while
following ``--memory-tracks`` tracks over ``--memory-frames`` frames, without rendering.
"""
from __future__ import annotations

import argparse
import os
import sys
import tracemalloc
from pathlib import Path
import tempfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy

from bake_speed import ratio_rows, run_and_exit, set_resolution, silence_blender, table
from occlusion_speed import interleaved_rounds
import scenes
from optical_flow_addon.blender.tracks import follow_tracks
from optical_flow_addon.core.options import BakeOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--tracks", type=int, default=2048)
    parser.add_argument("--memory-tracks", type=int, default=10000)
    parser.add_argument("--memory-frames", type=int, default=120)
    args = parser.parse_args()
    width, height = (int(v) for v in args.resolution.split("x"))
    report = silence_blender()
    frames = list(range(1, args.frames + 1))
    print(f"Blender {bpy.app.version_string}, {args.resolution}, {args.frames} frames, {args.tracks} tracks, "
          f"{os.cpu_count()} CPU cores\n", file=report)
    rows = {"default bake": {}, f"default bake + {args.tracks} tracks": {"point_tracks": True,
                                                                          "track_count": args.tracks}}
    with tempfile.TemporaryDirectory() as folder:
        scene, _ = scenes.occlusion_scene(args.frames)
        set_resolution(scene, width, height)
        times = interleaved_rounds(scene, frames, Path(folder), rows, args.rounds)
        scene, _ = scenes.occlusion_scene(args.memory_frames)
        set_resolution(scene, width, height)
        options = BakeOptions(Path(folder), 1, args.memory_frames, point_tracks=True, track_count=args.memory_tracks)
        tracemalloc.start()
        follow_tracks(scene, options)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(table(ratio_rows(times, "ratio to the bake without tracks (lowest–highest)")), file=report)
    print(f"\nFollowing {args.memory_tracks} tracks over {args.memory_frames} frames: peak allocations "
          f"{peak / 1e6:.0f} MB", file=report)


if __name__ == "__main__":
    run_and_exit(main)
