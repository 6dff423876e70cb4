"""Each rendered surface point's motion to frame t+K and t−K, as attributes of the geometry Cycles renders, which
the material override sends to render passes (AOVs). Cycles interpolates them at the surface point under each pixel
centre exactly as it interpolates the point itself, so the writer gets every pixel's 3-D motion.

A geometry-nodes modifier appended to the end of every rendered object's stack (mesh, curve, text, hair, point cloud)
stores the object's number on the geometry it evaluates to, whatever made it: modifiers, shape keys, bevels,
instances. Where an object's geometry can deform, the modifier also takes each evaluated vertex's displacement to the
other frames from a helper point cloud that the bake fills before each frame (evaluated vertex i at frame t to
evaluated vertex i at t±K: exact wherever the evaluated topology stays the same; where it changes, a frame gap of 1
takes the points' ``velocity`` attribute, as Cycles' motion blur does). Instances carry the number of the
geometry they show; the rendered instance location tells them apart.

For segmentation, every instance the sequence renders is numbered before the first render (the same numbers in
every chunk); for normals, the override sends the Geometry node's normal to a pass as well.

The modifiers, helpers and passes live only during the bake: they are removed again afterwards, also after an error
or a cancel. Objects whose motion cannot be followed are named in ``unknown``; their pixels read as unknown
(invalid), never as still.

Longer than the other Blender modules because the modifier's node group, the material's AOVs and the per-frame
bookkeeping of instances and shapes must agree with each other exactly; split, each part would only be read with
the others.
"""
from __future__ import annotations

from collections.abc import Iterator

import bpy
import numpy as np

from ..core.errors import FlowError
from ..core.options import BakeOptions
from ..core.products import FLOW_STEPS
from ..core.surface_motion import LOCATION_PASS, MOST_INSTANCES, MOTION_PASSES, NORMAL_PASS, OBJECT_PASS, UNKNOWN
from .settings_guard import SettingsGuard

# Attributes, named for the passes they feed.
ATTRIBUTES = {name: f"optical_flow_{aov}" for name, aov in MOTION_PASSES.items()}
OBJECT_ATTRIBUTE = f"optical_flow_{OBJECT_PASS}"
MODIFIER = "Optical Flow Motion"
RENDERED_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME"}
TAKES_MODIFIER = {"MESH", "CURVE", "FONT", "CURVES", "POINTCLOUD"}  # those a geometry-nodes modifier can follow
STRANDS_AND_SPHERES = {"CURVES", "POINTCLOUD"}  # Cycles draws strands and spheres around these points
UNUSED_LEVEL = 2**31 - 1  # a persistent ID's entry for a level its instance does not have
# The geometry components whose points a helper holds, in its order: the node group's socket and the object type.
COMPONENTS = (("Mesh", "MESH"), ("Curve", "CURVES"), ("Point Cloud", "POINTCLOUD"))
HELD = {kind for _, kind in COMPONENTS}
# A helper's attribute (on every point): where its curve points and its point cloud's start among its points. The
# geometry may have components the helper does not hold (curves that geometry nodes make on a mesh object, which
# Cycles does not render), so the helper says where its parts start, not the geometry's sizes.
STARTS_ATTRIBUTE = "optical_flow_starts"
# How many children per particle the viewport shows ("child_nbr" before Blender 4.0).
CHILDREN_SHOWN = "child_percent" if "child_percent" in bpy.types.ParticleSettings.bl_rna.properties else "child_nbr"
# Per modifier type, the setting the viewport evaluates and the one the render uses.
RENDER_LEVELS = {"SUBSURF": ("levels", "render_levels"), "MULTIRES": ("levels", "render_levels")}


def motion_material(locations: bool, normal: str | None) -> bpy.types.Material:
    """The override: a black diffuse surface (Cycles drops a black closure, so it runs no lighting and
    casts no shadow rays) and Attribute → AOV Output for each motion pass and the object pass, with
    ``locations`` Object Info's Location → the location pass, and with ``normal`` that output of the Geometry node
    (``Normal``: the interpolated shading normal; ``True Normal``: the triangle's own) → the normal pass.
    A surface socket left empty would make Cycles treat the object as see-through once the
    attribute nodes are there: the Depth pass then showed no surface at all."""
    material = bpy.data.materials.new("Optical Flow Motion")
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    for node in list(nodes):
        if node.type != "OUTPUT_MATERIAL":
            nodes.remove(node)
    output = next(node for node in nodes if node.type == "OUTPUT_MATERIAL")
    surface = nodes.new("ShaderNodeBsdfDiffuse")
    surface.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
    links.new(surface.outputs[0], output.inputs["Surface"])
    sources = [(ATTRIBUTES[name], aov, "Color") for name, aov in MOTION_PASSES.items()]
    for attribute_name, aov_name, socket in sources + [(OBJECT_ATTRIBUTE, OBJECT_PASS, "Fac")]:
        attribute = nodes.new("ShaderNodeAttribute")
        attribute.attribute_name = attribute_name
        link_aov(material, attribute.outputs[socket], aov_name)
    if locations:
        link_aov(material, nodes.new("ShaderNodeObjectInfo").outputs["Location"], LOCATION_PASS)
    if normal:
        link_aov(material, nodes.new("ShaderNodeNewGeometry").outputs[normal], NORMAL_PASS)
    return material


