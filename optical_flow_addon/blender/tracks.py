"""Point tracks from the evaluated scene: the surface point under each query pixel centre is found by casting a ray
into the triangles Blender evaluates for the render, kept as a triangle and barycentric coordinates, and carried to
every frame of the sequence on the same triangle, which is exact for any motion that keeps the evaluated topology
(rigid, parented, shape keys, armatures, modifier stacks, instances, text, curves). A ray from the camera towards the
point decides whether another surface hides it.

No render is needed, so the tracks of a sequence are the same whichever chunk of it a bake renders: the bake holding
the sequence's first frame follows them (blender/bake.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Vector
from mathutils.bvhtree import BVHTree

from ..core.options import BakeOptions
from ..core.tracks import (CANDIDATES_PER_QUERY, FEWEST_CANDIDATES, OCCLUSION_TOLERANCE, Tracks, barycentric, choose,
                           outside_view, pixel_rays, point_at, project, queries_per_frame, raster_intrinsics,
                           world_to_opencv)
from .camera import blender_camera
from .surface_motion import rendered_instances, rendered_objects

TRIANGLE_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT"}  # what Cycles renders as triangles


@dataclass
class Surface:
    """One rendered object or instance at a frame: its evaluated triangles in its own space and where it is."""

    owner: str  # the object the user knows: the instancer, for instances
    vertices: np.ndarray  # float64 V×3, object space
    triangles: np.ndarray  # int64 F×3 vertex indices, as Blender triangulates for the render
    matrix: np.ndarray  # 4×4 object → world

    def signature(self) -> tuple[int, int]:
        """What must stay the same for a triangle and its barycentric coordinates to name the same point."""
        return len(self.vertices), hash(self.triangles.tobytes())

    def world(self, triangles: np.ndarray) -> np.ndarray:
        """World corners (K×3×3) of the given triangles."""
        corners = self.vertices[self.triangles[triangles]]
        return corners @ self.matrix[:3, :3].T + self.matrix[:3, 3]


def mesh_arrays(evaluated: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    mesh = evaluated.to_mesh()
    try:
        mesh.calc_loop_triangles()
        vertices = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", vertices)
        triangles = np.empty(len(mesh.loop_triangles) * 3, np.int64)
        mesh.loop_triangles.foreach_get("vertices", triangles)
        return vertices.reshape(-1, 3).astype(np.float64), triangles.reshape(-1, 3)
    finally:
        evaluated.to_mesh_clear()


def surfaces_at(scene: bpy.types.Scene, frame: int) -> dict[tuple, Surface]:
    """Every rendered surface at ``frame``, keyed as the flow keys instances (surface_motion.py); geometry shared by
    instances is read once. Hidden from the render or from camera rays (the object or its instancer): no surface."""
    scene.frame_set(frame)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    shared: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    surfaces = {}
    for key, obj, _, matrix, known in rendered_instances(rendered_objects(bpy.context.view_layer), depsgraph):
        hidden = obj.original.hide_render or known.hide_render or not getattr(obj, "visible_camera", True)
        if obj.type not in TRIANGLE_TYPES or hidden:
            continue
        geometry = (obj.original.name_full, obj.data.as_pointer() if obj.data else 0)
        if geometry not in shared:
            shared[geometry] = mesh_arrays(obj)
        surfaces[key] = Surface(known.name_full, *shared[geometry], np.array(matrix))
    return surfaces


class Triangles:
    """The surfaces of one frame joined into one ray-casting tree."""

    def __init__(self, surfaces: dict[tuple, Surface]) -> None:
        self.keys = sorted(surfaces, key=repr)
        parts = [surfaces[key] for key in self.keys]
        self.starts = np.cumsum([0, *(len(part.triangles) for part in parts)])
        vertices = [part.vertices @ part.matrix[:3, :3].T + part.matrix[:3, 3] for part in parts]
        offsets = np.cumsum([0, *(len(v) for v in vertices)])
        self.vertices = np.concatenate(vertices or [np.empty((0, 3))])
        self.triangles = np.concatenate([part.triangles + offset for part, offset in zip(parts, offsets)]
                                        or [np.empty((0, 3), np.int64)])
        self.tree = BVHTree.FromPolygons(self.vertices.tolist(), self.triangles.tolist(), all_triangles=True)

    def first_hits(self, origin: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """The triangle each ray hits first (-1 where it hits none)."""
        start = Vector(origin)
        found = (self.tree.ray_cast(start, Vector(direction))[2] for direction in directions)
        return np.array([-1 if index is None else index for index in found], np.int64)

    def owner(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The surface (into ``keys``) of each triangle and its triangle there."""
        part = np.searchsorted(self.starts, index, side="right") - 1
        return part, index - self.starts[part]

    def hidden(self, origin: np.ndarray, points: np.ndarray) -> np.ndarray:
        """True where a surface lies between ``origin`` and the point (beyond the tolerance)."""
        start = Vector(origin)
        towards = points - origin
        distances = np.linalg.norm(towards, axis=1)
        return np.array([self.tree.ray_cast(start, Vector(way / distance), distance * (1 - OCCLUSION_TOLERANCE))[2]
                         is not None for way, distance in zip(towards, distances)], bool)


@dataclass
class Queries:
    """The query points chosen so far: per point its frame index, pixel, surface, triangle and (u, v)."""

    frame_index: list[int]
    pixels: list[tuple[int, int]]
    keys: list[tuple]
    triangles: list[int]
    uv: list[np.ndarray]


