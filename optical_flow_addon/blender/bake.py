"""The bake loop: render each frame (the scene's image, the flow's passes), hand the renders to the core,
restore the scene.

Longer than the other Blender modules because the loop, what it records per frame and its clean ending on
errors and cancel belong together; the settings it changes live in render_settings.py."""
from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import bpy

from ..core.version import __version__
from ..core.errors import FlowError
from ..core.formats.hdf5 import SEQUENCE_NAME
from ..core.frame_writer import FrameWriter
from ..core.limits import check_frame_memory, check_sequence_name
from ..core.manifest import OBJECT_FRAMES, bake_manifest, objects_met, write_manifest
from ..core.options import BLENDERPROC, BakeOptions
from ..core.render_devices import AS_SCENE
from ..core.track_files import save_tracks
from ..core.output_folder import BakeFolder, prepare_training_sequence, render_folder
from ..core.camera import Intrinsics
from .camera import blender_camera
from .render_device import render_device
from .settings_guard import SettingsGuard
from .render_settings import (configure_flow_render, configure_image_render, flow_view_layer,
                              keep_frame, materials_needing_own_shading, shading_override)
from .scene_fingerprint import with_scene_fingerprint
from .stereo import stereo_rig, view_cameras
from .surface_motion import SurfaceMotion
from .tracks import follow_tracks

# The flow EXR's Vector (4) and Depth (1) channels as 32-bit floats, and at most an 8-bit RGBA image PNG
RENDER_BYTES_PER_PIXEL = 5 * 4 + 4
RENDER_SUFFIX = {"image": ".png", "flow": ".exr"}


@dataclass
class BakeProgress:
    """Reported after each frame: enough for a progress bar and a summary."""

    done: int
    total: int
    frame: int
    written: list[Path]
    seconds: float
    notes: list[str] = field(default_factory=list)
    device: str = ""  # what rendered, in words: "CPU", "OptiX (NVIDIA H100)"


class RenderStopped(Exception):
    """A render was stopped mid-frame (Esc, or the Cancel button): the bake ends as cancelled, keeping the frames
    already written, the one being written included."""


# Renders one frame into a file (scene, frame, path, guard); a generator, so that a render running in Blender's
# render job (live_render.py) can yield while it runs. Its yields reach the caller of bake_flow.
RenderStep = Callable[[bpy.types.Scene, int, Path, SettingsGuard], Generator[Any, None, Path]]


def camera_record(scene: bpy.types.Scene, frame: int, options: BakeOptions) -> dict:
    """Products, pose and intrinsics of the scene camera at the current frame, for the manifest."""
    camera = scene.camera
    record = {
        "frame": frame,
        "flows": list(options.flows_at(frame)),
        "products": options.products_at(frame),
        "camera": camera.name,
        "camera_to_world": [list(row) for row in camera.matrix_world],
    }
    if camera.data.type == "PERSP":
        record["K"] = blender_camera(scene, camera.data).intrinsics().tolist()
    return record


def camera_view(scene: bpy.types.Scene, scale: int, camera: bpy.types.Object | None = None) -> dict:
    """The scene camera (or another) at the current frame, as the writer projects with it: for the flow render,
    made at ``scale`` times the image's resolution."""
    camera = camera or scene.camera
    size = blender_camera(scene, camera.data)
    intrinsics = Intrinsics.from_matrix(size.intrinsics(), size.width, size.height)
    return {"intrinsics": intrinsics.scaled_to(size.width * scale, size.height * scale).matrix().tolist(),
            "camera_to_world": [list(row) for row in camera.matrix_world]}


