"""Point tracks: query points on the visible surfaces, each followed through every frame of the sequence, and the
files that hold them (TAP-Vid's, CoTracker's and PointOdyssey's).

The Blender layer (blender/tracks.py) casts the rays and evaluates the surfaces; this module decides how many query
points each frame gets and which, projects the followed points, decides occlusion as TAP-Vid means it, and writes.
Image positions are raster coordinates: (0, 0) is the top-left corner of the top-left pixel, so the centre of
pixel (row r, column c) is (x, y) = (c + 0.5, r + 0.5).
"""
from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import FlowError
from .formats.npz import write_arrays

TRACKS_NAME = "tracks.npz"
TRACK_FILES = {"TAPVID": "tapvid.pkl", "POINTODYSSEY": "annotations.npz"}  # by track format
# A surface nearer to the camera than the point by less than this share of the point's distance does not hide it:
# the point's own triangle, hit again by the ray towards it, is found at its distance give or take float32 rounding.
OCCLUSION_TOLERANCE = 1e-4
CANDIDATES_PER_QUERY = 8  # pixels tried per query point wanted, so that balancing finds the small objects
FEWEST_CANDIDATES = 1024
OPENCV_AXES = np.diag([1.0, -1.0, -1.0, 1.0])  # Blender's camera axes (y up, looking along −z) → OpenCV's


def queries_per_frame(count: int, frames: int, first_only: bool) -> np.ndarray:
    """How many of ``count`` query points each of the sequence's ``frames`` gets: all on the first, or spread as
    evenly as whole numbers allow."""
    if first_only:
        return np.array([count] + [0] * (frames - 1))
    return np.diff(np.floor(np.linspace(0, count, frames + 1)).astype(int))


def choose(owners: np.ndarray, count: int, balance: bool) -> np.ndarray:
    """Indices of ``count`` candidates (fewer if there are fewer) among ``owners`` (each candidate's object, in the
    random order the candidates were drawn). Balanced, each object gives one candidate in turn, so that a small
    object gets as many as a large one until it runs out."""
    if not balance:
        return np.arange(min(count, len(owners)))
    order = np.argsort(owners, kind="stable")
    first_of_owner = np.r_[0, np.flatnonzero(np.diff(owners[order])) + 1]
    starts = np.repeat(first_of_owner, np.diff(np.r_[first_of_owner, len(order)]))
    rank = np.empty(len(owners), int)
    rank[order] = np.arange(len(order)) - starts
    return np.lexsort((np.arange(len(owners)), rank))[:count]


def world_to_opencv(camera_to_world: np.ndarray) -> np.ndarray:
    """4×4 world → camera with OpenCV's axes (x right, y down, looking along +z) from Blender's camera matrix."""
    return OPENCV_AXES @ np.linalg.inv(camera_to_world)


def raster_intrinsics(intrinsics: np.ndarray) -> np.ndarray:
    """The bake's K (the centre of pixel (0, 0) at (0, 0)) for raster coordinates (that centre at (0.5, 0.5))."""
    shifted = np.array(intrinsics, float)
    shifted[:2, 2] += 0.5
    return shifted


