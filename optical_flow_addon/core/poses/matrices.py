"""Plain 4×4 matrices: 16 numbers per line, or 4 lines of 4 numbers per pose (row-major)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..transforms import Convention
from .common import CameraPoses, checked_pose, data_lines, first_line_has, format_number, parse_numbers

NAME = "MATRICES"
LABEL = "4×4 Matrices"
EXTENSIONS = ("", ".txt")
FILE_NAME = "camera_poses.txt"
CONVENTION = Convention("BLENDER", "CAMERA_TO_WORLD", "Z")
EXPECTED = "a 4×4 matrix per pose, row-major: 16 numbers per line or 4 lines of 4 numbers"


def looks_like(path: Path, text: str) -> bool:
    return first_line_has(text, 16) or first_line_has(text, 4)


def read(path: Path, text: str) -> CameraPoses:
    lines = data_lines(text)
    if not (lines and len(lines[0][1].split()) == 4):
        return CameraPoses(path, [checked_pose(path, f"line {n}", np.reshape(
            parse_numbers(path, n, line, 16, "a row-major 4×4 matrix"), (4, 4))) for n, line in lines])
    complete = len(lines) - len(lines) % 4  # one row per line, four lines per pose
    matrices = [checked_pose(path, f"the pose on lines {lines[i][0]}-{lines[i + 3][0]}", np.array(
        [parse_numbers(path, n, line, 4, "one row of a 4×4 matrix") for n, line in lines[i:i + 4]]))
        for i in range(0, complete, 4)]
    if complete < len(lines):
        raise FlowError(f"{path}, line {lines[complete][0]}: the last pose has only {len(lines) - complete} of its "
                        f"4 rows; expected {EXPECTED}.")
    return CameraPoses(path, matrices)


def write(path: Path, poses: CameraPoses, convention: Convention) -> dict[Path, str]:
    header = f"# 4x4 matrices, row-major, one per line: {convention.describe()}\n"
    return {path: header + "".join(" ".join(map(format_number, m.ravel())) + "\n" for m in poses.matrices)}
