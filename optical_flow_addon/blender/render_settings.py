"""Bake render settings and the guard that puts every one of them back."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import bpy

from .surface_motion import add_motion_passes, motion_material

# Settings that make the vector pass exact and the render cheap. Cycles property names.
CYCLES_SETTINGS = {
    "samples": 1,
    "use_adaptive_sampling": False,
    "use_denoising": False,
    "filter_width": 0.01,  # the sample sits on the pixel centre: flow of the surface under the centre
    "max_bounces": 0,
    "diffuse_bounces": 0,
    "glossy_bounces": 0,
    "transmission_bounces": 0,
    "volume_bounces": 0,
}
RENDER_SETTINGS = {
    "engine": "CYCLES",
    "use_motion_blur": False,  # motion blur smears the vector pass
    "film_transparent": True,
    "use_persistent_data": True,
    "use_compositing": False,
    "use_sequencer": False,
    "use_single_layer": True,
    "use_multiview": False,
    "use_border": False,
    "use_file_extension": True,
}
# Node types that can make a surface see-through or change its shape; the override would hide that.
SEE_THROUGH_NODES = {"BSDF_TRANSPARENT", "HOLDOUT"}


class SettingsGuard:
    """Changes settings through :meth:`set` and restores all of them, newest first."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def set(self, owner: Any, attribute: str, value: Any) -> None:
        old = getattr(owner, attribute)
        self._undo.append(lambda: setattr(owner, attribute, old))
        setattr(owner, attribute, value)

    def on_restore(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def restore(self) -> None:
        """Run every undo step even if one fails, then re-raise the first failure."""
        failures = []
        while self._undo:
            try:
                self._undo.pop()()
            except Exception as error:  # keep restoring the rest of the user's settings
                failures.append(error)
        if failures:
            raise failures[0]

    def __enter__(self) -> "SettingsGuard":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


def set_multilayer_exr(guard: SettingsGuard, image_settings: Any) -> None:
    """32-bit multilayer EXR; Blender 5.0 chooses it through ``media_type``.

    Restored in one step because the allowed ``file_format`` values depend on ``media_type``.
    """
    names = [n for n in ("media_type", "file_format", "color_depth", "exr_codec") if hasattr(image_settings, n)]
    old = {name: getattr(image_settings, name) for name in names}

    def restore() -> None:
        for name in names:
            setattr(image_settings, name, old[name])

    guard.on_restore(restore)
    if "media_type" in old:
        image_settings.media_type = "MULTI_LAYER_IMAGE"  # its only file format is multilayer EXR
    image_settings.file_format = "OPEN_EXR_MULTILAYER"
    image_settings.color_depth = "32"
    image_settings.exr_codec = "NONE"  # a temporary file: no time spent compressing


def material_needs_own_shading(material: bpy.types.Material | None) -> bool:
    """True if replacing this material would change what the camera sees (cut-outs, transparency, displacement)."""
    if material is None or material.node_tree is None:
        return False
    if bpy.app.version < (5, 0, 0) and not material.use_nodes:  # 5.0 always uses nodes
        return False
    if getattr(material, "displacement_method", "BUMP") != "BUMP":
        return True
    return tree_needs_own_shading(material.node_tree)


def tree_needs_own_shading(tree: bpy.types.NodeTree) -> bool:
    for node in tree.nodes:
        if node.type in SEE_THROUGH_NODES:
            return True
        if node.type == "BSDF_PRINCIPLED":
            alpha = node.inputs["Alpha"]
            if alpha.is_linked or alpha.default_value < 1.0:
                return True
        if node.type == "OUTPUT_MATERIAL" and node.is_active_output and not node.inputs["Surface"].is_linked:
            return True
        if node.type == "GROUP" and node.node_tree is not None and tree_needs_own_shading(node.node_tree):
            return True
    return False


def materials_needing_own_shading(scene: bpy.types.Scene) -> list[str]:
    """Names of materials on visible objects that the material override would change."""
    names = set()
    for obj in scene.objects:
        if obj.type not in {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES"} or obj.hide_render:
            continue
        for slot in obj.material_slots:
            if material_needs_own_shading(slot.material):
                names.add(slot.material.name)
    return sorted(names)


def unshaded_material() -> bpy.types.Material:
    """A material with nothing plugged into its output: it renders black, so Cycles evaluates no
    shader and casts no shadow rays. The Vector and Depth passes only need the geometry
    (on the benchmark scene this halves the render time against a plain grey material)."""
    material = bpy.data.materials.new("Optical Flow Override")
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    for node in list(material.node_tree.nodes):
        if node.type != "OUTPUT_MATERIAL":
            material.node_tree.nodes.remove(node)
    return material


def configure_render(scene: bpy.types.Scene, guard: SettingsGuard, exr_folder: Path,
                     vector_pass: bool = True) -> tuple[str, list[str]]:
    """Apply the bake settings; without ``vector_pass`` the override carries the surface motion passes instead.

    Returns the rendered view layer's name and the materials that kept their own shading
    (when there are any, no material override is used).
    """
    for name, value in RENDER_SETTINGS.items():
        guard.set(scene.render, name, value)
    for name, value in CYCLES_SETTINGS.items():
        guard.set(scene.cycles, name, value)
    set_multilayer_exr(guard, scene.render.image_settings)
    guard.set(scene.render, "filepath", str(exr_folder / "frame"))
    view_layer = bpy.context.view_layer if bpy.context.scene == scene else scene.view_layers[0]
    # Only the flow's view layer renders. With others enabled, Blender 4.2 with persistent data writes a wrong
    # Vector pass for a layer that is not the first (forward flow -(x + 0.5) along every row), and Blender 5.0
    # cannot write the second frame's EXR ("Each part should have a unique name").
    for layer in scene.view_layers:
        guard.set(layer, "use", layer == view_layer)
    guard.set(view_layer, "use_pass_vector", vector_pass)
    guard.set(view_layer, "use_pass_z", True)
    guard.set(view_layer, "use_pass_combined", False)
    own_shading = materials_needing_own_shading(scene)
    if not own_shading:
        override = unshaded_material() if vector_pass else motion_material()
        if not vector_pass:
            add_motion_passes(view_layer, guard)
        guard.on_restore(lambda: bpy.data.materials.remove(override))
        guard.set(view_layer, "material_override", override)
    frame, subframe = scene.frame_current, scene.frame_subframe
    guard.on_restore(lambda: scene.frame_set(frame, subframe=subframe))
    return view_layer.name, own_shading
