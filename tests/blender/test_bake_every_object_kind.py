"""Flow, occlusion and scene flow of everything artists build (modifier stacks, instances, linked meshes, text,
curves, surfaces) against the triangle ray caster over every rendered instance's evaluated triangles."""
import json
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from flow_checks import check_frame, edges  # noqa: E402
from ground_truth import pixel_rays, project  # noqa: E402


@pytest.mark.parametrize("gap", [1, 3])
def test_every_object_kind_gets_exact_flow_occlusion_and_scene_flow(tmp_path, gap):
    scene, kinds = scenes.every_kind_scene(tmp_path)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), frame_gap=gap, scene_flow=True) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unknown_objects"] == {} and manifest["topology_changes"] == {}
    character = kinds["Character"].modifiers["Subdivision"]
    assert character.levels == 0  # the viewport's level is back; the render's (1) is what was baked
    character.levels = character.render_levels  # the reference follows the render's geometry too
    triangles_at = scenes.rendered_triangles(scene)
    camera = scenes.scene_camera(scene)
    pairs = [("forward_flow", 1, 1 + gap), ("backward_flow", 4, 4 - gap)] + (
        [("forward_flow", 2, 3), ("backward_flow", 3, 2)] if gap == 1 else [])
    totals = np.zeros(5, int)
    for name, frame, other in pairs:
        counts, error, scene_error = check_frame(out, triangles_at, camera, frame, name, other)
        totals += counts
        print(f"{name} {frame} → {other}: worst flow error {error:.2e} px, scene flow {scene_error:.1e} m")
    # every kind shows and has flow (check_frame: every pixel whose surface point stays in the image is valid)
    _, index, _, _ = triangle_ground_truth.first_hits(*pixel_rays(camera, 1), triangles_at(1))
    owner = np.where(index >= 0, triangles_at.owners[1][np.maximum(index, 0)], "")
    valid = np.load(out / f"forward_flow_valid_{1:04d}.npy")
    for name in kinds:
        shown = owner == kinds[name].name
        assert shown.sum() >= 8 and valid[shown].sum() >= 4, (name, shown.sum(), valid[shown].sum())
    agree, judged, agree_away, away, occluded = totals
    print(f"gap {gap}: occlusion agrees on {agree}/{judged} valid pixels, {agree_away}/{away} away from edges")
    assert agree_away >= 0.995 * away and agree >= 0.97 * judged  # edges: either label, between pixel centres
    assert occluded > 0


def test_geometry_whose_topology_changes_moves_by_its_velocity_or_its_object_as_the_vector_pass_has_it(tmp_path):
    """Two grids gain a vertex column every frame while they slide 0.26 m a frame in their own axes: the one whose
    points carry a ``velocity`` attribute gets that motion (here the exact one: a steady slide); the other only its
    object's movement (none: the flow of the camera's), which is what Cycles' Vector pass gives it. Both are named;
    at a frame gap of 3, which no velocity or Vector pass covers, both are unknown."""
    scene = scenes.empty_scene()
    scene.render.fps = 25
    velocity = (6.0, 0.0, 2.5)  # m/s: 0.24 and 0.1 m per frame
    grids = {}
    for name, x, carried in (("With velocity", -1.3, velocity), ("Without", 1.3, None)):
        grid = scenes.add_plane(1, location=(x, 0, 0), rotation=(np.pi / 2, 0, 0))
        grid.name = name
        grid.modifiers.new("Grow", "NODES").node_group = scenes.growing_grid_node_group(carried)
        grids[name] = grid
    scenes.add_camera(scene, [((0, -7, 0), (np.pi / 2, 0, 0)), ((0.2, -7, 0.1), (np.pi / 2, 0, 0.02)),
                              ((0.3, -6.8, 0.1), (np.pi / 2, 0.01, 0.03)), ((0.4, -6.7, 0.2), (np.pi / 2, 0.01, 0.05))])
    out, vector_pass, gap_3 = tmp_path / "flow", tmp_path / "vector_pass", tmp_path / "gap_3"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out)) == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(vector_pass), occlusion=False) == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(gap_3), frame_gap=3) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["velocity_objects"] == {"With velocity": [1, 2, 3, 4]}
    assert manifest["transform_objects"] == {"Without": [1, 2, 3, 4]} and manifest["unknown_objects"] == {}
    why = "its evaluated geometry changes its topology"
    assert json.loads((gap_3 / "manifest.json").read_text())["unknown_objects"] == {"With velocity": why,
                                                                                  "Without": why}
    camera = scenes.scene_camera(scene)
    triangles_at = scenes.rendered_triangles(scene)
    for name, frame, other in (("forward_flow", 1, 2), ("backward_flow", 3, 2)):
        _, index, u, v = triangle_ground_truth.first_hits(*pixel_rays(camera, frame), triangles_at(frame))
        owner = np.where(index >= 0, triangles_at.owners[frame][np.maximum(index, 0)], "")
        start = triangle_ground_truth.point_on(triangles_at(frame), index, u, v)
        slide = np.array(grids["With velocity"].matrix_world)[:3, :3] @ velocity  # the grid's own axes, in the world
        carried, still = owner == "With velocity", owner == "Without"
        end = np.where(carried[..., None], start + (other - frame) * slide / scene.render.fps, start)
        rows, columns = np.indices(index.shape)
        expected = project(camera, other, end) - np.stack([columns + 0.5, rows + 0.5], axis=-1)
        flow, valid = (np.load(out / f"{name}{part}_{frame:04d}.npy") for part in ("", "_valid"))
        cycles = np.load(vector_pass / f"{name}_{frame:04d}.npy")
        assert carried.sum() > 50 and still.sum() > 50
        for grid in (carried, still):
            inner = grid & ~edges(grid)
            assert valid[inner].all()
            assert np.abs(flow - expected)[inner].max() < 1e-3
        inner = still & ~edges(still)
        off = np.abs(flow - cycles)[inner].max()
        print(f"{name}: the grid without velocity within {off:.1e} px of the Vector pass")
        assert off < 1e-3
        if name == "forward_flow":  # 1 to 4
            assert not np.load(gap_3 / "forward_flow_valid_0001.npy")[carried | still].any()


