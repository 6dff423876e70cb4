"""Rotation and pose maths, and the conventions that say what a pose file's matrices mean."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FlowError

ORTHONORMAL_TOLERANCE = 1e-3  # files round to 4-6 digits; a scaled or sheared matrix is far off
UNIT_QUATERNION_TOLERANCE = 1e-3

# Identifier: (name, meaning), for messages, file headers and the add-on's options.
CAMERA_AXES = {
    "OPENCV": ("OpenCV", "the camera looks along its +z, with x right and y down in the image"),
    "BLENDER": ("Blender/OpenGL", "the camera looks along its -z, with x right and y up in the image"),
}
DIRECTIONS = {
    "CAMERA_TO_WORLD": ("Camera-to-World", "the camera's pose: maps camera coordinates to world coordinates"),
    "WORLD_TO_CAMERA": ("World-to-Camera", "the view matrix: maps world coordinates to camera coordinates"),
}
# Rotations taking the file's world to Blender's Z-up world: p_blender = W @ p_file.
WORLD_UP = {
    "Z": np.eye(3),
    "Y": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),  # Y-up (glTF, OpenGL): (x, y, z) -> (x, -z, y)
    "NEG_Y": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),  # Y-down (OpenCV world): (x, y, z) -> (x, z, -y)
}
WORLD_UP_NAMES = {
    "Z": ("Z Up", "the file's world is Blender's: Z up"),
    "Y": ("Y Up", "Y points up (glTF, OpenGL worlds): file (x, y, z) becomes Blender (x, -z, y)"),
    "NEG_Y": ("Y Down", "Y points down (OpenCV worlds such as KITTI's): file (x, y, z) becomes Blender (x, z, -y)"),
}
# Blender camera axes from OpenCV's: y and z flip. The matrix is its own inverse.
FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Convention:
    """What a file's 4×4 matrices mean: camera axes, direction, world up axis and unit.

    ``scale`` is Blender units per file unit. Blender's own convention is the default.
    """

    camera_axes: str = "BLENDER"
    direction: str = "CAMERA_TO_WORLD"
    world_up: str = "Z"
    scale: float = 1.0

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.camera_axes, CAMERA_AXES, "camera axes"),
                                     (self.direction, DIRECTIONS, "pose direction"),
                                     (self.world_up, WORLD_UP, "world up axis")):
            if value not in allowed:
                raise FlowError(f"Unknown {what} {value!r}; expected one of {', '.join(allowed)}.")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise FlowError(f"Scale must be a positive number, got {self.scale}.")

    def to_blender(self, matrix: np.ndarray) -> np.ndarray:
        """The file's matrix as Blender's camera-to-world matrix (Blender camera axes, Z up, Blender units)."""
        pose = rigid_inverse(matrix) if self.direction == "WORLD_TO_CAMERA" else matrix.copy()
        if self.camera_axes == "OPENCV":
            pose = pose @ FLIP_YZ
        pose[:3] = WORLD_UP[self.world_up] @ pose[:3]
        pose[:3, 3] *= self.scale
        return pose

    def from_blender(self, pose: np.ndarray) -> np.ndarray:
        """Inverse of ``to_blender``: Blender's camera-to-world matrix as this file stores it."""
        matrix = pose.copy()
        matrix[:3, 3] /= self.scale
        matrix[:3] = WORLD_UP[self.world_up].T @ matrix[:3]
        if self.camera_axes == "OPENCV":
            matrix = matrix @ FLIP_YZ
        return rigid_inverse(matrix) if self.direction == "WORLD_TO_CAMERA" else matrix

    def describe(self) -> str:
        axes_name, axes = CAMERA_AXES[self.camera_axes]
        return (f"{DIRECTIONS[self.direction][0].lower()}; camera axes {axes_name} ({axes}); "
                f"world {WORLD_UP_NAMES[self.world_up][0]}; 1 file unit = {self.scale:g} Blender units")


