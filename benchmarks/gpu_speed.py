"""The bake on each render device: flow only, and images with their flow, against the CPU and the images alone.

Run on a machine with a GPU, with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/gpu_speed.py
(a quick try anywhere: --devices CPU --resolution 64x48 --frames 2 --rounds 1).
On bake_speed.py's heavy scene with its own (costly) materials, for each device (OptiX, CUDA, CPU by default; one
not present is left out with a note), rounds alternate three runs over the same frames:
- images alone: the scene's render of each frame saved as PNG, as F12 and Save As would, on that device;
- flow only: both flows with masks, as .npy + HDF5;
- images and flow: the same images, both flows and masks, depth, as .npy + HDF5.
The table gives medians in ms per frame, the flow-only bake's speed-up over the CPU's, and the images-and-flow bake
over the images alone (each against its own round's run: the machine's speed drifts between rounds).
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
from image_bake_speed import images_alone_ms

from optical_flow_addon.blender.bake import bake_flow
from optical_flow_addon.blender.render_device import check_device, render_device
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.options import BakeOptions


def bake_ms(scene, frames: list[int], folder: Path, device: str, images: bool) -> tuple[float, str]:
    """ms per frame of a bake on ``device``, and the device in words."""
    options = BakeOptions(folder, frames[0], frames[-1], scene.frame_start, scene.frame_end, overwrite=True,
                          render_images=images, render_depth=images)
    started, rendered_on = time.perf_counter(), ""
    for progress in bake_flow(scene, options, device=device):
        rendered_on = progress.device
    return (time.perf_counter() - started) * 1000 / len(frames), rendered_on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="OPTIX,CUDA,CPU", help="render devices, the CPU last as the reference")
    parser.add_argument("--resolution", default="1280x720")
    parser.add_argument("--frames", type=int, default=8, help="frames timed per run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (images alone, flow only, images and flow)")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples of the images")
    args = parser.parse_args()
    report = silence_blender()
    devices = []
    for device in args.devices.upper().split(","):
        try:
            check_device(device)
            devices.append(device)
        except FlowError as error:
            print(f"note: left out: {error}", file=report)
    scene, triangles = heavy_scene(args.frames)
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.use_denoising = args.samples, False
    frames = list(range(1, args.frames + 1))
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    print(f"Blender {bpy.app.version_string}, {triangles:,} triangles with their own materials, "
          f"{args.frames} frames at "
          f"{width}x{height}, {args.samples} samples, {os.cpu_count()} CPU cores\n", file=report)
    rows = [["device", "images alone ms/frame", "flow only ms/frame", "images and flow ms/frame",
             "flow only: speed-up over the CPU", "images and flow / images alone (lowest–highest)"]]
    flow_only = {}
    with tempfile.TemporaryDirectory() as folder:
        for device in devices:
            with render_device(scene, device):  # the images alone render where the bake does
                set_resolution(scene, 64, 48)
                images_alone_ms(scene, frames[:1], Path(folder))  # load the device's kernels outside every timing
                bake_ms(scene, frames[:1], Path(folder) / "warm", device, images=False)
                set_resolution(scene, width, height)
                alone, flow, both, name = [], [], [], device
                for _ in range(args.rounds):
                    alone.append(images_alone_ms(scene, frames, Path(folder)))
                    flow.append(bake_ms(scene, frames, Path(folder) / "flow", device, images=False)[0])
                    milliseconds, name = bake_ms(scene, frames, Path(folder) / "both", device, images=True)
                    both.append(milliseconds)
            flow_only[device] = median(flow)
            ratios = sorted(b / a for a, b in zip(alone, both))
            speed_up = f"{flow_only['CPU'] / flow_only[device]:.2f}×" if "CPU" in flow_only else "(CPU last)"
            rows.append([name, f"{median(alone):.0f}", f"{median(flow):.0f}", f"{median(both):.0f}", speed_up,
                         f"{median(ratios):.3f} ({ratios[0]:.3f}–{ratios[-1]:.3f})"])
            print(table(rows), "\n", file=report)
    if "CPU" in flow_only and len(devices) > 1:  # the speed-ups of the devices timed before the CPU
        for row, device in zip(rows[1:], devices):
            row[4] = f"{flow_only['CPU'] / flow_only[device]:.2f}×"
        print(table(rows), file=report)


if __name__ == "__main__":
    run_and_exit(main)