def test_instances_sharing_a_location_but_moving_differently_are_unknown_and_named(tmp_path):
    """Two instances of one collection at one spot, one turning: the rendered location cannot tell them apart, so
    their pixels are unknown and both instancers are named; an instance elsewhere keeps its exact flow."""
    scene = scenes.empty_scene()
    props = scenes.own_collection(scenes.add_box((0, 0, 0), scale=(0.6, 0.6, 0.6)), "Props")
    for name, location, turn in (("Still", (-1.2, 0, 0), 0.0), ("Turning", (-1.2, 0, 0), 0.4),
                                 ("Apart", (1.5, 0, 0), 0.3)):
        scenes.keyframe_motion(scenes.instancer(scene, props, name), {1: (location, (0, 0, 0)),
                                                                       2: (location, (0, 0, turn))})
    scenes.add_camera(scene, [((0, -8, 0), (np.pi / 2, 0, 0))] * 2)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out)) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    why = "instances of it share a rendered location but move differently"
    assert manifest["unknown_objects"] == {"Still": why, "Turning": why}
    camera = scenes.scene_camera(scene)
    triangles_at = scenes.rendered_triangles(scene)
    _, index, _, _ = triangle_ground_truth.first_hits(*pixel_rays(camera, 1), triangles_at(1))
    owner = np.where(index >= 0, triangles_at.owners[1][np.maximum(index, 0)], "")
    valid = np.load(out / "forward_flow_valid_0001.npy")
    shared, apart = np.isin(owner, ["Still", "Turning"]), owner == "Apart"
    assert shared.sum() > 50 and not valid[shared].any()
    assert apart.sum() > 50 and valid[apart & ~edges(apart)].all()


def baked_surface_points(scene, out: Path, **options) -> tuple:
    """Bake ``scene`` with depth (and ``options``) into ``out`` (no object left unknown); the camera, frame 1's depth
    and each pixel's surface point there as Cycles' depth puts it."""
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), render_depth=True, **options) == {"FINISHED"}
    assert json.loads((out / "manifest.json").read_text())["unknown_objects"] == {}
    camera = scenes.scene_camera(scene)
    depth = np.load(out / "depth_0001.npy")
    origins, directions = pixel_rays(camera, 1)
    return camera, depth, origins + directions * depth[..., None]  # a ray's length along the view axis is 1