def link_aov(material: bpy.types.Material, socket: bpy.types.NodeSocket, name: str) -> None:
    aov = material.node_tree.nodes.new("ShaderNodeOutputAOV")
    setattr(aov, "aov_name" if hasattr(aov, "aov_name") else "name", name)  # "name" before Blender 4.0
    material.node_tree.links.new(socket, aov.inputs["Value" if socket.type == "VALUE" else "Color"])


def add_motion_passes(view_layer: bpy.types.ViewLayer, guard: SettingsGuard, locations: bool, normals: bool) -> None:
    """The view layer's AOVs for the motion passes (and the location and normal passes), removed again afterwards."""
    taken = {aov.name for aov in view_layer.aovs}
    wanted = [(aov, "COLOR") for aov in MOTION_PASSES.values()] + [(OBJECT_PASS, "VALUE")]
    wanted += [(name, "COLOR") for name, on in ((LOCATION_PASS, locations), (NORMAL_PASS, normals)) if on]
    for name, kind in wanted:
        if name in taken:
            raise FlowError(f"View layer {view_layer.name} already has a shader AOV named {name}; rename or remove it.")
        aov = view_layer.aovs.add()
        aov.name, aov.type = name, kind
        guard.on_restore(lambda name=name: remove_aov(view_layer, name))


def remove_aov(view_layer: bpy.types.ViewLayer, name: str) -> None:
    if hasattr(view_layer.aovs, "remove"):
        view_layer.aovs.remove(view_layer.aovs[name])
        return
    # Blender 3.x: only an operator removes an AOV, the layer's active one.
    view_layer.active_aov_index = list(view_layer.aovs).index(view_layer.aovs[name])
    with bpy.context.temp_override(scene=view_layer.id_data, view_layer=view_layer):
        bpy.ops.scene.view_layer_remove_aov()


GROUP_SOCKETS = (("Geometry", "Geometry", "INPUT"), ("Geometry", "Geometry", "OUTPUT"), ("Number", "Float", "INPUT"),
                 ("Helper", "Object", "INPUT"), ("Deforms", "Bool", "INPUT"), ("Realize", "Bool", "INPUT"))


def motion_node_group() -> bpy.types.NodeTree:
    """Geometry → the same geometry with the object number on every point (instances' geometry included) and, on its
    own mesh, hair and point cloud when it deforms, each point's displacement per flow, sampled from the helper's
    points by index (in the order of COMPONENTS, from where the helper says each part starts: a strand's surface moves
    with its curve and a sphere's with its centre, as Cycles' motion blur moves them). A rigid mesh carries no
    displacement:
    Cycles copies a moving object's mesh again every frame, attributes included, and the passes read zero where an
    attribute is missing. With Realize, its instances are made part of its own geometry first, so that their points
    carry displacements too (no modifier reaches the points of geometry that geometry nodes make and instance)."""
    tree = bpy.data.node_groups.new(MODIFIER, "GeometryNodeTree")
    for name, kind, side in GROUP_SOCKETS:
        if hasattr(tree, "interface"):
            tree.interface.new_socket(name, in_out=side, socket_type=f"NodeSocket{kind}")
        else:  # before Blender 4.0
            (tree.inputs if side == "INPUT" else tree.outputs).new(f"NodeSocket{kind}", name)
    nodes, links = tree.nodes, tree.links
    given, result = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    parts, joined = nodes.new("GeometryNodeSeparateComponents"), nodes.new("GeometryNodeJoinGeometry")
    helper = nodes.new("GeometryNodeObjectInfo")
    links.new(given.outputs["Helper"], helper.inputs["Object"])
    realized = nodes.new("GeometryNodeRealizeInstances")
    links.new(given.outputs["Geometry"], realized.inputs[0])
    links.new(switched(tree, given.outputs["Realize"], given.outputs["Geometry"], realized.outputs[0]), parts.inputs[0])
    starts, first = nodes.new("GeometryNodeInputNamedAttribute"), nodes.new("GeometryNodeSampleIndex")
    starts.data_type, starts.inputs["Name"].default_value = "FLOAT_VECTOR", STARTS_ATTRIBUTE
    first.data_type, first.domain = "FLOAT_VECTOR", "POINT"  # its index stays 0
    links.new(helper.outputs["Geometry"], first.inputs["Geometry"])
    links.new(shown(starts.outputs, "Attribute"), shown(first.inputs, "Value"))
    start = nodes.new("ShaderNodeSeparateXYZ")
    links.new(shown(first.outputs, "Value"), start.inputs[0])
    followed = {}  # component -> each of its points' index among the helper's
    for position, (part, _) in enumerate(COMPONENTS):
        index = nodes.new("GeometryNodeInputIndex").outputs[0]
        followed[part] = index if position == 0 else added(tree, index, start.outputs[position - 1])
    for part, index in followed.items():
        geometry = parts.outputs[part]
        for name, attribute in ATTRIBUTES.items():
            displacement = nodes.new("GeometryNodeInputNamedAttribute")
            displacement.data_type = "FLOAT_VECTOR"
            displacement.inputs["Name"].default_value = name
            sample = nodes.new("GeometryNodeSampleIndex")
            sample.data_type, sample.domain = "FLOAT_VECTOR", "POINT"
            links.new(helper.outputs["Geometry"], sample.inputs["Geometry"])
            links.new(shown(displacement.outputs, "Attribute"), shown(sample.inputs, "Value"))
            links.new(index, sample.inputs["Index"])
            geometry = store(tree, geometry, attribute, "FLOAT_VECTOR", shown(sample.outputs, "Value"))
        links.new(switched(tree, given.outputs["Deforms"], parts.outputs[part], geometry), joined.inputs[0])
    for socket in [output for output in parts.outputs if output.name not in followed]:
        links.new(socket, joined.inputs[0])
    links.new(store(tree, joined.outputs[0], OBJECT_ATTRIBUTE, "FLOAT", given.outputs["Number"]), result.inputs[0])
    return tree


