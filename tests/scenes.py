"""Small Blender scenes for render tests, and their description for the ground truth."""
from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Matrix

import optical_flow_addon
from ground_truth import Camera, Shape

WIDTH, HEIGHT = 64, 48


def see_through_material(name: str) -> bpy.types.Material:
    """A material with alpha 0: invisible in Cycles."""
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    material.node_tree.nodes["Principled BSDF"].inputs["Alpha"].default_value = 0.0
    return material


def empty_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if not hasattr(bpy.types.Scene, "optical_flow"):
        optical_flow_addon.register()
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    return scene


def add_camera(scene, poses: list[tuple], lens: float = 35.0, first_frame: int = 1) -> bpy.types.Object:
    """Keyframe a camera with (location, euler XYZ) poses, one per frame."""
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = lens
    scene.collection.objects.link(camera)
    scene.camera = camera
    for frame, (location, rotation) in enumerate(poses, start=first_frame):
        camera.location, camera.rotation_euler = location, rotation
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_start, scene.frame_end = first_frame, first_frame + len(poses) - 1
    return camera


def add_box(location, rotation=(0, 0, 0), scale=(1, 1, 1), keys: dict | None = None) -> bpy.types.Object:
    """A cube spanning [-1, 1]^3 in local space; ``keys`` maps frame -> (location, rotation)."""
    bpy.ops.mesh.primitive_cube_add(size=2, location=location, rotation=rotation, scale=scale)
    box = bpy.context.object
    for frame, (loc, rot) in (keys or {}).items():
        box.location, box.rotation_euler = loc, rot
        box.keyframe_insert("location", frame=frame)
        box.keyframe_insert("rotation_euler", frame=frame)
    return box


def add_plane(size, location=(0, 0, 0), rotation=(0, 0, 0)) -> bpy.types.Object:
    bpy.ops.mesh.primitive_plane_add(size=size, location=location, rotation=rotation)
    return bpy.context.object


def half_extent(obj) -> tuple[float, float, float]:
    """Local half size from the mesh itself: a cube gives (1, 1, 1), a plane (h, h, 0)."""
    coordinates = np.array([v.co for v in obj.data.vertices])
    return tuple(float(x) for x in np.abs(coordinates).max(axis=0))


def describe(scene, objects) -> tuple[list[Shape], Camera]:
    """Read each object's and the camera's world matrix at every frame of the range."""
    frames = range(scene.frame_start, scene.frame_end + 1)
    matrices = {obj.name: {} for obj in [*objects, scene.camera]}
    for frame in frames:
        scene.frame_set(frame)
        for obj in matrices:
            matrices[obj][frame] = np.array(bpy.data.objects[obj].matrix_world)
    shapes = [Shape(matrices[obj.name], half_extent(obj)) for obj in objects]
    camera = scene.camera
    return shapes, Camera.default_sensor(matrices[camera.name], camera.data.lens, WIDTH, HEIGHT)


def camera_motion_scene() -> tuple[bpy.types.Scene, list]:
    """Floor, a box and a tilted box; the camera translates and rotates every frame."""
    scene = empty_scene()
    objects = [add_plane(60), add_box((0, 0, 1)), add_box((2.5, 1.5, 0.8), (0.3, 0.2, 0.7), (0.6, 1.2, 0.8))]
    add_camera(scene, [
        ((0, -10, 4), (1.3, 0, 0)),
        ((0.4, -9.5, 4.2), (1.28, 0.02, 0.05)),
        ((1.2, -9.8, 3.8), (1.25, -0.03, 0.12)),
        ((1.5, -9.0, 4.5), (1.32, 0.0, 0.08)),
        ((0.8, -8.7, 4.1), (1.27, 0.05, -0.04)),
    ])
    return scene, objects


def moving_object_scene() -> tuple[bpy.types.Scene, list]:
    """A box that translates and spins in front of a still camera, background behind it."""
    scene = empty_scene()
    objects = [add_box((0, 0, 0), keys={
        1: ((0, 0, 0), (0.2, 0.1, 0)),
        2: ((0.6, 0.2, 0.3), (0.3, 0.25, 0.2)),
        3: ((1.0, -0.3, 0.5), (0.45, 0.3, 0.5)),
    })]
    add_camera(scene, [((0, -9, 0), (math.pi / 2, 0, 0))] * 3)
    return scene, objects