def test_hair_and_point_clouds_moving_rigidly_get_their_objects_motion(tmp_path):
    """Cycles draws hair strands and point-cloud spheres, not triangles: the reference carries each pixel's own
    rendered surface point (Cycles' depth, not the bake's motion passes) with its object's matrices."""
    scene = scenes.empty_scene()
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    hair = add_hair(scene)
    cloud = scenes.add_plane(1.6)
    point_nodes(cloud, rising=False)
    scenes.keyframe_motion(hair, {1: ((-1.4, 0, 0), (0, 0, 0)), 2: ((-1.1, -0.3, 0.2), (0.2, 0.1, 0.3))})
    scenes.keyframe_motion(cloud, {1: ((1.3, 0, 0), (1.4, 0, 0)), 2: ((1.2, 0.2, -0.2), (1.2, 0.3, 0.2))})
    scenes.add_camera(scene, [((0, -7, 0), (np.pi / 2, 0, 0))] * 2)
    out = tmp_path / "flow"
    camera, depth, points = baked_surface_points(scene, out)
    rows, columns = np.indices(depth.shape)
    flow, valid = (np.load(out / f"forward_flow{part}_0001.npy") for part in ("", "_valid"))
    for obj, side in ((hair, columns < depth.shape[1] // 2), (cloud, columns >= depth.shape[1] // 2)):
        motion = []
        for frame in (1, 2):
            scene.frame_set(frame)
            motion.append(np.array(obj.matrix_world))
        moved = motion[1] @ np.linalg.inv(motion[0])
        expected = project(camera, 2, points @ moved[:3, :3].T + moved[:3, 3]) - np.stack([columns + 0.5,
                                                                                            rows + 0.5], axis=-1)
        shown = side & (depth < 9)  # the wall is 12 m away
        assert shown.sum() > 20 and valid[shown].all(), obj.name
        assert np.abs(flow - expected)[shown].max() < 1e-3, obj.name


def add_hair(scene) -> bpy.types.Object:
    """Ten straight strands of two points, 0.05 m thick, standing in a row."""
    hair = bpy.data.objects.new("Hair", bpy.data.hair_curves.new("Hair"))
    scene.collection.objects.link(hair)
    strands = 10
    hair.data.add_curves([2] * strands)
    roots = np.stack([np.linspace(-0.7, 0.7, strands), np.zeros(strands), np.full(strands, -0.8)], axis=-1)
    points = np.stack([roots, roots + [0.2, 0, 1.6]], axis=1).reshape(-1, 3)
    hair.data.attributes["position"].data.foreach_set("vector", points.astype(np.float32).ravel())
    radius = hair.data.attributes.get("radius") or hair.data.attributes.new("radius", "FLOAT", "POINT")
    radius.data.foreach_set("value", np.full(2 * strands, 0.05, np.float32))
    return hair


def point_nodes(obj, rising: bool = True, by_strand: bool = False) -> None:
    """Geometry nodes on ``obj``: a mesh's geometry becomes spheres of 0.18 m on a 3×3 grid (a point cloud); with
    ``rising``, each point of the geometry is lifted by its index (``by_strand``: its strand's) times the time in
    seconds: the points move within the object, each its own way."""
    tree = scenes.geometry_node_group("Points")
    nodes, links = tree.nodes, tree.links
    obj.modifiers.new("Points", "NODES").node_group = tree
    if obj.type == "MESH":
        grid, shape = nodes.new("GeometryNodeMeshGrid"), nodes.new("GeometryNodeMeshToPoints")
        grid.inputs["Vertices X"].default_value = grid.inputs["Vertices Y"].default_value = 3
        shape.inputs["Radius"].default_value = 0.18
        links.new(grid.outputs["Mesh"], shape.inputs["Mesh"])
    else:
        shape = nodes.new("NodeGroupInput")
    if not rising:
        links.new(shape.outputs[0], nodes.new("NodeGroupOutput").inputs[0])
        return
    index = nodes.new("GeometryNodeInputIndex").outputs[0]
    if by_strand:
        strand = nodes.new("GeometryNodeFieldOnDomain")
        strand.domain, strand.data_type = "CURVE", "INT"
        links.new(index, strand.inputs[0])
        index = strand.outputs[0]
    links.new(lifted(tree, shape.outputs[0], index), nodes.new("NodeGroupOutput").inputs[0])


def lifted(tree, geometry, index):
    """``geometry`` (a socket of ``tree``) with each point lifted by ``index`` (a field) times the time in seconds."""
    nodes, links = tree.nodes, tree.links
    lift, height, offset = (nodes.new(kind) for kind in ("GeometryNodeSetPosition", "ShaderNodeMath",
                                                          "ShaderNodeCombineXYZ"))
    height.operation = "MULTIPLY"
    links.new(nodes.new("GeometryNodeInputSceneTime").outputs["Seconds"], height.inputs[0])
    links.new(index, height.inputs[1])
    links.new(height.outputs[0], offset.inputs["Z"])
    links.new(geometry, lift.inputs["Geometry"])
    links.new(offset.outputs[0], lift.inputs["Offset"])
    return lift.outputs[0]


def collection_instance(scene, obj) -> bpy.types.Object:
    """``obj`` moved into a collection of its own, and an empty that instances that collection in its place."""
    return scenes.instancer(scene, scenes.own_collection(obj, "Props"), "Instancer")


def component_points(scene, obj, frame: int, kind: str = "POINTCLOUD") -> tuple[np.ndarray, np.ndarray]:
    """The matrix and the points (in its axes: a point cloud's centres, a mesh's vertices) of the ``kind`` of geometry
    that the object's geometry (or the collection it instances) evaluates to beside its own kind at ``frame``, as
    Blender evaluates them."""
    scene.frame_set(frame)
    for instance in bpy.context.evaluated_depsgraph_get().object_instances:
        if instance.is_instance and instance.object.type == kind and instance.parent.original == obj:
            positions = instance.object.data.attributes["position"]
            return np.array(instance.matrix_world), np.array([point.vector for point in positions.data])
    raise AssertionError(f"{obj.name} evaluates to no {kind.lower()}")


@pytest.mark.parametrize("case", ["own", "instanced", "beside a curve"])
def test_point_cloud_spheres_that_move_within_their_object_get_exact_flow(tmp_path, case):
    """Each pixel on a sphere (its surface point from Cycles' depth) rides with its object and moves with its sphere's
    centre within it, as a mesh's surface point with its vertices, also where a moving collection instance shows the
    object, and where the object's geometry nodes also make a curve, which Cycles does not render but whose points
    come before the point cloud's in the geometry: the instance's matrices and the centres are Blender's own
    evaluation at both frames."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 120, 90
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    cloud = scenes.add_plane(1.6)
    point_nodes(cloud)
    if case == "beside a curve":
        joined_with(cloud, "Line", lambda tree: tree.nodes.new("GeometryNodeCurvePrimitiveLine").outputs[0])
    mover = collection_instance(scene, cloud) if case == "instanced" else cloud
    scenes.keyframe_motion(mover, {1: ((0, 0, 0), (0, 0, 0)), 2: ((0.2, -0.1, 0.1), (0.1, 0.2, 0.3))})
    scenes.add_camera(scene, [((0, -7, 0.3), (np.pi / 2, 0, 0)), ((0.1, -7, 0.4), (np.pi / 2, 0, 0.02))])
    out = tmp_path / "flow"
    camera, depth, points = baked_surface_points(scene, out)
    (matrix, before), (matrix_after, after) = (component_points(scene, mover, frame) for frame in (1, 2))
    local = (points - matrix[:3, 3]) @ np.linalg.inv(matrix[:3, :3]).T
    nearest = np.linalg.norm(local[..., None, :] - before, axis=-1).argmin(axis=-1)
    moved = (local + (after - before)[nearest]) @ matrix_after[:3, :3].T + matrix_after[:3, 3]
    rows, columns = np.indices(depth.shape)
    expected = project(camera, 2, moved) - np.stack([columns + 0.5, rows + 0.5], -1)
    flow, valid = (np.load(out / f"forward_flow{part}_0001.npy") for part in ("", "_valid"))
    inside = (depth < 9) & (np.abs(expected[..., 0] + columns + 0.5 - depth.shape[1] / 2) < depth.shape[1] / 2 - 1)
    inside &= np.abs(expected[..., 1] + rows + 0.5 - depth.shape[0] / 2) < depth.shape[0] / 2 - 1  # the wall: 12 m
    worst = float(np.abs(flow - expected)[inside].max())
    print(f"{inside.sum()} sphere pixels, worst flow error {worst:.1e} px")
    assert inside.sum() > 40 and valid[inside].all() and worst < 1e-3


def strands(scene, hair, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """The hair object's matrix and its strands' points (strand, point, axis) as Blender evaluates them at ``frame``."""
    scene.frame_set(frame)
    evaluated = hair.evaluated_get(bpy.context.evaluated_depsgraph_get())
    positions = np.array([point.vector for point in evaluated.data.attributes["position"].data])
    return np.array(evaluated.matrix_world), positions.reshape(len(evaluated.data.curves), -1, 3)


def tubes(hair) -> None:
    """Geometry nodes after the hair's own that make each strand a tube (Curve to Mesh with a hexagon of 0.06 m), as
    artists render thick hair: the hair object then evaluates to a mesh beside its (now empty) strands."""
    tree = scenes.geometry_node_group("Tubes")
    mesh, profile = tree.nodes.new("GeometryNodeCurveToMesh"), tree.nodes.new("GeometryNodeCurvePrimitiveCircle")
    unscaled = tree.nodes.new("GeometryNodeSetCurveRadius")  # Blender 4.2 scales the profile by the strands' radius
    profile.inputs["Radius"].default_value, unscaled.inputs["Radius"].default_value = 0.06, 1.0
    profile.inputs["Resolution"].default_value = 6  # few triangles: the ray caster's time grows with them
    tree.links.new(tree.nodes.new("NodeGroupInput").outputs[0], unscaled.inputs["Curve"])
    tree.links.new(unscaled.outputs["Curve"], mesh.inputs["Curve"])
    tree.links.new(profile.outputs["Curve"], mesh.inputs["Profile Curve"])
    tree.links.new(mesh.outputs["Mesh"], tree.nodes.new("NodeGroupOutput").inputs[0])
    hair.modifiers.new("Tubes", "NODES").node_group = tree


def joined_with(obj, name: str, made) -> None:
    """Geometry nodes ``name`` after ``obj``'s own that join its geometry with the geometry ``made(tree)`` returns (a
    socket of the new group ``tree``)."""
    tree = scenes.geometry_node_group(name)
    joined = tree.nodes.new("GeometryNodeJoinGeometry")
    tree.links.new(tree.nodes.new("NodeGroupInput").outputs[0], joined.inputs[0])
    tree.links.new(made(tree), joined.inputs[0])
    tree.links.new(joined.outputs[0], tree.nodes.new("NodeGroupOutput").inputs[0])
    obj.modifiers.new(name, "NODES").node_group = tree


def rising_box(obj) -> None:
    """A box of 0.3 m (a mesh) joins ``obj``'s geometry at its origin, lifted by three times the time in seconds."""
    def box(tree):
        cube, speed = tree.nodes.new("GeometryNodeMeshCube"), tree.nodes.new("ShaderNodeValue")
        cube.inputs["Size"].default_value = (0.3, 0.3, 0.3)
        speed.outputs[0].default_value = 3.0
        return lifted(tree, cube.outputs["Mesh"], speed.outputs[0])
    joined_with(obj, "Box", box)


def rising_spheres(obj) -> None:
    """Three spheres of 0.15 m (a point cloud) join ``obj``'s geometry, in a row above it, each lifted by its index
    times the time in seconds."""
    def spheres(tree):
        nodes, links = tree.nodes, tree.links
        points, place, row = (nodes.new(kind) for kind in ("GeometryNodePoints", "ShaderNodeCombineXYZ",
                                                           "ShaderNodeMath"))
        points.inputs["Count"].default_value, points.inputs["Radius"].default_value = 3, 0.15
        row.operation = "MULTIPLY_ADD"
        index = nodes.new("GeometryNodeInputIndex").outputs[0]
        links.new(index, row.inputs[0])
        row.inputs[1].default_value, row.inputs[2].default_value = 0.6, -0.6
        links.new(row.outputs[0], place.inputs["X"])
        place.inputs["Z"].default_value = 1.4
        links.new(place.outputs[0], points.inputs["Position"])
        return lifted(tree, points.outputs[0], index)
    joined_with(obj, "Spheres", spheres)


@pytest.mark.parametrize("gap", [1, 3])
@pytest.mark.parametrize("beside", [None, "spheres", "box"])
def test_hair_strands_that_move_within_their_object_get_exact_flow_at_any_frame_gap(tmp_path, gap, beside):
    """Each pixel on a strand (its surface point from Cycles' depth) rides with its object and moves with its strand
    within it, as a mesh's surface point with its vertices: each strand lifted by its own height, the object and the
    camera moving; the strands and the object's matrices are Blender's own evaluation at both frames. ``beside``:
    the hair's geometry nodes add rising spheres after the strands (a point cloud), each pixel on them moving with its
    centre, or a rising box (a mesh), each pixel on it moving with it."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 120, 90
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    hair = add_hair(scene)
    point_nodes(hair, by_strand=True)
    {None: lambda obj: None, "spheres": rising_spheres, "box": rising_box}[beside](hair)
    scenes.keyframe_motion(hair, {1: ((0, 0, -0.6), (0, 0, 0)), 4: ((0.2, -0.3, -0.5), (0.1, 0.2, 0.3))})
    scenes.add_camera(scene, [((0.05 * frame, -7, 0.3), (np.pi / 2, 0, 0.01 * frame)) for frame in range(4)])
    out = tmp_path / "flow"
    camera, depth, points = baked_surface_points(scene, out, frame_gap=gap, scene_flow=True)
    (matrix, before), (matrix_after, after) = (strands(scene, hair, frame) for frame in (1, 1 + gap))
    local = (points - matrix[:3, 3]) @ np.linalg.inv(matrix[:3, :3]).T
    root, along = before[:, 0], before[:, 1] - before[:, 0]
    share = np.clip(((local[..., None, :] - root) * along).sum(-1) / (along * along).sum(-1), 0, 1)
    apart = np.linalg.norm(local[..., None, :] - root - share[..., None] * along, axis=-1)
    shift = (after - before)[apart.argmin(axis=-1), 0]
    if beside == "spheres":  # pixels nearer a sphere's surface than a strand's take its centre's motion
        (_, centres), (_, moved_centres) = (component_points(scene, hair, frame) for frame in (1, 1 + gap))
        from_centre = np.linalg.norm(local[..., None, :] - centres, axis=-1)
        on_sphere = from_centre.min(axis=-1) - 0.15 < apart.min(axis=-1) - 0.05
        assert on_sphere.sum() > 40
        shift = np.where(on_sphere[..., None], (moved_centres - centres)[from_centre.argmin(axis=-1)], shift)
    if beside == "box":  # pixels nearer the box's surface than a strand's take its motion
        (_, corners), (_, moved_corners) = (component_points(scene, hair, frame, "MESH") for frame in (1, 1 + gap))
        low, high = corners.min(axis=0), corners.max(axis=0)
        from_box = np.abs(np.abs(local - (low + high) / 2) - (high - low) / 2).min(axis=-1)  # on its faces: 0
        on_box = from_box < apart.min(axis=-1) - 0.05
        assert on_box.sum() > 40
        shift = np.where(on_box[..., None], moved_corners.min(axis=0) - low, shift)
    moved = (local + shift) @ matrix_after[:3, :3].T + matrix_after[:3, 3]
    rows, columns = np.indices(depth.shape)
    expected = project(camera, 1 + gap, moved) - np.stack([columns + 0.5, rows + 0.5], -1)
    flow, valid = (np.load(out / f"forward_flow{part}_0001.npy") for part in ("", "_valid"))
    inside = (depth < 9) & (np.abs(expected[..., 0] + columns + 0.5 - depth.shape[1] / 2) < depth.shape[1] / 2 - 1)
    inside &= np.abs(expected[..., 1] + rows + 0.5 - depth.shape[0] / 2) < depth.shape[0] / 2 - 1  # the wall: 12 m
    worst = float(np.abs(flow - expected)[inside].max())
    scene_flow = np.load(out / "forward_scene_flow_0001.npy")
    expected_m = triangle_ground_truth.camera_axes_motion(camera, 1, moved - points) * [1, -1, -1]  # the files' axes
    worst_m = float(np.abs(scene_flow - expected_m)[inside].max())
    print(f"{inside.sum()} pixels on strands (and {beside}): worst flow error {worst:.1e} px, scene flow "
          f"{worst_m:.1e} m")
    assert inside.sum() > 40 and valid[inside].all() and worst < 1e-3 and worst_m < 1e-4


@pytest.mark.parametrize("gap", [1, 3])
@pytest.mark.parametrize("instanced", [False, True])
def test_hair_that_its_geometry_nodes_make_into_tubes_gets_exact_flow(tmp_path, gap, instanced):
    """The tubes (a mesh) follow the strands they are made from, each strand lifted by its own height, while the hair
    object (or a collection instance showing it) and the camera move: flow, occlusion and scene flow against the ray
    caster on the evaluated tubes."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 96, 72
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    hair = add_hair(scene)
    point_nodes(hair, by_strand=True)
    tubes(hair)
    mover = collection_instance(scene, hair) if instanced else hair
    scenes.keyframe_motion(mover, {1: ((0, 0, -0.6), (0, 0, 0)), 4: ((0.2, -0.3, -0.5), (0.1, 0.2, 0.3))})
    scenes.add_camera(scene, [((0.05 * frame, -7, 0.3), (np.pi / 2, 0, 0.01 * frame)) for frame in range(5)])
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), frame_gap=gap, scene_flow=True) == {"FINISHED"}
    assert json.loads((out / "manifest.json").read_text())["unknown_objects"] == {}
    exact_against_ray_caster(out, scene, "tubes", (("forward_flow", 1, 1 + gap), ("backward_flow", 4, 4 - gap)),
                             mover.name, 50)


