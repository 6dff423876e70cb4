"""Deforming meshes and view layers against the triangle ray caster, on real Cycles renders.

Blender 4.2 with persistent data renders a wrong Vector pass for a view layer other than the scene's
first: this scene, with the second layer active, gave forward flow -(x + 0.5) along every row."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from ground_truth import compare_candidates  # noqa: E402

TOLERANCE_PX = 0.001


def hidden_boxes_in_front(scene, layer) -> None:
    """Boxes in front of everything, in collections the layer excludes or sees only indirectly: not in the flow."""
    for name in ("Excluded", "Indirect only"):
        scene.collection.children.link(scenes.own_collection(scenes.add_box((0, -4, 0)), name))
    layer.layer_collection.children["Excluded"].exclude = True
    layer.layer_collection.children["Indirect only"].indirect_only = True


def assert_exact(out, triangles_at, camera) -> None:
    """Every flow of frames 1–4 against the ray caster: the validity mask and the flow, which really moves."""
    for frame in range(1, 5):
        for name, other in (("forward_flow", frame + 1), ("backward_flow", frame - 1)):
            if other not in camera.matrices:
                continue
            flow = np.load(out / f"{name}_{frame:04d}.npy")
            valid = np.load(out / f"{name}_valid_{frame:04d}.npy")
            candidates = triangle_ground_truth.flow_candidates(triangles_at, camera, frame, other)
            error, mask_mismatches, (_, hit, _) = compare_candidates(flow, valid, candidates)
            assert mask_mismatches == 0, f"{name} {frame}: {mask_mismatches} pixels with a wrong validity mask"
            assert error < TOLERANCE_PX, f"{name} {frame}: worst error {error:.5f} px"
            assert 0.5 * hit.size < hit.sum() < 0.95 * hit.size  # the wall, and open sky above it
            assert np.abs(flow[valid]).max() > 2  # the objects really move


@pytest.mark.parametrize("active_layer", ["only", "first", "second", "second, hidden collections"])
def test_still_camera_with_rigid_shape_key_and_armature_motion(tmp_path, active_layer):
    scene, objects = scenes.deforming_scene()
    if active_layer != "only":
        scene.view_layers[0].name = "First"
        second = scene.view_layers.new("Second")
        if "hidden" in active_layer:
            hidden_boxes_in_front(scene, second)
        bpy.context.window.view_layer = scene.view_layers[0] if active_layer == "first" else second
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "layers.blend"))
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "layers.blend"))
        scene = bpy.context.scene
        objects = [scene.objects[obj_name] for obj_name in ("Plane", "Cube", "Sphere", "Cylinder")]
    assert bpy.context.view_layer.name == {"only": "ViewLayer", "first": "First"}.get(active_layer, "Second")
    triangles_at = scenes.world_triangles(scene, objects)
    camera = scenes.scene_camera(scene)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out)) == {"FINISHED"}
    assert not scene.render.use_persistent_data  # the scene's own setting is back
    assert_exact(out, triangles_at, camera)


@pytest.mark.parametrize("disabled", ["objects", "their collection"])
def test_objects_disabled_in_viewports_but_rendered_get_their_flow(tmp_path, disabled):
    """The shape-key sphere and the armature-bent cylinder disabled in viewports (the monitor icon, which keeps heavy
    objects out of the viewport), themselves or through their collection, still render: the bake follows them as the
    render shows them, and puts the setting back."""
    scene, objects = scenes.deforming_scene()
    movers = [scene.objects["Sphere"], scene.objects["Cylinder"]]
    if disabled == "objects":
        switched = movers
    else:
        switched = [scenes.own_collection(movers[0], "Heavy")]
        scene.collection.children.link(switched[0])
        for obj in movers[1:]:
            scene.collection.objects.unlink(obj)
            switched[0].objects.link(obj)
    for thing in switched:
        thing.hide_viewport = True
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out)) == {"FINISHED"}
    assert all(thing.hide_viewport for thing in switched)  # the scene's own setting is back
    for thing in switched:
        thing.hide_viewport = False  # the reference follows what the render shows
    assert_exact(out, scenes.world_triangles(scene, objects), scenes.scene_camera(scene))
