"""Independent ground truth for any mesh, deforming ones included: cast a ray through each pixel
centre, find the triangle and barycentric point it hits, take the same barycentric point on the
same triangle at the other frame, project it, and cast a ray from the other camera towards it to
decide occlusion. Triangles come in world space, the same list (same topology) for both frames.
Shares no code with the add-on."""
from __future__ import annotations

import numpy as np

from ground_truth import OFFSETS, Camera, pixel_rays, project

CHUNK = 256  # triangles per step: rays × triangles arrays stay small
OCCLUSION_EPSILON = 1e-5  # relative: a surface nearer than this to the point itself does not hide it


def first_hits(origins: np.ndarray, directions: np.ndarray, triangles: np.ndarray):
    """Nearest hit of each ray (Möller–Trumbore): distance t (inf where missed), triangle index, barycentric u, v."""
    shape = origins.shape[:-1]
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    best = np.full(len(o), np.inf)
    index = np.full(len(o), -1)
    bu, bv = np.zeros(len(o)), np.zeros(len(o))
    for start in range(0, len(triangles), CHUNK):
        a, b, c = (triangles[start:start + CHUNK, k] for k in range(3))
        e1, e2 = b - a, c - a
        p = np.cross(d[:, None], e2[None])
        det = np.einsum("rtk,tk->rt", p, e1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = 1.0 / det
            s = o[:, None] - a[None]
            u = np.einsum("rtk,rtk->rt", s, p) * inverse
            q = np.cross(s, e1[None])
            v = np.einsum("rk,rtk->rt", d, q) * inverse
            t = np.einsum("tk,rtk->rt", e2, q) * inverse
            hit = (np.abs(det) > 1e-14) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9)
        t = np.where(hit, t, np.inf)
        nearest = np.argmin(t, axis=1)
        rows = np.arange(len(o))
        closer = t[rows, nearest] < best
        best[closer] = t[rows, nearest][closer]
        index[closer] = start + nearest[closer]
        bu[closer], bv[closer] = u[rows, nearest][closer], v[rows, nearest][closer]
    return best.reshape(shape), index.reshape(shape), bu.reshape(shape), bv.reshape(shape)


def point_on(triangles: np.ndarray, index: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    a, b, c = (triangles[np.maximum(index, 0), k] for k in range(3))
    return a + (b - a) * u[..., None] + (c - a) * v[..., None]


def hidden_from(camera: Camera, frame: int, points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """True where another surface lies between the camera at ``frame`` and the point."""
    origin = camera.matrices[frame][:3, 3]
    towards = points - origin
    distance = np.linalg.norm(towards, axis=-1)
    t, _, _, _ = first_hits(np.broadcast_to(origin, points.shape), towards / distance[..., None], triangles)
    return t < distance * (1 - OCCLUSION_EPSILON)


def camera_axes_motion(camera: Camera, frame: int, world_motion: np.ndarray) -> np.ndarray:
    """World-space motion expressed in the frame's camera axes (Blender's: x right, y up, z backwards)."""
    return world_motion @ camera.matrices[frame][:3, :3]


def surface_motion(triangles_at, camera: Camera, frame: int, other: int, offset=(0.0, 0.0), blender_style=False,
                   with_occlusion=True):
    """For the ray through each pixel (plus ``offset``): triangle index (-1: sky), flow, occlusion at ``other``
    (None without ``with_occlusion``) and the 3-D motion of the surface point in world space."""
    here, there = triangles_at(frame), triangles_at(other)
    origins, directions = pixel_rays(camera, frame, offset)
    t, index, u, v = first_hits(origins, directions, here)
    hit = index >= 0
    start, end = point_on(here, index, u, v), point_on(there, index, u, v)
    rows, cols = np.indices(index.shape, dtype=np.float64)
    flow = project(camera, other, end) - np.stack([cols + 0.5, rows + 0.5], axis=-1)
    if blender_style:
        flow[..., 1] *= -1
    occluded = hit & hidden_from(camera, other, np.where(hit[..., None], end, 0.0), there) if with_occlusion else None
    return index, np.where(hit[..., None], flow, 0.0), occluded, np.where(hit[..., None], end - start, 0.0)


def flow_candidates(triangles_at, camera: Camera, frame: int, other: int, blender_style=False):
    """(flow, hit, differs) for the centre ray and the rays beside it, as ground_truth.compare_candidates takes them."""
    results = [surface_motion(triangles_at, camera, frame, other, offset, blender_style, with_occlusion=False)
               for offset in OFFSETS]
    centre = results[0][0]
    return [(flow, index >= 0, index != centre) for index, flow, _, _ in results]
