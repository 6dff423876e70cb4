"""Bake speed and memory against Cycles' own render time, on a heavy scene built here.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/bake_speed.py
Prints tables: ms per frame of the full bake (.npy + HDF5, with each HDF5 compression) and of
the Cycles floor (same scene, same settings, vector pass only, nothing converted or written),
stage shares, the effect of the bake's render settings, and peak memory for 10 and 100 frames.
Blender's own render log is silenced so that only the tables reach standard output.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from statistics import median
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy

from optical_flow_addon.blender.bake import bake_flow, memory_folder, render_frame
from optical_flow_addon.blender.settings_guard import SettingsGuard
from optical_flow_addon.blender.render_settings import (configure_flow_render,
                                                        flow_view_layer, shading_override)
from optical_flow_addon.core import flow
from optical_flow_addon.core.rendered_exr import read_vector_and_depth
from optical_flow_addon.core.flow_files import WRITERS
from optical_flow_addon.core.flow import FLOW_CONVERSIONS
from optical_flow_addon.core.formats.hdf5 import HDF5_COMPRESSIONS
from optical_flow_addon.core.options import BakeOptions


def costly_material() -> bpy.types.Material:
    """Layered noise and Voronoi with bump: expensive to shade, as production materials are."""
    material = bpy.data.materials.new("Costly")
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    shader = nodes["Principled BSDF"]
    previous = None
    for i in range(6):
        noise = nodes.new("ShaderNodeTexNoise")
        noise.inputs["Scale"].default_value = 3.0 + 7 * i
        noise.inputs["Detail"].default_value = 15.0
        voronoi = nodes.new("ShaderNodeTexVoronoi")
        links.new(noise.outputs["Fac"], voronoi.inputs["Scale"])
        if previous is not None:
            mix = nodes.new("ShaderNodeMath")
            links.new(previous, mix.inputs[0])
            links.new(voronoi.outputs["Distance"], mix.inputs[1])
            previous = mix.outputs[0]
        else:
            previous = voronoi.outputs["Distance"]
    bump = nodes.new("ShaderNodeBump")
    links.new(previous, bump.inputs["Height"])
    links.new(bump.outputs["Normal"], shader.inputs["Normal"])
    links.new(previous, shader.inputs["Roughness"])
    links.new(noise.outputs["Color"], shader.inputs["Base Color"])
    return material


def heavy_scene(frames: int) -> tuple[bpy.types.Scene, int]:
    """About a million triangles in three moving spheres, two moving cubes and a floor; a moving camera."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    material = costly_material()
    bpy.ops.mesh.primitive_plane_add(size=40)
    for i in range(5):
        if i % 2 == 0:
            bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=8, radius=1.2, location=(3 * i - 6, 2, 1.2))
        else:
            bpy.ops.mesh.primitive_cube_add(size=1.6, location=(3 * i - 6, 0, 0.8))
        moving = bpy.context.object
        for frame, dz in ((1, 0.0), (frames, 1.5)):
            moving.location.z, moving.rotation_euler.z = 1.2 + dz, dz
            moving.keyframe_insert("location", frame=frame)
            moving.keyframe_insert("rotation_euler", frame=frame)
    for obj in scene.objects:
        obj.data.materials.append(material)
    bpy.ops.object.light_add(type="SUN")
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    for frame, x in ((1, -1.0), (frames, 1.0)):
        camera.location, camera.rotation_euler = (x, -12, 4), (1.3, 0, 0)
        camera.keyframe_insert("location", frame=frame)
    scene.frame_start, scene.frame_end = 1, frames
    triangles = sum(len(o.data.polygons) * (2 if len(o.data.polygons[0].vertices) == 4 else 1)
                    for o in scene.objects if o.type == "MESH")
    return scene, triangles


def set_resolution(scene, width: int, height: int) -> None:
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100