def exact_against_ray_caster(out: Path, scene, label: str, flows: tuple, owner: str, fewest: int) -> np.ndarray:
    """The bake in ``out`` against the ray caster, for each (flow, frame, partner frame) of ``flows``: flow and scene
    flow (``check_frame``), occlusion on 99.5 % of the valid pixels away from edges; and more than ``fewest`` pixels
    of ``owner`` at frame 1, valid away from its edges, which it returns."""
    triangles_at, camera = scenes.rendered_triangles(scene), scenes.scene_camera(scene)
    for name, frame, other in flows:
        (agree, judged, agree_away, away, _), error, scene_error = check_frame(out, triangles_at, camera, frame, name,
                                                                              other)
        print(f"{label}, {name} {frame} → {other}: worst flow error {error:.1e} px, scene flow {scene_error:.1e} m, "
              f"occlusion agrees on {agree}/{judged} valid pixels, {agree_away}/{away} away from edges")
        assert agree_away >= 0.995 * away
    _, index, _, _ = triangle_ground_truth.first_hits(*pixel_rays(camera, 1), triangles_at(1))
    shown = np.where(index >= 0, triangles_at.owners[1][np.maximum(index, 0)], "") == owner
    assert shown.sum() > fewest and np.load(out / "forward_flow_valid_0001.npy")[shown & ~edges(shown)].all()
    return shown