def switched(tree: bpy.types.NodeTree, switch: bpy.types.NodeSocket, false: bpy.types.NodeSocket,
             true: bpy.types.NodeSocket) -> bpy.types.NodeSocket:
    """``true`` where ``switch`` is on, else ``false``: a Switch node of geometry."""
    node = tree.nodes.new("GeometryNodeSwitch")
    node.input_type = "GEOMETRY"
    tree.links.new(switch, shown(node.inputs, "Switch"))
    tree.links.new(false, shown(node.inputs, "False"))
    tree.links.new(true, shown(node.inputs, "True"))
    return shown(node.outputs, "Output")


def added(tree: bpy.types.NodeTree, a: bpy.types.NodeSocket, b: bpy.types.NodeSocket) -> bpy.types.NodeSocket:
    """a + b: a Math node, whose operation is Add unless set otherwise."""
    node = tree.nodes.new("ShaderNodeMath")
    tree.links.new(a, node.inputs[0])
    tree.links.new(b, node.inputs[1])
    return node.outputs[0]


def shown(sockets: bpy.types.bpy_prop_collection, name: str) -> bpy.types.NodeSocket:
    """The socket ``name`` of the node's data type: before Blender 4.1 a node has one per type, the others hidden."""
    return next(socket for socket in sockets if socket.name == name and socket.enabled)


def group_inputs(tree: bpy.types.NodeTree) -> dict[str, str]:
    """The node group's inputs by name, with the identifiers a modifier stores their values under."""
    items = tree.interface.items_tree if hasattr(tree, "interface") else tree.inputs  # before Blender 4.0
    return {item.name: item.identifier for item in items if getattr(item, "in_out", "INPUT") == "INPUT"}


def store(tree: bpy.types.NodeTree, geometry: bpy.types.NodeSocket, name: str, kind: str,
          value: bpy.types.NodeSocket) -> bpy.types.NodeSocket:
    """Store Named Attribute on the point domain; returns its geometry output."""
    node = tree.nodes.new("GeometryNodeStoreNamedAttribute")
    node.data_type, node.domain = kind, "POINT"
    node.inputs["Name"].default_value = name
    tree.links.new(geometry, node.inputs["Geometry"])
    tree.links.new(value, shown(node.inputs, "Value"))
    return node.outputs[0]


def evaluate_as_rendered(guard: SettingsGuard) -> None:
    """Let the depsgraph the bake reads evaluate what Cycles renders: what is disabled in viewports but rendered
    (``show_what_renders``), modifiers shown as in the render, subdivision at the render levels, curves and
    metaballs at their render resolution, all of each particle system's particles and children (the viewport may
    show a share). Those of every object, also of one that only instances show (Object Info, a collection no scene
    holds) or that is linked from a library (changed in memory only)."""
    show_what_renders(guard)
    for obj in bpy.data.objects:
        for modifier in obj.modifiers:
            if modifier.show_viewport != modifier.show_render:
                guard.set(modifier, "show_viewport", modifier.show_render)
            viewport, render = RENDER_LEVELS.get(modifier.type, (None, None))
            if viewport and getattr(modifier, viewport) != getattr(modifier, render):
                guard.set(modifier, viewport, getattr(modifier, render))
    for settings in bpy.data.particles:
        if settings.display_percentage != 100:
            guard.set(settings, "display_percentage", 100)
    for data, viewport, render in [(curve, "resolution_u", "render_resolution_u") for curve in bpy.data.curves] + [
            (ball, "resolution", "render_resolution") for ball in bpy.data.metaballs] + [
            (settings, CHILDREN_SHOWN, "rendered_child_count") for settings in bpy.data.particles]:
        if getattr(data, render) and getattr(data, viewport) != getattr(data, render):
            guard.set(data, viewport, getattr(data, render))


def show_what_renders(guard: SettingsGuard) -> None:
    """Objects and collections disabled in viewports (which keeps heavy ones out of the viewport) but rendered: in the
    depsgraph the bake reads, as in the render."""
    for thing in [*bpy.data.objects, *bpy.data.collections]:
        if thing.hide_viewport and not thing.hide_render:
            guard.set(thing, "hide_viewport", False)


def point_vectors(data: bpy.types.ID, name: str) -> np.ndarray | None:
    """A vector attribute of evaluated geometry's points (``position``, ``velocity``), as one copy; None without it.
    A mesh's vertices are its positions before Blender 3.5, which has no ``position`` attribute."""
    attribute = data.attributes.get(name)
    if attribute is None and name == "position" and isinstance(data, bpy.types.Mesh):
        values = np.empty(len(data.vertices) * 3, np.float32)
        data.vertices.foreach_get("co", values)
        return values.reshape(-1, 3)
    if attribute is None or attribute.domain != "POINT" or attribute.data_type != "FLOAT_VECTOR":
        return None
    values = np.empty(len(attribute.data) * 3, np.float32)
    attribute.data.foreach_get("vector", values)
    return values.reshape(-1, 3)


