"""Independent ground truth: cast a ray through each pixel centre, intersect the scene's
boxes and planes analytically, move the hit point with its object and project it through
the neighbouring frame's camera. Shares no code with the add-on."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGE_MARGIN = 0.01  # px: a pixel centre this close to an edge may show either surface
OFFSETS = [(0, 0), (EDGE_MARGIN, 0), (-EDGE_MARGIN, 0), (0, EDGE_MARGIN), (0, -EDGE_MARGIN)]  # centre first


@dataclass
class Shape:
    """A mesh primitive by its local extent: a cube spans [-1, 1]^3, a plane [-h, h]^2 at z = 0."""

    matrices: dict[int, np.ndarray]  # frame -> object matrix_world
    half_extent: tuple[float, float, float]


@dataclass
class Camera:
    matrices: dict[int, np.ndarray]  # frame -> camera matrix_world
    K: np.ndarray  # OpenCV intrinsics: centre of pixel (0, 0) at (0, 0)
    width: int
    height: int

    @classmethod
    def default_sensor(cls, matrices, lens: float, width: int, height: int) -> "Camera":
        """Blender's default 36 mm sensor fitted to the longer side, no shift."""
        f = lens / 36.0 * max(width, height)
        return cls(matrices, np.array([[f, 0, width / 2 - 0.5], [0, f, height / 2 - 0.5], [0, 0, 1]]), width, height)


def pixel_rays(camera: Camera, frame: int, offset=(0.0, 0.0)):
    (fx, _, cx), (_, fy, cy) = camera.K[:2]
    rows, cols = np.indices((camera.height, camera.width), dtype=np.float64)
    x = (cols + offset[0] - cx) / fx
    y = -(rows + offset[1] - cy) / fy
    local = np.stack([x, y, -np.ones_like(x)], axis=-1)
    m = camera.matrices[frame]
    directions = local @ m[:3, :3].T
    origins = np.broadcast_to(m[:3, 3], directions.shape)
    return origins, directions


def intersect(shape: Shape, frame: int, origins, directions) -> np.ndarray:
    """Ray parameter of the nearest hit with the shape (inf where missed): slab test in local space."""
    inverse = np.linalg.inv(shape.matrices[frame])
    o = origins @ inverse[:3, :3].T + inverse[:3, 3]
    d = directions @ inverse[:3, :3].T
    near = np.full(o.shape[:2], -np.inf)
    far = np.full(o.shape[:2], np.inf)
    for axis, half in enumerate(shape.half_extent):
        if half == 0:  # a plane: hit where the ray crosses z = 0
            with np.errstate(divide="ignore", invalid="ignore"):
                t = -o[..., axis] / d[..., axis]
            near, far = np.maximum(near, t), np.minimum(far, t)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-half - o[..., axis]) / d[..., axis]
            t2 = (half - o[..., axis]) / d[..., axis]
        near = np.maximum(near, np.minimum(t1, t2))
        far = np.minimum(far, np.maximum(t1, t2))
    hit = (near <= far + 1e-12) & (far > 0)
    return np.where(hit, np.where(near > 0, near, far), np.inf)


def project(camera: Camera, frame: int, points):
    """Continuous image coordinates (x right, y down, pixel (0,0) spans [0,1]²)."""
    m = camera.matrices[frame]
    local = (points - m[:3, 3]) @ m[:3, :3]
    (fx, _, cx), (_, fy, cy) = camera.K[:2]
    with np.errstate(divide="ignore", invalid="ignore"):  # rays that hit nothing project nowhere
        return np.stack([cx + 0.5 + fx * local[..., 0] / -local[..., 2],
                         cy + 0.5 - fy * local[..., 1] / -local[..., 2]], axis=-1)


def trace(shapes, camera, frame, offset=(0.0, 0.0)):
    origins, directions = pixel_rays(camera, frame, offset)
    distances = np.stack([intersect(s, frame, origins, directions) for s in shapes])
    index = np.argmin(distances, axis=0)
    t = np.min(distances, axis=0)
    index[~np.isfinite(t)] = -1
    points = origins + directions * np.where(np.isfinite(t), t, 0)[..., None]
    return index, points


def flow_candidates(shapes, camera, frame, other, blender_style=False):
    """Expected flow (H×W×2) and hit mask from the centre ray, plus the same for rays
    ``EDGE_MARGIN`` px away that hit another surface (pixels on an edge accept either)."""
    results = []
    for offset in OFFSETS:
        index, points = trace(shapes, camera, frame, offset)
        moved = points.copy()
        for i, shape in enumerate(shapes):
            motion = shape.matrices[other] @ np.linalg.inv(shape.matrices[frame])
            sel = index == i
            moved[sel] = points[sel] @ motion[:3, :3].T + motion[:3, 3]
        rows, cols = np.indices(index.shape, dtype=np.float64)
        centre = np.stack([cols + 0.5, rows + 0.5], axis=-1)
        flow = project(camera, other, moved) - centre
        if blender_style:
            flow[..., 1] *= -1
        results.append((index, flow))
    centre_index = results[0][0]
    return [(flow, index >= 0, index != centre_index) for index, flow in results]


def compare(baked_flow, baked_valid, shapes, camera, frame, other, blender_style=False):
    """Worst flow error over valid pixels and the number of mask disagreements,
    each pixel judged against the surfaces its centre can see."""
    return compare_candidates(baked_flow, baked_valid, flow_candidates(shapes, camera, frame, other, blender_style),
                              blender_style)


def compare_candidates(baked_flow, baked_valid, candidates, blender_style=False):
    """``candidates``: (flow, hit, differs) for the centre ray first, then for the rays beside it; a pixel
    matches if the centre's or any differing neighbour's flow and mask agree with the baked one."""
    best_error = np.full(baked_flow.shape[:2], np.inf)
    mask_ok = np.zeros(baked_flow.shape[:2], bool)
    for k, (flow, hit, differs) in enumerate(candidates):
        usable = np.ones_like(hit) if k == 0 else differs
        error = np.where(hit, np.abs(baked_flow - flow).max(axis=-1), np.where(baked_valid, np.inf, 0.0))
        best_error = np.where(usable, np.minimum(best_error, error), best_error)
        border = target_border_distance(flow, blender_style)
        valid = hit & (border > 0)
        near_border = np.abs(border) < 1e-3
        mask_ok |= usable & ((valid == baked_valid) | near_border)
    valid_error = np.where(baked_valid, best_error, 0.0)
    return float(valid_error.max()), int((~mask_ok).sum()), candidates[0]


def target_border_distance(flow, blender_style=False):
    h, w = flow.shape[:2]
    rows, cols = np.indices((h, w))
    x = cols + 0.5 + flow[..., 0]
    y = rows + 0.5 + (-flow[..., 1] if blender_style else flow[..., 1])
    return np.minimum.reduce([x, w - x, y, h - y])
