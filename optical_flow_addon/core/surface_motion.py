"""Flow, occlusion and scene flow for any frame gap, from each pixel's surface point and its motion.

For every pixel centre the render gives the planar depth (distance along the camera's view axis) and
the motion of the surface point under it to the other frame: its object's matrices at both frames, and each
mesh vertex's displacement in the object's axes, interpolated by Cycles at the hit point exactly as the
point itself is. The point is depth × the pixel's camera ray r; each object's motion, seen from the source camera
and carried into the target camera, is one 4×4 matrix per object, composed in float64 (the cameras' and objects'
positions cancel there, however far from the world origin). Per pixel only relative quantities remain: the target
point is depth × (r + u), with u = E r + (t + D × displacement) / depth small where the motion is, so float32
keeps the flow's error a tiny share of the flow itself. The target is occluded when the other frame's own depth
map shows a nearer surface where it lands.

Which motion a pixel takes: the number of the object whose geometry it shows, and, where several rendered instances
share that number (collection and geometry-nodes instances, particles) or the geometry carries none (objects that
cannot take a modifier), the instance's location as Cycles renders it, matched exactly to the bake's list of instances.

Long because the projection, the occlusion look-up and the instance matching share the frame's arrays and their
float32/float64 split; segmentation and normals are read from the same passes here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .flow import BACKGROUND_DEPTH, FLOW_CONVERSIONS, validity_mask
from .products import scene_flow_name

# Two surfaces closer than this share of their depth, plus one pixel's change of depth, count as one: the
# depth at a spot between pixel centres is predicted from a neighbour's, exact on planes, close on curved meshes.
SAME_SURFACE = 5e-3
# A bound that must hold whatever float32 rounds: 1e-4 of the values compared is far more than the few units in the
# last place (6e-8 each) that rounding can move them.
BOUND_ROOM = 1e-4
# Render passes (AOVs): per flow, each surface point's displacement to frame t+K or t−K in its object's
# own axes (colour; zero on rigid objects), the number of the object whose geometry it is (value; 0 where the
# geometry carries none), and the location of the rendered instance (colour; only where instances need telling apart).
MOTION_PASSES = {"forward_flow": "OpticalFlowForwardMotion", "backward_flow": "OpticalFlowBackwardMotion"}
OBJECT_PASS = "OpticalFlowObject"
LOCATION_PASS = "OpticalFlowLocation"
NORMAL_PASS = "OpticalFlowNormal"  # colour: the surface normal in world axes (shading or geometric), for ``normals``
MOST_INSTANCES = np.iinfo(np.uint16).max  # segmentation indices are uint16, 0 for the background
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

    def rays(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The x (1×W) and y (H×1) of each pixel centre's ray in camera axes, scaled to z = −1."""
        (fx, _, cx), (_, fy, cy) = self.intrinsics[:2]
        return (((np.arange(width) - cx) / fx).astype(np.float32)[None, :],
                (-(np.arange(height) - cy) / fy).astype(np.float32)[:, None])

    def shift_in(self, other: View, axis: int, size: int) -> np.ndarray:
        """Per pixel centre along ``axis`` (0: x, ``size`` columns; 1: y, rows), how far from it a point at infinity
        on its ray shows in ``other``, a camera turned the same way: only the principal points and focal lengths
        part them, so equal ones give exactly 0 (float64)."""
        focal, centre = self.intrinsics[axis, axis], self.intrinsics[axis, 2]
        other_focal, other_centre = other.intrinsics[axis, axis], other.intrinsics[axis, 2]
        return (other_centre - centre) + (other_focal / focal - 1) * (np.arange(size) - centre)


