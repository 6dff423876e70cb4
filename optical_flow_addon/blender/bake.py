"""The bake loop: render each frame's vector pass, hand the EXR to the core, restore the scene."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import bpy

from .. import __version__
from ..core.errors import FlowError
from ..core.frame import prepare_output_dir
from ..core.frame_writer import FrameWriter
from ..core.manifest import write_manifest
from ..core.options import BakeOptions
from .camera_poses import blender_camera
from .render_settings import SettingsGuard, configure_render, materials_needing_own_shading
from .surface_motion import SurfaceMotion


EXR_BYTES_PER_PIXEL = 9 * 4  # Combined (RGBA), Vector (4) and Depth, 32-bit floats


@dataclass
class BakeProgress:
    """Reported after each frame: enough for a progress bar and a summary."""

    done: int
    total: int
    frame: int
    written: list[Path]
    seconds: float
    notes: list[str] = field(default_factory=list)


def camera_record(scene: bpy.types.Scene, frame: int, flows: tuple[str, ...]) -> dict:
    """Pose and intrinsics of the scene camera at the current frame, for the manifest."""
    camera = scene.camera
    record = {
        "frame": frame,
        "flows": list(flows),
        "camera": camera.name,
        "camera_to_world": [list(row) for row in camera.matrix_world],
    }
    if camera.data.type == "PERSP":
        record["K"] = blender_camera(scene, camera.data).intrinsics().tolist()
    return record


def camera_view(scene: bpy.types.Scene) -> dict:
    """The scene camera at the current frame, as the writer projects with it."""
    camera = scene.camera
    return {"intrinsics": blender_camera(scene, camera.data).intrinsics().tolist(),
            "camera_to_world": [list(row) for row in camera.matrix_world]}


def surface_motion_or_vector_pass(scene: bpy.types.Scene, options: BakeOptions) -> tuple[BakeOptions, str]:
    """Options for the method used, and why it is Cycles' Vector pass ("" for surface motion).

    Flow alone to the neighbouring frames comes from the Vector pass, as BlenderProc's does. Occlusion,
    other frame gaps and scene flow need the surface motion passes, which need the material override
    (it carries them) and a perspective camera."""
    if options.frame_gap == 1 and not options.occlusion and not options.scene_flow:
        return options, "flow only, to the neighbouring frames"
    own_shading = materials_needing_own_shading(scene)
    if not own_shading and scene.camera.data.type == "PERSP":
        return options, ""
    because = (f"materials {', '.join(own_shading)} keep their own shading" if own_shading
               else f"the camera is {scene.camera.data.type.lower()}, not perspective")
    if options.frame_gap != 1 or options.scene_flow:
        raise FlowError(f"A frame gap above 1 and scene flow need the surface motion passes, which this scene cannot "
                        f"render because {because}. Use frame gap 1 without scene flow, or change that.")
    return replace(options, occlusion=False), because


def motion_record(options: BakeOptions, motion: SurfaceMotion | None, vector_pass: str) -> dict:
    """What the manifest says about the frame gap, the masks and the pixels left unknown."""
    return {
        "frame_gap": options.frame_gap,
        "occlusion": options.occlusion,
        "scene_flow": options.scene_flow,
        "method": "vector pass" if vector_pass else "surface motion",
        "method_note": vector_pass,
        "unknown_objects": motion.unknown if motion else {},
        "topology_changes": motion.topology_changes if motion else {},
    }


def render_frame(scene: bpy.types.Scene, frame: int, exr_folder: Path) -> Path:
    """Render one frame into a multilayer EXR and return its path."""
    scene.frame_set(frame)
    exr_path = exr_folder / f"frame_{frame}.exr"
    scene.render.filepath = str(exr_path.with_suffix(""))
    with bpy.context.temp_override(scene=scene):
        result = bpy.ops.render.render(write_still=True)
    if result != {"FINISHED"} or not exr_path.exists():
        raise FlowError(f"Blender did not render frame {frame} (render returned {', '.join(result)}).")
    return exr_path


def memory_folder(width: int, height: int) -> str | None:
    """Linux's shared-memory folder if it has room for the rendered EXRs, else None (the system's temp folder).

    In memory, the EXRs (33 MB per 1280×720 frame, deleted once read) never reach the disk, and
    Blender's EXR writes never wait for it."""
    folder = Path("/dev/shm")
    room = 8 * width * height * EXR_BYTES_PER_PIXEL  # two EXRs in flight, with room to spare
    try:
        return str(folder) if os.access(folder, os.W_OK) and shutil.disk_usage(folder).free > room else None
    except OSError:
        return None


