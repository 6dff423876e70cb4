"""Command line: ``python -m optical_flow_addon bake|demo`` with the ``bpy`` module, ``vis`` without it.

Longer than the other modules because it is the whole command line in the user's words: the flags, turning
them into a scene and the bake's options, and what a run prints (progress, the summary, one line per error).
The work itself is elsewhere: the bake in blender/bake.py, many scenes and chunks in scale_out.py.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import webbrowser
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from .core.duration import duration
from .core.errors import FlowError
from .core.formats.hdf5 import HDF5_COMPRESSIONS
from .core.options import BLENDERPROC, IMAGE_MOTION_BLUR, LAYOUT_CHOICES, BakeOptions, requested_options
from .core.poses import POSE_FORMATS
from .core.poses import read_camera_poses
from .core.transforms import CAMERA_AXES, DIRECTIONS, WORLD_UP

if TYPE_CHECKING:
    import bpy

    from .blender.bake import BakeProgress

BLEND_STARTS = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # plain, gzip- and zstd-compressed .blend files
# The settings a message names, as the command line spells them.
FLAGS = {"turn on Overwrite": "add --overwrite",
         "turn on forward flow, backward flow or both": "leave out --no-forward-flow or --no-backward-flow",
         "the other flow is turned off": "the other flow is turned off (--no-forward-flow or --no-backward-flow)",
         "Picture max radius": "--picture-max-radius",
         "Frames ": "--frames "}
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
MESH_SCENE_SAMPLES = 64
DEMO_SAMPLES = 16  # blender/demo_scene.py's, which imports bpy
# Bytes the add-on's own names add around a sequence name: a chunk's working folder
# (``.optical_flow_chunk_NAME_FIRST-LAST``), a file written under a temporary name (``.NAME.manifest.json.PID.part``,
# ``.NAME_000000_10.png.PID.part``).
NAME_ROOM = 64
# Memory a bake takes per pixel of a frame, at least: Cycles' passes, the EXR read back, the flow maths in float64 and
# the frame window (peak of the bake and its writer process, both flows with masks, .npy and HDF5: 470 bytes per
# pixel from 1000×1000 to 2000×1500 on bpy 4.5; with images, 1000). Lower bounds, so a bake is refused only when it
# cannot fit.
BYTES_PER_PIXEL = 400
IMAGE_BYTES_PER_PIXEL = 400
MESH_IMPORTERS = {".obj": "obj_import", ".ply": "ply_import", ".stl": "stl_import", ".glb": "gltf", ".gltf": "gltf",
                  ".fbx": "fbx", ".usd": "usd_import", ".usda": "usd_import", ".usdc": "usd_import",
                  ".abc": "alembic_import"}


def frame_range(text: str) -> tuple[int, int]:
    start, separator, end = text.partition("-")
    try:
        return int(start), int(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST frames such as 1-100, got {text!r}") from None


def positive_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return number


def resolution(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None


def add_scale_out_options(bake: argparse.ArgumentParser) -> None:
    """Spread a bake over processes and machines: scale_out.py."""
    from .scale_out import scheduler_address

    group = bake.add_argument_group("scale-out (Dask)")
    group.add_argument("--scheduler", type=scheduler_address, metavar="local:N|tcp://HOST:8786",
                       help="bake chunks of frames in parallel: local:N starts N worker processes on this machine, "
                       "tcp://HOST:8786 uses a running Dask cluster (the output folder must be on storage every "
                       "worker sees at the same path)")
    group.add_argument("--chunk-size", type=positive_number, metavar="FRAMES",
                       help="frames per task (default: a whole scene per task)")
    group.add_argument("--threads", type=positive_number, metavar="N",
                       help="Cycles render threads per bake process (default: the scene's setting, all cores; "
                       "with local:N, the cores shared out among the N workers)")


class Parser(argparse.ArgumentParser):
    """argparse's parser, with a hint where its own message leaves the user stuck."""

    def error(self, message: str) -> NoReturn:
        if message == "argument --frames: expected one argument":  # --frames -3-2 reads as an option
            message += "; a first frame below 0 goes after an equals sign: --frames=-3-2"
        super().error(message)


