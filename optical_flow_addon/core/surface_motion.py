"""Flow, occlusion and scene flow for any frame gap, from each pixel's surface point and its motion.

For every pixel centre the render gives the planar depth (distance along the camera's view axis) and
the world-space motion of the surface point under it to the other frame (each mesh vertex's motion,
interpolated by Cycles at the hit point exactly as the point itself is). In float64:
point = camera ray × depth; target = point + motion; flow = the target's projection in the other
frame's camera − the pixel centre. The target is occluded when the other frame's own depth map shows
a nearer surface where it lands.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .flow import BACKGROUND_DEPTH

# Two surfaces closer than this share of their depth, plus one pixel's change of depth, count as one: the
# depth at a spot between pixel centres is predicted from a neighbour's, exact on planes, close on curved meshes.
SAME_SURFACE = 5e-3
# Render passes (AOVs): per flow, each surface point's displacement to frame t+K or t−K in its object's
# own axes (colour; zero on rigid objects, so their meshes never change during a bake), and the number
# of the object it belongs to (value; 0 for surfaces whose motion is unknown, such as non-mesh objects).
MOTION_PASSES = {"forward_flow": "OpticalFlowForwardMotion", "backward_flow": "OpticalFlowBackwardMotion"}
OBJECT_PASS = "OpticalFlowObject"
UNKNOWN = 1e30  # displacement of a mesh whose vertices cannot be mapped to the other frame (topology change)


@dataclass(frozen=True)
class View:
    """One frame's perspective camera: OpenCV intrinsics (centre of pixel (0, 0) at (0, 0)) and the
    camera-to-world matrix in Blender's camera axes (x right, y up, looking along −z)."""

    intrinsics: np.ndarray
    camera_to_world: np.ndarray

    @classmethod
    def from_lists(cls, intrinsics: list, camera_to_world: list) -> View:
        return cls(np.asarray(intrinsics, np.float64), np.asarray(camera_to_world, np.float64))


def surface_points(depth: np.ndarray, view: View) -> np.ndarray:
    """World position (H×W×3, float64) of the surface under each pixel centre, from the planar depth."""
    (fx, _, cx), (_, fy, cy) = view.intrinsics[:2]
    height, width = depth.shape
    x = (np.arange(width, dtype=np.float64) - cx) / fx
    y = -(np.arange(height, dtype=np.float64) - cy) / fy
    local = np.empty((height, width, 3))
    local[..., 0] = x[None, :]
    local[..., 1] = y[:, None]
    local[..., 2] = -1.0
    local *= depth.astype(np.float64)[..., None]
    rotation, origin = view.camera_to_world[:3, :3], view.camera_to_world[:3, 3]
    return local @ rotation.T + origin


def project(points: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray]:
    """Image position (H×W×2: x right, y down; pixel (0, 0) spans [0, 1]²) and planar depth of world points."""
    rotation, origin = view.camera_to_world[:3, :3], view.camera_to_world[:3, 3]
    local = (points - origin) @ rotation
    depth = -local[..., 2]
    (fx, _, cx), (_, fy, cy) = view.intrinsics[:2]
    with np.errstate(divide="ignore", invalid="ignore"):  # points on the camera plane project nowhere
        position = np.stack([cx + 0.5 + fx * local[..., 0] / depth, cy + 0.5 - fy * local[..., 1] / depth], axis=-1)
    return position, depth


def pixel_centres(height: int, width: int) -> np.ndarray:
    centres = np.empty((height, width, 2))
    centres[..., 0] = np.arange(width) + 0.5
    centres[..., 1] = (np.arange(height) + 0.5)[:, None]
    return centres


