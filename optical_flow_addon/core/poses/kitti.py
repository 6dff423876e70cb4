"""KITTI odometry poses: 12 numbers per line, a row-major 3×4 camera-to-world matrix.

OpenCV camera axes; the world is the first camera."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..transforms import Convention
from .common import CameraPoses, checked_pose, data_lines, first_line_has, format_number, parse_numbers

NAME = "KITTI"
LABEL = "KITTI Odometry"
EXTENSIONS = ("", ".txt")
FILE_NAME = "kitti_poses.txt"
# The world is the first camera's OpenCV frame: y points down, so Blender's up is its -y.
CONVENTION = Convention("OPENCV", "CAMERA_TO_WORLD", "NEG_Y")
EXPECTED = "12 numbers per line, a row-major 3×4 matrix"


def looks_like(path: Path, text: str) -> bool:
    return first_line_has(text, 12)


def read(path: Path, text: str) -> CameraPoses:
    matrices = []
    for number, line in data_lines(text):
        rows = parse_numbers(path, number, line, 12, "a row-major 3×4 matrix [R | t]")
        matrices.append(checked_pose(path, f"line {number}", np.vstack([np.reshape(rows, (3, 4)), [0, 0, 0, 1]])))
    return CameraPoses(path, matrices)


def write(path: Path, poses: CameraPoses, convention: Convention) -> dict[Path, str]:
    """No header: KITTI tools read every line as numbers."""
    return {path: "".join(" ".join(map(format_number, m[:3].ravel())) + "\n" for m in poses.matrices)}
