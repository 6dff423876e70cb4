"""The command line's flags and their types."""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import NoReturn

from ..core.formats.hdf5 import HDF5_COMPRESSIONS
from ..core.options import BLENDERPROC, IMAGE_MOTION_BLUR, LAYOUT_CHOICES, TRACK_FORMATS, TRACK_QUERIES
from ..core.poses import POSE_FORMATS
from ..core.render_devices import AUTO, DEVICES
from ..core.transforms import CAMERA_AXES, DIRECTIONS, WORLD_UP
from .scene import DEMO_SAMPLES, MESH_IMPORTERS, MESH_SCENE_SAMPLES

DESCRIPTION = "Command line: python -m optical_flow_addon bake|demo with the bpy module, vis without it."
DASK_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+)(:\d{1,5})?")  # HOST or [IPv6], and a PORT


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


def scheduler_address(text: str) -> str:
    """``local:N`` (N worker processes on this machine) or a running Dask scheduler's ``PROTOCOL://HOST:PORT``."""
    kind, _, count = text.partition(":")
    protocol, separator, place = text.partition("://")
    try:
        if kind == "local" and not separator:
            positive_number(count)
            return text
    except argparse.ArgumentTypeError:
        pass
    else:
        if separator and protocol in DASK_PROTOCOLS and ADDRESS.fullmatch(place):
            return text
    raise argparse.ArgumentTypeError(
        "expected local:N (N worker processes on this machine) or a Dask scheduler's address PROTOCOL://HOST:PORT "
        f"such as tcp://10.0.0.5:8786 (PROTOCOL one of {', '.join(DASK_PROTOCOLS)}), got {text!r}")


def add_scale_out_options(bake: argparse.ArgumentParser) -> None:
    """Spread a bake over processes and machines: scale_out.py."""
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


def add_track_options(command: argparse.ArgumentParser) -> None:
    """Point tracks: core/tracks.py."""
    group = command.add_argument_group("point tracks")
    group.add_argument("--tracks", type=positive_number, metavar="N", dest="track_count",
                       help="follow N query points on visible surfaces through every frame of the sequence: "
                       "tracks.npz with image positions, occlusion and 3-D positions")
    group.add_argument("--track-queries", type=str.upper, default="SPREAD", choices=list(TRACK_QUERIES),
                       help="spread: query points spread evenly over the frames (as Kubric); first: all on the "
                       "first frame (TAP-Vid's first mode) (default: spread)")
    group.add_argument("--track-balance", action="store_true",
                       help="share each frame's query points equally among its visible objects")
    group.add_argument("--track-seed", type=int, default=0, metavar="S",
                       help="the query points' random choice: the same seed, the same points (default: 0)")
    group.add_argument("--track-formats", default="", metavar="LIST",
                       help="comma-separated, besides tracks.npz: " + ", ".join(f.lower() for f in TRACK_FORMATS)
                       + " (TAP-Vid's DAVIS pickle, PointOdyssey's annotations.npz)")


class Parser(argparse.ArgumentParser):
    """argparse's parser, with a hint where its own message leaves the user stuck."""

    def error(self, message: str) -> NoReturn:
        if message == "argument --frames: expected one argument":  # --frames -3-2 reads as an option
            message += "; a first frame below 0 goes after an equals sign: --frames=-3-2"
        super().error(message)