def test_hair_strands_that_move_within_their_object_get_cycles_motion(tmp_path):
    """Each point of each strand lifted its own way, a strand's two ends 0.04 m apart in a frame: a strand's surface
    point moves with the two points around it, in the share Cycles interpolates attributes between them (straight),
    and is known with scene flow too. Cycles' Vector pass shares it out a little differently along the strand: the
    flow is within 1e-2 px of the flow-only bake's (4.3e-3 px measured)."""
    scene = scenes.empty_scene()
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    hair = add_hair(scene)
    point_nodes(hair)
    scenes.add_camera(scene, [((0, -7, 0.3), (np.pi / 2, 0, 0))] * 2)
    out, vector_pass = tmp_path / "flow", tmp_path / "vector pass"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), render_depth=True, scene_flow=True) == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(vector_pass), occlusion=False) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vector_objects"] == {} and manifest["unknown_objects"] == {}
    for flow, frame in (("forward_flow", 1), ("backward_flow", 2)):
        shown = np.load(out / f"depth_{frame:04d}.npy") < 9  # the wall is 12 m away
        moved, valid = (np.load(out / f"{flow}{part}_{frame:04d}.npy") for part in ("", "_valid"))
        expected = np.load(vector_pass / f"{flow}_{frame:04d}.npy")
        assert shown.sum() > 20 and valid[shown].all() and np.abs(expected[shown]).max() > 0.1, flow
        assert np.abs(moved - expected)[shown].max() < 1e-2, flow


def takes_vector_pass(folder: Path, name: str, why: str, **settings) -> None:
    """Bake the scene three ways: the object ``name``'s pixels (those nearer than the wall 12 m away) take the flow of
    the flow-only bake (Cycles' Vector pass) in the default bake, valid and occluded, and are unknown with scene flow,
    ``why`` in the reason; ``settings`` for the default bake and the one with scene flow."""
    out, vector_pass, with_scene_flow = folder / "flow", folder / "vector pass", folder / "scene flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), render_depth=True, **settings) == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(vector_pass), occlusion=False) == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(with_scene_flow), scene_flow=True,
                                            **settings) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vector_objects"] == {name: [1, 2]} and manifest["unknown_objects"] == {}
    unknown = json.loads((with_scene_flow / "manifest.json").read_text())["unknown_objects"]
    assert why in unknown[name]
    for flow, frame in (("forward_flow", 1), ("backward_flow", 2)):
        shown = np.load(out / f"depth_{frame:04d}.npy") < 9
        moved, valid = (np.load(out / f"{flow}{part}_{frame:04d}.npy") for part in ("", "_valid"))
        expected = np.load(vector_pass / f"{flow}_{frame:04d}.npy")
        assert shown.sum() > 20 and valid[shown].all() and np.abs(expected[shown]).max() > 0.1, flow
        assert np.abs(moved - expected)[shown].max() < 1e-4, flow
        assert np.load(out / f"{flow}_occluded_{frame:04d}.npy")[shown].all(), flow
        assert not np.load(with_scene_flow / f"{flow}_valid_{frame:04d}.npy")[shown].any(), flow


