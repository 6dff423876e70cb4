"""Everything a bake could change in a user's scene, to prove it gives it all back."""
import warnings

import bpy

import scenes


def rna_values(struct) -> dict:
    """Every readable value property of an RNA struct, with pointers by name."""
    with warnings.catch_warnings():  # reading deprecated properties (5.0) is fine here
        warnings.simplefilter("ignore", DeprecationWarning)
        return {p.identifier: rna_value(struct, p) for p in struct.bl_rna.properties
                if p.identifier != "rna_type" and p.type != "COLLECTION"}


def rna_value(struct, prop):
    value = getattr(struct, prop.identifier)
    if prop.type == "POINTER":
        return getattr(value, "name", None) if isinstance(value, bpy.types.ID) or value is None else "struct"
    return tuple(value) if hasattr(value, "__len__") and not isinstance(value, str) else value


def snapshot(scene) -> dict:
    structs = {"scene": scene, "render": scene.render, "image_settings": scene.render.image_settings,
               "cycles": scene.cycles, "display": scene.display_settings, "view": scene.view_settings}
    structs.update({f"view_layer {layer.name}": layer for layer in scene.view_layers})
    structs.update({f"cycles view_layer {layer.name}": layer.cycles for layer in scene.view_layers})
    state = {name: rna_values(struct) for name, struct in structs.items()}
    state["frame"] = (scene.frame_current, scene.frame_subframe)
    state["datablocks"] = {kind: sorted(i.name for i in getattr(bpy.data, kind))
                           for kind in ("materials", "objects", "cameras", "meshes", "node_groups", "worlds")}
    state["camera"] = [tuple(row) for row in scene.camera.matrix_world]
    return state


def user_scene():
    """A scene whose settings all differ from the bake's, on a frame in the middle of the range."""
    scene, _ = scenes.camera_motion_scene()
    scene.render.engine = "BLENDER_EEVEE_NEXT" if bpy.app.version < (5, 0, 0) else "BLENDER_EEVEE"
    scene.cycles.samples, scene.cycles.filter_width = 64, 1.5
    scene.render.use_motion_blur = True
    scene.render.filepath = "//renders/shot_"
    scene.render.image_settings.file_format = "PNG"
    scene.view_layers[0].use_pass_vector = False
    scene.frame_set(3)
    return scene
