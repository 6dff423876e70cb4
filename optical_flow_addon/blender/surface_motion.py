"""Each mesh vertex's world-space motion to frame t+K and t−K, as point attributes that the material
override sends to render passes (AOVs). Cycles interpolates them at the surface point under each pixel
centre exactly as it interpolates the point itself, so the writer gets every pixel's 3-D motion.

The attributes live on the meshes only during the bake: they are removed again afterwards, also
after an error or a cancel. Objects whose motion cannot be mapped vertex by vertex are named in
``unknown``; their pixels read as unknown (invalid), never as still.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
import numpy as np

from ..core.errors import FlowError
from ..core.options import BakeOptions
from ..core.products import FLOW_STEPS
from ..core.surface_motion import MOTION_PASSES, OBJECT_PASS, UNKNOWN

if TYPE_CHECKING:
    from .render_settings import SettingsGuard

# Point attributes, named for the passes they feed.
ATTRIBUTES = {name: f"optical_flow_{aov}" for name, aov in MOTION_PASSES.items()}
OBJECT_ATTRIBUTE = f"optical_flow_{OBJECT_PASS}"
RENDERED_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME"}


def motion_material() -> bpy.types.Material:
    """The override: a black diffuse surface (Cycles drops a black closure, so it runs no lighting and
    casts no shadow rays) and Attribute → AOV Output for each motion pass and the object pass.
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
    passes = [(ATTRIBUTES[name], aov, "Color") for name, aov in MOTION_PASSES.items()]
    for attribute_name, aov_name, socket in passes + [(OBJECT_ATTRIBUTE, OBJECT_PASS, "Fac")]:
        attribute = nodes.new("ShaderNodeAttribute")
        attribute.attribute_name = attribute_name
        aov = nodes.new("ShaderNodeOutputAOV")
        setattr(aov, "aov_name" if hasattr(aov, "aov_name") else "name", aov_name)  # "name" before Blender 4.0
        links.new(attribute.outputs[socket], aov.inputs["Color" if socket == "Color" else "Value"])
    return material


def add_motion_passes(view_layer: bpy.types.ViewLayer, guard: SettingsGuard) -> None:
    """The view layer's AOVs for the motion passes, removed again afterwards."""
    taken = {aov.name for aov in view_layer.aovs}
    for name, kind in [(aov, "COLOR") for aov in MOTION_PASSES.values()] + [(OBJECT_PASS, "VALUE")]:
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


