"""Where a frame's time goes: flow only (Vector pass) against occlusion (surface motion), stage by stage.

Run with the bpy module:  "$(tools/venv.sh 4.5)" benchmarks/occlusion_stages.py
Bakes occlusion_speed.py's scene (objects and camera move, or only the camera with --camera-only) with each
method, waiting for the flow writer right after each frame is handed to it, so that Cycles' phases are timed
without the writer competing for the cores. Cycles' phases come from its own progress reports; the table gives
the lowest ms per frame over the rounds, which other programs on the machine raise least. The renders are kept
and the writer's work is then replayed on them in a process set up as the writer is, each stage timed in
processor time (best of the repeats).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical_flow_addon.core import frame, frame_window, rendered_exr, surface_motion  # noqa: E402
from optical_flow_addon.core.frame_writer import KEEP_FREED_MEMORY, ONE_THREAD  # noqa: E402
from optical_flow_addon.core.options import BakeOptions  # noqa: E402

ROWS = {"flow only (Vector pass)": {"occlusion": False}, "occlusion, K=1 (default)": {}}
# --truth: truth_speed.py's stereo test scene, the default bake against normals and stereo
TRUTH_ROWS = {"default": {}, "+ normals": {"normals": True}, "+ stereo": {"stereo": True}}
CYCLES_PHASES = [("Synchronizing", "sync objects"), ("Updating Scene BVH", "build BVH"),
                 ("Updating Mesh", "copy meshes and attributes"), ("Updating Objects |", "copy meshes and attributes"),
                 ("Sample 0", "render pixels"), ("Sample", "write passes and EXR"),
                 ("Finished", "write passes and EXR")]


class Stages:
    """Exclusive processor (or wall-clock) time per stage: a stage timed inside another is not counted twice."""

    def __init__(self, clock=time.process_time) -> None:
        self.clock, self.totals, self.stack = clock, defaultdict(float), []

    def wrap(self, owner, name: str, stage: str) -> None:
        function = getattr(owner, name)

        def timed(*args, **kwargs):
            self.stack.append(0.0)
            started = self.clock()
            try:
                return function(*args, **kwargs)
            finally:
                spent = self.clock() - started
                inner = self.stack.pop()
                self.totals[stage] += spent - inner
                if self.stack:
                    self.stack[-1] += spent

        setattr(owner, name, timed)


def cycles_phase(report: str) -> str:
    parts = report.split(" | ")
    step = parts[4] if len(parts) > 4 else ""
    return next((stage for prefix, stage in CYCLES_PHASES if step.startswith(prefix)), "other")


def bake_with_stages(scene, frames: list[int], folder: Path, fields: dict, keep: Path | None) -> dict[str, float]:
    """Bake with the writer waited for after each frame; wall-clock ms per frame of each stage. ``keep``: copy
    each render there, with what the writer was told, for the replay."""
    import bpy

    from optical_flow_addon.blender import bake
    from optical_flow_addon.blender.surface_motion import SurfaceMotion
    from optical_flow_addon.core.frame_writer import FrameWriter

    stages = Stages(time.perf_counter)
    reports: list[tuple[float, str]] = []
    originals = (bake.render_frame, SurfaceMotion.prepare, FrameWriter.submit, FrameWriter.result)
    requests, replies = [], []

    def render_frame(scene, frame, path, guard):
        reports[:] = [(time.perf_counter(), "")]
        try:
            return originals[0](scene, frame, path, guard)
        finally:
            marks = reports + [(time.perf_counter(), "")]
            for (start, report), (end, _) in zip(marks, marks[1:]):
                stages.totals["Cycles: " + (cycles_phase(report) if report else "start")] += end - start
            if keep is not None:
                shutil.copy(path, keep / path.name)

    def submit(writer, renders, view_layer, frame, motion=None, write=True):
        requests.append({"renders": {k: Path(p).name for k, p in renders.items()}, "view_layer": view_layer,
                         "frame": frame, "motion": motion, "write": write})
        originals[2](writer, renders, view_layer, frame, motion, write)
        started = time.perf_counter()
        replies.append(originals[3](writer))
        stages.totals["writer, waited for"] += time.perf_counter() - started

    bpy.app.handlers.render_stats.append(lambda report, *_: reports.append((time.perf_counter(), report)))
    bake.render_frame, FrameWriter.submit, FrameWriter.result = render_frame, submit, lambda writer: replies.pop()
    stages.wrap(SurfaceMotion, "prepare", "Blender: motion attributes and matrices")
    options = BakeOptions(folder, frames[0], frames[-1], scene.frame_start, scene.frame_end, overwrite=True,
                          formats=frozenset({"NPY"}), **fields)
    started = time.perf_counter()
    try:
        for _ in bake.bake_flow(scene, options):
            pass
    finally:
        bake.render_frame, SurfaceMotion.prepare, FrameWriter.submit, FrameWriter.result = originals
        bpy.app.handlers.render_stats.clear()
    stages.totals["whole bake"] = time.perf_counter() - started
    if keep is not None:
        (keep / "requests.json").write_text(json.dumps({"options": options.to_json(), "requests": requests}))
    return {stage: seconds * 1000 / len(frames) for stage, seconds in stages.totals.items()}


def replay(keep: Path, repeats: int) -> dict[str, float]:
    """The writer's work on the kept renders, processor ms per frame of each stage (best of ``repeats``)."""
    stages = Stages()
    for owner, name, stage in [(rendered_exr, "read_channels", "read EXR"),
                               (frame, "convert_frame", "Vector pass to flow and masks"),
                               (frame_window, "read_frame", "passes to surface motion"),
                               (frame_window, "flow_products", "flow and validity"),
                               (surface_motion, "relative_motion", "flow and validity"),
                               (surface_motion.DepthLookup, "__init__", "occlusion: depth look-up"),
                               (surface_motion.DepthLookup, "hides", "occlusion: hidden points"),
                               (frame_window, "round_trip", "self-check"),
                               (frame, "write_products", "write .npy files"),
                               (frame_window, "write_products", "write .npy files")]:
        stages.wrap(owner, name, stage)
    saved = json.loads((keep / "requests.json").read_text())
    best: dict[str, float] = {}
    for _ in range(repeats):
        stages.totals.clear()
        with tempfile.TemporaryDirectory() as folder:
            options = BakeOptions.from_json({**saved["options"], "output_dir": folder})
            window = frame_window.FrameWindow(options)
            started = time.process_time()
            for request in saved["requests"]:
                renders = {kind: keep / name for kind, name in request["renders"].items()}
                if request["motion"]:
                    data, others = frame_window.read_frame(renders, request["view_layer"], request["motion"],
                                                           request["frame"], options)
                    window.add(request["frame"], data, others, None, request["write"])
                else:
                    frame.convert_frame(renders, request["view_layer"], request["frame"], options)
            stages.totals["all (writer's processor time)"] = time.process_time() - started
        frames = len([r for r in saved["requests"] if r["write"]])
        for stage, seconds in stages.totals.items():
            best[stage] = min(best.get(stage, float("inf")), seconds * 1000 / frames)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="replays of the writer's work")
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--camera-only", action="store_true", help="only the camera moves")
    parser.add_argument("--truth", action="store_true",
                        help="truth_speed.py's stereo scene: the default bake against normals and stereo")
    parser.add_argument("--every-kind", action="store_true",
                        help="every_kind_speed.py's scene of every object kind instead of the heavy scene")
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        print(json.dumps(replay(args.replay, args.repeats)))
        return
    from bake_speed import floor_ms, heavy_scene, set_resolution, silence_blender, table
    from occlusion_speed import camera_only

    report = silence_blender()
    width, height = (int(v) for v in args.resolution.split("x"))
    bakes = TRUTH_ROWS if args.truth else ROWS
    if args.truth:
        from truth_speed import stereo_scene
        scene = stereo_scene(Path(tempfile.gettempdir()), args.frames)
    elif args.every_kind:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import scenes
        scene = scenes.every_kind_scene(Path(tempfile.mkdtemp()), args.frames)[0]
    else:
        scene, _ = heavy_scene(args.frames)
    if args.camera_only:
        camera_only(scene)
    set_resolution(scene, width, height)
    floor_ms(scene, [1])  # load Cycles' kernels once, outside every timing
    frames = list(range(1, args.frames + 1))
    measured = {name: defaultdict(list) for name in bakes}
    writer = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for name, fields in bakes.items():
                keep = Path(folder) / f"renders {len(writer)}" if round_ == args.rounds - 1 else None
                if keep:
                    keep.mkdir()
                for stage, ms in bake_with_stages(scene, frames, Path(folder) / "out", fields, keep).items():
                    measured[name][stage].append(ms)
                if keep:
                    result = subprocess.run([sys.executable, __file__, "--replay", str(keep), "--repeats",
                                             str(args.repeats)], capture_output=True, text=True, check=True,
                                            env={**os.environ, **KEEP_FREED_MEMORY, **ONE_THREAD})
                    writer[name] = json.loads(result.stdout)
    scene_name = ("the stereo test scene" if args.truth else
                  "only the camera moves" if args.camera_only else "objects and camera move")
    print(f"{scene_name}, {args.resolution}, {args.frames} frames; Blender and Cycles: wall-clock ms per frame, "
          f"lowest of {args.rounds} rounds, the writer waited for after each frame:", file=report)
    stages = list(dict.fromkeys(stage for rows in measured.values() for stage in rows))
    rows = [["stage", *bakes]] + [[stage, *(f"{min(measured[name].get(stage, [0.0])):.1f}" for name in bakes)]
                                 for stage in sorted(stages, key=lambda s: (s == "whole bake", s))]
    print(table(rows), "\n", file=report)
    print(f"The writer's work replayed on the renders: processor ms per frame, best of {args.repeats}:", file=report)
    stages = list(dict.fromkeys(stage for times in writer.values() for stage in times))
    rows = [["stage", *bakes]] + [[stage, *(f"{writer[name].get(stage, 0.0):.1f}" for name in bakes)]
                                 for stage in sorted(stages, key=lambda s: (s.startswith("all"), s))]
    print(table(rows), file=report)


if __name__ == "__main__":
    if "--replay" in sys.argv:
        main()
    else:
        from bake_speed import run_and_exit
        run_and_exit(main)