def linked_asset(obj, library: Path) -> bpy.types.Collection:
    """``obj`` moved into a collection of its own in the ``library`` .blend, then linked back from there."""
    asset = scenes.own_collection(obj, "Asset")
    bpy.data.libraries.write(str(library), {asset}, fake_user=True)
    bpy.data.collections.remove(asset)
    bpy.data.objects.remove(obj)
    with bpy.data.libraries.load(str(library), link=True) as (_, linked):
        linked.collections = ["Asset"]
    return linked.collections[0]


def test_a_linked_objects_point_cloud_moving_within_it_takes_the_vector_pass_or_is_named_unknown(tmp_path):
    """An object linked from a library takes no modifier, so the points its own geometry nodes move carry no
    displacement: at a frame gap of 1 they take Cycles' Vector pass; with scene flow they are unknown and the object
    is named, never flow 0 marked valid."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 120, 90
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    sparks = scenes.add_plane(1.6)
    sparks.name = "Sparks"
    point_nodes(sparks)
    asset = linked_asset(sparks, tmp_path / "sparks.blend")
    scene.collection.children.link(asset)
    scenes.add_camera(scene, [((0, -7, 0.3), (np.pi / 2, 0, 0))] * 2)
    takes_vector_pass(tmp_path, asset.objects[0].name_full, "point cloud")


@pytest.mark.parametrize("instanced", [False, True], ids=["in the scene", "collection instance"])
def test_a_linked_object_whose_shape_key_changes_its_shape_takes_the_vector_pass_or_is_named_unknown(tmp_path,
                                                                                                   instanced):
    """A sphere squashed by a shape key, linked from a library with its animation, in the scene or shown by a
    collection instance: it takes no modifier, so its points carry no displacement: at a frame gap of 1 it takes
    Cycles' Vector pass; with scene flow it is unknown and named."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 120, 90
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    sphere = scenes.add_shape_key_sphere((0, 0, 0), (1, 2))
    sphere.name = "Squashed"
    asset = linked_asset(sphere, tmp_path / "squashed.blend")
    if instanced:
        scenes.instancer(scene, asset, "Asset instance")
    else:
        scene.collection.children.link(asset)
    scenes.add_camera(scene, [((0, -7, 0.3), (np.pi / 2, 0, 0))] * 2)
    takes_vector_pass(tmp_path, asset.objects[0].name_full, "its geometry changes")