def inverse_depth_slopes(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the change of 1/depth to the next pixel in x and y, from the side that changes less.

    1/depth is linear across the image on a plane; taking the gentler side keeps the slope of the
    pixel's own surface where a neighbour shows another one."""
    inverse = np.where(depth < BACKGROUND_DEPTH, 1.0 / depth.astype(np.float64), 0.0)

    def gentler(axis: int) -> np.ndarray:
        step = np.diff(inverse, axis=axis)
        pad = [(0, 0), (0, 0)]
        pad[axis] = (1, 0)
        before = np.pad(step, pad, mode="edge")
        pad[axis] = (0, 1)
        after = np.pad(step, pad, mode="edge")
        return np.where(np.abs(before) < np.abs(after), before, after)

    return gentler(1), gentler(0)


def occluded(position: np.ndarray, depth: np.ndarray, target_depth: np.ndarray) -> np.ndarray:
    """True where a point landing at ``position`` (image coordinates) with planar ``depth`` is hidden in
    the frame whose depth map is ``target_depth``.

    Each of the four pixel centres around the landing spot predicts the depth of its own surface there
    (1/depth extended along its slope) and votes, weighted by its closeness to the spot: for visible if
    the point lies on that surface, for hidden if that surface is nearer. A surface farther than the
    point does not vote: there the point's own surface ends between the pixel centres. Ties are visible."""
    height, width = target_depth.shape
    inverse = np.where(target_depth < BACKGROUND_DEPTH, 1.0 / target_depth.astype(np.float64), 0.0)
    slope_x, slope_y = inverse_depth_slopes(target_depth)
    with np.errstate(divide="ignore", invalid="ignore"):
        point = np.where(depth > 0, 1.0 / depth, np.inf)
    x = np.nan_to_num(position[..., 0] - 0.5, nan=-2.0)  # pixel centres at whole numbers
    y = np.nan_to_num(position[..., 1] - 0.5, nan=-2.0)
    left, top = np.floor(x), np.floor(y)
    votes = np.zeros(depth.shape)
    for dx in (0, 1):
        for dy in (0, 1):
            column = np.clip(left + dx, 0, width - 1).astype(np.intp)
            row = np.clip(top + dy, 0, height - 1).astype(np.intp)
            weight = (1 - np.abs(x - left - dx)) * (1 - np.abs(y - top - dy))
            seen = inverse[row, column]
            sx, sy = slope_x[row, column], slope_y[row, column]
            predicted = seen + sx * (x - column) + sy * (y - row)
            tolerance = SAME_SURFACE * point + np.abs(sx) + np.abs(sy)  # a pixel's change of 1/depth
            surface = seen > 0
            votes += weight * (surface & (np.abs(predicted - point) <= tolerance))
            votes -= weight * (surface & (predicted > point + tolerance))
    return votes < 0


@dataclass
class Frame:
    """What one rendered frame gives: planar depth, each pixel's object number and displacement per flow,
    the camera, and per flow the objects' matrices at this frame and at the partner frame."""

    depth: np.ndarray
    objects: np.ndarray  # H×W object numbers, 0 where the motion is unknown
    displacement: dict[str, np.ndarray]  # flow name -> H×W×3, object axes
    view: View
    matrices: dict[str, tuple[np.ndarray, np.ndarray]]  # flow name -> object_to_world here and there, (n + 1)×4×4

    @classmethod
    def from_passes(cls, depth: np.ndarray, objects: np.ndarray, displacement: dict[str, np.ndarray], view: View,
                    matrices: dict[str, list]) -> Frame:
        """``matrices``: per flow, [object number, object_to_world here, there] rows as the bake sends them."""
        stacked = {}
        for name, rows in matrices.items():
            here, there = np.full((2, len(rows) + 1, 4, 4), np.nan)
            for number, matrix_here, matrix_there in rows:
                here[number], there[number] = matrix_here, matrix_there
            stacked[name] = (here, there)
        return cls(depth, np.rint(objects).astype(np.int32), displacement, view, stacked)


def world_motion(points: np.ndarray, frame: Frame, name: str) -> np.ndarray:
    """World-space motion (H×W×3) of the surface points to the partner frame; NaN where unknown.

    A point's place in its object's axes, plus its displacement there, carried by the object's matrix
    at the partner frame: exact for rigid motion (parents, constraints) and for vertex motion alike."""
    motion = np.full(points.shape, np.nan)
    if name not in frame.matrices:
        return motion
    here, there = frame.matrices[name]
    displacement = frame.displacement[name].astype(np.float64)
    for number in np.unique(frame.objects):
        if not 0 < number < len(here) or not np.isfinite(there[number]).all():
            continue
        chosen = (frame.objects == number) & (np.abs(displacement) < UNKNOWN / 2).all(axis=-1)
        inverse = np.linalg.inv(here[number])
        local = points[chosen] @ inverse[:3, :3].T + inverse[:3, 3] + displacement[chosen]
        motion[chosen] = local @ there[number][:3, :3].T + there[number][:3, 3] - points[chosen]
    return motion


def flow_products(source: Frame, target: Frame, name: str, blender_image_coordinate_style: bool,
                  occlusion: bool, scene_flow: bool) -> dict[str, np.ndarray]:
    """The flow ``name`` from ``source`` to ``target`` with its validity mask, and, if asked, its occlusion
    mask and scene flow. Valid: a surface with known motion whose target lands inside the image, in front
    of the camera. Occlusion is decided where the flow is valid, False elsewhere."""
    points = surface_points(source.depth, source.view)
    motion = world_motion(points, source, name)
    known = (source.depth < BACKGROUND_DEPTH) & np.isfinite(motion).all(axis=-1)
    motion[~known] = 0.0
    targets = points + motion
    position, depth = project(targets, target.view)
    height, width = source.depth.shape
    flow = position - pixel_centres(height, width)
    with np.errstate(invalid="ignore"):
        inside = (depth > 0) & (position[..., 0] >= 0) & (position[..., 0] < width) \
            & (position[..., 1] >= 0) & (position[..., 1] < height)
    valid = known & inside
    flow[~known] = 0.0
    if blender_image_coordinate_style:
        flow[..., 1] *= -1
    arrays = {name: flow.astype(np.float32), f"{name}_valid": valid}
    if occlusion:
        arrays[f"{name}_occluded"] = valid & occluded(position, depth, target.depth)
    if scene_flow:
        arrays[scene_flow_name(name)] = camera_axes(motion, source.view, blender_image_coordinate_style)
    return arrays


def scene_flow_name(flow_name: str) -> str:
    return flow_name.replace("_flow", "_scene_flow")


def camera_axes(motion: np.ndarray, view: View, blender_image_coordinate_style: bool) -> np.ndarray:
    """World-space motion in the frame's camera axes: Blender's (x right, y up, z backwards) or
    OpenCV's (x right, y down, z forwards), as the coordinate style says."""
    local = motion @ view.camera_to_world[:3, :3]
    if not blender_image_coordinate_style:
        local[..., 1:] *= -1
    return local.astype(np.float32)
