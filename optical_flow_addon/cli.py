"""Command line: ``python -m optical_flow_addon bake|demo`` with the ``bpy`` module, ``vis`` without it."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import webbrowser
from pathlib import Path

from .core.errors import FlowError
from .core.formats.hdf5 import HDF5_COMPRESSIONS
from .core.options import BakeOptions
from .core.poses import FORMATS as POSE_FORMATS
from .core.poses import read_camera_poses
from .core.transforms import CAMERA_AXES, DIRECTIONS, WORLD_UP

MESH_IMPORTERS = {".obj": "obj_import", ".ply": "ply_import", ".stl": "stl_import", ".glb": "gltf", ".gltf": "gltf",
                  ".fbx": "fbx", ".usd": "usd_import", ".usda": "usd_import", ".usdc": "usd_import", ".abc": "alembic_import"}


def frame_range(text: str) -> tuple[int, int]:
    start, separator, end = text.partition("-")
    try:
        return int(start), int(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST frames such as 1-100, got {text!r}") from None


def resolution(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m optical_flow_addon", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    bake = commands.add_parser("bake", help="bake flow for a .blend or a mesh file")
    bake.add_argument("scene", type=Path, help=".blend file, or a mesh file (" + ", ".join(MESH_IMPORTERS) + ")")
    bake.add_argument("output", type=Path, help="output folder")
    bake.add_argument("--poses", type=Path, help="camera pose file to keyframe the camera with")
    conventions = bake.add_argument_group("pose file conventions (default: the format's own)")
    choice = {"type": str.upper, "default": "AUTO"}
    conventions.add_argument("--pose-format", choices=["AUTO", *POSE_FORMATS], **choice)
    conventions.add_argument("--camera-axes", choices=["AUTO", *CAMERA_AXES], **choice,
                             help="opencv: looks along +z, y down; blender: looks along -z, y up")
    conventions.add_argument("--pose-direction", choices=["AUTO", *DIRECTIONS], **choice,
                             help="camera_to_world (the camera's pose) or world_to_camera (the view matrix)")
    conventions.add_argument("--world-up", choices=["AUTO", *WORLD_UP], **choice,
                             help="the file's up axis: z, y, or neg_y (y down)")
    conventions.add_argument("--pose-scale", type=float, default=1.0, metavar="UNITS",
                             help="Blender units per unit of the pose file (default: 1)")
    demo = commands.add_parser("demo", help="build a small scene with BlenderProc's five example poses and bake it")
    demo.add_argument("output", type=Path, nargs="?", default=Path("demo_output"), help="output folder (demo_output)")
    for command in (bake, demo):
        command.add_argument("--no-forward-flow", dest="get_forward_flow", action="store_false")
        command.add_argument("--no-backward-flow", dest="get_backward_flow", action="store_false")
        command.add_argument("--blender-image-coordinate-style", action="store_true",
                             help="origin bottom-left, y up (default: OpenCV, origin top-left, y down)")
        command.add_argument("--formats", default="npy,hdf5",
                             help="comma-separated: npy, npz, flo, kitti, pfm, exr, hdf5, hdf5_sequence, picture "
                             "(default: npy,hdf5)")
        command.add_argument("--picture-max-radius", type=float, default=0.0, metavar="PX",
                             help="flow length at the colour wheel's rim in flow pictures, one scale for the "
                             "whole sequence (default: each picture its own longest vector)")
        command.add_argument("--hdf5-compression", type=str.upper, default="NONE", choices=list(HDF5_COMPRESSIONS),
                             help="of the HDF5 files: none is fastest, lzf about 4.7x smaller (h5py reads it), "
                             "gzip smallest (every HDF5 reader) (default: none)")
        command.add_argument("--frame-gap", type=int, default=1, metavar="K",
                             help="forward flow goes from frame t to t+K, backward flow to t-K (default 1)")
        command.add_argument("--no-occlusion", dest="occlusion", action="store_false",
                             help="no occlusion masks (True where the pixel's surface point is hidden in the other frame)")
        command.add_argument("--scene-flow", action="store_true",
                             help="also write each pixel's 3-D motion in metres, in frame t's camera axes")
        command.add_argument("--frames", type=frame_range, help="FIRST-LAST frames to write, inside the scene's range; chunks give the same files as one bake")
        command.add_argument("--resolution", type=resolution, help="WIDTHxHEIGHT (default: the scene's)")
        command.add_argument("--overwrite", action="store_true", help="replace existing flow files")
    vis = commands.add_parser("vis", help="picture of a flow file: forward, backward, masks and the colour wheel")
    vis.add_argument("path", type=Path, help="flow file: .npy, .npz, .flo, KITTI .png, .pfm, .exr, .hdf5")
    vis.add_argument("--output", type=Path, help="PNG to write (default: show the picture in the image viewer)")
    vis.add_argument("--frame", type=int, help="frame of a sequence file (default: its first)")
    vis.add_argument("--max-radius", type=float, metavar="PX",
                     help="flow length at the colour wheel's rim (default: the longest valid vector)")
    vis.add_argument("--overwrite", action="store_true", help="replace the output PNG if it exists")
    return main


def load_scene(path: Path) -> None:
    import bpy

    if not path.is_file():
        raise FlowError(f"Scene file {path} does not exist.")
    if path.suffix.lower() == ".blend":
        bpy.ops.wm.open_mainfile(filepath=str(path))
        return
    importer = MESH_IMPORTERS.get(path.suffix.lower())
    if importer is None:
        raise FlowError(f"Cannot open {path}: expected a .blend file or one of {', '.join(MESH_IMPORTERS)}.")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    operator = getattr(bpy.ops.import_scene, importer) if importer in {"gltf", "fbx"} else getattr(bpy.ops.wm, importer)
    operator(filepath=str(path))


def visualize(args: argparse.Namespace) -> None:
    """Write the picture to ``--output``, or show it in the system's image viewer."""
    from .core.atomic import atomic_path
    from .core.flow_files import read_flow_file
    from .core.formats.picture import overview
    from .core.formats.png import encode_png
    from .core.manifest import baked_coordinate_style

    if args.max_radius is not None and not 0 < args.max_radius < float("inf"):
        raise FlowError(f"--max-radius {args.max_radius} is not a flow length: give pixels above 0.")
    arrays = read_flow_file(args.path, args.frame)
    picture, radius, panels = overview(arrays, args.max_radius, baked_coordinate_style(args.path.parent))
    output = args.output
    if output is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")):
            raise FlowError("There is no display to show the picture on: write it with --output picture.png.")
        output = Path(tempfile.mkdtemp(prefix="optical_flow_")) / f"{args.path.stem}.png"
    elif output.exists() and not args.overwrite:
        raise FlowError(f"{output} already exists; add --overwrite to replace it or choose another name.")
    with atomic_path(output) as temporary:
        temporary.write_bytes(encode_png(picture))
    print(f"{output}: {' | '.join(panels)}; the rim of the colour wheel is {radius:.4g} px of flow.")
    if args.output is None and not webbrowser.open(output.as_uri()):
        raise FlowError(f"No image viewer opened {output}: write the picture with --output picture.png.")