def parser(prog: str = "python -m optical_flow_addon") -> argparse.ArgumentParser:
    from .. import __version__

    # the module's first paragraph, without its reStructuredText markup
    main = Parser(prog=prog, description=DESCRIPTION)
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
        command.add_argument("--no-forward-flow", dest="get_forward_flow", action="store_false",
                             help="no forward flow (frame t to t+K)")
        command.add_argument("--no-backward-flow", dest="get_backward_flow", action="store_false",
                             help="no backward flow (frame t to t-K)")
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
                             "(every HDF5 reader); docs/how-to/formats.md has sizes and times (default: none)")
        command.add_argument("--frame-gap", type=int, default=1, metavar="K",
                             help="forward flow goes from frame t to t+K, backward flow to t-K (default 1)")
        command.add_argument("--layout", type=str.upper, default=BLENDERPROC, choices=list(LAYOUT_CHOICES),
                             help="blenderproc: its files in --formats (default); sintel, kitti, flyingthings3d: the "
                             "dataset's folders, which torchvision and ptlflow load unchanged; cotracker: the "
                             "folders CoTracker trains on (with --tracks); spring: Spring's (with --stereo "
                             "--truth-scale 2)")
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
        command.add_argument("--segmentation", action="store_true",
                             help="also write each pixel's object instance (0: background), the manifest naming each")
        command.add_argument("--normals", choices=["shading", "geometric"], type=str.lower,
                             help="also write each pixel's surface normal in the camera axes: the smooth shading "
                             "normal or the triangle's own")
        command.add_argument("--stereo", action="store_true",
                             help="also render the right view of the camera's Stereo 3D rig and write disparity, "
                             "disparity change and stereo masks of both views")
        command.add_argument("--truth-scale", type=int, default=1, choices=[1, 2],
                             help="per-pixel truth (flow, depth, masks, disparity...) sampled at N×N points per "
                             "image pixel, as Spring's 2×2; the images keep their resolution (default: 1)")
        add_track_options(command)
        command.add_argument("--samples", type=positive_number, metavar="N",
                             help="Cycles samples per pixel of the images (default: the scene's; "
                             f"{MESH_SCENE_SAMPLES} for a mesh file, {DEMO_SAMPLES} for the demo)")
        command.add_argument("--denoise", action=argparse.BooleanOptionalAction,
                             help="denoise the images with Cycles' denoiser, or not (default: the scene's setting; "
                             "on for a mesh file and the demo, as in Blender)")
        command.add_argument("--image-motion-blur", type=str.upper, default="OFF", choices=list(IMAGE_MOTION_BLUR),
                             help="off: sharp images aligned with the flow; scene: the scene's own motion blur")
        command.add_argument("--device", type=str.upper, default=AUTO, choices=list(DEVICES),
                             help="what Cycles renders the images and the flow passes on: auto takes the best device "
                             "present (optix, then cuda, hip, metal, oneapi, else the cpu); a device not present is an "
                             "error (default: auto)")
        again = command.add_mutually_exclusive_group()
        again.add_argument("--overwrite", action="store_true",
                           help="replace the bake in the output folder (its flow files are removed first)")
        again.add_argument("--resume", action="store_true",
                           help="continue an interrupted bake with the same settings: frames whose files are all "
                           "there and whole are kept, the others are baked")
    vis = commands.add_parser("vis", help="picture of a bake's file: flow (forward, backward, masks and the "
                              "colour wheel), disparity, segmentation and normals, or point tracks")
    vis.add_argument("path", type=Path,
                     help="a bake's file: .npy, .npz, .flo, KITTI .png, .pfm, .exr, .hdf5, Spring's .flo5 and .dsp5, "
                     "the stereo layouts' disparity files (KITTI's and Sintel's .png, FlyingThings3D's disparity and "
                     "disparity change .pfm), or tracks.npz")
    vis.add_argument("--output", type=Path, help="PNG to write (default: show the picture in the image viewer)")
    vis.add_argument("--frame", type=int, help="frame of a sequence file (default: its first)")
    vis.add_argument("--max-radius", type=float, metavar="PX",
                     help="flow length at the colour wheel's rim (default: the longest valid vector)")
    vis.add_argument("--overwrite", action="store_true", help="replace the output PNG if it exists")
    for command in (bake, demo, vis):
        command.add_argument("--verbose", action="store_true",
                             help="show Blender's render log and the details of unexpected errors")
    return main
