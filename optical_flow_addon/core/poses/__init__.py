"""Camera pose files: one small module per format, registered in ``POSE_FORMATS``.

A format module defines
``NAME`` (identifier), ``LABEL`` (shown to users), ``EXTENSIONS``, ``FILE_NAME`` (default export name),
``CONVENTION`` (what its matrices mean unless the user says otherwise),
``looks_like(path, text) -> bool``, ``read(path, text) -> CameraPoses`` with the matrices as the file stores
them, and ``write(path, poses, convention) -> {path: text}`` for matrices already in the file's convention;
the helpers they share are in ``common``.
``read_camera_poses`` and ``write_camera_poses`` convert to and from Blender's convention.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..atomic import atomic_path
from ..errors import FlowError
from ..transforms import Convention
from . import blenderproc, colmap, kitti, matrices, nerf, tum
from .common import CameraPoses, data_lines, read_text, shown

POSE_FORMATS = {module.NAME: module for module in (blenderproc, matrices, tum, kitti, colmap, nerf)}


def format_module(format_name: str):
    if format_name not in POSE_FORMATS:
        raise FlowError(f"Unknown camera pose format {format_name!r}; choose from {', '.join(POSE_FORMATS)}.")
    return POSE_FORMATS[format_name]


def detect_format(path: Path, text: str):
    """The one format whose extension and content fit, or a FlowError asking for the format."""
    suffix = path.suffix.lower()
    owners = [m for m in POSE_FORMATS.values() if suffix in m.EXTENSIONS]
    candidates = [m for m in owners if m.looks_like(path, text)]
    labels = ", ".join(m.LABEL for m in POSE_FORMATS.values())
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise FlowError(f"{path} could be {' or '.join(m.LABEL for m in candidates)}; choose the format.")
    named = [m for m in POSE_FORMATS.values() if path.name.lower() == m.FILE_NAME]  # e.g. camera_positions, images.txt
    if len(named) == 1 or len(owners) == 1:  # malformed content: the format the name points to says what is wrong
        return (named or owners)[0]
    if not owners:
        raise FlowError(f"{path}: no camera pose format uses the extension {suffix!r}; choose the format ({labels}).")
    if not data_lines(text):
        raise FlowError(f"{path} contains no camera poses (it is empty or only comments).")
    expected = "; ".join(f"{m.LABEL}: {m.EXPECTED}" for m in owners)
    raise FlowError(f"{path}: cannot tell the camera pose format from its first line {shown(data_lines(text)[0][1])}. "
                    f"Expected one of these, or choose the format: {expected}.")


def convention_for(module, camera_axes: str = "AUTO", direction: str = "AUTO", world_up: str = "AUTO",
                   scale: float = 1.0) -> Convention:
    """The format's own convention with the user's choices ('AUTO' keeps the format's) applied."""
    choices = {"camera_axes": camera_axes, "direction": direction, "world_up": world_up}
    return replace(module.CONVENTION, scale=scale, **{key: value for key, value in choices.items() if value != "AUTO"})


def read_camera_poses(path: str | Path, format_name: str = "AUTO", camera_axes: str = "AUTO",
                      direction: str = "AUTO", world_up: str = "AUTO", scale: float = 1.0) -> CameraPoses:
    """Read a pose file into Blender's convention; 'AUTO' picks the format or keeps its convention."""
    path = Path(path)
    text = read_text(path)
    module = detect_format(path, text) if format_name == "AUTO" else format_module(format_name)
    convention = convention_for(module, camera_axes, direction, world_up, scale)
    poses = module.read(path, text)
    if not poses.matrices:
        raise FlowError(f"{path} contains no camera poses; expected {module.LABEL}: {module.EXPECTED}.")
    return replace(poses, matrices=[convention.to_blender(matrix) for matrix in poses.matrices])


def write_camera_poses(path: str | Path, poses: CameraPoses, format_name: str, camera_axes: str = "AUTO",
                       direction: str = "AUTO", world_up: str = "AUTO", scale: float = 1.0,
                       overwrite: bool = False) -> list[Path]:
    """Write Blender-convention poses in a format; nothing is written if any file exists and not ``overwrite``."""
    module = format_module(format_name)
    convention = convention_for(module, camera_axes, direction, world_up, scale)
    stored = replace(poses, matrices=[convention.from_blender(matrix) for matrix in poses.matrices])
    files = module.write(Path(path), stored, convention)
    existing = [str(file) for file in files if file.exists()]
    if existing and not overwrite:
        raise FlowError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                        "choose another file or allow overwriting.")
    for file, text in files.items():
        with atomic_path(file) as temporary:
            temporary.write_text(text, encoding="utf-8")
    return list(files)