def world_triangles(scene, objects):
    """frame -> (T×3×3) world-space triangles of the objects' evaluated meshes (modifiers, shape keys, armatures)."""
    cache = {}

    def at(frame: int) -> np.ndarray:
        if frame not in cache:
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            cache[frame] = np.concatenate([triangles_in_world(obj.evaluated_get(depsgraph), obj.evaluated_get(
                depsgraph).matrix_world) for obj in objects])
        return cache[frame]

    return at


def triangles_in_world(evaluated, matrix_world) -> np.ndarray:
    """(T×3×3) world-space triangles of an evaluated object's mesh, as Blender triangulates it, placed by
    ``matrix_world`` (the object's, or one instance's)."""
    mesh = evaluated.to_mesh()
    mesh.calc_loop_triangles()
    corners = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", corners)
    indices = np.empty(len(mesh.loop_triangles) * 3, int)
    mesh.loop_triangles.foreach_get("vertices", indices)
    matrix = np.array(matrix_world)
    local = corners.reshape(-1, 3)[indices].reshape(-1, 3, 3)
    evaluated.to_mesh_clear()
    return local @ matrix[:3, :3].T + matrix[:3, 3]


def scene_camera(scene) -> Camera:
    frames = range(scene.frame_start, scene.frame_end + 1)
    matrices = {}
    for frame in frames:
        scene.frame_set(frame)
        matrices[frame] = np.array(scene.camera.matrix_world)
    return Camera.default_sensor(matrices, scene.camera.data.lens, scene.render.resolution_x, scene.render.resolution_y)


def add_shape_key_sphere(location, frames: tuple[int, int]) -> bpy.types.Object:
    """A UV sphere squashed by a shape key animated from 0 at the first frame to 1 at the second."""
    bpy.ops.mesh.primitive_uv_sphere_add(segments=16, ring_count=8, radius=1.2, location=location)
    sphere = bpy.context.object
    sphere.shape_key_add(name="Basis")
    squash = sphere.shape_key_add(name="Squash")
    for point in squash.data:
        point.co.x *= 1.6
        point.co.z *= 0.5
    key = sphere.data.shape_keys.key_blocks["Squash"]
    for frame, value in zip(frames, (0.0, 1.0)):
        key.value = value
        key.keyframe_insert("value", frame=frame)
    return sphere


def add_bent_cylinder(location, frames: tuple[int, int], rings: int = 9) -> bpy.types.Object:
    """A cylinder along z, weighted to two bones; the upper bone bends 60° between the two frames."""
    height, radius, segments = 3.0, 0.4, 12
    angles = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    heights = np.linspace(0, height, rings)
    vertices = [(radius * np.cos(a), radius * np.sin(a), z) for z in heights for a in angles]
    faces = [(r * segments + s, r * segments + (s + 1) % segments, (r + 1) * segments + (s + 1) % segments,
              (r + 1) * segments + s) for r in range(rings - 1) for s in range(segments)]
    mesh = bpy.data.meshes.new("Cylinder")
    mesh.from_pydata(vertices, [], faces)
    cylinder = bpy.data.objects.new("Cylinder", mesh)
    bpy.context.scene.collection.objects.link(cylinder)
    armature = bpy.data.objects.new("Armature", bpy.data.armatures.new("Armature"))
    bpy.context.scene.collection.objects.link(armature)
    armature.location = cylinder.location = location
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    lower = armature.data.edit_bones.new("Lower")
    lower.head, lower.tail = (0, 0, 0), (0, 0, height / 2)
    upper = armature.data.edit_bones.new("Upper")
    upper.head, upper.tail, upper.parent = (0, 0, height / 2), (0, 0, height), lower
    bpy.ops.object.mode_set(mode="OBJECT")
    for name in ("Lower", "Upper"):
        group = cylinder.vertex_groups.new(name=name)
        for index, (_, _, z) in enumerate(vertices):
            weight = float(np.clip((z - height / 2) / (height / 4) + 0.5, 0, 1))
            group.add([index], weight if name == "Upper" else 1 - weight, "REPLACE")
    modifier = cylinder.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    bone = armature.pose.bones["Upper"]
    bone.rotation_mode = "XYZ"
    for frame, angle in zip(frames, (0.0, np.radians(60))):
        bone.rotation_euler = (0, angle, 0)
        bone.keyframe_insert("rotation_euler", frame=frame)
    return cylinder


