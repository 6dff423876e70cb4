"""Rotation and pose maths shared by pose formats and camera intrinsics."""
from __future__ import annotations

import numpy as np


def euler_xyz_to_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    """Blender's 'XYZ' Euler order: rotate about X, then Y, then Z (R = Rz·Ry·Rx)."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def pose_matrix(rotation: np.ndarray, translation) -> np.ndarray:
    """4×4 homogeneous matrix from a 3×3 rotation and a translation."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix
