"""COLMAP text model: images.txt (world-to-camera, QW QX QY QZ TX TY TZ, OpenCV axes) and cameras.txt next to it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..camera import Intrinsics
from ..errors import FlowError
from ..transforms import Convention, matrix_to_quaternion, pose_matrix, quaternion_problem, quaternion_to_matrix
from .common import (CameraPoses, checked_intrinsics, checked_pose, format_number, natural_key, parse_numbers,
                     read_text, shown)

NAME = "COLMAP"
LABEL = "COLMAP Text"
EXTENSIONS = (".txt",)
FILE_NAME = "images.txt"
CONVENTION = Convention("OPENCV", "WORLD_TO_CAMERA", "Z")
EXPECTED = "images.txt with two lines per image: IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME, then its 2D points"
IMAGE_FIELDS = "IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME"
# Model: (number of parameters, how many focal lengths lead them, fisheye). Parameters: focal(s), cx, cy, distortion.
MODELS = {
    "SIMPLE_PINHOLE": (3, 1, False), "PINHOLE": (4, 2, False), "SIMPLE_RADIAL": (4, 1, False),
    "RADIAL": (5, 1, False), "OPENCV": (8, 2, False), "FULL_OPENCV": (12, 2, False),
    "OPENCV_FISHEYE": (8, 2, True), "SIMPLE_RADIAL_FISHEYE": (4, 1, True), "RADIAL_FISHEYE": (5, 1, True),
    "FOV": (5, 2, True), "THIN_PRISM_FISHEYE": (12, 2, True), "RAD_TAN_THIN_PRISM_FISHEYE": (16, 2, True),
}


def looks_like(path: Path, text: str) -> bool:
    return path.name.lower() == "images.txt" or text.lstrip().startswith("# Image list")


def whole_number(path: Path, number: int, value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FlowError(f"{path}, line {number}: {what} must be a whole number, found {shown(value)}.") from None


def is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def read_cameras(path: Path) -> dict[int, tuple[int, str, Intrinsics, list[float]]]:
    """cameras.txt: camera id -> (line, model, pinhole intrinsics, distortion parameters)."""
    cameras = {}
    for number, line in enumerate(read_text(path, "COLMAP cameras file").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 4:
            raise FlowError(f"{path}, line {number}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS[], "
                            f"found {shown(line)}.")
        camera_id = whole_number(path, number, fields[0], "CAMERA_ID")
        model = fields[1]
        if model not in MODELS:
            raise FlowError(f"{path}, line {number}: unknown camera model {shown(model)}; "
                            f"expected one of {', '.join(MODELS)}.")
        count, focals, _ = MODELS[model]
        width, height = (whole_number(path, number, value, name)
                         for value, name in zip(fields[2:4], ("WIDTH", "HEIGHT")))
        params = parse_numbers(path, number, " ".join(fields[4:]), count, f"the {count} parameters of a {model} camera")
        fx, fy = (params[0], params[0]) if focals == 1 else params[:2]
        cx, cy = params[focals:focals + 2]
        if camera_id in cameras:
            raise FlowError(f"{path}, line {number}: camera {camera_id} is defined twice "
                            f"(also on line {cameras[camera_id][0]}).")
        cameras[camera_id] = (number, model, checked_intrinsics(path, f"line {number}", width, height, fx, fy,
                                                                  cx - 0.5, cy - 0.5), params[focals + 2:])
    return cameras


def read(path: Path, text: str) -> CameraPoses:
    lines = text.splitlines()
    images: dict[str, tuple[int, np.ndarray, int]] = {}  # name -> (line, world-to-camera matrix, camera id)
    image_ids: dict[int, int] = {}
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(maxsplit=9)
        if len(fields) < 10:
            raise FlowError(f"{path}, line {number}: expected {IMAGE_FIELDS}, found {shown(line)}.")
        image_id = whole_number(path, number, fields[0], "IMAGE_ID")
        qw, qx, qy, qz, tx, ty, tz = parse_numbers(path, number, " ".join(fields[1:8]), 7, "QW QX QY QZ TX TY TZ")
        camera_id = whole_number(path, number, fields[8], "CAMERA_ID")
        name = fields[9].strip()
        problem = quaternion_problem((qw, qx, qy, qz))
        if problem:
            raise FlowError(f"{path}, line {number}: {problem} (QW QX QY QZ are numbers 2-5).")
        if image_id in image_ids:
            raise FlowError(f"{path}, line {number}: image id {image_id} is used twice "
                            f"(also on line {image_ids[image_id]}).")
        if name in images:
            raise FlowError(f"{path}, line {number}: image name {shown(name)} is used twice "
                            f"(also on line {images[name][0]}).")
        norm = float(np.linalg.norm((qw, qx, qy, qz)))
        rotation = quaternion_to_matrix(qw / norm, qx / norm, qy / norm, qz / norm)
        images[name] = (number, checked_pose(path, f"line {number}", pose_matrix(rotation, (tx, ty, tz))), camera_id)
        image_ids[image_id] = number
        if index < len(lines):  # the image's 2D points: X Y POINT3D_ID triples, possibly none
            points = lines[index].split()
            index += 1
            if len(points) % 3 or not all(is_number(value) for value in points[-3:]):
                raise FlowError(f"{path}, line {index}: expected the 2D points of image {shown(name)} (X Y POINT3D_ID "
                                f"triples, or an empty line) after its pose line, found {shown(lines[index - 1])}.")
    names = sorted(images, key=natural_key)
    poses = CameraPoses(path, [images[name][1] for name in names], names=names)
    cameras_path = path.with_name("cameras.txt")
    if not cameras_path.exists():
        poses.notes.append(f"No cameras.txt next to {path.name}: "
                           "the camera's lens and the resolution were not changed.")
        return poses
    cameras = read_cameras(cameras_path)
    for name in names:
        number, _, camera_id = images[name]
        if camera_id not in cameras:
            raise FlowError(f"{path}, line {number}: image {shown(name)} uses camera {camera_id}, "
                            f"which {cameras_path} does not define.")
    used = sorted({images[name][2] for name in names})
    if len({cameras[camera_id][2] for camera_id in used}) > 1:
        poses.notes.append(f"The images use {len(used)} cameras with different intrinsics (ids "
                           f"{', '.join(map(str, used))}); one Blender camera cannot follow them, "
                           "so its lens was not changed.")
        return poses
    _, model, intrinsics, distortion = cameras[used[0]]
    if MODELS[model][2]:
        poses.notes.append(f"Camera {used[0]} is a {model} camera, which a Blender perspective camera cannot match: "
                           "its lens was not changed. Undistort the images (colmap image_undistorter) first.")
        return poses
    if any(distortion):
        poses.notes.append(f"Camera {used[0]} ({model}) has lens distortion that a Blender camera cannot have; "
                           "only its focal length and principal point were used. Undistort the images for exact flow.")
    poses.intrinsics = intrinsics
    return poses


def write(path: Path, poses: CameraPoses, convention: Convention) -> dict[Path, str]:
    """images.txt, cameras.txt (one PINHOLE camera, when the intrinsics are known) and an empty points3D.txt."""
    names = poses.names or [f"{index + 1:04d}.png" for index in range(len(poses.matrices))]
    for name in names:
        if not name.strip() or "\n" in name or "\r" in name:
            raise FlowError(f"Cannot write image name {name!r} to COLMAP's images.txt: it must be one non-empty line.")
    lines = ["# Image list with two lines of data per image:", f"#   {', '.join(IMAGE_FIELDS.split())}",
             "#   POINTS2D[] as (X, Y, POINT3D_ID)",
             f"# Number of images: {len(names)}, mean observations per image: 0"]
    for image_id, (name, m) in enumerate(zip(names, poses.matrices), start=1):
        numbers = (*matrix_to_quaternion(m[:3, :3]), *m[:3, 3])
        lines += [f"{image_id} {' '.join(map(format_number, numbers))} 1 {name}", ""]
    files = {path: "\n".join(lines) + "\n"}
    if poses.intrinsics:
        k = poses.intrinsics
        files[path.with_name("cameras.txt")] = (
            "# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
            f"# Number of cameras: 1\n1 PINHOLE {k.width} {k.height} "
            f"{' '.join(map(format_number, (k.fx, k.fy, k.cx + 0.5, k.cy + 0.5)))}\n")
    files[path.with_name("points3D.txt")] = (
        "# 3D point list with one line of data per point:\n"
        "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
        "# Number of points: 0, mean track length: 0\n")
    return files
