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
from ..core.surface_motion import KNOWN, MOTION_PASSES

if TYPE_CHECKING:
    from .render_settings import SettingsGuard

# Point attributes per flow, named for the passes they feed.
ATTRIBUTES = {name: f"optical_flow_{motion}" for name, (motion, _) in MOTION_PASSES.items()}
STEPS = {"forward_flow": 1, "backward_flow": -1}
RENDERED_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME"}


def motion_material() -> bpy.types.Material:
    """The override: a black diffuse surface (Cycles drops a black closure, so it runs no lighting and
    casts no shadow rays) and, per flow, Attribute → AOV Output for the motion and whether it is known.
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
    for name, (motion, known) in MOTION_PASSES.items():
        attribute = nodes.new("ShaderNodeAttribute")
        attribute.attribute_name = ATTRIBUTES[name]
        for socket, aov_name in (("Color", motion), ("Alpha", known)):
            aov = nodes.new("ShaderNodeOutputAOV")
            aov.aov_name = aov_name
            links.new(attribute.outputs[socket], aov.inputs["Color" if socket == "Color" else "Value"])
    return material


def add_motion_passes(view_layer: bpy.types.ViewLayer, guard: SettingsGuard) -> None:
    """The view layer's AOVs for the motion passes, removed again afterwards."""
    taken = {aov.name for aov in view_layer.aovs}
    for motion, known in MOTION_PASSES.values():
        for name, kind in ((motion, "COLOR"), (known, "VALUE")):
            if name in taken:
                raise FlowError(f"View layer {view_layer.name} already has a shader AOV named {name}; rename or remove it.")
            aov = view_layer.aovs.add()
            aov.name, aov.type = name, kind
            guard.on_restore(lambda name=name: view_layer.aovs.remove(view_layer.aovs[name]))


def world_positions(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> np.ndarray:
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.data
    local = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", local)
    matrix = np.array(evaluated.matrix_world, np.float64)
    return local.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]


class SurfaceMotion:
    """Writes, before each frame t renders, every mapped mesh's vertex motion to t+K and t−K."""

    def __init__(self, scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, guard: SettingsGuard,
                 options: BakeOptions) -> None:
        self.scene, self.options = scene, options
        self.unknown: dict[str, str] = {}  # object -> why its pixels are unknown
        self.topology_changes: dict[str, list[int]] = {}  # object -> frames whose motion it cannot map
        self._positions: dict[int, dict[str, np.ndarray]] = {}
        self._written: dict[tuple[str, str], np.ndarray] = {}
        self.objects = self._mapped_objects(view_layer)
        for obj in self.objects:
            for attribute in ATTRIBUTES.values():
                if attribute in obj.data.attributes:
                    raise FlowError(f"Mesh {obj.data.name} already has an attribute {attribute}; rename or remove it.")
                obj.data.attributes.new(attribute, "FLOAT_COLOR", "POINT")
                guard.on_restore(lambda mesh=obj.data, attribute=attribute: mesh.attributes.remove(mesh.attributes[attribute]))

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

    def positions(self, frame: int) -> dict[str, np.ndarray]:
        """World positions of every mapped object's evaluated vertices; cached per frame."""
        if frame not in self._positions:
            self.scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            self._positions[frame] = {obj.name: world_positions(obj, depsgraph) for obj in self.objects}
        return self._positions[frame]

    def prepare(self, frame: int) -> None:
        """Set the motion attributes for rendering ``frame``."""
        gap = self.options.frame_gap
        for old in [f for f in self._positions if f < frame - gap]:
            del self._positions[old]
        here = self.positions(frame)
        for name, attribute in ATTRIBUTES.items():
            other = frame + STEPS[name] * gap
            there = self.positions(other) if self.options.sequence_start <= other <= self.options.sequence_end else None
            for obj in self.objects:
                start, end = here[obj.name], None if there is None else there[obj.name]
                motion = np.zeros((len(obj.data.vertices), 4), np.float32)  # unknown unless mapped
                if end is not None and len(start) == len(end) == len(motion):
                    motion[:, :3] = end - start
                    motion[:, 3] = KNOWN
                elif end is not None:
                    self.topology_changes.setdefault(obj.name, []).append(frame)
                self._write(obj, attribute, motion)

    def _write(self, obj: bpy.types.Object, attribute: str, motion: np.ndarray) -> None:
        """Only changed values are written: an untouched mesh is not synced to Cycles again."""
        key = (obj.name, attribute)
        if key in self._written and np.array_equal(self._written[key], motion):
            return
        obj.data.attributes[attribute].data.foreach_set("color", motion.ravel())
        obj.data.update()
        self._written[key] = motion