def surface_motion_or_vector_pass(scene: bpy.types.Scene, options: BakeOptions) -> tuple[BakeOptions, str]:
    """Options for the method used, and why it is Cycles' Vector pass ("" for surface motion).

    Flow alone to the neighbouring frames comes from the Vector pass, as BlenderProc's does. Occlusion,
    other frame gaps, scene flow, segmentation, normals and tracks need the surface motion passes, which need the
    material override (it carries them) and a perspective camera."""
    if options.frame_gap == 1 and not any(needs_surface_motion(options).values()):
        return options, "flow only, to the neighbouring frames"
    own_shading = materials_needing_own_shading(scene)
    if not own_shading and scene.camera.data.type == "PERSP":
        return options, ""
    because = (f"materials {', '.join(own_shading)} keep their own shading" if own_shading
               else f"the camera is {scene.camera.data.type.lower()}, not perspective")
    asked = {"a frame gap above 1": options.frame_gap != 1, **needs_surface_motion(options), "occlusion masks": False}
    needs = [what for what, on in asked.items() if on]
    if needs:
        words = f"{', '.join(needs[:-1])} and {needs[-1]}" if len(needs) > 1 else needs[0]
        raise FlowError(f"The bake asks for {words}, which need{'s' if len(needs) == 1 else ''} the surface motion "
                        "passes; this scene cannot render "
                        f"them because {because}. Bake frame gap 1 without them, or change that.")
    return replace(options, occlusion=False), because


def needs_surface_motion(options: BakeOptions) -> dict[str, bool]:
    """What the bake asks for that only the surface motion passes give, in words."""
    return {"occlusion masks": options.occlusion, "scene flow": options.scene_flow, "stereo": options.stereo,
            "point tracks": options.point_tracks, "segmentation": options.segmentation, "normals": options.normals,
            "truth at a finer scale": options.truth_scale != 1}


# What the manifest says of the segmentation's pass index.
PASS_INDEX = ("each object's Pass Index (Object Properties › Relations), which BlenderProc uses as the object's "
              "semantic class (category_id)")


def motion_record(options: BakeOptions, motion: SurfaceMotion | None, vector_pass: str) -> dict:
    """What the manifest says about the frame gap, the masks, the pixels left unknown and the segmentation's
    indices (index -> its object, instancer for instances, collection and pass index; 0 is the background)."""
    segmentation = ({"background": 0, "pass_index": PASS_INDEX,
                     "instances": {str(index): record for index, record in enumerate(motion.segment_objects, 1)}}
                    if motion and options.segmentation else None)
    return {
        "frame_gap": options.frame_gap,
        "occlusion": options.occlusion,
        "scene_flow": options.scene_flow,
        "method": "vector pass" if vector_pass else "surface motion",
        "method_note": vector_pass,
        "unknown_objects": motion.unknown if motion else {},
        **dict(zip(OBJECT_FRAMES, (motion.topology_changes, motion.velocity_frames, motion.transform_frames,
                                   motion.vector_frames, motion.realized) if motion else [{}] * len(OBJECT_FRAMES))),
        **({"segmentation": segmentation} if segmentation else {}),
    }


def render_frame(scene: bpy.types.Scene, frame: int, path: Path, guard: SettingsGuard) -> Path:
    """Render one frame into ``path`` with the scene's current settings (its suffix must match the file format)."""
    scene.frame_set(frame)
    guard.set(scene.render, "filepath", str(path.with_suffix("")))
    try:
        with bpy.context.temp_override(scene=scene):
            result = bpy.ops.render.render(write_still=True)
    except RuntimeError as error:  # the engine reported an error (EEVEE without a GPU, a broken engine, ...)
        raise FlowError(f"The {scene.render.engine} render engine could not render frame {frame}: "
                        f"{str(error).strip()}. "
                        "Switch the scene to an engine that renders here (Cycles), or turn Images off.") from error
    if result != {"FINISHED"} or not path.exists():
        raise not_rendered(scene, frame, f"render returned {', '.join(result)}")
    return path


def not_rendered(scene: bpy.types.Scene, frame: int, why: str) -> FlowError:
    return FlowError(f"Blender did not render frame {frame} with the {scene.render.engine} engine ({why}).")


def render_now(scene: bpy.types.Scene, frame: int, path: Path, guard: SettingsGuard) -> Generator[Any, None, Path]:
    """``render_frame`` as a ``RenderStep``: it blocks until the file is written and never yields."""
    yield from ()
    return render_frame(scene, frame, path, guard)