def radii(data: bpy.types.ID) -> np.ndarray:
    """The ``radius`` of hair's or a point cloud's points (none where it has no such attribute)."""
    radius = data.attributes.get("radius")
    values = np.empty(len(radius.data) if radius else 0, np.float32)
    if radius:
        radius.data.foreach_get("value", values)
    return values


def strands_and_spheres(data: bpy.types.ID) -> bytes:
    """What places hair strands or point-cloud spheres in their object: the points' positions and radii."""
    return point_vectors(data, "position").tobytes() + radii(data).tobytes()


def instanced_points(evaluated: bpy.types.Object, read: dict[int, bytes | None]) -> bytes | None:
    """What places an instance's points within it (hair's and point clouds' positions and radii, a mesh's positions
    and corners), or None where its geometry carries the displacements the bake's modifier stores: an object's that
    the bake follows point by point, also where geometry nodes instance it (Object Info); not geometry that geometry
    nodes make and instance, whose points no modifier reaches. Many instances show one geometry: ``read`` keeps each
    geometry's answer, worked out once a frame."""
    data = evaluated.data
    pointer = data.as_pointer()
    if pointer not in read:
        attributes = getattr(data, "attributes", None)
        if attributes is not None and any(name in attributes for name in ATTRIBUTES.values()):
            read[pointer] = None
        elif evaluated.type in STRANDS_AND_SPHERES:
            read[pointer] = strands_and_spheres(data)
        else:
            positions, corners, _ = rendered_shape(evaluated)
            read[pointer] = positions.tobytes() + corners
    return read[pointer]


def point_shape(data: bpy.types.Curves | bpy.types.PointCloud) -> tuple[np.ndarray, bytes, np.ndarray | None]:
    """Hair or a point cloud as ``rendered_shape`` gives a shape: a strand's surface moves with its curve and a
    sphere's with its centre while their radii stay (and a strand's points stay on it)."""
    corners = radii(data).tobytes()
    if isinstance(data, bpy.types.Curves) and len(data.curves):  # without curves, no offsets to read (not even 0)
        offsets = np.empty(len(data.curve_offset_data), np.int32)
        data.curve_offset_data.foreach_get("value", offsets)
        corners += offsets.tobytes()
    return point_vectors(data, "position"), corners, point_vectors(data, "velocity")


def joined(parts: list[tuple]) -> tuple[np.ndarray, bytes, np.ndarray | None]:
    """An object's shapes (mesh, hair, point cloud) as one, in the helper's order of points."""
    if len(parts) == 1:
        return parts[0]
    velocities = [np.empty((0, 3), np.float32) if velocity is None and not len(points) else velocity
                  for points, _, velocity in parts]
    return (np.concatenate([points for points, _, _ in parts]),
            b"".join(corners + np.int64(len(points)).tobytes() for points, corners, _ in parts),
            None if any(velocity is None for velocity in velocities) else np.concatenate(velocities))


def rendered_shape(obj: bpy.types.Object) -> tuple[np.ndarray, bytes, np.ndarray | None]:
    """An evaluated object's points as Cycles renders them (curves, text, surfaces and metaballs through their mesh),
    what fixes their topology (point count and corners, as bytes to compare between frames), and their ``velocity``
    attribute (units per second) where they carry one, as fluid meshes do."""
    data = obj.data
    if isinstance(data, (bpy.types.Curves, bpy.types.PointCloud)):
        return point_shape(data)
    mesh = obj.to_mesh() if obj.type in {"CURVE", "FONT", "SURFACE", "META"} else data
    try:
        positions = point_vectors(mesh, "position")
        positions = np.empty((0, 3), np.float32) if positions is None else positions  # a volume has no points
        corners = b""
        if isinstance(mesh, bpy.types.Mesh):
            indices = np.empty(len(mesh.loops), np.int32)
            mesh.loops.foreach_get("vertex_index", indices)
            sizes = np.empty(len(mesh.polygons), np.int32)
            mesh.polygons.foreach_get("loop_total", sizes)
            corners = indices.tobytes() + sizes.tobytes()
        return positions, corners, point_vectors(mesh, "velocity")
    finally:
        if mesh is not data:
            obj.to_mesh_clear()


