"""The scene of a single bake: loaded from a .blend or a mesh file (or the demo's, built), set up as the flags say
and checked before anything renders; the bake's options."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..core.errors import FlowError
from ..core.limits import check_frame_memory
from ..core.options import BLENDERPROC, BakeOptions, requested_options
from ..core.poses import read_camera_poses
from .names import sequence_names

if TYPE_CHECKING:
    import bpy

BLEND_STARTS = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # plain, gzip- and zstd-compressed .blend files
MESH_SCENE_SAMPLES = 64
DEMO_SAMPLES = 16  # blender/demo_scene.py's, which imports bpy
MESH_IMPORTERS = {".obj": "obj_import", ".ply": "ply_import", ".stl": "stl_import", ".glb": "gltf", ".gltf": "gltf",
                  ".fbx": "fbx", ".usd": "usd_import", ".usda": "usd_import", ".usdc": "usd_import",
                  ".abc": "alembic_import"}


def check_resolution(width: int, height: int) -> None:
    """Blender would silently clamp a size outside its limits (0x10 renders 4x10)."""
    import bpy

    limits = bpy.types.RenderSettings.bl_rna.properties["resolution_x"]
    if not all(limits.hard_min <= size <= limits.hard_max for size in (width, height)):
        raise FlowError(f"--resolution {width}x{height}: Blender renders widths and heights from {limits.hard_min} "
                        f"to {limits.hard_max} pixels.")


def check_memory(scene: bpy.types.Scene, images: bool, given: bool) -> None:
    """Refuse, before rendering, a frame too big for the memory there is."""
    render = scene.render
    width, height = (round(size * render.resolution_percentage / 100) for size in (render.resolution_x,
                                                                                  render.resolution_y))
    check_frame_memory(width, height, images,
                       f"--resolution {width}x{height}" if given else f"The scene's resolution, {width}x{height},")


def load_scene(path: Path) -> None:
    import bpy

    if not path.is_file():
        raise FlowError(f"Scene file {path} does not exist.")
    if path.suffix.lower() == ".blend":
        with path.open("rb") as file:
            start = file.read(7)
        if not start.startswith(BLEND_STARTS):
            raise FlowError(f"{path} is not a Blender file: it does not start as a .blend file does.")
        try:
            bpy.ops.wm.open_mainfile(filepath=str(path))
        except RuntimeError as error:
            raise FlowError(f"{path} is not a Blender file Blender can open, or it is damaged: {error}") from None
        return
    importer = MESH_IMPORTERS.get(path.suffix.lower())
    if importer is None:
        raise FlowError(f"Cannot open {path}: expected a .blend file or one of {', '.join(MESH_IMPORTERS)}.")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    operator = getattr(bpy.ops.import_scene, importer) if importer in {"gltf", "fbx"} else getattr(bpy.ops.wm, importer)
    try:
        operator(filepath=str(path))
    except RuntimeError as error:
        raise FlowError(f"Blender cannot import {path}: {error}") from None
    light_mesh_scene(bpy.context.scene)


def check_mesh_camera(path: Path, poses: Path | None) -> None:
    """A mesh file seldom brings a camera: without one, the flag that gives it one is the answer."""
    import bpy

    if poses is None and path.suffix.lower() != ".blend" and not any(o.type == "CAMERA" for o in bpy.data.objects):
        raise FlowError(f"{path} brings no camera: give the camera's poses with --poses FILE (a pose file in any "
                        "of the formats docs/how-to/camera-poses.md lists).")


def light_mesh_scene(scene) -> None:
    """A mesh file brings no light or renderer: light and render it as BlenderProc's optical-flow example does
    (Cycles, a 1000 W point light at (5, -5, 5)), with MESH_SCENE_SAMPLES samples."""
    import bpy

    scene.render.engine = "CYCLES"
    scene.cycles.samples = MESH_SCENE_SAMPLES
    light = bpy.data.objects.new("Light", bpy.data.lights.new("Light", "POINT"))
    light.data.energy, light.location = 1000.0, (5.0, -5.0, 5.0)
    scene.collection.objects.link(light)


def prepare_bake(args: argparse.Namespace) -> tuple[bpy.types.Scene, BakeOptions]:
    """Load or build the scene and set it up as the arguments say; returns it with the bake's options."""
    import bpy

    from .. import register
    from ..blender.camera_poses import import_poses
    from ..blender.render_device import check_device
    from ..core.frame import create_folder

    check_device(args.device)  # before the demo writes its pose file
    if args.command == "demo":
        from ..blender.demo_scene import DEMO_POSES, build_demo_scene
        from ..core.poses.blenderproc import FILE_NAME as BLENDERPROC_POSES

        scene = build_demo_scene()
        create_folder(args.output)
        pose_file = args.output / BLENDERPROC_POSES
        pose_file.write_text(DEMO_POSES, encoding="utf-8")
        poses = read_camera_poses(pose_file)
        first_frame = 0  # as BlenderProc numbers the example's frames: 0.hdf5 to 4.hdf5
    else:
        load_scene(args.scene)
        check_mesh_camera(args.scene, args.poses)
        scene = bpy.context.scene
        poses = read_camera_poses(args.poses, args.pose_format, args.camera_axes, args.pose_direction, args.world_up,
                                  args.pose_scale) if args.poses else None
        first_frame = args.first_frame
        if first_frame is None:
            first_frame = scene.frame_start if args.scene.suffix.lower() == ".blend" else 0
    register()
    if poses:
        import_poses(scene, poses, frame_start=first_frame)
    if args.resolution:  # after the poses: an explicit size wins over a pose file's
        check_resolution(*args.resolution)
        scene.render.resolution_x, scene.render.resolution_y = args.resolution
        scene.render.resolution_percentage = 100
    if args.samples:
        scene.cycles.samples = args.samples
    if args.denoise is not None:
        scene.cycles.use_denoising = args.denoise
    if getattr(args, "threads", None):  # a chunk of a scale-out shares its machine's cores (scale_out.py)
        scene.render.threads_mode, scene.render.threads = "FIXED", args.threads
    check_memory(scene, args.images or args.command == "demo" or args.layout != BLENDERPROC, bool(args.resolution))
    options = requested_options(
        args.output.resolve(), (scene.frame_start, scene.frame_end), args.frames, args.formats.split(","),
        args.track_formats.split(","),
        get_forward_flow=args.get_forward_flow, get_backward_flow=args.get_backward_flow,
        blender_image_coordinate_style=args.blender_image_coordinate_style,
        overwrite=args.overwrite or args.resume,  # resumed frames replace what the interrupted bake left of them
        picture_max_radius=args.picture_max_radius, hdf5_compression=args.hdf5_compression,
        render_images=args.images or args.command == "demo", render_depth=args.depth or args.command == "demo",
        image_motion_blur=args.image_motion_blur,
        frame_gap=args.frame_gap, occlusion=args.occlusion, scene_flow=args.scene_flow, verify=args.verify,
        layout=args.layout, sequence=args.sequence or default_sequence(args),
        **({"point_tracks": True, "track_count": args.track_count} if args.track_count else {}),
        track_queries=args.track_queries, track_balance=args.track_balance, track_seed=args.track_seed,
        segmentation=args.segmentation, normals=args.normals is not None, geometric_normals=args.normals == "geometric",
        stereo=args.stereo, truth_scale=args.truth_scale,
    )
    return scene, options


def default_sequence(args: argparse.Namespace) -> str:
    """The demo's sequence is ``scene``; a scene file's is named as the scale-out names it."""
    return "scene" if args.command == "demo" else sequence_names([args.scene])[0]


def print_plan(args: argparse.Namespace, out: TextIO) -> int:
    """The bake process's answer to ``plan_scene``: the options as JSON, and the size of the frames."""
    from ..blender.bake import check_scene, surface_motion_or_vector_pass
    from ..blender.camera import blender_camera
    from ..blender.scene_fingerprint import with_scene_fingerprint

    scene, options = prepare_bake(args)
    check_scene(scene)
    # the options the bake processes will bake with, the scene's fingerprint included: the coordinator checks a
    # resumed folder against them and writes the chunks' merged manifest with them
    options = with_scene_fingerprint(scene, surface_motion_or_vector_pass(scene, options)[0])
    size = blender_camera(scene, scene.camera.data)
    print(json.dumps({**options.to_json(), "resolution": [size.width, size.height]}), file=out)
    return 0
