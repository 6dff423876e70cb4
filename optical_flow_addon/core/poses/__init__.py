"""Camera pose files: one small module per format, registered in ``FORMATS``.

A format module defines
``NAME`` (identifier), ``LABEL`` (shown to users), ``EXTENSIONS``, ``FILE_NAME`` (default export name),
``CONVENTION`` (what its matrices mean unless the user says otherwise),
``looks_like(path, text) -> bool``, ``read(path, text) -> CameraPoses`` with the matrices as the file stores
them, and ``write(path, poses, convention) -> {path: text}`` for matrices already in the file's convention.
:func:`read_camera_poses` and :func:`write_camera_poses` convert to and from Blender's convention.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..camera import Intrinsics
from ..errors import FlowError
from ..transforms import Convention, orthonormalized, pose_problem


@dataclass
class CameraPoses:
    """Poses of one camera, in order, and what the file says about the camera.

    From :func:`read_camera_poses` the matrices are Blender's: camera-to-world, Blender camera axes
    (x right, y up, looking along -z), Z-up world, Blender units.
    """

    source: Path
    matrices: list[np.ndarray]
    times: list[float] | None = None  # seconds (TUM timestamps)
    names: list[str] | None = None  # image names (COLMAP, NeRF)
    intrinsics: Intrinsics | None = None
    field_of_view: float | None = None  # horizontal, radians: NeRF files that give no image size
    notes: list[str] = field(default_factory=list)  # what the import could not use, for the user


def read_text(path: Path, what: str = "camera pose file") -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowError(f"The {what} {path} does not exist.") from None
    except UnicodeDecodeError:
        raise FlowError(f"{path} is not a text file; expected a {what}.") from None
    except OSError as error:
        raise FlowError(f"Cannot read the {what} {path}: {error.strerror or error}") from error


def shown(line: str, limit: int = 80) -> str:
    """A line quoted for a message, cut short so junk cannot flood it."""
    line = line.strip()
    return repr(line if len(line) <= limit else line[:limit] + "…")


def parse_numbers(path: Path, line_number: int, line: str, count: int, expected: str) -> list[float]:
    """Parse one line of whitespace-separated numbers, or say exactly what is wrong with it."""
    fields = line.split()
    if len(fields) != count:
        raise FlowError(f"{path}, line {line_number}: expected {count} numbers ({expected}), found {len(fields)}: {shown(line)}")
    try:
        numbers = [float(field) for field in fields]
    except ValueError:
        raise FlowError(f"{path}, line {line_number}: expected {count} numbers ({expected}), found {shown(line)}") from None
    if not all(np.isfinite(numbers)):
        raise FlowError(f"{path}, line {line_number}: numbers must be finite (no nan or inf): {shown(line)}")
    return numbers


def data_lines(text: str) -> list[tuple[int, str]]:
    """(line number, content) of lines that are not blank; ``#`` starts a comment."""
    lines = ((number, line.split("#", 1)[0]) for number, line in enumerate(text.splitlines(), start=1))
    return [(number, line) for number, line in lines if line.strip()]


def first_line_has(text: str, count: int) -> bool:
    """Whether the first data line holds ``count`` numbers: how plain-text formats recognise themselves."""
    lines = data_lines(text)
    if not lines or len(lines[0][1].split()) != count:
        return False
    try:
        [float(field) for field in lines[0][1].split()]
    except ValueError:
        return False
    return True


def checked_pose(path: Path, where: str, matrix: np.ndarray) -> np.ndarray:
    """The pose as an exact rotation plus translation, or a FlowError saying what is wrong where."""
    problem = pose_problem(matrix)
    if problem:
        raise FlowError(f"{path}, {where}: {problem}.")
    return orthonormalized(matrix)


def checked_intrinsics(path: Path, where: str, width: float, height: float,
                       fx: float, fy: float, cx: float, cy: float) -> Intrinsics:
    """Intrinsics the camera can use, or a FlowError naming the bad value."""
    for name, value in (("width", width), ("height", height)):
        if not (float(value).is_integer() and value >= 1):
            raise FlowError(f"{path}, {where}: image {name} must be a whole number of pixels ≥ 1, found {value:g}.")
    for name, value in (("focal length fx", fx), ("focal length fy", fy)):
        if not (np.isfinite(value) and value > 0):
            raise FlowError(f"{path}, {where}: {name} must be a positive number of pixels, found {value:g}.")
    if not (np.isfinite(cx) and np.isfinite(cy)):
        raise FlowError(f"{path}, {where}: the principal point must be finite, found ({cx:g}, {cy:g}).")
    return Intrinsics(int(width), int(height), float(fx), float(fy), float(cx), float(cy))


def natural_key(name: str) -> list:
    """Sort key putting 'frame_2' before 'frame_10'."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", name))]


def format_number(value: float) -> str:
    """Shortest text that reads back as exactly the same float."""
    return repr(float(value))


from . import blenderproc, colmap, kitti, matrices, nerf, tum  # noqa: E402  (format modules use the helpers above)

FORMATS = {module.NAME: module for module in (blenderproc, matrices, tum, kitti, colmap, nerf)}


def format_module(format_name: str):
    if format_name not in FORMATS:
        raise FlowError(f"Unknown camera pose format {format_name!r}; choose from {', '.join(FORMATS)}.")
    return FORMATS[format_name]


def detect_format(path: Path, text: str):
    """The one format whose extension and content fit, or a FlowError asking for the format."""
    suffix = path.suffix.lower()
    owners = [m for m in FORMATS.values() if suffix in m.EXTENSIONS]
    candidates = [m for m in owners if m.looks_like(path, text)]
    labels = ", ".join(m.LABEL for m in FORMATS.values())
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise FlowError(f"{path} could be {' or '.join(m.LABEL for m in candidates)}; choose the format.")
    named = [m for m in FORMATS.values() if path.name.lower() == m.FILE_NAME]  # e.g. camera_positions, images.txt
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
