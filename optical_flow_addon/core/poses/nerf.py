"""NeRF / instant-ngp transforms.json: frames[].transform_matrix camera-to-world, OpenGL (Blender) camera axes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..transforms import Convention
from .common import CameraPoses, checked_intrinsics, checked_pose, natural_key, shown

NAME = "NERF"
LABEL = "NeRF transforms.json"
EXTENSIONS = (".json",)
FILE_NAME = "transforms.json"
CONVENTION = Convention("BLENDER", "CAMERA_TO_WORLD", "Z")
EXPECTED = 'a JSON object with "frames": [{"file_path": ..., "transform_matrix": 4×4}, ...]'
DISTORTION = ("k1", "k2", "k3", "k4", "p1", "p2")
FRAME_INTRINSICS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x")


def looks_like(path: Path, text: str) -> bool:
    return text.lstrip().startswith("{")


def finite(value) -> float | None:
    """A JSON value as a finite float; None for anything else (true, "1", NaN, 1e999, 10**400)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def described(value) -> str:
    """A JSON value for a message, without dumping a whole list or object."""
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "an object" if value else "an empty object"
    return shown(json.dumps(value))


def number(path: Path, data: dict, key: str) -> float | None:
    """A finite number under ``key``, None when absent."""
    if data.get(key) is None:
        return None
    value = finite(data[key])
    if value is None:
        raise FlowError(f"{path}: \"{key}\" must be a finite number, found {described(data[key])}.")
    return value


def matrix(path: Path, index: int, frame) -> np.ndarray:
    where = f"frames[{index}].transform_matrix"
    rows = frame.get("transform_matrix") if isinstance(frame, dict) else None
    if not (isinstance(rows, list) and len(rows) == 4 and all(isinstance(row, list) and len(row) == 4 for row in rows)):
        if isinstance(rows, list) and all(isinstance(row, list) for row in rows):
            found = f"{len(rows)} rows of {'/'.join(sorted({str(len(row)) for row in rows})) or 'no'} items"
        else:
            found = "no transform_matrix" if rows is None else described(rows)
        raise FlowError(f"{path}, {where}: expected 4 rows of 4 numbers, found {found}.")
    for value in (value for row in rows for value in row):
        if finite(value) is None:
            raise FlowError(f"{path}, {where}: expected finite numbers, found {described(value)}.")
    return checked_pose(path, where, np.array([[finite(value) for value in row] for row in rows]))


def read(path: Path, text: str) -> CameraPoses:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise FlowError(f"{path}, line {error.lineno}, column {error.colno}: not valid JSON ({error.msg}).") from None
    except ValueError as error:  # e.g. an integer with thousands of digits
        raise FlowError(f"{path}: not valid JSON ({error}).") from None
    except RecursionError:
        raise FlowError(f"{path}: the JSON is nested too deeply; expected {EXPECTED}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise FlowError(f"{path}: expected {EXPECTED}.")
    frames = data["frames"]
    matrices = [matrix(path, index, frame) for index, frame in enumerate(frames)]
    poses = CameraPoses(path, matrices)
    if frames and all(isinstance(frame.get("file_path"), str) for frame in frames):
        order = sorted(range(len(frames)), key=lambda i: natural_key(frames[i]["file_path"]))
        if order != sorted(order):
            poses.notes.append("The frames are not listed in file_path order; they were imported in file_path order.")
        poses.matrices = [matrices[i] for i in order]
        poses.names = [frames[i]["file_path"] for i in order]
    read_intrinsics(path, data, poses)
    return poses


def read_intrinsics(path: Path, data: dict, poses: CameraPoses) -> None:
    """instant-ngp's fl_x/fl_y/cx/cy/w/h (image corner at 0, 0), or the original NeRF's camera_angle_x."""
    keys = ("w", "h", "fl_x", "fl_y", "cx", "cy", "camera_angle_x", "camera_angle_y")
    w, h, fl_x, fl_y, cx, cy, angle_x, angle_y = (number(path, data, key) for key in keys)
    for key, angle in (("camera_angle_x", angle_x), ("camera_angle_y", angle_y)):
        if angle is not None and not 0 < angle < math.pi:
            raise FlowError(f"{path}: \"{key}\" must be an angle between 0 and pi radians, found {angle:g}.")
    if fl_x is None and angle_x is not None and w is not None:
        fl_x = w / 2 / math.tan(angle_x / 2)
    if fl_y is None and angle_y is not None and h is not None:
        fl_y = h / 2 / math.tan(angle_y / 2)
    if w is not None and h is not None and fl_x is not None:
        centre = ((cx if cx is not None else w / 2) - 0.5, (cy if cy is not None else h / 2) - 0.5)
        poses.intrinsics = checked_intrinsics(path, "top level", w, h, fl_x, fl_y if fl_y is not None else fl_x,
                                              *centre)
    elif angle_x is not None:
        poses.field_of_view = angle_x
    elif fl_x is not None:
        poses.notes.append('The file gives "fl_x" but not the image size "w" and "h": the lens was not changed.')
    if any(number(path, data, key) for key in DISTORTION):
        poses.notes.append("The file has lens distortion (k1, k2, p1, p2) that a Blender camera cannot have; "
                           "only its focal length and principal point were used.")
    if any(isinstance(frame, dict) and any(key in frame for key in FRAME_INTRINSICS) for frame in data["frames"]):
        poses.notes.append("Intrinsics given per frame were not used; only the file's top-level ones.")


def write(path: Path, poses: CameraPoses, convention: Convention) -> dict[Path, str]:
    data: dict = {}
    k = poses.intrinsics
    if k:
        data = {"camera_angle_x": 2 * math.atan(k.width / 2 / k.fx),
                "camera_angle_y": 2 * math.atan(k.height / 2 / k.fy),
                "fl_x": k.fx, "fl_y": k.fy, "cx": k.cx + 0.5, "cy": k.cy + 0.5, "w": k.width, "h": k.height}
    elif poses.field_of_view is not None:
        data["camera_angle_x"] = poses.field_of_view
    names = poses.names or [f"{index + 1:04d}.png" for index in range(len(poses.matrices))]
    data["frames"] = [{"file_path": name, "transform_matrix": m.tolist()} for name, m in zip(names, poses.matrices)]
    return {path: json.dumps(data, indent=2) + "\n"}