def parser(prog: str = "python -m optical_flow_addon") -> argparse.ArgumentParser:
    from . import __version__

    # the module's first paragraph, without its reStructuredText markup
    main = Parser(prog=prog, description=__doc__.split("\n\n")[0].replace("``", ""))
    main.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = main.add_subparsers(dest="command", required=True)
    bake = commands.add_parser("bake", help="bake flow for a .blend or a mesh file")
    bake.add_argument("scenes", type=Path, nargs="+", metavar="SCENE",
                      help=".blend file, or a mesh file (" + ", ".join(MESH_IMPORTERS) + "); several scenes each get a "
                      "subfolder of the output folder")
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
    bake.add_argument("--first-frame", type=int, metavar="N",
                      help="frame number of the first pose (default: 0 for a mesh file, as BlenderProc numbers its "
                      "frames; the scene's start frame for a .blend)")
    add_scale_out_options(bake)
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
                             help="of the HDF5 files: none is fastest, lzf smaller (h5py reads it), gzip smallest "
                             "(every HDF5 reader); the README has sizes and times (default: none)")
        command.add_argument("--frame-gap", type=int, default=1, metavar="K",
                             help="forward flow goes from frame t to t+K, backward flow to t-K (default 1)")
        command.add_argument("--layout", type=str.upper, default=BLENDERPROC, choices=list(LAYOUT_CHOICES),
                             help="blenderproc: its files in --formats (default); sintel, kitti, flyingthings3d: the "
                             "dataset's folders, which torchvision and ptlflow load unchanged")
        command.add_argument("--sequence", metavar="NAME",
                             help="the sequence's name in a training layout (default: the scene file's name; 'scene' "
                             "for the demo)")
        command.add_argument("--no-verify", dest="verify", action="store_false",
                             help="skip the self-check (forward and backward flow of each frame pair must agree)")
        command.add_argument("--no-occlusion", dest="occlusion", action="store_false",
                             help="no occlusion masks "
                                  "(True where the pixel's surface point is hidden in the other frame)")
        command.add_argument("--scene-flow", action="store_true",
                             help="also write each pixel's 3-D motion in metres, in frame t's camera axes")
        command.add_argument("--frames", type=frame_range,
                             help="FIRST-LAST frames to write, inside the scene's range; "
                                  "chunks give the same files as one bake")
        command.add_argument("--resolution", type=resolution, help="WIDTHxHEIGHT (default: the scene's)")
        command.add_argument("--images", action="store_true",
                             help="also render each frame as the scene looks: "
                                  "colors_%%04d.png and colors in the HDF5 files")
        command.add_argument("--depth", action="store_true", help="also write depth (metres along the view axis)")
        command.add_argument("--samples", type=positive_number, metavar="N",
                             help="Cycles samples per pixel of the images (default: the scene's; "
                             f"{MESH_SCENE_SAMPLES} for a mesh file, {DEMO_SAMPLES} for the demo)")
        command.add_argument("--denoise", action=argparse.BooleanOptionalAction,
                             help="denoise the images with Cycles' denoiser, or not (default: the scene's setting; "
                             "on for a mesh file and the demo, as in Blender)")
        command.add_argument("--image-motion-blur", type=str.upper, default="OFF", choices=list(IMAGE_MOTION_BLUR),
                             help="off: sharp images aligned with the flow; scene: the scene's own motion blur")
        again = command.add_mutually_exclusive_group()
        again.add_argument("--overwrite", action="store_true",
                           help="replace the bake in the output folder (its flow files are removed first)")
        again.add_argument("--resume", action="store_true",
                           help="continue an interrupted bake with the same settings: frames whose files are all "
                           "there and whole are kept, the others are baked")
    vis = commands.add_parser("vis", help="picture of a flow file: forward, backward, masks and the colour wheel")
    vis.add_argument("path", type=Path, help="flow file: .npy, .npz, .flo, KITTI .png, .pfm, .exr, .hdf5")
    vis.add_argument("--output", type=Path, help="PNG to write (default: show the picture in the image viewer)")
    vis.add_argument("--frame", type=int, help="frame of a sequence file (default: its first)")
    vis.add_argument("--max-radius", type=float, metavar="PX",
                     help="flow length at the colour wheel's rim (default: the longest valid vector)")
    vis.add_argument("--overwrite", action="store_true", help="replace the output PNG if it exists")
    for command in (bake, demo, vis):
        command.add_argument("--verbose", action="store_true",
                             help="show Blender's render log and the details of unexpected errors")
    return main


