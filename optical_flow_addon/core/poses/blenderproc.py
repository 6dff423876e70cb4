"""BlenderProc ``camera_positions``: ``x y z rx ry rz`` per line (Euler XYZ radians, camera-to-world)."""
from __future__ import annotations

from pathlib import Path

from ..transforms import euler_xyz_to_matrix, pose_matrix
from . import CameraPoses, data_lines, parse_numbers

NAME = "BLENDERPROC"
EXTENSIONS = ("", ".txt")
EXPECTED = "x y z rx ry rz: location and Euler XYZ rotation in radians"


def looks_like(path: Path, text: str) -> bool:
    lines = data_lines(text)
    return path.suffix in EXTENSIONS and bool(lines) and all(len(line.split()) == 6 for _, line in lines)


def read(path: Path, text: str) -> CameraPoses:
    matrices = []
    for number, line in data_lines(text):
        x, y, z, rx, ry, rz = parse_numbers(path, number, line, 6, EXPECTED)
        matrices.append(pose_matrix(euler_xyz_to_matrix(rx, ry, rz), (x, y, z)))
    return CameraPoses(path, matrices)