def deforming_scene(frames: int = 4) -> tuple[bpy.types.Scene, list]:
    """A still camera; a rigid box, a shape-key sphere and an armature-bent cylinder move in front of a
    wall that leaves open sky at the top."""
    scene = empty_scene()
    wall = add_plane(12, location=(0, 4, -3), rotation=(math.pi / 2, 0, 0))
    box = add_box((-2.5, 0, -0.5), scale=(0.6, 0.6, 0.6), keys={1: ((-2.5, 0, -0.5), (0, 0, 0)),
                                                                 frames: ((-1.5, -0.5, 0.2), (0.3, 0.5, 0.2))})
    sphere = add_shape_key_sphere((0.2, 0.5, 0.6), (1, frames))
    cylinder = add_bent_cylinder((2.2, 0, -1.5), (1, frames))
    add_camera(scene, [((0, -9, 0.5), (math.pi / 2, 0, 0))] * frames)
    return scene, [wall, box, sphere, cylinder]


def occlusion_scene(frames: int = 6) -> tuple[bpy.types.Scene, list]:
    """The camera translates and rotates; a rigid box passes in front of a shape-key sphere and an
    armature-bent cylinder, which deform in front of a wall that leaves open sky at the top."""
    scene = empty_scene()
    # Twice the other scenes' size: occlusion is decided between pixel centres, so a pixel along an
    # occluding edge may take either label; at 64×48 these pixels are a large share of the image.
    scene.render.resolution_x, scene.render.resolution_y = 2 * WIDTH, 2 * HEIGHT
    wall = add_plane(14, location=(0, 4, -3.5), rotation=(math.pi / 2, 0, 0))
    box = add_box((-4, -2, 0), scale=(0.7, 0.7, 0.7), keys={1: ((-4, -2, 0.2), (0, 0, 0)),
                                                               frames: ((3.5, -2.5, -0.3), (0.4, 0.9, 0.3))})
    sphere = add_shape_key_sphere((0.2, 0.5, 0.6), (1, frames))
    cylinder = add_bent_cylinder((2.2, 0, -1.5), (1, frames))
    add_camera(scene, [((0.3 * math.sin(f), -9 + 0.15 * f, 0.5 + 0.1 * f), (math.pi / 2 - 0.02 * f, 0.01 * f, 0.03 * f))
                       for f in range(frames)])
    return scene, [wall, box, sphere, cylinder]


def png_pixels(path) -> np.ndarray:
    """A PNG read by Blender's own image loader (not the add-on's), as 8-bit values, top row first."""
    image = bpy.data.images.load(str(path))
    values = np.empty(image.size[0] * image.size[1] * image.channels, np.float32)
    image.pixels.foreach_get(values)
    array = np.round(values.reshape(image.size[1], image.size[0], image.channels)[::-1] * 255).astype(np.uint8)
    channels = 4 if image.depth == 32 else 3  # Blender loads RGB as RGBA; its depth says what the file holds
    bpy.data.images.remove(image)
    return array[..., :channels]


def plain_render(scene, frame: int, path) -> np.ndarray:
    """What F12 and Image › Save As give for the frame, with the scene's settings."""
    scene.frame_set(frame)
    bpy.ops.render.render()
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_depth = "8"
    scene.render.image_settings.color_mode = "RGBA" if scene.render.film_transparent else "RGB"
    bpy.data.images["Render Result"].save_render(str(path), scene=scene)
    return png_pixels(path)