def check_resolution(width: int, height: int) -> None:
    """Blender would silently clamp a size outside its limits (0x10 renders 4x10)."""
    import bpy

    limits = bpy.types.RenderSettings.bl_rna.properties["resolution_x"]
    if not all(limits.hard_min <= size <= limits.hard_max for size in (width, height)):
        raise FlowError(f"--resolution {width}x{height}: Blender renders widths and heights from {limits.hard_min} "
                        f"to {limits.hard_max} pixels.")


def available_memory() -> int | None:
    """Bytes of memory the system can give a new process without swapping (Linux), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(scene: bpy.types.Scene, images: bool, given: bool) -> None:
    """Refuse, before rendering, a frame too big for the memory there is: the kernel would kill the bake midway,
    with no word, its lock and temporary folder left."""
    render = scene.render
    width, height = (round(size * render.resolution_percentage / 100) for size in (render.resolution_x,
                                                                                  render.resolution_y))
    per_pixel = BYTES_PER_PIXEL + (IMAGE_BYTES_PER_PIXEL if images else 0)
    needed, available = width * height * per_pixel, available_memory()
    if available is not None and needed > available:
        size = f"--resolution {width}x{height}" if given else f"The scene's resolution, {width}x{height},"
        raise FlowError(f"{size} needs about {needed / 1e9:,.1f} GB of memory for a frame "
                        f"({per_pixel} bytes per pixel), but {available / 1e9:,.1f} GB is available. Choose a smaller "
                        "resolution, or free memory.")


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
                        "of the formats the README lists).")


def light_mesh_scene(scene) -> None:
    """A mesh file brings no light or renderer: light and render it as BlenderProc's optical-flow example does
    (Cycles, a 1000 W point light at (5, -5, 5)), with MESH_SCENE_SAMPLES samples."""
    import bpy

    scene.render.engine = "CYCLES"
    scene.cycles.samples = MESH_SCENE_SAMPLES
    light = bpy.data.objects.new("Light", bpy.data.lights.new("Light", "POINT"))
    light.data.energy, light.location = 1000.0, (5.0, -5.0, 5.0)
    scene.collection.objects.link(light)


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


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, the file system of ``folder`` (or of its nearest existing parent) holds."""
    for place in (folder, *folder.resolve().parents):
        if place.is_dir():
            try:
                return os.pathconf(place, "PC_NAME_MAX")
            except (OSError, ValueError, AttributeError):  # Windows has no pathconf: NTFS holds 255 characters
                break
    return 255


def check_sequence_names(args: argparse.Namespace) -> None:
    """Refuse, before anything is loaded or made, a sequence name too long for the file names made from it."""
    if args.sequence is not None:
        names = [args.sequence]
    elif args.command == "bake" and (args.layout != BLENDERPROC or len(args.scenes) > 1 or args.scheduler):
        from .scale_out import sequence_names

        names = sequence_names(args.scenes)
    else:
        return  # a single BlenderProc bake's files are not named after the sequence
    limit = name_max(args.output)
    for name in names:
        size = len(os.fsencode(name))
        if size + NAME_ROOM > limit:
            flag = "--sequence" if args.sequence is not None else f"The sequence name of {name[:20]}…"
            raise FlowError(f"{flag} is {size} bytes long, but the file names made from it must fit in the file "
                            f"system's {limit} bytes: give a name of at most {limit - NAME_ROOM} bytes.")


@contextmanager
def signals_held() -> Iterator[None]:
    """Stop signals wait while Blender's own code runs: a KeyboardInterrupt raised inside ``import bpy`` was
    swallowed there, and the bake ran to its end. Afterwards a stop that came meanwhile takes effect (the handlers
    are set again too, in case Blender's code changed them)."""
    numbers = {getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)}
    handlers = {number: signal.getsignal(number) for number in numbers}
    blocking = hasattr(signal, "pthread_sigmask")
    if blocking:
        signal.pthread_sigmask(signal.SIG_BLOCK, numbers)
    try:
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        if blocking:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, numbers)


def run(args: argparse.Namespace) -> int | None:
    if args.command == "vis":
        return visualize(args)
    check_sequence_names(args)
    if args.command == "bake" and (len(args.scenes) > 1 or args.scheduler):
        from .scale_out import bake_scenes

        return bake_scenes(args)
    with signals_held():
        import bpy  # noqa: F401
    if args.command == "bake":
        args.scene = args.scenes[0]
    with own_output(args.verbose) as out:
        if getattr(args, "plan_only", False):  # a scale-out's question to a scene (scale_out.plan)
            from .scale_out import print_plan

            return print_plan(args, out)
        return bake(args, out)


