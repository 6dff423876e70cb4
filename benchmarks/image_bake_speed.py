"""Images with their flow: the whole bake against Blender rendering the same images alone.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/image_bake_speed.py
On bake_speed.py's heavy scene with its own (costly) materials, at each sample count and resolution,
rounds alternate two runs over the same frames:
- images alone: the scene's render of each frame saved as PNG, as F12 and Save As would;
- the bake: the same images, both flows and masks, depth, written as .npy + HDF5.
Each bake is compared with its round's images-alone time (the machine's speed drifts between rounds);
the table gives medians with the lowest and highest ratio.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bpy
from bake_speed import heavy_scene, run_and_exit, set_resolution, silence_blender, table

from optical_flow_addon.blender.bake import bake_flow
from optical_flow_addon.core.options import BakeOptions


def images_alone_ms(scene, frames: list[int], folder: Path) -> float:
    """Blender rendering and saving the frames' images with the scene's own settings."""
    settings = scene.render.image_settings
    settings.file_format, settings.color_depth, settings.color_mode = "PNG", "8", "RGB"
    started = time.perf_counter()
    for frame in frames:
        scene.frame_set(frame)
        scene.render.filepath = str(folder / f"image_{frame}")
        bpy.ops.render.render(write_still=True)
    return (time.perf_counter() - started) * 1000 / len(frames)


def bake_ms(scene, frames: list[int], folder: Path) -> float:
    options = BakeOptions(folder, frames[0], frames[-1], scene.frame_start, scene.frame_end, overwrite=True,
                          render_images=True, render_depth=True)
    started = time.perf_counter()
    for _ in bake_flow(scene, options):
        pass
    return (time.perf_counter() - started) * 1000 / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4, help="frames timed per run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (images alone, bake)")
    parser.add_argument("--samples", default="16,64", help="Cycles samples of the images")
    parser.add_argument("--resolutions", default="640x480,1280x720")
    args = parser.parse_args()
    report = silence_blender()
    scene, triangles = heavy_scene(args.frames)
    scene.render.engine = "CYCLES"
    scene.cycles.use_denoising = False
    frames = list(range(1, args.frames + 1))
    print(f"Blender {bpy.app.version_string}, {triangles:,} triangles with their own materials, {args.frames} frames, "
          f"{os.cpu_count()} CPU cores\n", file=report)
    rows = [["samples", "resolution", "images alone ms/frame", "bake with images ms/frame", "ratio (lowest–highest)"]]
    with tempfile.TemporaryDirectory() as folder:
        set_resolution(scene, 64, 48)
        images_alone_ms(scene, frames[:1], Path(folder))  # load Cycles' kernels once, outside every timing
        for samples in (int(s) for s in args.samples.split(",")):
            scene.cycles.samples = samples
            for width, height in (tuple(int(v) for v in r.split("x")) for r in args.resolutions.split(",")):
                set_resolution(scene, width, height)
                alone, baked = [], []
                for _ in range(args.rounds):
                    alone.append(images_alone_ms(scene, frames, Path(folder)))
                    baked.append(bake_ms(scene, frames, Path(folder) / "bake"))
                ratios = sorted(b / a for a, b in zip(alone, baked))
                rows.append([str(samples), f"{width}x{height}", f"{median(alone):.0f}", f"{median(baked):.0f}",
                             f"{median(ratios):.3f} ({ratios[0]:.3f}–{ratios[-1]:.3f})"])
                print(table(rows), "\n", file=report)


if __name__ == "__main__":
    run_and_exit(main)