def corner_normals_in_world(evaluated, matrix_world) -> np.ndarray:
    """(T×3×3) the shading normals at the corners of an evaluated object's triangles: Blender's corner normals
    (smooth or custom) on smooth faces, the triangle's own normal on flat ones (a bent quad's two triangles differ
    from the quad's normal, and Cycles shades each by its own); turned by the normal matrix (the inverse transpose)
    into world axes and not normalised again, so that normalising their barycentric mix gives what interpolating in
    the object's axes and turning after gives."""
    mesh = evaluated.to_mesh()
    mesh.calc_loop_triangles()
    count = len(mesh.loop_triangles)
    normals, corners = np.empty(count * 9), np.empty(len(mesh.vertices) * 3)
    indices, faces = np.empty(count * 3, int), np.empty(count, int)
    smooth = np.empty(len(mesh.polygons), bool)
    mesh.loop_triangles.foreach_get("split_normals", normals)
    mesh.loop_triangles.foreach_get("vertices", indices)
    mesh.loop_triangles.foreach_get("polygon_index", faces)
    mesh.polygons.foreach_get("use_smooth", smooth)
    mesh.vertices.foreach_get("co", corners)
    evaluated.to_mesh_clear()
    a, b, c = np.moveaxis(corners.reshape(-1, 3)[indices].reshape(-1, 3, 3), 1, 0)
    own = np.repeat(np.cross(b - a, c - a)[:, None], 3, axis=1)
    normals = np.where(smooth[faces][:, None, None], normals.reshape(-1, 3, 3), own)
    return normals @ np.linalg.inv(np.array(matrix_world)[:3, :3])


def rendered_triangles(scene):
    """frame -> (T×3×3) world-space triangles of everything Cycles renders as triangles: every object and every
    instance of the depsgraph, each evaluated mesh as Blender triangulates it, in one fixed order. ``at.owners``:
    frame -> the name of the object each triangle belongs to (the instancer, for instances); ``at.instances``: frame
    -> the rendered instance each triangle belongs to (a number per frame); ``at.normals``: frame -> each triangle's
    corner normals in world axes (``corner_normals_in_world``)."""
    cache, owners, instances, normals = {}, {}, {}, {}

    def at(frame: int) -> np.ndarray:
        if frame not in cache:
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            parts = {}
            for instance in depsgraph.object_instances:
                obj = instance.object
                if obj.type not in {"MESH", "CURVE", "FONT", "SURFACE", "META"} or obj.original.hide_render:
                    continue
                parent = obj.original.parent  # Cycles shows a vertex or face instancer's children only as instances
                if not instance.is_instance and parent and parent.instance_type in {"VERTS", "FACES"}:
                    continue
                key = (instance.parent.original.name if instance.is_instance else "", obj.original.name,
                       tuple(instance.persistent_id) if instance.is_instance else ())
                parts[key] = (triangles_in_world(obj, instance.matrix_world),
                              corner_normals_in_world(obj, instance.matrix_world))
            keys = sorted(parts)
            cache[frame] = np.concatenate([parts[key][0] for key in keys])
            normals[frame] = np.concatenate([parts[key][1] for key in keys])
            owners[frame] = np.concatenate([[key[0] or key[1]] * len(parts[key][0]) for key in keys])
            instances[frame] = np.concatenate([[number] * len(parts[key][0]) for number, key in enumerate(keys)])
        return cache[frame]

    at.owners, at.instances, at.normals = owners, instances, normals
    return at


def own_collection(obj, name: str) -> bpy.types.Collection:
    """``obj`` moved out of its collections into a new collection ``name``, which no scene shows until linked to one."""
    collection = bpy.data.collections.new(name)
    for owner in obj.users_collection:
        owner.objects.unlink(obj)
    collection.objects.link(obj)
    return collection


def instancer(scene, collection, name: str) -> bpy.types.Object:
    """An empty in ``scene`` that instances ``collection``."""
    empty = bpy.data.objects.new(name, None)
    empty.instance_type, empty.instance_collection = "COLLECTION", collection
    scene.collection.objects.link(empty)
    return empty


def keyframe_motion(obj, keys: dict) -> None:
    """``keys``: frame -> (location, euler XYZ)."""
    for frame, (location, rotation) in keys.items():
        obj.location, obj.rotation_euler = location, rotation
        obj.keyframe_insert("location", frame=frame)
        obj.keyframe_insert("rotation_euler", frame=frame)


