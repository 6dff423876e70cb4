"""Bake render settings: each render's, set through the guard that puts every one of them back."""
from __future__ import annotations

from typing import Any

import bpy

from .settings_guard import SettingsGuard
from .surface_motion import SurfaceMotion, add_motion_passes, motion_material, show_what_renders

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


def set_image_format(guard: SettingsGuard, image_settings: Any, **values: str) -> None:
    """Set the render's file format, restored in one step because the allowed ``file_format`` values depend on
    ``media_type`` (Blender 5.0; older versions have no ``media_type`` and skip it)."""
    names = [n for n in ("media_type", "file_format", "color_depth", "color_mode", "exr_codec")
             if hasattr(image_settings, n)]
    old = {name: getattr(image_settings, name) for name in names}

    def restore() -> None:
        for name in names:
            setattr(image_settings, name, old[name])

    guard.on_restore(restore)
    for name, value in values.items():
        if name in old:
            setattr(image_settings, name, value)


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


SHADED_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES"}  # the object types whose materials render


def materials_needing_own_shading(scene: bpy.types.Scene) -> list[str]:
    """Names of the materials that the material override would change, on what renders: the scene's objects (also
    those hidden in the viewport), every instance (of a collection no scene holds, too), and the materials that
    geometry nodes set on the geometry they make; also of what is disabled in viewports, shown for the look-up."""
    materials = [slot.material for obj in scene.objects if obj.type in SHADED_TYPES and not obj.hide_render
                 for slot in obj.material_slots]
    with SettingsGuard() as guard:
        show_what_renders(guard)
        for instance in bpy.context.evaluated_depsgraph_get().object_instances:
            evaluated = instance.object
            if evaluated.type in SHADED_TYPES and not (instance.parent or evaluated).original.hide_render:
                materials += [slot.material for slot in evaluated.material_slots]
                materials += list(getattr(evaluated.data, "materials", []))
    return sorted({material.name for material in materials if material_needs_own_shading(material)})


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


def shading_override(scene: bpy.types.Scene, guard: SettingsGuard,
                     motion: SurfaceMotion | None = None) -> tuple[bpy.types.Material | None, list[str]]:
    """The flow render's material override, made once per bake, and the materials that keep their own
    shading instead (when there are any, no override is used). With surface ``motion`` the override
    carries the motion passes, which the view layer gets for the bake."""
    own_shading = materials_needing_own_shading(scene)
    if own_shading:
        return None, own_shading
    override = motion_material(motion.locations, motion.normal) if motion else unshaded_material()
    if motion:
        add_motion_passes(flow_view_layer(scene), guard, motion.locations, bool(motion.normal))
    guard.on_restore(lambda: bpy.data.materials.remove(override))
    return override, own_shading


def flow_view_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    return bpy.context.view_layer if bpy.context.scene == scene else scene.view_layers[0]


def configure_flow_render(scene: bpy.types.Scene, guard: SettingsGuard, override: bpy.types.Material | None,
                          vector_pass: bool = True, scale: int = 1) -> None:
    """Settings for the Vector (unless the override's motion passes replace it) and Depth passes: exact at the
    pixel centre, cheap, into a multilayer EXR; at ``scale`` times the image's resolution, whose pixel centres are
    the scale × scale points of each image pixel where the truth is sampled."""
    if scale != 1:
        guard.set(scene.render, "resolution_percentage", scene.render.resolution_percentage * scale)
    for name, value in RENDER_SETTINGS.items():
        guard.set(scene.render, name, value)
    for name, value in CYCLES_SETTINGS.items():
        guard.set(scene.cycles, name, value)
    # 32-bit multilayer EXR (Blender 5.0's only multilayer format), uncompressed: a temporary file
    set_image_format(guard, scene.render.image_settings, media_type="MULTI_LAYER_IMAGE",
                     file_format="OPEN_EXR_MULTILAYER", color_depth="32", exr_codec="NONE")
    view_layer = flow_view_layer(scene)
    # Only the flow's view layer renders. With others enabled, Blender 4.2 with persistent data writes a wrong
    # Vector pass for a layer that is not the first (forward flow -(x + 0.5) along every row), and Blender 5.0
    # cannot write the second frame's EXR ("Each part should have a unique name").
    for layer in scene.view_layers:
        guard.set(layer, "use", layer == view_layer)
    guard.set(view_layer, "use_pass_vector", vector_pass)
    guard.set(view_layer, "use_pass_z", True)
    guard.set(view_layer, "use_pass_combined", False)
    if override is not None:
        guard.set(view_layer, "material_override", override)


def configure_image_render(scene: bpy.types.Scene, guard: SettingsGuard, image_motion_blur: str) -> None:
    """The scene's own render, saved as Blender saves it to an 8-bit PNG (RGBA when the film is transparent).

    Only the file format changes, plus motion blur when the images should be sharp like the flow, and persistent
    data, which changes no pixel and lets the flow render reuse what this render built."""
    set_image_format(guard, scene.render.image_settings, media_type="IMAGE", file_format="PNG", color_depth="8",
                     color_mode="RGBA" if scene.render.film_transparent else "RGB")
    guard.set(scene.render, "use_file_extension", True)
    guard.set(scene.render, "use_persistent_data", True)
    if image_motion_blur == "OFF":
        guard.set(scene.render, "use_motion_blur", False)


def keep_frame(scene: bpy.types.Scene, guard: SettingsGuard) -> None:
    """Put the scene back on the frame it showed before the bake."""
    frame, subframe = scene.frame_current, scene.frame_subframe
    guard.on_restore(lambda: scene.frame_set(frame, subframe=subframe))