def memory_folder(width: int, height: int) -> str | None:
    """Linux's shared-memory folder if it has room for the renders, else None (the system's temp folder).

    In memory, the renders (deleted once read) never reach the disk, and Blender's writes never wait for it."""
    folder = Path("/dev/shm")
    room = 8 * width * height * RENDER_BYTES_PER_PIXEL  # two frames in flight, with room to spare
    try:
        return str(folder) if os.access(folder, os.W_OK) and shutil.disk_usage(folder).free > room else None
    except OSError:
        return None


def frame_step_notes(scene: bpy.types.Scene) -> list[str]:
    """The Vector pass holds motion to the neighbouring frames only, so flow is always baked frame by frame."""
    if scene.frame_step == 1:
        return []
    return [f"The scene's Frame Step is {scene.frame_step}, but flow is motion to the next and previous frame, "
            "so every frame was baked."]


def check_scene(scene: bpy.types.Scene | None) -> None:
    if scene is None or scene.camera is None:
        raise FlowError("The scene has no active camera: set one in Scene Properties › Camera, or import camera poses.")


def resumed_frames(scene: bpy.types.Scene, options: BakeOptions, writer: FrameWriter, other_frames: list[dict],
                   resolution: tuple[int, int]) -> tuple[list[dict], list[dict]]:
    """Resuming: records of this bake's frames already whole, and those of the sequence's other chunks that the
    earlier manifest lists and whose files are still whole."""
    whole = set(writer.whole_frames(options.frames + [record["frame"] for record in other_frames], *resolution))
    kept = []
    for frame in (f for f in options.frames if f in whole):
        scene.frame_set(frame)
        kept.append(camera_record(scene, frame, options))
    return kept, [record for record in other_frames if record["frame"] in whole]


def check_machine(options: BakeOptions, resolution: tuple[int, int]) -> None:
    """Before anything renders: memory for a frame, and a sequence name the file system can hold (the command line
    checks both with its own flags' names first)."""
    images = options.render_images or options.layout != BLENDERPROC
    scale = options.truth_scale
    check_frame_memory(resolution[0] * scale, resolution[1] * scale, images,
                       f"The scene's resolution, {resolution[0]}x{resolution[1]} (Output Properties › Format)"
                       + (f" at truth scale {scale}," if scale != 1 else ","))
    options.check_track_count(*resolution)
    if options.layout != BLENDERPROC:
        check_sequence_name(options.sequence, options.output_dir, f"The sequence name {options.sequence[:20]}…")


def bake_tracks(scene: bpy.types.Scene, options: BakeOptions, writer: FrameWriter, notes: list[str]) -> dict:
    """Follow the sequence's tracks and write their files (with the HDF5 sequence file, into it as well); what the
    manifest says of them."""
    tracks = follow_tracks(scene, options)
    written = save_tracks(options, tracks)
    if "HDF5_SEQUENCE" in options.written_formats:
        writer.add_tracks(options.output_dir / SEQUENCE_NAME, written[0])
    found = len(tracks.query_points)
    if found < options.track_count:
        notes.append(f"Only {found} of the {options.track_count} query points asked for lie on surfaces that can be "
                     "tracked; the tracks file holds those.")
    notes += [f"No tracks on {name}: {why}." for name, why in tracks.untracked.items()]
    return {"tracks": tracks.record()}


def check_training_sequence(options: BakeOptions, vector_pass: str) -> None:
    """Before rendering: a training layout needs occlusion masks; see ``prepare_training_sequence`` for the rest."""
    if options.training_sequence is not None and vector_pass:
        raise FlowError(f"The {options.layout} layout needs occlusion masks, "
                        f"which this scene cannot have: {vector_pass}.")
    prepare_training_sequence(options)