@contextmanager
def own_output(verbose: bool) -> Iterator[TextIO]:
    """The stream for this tool's own lines. Blender's render log (written by its C code to the standard
    output, about 37 lines a frame) goes nowhere unless ``verbose``."""
    if verbose:
        yield sys.stdout
        return
    sys.stdout.flush()
    real = os.dup(1)
    with open(os.devnull, "wb") as nowhere:
        os.dup2(nowhere.fileno(), 1)
    try:
        with os.fdopen(os.dup(real), "w", buffering=1, encoding="utf-8") as out:
            yield out
    finally:
        sys.stdout.flush()
        os.dup2(real, 1)
        os.close(real)


def bake(args: argparse.Namespace, out: TextIO) -> int:
    """``bake`` and ``demo``: load or build the scene, bake it, report to ``out``; returns the exit status."""
    from .blender.bake import bake_flow

    with signals_held():  # a KeyboardInterrupt inside Blender's operators would be lost as well
        scene, options = prepare_bake(args)
    with StopRequest() as stop:
        bar = out.isatty() and not args.verbose
        status = report(bake_flow(scene, options, args.resume), options, stop, out, bar=bar)
    if status == 0 and args.resume and args.command == "bake":  # a plain --resume after a stopped Dask run
        from .scale_out import remove_idle_chunk_folders

        remove_idle_chunk_folders(options.output_dir, options.sequence)
    if args.command == "demo" and status == 0 and options.layout == BLENDERPROC:
        write_overview(options, out)
    return status


def prepare_bake(args: argparse.Namespace) -> tuple[bpy.types.Scene, BakeOptions]:
    """Load or build the scene and set it up as the arguments say; returns it with the bake's options."""
    import bpy

    from . import register
    from .blender.camera_poses import import_poses
    from .core.frame import create_folder

    if args.command == "demo":
        from .blender.demo_scene import DEMO_POSES, build_demo_scene

        scene = build_demo_scene()
        create_folder(args.output)
        pose_file = args.output / "camera_positions"
        pose_file.write_text(DEMO_POSES, encoding="utf-8")
        poses = read_camera_poses(pose_file)
        first_frame = scene.frame_start
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
        get_forward_flow=args.get_forward_flow, get_backward_flow=args.get_backward_flow,
        blender_image_coordinate_style=args.blender_image_coordinate_style,
        overwrite=args.overwrite or args.resume,  # resumed frames replace what the interrupted bake left of them
        picture_max_radius=args.picture_max_radius, hdf5_compression=args.hdf5_compression,
        render_images=args.images or args.command == "demo", render_depth=args.depth or args.command == "demo",
        image_motion_blur=args.image_motion_blur,
        frame_gap=args.frame_gap, occlusion=args.occlusion, scene_flow=args.scene_flow, verify=args.verify,
        layout=args.layout, sequence=args.sequence or default_sequence(args),
    )
    return scene, options


def default_sequence(args: argparse.Namespace) -> str:
    """The demo's sequence is ``scene``; a scene file's is named as the scale-out names it."""
    from .scale_out import sequence_names

    return "scene" if args.command == "demo" else sequence_names([args.scene])[0]


def write_overview(options: BakeOptions, out: TextIO) -> None:
    """The demo's figure: images above forward and backward flow, as in BlenderProc's example."""
    from .core.atomic import atomic_path
    from .core.formats.png import encode_png
    from .core.overview import overview_picture

    path = options.output_dir / "overview.png"
    picture = overview_picture(options.output_dir, options.frames, sorted(options.formats),
                               options.blender_image_coordinate_style)
    with atomic_path(path) as temporary:
        temporary.write_bytes(encode_png(picture))
    print(f"Overview picture: {path}", file=out)


