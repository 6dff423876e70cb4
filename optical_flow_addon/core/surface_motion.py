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
from .products import scene_flow_name

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


def surface_points(depth: np.ndarray, rows: np.ndarray, columns: np.ndarray, view: View) -> np.ndarray:
    """World position (N×3, float64) of the surface under the given pixel centres, from their planar depth."""
    (fx, _, cx), (_, fy, cy) = view.intrinsics[:2]
    local = np.empty((len(depth), 3))
    local[:, 0] = (columns - cx) / fx
    local[:, 1] = -(rows - cy) / fy
    local[:, 2] = -1.0
    local *= depth.astype(np.float64)[:, None]
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
    """True where a point landing at ``position`` (N×2 image coordinates) with planar ``depth`` (N) is hidden
    in the frame whose depth map is ``target_depth``.

    Each of the four pixel centres around the landing spot predicts the depth of its own surface there
    (1/depth extended along its slope) and votes, weighted by its closeness to the spot: for visible if
    the point lies on that surface, for hidden if that surface is nearer. A surface farther than the
    point does not vote: there the point's own surface ends between the pixel centres. Ties are visible."""
    height, width = target_depth.shape
    # float32 throughout: its 1e-7 steps are far below the tolerances, and it halves the memory traffic.
    inverse = np.where(target_depth < BACKGROUND_DEPTH, 1.0 / target_depth, 0.0).astype(np.float32)
    slope_x, slope_y = inverse_depth_slopes(target_depth)
    tolerance = np.abs(slope_x) + np.abs(slope_y)  # a pixel's change of 1/depth
    slope_x, slope_y, tolerance = (a.astype(np.float32) for a in (slope_x, slope_y, tolerance))
    inverse, slope_x, slope_y, tolerance = (a.ravel() for a in (inverse, slope_x, slope_y, tolerance))
    point = (1.0 / depth).astype(np.float32)
    x = (position[:, 0] - 0.5).astype(np.float32)  # pixel centres at whole numbers
    y = (position[:, 1] - 0.5).astype(np.float32)
    left, top = np.floor(x), np.floor(y)
    votes = np.zeros(len(depth), np.float32)
    for dx in (0, 1):
        for dy in (0, 1):
            column, row = np.clip(left + dx, 0, width - 1), np.clip(top + dy, 0, height - 1)
            weight = (1 - np.abs(x - left - dx)) * (1 - np.abs(y - top - dy))
            index = (row * width + column).astype(np.intp)
            seen = inverse[index]
            predicted = seen + slope_x[index] * (x - column) + slope_y[index] * (y - row)
            allowed = SAME_SURFACE * point + tolerance[index]
            surface = seen > 0
            votes += weight * (surface & (np.abs(predicted - point) <= allowed))
            votes -= weight * (surface & (predicted > point + allowed))
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
        """``matrices``: per flow, [object number, object_to_world here, there] rows as the bake sends them;
        number 0 (no motion known) keeps the identity."""
        stacked = {}
        for name, rows in matrices.items():
            here, there = np.tile(np.eye(4), (2, len(rows) + 1, 1, 1))
            for number, matrix_here, matrix_there in rows:
                here[number], there[number] = matrix_here, matrix_there
            stacked[name] = (here, there)
        return cls(depth, np.rint(objects).astype(np.int64), displacement, view, stacked)


def world_motion(points: np.ndarray, numbers: np.ndarray, displacement: np.ndarray,
                 here: np.ndarray, there: np.ndarray) -> np.ndarray:
    """World-space motion (N×3) of surface points of the objects ``numbers`` to the partner frame; NaN where unknown.

    A point's place in its object's axes, plus its displacement there, carried by the object's matrix
    at the partner frame: exact for rigid motion (parents, constraints) and for vertex motion alike."""
    carry = there @ np.linalg.inv(here)
    motion = np.full(points.shape, np.nan)
    numbers = np.where((numbers > 0) & (numbers < len(here)), numbers, 0).astype(np.int32)
    order = np.argsort(numbers, kind="stable")  # each object's pixels in one run
    for run in np.split(order, np.flatnonzero(np.diff(numbers[order])) + 1):
        if not len(run) or numbers[run[0]] == 0:  # no surface at all, or motion unknown
            continue
        number = numbers[run[0]]
        on_object = points[run]
        moved = on_object @ carry[number, :3, :3].T + carry[number, :3, 3]
        shift = displacement[run]
        if shift.any():  # vertices that move within the object
            moved += shift.astype(np.float64) @ there[number, :3, :3].T
            moved[np.abs(shift).max(axis=-1) >= UNKNOWN / 2] = np.nan
        motion[run] = moved - on_object
    return motion


def flow_products(source: Frame, target: Frame, name: str, blender_image_coordinate_style: bool,
                  occlusion: bool, scene_flow: bool) -> dict[str, np.ndarray]:
    """The flow ``name`` from ``source`` to ``target`` with its validity mask, and, if asked, its occlusion
    mask and scene flow. Valid: a surface with known motion whose target lands inside the image, in front
    of the camera. Occlusion is decided where the flow is valid, False elsewhere. Only pixels with a
    surface are worked on."""
    height, width = source.depth.shape
    pixels = np.flatnonzero(source.depth < BACKGROUND_DEPTH)
    if name in source.matrices:
        rows, columns = np.divmod(pixels, width)
        points = surface_points(source.depth.ravel()[pixels], rows, columns, source.view)
        motion = world_motion(points, source.objects.ravel()[pixels],
                              source.displacement[name].reshape(-1, 3)[pixels], *source.matrices[name])
        known = np.isfinite(motion[:, 0])
        if not known.all():
            pixels, rows, columns, points, motion = (a[known] for a in (pixels, rows, columns, points, motion))
    else:
        pixels = pixels[:0]
        rows = columns = pixels
        points = motion = np.zeros((0, 3))
    position, depth = project(points + motion, target.view)
    with np.errstate(invalid="ignore"):
        inside = (depth > 0) & (position[:, 0] >= 0) & (position[:, 0] < width) \
            & (position[:, 1] >= 0) & (position[:, 1] < height)
    flow = np.zeros((height * width, 2), np.float32)
    flow[pixels, 0] = position[:, 0] - (columns + 0.5)
    flow[pixels, 1] = position[:, 1] - (rows + 0.5)
    if blender_image_coordinate_style:
        flow[:, 1] *= -1
    valid = np.zeros(height * width, bool)
    valid[pixels] = inside
    arrays = {name: flow.reshape(height, width, 2), f"{name}_valid": valid.reshape(height, width)}
    if occlusion:
        hidden = np.zeros(height * width, bool)
        hidden[pixels[inside]] = occluded(position[inside], depth[inside], target.depth)
        arrays[f"{name}_occluded"] = hidden.reshape(height, width)
    if scene_flow:
        moved = np.zeros((height * width, 3), np.float32)
        moved[pixels] = camera_axes(motion, source.view, blender_image_coordinate_style)
        arrays[scene_flow_name(name)] = moved.reshape(height, width, 3)
    return arrays


def camera_axes(motion: np.ndarray, view: View, blender_image_coordinate_style: bool) -> np.ndarray:
    """World-space motion in the frame's camera axes: Blender's (x right, y up, z backwards) or
    OpenCV's (x right, y down, z forwards), as the coordinate style says."""
    local = motion @ view.camera_to_world[:3, :3]
    if not blender_image_coordinate_style:
        local[..., 1:] *= -1
    return local.astype(np.float32)