def pixel_rays(intrinsics: np.ndarray, camera_to_world: np.ndarray, rows: np.ndarray,
               cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The camera's position and unit world directions through the centres of the given pixels (``intrinsics``
    put the centre of pixel (0, 0) at (0, 0), as the bake's do)."""
    in_camera = np.linalg.solve(intrinsics, np.stack([cols, rows, np.ones(len(rows))]).astype(float)).T
    directions = in_camera @ (camera_to_world[:3, :3] @ OPENCV_AXES[:3, :3]).T
    return camera_to_world[:3, 3], directions / np.linalg.norm(directions, axis=1, keepdims=True)


def project(points: np.ndarray, intrinsics: np.ndarray, camera_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raster (x, y) and depth along the view axis of world points (N×3); behind the camera the depth is ≤ 0."""
    view = world_to_opencv(camera_to_world)
    in_camera = points @ view[:3, :3].T + view[:3, 3]
    depth = in_camera[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = (in_camera @ intrinsics.T)[:, :2] / depth[:, None]
    return pixels + 0.5, depth


def outside_view(xy: np.ndarray, depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """Behind the camera or outside the image: TAP-Vid counts both as occluded."""
    x, y = xy[:, 0], xy[:, 1]
    return ~((depth > 0) & (x >= 0) & (x <= width) & (y >= 0) & (y <= height))


def barycentric(corners: np.ndarray, origin: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(u, v) of each ray's crossing of its triangle (K×3×3), in float64: the tree's hit is float32."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(directions, e2)
    inverse = 1.0 / np.einsum("kj,kj->k", p, e1)
    s = origin - a
    u = np.einsum("kj,kj->k", s, p) * inverse
    v = np.einsum("kj,kj->k", directions, np.cross(s, e1)) * inverse
    return np.stack([u, v], axis=1)


def point_at(corners: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The points at (u, v) on triangles (K×3×3)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    return a + (b - a) * uv[:, :1] + (c - a) * uv[:, 1:]


@dataclass
class Tracks:
    """N tracks over the T frames of a sequence; see the module's docstring for the coordinates."""

    query_points: np.ndarray  # float32 N×3: (t, y, x), t the index into ``frames``
    target_points: np.ndarray  # float32 N×T×2: (x, y)
    occluded: np.ndarray  # bool N×T
    points_3d: np.ndarray  # float32 N×T×3, world, metres
    object_index: np.ndarray  # int32 N, into ``objects``
    objects: list[str]
    frames: np.ndarray  # int32 T: the scene's frame numbers
    intrinsics: np.ndarray  # float32 T×3×3, raster coordinates
    world_to_camera: np.ndarray  # float32 T×4×4, OpenCV's camera axes
    image_size: np.ndarray  # int32 (width, height) of the images the tracks lie on
    untracked: dict[str, str] = field(default_factory=dict)  # object -> why it has no tracks

    def arrays(self) -> dict[str, np.ndarray]:
        return {"query_points": self.query_points, "target_points": self.target_points, "occluded": self.occluded,
                "points_3d": self.points_3d, "object_index": self.object_index,
                "objects": np.array(self.objects, dtype=str), "frames": self.frames, "intrinsics": self.intrinsics,
                "world_to_camera": self.world_to_camera, "image_size": self.image_size}

    def record(self) -> dict:
        """What the manifest says about the tracks."""
        counts = np.bincount(self.object_index, minlength=len(self.objects))
        return {"count": len(self.query_points), "per_object": dict(zip(self.objects, counts.tolist())),
                "untracked_objects": self.untracked, "occlusion_tolerance": OCCLUSION_TOLERANCE}


def read_tracks(path: Path) -> dict[str, np.ndarray]:
    """A tracks file's arrays; a FlowError naming the file if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise FlowError(f"{path} cannot be read as a tracks file ({error}).") from error
    missing = {"target_points", "occluded", "query_points", "frames", "image_size"} - set(arrays)
    if missing:
        raise FlowError(f"{path} is not a tracks file: it has no {', '.join(sorted(missing))}.")
    return arrays


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A .npz of the same bytes for the same arrays (formats/npz.py), under a temporary name until it is whole."""
    with atomic_path(path) as temporary:
        write_arrays(temporary, arrays)


def save_pickle(path: Path, value: object) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(pickle.dumps(value, protocol=4))


def cotracker_annotations(tracks: Tracks) -> dict[str, np.ndarray]:
    """CoTracker's Kubric file: ``coords`` N×T×2 (x, y) and ``visibility`` N×T holding the occlusion flag, as
    Kubric's files do (CoTracker negates it when loading)."""
    return {"coords": tracks.target_points, "visibility": tracks.occluded}


def tapvid_sequence(tracks: Tracks, video: np.ndarray) -> dict[str, np.ndarray]:
    """One sequence of TAP-Vid's DAVIS file: the video and the points divided by the image's width and height."""
    height, width = video.shape[1:3]
    return {"video": video, "points": (tracks.target_points / np.array([width, height], np.float32)),
            "occluded": tracks.occluded}


def pointodyssey_annotations(tracks: Tracks) -> dict[str, np.ndarray]:
    """PointOdyssey's ``annotations.npz`` (frames first), in float32; its extrinsics are world → camera."""
    return {"trajs_2d": tracks.target_points.transpose(1, 0, 2), "trajs_3d": tracks.points_3d.transpose(1, 0, 2),
            "visibs": ~tracks.occluded.T, "intrinsics": tracks.intrinsics, "extrinsics": tracks.world_to_camera}


def track_paths(folder: Path, formats: frozenset[str]) -> list[Path]:
    """The files of the tracks in BlenderProc's layout: tracks.npz and those of the track formats."""
    return [folder / TRACKS_NAME, *(folder / TRACK_FILES[name] for name in sorted(formats))]


def write_tracks(folder: Path, formats: frozenset[str], sequence: str, tracks: Tracks,
                 video: Callable[[], np.ndarray]) -> list[Path]:
    """tracks.npz and the files of the track ``formats`` in ``folder``; TAP-Vid's holds the ``video()`` (T×H×W×3
    uint8, read only for it)."""
    paths = track_paths(folder, formats)
    save_arrays(paths[0], tracks.arrays())
    for name, path in zip(sorted(formats), paths[1:]):
        if name == "TAPVID":
            save_pickle(path, {sequence: tapvid_sequence(tracks, video())})
        else:
            save_arrays(path, pointodyssey_annotations(tracks))
    return paths