def check_scene(scene: bpy.types.Scene | None) -> None:
    if scene is None or scene.camera is None:
        raise FlowError("The scene has no active camera: set one in Scene Properties › Camera, or import camera poses.")


def bake_flow(scene: bpy.types.Scene, options: BakeOptions) -> Iterator[BakeProgress]:
    """Bake frame by frame, yielding after each frame's files are written.

    While Cycles renders frame t+1, a worker process converts and writes frame t, so the
    add-on's own work hides behind the render and at most two frames are in memory. At every
    yield no file is being written, so closing the generator (cancel) or an error stops
    cleanly: the manifest lists the frames written and every changed setting is restored.
    """
    check_scene(scene)
    asked = options
    options, vector_pass = surface_motion_or_vector_pass(scene, options)
    prepare_output_dir(options)
    frames = options.frames
    records: list[dict] = []
    size = blender_camera(scene, scene.camera.data)
    resolution = (size.width, size.height)
    # The writer starts first: missing modules are reported before any setting changes.
    with FrameWriter(options) as writer, SettingsGuard() as guard, \
            tempfile.TemporaryDirectory(prefix="optical_flow_", dir=memory_folder(*resolution)) as exr_dir:
        view_layer, own_shading = configure_render(scene, guard, Path(exr_dir), vector_pass=bool(vector_pass))
        motion = None if vector_pass else SurfaceMotion(scene, scene.view_layers[view_layer], guard, options)
        notes = [f"Kept the scene's own materials because {', '.join(own_shading)} may be see-through."] if own_shading else []
        notes += [f"No occlusion masks: {vector_pass}."] if asked.occlusion and not options.occlusion else []
        notes += [f"No flow for {name}: {why}." for name, why in (motion.unknown.items() if motion else ())]
        versions = {"blender_version": bpy.app.version_string, "addon_version": __version__,
                    "material_override": not own_shading}
        last_yield = time.perf_counter()
        waiting: dict[int, dict] = {}  # records of rendered frames whose files are not written yet
        in_flight = False

        def finish() -> list[BakeProgress]:
            """Wait for the frame in the writer; the frames it completes count as written."""
            nonlocal last_yield, in_flight
            in_flight = False
            progress = []
            for frame, written in writer.result():
                records.append(waiting.pop(frame))
                now = time.perf_counter()
                progress.append(BakeProgress(len(records), len(frames), frame, written, now - last_yield, notes))
                last_yield = now
            return progress

        try:
            for frame in (options.frames_to_render if motion else frames):
                matrices = motion.prepare(frame) if motion else None
                exr_path = render_frame(scene, frame, Path(exr_dir))
                if options.flows_at(frame) and options.frame_start <= frame <= options.frame_end:
                    waiting[frame] = camera_record(scene, frame, options.flows_at(frame))
                passes = {"view": camera_view(scene), "matrices": matrices} if motion else None
                if in_flight:
                    yield from finish()
                writer.submit(exr_path, view_layer, frame, passes)
                in_flight = True
            if in_flight:
                yield from finish()
        finally:
            if in_flight:  # rendering failed while the previous frame was being written: keep that frame
                try:
                    finish()
                except (FlowError, RuntimeError):
                    pass  # the render error is the one to report
            if motion and motion.topology_changes:
                notes.append("Pixels left unknown (invalid) where the mesh's vertices change between the frames: "
                             + ", ".join(f"{name} (frames {', '.join(map(str, frames_))})"
                                         for name, frames_ in motion.topology_changes.items()) + ".")
            if records:
                write_manifest(options, resolution, records, {**versions, **motion_record(options, motion, vector_pass)})