class DepthLookup:
    """One frame's depth map, ready to say whether points landing between its pixel centres are hidden.

    Per pixel (padded by one empty pixel all round, so the four pixels around any spot inside the image
    exist): 1/depth (−inf where there is no surface, so no vote), its slopes in x and y from the side that
    changes less, and their sum of magnitudes: a pixel's change of 1/depth."""

    def __init__(self, depth: np.ndarray, inverse: np.ndarray) -> None:
        """``inverse``: ``inverse_of_depth`` of ``depth`` (a frame's own, made once for both its flows)."""
        height, width = depth.shape
        surface = depth < BACKGROUND_DEPTH
        self.width = width + 2
        # 1/depth, slope x, slope y, tolerance
        self.planes = np.zeros((4, height + 2, width + 2), np.float32)
        seen, slope_x, slope_y, tolerance = (plane[1:-1, 1:-1] for plane in self.planes)
        self.planes[0] = -np.inf
        np.copyto(seen, inverse, where=surface)
        gentler_slope(inverse, 1, slope_x)
        gentler_slope(inverse, 0, slope_y)
        np.add(np.abs(slope_x), np.abs(slope_y), out=tolerance)
        # Per spot between four pixel centres (indexed by the top left one): the most any of the four can
        # predict for its own surface's 1/depth there (its 1/depth plus its tolerance, which bounds the slopes'
        # reach), with room for float32 rounding.
        reach = self.planes[0] + BOUND_ROOM * (self.planes[0] + self.planes[3])
        self.reach = np.full(reach.shape, -np.inf, np.float32)
        self.reach[:-1, :-1] = np.maximum(np.maximum(reach[:-1, :-1], reach[:-1, 1:]),
                                          np.maximum(reach[1:, :-1], reach[1:, 1:]))
        self.reach = self.reach.ravel()
        self.planes = self.planes.reshape(4, -1)

    def hides(self, x: np.ndarray, y: np.ndarray, inverse_depth: np.ndarray) -> np.ndarray:
        """True where a point at image position (``x``, ``y``; pixel centres at whole numbers, inside the image)
        with 1/depth ``inverse_depth`` is hidden.

        Each of the four pixel centres around the spot predicts the 1/depth of its own surface there (extended
        along its slope) and votes, weighted by its closeness to the spot: for visible if the point lies on that
        surface, for hidden if that surface is nearer. A surface farther than the point does not vote: there
        the point's own surface ends between the pixel centres. Ties are visible.

        Only a surface nearer than the point by more than its tolerance votes for hidden, so the votes are
        counted only where one of the four could be (``reach``): the same answer for a fraction of the work."""
        corner = self.corner(x, y)
        threshold = np.float32((1 + SAME_SURFACE) * (1 - BOUND_ROOM))
        maybe = np.flatnonzero(np.take(self.reach, corner, mode="clip") > threshold * inverse_depth)
        hidden = np.zeros(x.shape, bool)
        hidden[maybe] = self.votes(x[maybe], y[maybe], inverse_depth[maybe]) < 0
        return hidden

    def corner(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The index in the padded planes of the pixel centre at the top left of each spot. Spots start at −0.5, so
        x + 1 is positive and truncating it is flooring it. As 32-bit integers where they fit: numpy turns float32
        into them ten times as fast as into 64-bit ones."""
        whole = np.int32 if self.reach.size < np.iinfo(np.int32).max else np.intp
        return (y + np.float32(1)).astype(whole) * whole(self.width) + (x + np.float32(1)).astype(whole)

    def votes(self, x: np.ndarray, y: np.ndarray, inverse_depth: np.ndarray) -> np.ndarray:
        """The weighted votes of ``hides``: negative where the point is hidden."""
        fraction_x, fraction_y = x - np.floor(x), y - np.floor(y)
        corner = self.corner(x, y)
        near = SAME_SURFACE * inverse_depth
        votes = np.zeros(x.shape, np.float32)
        for dy in (0, 1):
            weight_y = fraction_y if dy else 1 - fraction_y
            offset_y = fraction_y - dy
            for dx in (0, 1):
                weight = (fraction_x if dx else 1 - fraction_x) * weight_y
                seen, slope_x, slope_y, tolerance = np.take(self.planes, corner + (dy * self.width + dx), axis=1,
                                                            mode="clip")
                # how much nearer (in 1/depth) that surface is at the spot than the point, and the tolerance
                nearer = seen + slope_x * (fraction_x - dx) + slope_y * offset_y - inverse_depth
                allowed = near + tolerance
                votes += weight * (nearer >= -allowed)  # on that surface or in front of it: one vote for visible
                votes -= (2 * weight) * (nearer > allowed)  # that surface is nearer: turned into one for hidden
        return votes


def gentler_slope(inverse: np.ndarray, axis: int, out: np.ndarray) -> None:
    """Per pixel, the change of 1/depth to the next pixel along ``axis``, from the side that changes less, into
    ``out``.

    1/depth is linear across the image on a plane; taking the gentler side keeps the slope of the
    pixel's own surface where a neighbour shows another one."""
    step = np.diff(inverse, axis=axis)
    size = np.abs(step)
    before, after, first, last, inner = ((slice(None),) * axis + (part,) for part in (
        slice(None, -1), slice(1, None), slice(0, 1), slice(-1, None), slice(1, -1)))
    out[first], out[last] = step[first], step[last]  # the edge pixels have one side only
    np.copyto(out[inner], np.where(size[before] < size[after], step[before], step[after]))


def inverse_of_depth(depth: np.ndarray) -> np.ndarray:
    """1/depth as float32, 0 where there is no surface."""
    with np.errstate(divide="ignore"):
        return np.where(depth < BACKGROUND_DEPTH, 1.0 / depth.astype(np.float32), np.float32(0.0))


def occluded(position: np.ndarray, depth: np.ndarray, target_depth: np.ndarray) -> np.ndarray:
    """True where a point landing at ``position`` (N×2 image coordinates: pixel (0, 0) spans [0, 1]²) with planar
    ``depth`` (N) is hidden in the frame whose depth map is ``target_depth``."""
    spot = np.asarray(position, np.float32) - np.float32(0.5)  # pixel centres at whole numbers
    lookup = DepthLookup(target_depth, inverse_of_depth(target_depth))
    return lookup.hides(spot[:, 0], spot[:, 1], (1.0 / np.asarray(depth)).astype(np.float32))


def instance_keys(numbers: np.ndarray, locations: np.ndarray) -> np.ndarray:
    """Per (object number, instance location), both float32 as rendered, its 16 bytes as two uint64 words (N×2);
    −0 counts as 0."""
    keys = np.concatenate([np.asarray(numbers, np.float32).reshape(-1, 1),
                           np.asarray(locations, np.float32).reshape(-1, 3)], axis=1) + np.float32(0)
    return np.ascontiguousarray(keys).view(np.uint64)


def identify(numbers: np.ndarray, locations: np.ndarray | None, instances: list,
             surface: np.ndarray) -> np.ndarray:
    """Per pixel, the row (from 1) of ``instances`` ([object number, location] each) whose geometry it shows; 0 where
    none is known. A number listed once is enough; a number listed several times, and 0 (geometry without a number),
    are matched on the rendered location too (exactly), which needs ``locations`` (H×W×3); only ``surface`` pixels
    are looked up. Rows with the same key must move alike (the bake leaves out those that do not); the first is
    taken."""
    numbers = np.rint(numbers).astype(np.intp)
    listed = np.array([number for number, _ in instances], np.intp).reshape(-1)
    count = 1 + max(int(listed.max(initial=0)), 0)
    numbers[(numbers < 0) | (numbers >= count)] = count  # numbers no row names: one past the end, unknown
    listed_times = np.append(np.bincount(listed, minlength=count), 0)
    direct = np.zeros(count + 1, np.intp)
    direct[listed[::-1]] = np.arange(len(listed), 0, -1)
    rows = direct[numbers]
    needs_location = (listed_times[numbers] > 1) | ((numbers == 0) & (listed_times[0] > 0))
    rows[needs_location] = 0
    spots = np.flatnonzero(needs_location & surface)
    if locations is None or not len(spots):
        return rows
    # Sorted 64-bit mixes of the rows' keys, looked up by binary search; a match must equal the key exactly.
    table = instance_keys(listed, [location for _, location in instances])
    wanted = instance_keys(numbers.ravel()[spots], locations.reshape(-1, 3)[spots])
    mixed_table, mixed = (keys[:, 0] ^ (keys[:, 1] * np.uint64(0x9E3779B97F4A7C15)) for keys in (table, wanted))
    order = np.argsort(mixed_table, kind="stable")  # equal keys: the first row first
    found = order[np.minimum(np.searchsorted(mixed_table[order], mixed), len(order) - 1)]
    exact = (table[found] == wanted).all(axis=1)
    rows.ravel()[spots] = np.where(exact, found + 1, 0)
    return rows


@dataclass
class Frame:
    """What one rendered frame gives: planar depth, each pixel's instance (row of the bake's list) and displacement
    per flow, the camera, and per flow the instances' matrices at this frame and at the partner frame."""

    depth: np.ndarray
    objects: np.ndarray  # H×W instance rows, 0 where the motion is unknown
    displacement: dict[str, np.ndarray]  # flow name -> H×W×3, object axes
    view: View
    matrices: dict[str, tuple[np.ndarray, np.ndarray]]  # flow name -> object_to_world here and there, (n + 1)×4×4
    lost: dict[str, np.ndarray]  # flow name -> (n + 1) bools: the instance is gone (or unknown) at the partner frame
    vector: np.ndarray | None = None  # Cycles' Vector pass (H×W×4), on frames where some instances move as it has them
    by_vector: dict[str, np.ndarray] = field(default_factory=dict)  # flow name -> (n + 1) bools: those instances

    @classmethod
    def from_passes(cls, depth: np.ndarray, numbers: np.ndarray, displacement: dict[str, np.ndarray], view: View,
                    instances: list, matrices: dict[str, list], locations: np.ndarray | None = None,
                    vector: np.ndarray | None = None, vector_rows: dict[str, list[int]] | None = None) -> Frame:
        """``instances``: [object number, location] rows as the bake sends them; ``matrices``: per flow,
        [object_to_world here, there] for each row, there None where the instance is gone at the partner frame;
        ``vector_rows``: per flow, the rows (from 1) whose motion is the ``vector`` pass's instead.
        Row 0 (no motion known) keeps the identity."""
        count = len(instances) + 1
        stacked, lost, by_vector = {}, {}, {}
        for name, rows in (vector_rows or {}).items():
            by_vector[name] = np.zeros(count, bool)
            by_vector[name][rows] = True
        for name, rows in matrices.items():
            here, there = np.tile(np.eye(4), (2, count, 1, 1))
            lost[name] = np.zeros(count, bool)
            for row, (matrix_here, matrix_there) in enumerate(rows, start=1):
                here[row] = matrix_here
                if matrix_there is None:
                    lost[name][row] = True
                else:
                    there[row] = matrix_there
            stacked[name] = (here, there)
        rows = identify(numbers, locations, instances, depth < BACKGROUND_DEPTH)
        return cls(depth, rows, displacement, view, stacked, lost, vector, by_vector)

    @cached_property
    def inverse_depth(self) -> np.ndarray:
        """For both flows of the frame."""
        return inverse_of_depth(self.depth)

    @cached_property
    def surface(self) -> np.ndarray:
        return self.depth < BACKGROUND_DEPTH

    @cached_property
    def lookup(self) -> DepthLookup:
        """The frame's depth map as the flows landing in it look it up (built once, for both)."""
        return DepthLookup(self.depth, self.inverse_depth)


def object_motions(source: Frame, name: str, target_view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray]:
    """Per object (n + 1): the map from a point in the source camera's axes to the target camera's (T, 4×4) and to
    where the point is at the partner frame in the source camera's axes (S, 4×4), and the maps of a displacement in
    the object's axes into the target camera's axes (3×3) and into the source camera's (3×3). All float64."""
    here, there = source.matrices[name]
    to_source = np.linalg.inv(source.view.camera_to_world)
    moves = to_source @ there @ np.linalg.inv(here) @ source.view.camera_to_world
    source_to_target = np.linalg.inv(target_view.camera_to_world) @ source.view.camera_to_world
    shifts = to_source[:3, :3] @ there[:, :3, :3]
    return source_to_target @ moves, moves, source_to_target[:3, :3] @ shifts, shifts


def relative_motion(source: Frame, name: str, matrices: np.ndarray, shifts: np.ndarray,
                    known: np.ndarray) -> list[np.ndarray]:
    """Per pixel, (M − I) r + (m + A × displacement) / depth for each pixel's object's affine map [M | m] (4×4) and
    displacement map A (3×3), as three H×W float32 components (x, y, z in camera axes). ``known`` (H×W) is cleared
    where the displacement says the motion is unknown."""
    depth = source.depth
    ray_x, ray_y = source.view.rays(*depth.shape)
    numbers = source.objects
    # (n + 1)×12: per component x, y, z, the ray's x, y, z and 1/depth parts
    rows = (matrices[:, :3] - np.eye(4)[:3]).astype(np.float32).reshape(-1, 12)
    # Objects with the same map (still ones: the camera's motion alone) are one kind; the kind most pixels show is
    # worked out for every pixel without a look-up, then the other pixels' maps are looked up and replace it.
    kinds, kind_of_row = np.unique(rows, axis=0, return_inverse=True)
    pixels = np.bincount(numbers.ravel(), minlength=len(rows))
    common = np.argmax(np.bincount(kind_of_row.ravel(), weights=pixels))
    parts = (ray_x, ray_y, source.inverse_depth)
    components = [affine(kinds[common, 4 * i:4 * i + 4], *parts) for i in range(3)]
    others = np.flatnonzero((kind_of_row.ravel() != common)[numbers])
    if len(others):
        looked_up = np.take(rows, numbers.ravel()[others], axis=0).T
        parts = [np.broadcast_to(part, depth.shape).ravel()[others] for part in parts]
        for i in range(3):
            components[i].ravel()[others] = affine(looked_up[4 * i:4 * i + 4], *parts)
    displacement = source.displacement[name].reshape(-1, 3)
    # pixels on vertices that move within their objects (none on rigid objects)
    moving = np.flatnonzero((displacement[:, 0] != 0) | (displacement[:, 1] != 0) | (displacement[:, 2] != 0))
    if len(moving):
        shift = displacement[moving].astype(np.float64)
        unknown = np.abs(shift).max(axis=-1) >= UNKNOWN / 2
        known.ravel()[moving[unknown]] = False
        moving, shift = moving[~unknown], shift[~unknown]
        inverse = source.inverse_depth.ravel()[moving, None]
        added = np.einsum("nij,nj->ni", shifts[numbers.ravel()[moving]], shift) * inverse
        for i in range(3):
            components[i].ravel()[moving] += added[:, i]
    return components


def affine(c: np.ndarray, ray_x: np.ndarray, ray_y: np.ndarray, inverse_depth: np.ndarray) -> np.ndarray:
    """One component of (M − I) r + m / depth from its row ``c`` of coefficients (the ray's x, y, z and 1/depth
    parts; scalars or one per point), r's z being −1."""
    return c[0] * ray_x + c[1] * ray_y + (c[3] * inverse_depth - c[2])


@dataclass(frozen=True)
class Motion:
    """Each pixel's surface point at the partner frame of a flow, seen from ``view``: depth × (r + u), with u's x, y
    and z (H×W float32, that camera's axes), and where the motion is known."""

    u: tuple[np.ndarray, np.ndarray, np.ndarray]
    known: np.ndarray
    view: View


def motion_of(source: Frame, name: str, target_view: View) -> Motion | None:
    """The motion of ``source``'s surface points by the flow ``name`` (its matrices and displacements), in the
    axes of ``target_view``, the camera of the partner frame; None where the frame has no partner for the flow."""
    if name not in source.matrices:
        return None
    known = source.surface & (source.objects > 0) & ~source.lost[name][source.objects]
    to_target, _, shifts_to_target, _ = object_motions(source, name, target_view)
    return Motion(tuple(relative_motion(source, name, to_target, shifts_to_target, known)), known, target_view)


def seen_from(motion: Motion, source: Frame, view: View) -> Motion | None:
    """``motion`` seen from another camera at the partner frame that is turned as ``motion.view`` is (the other
    view of a parallel or off-axis stereo rig): only the cameras' offset changes u, by offset / depth. None for a
    camera turned otherwise."""
    between = np.linalg.inv(view.camera_to_world) @ motion.view.camera_to_world
    if not np.allclose(between[:3, :3], np.eye(3), rtol=0, atol=1e-12):
        return None
    offset = between[:3, 3].astype(np.float32)
    u = tuple(component + offset[i] * source.inverse_depth for i, component in enumerate(motion.u))
    return Motion(u, motion.known, view)


def flow_products(source: Frame, target: Frame, name: str, blender_image_coordinate_style: bool,
                  occlusion: bool, scene_flow: bool, motion: Motion | None = None) -> dict[str, np.ndarray]:
    """The flow ``name`` from ``source`` to ``target`` with its validity mask, and, if asked, its occlusion
    mask and scene flow. Valid: a surface with known motion whose target lands inside the image, in front
    of the camera. Occlusion is decided where the flow is valid, False elsewhere. ``motion``: the points' motion
    in the target's camera (``motion_of``), where the caller has it already."""
    height, width = source.depth.shape
    flow = np.zeros((height, width, 2), np.float32)
    valid = np.zeros((height, width), bool)
    arrays = {name: flow, f"{name}_valid": valid}
    if occlusion:
        arrays[f"{name}_occluded"] = np.zeros((height, width), bool)
    if scene_flow:
        arrays[scene_flow_name(name)] = np.zeros((height, width, 3), np.float32)
    motion = motion or motion_of(source, name, target.view)
    if motion is None:
        return arrays
    (u_x, u_y, u_z), known = motion.u, motion.known
    # target point = depth × (r + u): its planar depth is depth × (1 − u_z), its image position follows
    ray_x, ray_y = source.view.rays(height, width)
    fx, fy = np.float32(target.view.intrinsics[0, 0]), np.float32(target.view.intrinsics[1, 1])
    # What the pixel centre's own ray lands on at the target minus the pixel centre: zero unless the intrinsics change.
    columns, rows = np.arange(width), np.arange(height)[:, None]
    offset_x = source.view.shift_in(target.view, 0, width).astype(np.float32)
    offset_y = source.view.shift_in(target.view, 1, height).astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # points on the camera plane project nowhere
        scale = 1 / (1 - u_z)
        # (ray + u) × scale − ray, in pixels: small where the motion is, so float32 loses nothing that shows
        flow_x = (fx * (u_x + ray_x * u_z)) * scale + offset_x
        flow_y = (fy * (u_y + ray_y * u_z)) * -scale + offset_y
        x, y = flow_x + columns.astype(np.float32), flow_y + rows.astype(np.float32)
        inside = known & (scale > 0) & (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    flow[..., 0] = np.where(known, flow_x, 0)
    flow[..., 1] = np.where(known, -flow_y if blender_image_coordinate_style else flow_y, 0)
    valid[...] = inside
    if occlusion:
        spots = np.flatnonzero(inside)
        hidden = target.lookup.hides(x.ravel()[spots], y.ravel()[spots],
                                     source.inverse_depth.ravel()[spots] * scale.ravel()[spots])
        arrays[f"{name}_occluded"].ravel()[spots] = hidden
    if name in source.by_vector:
        from_vector(arrays, source, name, blender_image_coordinate_style, occlusion)
    if scene_flow:
        moved = arrays[scene_flow_name(name)]
        _, moves, _, shifts = object_motions(source, name, target.view)
        with np.errstate(invalid="ignore", over="ignore"):  # no surface: infinite depth, masked out
            for i, component in enumerate(relative_motion(source, name, moves, shifts, known.copy())):
                moved[..., i] = np.where(known, component * source.depth, 0)
        if not blender_image_coordinate_style:  # OpenCV's axes: y down, z forwards
            moved[..., 1:] *= -1
    return arrays


def from_vector(arrays: dict[str, np.ndarray], source: Frame, name: str, blender_image_coordinate_style: bool,
                occlusion: bool) -> None:
    """The flow ``name`` of the pixels whose instances move as Cycles' Vector pass has it (points that cannot carry
    their displacements: a linked object's, NURBS surfaces, metaballs), valid where it lands in the image. Where such
    a point lands is known, its depth there is not: it is not known to be visible, so with occlusion it counts as
    occluded."""
    spots = source.surface & source.by_vector[name][source.objects]
    flow = FLOW_CONVERSIONS[name](source.vector, blender_image_coordinate_style)
    arrays[name][spots] = flow[spots]
    arrays[f"{name}_valid"][spots] = validity_mask(flow, spots, blender_image_coordinate_style)[spots]
    if occlusion:
        arrays[f"{name}_occluded"][spots] = True


def segmentation(rows: np.ndarray, numbers: np.ndarray, surface: np.ndarray, segments: list[int],
                 object_segments: list[int]) -> np.ndarray:
    """Per pixel (uint16 H×W), the index of the instance it shows: ``segments`` gives each row of the frame's instance
    list (``identify``) its index, the same on every frame and chunk. A pixel whose instance is unknown takes the
    index of the object its number (the object pass) names, ``object_segments[number]``, where there is one; the
    background is 0."""
    by_row = np.array([0, *segments], np.uint16)
    by_number = np.array([*object_segments, 0], np.uint16)  # one past the end: a number no object has
    number = np.rint(numbers).astype(np.intp)
    number[(number < 0) | (number >= len(object_segments))] = len(object_segments)
    index = np.where(rows > 0, by_row[rows], by_number[number])
    return np.where(surface, index, 0).astype(np.uint16)


def camera_normals(normals: np.ndarray, view: View, surface: np.ndarray,
                   blender_image_coordinate_style: bool) -> np.ndarray:
    """Cycles' unit world-axes normals (H×W×3) as unit vectors (float32) in the camera axes of the coordinate style,
    as scene flow has them: Blender's (x right, y up, z backwards) or OpenCV's (x right, y down, z forwards); zero
    where no surface. A normal turns with the inverse transpose of the world-to-camera map, which is the
    camera-to-world matrix's transpose: right for a scaled camera too. A camera scaled alike on its three axes only
    scales the normals, so the turn is divided by that scale; only another scale needs each normal's length (2 ms
    a frame at 640×480)."""
    turn = view.camera_to_world[:3, :3] * ([1, 1, 1] if blender_image_coordinate_style else [1, -1, -1])
    scales = np.linalg.norm(turn, axis=0)
    alike = np.ptp(scales) <= 1e-6 * scales.max()  # a rotation stored in float32 is off by 1e-7
    turned = normals.reshape(-1, 3) @ (turn / scales.max() if alike else turn).astype(np.float32)  # within 1e-6 rad
    if not alike:
        length = np.sqrt(np.einsum("ij,ij->i", turned, turned))
        turned /= np.where(length > 0, length, 1)[:, None]
    turned[~surface.ravel()] = 0
    return turned.reshape(normals.shape)
