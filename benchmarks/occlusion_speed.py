"""Cost of occlusion masks, frame gaps and scene flow against today's flow-only bake (Vector pass).

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/occlusion_speed.py
Uses bake_speed.py's heavy scene (moving objects and camera), and the same scene with only the camera
moving. Each round bakes every row once, in turn; the table gives medians of ms per frame, of the flow writer's
CPU time per frame and of each row's ratio to the flow-only bake of its round (.npy files only, so writing stays
a small share). The self-check (on by default) runs in the writer; one row bakes without it.

The CPU columns add the processor time of the whole Blender process (Cycles' threads included) and of the flow
writer: the work a bake asks of the machine, which other programs running beside it change far less than the
wall-clock time (they still make it vary by several per cent: caches, and Cycles' threads that spin while they wait).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy

from bake_speed import (floor_ms, heavy_scene, ratio_rows, run_and_exit, set_resolution, silence_blender,
                        table)
from optical_flow_addon.blender.bake import bake_flow
from optical_flow_addon.core.options import BakeOptions

ROWS = {  # row name -> BakeOptions fields
    "flow only, K=1 (Vector pass)": {"occlusion": False},
    "occlusion, K=1 (default)": {},
    "occlusion, K=1, self-check off": {"verify": False},
    "occlusion + scene flow, K=1": {"scene_flow": True},
    "occlusion, K=3": {"frame_gap": 3},
}


MEMORY_ROWS = [name for name in ROWS if "self-check" not in name]


def writer_cpu_s() -> float:
    """CPU seconds of the flow writers that have ended (each bake's writer is waited for when the bake ends)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bake_ms(scene, frames: list[int], folder: Path, fields: dict) -> tuple[float, float, float]:
    """Wall-clock ms per frame of the bake, CPU ms per frame of its flow writer, and of Blender and the writer."""
    options = BakeOptions(folder, frames[0], frames[-1], scene.frame_start, scene.frame_end, overwrite=True,
                          formats=frozenset({"NPY"}), **fields)
    started, blender, writer = time.perf_counter(), time.process_time(), writer_cpu_s()
    for _ in bake_flow(scene, options):
        pass
    writer = writer_cpu_s() - writer
    return ((time.perf_counter() - started) * 1000 / len(frames), writer * 1000 / len(frames),
            (time.process_time() - blender + writer) * 1000 / len(frames))


def interleaved_rounds(scene, frames: list[int], folder: Path, rows: dict[str, dict], rounds: int) -> dict:
    """Row name -> ms per frame of each round; Cycles' kernels are loaded first, and each round bakes every row
    once, in turn, so that the machine's changing load falls on all rows alike."""
    floor_ms(scene, frames[:1])
    times = {name: [] for name in rows}
    for round_ in range(rounds):
        for name, fields in rows.items():
            times[name].append(bake_ms(scene, frames, folder / f"{round_}_{len(times[name])}", fields)[0])
    return times


def ratio_benchmark(doc: str, make_scene, rows: dict[str, dict], heading: str,
                    memory_rows: tuple[str, ...] = ()) -> None:
    """The command line of a benchmark whose rows are bakes of one scene (``make_scene(folder, frames)``) compared
    with its first row: --frames, --rounds, --resolution, --rows, then the table; with ``memory_rows``,
    --memory-frames and a table of each such row's peak memory in a fresh process."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--rows", help="comma-separated words: only the rows whose names hold one (and the first)")
    add_memory_arguments(parser, "10,100" if memory_rows else "")
    args = parser.parse_args()
    if args.rows:
        first, words = next(iter(rows)), args.rows.split(",")
        rows = {name: fields for name, fields in rows.items() if name == first or any(w in name for w in words)}
    width, height = (int(v) for v in args.resolution.split("x"))
    report = silence_blender()
    if args.memory_run:
        with tempfile.TemporaryDirectory() as folder:
            scene = make_scene(Path(folder), args.memory_run)
            set_resolution(scene, width, height)
            print_peak_memory(scene, args.memory_run, Path(folder), rows[args.memory_row], report)
        return
    frames = list(range(1, args.frames + 1))
    print(f"Blender {bpy.app.version_string}, {args.resolution}, {args.frames} frames, {os.cpu_count()} CPU cores\n",
          file=report)
    if args.rounds:
        with tempfile.TemporaryDirectory() as folder:
            scene = make_scene(Path(folder), args.frames)
            set_resolution(scene, width, height)
            times = interleaved_rounds(scene, frames, Path(folder), rows, args.rounds)
        print(table(ratio_rows(times, heading)), "\n", file=report)
    print_memory_table(args, memory_rows, report)


def add_memory_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--memory-frames", default=default, help="frame counts of the peak-memory table (empty: none)")
    parser.add_argument("--memory-run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-row", help=argparse.SUPPRESS)


def print_peak_memory(scene, frames: int, folder: Path, fields: dict, report) -> None:
    """What a --memory-run process prints: the peak memory (MB) of this process and of its flow writer."""
    bake_ms(scene, list(range(1, frames + 1)), folder / "memory", fields)
    print(*[resource.getrusage(who).ru_maxrss / 1024 for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)],
          file=report)


def print_memory_table(args: argparse.Namespace, rows: tuple[str, ...] | list[str], report) -> None:
    """Per frame count of --memory-frames, each row's peak memory in a fresh process of this script."""
    counts = [int(n) for n in args.memory_frames.split(",") if n]
    if counts and rows:
        memory = [["frames"] + [f"peak MB (Blender + writer), {name}" for name in rows]]
        memory += [[str(n)] + [peak_memory_mb(n, args.resolution, name) for name in rows] for n in counts]
        print(table(memory), file=report)


def camera_only(scene) -> None:
    """Stop every object but the camera: only the camera moves."""
    for obj in scene.objects:
        if obj != scene.camera:
            obj.animation_data_clear()


def peak_memory_mb(frames: int, resolution: str, row: str) -> str:
    """Peak resident memory of a fresh process of the running benchmark baking ``frames`` frames, and of its flow
    writer."""
    result = subprocess.run([sys.executable, sys.argv[0], "--memory-run", str(frames), "--resolution", resolution,
                             "--memory-row", row], capture_output=True, text=True, check=True)
    blender, writer = (float(mb) for mb in result.stdout.split()[-2:])
    return f"{blender:.0f} + {writer:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resolution", default="640x480")
    add_memory_arguments(parser, "10,100")
    args = parser.parse_args()
    width, height = (int(v) for v in args.resolution.split("x"))
    report = silence_blender()
    if args.memory_run:
        scene, _ = heavy_scene(args.memory_run)
        set_resolution(scene, width, height)
        with tempfile.TemporaryDirectory() as folder:
            print_peak_memory(scene, args.memory_run, Path(folder), ROWS[args.memory_row], report)
        return
    frames = list(range(1, args.frames + 1))
    print(f"Blender {bpy.app.version_string}, {args.resolution}, {args.frames} frames, {os.cpu_count()} CPU cores\n",
          file=report)
    rows = [["scene", "bake", "ms/frame", "writer CPU ms/frame (with its start)",
             "ratio to flow only (lowest–highest)", "CPU ms/frame (Blender + writer)", "CPU ratio (lowest–highest)"]]
    for motion in ("objects and camera move", "only the camera moves") if args.rounds else ():
        scene, _ = heavy_scene(args.frames)
        if motion.startswith("only"):
            camera_only(scene)
        set_resolution(scene, width, height)
        floor_ms(scene, frames[:1])  # load Cycles' kernels once, outside every timing
        times = {name: [] for name in ROWS}
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(args.rounds):
                for name, fields in ROWS.items():
                    times[name].append(bake_ms(scene, frames, Path(folder) / str(len(times[name])), fields))
        base = times[next(iter(ROWS))]
        for name, measured in times.items():
            ms, writer, cpu = zip(*measured)
            ratios = sorted(m / b[0] for m, b in zip(ms, base))
            cpu_ratios = sorted(c / b[2] for c, b in zip(cpu, base))
            rows.append([motion, name, f"{median(ms):.0f}", f"{median(writer):.0f}",
                         f"{median(ratios):.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})", f"{median(cpu):.0f}",
                         f"{median(cpu_ratios):.2f} ({cpu_ratios[0]:.2f}–{cpu_ratios[-1]:.2f})"])
    if args.rounds:
        print(table(rows), "\n", file=report)
    print_memory_table(args, MEMORY_ROWS, report)


if __name__ == "__main__":
    run_and_exit(main)