@pytest.mark.parametrize("gap", [1, 3])
def test_a_crowd_of_a_deforming_object_that_geometry_nodes_instance_gets_exact_flow(tmp_path, gap):
    """A crowd: an armature-bent cylinder under a Subdivision Surface at level 0 in the viewport and 1 in the render
    (in a collection no scene shows) instanced by Object Info on a moving grid of six points. Each instance carries
    the displacements of the object it shows at the level the render shows, turned by its own matrix."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 80, 60
    scenes.add_plane(16, location=(0, 4, -1), rotation=(np.pi / 2, 0, 0))
    walker = scenes.add_bent_cylinder((0, 0, -1.5), (1, 4), rings=5)
    walker.scale = (0.5, 0.5, 0.5)
    subdivision = walker.modifiers.new("Subdivision", "SUBSURF")
    subdivision.levels, subdivision.render_levels = 0, 1
    scenes.own_collection(walker, "Sources")
    tree = scenes.geometry_node_group("Crowd")
    nodes, links = tree.nodes, tree.links
    grid, info, place = (nodes.new(kind) for kind in ("GeometryNodeMeshGrid", "GeometryNodeObjectInfo",
                                                      "GeometryNodeInstanceOnPoints"))
    grid.inputs["Size X"].default_value, grid.inputs["Size Y"].default_value = 5.0, 2.0
    grid.inputs["Vertices X"].default_value, grid.inputs["Vertices Y"].default_value = 3, 2
    info.inputs["Object"].default_value, info.inputs["As Instance"].default_value = walker, True
    links.new(grid.outputs["Mesh"], place.inputs["Points"])
    links.new(info.outputs["Geometry"], place.inputs["Instance"])
    links.new(place.outputs[0], nodes.new("NodeGroupOutput").inputs[0])
    crowd = scenes.add_plane(1)
    crowd.modifiers.new("Crowd", "NODES").node_group = tree
    scenes.keyframe_motion(crowd, {1: ((0, 0, 0), (np.pi / 2, 0, 0)), 4: ((0.4, -0.3, 0.2), (np.pi / 2, 0.2, 0.3))})
    scenes.add_camera(scene, [((0.3 * f, -12 + 0.3 * f, 0.2 * f), (np.pi / 2 - 0.02 * f, 0.01 * f, 0.02 * f))
                              for f in range(4)])
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), frame_gap=gap, scene_flow=True) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unknown_objects"] == {} and manifest["vector_objects"] == {}
    assert subdivision.levels == 0  # the viewport's level is back; the render's (1) is what was baked
    subdivision.levels = subdivision.render_levels  # the reference follows the render's geometry too
    flows = ("forward_flow", 1, 1 + gap), ("backward_flow", 4, 4 - gap)
    exact_against_ray_caster(out, scene, f"crowd, gap {gap}", flows, crowd.name, 100)


def changing_cubes(name: str, growing: bool = False) -> bpy.types.Object:
    """An object whose geometry nodes make a cube, lift each of its vertices its own way as the frames go and instance
    it on a row of three points (``growing``: a point more on each frame, from three at frame 1); each instance
    shaded its own way (Object Info's Random), in the scene's images."""
    tree = scenes.geometry_node_group(name)
    nodes, links = tree.nodes, tree.links
    grid, cube, shade, place = (nodes.new(kind) for kind in (
        "GeometryNodeMeshGrid", "GeometryNodeMeshCube", "GeometryNodeSetMaterial", "GeometryNodeInstanceOnPoints"))
    grid.inputs["Size X"].default_value, grid.inputs["Vertices X"].default_value = 3.0, 3
    if growing:
        count = nodes.new("ShaderNodeMath")
        count.inputs[1].default_value = 2
        links.new(nodes.new("GeometryNodeInputSceneTime").outputs["Frame"], count.inputs[0])
        links.new(count.outputs[0], grid.inputs["Vertices X"])
    grid.inputs["Vertices Y"].default_value = 1
    cube.inputs["Size"].default_value = (0.6, 0.6, 0.6)
    shade.inputs["Material"].default_value = material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    material.node_tree.links.new(material.node_tree.nodes.new("ShaderNodeObjectInfo").outputs["Random"],
                                 material.node_tree.nodes["Principled BSDF"].inputs["Base Color"])
    links.new(grid.outputs["Mesh"], place.inputs["Points"])
    links.new(lifted(tree, cube.outputs["Mesh"], nodes.new("GeometryNodeInputIndex").outputs[0]), shade.inputs[0])
    links.new(shade.outputs[0], place.inputs["Instance"])
    links.new(place.outputs[0], nodes.new("NodeGroupOutput").inputs[0])
    crowd = scenes.add_plane(1)
    crowd.name = name
    crowd.modifiers.new(name, "NODES").node_group = tree
    return crowd


@pytest.mark.parametrize("gap", [1, 3])
def test_meshes_that_geometry_nodes_make_and_instance_changing_shape_get_exact_flow(tmp_path, gap):
    """Cubes made by an object's geometry nodes, each vertex lifted its own way as the frames go, instanced on a
    moving row, the camera moving: no modifier reaches the instances' points, so the flow renders realize them from
    the first frame on which they change shape, and each point carries its motion. The scene's images still show the
    instances as made: each shaded its own way, as F12 renders them."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 80, 60
    scene.render.engine, scene.cycles.samples = "CYCLES", 1  # the images too: EEVEE here renders in software
    scenes.add_plane(16, location=(0, 4, -1), rotation=(np.pi / 2, 0, 0))
    bpy.ops.object.light_add(type="SUN", rotation=(1.2, 0, 0.3))
    crowd = changing_cubes("Crowd")
    scenes.keyframe_motion(crowd, {1: ((0, 0, 0), (np.pi / 2, 0, 0)), 4: ((0.4, -0.3, 0.2), (np.pi / 2, 0.2, 0.3))})
    scenes.add_camera(scene, [((0.3 * f, -8 + 0.3 * f, 0.2 * f), (np.pi / 2 - 0.02 * f, 0.01 * f, 0.02 * f))
                              for f in range(4)])
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), frame_gap=gap, scene_flow=True,
                                            render_images=gap == 1) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["realized_objects"] == {"Crowd": [1, 2, 3, 4] if gap == 1 else [1, 4]}  # 2, 3: no flow at K = 3
    assert manifest["unknown_objects"] == {} and manifest["vector_objects"] == {}
    assert [m.name for m in crowd.modifiers] == ["Crowd"]  # the bake's own modifier is gone again
    flows = ("forward_flow", 1, 1 + gap), ("backward_flow", 4, 4 - gap)
    shown = exact_against_ray_caster(out, scene, f"changing cubes, gap {gap}", flows, crowd.name, 100)
    if gap == 1:
        for frame in (1, 3):
            image = scenes.png_pixels(out / f"colors_{frame:04d}.png")
            np.testing.assert_array_equal(image, scenes.plain_render(scene, frame, tmp_path / f"{frame}.png"))
            assert len(np.unique(image[shown], axis=0)) > 3  # lit and shaded, not a flat picture