def local_positions(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> np.ndarray:
    """The evaluated mesh's vertices in the object's own axes.

    Read through the ``position`` attribute (Blender 3.5+), a copy of the whole array: ``vertices``' ``co`` goes
    vertex by vertex, 70 times slower (4.6 ms for 160,000 vertices)."""
    mesh = obj.evaluated_get(depsgraph).data
    local = np.empty(len(mesh.vertices) * 3, np.float32)
    if "position" in mesh.attributes:
        mesh.attributes["position"].data.foreach_get("vector", local)
    else:
        mesh.vertices.foreach_get("co", local)
    return local.reshape(-1, 3)


class SurfaceMotion:
    """Before each frame t renders, writes the vertex displacement to t+K and t−K of every mapped mesh
    whose vertices move (rigid meshes keep zero), and gives the objects' matrices for the writer."""

    def __init__(self, scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, guard: SettingsGuard,
                 options: BakeOptions) -> None:
        self.scene, self.options = scene, options
        self.unknown: dict[str, str] = {}  # object -> why its pixels are unknown
        self.topology_changes: dict[str, list[int]] = {}  # object -> frames whose motion it cannot map
        self._frames: dict[int, tuple[dict, dict]] = {}  # frame -> (matrices, local positions of deforming meshes)
        self._written: dict[tuple[str, str], np.ndarray] = {}
        self.objects = self._mapped_objects(view_layer)
        # Frame handlers may change meshes in ways no modifier shows: then every mesh counts as deforming.
        handlers = bool(bpy.app.handlers.frame_change_pre or bpy.app.handlers.frame_change_post)
        self.deforming = [obj for obj in self.objects if handlers or obj.modifiers or obj.data.shape_keys]
        for number, obj in enumerate(self.objects, start=1):
            mesh = obj.data
            # Rigid meshes get no displacement attributes: the Attribute node reads zero where a mesh lacks one.
            # Cycles copies a moving object's mesh again every frame, attributes included (README, Speed).
            taken = [name for name in [*ATTRIBUTES.values(), OBJECT_ATTRIBUTE] if name in mesh.attributes]
            if taken:
                raise FlowError(f"Mesh {mesh.name} already has an attribute {taken[0]}; rename or remove it.")
            displacements = ATTRIBUTES.values() if obj in self.deforming else ()
            for attribute, kind in [(a, "FLOAT_COLOR") for a in displacements] + [(OBJECT_ATTRIBUTE, "FLOAT")]:
                mesh.attributes.new(attribute, kind, "POINT")  # invalidates earlier attribute references
                guard.on_restore(lambda mesh=mesh, name=attribute: mesh.attributes.remove(mesh.attributes[name]))
            mesh.attributes[OBJECT_ATTRIBUTE].data.foreach_set("value", np.full(len(mesh.vertices), number, np.float32))
            for attribute in displacements:  # new colour attributes are not zero
                self._write(obj, attribute, np.zeros((len(mesh.vertices), 3), np.float32))

    def _mapped_objects(self, view_layer: bpy.types.ViewLayer) -> list[bpy.types.Object]:
        """Mesh objects rendered in the layer whose vertices the evaluated mesh keeps one to one."""
        depsgraph = bpy.context.evaluated_depsgraph_get()
        instanced = {instance.object.original.data for instance in depsgraph.object_instances
                     if instance.is_instance and instance.object.type == "MESH"}
        rendered = [obj for obj in view_layer.objects if obj.type in RENDERED_TYPES and not obj.hide_render]
        users: dict[bpy.types.ID, int] = {}
        for obj in rendered:
            users[obj.data] = users.get(obj.data, 0) + 1
        mapped = []
        for obj in rendered:
            reason = self._why_unmapped(obj, depsgraph, instanced, users)
            if reason:
                self.unknown[obj.name] = reason
            else:
                mapped.append(obj)
        return mapped

    @staticmethod
    def _why_unmapped(obj, depsgraph, instanced, users) -> str | None:
        if obj.type != "MESH":
            return f"a {obj.type.lower()} object, not a mesh"
        mesh = obj.data
        if mesh.library is not None:
            return "its mesh is linked from a library"
        if users[mesh] > 1 or mesh in instanced:
            return "its mesh is shared with other objects or instances"
        if any(m.show_render != m.show_viewport for m in obj.modifiers):
            return "a modifier is shown differently in the viewport and the render"
        if len(obj.evaluated_get(depsgraph).data.vertices) != len(mesh.vertices):
            return "its modifiers change the number of vertices"
        return None

    def state(self, frame: int) -> tuple[dict, dict]:
        """Every mapped object's matrix and every deforming mesh's local vertices at ``frame``; cached."""
        if frame not in self._frames:
            self.scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            matrices = {obj.name: [list(row) for row in obj.evaluated_get(depsgraph).matrix_world]
                        for obj in self.objects}
            self._frames[frame] = matrices, {obj.name: local_positions(obj, depsgraph) for obj in self.deforming}
        return self._frames[frame]

    def prepare(self, frame: int) -> dict[str, list]:
        """Set the displacement attributes for rendering ``frame``; return, per flow whose partner frame exists,
        [object number, matrix here, matrix there] for the writer."""
        gap = self.options.frame_gap
        for old in [f for f in self._frames if f < frame - gap]:
            del self._frames[old]
        matrices, here = self.state(frame)
        rows = {}
        for name, attribute in ATTRIBUTES.items():
            other = frame + FLOW_STEPS[name] * gap
            if not self.options.sequence_start <= other <= self.options.sequence_end:
                continue
            there_matrices, there = self.state(other)
            rows[name] = [[number, matrices[obj.name], there_matrices[obj.name]]
                          for number, obj in enumerate(self.objects, start=1)]
            for obj in self.deforming:
                start, end = here[obj.name], there[obj.name]
                if len(start) == len(end) == len(obj.data.vertices):
                    displacement = end - start
                else:
                    displacement = np.full((len(obj.data.vertices), 3), UNKNOWN, np.float32)
                    frames = self.topology_changes.setdefault(obj.name, [])
                    frames += [frame] if frame not in frames else []
                self._write(obj, attribute, displacement)
        return rows

    def _write(self, obj: bpy.types.Object, attribute: str, displacement: np.ndarray) -> None:
        """Only changed values are written: an untouched mesh is not synced to Cycles again."""
        key = (obj.name, attribute)
        if key in self._written and np.array_equal(self._written[key], displacement):
            return
        colours = np.ones((len(displacement), 4), np.float32)
        colours[:, :3] = displacement
        obj.data.attributes[attribute].data.foreach_set("color", colours.ravel())
        obj.data.update()
        self._written[key] = displacement