def floor_ms(scene, frames, own_materials: bool = False, vector_pass: bool = True) -> float:
    """Cycles alone: the bake's settings (or the scene's own shading), the Vector pass (unless not ``vector_pass``:
    then the Depth pass alone, the least a flow render writes), no files read or converted.

    Like a bake, it starts from the user's settings, so both pay the first frame's scene sync.
    """
    with SettingsGuard() as guard, tempfile.TemporaryDirectory() as folder:
        configure_flow_render(scene, guard, shading_override(scene, guard)[0], vector_pass)
        guard.set(scene.render, "filepath", str(Path(folder) / "frame"))
        if own_materials:
            guard.set(scene.view_layers[0], "material_override", None)
            guard.set(scene.render, "use_persistent_data", False)
            for name in ("max_bounces", "diffuse_bounces", "glossy_bounces", "transmission_bounces", "volume_bounces"):
                guard.set(scene.cycles, name, scene.cycles.bl_rna.properties[name].default)
        started = time.perf_counter()
        for frame in frames:
            scene.frame_set(frame)
            bpy.ops.render.render()
        return (time.perf_counter() - started) * 1000 / len(frames)


def bake_ms(scene, frames, folder: Path, hdf5_compression: str = "NONE") -> float:
    # flow only: occlusion_speed.py has the rest
    options = BakeOptions(folder, frames[0], frames[-1], scene.frame_start, scene.frame_end, overwrite=True,
                          hdf5_compression=hdf5_compression, occlusion=False)
    started = time.perf_counter()
    for _ in bake_flow(scene, options):
        pass
    return (time.perf_counter() - started) * 1000 / len(frames)


def stage_ms(scene, frames, folder: Path) -> dict[str, float]:
    """Each stage on its own, one after the other (no overlap), ms per frame."""
    totals = dict.fromkeys(["render + EXR write", "EXR read", "flow + masks", "write .npy", "write HDF5"], 0.0)
    options = BakeOptions(folder, frames[0], frames[-1], scene.frame_start, scene.frame_end, overwrite=True,
                          occlusion=False)
    folder.mkdir(parents=True, exist_ok=True)
    size = (scene.render.resolution_x, scene.render.resolution_y)
    with SettingsGuard() as guard, tempfile.TemporaryDirectory(dir=memory_folder(*size)) as exr_folder:  # as a bake
        configure_flow_render(scene, guard, shading_override(scene, guard)[0])
        view_layer = flow_view_layer(scene).name
        render_frame(scene, frames[0], Path(exr_folder) / "first.exr", guard)
        for frame in frames:
            marks = [time.perf_counter()]
            exr = render_frame(scene, frame, Path(exr_folder) / f"flow_{frame}.exr", guard)
            marks.append(time.perf_counter())
            vector, depth = read_vector_and_depth(exr, view_layer)
            marks.append(time.perf_counter())
            hit = flow.surface_hit(depth)
            arrays = {}
            for name, convert in FLOW_CONVERSIONS.items():
                arrays[name] = convert(vector, False)
                arrays[f"{name}_valid"] = flow.validity_mask(arrays[name], hit, False)
            marks.append(time.perf_counter())
            WRITERS["NPY"].write(options.output_dir, frame, arrays, options)
            marks.append(time.perf_counter())
            WRITERS["HDF5"].write(options.output_dir, frame, arrays, options)
            marks.append(time.perf_counter())
            for key, start, end in zip(totals, marks, marks[1:]):
                totals[key] += (end - start) * 1000
    return {key: value / len(frames) for key, value in totals.items()}


