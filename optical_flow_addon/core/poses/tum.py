"""TUM RGB-D trajectory: timestamp tx ty tz qx qy qz qw per line (camera-to-world, optical frame: OpenCV axes)."""
from __future__ import annotations

from pathlib import Path

from ..errors import FlowError
from ..transforms import Convention, matrix_to_quaternion, pose_matrix, quaternion_problem, quaternion_to_matrix
from .common import CameraPoses, checked_pose, data_lines, first_line_has, format_number, parse_numbers

NAME = "TUM"
LABEL = "TUM RGB-D"
EXTENSIONS = ("", ".txt", ".tum")
FILE_NAME = "groundtruth.txt"
CONVENTION = Convention("OPENCV", "CAMERA_TO_WORLD", "Z")
EXPECTED = "8 numbers per line, timestamp tx ty tz qx qy qz qw (quaternion scalar last)"


def looks_like(path: Path, text: str) -> bool:
    return first_line_has(text, 8)


def read(path: Path, text: str) -> CameraPoses:
    matrices, times = [], []
    for number, line in data_lines(text):
        time, tx, ty, tz, qx, qy, qz, qw = parse_numbers(path, number, line, 8, "timestamp tx ty tz qx qy qz qw")
        if times and time <= times[-1]:
            raise FlowError(f"{path}, line {number}: timestamp {time:.17g} is not after the previous one "
                            f"({times[-1]:.17g}); expected poses in time order.")
        problem = quaternion_problem((qw, qx, qy, qz))
        if problem:
            raise FlowError(f"{path}, line {number}: {problem} (qx qy qz qw are the last four numbers).")
        norm = (qw * qw + qx * qx + qy * qy + qz * qz) ** 0.5
        rotation = quaternion_to_matrix(qw / norm, qx / norm, qy / norm, qz / norm)
        matrices.append(checked_pose(path, f"line {number}", pose_matrix(rotation, (tx, ty, tz))))
        times.append(time)
    return CameraPoses(path, matrices, times=times)


def write(path: Path, poses: CameraPoses, convention: Convention) -> dict[Path, str]:
    times = poses.times or [float(index) for index in range(len(poses.matrices))]
    lines = []
    for time, m in zip(times, poses.matrices):
        qw, qx, qy, qz = matrix_to_quaternion(m[:3, :3])
        lines.append(" ".join(map(format_number, (time, *m[:3, 3], qx, qy, qz, qw))) + "\n")
    return {path: f"# timestamp tx ty tz qx qy qz qw: {convention.describe()}\n" + "".join(lines)}