class SurfaceMotion:
    """Before each frame t renders, writes the displacement to t+K and t−K of every deforming object's evaluated
    geometry, and gives the rendered instances with their matrices for the writer."""

    def __init__(self, scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, guard: SettingsGuard,
                 options: BakeOptions) -> None:
        self.scene, self.options, self.guard = scene, options, guard
        self.unknown: dict[str, str] = {}  # object -> why some of its pixels are unknown
        self.topology_changes: dict[str, list[int]] = {}  # object -> frames whose motion it cannot map
        self.velocity_frames: dict[str, list[int]] = {}  # object -> frames whose motion its velocity attribute gives
        # object -> frames whose motion is only its own movement (as Cycles' Vector pass has it): topology changes
        self.transform_frames: dict[str, list[int]] = {}
        # object -> frames whose motion is Cycles' Vector pass's: its points move within it but cannot carry their
        # displacements (a linked object's, NURBS surfaces, metaballs); at a frame gap of 1 only, and where no depth
        # at the partner frame is asked for (scene flow, disparity change)
        self.vector_frames: dict[str, list[int]] = {}
        self.vector_allowed = options.frame_gap == 1 and not (options.scene_flow or options.stereo)
        # object -> frames whose flow renders realize the instances its geometry nodes make, from the first on which
        # geometry made there and instanced changes shape (not with segmentation, which tells the instances apart)
        self.realized: dict[str, list[int]] = {}
        self._realizing: set[str] = set()  # objects whose instances the flow renders realize now
        self._left_as_instances: set[str] = set()  # objects whose realized topology changed: never realized again
        self.numbers: dict[str, int] = {}  # tagged object -> the number its geometry carries
        self.helpers: dict[str, bpy.types.Object] = {}  # deforming object -> its displacements' helper
        # Objects followed only while their evaluated shape stays the same, and why.
        self.rigid_only: dict[str, str] = {}
        self._frames: dict[int, dict] = {}  # frame -> rendered instances and shapes
        self._written: dict[tuple[str, str], np.ndarray] = {}  # (object, flow) -> displacements its helper holds
        self._changed: set[str] = set()  # objects whose helper needs writing
        self._starts: dict[str, np.ndarray] = {}  # object -> where its helper's parts start, as written
        evaluate_as_rendered(guard)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        self.rendered = rendered_objects(view_layer)
        sources = {instance.object.original for instance in depsgraph.object_instances
                   if instance.is_instance and instance.object.type in RENDERED_TYPES}
        self.objects = {obj.name_full: obj for obj in [*self.rendered, *sources]}
        # Frame handlers may change geometry in ways no modifier shows: then everything counts as deforming.
        handlers = bool(bpy.app.handlers.frame_change_pre or bpy.app.handlers.frame_change_post)
        tree = None
        for name, obj in sorted(self.objects.items()):
            why = untagged_because(obj)
            if why:
                self.rigid_only[name] = why
                continue
            tree = tree or self._node_group()
            self.numbers[name] = len(self.numbers) + 1
            deforms = handlers or obj.type != "MESH" or bool(obj.modifiers) or obj.data.shape_keys is not None
            helper = self._helper(name) if deforms and name not in self.rigid_only else None
            self._append_modifier(obj, tree, self.numbers[name], helper)
        # Instances, and geometry without a number, are told apart by their rendered location.
        self.locations = bool(sources) or len(self.numbers) < len(self.objects)
        # The Geometry node's output that the normal pass shows, if the bake writes normals.
        self.normal = ("True Normal" if options.geometric_normals else "Normal") if options.normals else None
        # Instance key -> segmentation index, and per index what the manifest says of it.
        self.segments, self.segment_objects = self._segments() if options.segmentation else ({}, [])

    def _node_group(self) -> bpy.types.NodeTree:
        tree = motion_node_group()
        self.guard.on_restore(lambda: bpy.data.node_groups.remove(tree))
        self._realize_input = group_inputs(tree)["Realize"]
        return tree

    def _append_modifier(self, obj: bpy.types.Object, tree: bpy.types.NodeTree, number: int,
                         helper: bpy.types.Object | None) -> None:
        modifier = obj.modifiers.new(MODIFIER, "NODES")
        self.guard.on_restore(lambda: obj.modifiers.remove(obj.modifiers[MODIFIER]))
        modifier.node_group = tree
        inputs = group_inputs(tree)
        modifier[inputs["Number"]] = float(number)
        if helper is not None:
            modifier[inputs["Helper"]] = helper
            modifier[inputs["Deforms"]] = True

    def _helper(self, name: str) -> bpy.types.Object:
        """An object (outside every scene) whose points hold the displacements of ``name``'s evaluated points."""
        mesh = bpy.data.meshes.new(f"{MODIFIER} {name}")
        helper = bpy.data.objects.new(mesh.name, mesh)

        def remove() -> None:
            bpy.data.objects.remove(helper)
            bpy.data.meshes.remove(mesh)

        self.guard.on_restore(remove)
        self.helpers[name] = helper
        return helper

    def _segments(self) -> tuple[dict[tuple, int], list[dict]]:
        """Every instance rendered on any frame of the sequence, numbered from 1 in the order of their keys, so that
        each chunk of a sequence baked apart numbers them alike; and per index its object, instancer, collection and
        pass index. Costs a frame change per frame of the sequence (the render sets the frame again)."""
        found = {}
        for frame in range(self.options.sequence_start, self.options.sequence_end + 1):
            self.scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            for key, evaluated, instanced, _, known in rendered_instances(self.rendered, depsgraph):
                obj = evaluated.original
                collection = min((c.name_full for c in obj.users_collection), default=None)
                found[key] = {"object": obj.name_full, **({"instancer": known.name_full} if instanced else {}),
                              "collection": collection, "pass_index": obj.pass_index}
        if len(found) > MOST_INSTANCES:
            raise FlowError(f"The scene renders {len(found)} object instances over frames "
                            f"{self.options.sequence_start}–{self.options.sequence_end}, more than the "
                            f"{MOST_INSTANCES} a uint16 segmentation can number; turn Segmentation off or render "
                            "fewer instances.")
        keys = sorted(found)
        return {key: index for index, key in enumerate(keys, start=1)}, [found[key] for key in keys]

    def state(self, frame: int) -> dict:
        """At ``frame``: every rendered instance (key -> number, matrix, the object whose shape it shows, the object
        the user knows), the shapes of deforming and rigid-only objects (the mesh, hair and point cloud a deforming
        object's geometry nodes may make beside its own kind included), and the points of instanced geometry that
        carries no displacement (that of objects the bake does not follow point by point, and geometry that geometry
        nodes make and instance); cached."""
        if frame not in self._frames:
            self.scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            instances, numbers, points, own, read = {}, {}, {}, {}, {}
            components = own_components(rendered_instances(self.rendered, depsgraph))
            for key, evaluated, instanced, matrix, known in rendered_instances(self.rendered, depsgraph):
                source = evaluated.original.name_full
                number = self._number(evaluated, numbers) if instanced else self.numbers.get(source, 0)
                instances[key] = (number, np.array(matrix), source, known.name_full)
                if key in components and source in self.helpers:  # shown by the object or by its instancers
                    if evaluated.type in HELD and evaluated.type not in own.setdefault(source, {}):
                        own[source][evaluated.type] = rendered_shape(evaluated)
                elif instanced and evaluated.type in HELD:
                    shape = instanced_points(evaluated, read)
                    if shape is not None:
                        points[key] = shape
            shapes, starts = {}, {}
            for name in [*self.helpers, *self.rigid_only]:
                obj = self.objects[name]
                kind = obj.type if obj.type in STRANDS_AND_SPHERES else "MESH"  # or what Cycles renders as a mesh
                parts = {**own.get(name, {}), kind: rendered_shape(obj.evaluated_get(depsgraph))}
                shapes[name] = joined([parts[kind] for _, kind in COMPONENTS if kind in parts])
                starts[name] = np.cumsum([len(parts[kind][0]) if kind in parts else 0 for _, kind in COMPONENTS])
            self._frames[frame] = {"instances": instances, "shapes": shapes, "points": points, "starts": starts}
        return self._frames[frame]

    def _number(self, evaluated: bpy.types.Object, cache: dict) -> int:
        """The number an instance's geometry carries (the instancer's, when geometry nodes made the instance)."""
        data = evaluated.data
        key = data.as_pointer() if data else 0
        if key not in cache:
            attributes = getattr(data, "attributes", None)
            attribute = attributes.get(OBJECT_ATTRIBUTE) if attributes is not None else None
            if attribute is not None and len(attribute.data):
                cache[key] = int(round(attribute.data[0].value))
            else:
                cache[key] = self.numbers.get(evaluated.original.name_full, 0)
        return cache[key]

    def prepare(self, frame: int) -> dict:
        """Set the helpers' displacements for rendering ``frame``; return the rendered instances ([number, location])
        and, per flow whose partner frame exists, their [matrix here, matrix there] (there None where an instance is
        gone or its motion unknown), for the writer."""
        for old in [f for f in self._frames if f < frame - self.options.frame_gap]:
            del self._frames[old]
        self._realize_changing_instances(frame)
        here = self.state(frame)
        keys = list(here["instances"])
        shown = {shape for _, _, shape, _ in here["instances"].values()}  # objects whose geometry renders here
        motions, vector_rows = {}, {}
        for flow, other in self._partners(frame):
            there = self.state(other)
            changed = {name for name in self.rigid_only.keys() & shown
                       if not same_shape(here["shapes"][name], there["shapes"][name])}
            # Cycles' motion covers a changed shape whose points stay the same: its Vector pass has them
            by_vector = {name for name in changed
                         if self.vector_allowed and same_topology(here["shapes"][name], there["shapes"][name])}
            for name in changed - by_vector:
                self._note_unknown(name, f"{self.rigid_only[name]}, and its geometry changes", frame)
            rows, vector_rows[flow] = [], []
            for row, key in enumerate(keys, start=1):
                _, matrix, shape, known = here["instances"][key]
                partner = there["instances"].get(key)
                points = here["points"].get(key), there["points"].get(key)
                # points that move within the instance (where its object's own shape changes, that decides)
                within = shape not in changed and points[0] is not None and points[0] != points[1]
                if partner is not None and (shape in by_vector or (within and self.vector_allowed
                                                                   and len(points[0]) == len(points[1] or b""))):
                    vector_rows[flow].append(row)
                    note_frame(self.vector_frames, known if within else shape, frame)
                elif within:
                    self._note_unknown(known, "the points of geometry it instances move within the instances (hair, "
                                       "a point cloud, or a mesh its geometry nodes make)", frame)
                rows.append((matrix, None if partner is None or shape in changed or within else partner[1]))
            motions[flow] = rows
            for name in self.helpers:
                self._set_displacement(name, flow, here["shapes"][name], there["shapes"][name], frame)
        self._write_helpers(here)  # the render that follows sets the scene back on ``frame``
        instances, matrices = self._distinct(frame, here, keys, motions, vector_rows)
        vector_rows = {flow: sorted(rows) for flow, rows in vector_rows.items() if rows}
        return {"instances": instances, "matrices": matrices, "locations": self.locations,
                **({"vector_rows": vector_rows} if vector_rows else {}),
                **(self._segmentation(frame, keys) if self.options.segmentation else {})}

    def _partners(self, frame: int) -> list[tuple[str, int]]:
        """Each flow of ``frame`` whose partner frame lies in the sequence, with that frame."""
        others = [(flow, frame + FLOW_STEPS[flow] * self.options.frame_gap) for flow in ATTRIBUTES]
        return [(flow, other) for flow, other in others
                if self.options.sequence_start <= other <= self.options.sequence_end]

    def _realize_changing_instances(self, frame: int) -> None:
        """Where geometry that an object's geometry nodes make and instance changes shape between ``frame`` and a
        partner frame, the flow renders realize that object's instances from then on: made one with its own geometry,
        their points carry their displacements as any mesh's do (the frames' states are read again). Where the
        realized geometry's topology then changes (instances come or go), the object goes back to its instances for
        good: each instance keeps its own motion there, never less than Cycles' Vector pass gives. Each instance
        keeps its look in the scene's images, which render the instances as made (``images_as_made``). Not with
        segmentation, which tells the instances apart."""
        if self.options.segmentation:
            return
        others = [other for _, other in self._partners(frame)]
        here = self.state(frame)
        changing = {here["instances"][key][3] for other in others
                    for key, points in here["points"].items() if self.state(other)["points"].get(key, points) != points}
        for name in sorted((changing & set(self.helpers)) - self._left_as_instances - self._realizing):
            self._realize(name, True)
        here = self.state(frame)
        for name in sorted(self._realizing):
            if any(not same_topology(here["shapes"][name], self.state(other)["shapes"][name]) for other in others):
                self._left_as_instances.add(name)
                self._realize(name, False)
        for name in sorted(self._realizing):
            note_frame(self.realized, name, frame)

    def _realize(self, name: str, on: bool) -> None:
        """Realize ``name``'s instances in the flow renders from now on, or no longer; the frames' states are read
        again."""
        self._switch(name, on)
        (self._realizing.add if on else self._realizing.discard)(name)
        self._frames.clear()

    def _switch(self, name: str, on: bool) -> None:
        obj = self.objects[name]
        obj.modifiers[MODIFIER][self._realize_input] = on
        obj.update_tag()

    def images_as_made(self, guard: SettingsGuard) -> None:
        """For a render of the scene's own images: the instances the bake realizes rendered as their geometry nodes
        make them (an instance's look may depend on it, as through Object Info's Random), until ``guard`` restores."""
        for name in sorted(self._realizing):
            self._switch(name, False)
            guard.on_restore(lambda name=name: self._switch(name, True))

    def _segmentation(self, frame: int, keys: list) -> dict:
        """The segmentation index of each instance row and, for pixels whose instance is unknown, of each object
        number (0: none)."""
        unseen = [key for key in keys if key not in self.segments]
        if unseen:
            raise FlowError(f"Frame {frame} renders an instance of {unseen[0][0]} that the same frame did not have "
                            "before the bake started: frame handlers or drivers change the scene each time it is "
                            "evaluated, so segmentation cannot number its instances.")
        by_number = [0] * (max(self.numbers.values(), default=0) + 1)
        for name, number in self.numbers.items():
            by_number[number] = self.segments.get((name, ()), 0)
        return {"segments": [self.segments[key] for key in keys], "object_segments": by_number}

    def _distinct(self, frame: int, here: dict, keys: list, motions: dict,
                  vector_rows: dict[str, list[int]]) -> tuple[list, dict]:
        """Rows whose (number, location) another row with a different motion shares are kept but lose their motion:
        their pixels stay unknown (a number listed once would match without a location), and the object the user
        knows is named; where one of them moves as the Vector pass has it, they all do (it holds every pixel's)."""
        same_key: dict[tuple, list[int]] = {}
        for index, key in enumerate(keys):
            number, matrix, _, _ = here["instances"][key]
            same_key.setdefault((number, *(np.float32(matrix[:3, 3]) + np.float32(0))), []).append(index)
        for rows in same_key.values():
            for flow, motion in motions.items():
                if all(same_motion(motion[rows[0]], motion[i]) for i in rows[1:]):
                    continue
                if any(index + 1 in vector_rows[flow] for index in rows):
                    vector_rows[flow] = list({*vector_rows[flow], *(index + 1 for index in rows)})
                    continue
                for index in rows:
                    self._note_unknown(here["instances"][keys[index]][3], "instances of it share a rendered location "
                                       "but move differently", frame)
                    motion[index] = (motion[index][0], None)
        instances = [[number, matrix[:3, 3].tolist()] for number, matrix, _, _ in here["instances"].values()]
        matrices = {flow: [[start.tolist(), None if end is None else end.tolist()] for start, end in rows]
                    for flow, rows in motions.items()}
        return instances, matrices

    def _note_unknown(self, name: str, why: str, frame: int) -> None:
        self.unknown.setdefault(name, why)
        note_frame(self.topology_changes, name, frame)

    def _set_displacement(self, name: str, flow: str, here: tuple, there: tuple, frame: int) -> None:
        """Evaluated point i at this frame to point i at the partner frame. Where the topology changes, at a frame gap
        of 1 (the neighbouring frames, where Cycles' Vector pass has motion too): the points' velocity where they carry
        one, else none, so that the object's own movement alone moves them, as Cycles' motion blur then does; at
        larger gaps unknown."""
        velocity = here[2]
        if same_topology(here, there):
            displacement = there[0] - here[0]
        elif velocity is not None and len(velocity) == len(here[0]) and self.options.frame_gap == 1:
            render = self.scene.render
            displacement = velocity * np.float32(FLOW_STEPS[flow] * render.fps_base / render.fps)
            note_frame(self.velocity_frames, name, frame)
        elif self.options.frame_gap == 1:
            displacement = np.zeros(here[0].shape, np.float32)
            note_frame(self.transform_frames, name, frame)
        else:
            displacement = np.full(here[0].shape, UNKNOWN, np.float32)
            self._note_unknown(name, "its evaluated geometry changes its topology", frame)
        held = self._written.get((name, flow))
        if held is None or not np.array_equal(held, displacement):
            self._written[(name, flow)] = displacement
            self._changed.add(name)

    def _write_helpers(self, here: dict) -> None:
        """Only helpers whose values changed are written: an untouched object is not evaluated and synced again."""
        self._changed |= {name for name in self.helpers if not np.array_equal(self._starts.get(name),
                                                                               here["starts"][name])}
        for name in sorted(self._changed):
            mesh, count = self.helpers[name].data, len(here["shapes"][name][0])
            if len(mesh.vertices) != count:
                mesh.clear_geometry()
                mesh.vertices.add(count)
            self._starts[name] = here["starts"][name]
            starts = (mesh.attributes.get(STARTS_ATTRIBUTE)
                      or mesh.attributes.new(STARTS_ATTRIBUTE, "FLOAT_VECTOR", "POINT"))
            starts.data.foreach_set("vector", np.tile(self._starts[name].astype(np.float32), count))
            for flow in ATTRIBUTES:
                values = self._written.get((name, flow))
                if values is None or len(values) != count:
                    values = np.zeros((count, 3), np.float32)
                attribute = mesh.attributes.get(flow) or mesh.attributes.new(flow, "FLOAT_VECTOR", "POINT")
                attribute.data.foreach_set("vector", np.ascontiguousarray(values, np.float32).ravel())
            mesh.update()
        self._changed.clear()


