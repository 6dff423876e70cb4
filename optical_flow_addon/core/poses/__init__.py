"""Camera pose files: one small module per format, all returning :class:`CameraPoses`.

A format module defines ``NAME`` (shown to users), ``EXTENSIONS``, ``looks_like(path, text) -> bool``
and ``read(path, text) -> CameraPoses``. Register it in ``FORMATS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FlowError


@dataclass
class CameraPoses:
    """Camera-to-world 4×4 matrices in Blender camera axes (x right, y up, looking along -z)."""

    source: Path
    camera_to_world: list[np.ndarray]


def parse_numbers(path: Path, line_number: int, line: str, count: int, expected: str) -> list[float]:
    """Parse one line of whitespace-separated numbers, or say exactly what is wrong with it."""
    fields = line.split()
    if len(fields) != count:
        raise FlowError(f"{path}, line {line_number}: expected {count} numbers ({expected}), found {len(fields)}: {line.strip()!r}")
    try:
        numbers = [float(field) for field in fields]
    except ValueError:
        raise FlowError(f"{path}, line {line_number}: expected {count} numbers ({expected}), found {line.strip()!r}") from None
    if not all(np.isfinite(numbers)):
        raise FlowError(f"{path}, line {line_number}: numbers must be finite (no nan or inf): {line.strip()!r}")
    return numbers


def data_lines(text: str) -> list[tuple[int, str]]:
    """(line number, content) of lines that are not blank; ``#`` starts a comment."""
    lines = ((number, line.split("#", 1)[0]) for number, line in enumerate(text.splitlines(), start=1))
    return [(number, line) for number, line in lines if line.strip()]


from . import blenderproc  # noqa: E402  (format modules use the helpers above)

FORMATS = {module.NAME: module for module in (blenderproc,)}


def read_camera_poses(path: str | Path, format_name: str = "AUTO") -> CameraPoses:
    """Read a pose file; ``AUTO`` picks the format from the extension and content."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowError(f"Camera pose file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise FlowError(f"{path} is not a text file; expected a camera pose file.") from None
    except OSError as error:
        raise FlowError(f"Cannot read camera pose file {path}: {error.strerror}") from error
    if format_name == "AUTO":
        candidates = [m for m in FORMATS.values() if m.looks_like(path, text)]
        if not candidates:  # malformed content: let the one format that owns the extension say what is wrong
            candidates = [m for m in FORMATS.values() if path.suffix.lower() in m.EXTENSIONS]
        if len(candidates) != 1:
            found = "several formats: " + ", ".join(m.NAME for m in candidates) if candidates else "no known format"
            raise FlowError(f"{path} matches {found}; choose the format ({', '.join(FORMATS)}).")
        module = candidates[0]
    elif format_name in FORMATS:
        module = FORMATS[format_name]
    else:
        raise FlowError(f"Unknown camera pose format {format_name!r}; choose from {', '.join(FORMATS)}.")
    poses = module.read(path, text)
    if not poses.camera_to_world:
        raise FlowError(f"{path} contains no camera poses.")
    return poses
