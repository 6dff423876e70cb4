"""What every camera pose format shares: the poses read, and the checks and messages of its readers."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..camera import Intrinsics
from ..errors import FlowError
from ..transforms import orthonormalized, pose_problem


@dataclass
class CameraPoses:
    """Poses of one camera, in order, and what the file says about the camera.

    From ``read_camera_poses`` the matrices are Blender's: camera-to-world, Blender camera axes
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
        raise FlowError(f"{path}, line {line_number}: expected {count} numbers ({expected}), "
                        f"found {len(fields)}: {shown(line)}")
    try:
        numbers = [float(field) for field in fields]
    except ValueError:
        raise FlowError(f"{path}, line {line_number}: expected {count} numbers ({expected}), "
                        f"found {shown(line)}") from None
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
