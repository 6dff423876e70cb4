"""BlenderProc camera_positions: x y z rx ry rz per line (Euler XYZ radians, camera-to-world, Blender axes)."""
from __future__ import annotations

from pathlib import Path

from ..transforms import Convention, euler_xyz_to_matrix, matrix_to_euler_xyz, pose_matrix
from .common import CameraPoses, checked_pose, data_lines, first_line_has, format_number, parse_numbers

NAME = "BLENDERPROC"
LABEL = "BlenderProc"
EXTENSIONS = ("", ".txt")
FILE_NAME = "camera_positions"
CONVENTION = Convention("BLENDER", "CAMERA_TO_WORLD", "Z")
EXPECTED = "6 numbers per line, x y z rx ry rz (location and Euler XYZ rotation in radians)"


def looks_like(path: Path, text: str) -> bool:
    return first_line_has(text, 6)


def read(path: Path, text: str) -> CameraPoses:
    matrices = []
    for number, line in data_lines(text):
        x, y, z, rx, ry, rz = parse_numbers(path, number, line, 6,
                                            "x y z rx ry rz: location and Euler XYZ rotation in radians")
        matrices.append(checked_pose(path, f"line {number}", pose_matrix(euler_xyz_to_matrix(rx, ry, rz), (x, y, z))))
    return CameraPoses(path, matrices)


def write(path: Path, poses: CameraPoses, convention: Convention) -> dict[Path, str]:
    """No header: BlenderProc's loaders read every line as numbers."""
    lines = (" ".join(map(format_number, (*m[:3, 3], *matrix_to_euler_xyz(m[:3, :3])))) for m in poses.matrices)
    return {path: "".join(line + "\n" for line in lines)}