def run(args: argparse.Namespace) -> None:
    if args.command == "vis":
        return visualize(args)
    import bpy

    from . import register
    from .blender.bake import bake_flow
    from .blender.camera_poses import import_poses

    if args.command == "demo":
        from .blender.demo_scene import DEMO_POSES, build_demo_scene

        scene = build_demo_scene()
        args.output.mkdir(parents=True, exist_ok=True)
        pose_file = args.output / "camera_positions"
        pose_file.write_text(DEMO_POSES, encoding="utf-8")
        poses = read_camera_poses(pose_file)
    else:
        load_scene(args.scene)
        scene = bpy.context.scene
        poses = read_camera_poses(args.poses, args.pose_format, args.camera_axes, args.pose_direction, args.world_up,
                                  args.pose_scale) if args.poses else None
    register()
    if poses:
        import_poses(scene, poses, frame_start=scene.frame_start)
    if args.resolution:  # after the poses: an explicit size wins over a pose file's
        scene.render.resolution_x, scene.render.resolution_y = args.resolution
        scene.render.resolution_percentage = 100
    start, end = args.frames or (scene.frame_start, scene.frame_end)
    options = BakeOptions(
        output_dir=args.output.resolve(), frame_start=start, frame_end=end,
        sequence_start=scene.frame_start, sequence_end=scene.frame_end,
        get_forward_flow=args.get_forward_flow, get_backward_flow=args.get_backward_flow,
        blender_image_coordinate_style=args.blender_image_coordinate_style,
        formats=frozenset(f.strip().upper() for f in args.formats.split(",") if f.strip()),
        overwrite=args.overwrite, picture_max_radius=args.picture_max_radius, hdf5_compression=args.hdf5_compression,
        frame_gap=args.frame_gap, occlusion=args.occlusion, scene_flow=args.scene_flow,
    )
    for progress in bake_flow(scene, options):
        print(f"frame {progress.frame:>5}  {progress.done}/{progress.total}  {progress.seconds * 1000:7.0f} ms  "
              f"{len(progress.written)} files", flush=True)
    for note in progress.notes:
        print(f"note: {note}")
    print(f"Flow for {progress.total} frames written to {options.output_dir}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        run(args)
    except FlowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def exit_now(status: int) -> None:
    """Leave without Blender's teardown, which can hang or crash after the work is done (bpy 4.2–4.5)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