def rigid_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a rotation-plus-translation matrix: [Rᵀ | -Rᵀt]."""
    inverse = np.eye(4)
    inverse[:3, :3] = matrix[:3, :3].T
    inverse[:3, 3] = -matrix[:3, :3].T @ matrix[:3, 3]
    return inverse


def pose_matrix(rotation: np.ndarray, translation) -> np.ndarray:
    """4×4 homogeneous matrix from a 3×3 rotation and a translation."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix


def pose_problem(matrix: np.ndarray) -> str | None:
    """Why a 4×4 matrix is not a rotation plus translation, or None when it is one."""
    if not np.all(np.isfinite(matrix)):
        return "numbers must be finite (no nan or inf)"
    if np.abs(matrix[3] - (0, 0, 0, 1)).max() > 1e-6:
        return f"the last row must be 0 0 0 1, found {' '.join(f'{v:g}' for v in matrix[3])}"
    rotation = matrix[:3, :3]
    deviation = np.abs(rotation.T @ rotation - np.eye(3)).max()
    if deviation > ORTHONORMAL_TOLERANCE:
        return (f"the rotation part is not orthonormal (off by {deviation:.3g}): expected unit-length, "
                "perpendicular axes; give a uniform scale with the Scale option instead")
    if np.linalg.det(rotation) < 0:
        return "the rotation part is a mirror (determinant -1), not a rotation: check the camera axes"
    return None


def orthonormalized(matrix: np.ndarray) -> np.ndarray:
    """The nearest exact rotation (files round their numbers), translation kept."""
    u, _, vt = np.linalg.svd(matrix[:3, :3])
    return pose_matrix(u @ vt, matrix[:3, 3])


def euler_xyz_to_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    """Blender's 'XYZ' Euler order: rotate about X, then Y, then Z (R = Rz·Ry·Rx)."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def matrix_to_euler_xyz(rotation: np.ndarray) -> tuple[float, float, float]:
    """Angles (rx, ry, rz) with ``euler_xyz_to_matrix`` giving ``rotation`` back."""
    ry = float(np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0)))
    if np.hypot(rotation[2, 1], rotation[2, 2]) < 1e-9:  # looking straight along ±x: rx and rz share one angle
        return 0.0, ry, float(np.arctan2(-rotation[0, 1], rotation[1, 1]))
    return float(np.arctan2(rotation[2, 1], rotation[2, 2])), ry, float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def quaternion_to_matrix(w: float, x: float, y: float, z: float) -> np.ndarray:
    """3×3 rotation of a unit quaternion (scalar first)."""
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (w, x, y, z) with w ≥ 0 for a 3×3 rotation; from its largest component, so it stays exact."""
    r = rotation
    candidates = np.array([
        [1 + r[0, 0] + r[1, 1] + r[2, 2], r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]],
        [r[2, 1] - r[1, 2], 1 + r[0, 0] - r[1, 1] - r[2, 2], r[0, 1] + r[1, 0], r[0, 2] + r[2, 0]],
        [r[0, 2] - r[2, 0], r[0, 1] + r[1, 0], 1 - r[0, 0] + r[1, 1] - r[2, 2], r[1, 2] + r[2, 1]],
        [r[1, 0] - r[0, 1], r[0, 2] + r[2, 0], r[1, 2] + r[2, 1], 1 - r[0, 0] - r[1, 1] + r[2, 2]],
    ])
    row = candidates[int(np.argmax(np.diag(candidates)))]  # row k is 4·q_k·q, largest q_k is best conditioned
    quaternion = row / np.linalg.norm(row)
    return tuple(float(v) for v in (quaternion if quaternion[0] >= 0 else -quaternion))


def quaternion_problem(quaternion) -> str | None:
    """Why four numbers are not a unit quaternion, or None."""
    norm = float(np.linalg.norm(quaternion))
    if abs(norm - 1) > UNIT_QUATERNION_TOLERANCE:
        return f"the quaternion must have length 1, found {norm:.6g}"
    return None