def peak_memory_mb(frames: int, width: int, height: int) -> float:
    """Peak resident memory of a fresh process baking ``frames`` frames."""
    result = subprocess.run([sys.executable, __file__, "--memory-run", str(frames),
                             "--resolutions", f"{width}x{height}"], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def hdf5_mb_per_frame(folder: Path) -> float:
    sizes = [path.stat().st_size for path in folder.glob("*.hdf5")]
    return sum(sizes) / len(sizes) / 1e6


def silence_blender() -> TextIO:
    """Send Blender's per-render log (written to file descriptor 1) to nowhere; return a stream for the tables."""
    report = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return report


def ratio_rows(times: dict[str, list[float]], heading: str) -> list[list[str]]:
    """Rows of a table: each bake's median ms per frame and its ratio to the first bake's of the same round
    (median, lowest–highest)."""
    rows = [["bake", "ms/frame", heading]]
    base = next(iter(times.values()))
    for name, measured in times.items():
        ratios = sorted(m / b for m, b in zip(measured, base))
        rows.append([name, f"{median(measured):.0f}", f"{median(ratios):.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})"])
    return rows


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="frames timed per resolution and bake")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (floor, one bake per HDF5 compression)")
    parser.add_argument("--shading-frames", type=int, default=4,
                        help="frames timed with the scene's own (slow) shading")
    parser.add_argument("--resolutions", default="640x480,1280x720")
    parser.add_argument("--cycles-threads", type=int, default=0,
                        help="render threads for Cycles (default: all cores); "
                             "fewer leaves the flow writer a core of its own")
    parser.add_argument("--memory-frames", default="10,100", help="frame counts for the peak-memory runs")
    parser.add_argument("--memory-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    resolutions = [tuple(int(v) for v in r.split("x")) for r in args.resolutions.split(",")]
    report = silence_blender()

    if args.memory_run:
        scene, _ = heavy_scene(args.memory_run)
        set_resolution(scene, *resolutions[0])
        with tempfile.TemporaryDirectory() as folder:
            bake_ms(scene, list(range(1, args.memory_run + 1)), Path(folder))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=report)
        return

    scene, triangles = heavy_scene(args.frames)
    frames = list(range(1, args.frames + 1))
    if args.cycles_threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", args.cycles_threads
    floor_ms(scene, frames[:1])  # load Cycles' kernels once, outside every timing
    print(f"Blender {bpy.app.version_string}, {triangles:,} triangles, {args.frames} frames, "
          f"{os.cpu_count()} CPU cores, Cycles on {scene.render.threads}\n", file=report)
    speed = [["resolution", "HDF5 compression", "full bake ms/frame", "Cycles floor ms/frame", "ratio (lowest–highest)",
              "HDF5 MB/frame"]]
    stages = [["resolution", "render + EXR write", "EXR read", "flow + masks", "write .npy", "write HDF5"]]
    settings = [["resolution", "scene's own shading ms/frame", "bake settings ms/frame", "speed-up"]]
    for width, height in resolutions:
        set_resolution(scene, width, height)
        name = f"{width}x{height}"
        with tempfile.TemporaryDirectory() as folder:
            floors, bakes = [], {c: [] for c in HDF5_COMPRESSIONS}
            for _ in range(args.rounds):  # Cycles' own time drifts by several %: each bake against its round's floor
                floors.append(floor_ms(scene, frames))
                for c, times in bakes.items():
                    times.append(bake_ms(scene, frames, Path(folder) / c, hdf5_compression=c))
            for c, times in bakes.items():
                ratios = sorted(ms / floor for ms, floor in zip(times, floors))
                speed.append([name, c, f"{median(times):.0f}", f"{median(floors):.0f}",
                              f"{median(ratios):.3f} ({ratios[0]:.3f}–{ratios[-1]:.3f})",
                              f"{hdf5_mb_per_frame(Path(folder) / c):.1f}"])
            parts = stage_ms(scene, frames, Path(folder) / "stages")
        shading_frames = frames[:args.shading_frames]
        own, bake_settings = floor_ms(scene, shading_frames, own_materials=True), floor_ms(scene, shading_frames)
        stages.append([name] + [f"{ms:.0f} ms" for ms in parts.values()])
        settings.append([name, f"{own:.0f}", f"{bake_settings:.0f}", f"{own / bake_settings:.2f}x"])
    print(f"Full bake (forward + backward flow, .npy + HDF5) against Cycles alone; medians of {args.rounds} rounds:",
          file=report)
    print(table(speed), "\n", file=report)
    print("Stages run one after the other (in a bake, conversion and writing overlap the next render):", file=report)
    print(table(stages), "\n", file=report)
    print(f"Render at 1 sample, {len(shading_frames)} frames: scene's own materials, no persistent data, "
          "default bounces vs. the bake's settings:", file=report)
    print(table(settings), "\n", file=report)
    counts = [int(n) for n in args.memory_frames.split(",") if n]
    width, height = resolutions[0]
    memory = [["frames", f"peak memory MB ({width}x{height})"]]
    memory += [[str(n), f"{peak_memory_mb(n, width, height):.0f}"] for n in counts]
    print(table(memory), file=report)


def run_and_exit(main) -> None:
    """Run ``main``, print any error, then leave without Blender's teardown (it can hang)."""
    status = 0
    try:
        main()
    except Exception:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run_and_exit(main)