def rendered_objects(view_layer: bpy.types.ViewLayer) -> list[bpy.types.Object]:
    """The view layer's objects whose geometry renders (its instancers' instances aside). The render leaves out the
    children of a parent that instances them on its vertices or faces, which the viewport still shows where they
    are."""
    return [obj for obj in view_layer.objects if obj.type in RENDERED_TYPES and not obj.hide_render
            and not (obj.parent and obj.parent.instance_type in {"VERTS", "FACES"})]


def own_components(instances: Iterator[tuple]) -> set[tuple]:
    """The keys of the ``instances`` (``rendered_instances``) that show a component of their object's own evaluated
    geometry other than its main one (the mesh a hair object's geometry nodes make, the point cloud a mesh object's
    make), not geometry those nodes instance. A persistent ID lists an instance's levels from the innermost (unused
    levels hold the largest int), so such a component is one level below its object's main one under the same
    instancer; instanced geometry is two or more. Reads each instance while the depsgraph's iteration shows it."""
    def depth(key: tuple) -> int:
        return next((level for level, entry in enumerate(key[1]) if entry == UNUSED_LEVEL), len(key[1]))

    mains, others = {}, []
    for key, evaluated, _, _, known in instances:
        group = (evaluated.original.name_full, known.name_full)
        if evaluated.type == evaluated.original.type:
            mains.setdefault(group, []).append(key)
        else:
            others.append((key, group))
    main = {group: min(map(depth, mains[group])) for group in {group for _, group in others} if group in mains}
    return {key for key, group in others if group in main and depth(key) == main[group] + 1}