def linked_mesh(folder) -> bpy.types.Mesh:
    """A cube mesh written to a library .blend in ``folder`` and linked back (not editable here)."""
    mesh = bpy.data.meshes.new("Library cube")
    mesh.from_pydata([(x, y, z) for x in (-0.4, 0.4) for y in (-0.4, 0.4) for z in (-0.4, 0.4)], [],
                     [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    path = str(folder / "library.blend")
    bpy.data.libraries.write(path, {mesh}, fake_user=True)
    bpy.data.meshes.remove(mesh)
    with bpy.data.libraries.load(path, link=True) as (_, linked):
        linked.meshes = ["Library cube"]
    return linked.meshes[0]


def geometry_node_group(name: str) -> bpy.types.NodeTree:
    """A new geometry-nodes group with one geometry input and one geometry output (Blender 4.0's interface)."""
    tree = bpy.data.node_groups.new(name, "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    return tree


def scatter_node_group() -> bpy.types.NodeTree:
    """Ico spheres instanced on a 3×2 grid, each turning about its own centre as the frames go by."""
    tree = geometry_node_group("Scatter")
    nodes, links = tree.nodes, tree.links
    grid = nodes.new("GeometryNodeMeshGrid")
    grid.inputs["Size X"].default_value, grid.inputs["Size Y"].default_value = 2.4, 1.2
    grid.inputs["Vertices X"].default_value, grid.inputs["Vertices Y"].default_value = 3, 2
    ball = nodes.new("GeometryNodeMeshIcoSphere")
    ball.inputs["Radius"].default_value, ball.inputs["Subdivisions"].default_value = 0.35, 1
    place = nodes.new("GeometryNodeInstanceOnPoints")
    links.new(grid.outputs["Mesh"], place.inputs["Points"])
    links.new(ball.outputs["Mesh"], place.inputs["Instance"])
    turn = nodes.new("GeometryNodeRotateInstances")
    angle = nodes.new("ShaderNodeCombineXYZ")
    time = nodes.new("GeometryNodeInputSceneTime")
    scale = nodes.new("ShaderNodeMath")
    scale.operation, scale.inputs[1].default_value = "MULTIPLY", 0.3
    links.new(time.outputs["Frame"], scale.inputs[0])
    links.new(scale.outputs[0], angle.inputs["X"])
    links.new(scale.outputs[0], angle.inputs["Z"])
    links.new(place.outputs[0], turn.inputs["Instances"])
    links.new(angle.outputs[0], turn.inputs["Rotation"])
    links.new(turn.outputs[0], nodes.new("NodeGroupOutput").inputs[0])
    return tree


def every_kind_scene(folder, frames: int = 4) -> tuple[bpy.types.Scene, dict]:
    """What artists' scenes are made of, in front of a wall, the camera moving: an armature-bent cylinder under a
    Subdivision Surface shown at level 0 in the viewport and 1 in the render, a mirrored box, an array, a bevelled
    box, a mesh shared by two objects, a solidified plane, a collection instanced twice (one instance moving),
    turning geometry-nodes instances on a moving grid, a linked library mesh, text, a bevelled curve and a NURBS
    surface."""
    scene = empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 80, 60
    span = {1: 0, frames: 1}

    def moving(obj, start, shift, turn=(0.0, 0.0, 0.0)):
        keyframe_motion(obj, {frame: (tuple(s + t * d for s, d in zip(start, shift)),
                                      tuple(t * r for r in turn)) for frame, t in span.items()})
        return obj

    kinds = {"Wall": add_plane(16, location=(0, 4, -1), rotation=(math.pi / 2, 0, 0))}
    character = add_bent_cylinder((-4.2, 0, -2.2), (1, frames), rings=5)
    subdivision = character.modifiers.new("Subdivision", "SUBSURF")
    subdivision.levels, subdivision.render_levels = 0, 1
    kinds["Character"] = character
    kinds["Mirrored"] = moving(add_box((0, 0, 0), scale=(0.3, 0.3, 0.3)), (-2.2, 0, 1.6), (0.5, -0.4, 0.2),
                               (0.4, 0.3, 0))
    kinds["Mirrored"].modifiers.new("Mirror", "MIRROR").use_axis = (True, False, False)
    kinds["Mirrored"].data.transform(Matrix.Translation((1.5, 0, 0)))  # the mirror image is another box
    kinds["Fence"] = add_box((1.6, 1.5, -2.4), scale=(0.25, 0.25, 0.5))
    kinds["Fence"].modifiers.new("Array", "ARRAY").count = 4
    shared = bpy.data.objects.new("Shared", kinds["Fence"].data)  # the fence's mesh, without its modifier
    scene.collection.objects.link(shared)
    kinds["Shared"] = moving(shared, (-0.4, -2.5, 2.2), (0.3, 0.2, -0.2), (0.5, 0.5, 0.5))
    kinds["Bevelled"] = moving(add_box((0, 0, 0), scale=(0.45, 0.45, 0.45)), (0.2, -1, 1.8), (0.4, 0.3, -0.3),
                               (0.2, 0.6, 0.1))
    kinds["Bevelled"].modifiers.new("Bevel", "BEVEL").width = 0.25
    kinds["Shell"] = moving(add_plane(1.2), (3.8, 0, 1.6), (0, 0, 0), (0.9, 0.3, 0))
    kinds["Shell"].modifiers.new("Solidify", "SOLIDIFY").thickness = 0.3
    props = bpy.data.collections.new("Props")  # in no scene: only its instances render
    prop = bpy.data.objects.new("Prop", bpy.data.meshes.new("Prop"))
    props.objects.link(prop)
    prop.data.from_pydata([(x, y, z) for x in (-0.35, 0.35) for y in (-0.35, 0.35) for z in (-0.35, 0.35)], [],
                          [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    for name, start, shift in (("Prop still", (-1.0, -1.0, -0.6), (0, 0, 0)),
                               ("Prop moving", (0.2, -1.5, -0.9), (0.8, 0.5, 0.4))):
        kinds[name] = moving(instancer(scene, props, name), start, shift,
                             (0.3, 0.8, 0.2) if "moving" in name else (0, 0, 0))
    scatter = add_plane(1, location=(2.6, -0.5, -0.4))
    scatter.modifiers.new("Scatter", "NODES").node_group = scatter_node_group()
    kinds["Scatter"] = moving(scatter, (2.6, -0.5, -0.4), (-0.3, 0, 0.3), (0, 0.2, 0))
    library = bpy.data.objects.new("Linked", linked_mesh(folder))
    scene.collection.objects.link(library)
    kinds["Linked"] = moving(library, (-3.4, -0.5, 2.4), (0.6, 0, -0.3), (0.5, 0.2, 0.3))
    text = bpy.data.objects.new("Text", bpy.data.curves.new("Text", "FONT"))
    text.data.body, text.data.extrude, text.data.size = "Hi", 0.1, 1.3
    scene.collection.objects.link(text)
    kinds["Text"] = moving(text, (-1.2, -0.8, -2.6), (0.3, 0, 0.4), (1.4, 0, 0.2))
    bpy.ops.curve.primitive_bezier_circle_add(radius=0.6, location=(0.9, 0.5, 0.2))
    curve = bpy.context.object
    curve.data.bevel_depth, curve.data.resolution_u, curve.data.bevel_resolution = 0.12, 4, 1
    kinds["Curve"] = moving(curve, (0.9, 0.5, 0.2), (0, 0, -0.3), (1.2, 0.4, 0))
    bpy.ops.surface.primitive_nurbs_surface_sphere_add(radius=0.6, location=(3.6, -0.5, -2.2))
    surface = bpy.context.object
    surface.data.resolution_u = surface.data.resolution_v = 2
    kinds["Surface"] = moving(surface, (3.6, -0.5, -2.2), (-0.5, 0, 0.3), (0.3, 0, 0.5))
    add_camera(scene, [((0.4 * f, -13 + 0.4 * f, 0.3 * f), (math.pi / 2 - 0.02 * f, 0.01 * f, 0.02 * f))
                       for f in range(frames)])
    return scene, kinds


def emitter_scene(made_by: str, size: float = 0.15) -> tuple[bpy.types.Scene, bpy.types.Object]:
    """Boxes of half-side ``size`` instanced on a 4×4 grid that moves and bends (a shape key) over frames 1–3, before a
    wall, the camera moving (80×60): by a hair particle system rendering an object (``made_by`` "particles": 12, half
    of them shown in the viewport), on the grid's "vertices" or on its "faces" (the box then a child of the grid)."""
    scene = empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = 80, 60
    add_plane(16, location=(0, 4, -1), rotation=(math.pi / 2, 0, 0))
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=3, y_subdivisions=3, size=3)
    emitter = bpy.context.object
    emitter.name = "Emitter"
    emitter.shape_key_add(name="Basis")
    bend = emitter.shape_key_add(name="Bend")
    for point in bend.data:
        point.co.z += 0.4 * point.co.x ** 2
    for frame, value in ((1, 0.0), (3, 1.0)):
        bend.value = value
        bend.keyframe_insert("value", frame=frame)
    keyframe_motion(emitter, {1: ((0, 0, 0), (1.3, 0, 0)), 3: ((0.3, -0.2, 0.2), (1.4, 0.1, 0.2))})
    box = add_box((0, 0, 0), scale=(size, size, size))
    if made_by == "particles":
        own_collection(box, "Sources")
        emitter.modifiers.new("Scatter", "PARTICLE_SYSTEM")
        settings = emitter.particle_systems[0].settings
        settings.type, settings.count, settings.hair_length = "HAIR", 12, 0.3
        settings.render_type, settings.instance_object, settings.particle_size = "OBJECT", box, 1.0
        settings.display_percentage = 50
    else:
        emitter.instance_type = "VERTS" if made_by == "vertices" else "FACES"
        emitter.show_instancer_for_render = emitter.show_instancer_for_viewport = True
        box.parent = emitter
    add_camera(scene, [((0.2 * f, -9 + 0.3 * f, 0.1 * f), (math.pi / 2, 0.01 * f, 0.02 * f)) for f in range(3)])
    return scene, emitter


def growing_grid_scene(frames: int) -> bpy.types.Scene:
    """A grid named Grid that gains a column of vertices every frame (``growing_grid_node_group``) in front of a wall,
    the camera sliding along it: a frame gap of 1 moves the grid with its object alone (``transform_objects``)."""
    scene = empty_scene()
    add_plane(20, location=(0, 5, 0), rotation=(math.pi / 2, 0, 0))
    grid = add_plane(1, rotation=(math.pi / 2, 0, 0))
    grid.name = "Grid"
    grid.modifiers.new("Grow", "NODES").node_group = growing_grid_node_group(None)
    add_camera(scene, [((0.1 * f, -7, 0), (math.pi / 2, 0, 0)) for f in range(frames)])
    return scene


def growing_grid_node_group(velocity: tuple[float, float, float] | None) -> bpy.types.NodeTree:
    """A 2 m grid that gains a column of vertices every frame (its topology changes) and slides at ``velocity`` (m/s);
    with a velocity, its points carry it as their ``velocity`` attribute, as fluid meshes do."""
    tree = geometry_node_group("Growing grid")
    nodes, links = tree.nodes, tree.links
    time = nodes.new("GeometryNodeInputSceneTime")
    columns = nodes.new("ShaderNodeMath")
    columns.operation, columns.inputs[1].default_value = "ADD", 2
    links.new(time.outputs["Frame"], columns.inputs[0])
    grid = nodes.new("GeometryNodeMeshGrid")
    grid.inputs["Size X"].default_value = grid.inputs["Size Y"].default_value = 2.0
    links.new(columns.outputs[0], grid.inputs["Vertices X"])
    slide = nodes.new("GeometryNodeSetPosition")
    offset = nodes.new("ShaderNodeVectorMath")
    offset.operation, offset.inputs[1].default_value = "SCALE", velocity or (0.2, 0.0, 0.1)
    links.new(time.outputs["Seconds"], offset.inputs["Scale"])
    offset.inputs[0].default_value = velocity or (0.2, 0.0, 0.1)
    links.new(grid.outputs["Mesh"], slide.inputs["Geometry"])
    links.new(offset.outputs["Vector"], slide.inputs["Offset"])
    geometry = slide.outputs[0]
    if velocity:
        carried = nodes.new("GeometryNodeStoreNamedAttribute")
        carried.data_type, carried.domain = "FLOAT_VECTOR", "POINT"
        carried.inputs["Name"].default_value = "velocity"
        carried.inputs["Value"].default_value = velocity
        links.new(geometry, carried.inputs["Geometry"])
        geometry = carried.outputs[0]
    links.new(geometry, nodes.new("NodeGroupOutput").inputs[0])
    return tree