def candidates(triangles: Triangles, camera: tuple[np.ndarray, np.ndarray], size: tuple[int, int], enough: int,
               rng: np.random.Generator) -> list[tuple]:
    """At least ``enough`` surface points (while the frame has them) under pixel centres drawn at random:
    (pixel, key, triangle, uv) each, in the order drawn."""
    width, height = size
    order = rng.permutation(width * height)
    batch = max(FEWEST_CANDIDATES, 2 * enough)
    found: list[tuple] = []
    for first in range(0, len(order), batch):
        rows, cols = np.divmod(order[first:first + batch], width)
        origin, directions = pixel_rays(*camera, rows, cols)
        index = triangles.first_hits(origin, directions)
        hit = np.flatnonzero(index >= 0)
        uv = barycentric(triangles.vertices[triangles.triangles[index[hit]]], origin, directions[hit])
        parts, local = triangles.owner(index[hit])
        found += [((int(rows[ray]), int(cols[ray])), triangles.keys[part], int(triangle), pair)
                  for ray, part, triangle, pair in zip(hit, parts, local, uv)]
        if len(found) >= enough:
            break
    return found


def follow_tracks(scene: bpy.types.Scene, options: BakeOptions) -> Tracks:
    """The tracks of the whole sequence (the scene must evaluate as it renders: the bake sees to it)."""
    frames = list(range(options.sequence_start, options.sequence_end + 1))
    size = blender_camera(scene, scene.camera.data)
    cameras, drawn, signatures = [], [], {}
    wanted = queries_per_frame(options.track_count, len(frames), options.track_queries == "FIRST")
    owners: dict[tuple, str] = {}
    for index, frame in enumerate(frames):
        surfaces = surfaces_at(scene, frame)
        cameras.append((blender_camera(scene, scene.camera.data).intrinsics(), np.array(scene.camera.matrix_world)))
        for key, surface in surfaces.items():
            signatures.setdefault(key, []).append(surface.signature())
            owners[key] = surface.owner
        if wanted[index]:
            rng = np.random.default_rng([options.track_seed, index])
            enough = int(wanted[index]) * (CANDIDATES_PER_QUERY if options.track_balance else 1)
            drawn.append((index, candidates(Triangles(surfaces), cameras[-1], (size.width, size.height), enough,
                                            rng)))
    followed = {key for key, seen in signatures.items() if len(seen) == len(frames) and len(set(seen)) == 1}
    untracked = {owners[key]: "its evaluated topology changes or it is not rendered on every frame"
                 for key in signatures if key not in followed}
    objects = sorted({owners[key] for key in followed})
    queries = Queries([], [], [], [], [])
    for index, found in drawn:
        found = [item for item in found if item[1] in followed]
        owner_of = np.array([objects.index(owners[key]) for _, key, _, _ in found], int)
        for pick in choose(owner_of, int(wanted[index]), options.track_balance):
            pixel, key, triangle, uv = found[pick]
            queries.frame_index.append(index)
            queries.pixels.append(pixel)
            queries.keys.append(key)
            queries.triangles.append(triangle)
            queries.uv.append(uv)
    return carried(scene, frames, cameras, queries, objects, owners, (size.width, size.height), untracked)


def carried(scene: bpy.types.Scene, frames: list[int], cameras: list, queries: Queries, objects: list[str],
            owners: dict, size: tuple[int, int], untracked: dict[str, str]) -> Tracks:
    """Each query point carried to every frame on its triangle, projected, and tested for occlusion."""
    count, length = len(queries.keys), len(frames)
    points = np.zeros((count, length, 3))
    target = np.zeros((count, length, 2))
    occluded = np.zeros((count, length), bool)
    keys = np.array([repr(key) for key in queries.keys])
    uv = np.array(queries.uv).reshape(-1, 2)
    for index, frame in enumerate(frames):
        surfaces = surfaces_at(scene, frame)
        for key in set(queries.keys):
            rows = np.flatnonzero(keys == repr(key))
            corners = surfaces[key].world(np.array(queries.triangles)[rows])
            points[rows, index] = point_at(corners, uv[rows])
        intrinsics, camera_to_world = cameras[index]
        target[:, index], depth = project(points[:, index], intrinsics, camera_to_world)
        outside = outside_view(target[:, index], depth, *size)
        occluded[:, index] = outside
        if count:
            inside = np.flatnonzero(~outside)
            occluded[inside, index] = Triangles(surfaces).hidden(camera_to_world[:3, 3], points[inside, index])
    rows = np.arange(count)
    frame_index = np.array(queries.frame_index, int)
    pixels = np.array(queries.pixels, float).reshape(-1, 2) + 0.5
    target[rows, frame_index] = pixels[:, ::-1]  # by definition the track sits on its query point there
    occluded[rows, frame_index] = False
    return Tracks(
        query_points=np.column_stack([frame_index, pixels]).astype(np.float32).reshape(-1, 3),
        target_points=target.astype(np.float32), occluded=occluded, points_3d=points.astype(np.float32),
        object_index=np.array([objects.index(owners[key]) for key in queries.keys], np.int32),
        objects=objects, frames=np.array(frames, np.int32),
        intrinsics=np.array([raster_intrinsics(camera[0]) for camera in cameras], np.float32).reshape(-1, 3, 3),
        world_to_camera=np.array([world_to_opencv(camera[1]) for camera in cameras], np.float32).reshape(-1, 4, 4),
        image_size=np.array(size, np.int32), untracked=untracked)