def test_a_linked_object_whose_shape_key_changes_its_shape_scattered_by_geometry_nodes_gets_exact_flow(tmp_path):
    """A sphere squashed by a shape key, under a Subdivision Surface at level 0 in the viewport and 1 in the render,
    linked from a library with its animation, scattered on a moving row of three points by a local object's geometry
    nodes (Object Info), the camera moving: the linked object takes no modifier, but the scatter's instances, realized
    in the flow renders, carry their points' motion, at the level the render shows."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 80, 60
    scenes.add_plane(16, location=(0, 4, -1), rotation=(np.pi / 2, 0, 0))
    sphere = scenes.add_shape_key_sphere((0, 0, 0), (1, 3))
    sphere.name = "Squashed"
    subdivision = sphere.modifiers.new("Subdivision", "SUBSURF")
    subdivision.levels, subdivision.render_levels = 0, 1
    squashed = linked_asset(sphere, tmp_path / "squashed.blend").objects[0]
    tree = scenes.geometry_node_group("Scatter")
    nodes, links = tree.nodes, tree.links
    row, info, place = (nodes.new(kind) for kind in ("GeometryNodeMeshGrid", "GeometryNodeObjectInfo",
                                                     "GeometryNodeInstanceOnPoints"))
    row.inputs["Size X"].default_value, row.inputs["Vertices X"].default_value = 5.0, 3
    row.inputs["Vertices Y"].default_value = 1
    info.inputs["Object"].default_value, info.inputs["As Instance"].default_value = squashed, True
    place.inputs["Scale"].default_value = (0.5, 0.5, 0.5)
    links.new(row.outputs["Mesh"], place.inputs["Points"])
    links.new(info.outputs["Geometry"], place.inputs["Instance"])
    links.new(place.outputs[0], nodes.new("NodeGroupOutput").inputs[0])
    scatter = scenes.add_plane(1)
    scatter.name = "Scatter"
    scatter.modifiers.new("Scatter", "NODES").node_group = tree
    scenes.keyframe_motion(scatter, {1: ((0, 0, 0), (np.pi / 2, 0, 0)), 3: ((0.3, -0.2, 0.2), (np.pi / 2, 0.1, 0.2))})
    scenes.add_camera(scene, [((0.2 * f, -9 + 0.3 * f, 0.1 * f), (np.pi / 2, 0.01 * f, 0.02 * f)) for f in range(3)])
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), scene_flow=True) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["realized_objects"] == {"Scatter": [1, 2, 3]}
    assert manifest["unknown_objects"] == {} and manifest["vector_objects"] == {}
    subdivision = squashed.modifiers["Subdivision"]
    assert subdivision.levels == 0  # the viewport's level is back; the render's (1) is what was baked
    subdivision.levels = subdivision.render_levels  # the reference follows the render's geometry too
    exact_against_ray_caster(out, scene, "linked scatter", (("forward_flow", 1, 2), ("backward_flow", 3, 2)),
                             scatter.name, 100)


def test_changing_meshes_that_geometry_nodes_instance_in_a_growing_number_stay_instances_at_the_vector_pass(tmp_path):
    """The lifted cubes on a row that gains a point every frame: realized, their topology would change between the
    frames, which leaves such geometry only its object's movement, less than Cycles' Vector pass has for the
    instances. So they stay instances: at a frame gap of 1 the cubes of both frames take the Vector pass's flow."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 120, 90
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    changing_cubes("Crowd", growing=True)
    scenes.add_camera(scene, [((0, -7, 0.3), (np.pi / 2, 0, 0))] * 2)
    out, vector_pass = tmp_path / "flow", tmp_path / "vector pass"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), render_depth=True) == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(vector_pass), occlusion=False) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["realized_objects"] == {} and manifest["transform_objects"] == {}
    assert manifest["vector_objects"] == {"Crowd": [1, 2]}
    shown = np.load(out / "depth_0001.npy") < 9  # the three cubes of frame 1, all in frame 2 too
    moved, valid = (np.load(out / f"forward_flow{part}_0001.npy") for part in ("", "_valid"))
    expected = np.load(vector_pass / "forward_flow_0001.npy")
    assert shown.sum() > 20 and valid[shown].all() and np.abs(expected[shown]).max() > 0.1
    assert np.abs(moved - expected)[shown].max() < 1e-4


def test_with_segmentation_changing_meshes_that_geometry_nodes_instance_take_the_vector_pass_or_are_named(tmp_path):
    """Segmentation tells each instance apart, so the bake does not realize instances whose geometry changes shape:
    at a frame gap of 1 they take Cycles' Vector pass, and with scene flow they are unknown, the object named, never
    moved with their instances alone and marked valid."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 120, 90
    scenes.add_plane(20, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    changing_cubes("Crowd")
    scenes.add_camera(scene, [((0, -7, 0.3), (np.pi / 2, 0, 0))] * 2)
    takes_vector_pass(tmp_path, "Crowd", "a mesh its geometry nodes make", segmentation=True)


def test_a_library_override_with_its_own_modifiers_and_animation_gets_exact_flow(tmp_path):
    """A collection linked from a library and overridden (fully editable, as artists animate a linked rig): its
    object keeps the library's Bevel modifier and moves by the override's own keyframes."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 80, 60
    scenes.add_plane(16, location=(0, 4, -1), rotation=(np.pi / 2, 0, 0))
    box = scenes.add_box((0, 0, 0), scale=(0.6, 0.6, 0.6))
    box.name = "Bevelled asset"
    box.modifiers.new("Bevel", "BEVEL").width = 0.25
    override = linked_asset(box, tmp_path / "asset.blend").override_hierarchy_create(scene, bpy.context.view_layer,
                                                                                    do_fully_editable=True)
    obj = override.objects[0]
    assert obj.override_library is not None and obj.data.library is not None
    scenes.keyframe_motion(obj, {1: ((-0.5, 0, 0), (0, 0, 0)), 3: ((0.6, -0.4, 0.3), (0.5, 0.3, 0.7))})
    scenes.add_camera(scene, [((0.1 * f, -8 + 0.2 * f, 0.1 * f), (np.pi / 2, 0, 0.02 * f)) for f in range(3)])
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), scene_flow=True) == {"FINISHED"}
    assert json.loads((out / "manifest.json").read_text())["unknown_objects"] == {}
    assert [m.name for m in obj.modifiers] == ["Bevel"]  # the bake's own modifier is gone again
    triangles_at, camera = scenes.rendered_triangles(scene), scenes.scene_camera(scene)
    for name, frame, other in (("forward_flow", 1, 2), ("backward_flow", 3, 2)):
        _, error, _ = check_frame(out, triangles_at, camera, frame, name, other)
        print(f"library override, {name} {frame} → {other}: worst flow error {error:.1e} px")
        assert error < 1e-3
    _, index, _, _ = triangle_ground_truth.first_hits(*pixel_rays(camera, 1), triangles_at(1))
    shown = np.where(index >= 0, triangles_at.owners[1][np.maximum(index, 0)], "") == obj.name
    assert shown.sum() > 50 and np.load(out / "forward_flow_valid_0001.npy")[shown & ~edges(shown)].all()


@pytest.mark.parametrize("made_by", ["particles", "vertices", "faces"])
def test_instances_on_particles_vertices_and_faces_follow_their_bending_moving_emitter(tmp_path, made_by):
    """Boxes instanced by a hair particle system (rendering an object, half of them shown in the viewport), on the
    vertices or on the faces of a grid that moves and bends (``scenes.emitter_scene``), the camera moving: each
    instance follows its own transform."""
    scene, emitter = scenes.emitter_scene(made_by)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), scene_flow=True) == {"FINISHED"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unknown_objects"] == {} and manifest["vector_objects"] == {}
    if made_by == "particles":
        settings = emitter.particle_systems[0].settings
        assert settings.display_percentage == 50  # the viewport's share is back
        settings.display_percentage = 100  # the reference follows what the render shows
    exact_against_ray_caster(out, scene, made_by, (("forward_flow", 1, 2), ("backward_flow", 3, 2)), emitter.name,
                             100)