def bake_flow(scene: bpy.types.Scene, options: BakeOptions, resume: bool = False,
              render_image: RenderStep = render_now, device: str = AS_SCENE) -> Iterator[BakeProgress | Any]:
    """Bake frame by frame, yielding after each frame's files are written.

    While Cycles renders frame t+1, a worker process converts and writes frame t, so the
    add-on's own work hides behind the render and at most two frames are in memory. At every
    yield of a progress no file is being written (while an image renders, the frame before may be; closing then
    lets it finish), so closing the generator (cancel) or an error stops
    cleanly: the manifest lists the frames written and every changed setting is restored.
    ``resume`` keeps the frames an interrupted bake of the same settings wrote whole and bakes the rest.
    ``render_image`` renders the scene's images; what it yields while one renders is yielded as well (only the
    Render Flow button's bake uses one that yields, live_render.py's).
    ``device`` is what Cycles renders on (render_device.py): the scene's own by default, as F12; a device asked for
    and not present is refused before anything is written.
    """
    check_scene(scene)
    size = blender_camera(scene, scene.camera.data)
    resolution = (size.width, size.height)
    check_machine(options, resolution)
    asked = options
    rig = stereo_rig(scene) if options.stereo else None
    options, vector_pass = surface_motion_or_vector_pass(scene, options)
    check_training_sequence(options, vector_pass)
    options = with_scene_fingerprint(scene, options)  # the manifest records it; a resumed bake compares it
    frames = options.frames
    # The writer starts first, so that it gets ready while the scene is prepared; missing modules are reported before
    # anything renders, and every setting changed until then is restored. A render device not present is refused
    # before the output folder is touched.
    with FrameWriter(options) as writer, render_device(scene, device) as rendered_on, \
            BakeFolder(options, *resolution, resume) as folder, SettingsGuard() as guard, \
            render_folder(memory_folder(*(side * options.truth_scale for side in resolution))) as render_dir:
        keep_frame(scene, guard)
        motion = None if vector_pass else SurfaceMotion(scene, flow_view_layer(scene), guard, options)
        override, own_shading = shading_override(scene, guard, motion)
        view_layer = flow_view_layer(scene).name
        records, others = (resumed_frames(scene, options, writer, folder.other_frames, resolution) if resume
                           else ([], []))
        kept = {record["frame"] for record in records}
        notes = ([f"Kept the scene's own materials because {', '.join(own_shading)} may be see-through."]
                 if own_shading else [])
        notes += [f"No occlusion masks: {vector_pass}."] if asked.occlusion and not options.occlusion else []
        notes += folder.notes + frame_step_notes(scene)
        if resume:
            notes.append(f"Resumed: kept the {len(kept)} frames already whole, "
                         f"baked the other {len(frames) - len(kept)}.")
        versions = {"blender_version": bpy.app.version_string, "addon_version": __version__,
                    "material_override": not own_shading, **({"stereo_rig": rig.record()} if rig else {})}
        with_vector = bool(vector_pass)  # the method's, or a frame's whose objects move as the Vector pass has them

        def configure_images(frame_guard: SettingsGuard) -> None:
            configure_image_render(scene, frame_guard, options.image_motion_blur)
            if motion:
                motion.images_as_made(frame_guard)

        configure = {"image": configure_images,
                     "flow": lambda frame_guard: configure_flow_render(scene, frame_guard, override, with_vector,
                                                                       options.truth_scale)}
        last_yield = time.perf_counter()

        render_step = {"image": render_image, "flow": render_now}
        right = None
        if rig is not None:  # the left view renders as the scene camera; the right one through its own camera
            left, right = view_cameras(scene, rig, guard)
            guard.set(scene, "camera", left)

        def render(frame: int, kinds: list[str]) -> Generator[Any, None, dict[str, Path]]:
            """Each render the frame needs, each with its own settings, restored right after it; a right view's
            render (``flow_right``) is its kind's render through the right view's camera."""
            renders = {}
            for kind in kinds:
                own, _, view = kind.partition("_")
                with SettingsGuard() as frame_guard:
                    configure[own](frame_guard)
                    if view:
                        frame_guard.set(scene, "camera", right)
                    path = Path(render_dir) / f"{kind}_{frame}{RENDER_SUFFIX[own]}"
                    renders[kind] = yield from render_step[own](scene, frame, path, frame_guard)
            return renders

        earlier = bake_manifest(options)  # resuming: the tracks another chunk followed stay listed
        track_record = {"tracks": earlier["tracks"]} if resume and "tracks" in earlier else {}
        waiting: dict[int, dict] = {}  # records of rendered frames whose files are not written yet
        in_flight = False

        def finish() -> list[BakeProgress]:
            """Wait for the frame in the writer; the frames it completes count as written."""
            nonlocal last_yield, in_flight
            in_flight = False
            progress = []
            for frame, written, check in writer.result():
                records.append({**waiting.pop(frame), **({"self_check": check} if check else {})})
                now = time.perf_counter()
                progress.append(BakeProgress(len(records), len(frames), frame, written, now - last_yield, notes,
                                             rendered_on))
                last_yield = now
            return progress

        baked = [f for f in frames if f not in kept]
        writer.ready()
        try:
            # With surface motion, the frames the flows point to are rendered too (once, in order).
            for frame in options.partners(baked) if motion else baked:
                instances = motion.prepare(frame) if motion else {}
                with_vector = bool(vector_pass) or "vector_rows" in instances
                renders = yield from render(frame, options.renders_at(frame) if frame in baked
                                            else options.partner_renders)
                if frame in baked:
                    waiting[frame] = camera_record(scene, frame, options)
                passes = {"view": camera_view(scene, options.truth_scale), **instances} if motion else None
                if right is not None:
                    passes["right_view"] = camera_view(scene, options.truth_scale, right)
                if in_flight:
                    yield from finish()
                writer.submit(renders, view_layer, frame, passes, write=frame in baked)
                in_flight = True
            if in_flight:
                yield from finish()
            if options.point_tracks and options.frame_start == options.sequence_start:
                track_record = bake_tracks(scene, options, writer, notes)
        except RenderStopped:
            if in_flight:  # the frame written while the stopped one rendered is complete: it counts
                yield from finish()
            raise
        finally:
            if in_flight:  # rendering failed while the previous frame was being written: keep that frame
                try:
                    finish()
                except (FlowError, RuntimeError):
                    pass  # the render error is the one to report
            if motion:
                notes += [f"The motion of {name} on frames {', '.join(map(str, frames))} is its velocity attribute's: "
                          "its topology changes there." for name, frames in motion.velocity_frames.items()]
                notes += [f"The motion of {name} on frames {', '.join(map(str, frames))} is its object's own "
                          "movement only, as Cycles' Vector pass has it: its topology changes there and its points "
                          "carry no velocity." for name, frames in motion.transform_frames.items()]
                hidden = (" Its pixels there are marked occluded: their depth at the other frame is not known."
                          if options.occlusion else "")
                notes += [f"The motion of {name} on frames {', '.join(map(str, frames))} is Cycles' Vector pass's, "
                          f"as its points move within it but cannot carry their motion.{hidden}"
                          for name, frames in motion.vector_frames.items()]
                notes += [f"The instances that the geometry nodes of {name} make change shape: from frame "
                          f"{frames[0]} on, the flow renders them realized (one mesh), so that their points carry "
                          "their motion."
                          for name, frames in motion.realized.items()]
                notes += [f"Pixels of {name} left unknown (invalid) on frames {', '.join(map(str, frames))}: "
                          f"{motion.unknown[name]}." for name, frames in motion.topology_changes.items()]
            if records:
                stopped_by = sys.exc_info()[1]
                try:
                    listed = sorted(records + others, key=lambda r: r["frame"])
                    span = replace(options, frame_start=min(options.frame_start, listed[0]["frame"]),
                                   frame_end=max(options.frame_end, listed[-1]["frame"]))
                    record = motion_record(options, motion, vector_pass)
                    record |= objects_met([earlier, record]) if resume else {}  # the kept frames' objects too
                    write_manifest(span, resolution, listed, {**versions, **record, **track_record})
                except FlowError:
                    if stopped_by is None:
                        raise  # else the error that stopped the bake is the one to report (a full disk, say)