def rendered_instances(rendered: list[bpy.types.Object], depsgraph: bpy.types.Depsgraph) -> Iterator[tuple]:
    """Every rendered instance at the depsgraph's frame, of the ``rendered`` objects and of every instancer: its key
    (the same on every frame, for the flow, the segmentation and the tracks alike), the evaluated object whose
    geometry it shows, whether an instancer made it, its world matrix (Blender's), and the object the user knows
    (the instancer, for instances)."""
    for obj in rendered:
        evaluated = obj.evaluated_get(depsgraph)
        yield (obj.name_full, ()), evaluated, False, evaluated.matrix_world, obj
    for instance in depsgraph.object_instances:
        if not instance.is_instance or instance.object.type not in RENDERED_TYPES:
            continue
        known = (instance.parent or instance.object).original
        yield (known.name_full, tuple(instance.persistent_id)), instance.object, True, instance.matrix_world, known


def untagged_because(obj: bpy.types.Object) -> str | None:
    """Why the object's geometry cannot carry its number and motion (then only its rigid motion is followed)."""
    if obj.type not in TAKES_MODIFIER:
        return f"a {obj.type.lower()} object takes no modifier, so it is followed as a rigid object only"
    if obj.library is not None:
        return "it is linked from a library, so it is followed as a rigid object only"
    if MODIFIER in obj.modifiers:
        raise FlowError(f"Object {obj.name} already has a modifier named {MODIFIER!r}; rename or remove it.")
    return None


def note_frame(frames: dict[str, list[int]], name: str, frame: int) -> None:
    """Add ``frame`` to ``name``'s frames (in the order met, once each)."""
    listed = frames.setdefault(name, [])
    if frame not in listed:
        listed.append(frame)


def same_topology(here: tuple, there: tuple) -> bool:
    return len(here[0]) == len(there[0]) and here[1] == there[1]


def same_shape(here: tuple, there: tuple) -> bool:
    return same_topology(here, there) and np.array_equal(here[0], there[0])


def same_motion(a: tuple, b: tuple) -> bool:
    """Two (matrix here, matrix there) pairs that carry a point the same way (there None: unknown)."""
    if a[1] is None or b[1] is None:
        return a[1] is None and b[1] is None
    return np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