class StopRequest:
    """Ctrl-C, SIGTERM and SIGHUP stop the bake after the frame in hand (its files, the manifest and the
    scene stay whole, the temporary files go); a second one stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                number = getattr(signal, name)
                self.previous[number] = signal.signal(number, self.stop)
        return self

    def stop(self, number: int, _frame: object) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = number

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


class FrameReport:
    """Frames done, rate and time left: a progress bar on a terminal (tqdm), else one line per frame."""

    def __init__(self, total: int, out: TextIO, bar: bool) -> None:
        self.out, self.bar = out, None
        if bar:
            try:
                from tqdm import tqdm
            except ImportError:  # pip install . brings tqdm; without it, lines
                return
            self.bar = tqdm(total=total, unit="frame", desc="Baking flow", file=out)

    def frame(self, progress: BakeProgress) -> None:
        if self.bar is None:
            print(f"frame {progress.frame:>5}  {progress.done}/{progress.total}  {progress.seconds * 1000:7.0f} ms  "
                  f"{len(progress.written)} files", file=self.out)
        else:
            self.bar.set_postfix_str(f"frame {progress.frame}", refresh=False)
            self.bar.update(progress.done - self.bar.n)  # a resumed bake starts with the frames it kept

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def report(frames: Generator, options: BakeOptions, stop: StopRequest, out: TextIO, bar: bool) -> int:
    """Show the frames as they are done and a summary; stop after the frame in hand when asked.
    Returns the exit status."""
    started = time.perf_counter()
    shown = FrameReport(len(options.frames), out, bar)
    progress = None
    try:
        for progress in frames:
            shown.frame(progress)
            if stop.signal is not None:
                frames.close()
                break
    finally:
        shown.close()
    if stop.signal is not None:
        done = progress.done if progress else 0
        print(f"Stopped by {signal.Signals(stop.signal).name} after {done} of {len(options.frames)} frames; "
              f"their files in {options.output_dir} are complete{' and manifest.json lists them' if done else ''}.",
              file=out)
        return 128 + stop.signal
    if progress is None:
        print(f"All {len(options.frames)} frames in {options.output_dir} were already whole: nothing to bake.",
              file=out)
        return 0
    for note in progress.notes:
        print(f"note: {note}", file=out)
    written = {name for frame in options.frames for name in options.written_products(frame)}  # a layout's, say
    flows = " and ".join(name.replace("_", " ") for name in ("forward_flow", "backward_flow") if name in written)
    others = [label for label, name in (("images", "colors"), ("depth", "depth")) if name in written]
    print(f"Flow for {progress.total} frames written to {options.output_dir} "
          f"in {duration(time.perf_counter() - started)}: "
          f"{', '.join([*others, f'{flows} with masks'])}, as {', '.join(f.lower() for f in options.written_formats)}.",
          file=out)
    return 0


def in_flags(message: str) -> str:
    for setting, flag in FLAGS.items():
        message = message.replace(setting, flag)
    return message


def main(argv: list[str] | None = None, prog: str = "python -m optical_flow_addon") -> int:
    """Run a command; every way it ends is one clear line and an exit status (never a hang in Blender's teardown)."""
    try:
        args = parser(prog).parse_args(argv)
    except KeyboardInterrupt:
        print("Stopped by Ctrl-C.", file=sys.stderr)
        return 130
    return run_guarded(args)


class Stopped(KeyboardInterrupt):
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) that ends the command at once; ``signal`` is its number."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.signal = number


def run_guarded(args: argparse.Namespace) -> int:
    """Run parsed arguments; an error is one line on stderr and exit status 1, a stop 128 + the signal."""
    try:
        return run(args) or 0
    except FlowError as error:
        print(f"error: {in_flags(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        number = getattr(stop, "signal", signal.SIGINT)
        print("Stopped by Ctrl-C." if number == signal.SIGINT else f"Stopped by {signal.Signals(number).name}.",
              file=sys.stderr)
        return 128 + number
    except Exception as error:  # a bug: say so in one line, the details on request
        if args.verbose:
            traceback.print_exc()
        print(f"error: unexpected {type(error).__name__}: {error}. This is a bug: run again with --verbose and "
              "report what it prints.", file=sys.stderr)
        return 1


def console() -> None:
    """The ``optical-flow`` command that ``pip install .`` makes."""
    from . import stop_at_once_on_signals

    stop_at_once_on_signals()
    exit_now(main(prog="optical-flow"))


def remove_blender_session_folder() -> None:
    """Blender's teardown removes its session folder (``/tmp/blender_XXXXXX``); ``exit_now`` skips the teardown."""
    bpy = sys.modules.get("bpy")
    try:
        folder = Path(bpy.app.tempdir) if bpy is not None else None
    except (AttributeError, TypeError, ValueError):
        return
    if folder is not None and folder.name.startswith("blender_") and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def exit_now(status: int) -> None:
    """Leave without Blender's teardown, which can hang or crash after the work is done (bpy 4.2–4.5), but
    with its session folder removed."""
    remove_blender_session_folder()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
