"""Baked flow against analytic ground truth, on real Cycles renders."""
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from ground_truth import Camera, compare  # noqa: E402

TOLERANCE_PX = 0.001  # ten times stricter than promised; measured worst is about 0.00002 px


def bake(tmp_path, **arguments):
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), **arguments) == {"FINISHED"}
    return tmp_path


def load(folder, name, frame):
    return np.load(folder / f"{name}_{frame:04d}.npy"), np.load(folder / f"{name}_valid_{frame:04d}.npy")


@pytest.mark.parametrize("blender_style", [False, True], ids=["opencv", "blender"])
def test_camera_motion_matches_projection_of_pixel_centres(tmp_path, blender_style):
    scene, objects = scenes.camera_motion_scene()
    shapes, camera = scenes.describe(scene, objects)
    out = bake(tmp_path, blender_image_coordinate_style=blender_style)
    worst = []
    for frame in range(1, 6):
        for name, other in (("forward_flow", frame + 1), ("backward_flow", frame - 1)):
            if other not in camera.matrices:
                assert not (out / f"{name}_{frame:04d}.npy").exists()
                continue
            flow, valid = load(out, name, frame)
            assert flow.shape == (48, 64, 2) and flow.dtype == np.float32 and valid.dtype == bool
            error, mask_mismatches, (expected, hit, _) = compare(flow, valid, shapes, camera, frame, other,
                                                                 blender_style)
            assert mask_mismatches == 0, f"{name} {frame}: {mask_mismatches} pixels with a wrong validity mask"
            assert error < TOLERANCE_PX, f"{name} {frame}: worst error {error:.4f} px"
            assert valid.sum() > 0.3 * valid.size and np.abs(flow[valid]).max() > 1.0  # a real, moving scene
            worst.append(error)
    print(f"worst error over {len(worst)} flows: {max(worst):.5f} px")


def test_moving_object_under_still_camera(tmp_path):
    scene, objects = scenes.moving_object_scene()
    shapes, camera = scenes.describe(scene, objects)
    out = bake(tmp_path)
    for frame, other, name in ((1, 2, "forward_flow"), (2, 3, "forward_flow"),
                               (2, 1, "backward_flow"), (3, 2, "backward_flow")):
        flow, valid = load(out, name, frame)
        error, mask_mismatches, (expected, hit, _) = compare(flow, valid, shapes, camera, frame, other)
        assert mask_mismatches == 0 and error < TOLERANCE_PX, (name, frame, error, mask_mismatches)
        assert 0.05 * hit.size < hit.sum() < 0.6 * hit.size  # the box covers part of the image
        assert not valid[~hit].any()  # background pixels are invalid
        assert np.all(flow[~hit] == 0)  # and hold BlenderProc's zeros


def test_camera_moving_right_and_up(tmp_path):
    """Moving right gives negative x forward flow in both styles; moving up flips y between styles."""
    results = {}
    for blender_style in (False, True):
        scene = scenes.empty_scene()
        scenes.add_plane(40, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))  # a wall facing the camera
        scenes.add_camera(scene, [((0, -5, 0), (np.pi / 2, 0, 0)), ((0.5, -5, 0), (np.pi / 2, 0, 0)),
                                  ((0.5, -5, 0.5), (np.pi / 2, 0, 0))])
        out = bake(tmp_path / str(blender_style), blender_image_coordinate_style=blender_style)
        right, _ = load(out, "forward_flow", 1)
        up, _ = load(out, "forward_flow", 2)
        results[blender_style] = (right, up)
        assert np.all(right[..., 0] < -1) and np.allclose(right[..., 1], 0, atol=1e-4)
        assert np.allclose(up[..., 0], 0, atol=1e-4) and np.all(np.abs(up[..., 1]) > 1)
    assert np.all(results[False][1][..., 1] > 0)  # OpenCV: content moves down the image (y down)
    for opencv, blender in zip(results[False], results[True]):
        np.testing.assert_array_equal(opencv[..., 0], blender[..., 0])
        np.testing.assert_array_equal(opencv[..., 1], -blender[..., 1])


def test_out_of_frame_targets_are_invalid(tmp_path):
    scene = scenes.empty_scene()
    scenes.add_plane(40, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
    scenes.add_camera(scene, [((0, -5, 0), (np.pi / 2, 0, 0)), ((2, -5, 0), (np.pi / 2, 0, 0))])
    out = bake(tmp_path)
    flow, valid = load(out, "forward_flow", 1)
    shift = -flow[0, 0, 0]  # every pixel moves left by the same amount
    leaving = np.arange(64) + 0.5 - shift < 0
    assert 3 < leaving.sum() < 60
    np.testing.assert_array_equal(valid, np.broadcast_to(~leaving, valid.shape))
    backward, backward_valid = load(out, "backward_flow", 2)
    assert backward_valid[:, 0].all() and not backward_valid[:, -1].any()


@pytest.mark.parametrize("shown_by", ["the card itself", "collection instance",
                                      "collection instance disabled in viewports", "geometry nodes"])
def test_see_through_material_keeps_its_flow(tmp_path, shown_by):
    """An alpha-0 card in front of the box must not hide it: the bake keeps the scene's materials. Also where the
    card is in a collection that no scene holds, shown by a collection instance (one disabled in viewports still
    renders), or where only its geometry nodes set its material: then no object in the scene has it in a slot."""
    scene, objects = scenes.camera_motion_scene()
    card = scenes.add_plane(3, location=(0, -4, 2.5), rotation=(1.3, 0, 0))
    invisible = scenes.see_through_material("Invisible")
    if shown_by == "the card itself":
        card.data.materials.append(invisible)
    elif shown_by.startswith("collection instance"):
        card.data.materials.append(invisible)
        scenes.instancer(scene, scenes.own_collection(card, "Cards"), "Cards").hide_viewport = "disabled" in shown_by
    else:
        tree = scenes.geometry_node_group("Set invisible")
        shade = tree.nodes.new("GeometryNodeSetMaterial")
        shade.inputs["Material"].default_value = invisible
        tree.links.new(tree.nodes.new("NodeGroupInput").outputs[0], shade.inputs["Geometry"])
        tree.links.new(shade.outputs[0], tree.nodes.new("NodeGroupOutput").inputs[0])
        card.modifiers.new("Set invisible", "NODES").node_group = tree
    assert (invisible in {slot.material for obj in scene.objects for slot in obj.material_slots}) == (
        shown_by == "the card itself")
    shapes, camera = scenes.describe(scene, objects)  # the card is not part of what should be seen
    out = bake(tmp_path)
    flow, valid = load(out, "forward_flow", 2)
    error, mask_mismatches, _ = compare(flow, valid, shapes, camera, 2, 3)
    assert mask_mismatches == 0 and error < TOLERANCE_PX
    assert json.loads((out / "manifest.json").read_text())["material_override"] is False


def test_opaque_scene_uses_the_material_override(tmp_path):
    scenes.camera_motion_scene()
    out = bake(tmp_path, frame_start=1, frame_end=2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["material_override"] is True
    assert manifest["forward_flow_frames"] == [1, 2] and manifest["backward_flow_frames"] == [2]


def test_manifest_intrinsics_and_poses_reproduce_the_flow(tmp_path):
    """K and camera poses from manifest.json, fed to the ray caster, give the baked flow
    (shifted lens, vertical fit)."""
    scene, objects = scenes.camera_motion_scene()
    data = scene.camera.data
    data.shift_x, data.shift_y, data.sensor_fit, data.sensor_height = 0.08, -0.05, "VERTICAL", 20.0
    shapes, _ = scenes.describe(scene, objects)
    out = bake(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    records = {record["frame"]: record for record in manifest["frames"]}
    camera = Camera({f: np.array(r["camera_to_world"]) for f, r in records.items()}, np.array(records[2]["K"]), 64, 48)
    assert abs(camera.K[0, 2] - 31.5) > 1 and abs(camera.K[1, 2] - 23.5) > 1  # the shift moved the principal point
    flow, valid = load(out, "forward_flow", 2)
    error, mask_mismatches, _ = compare(flow, valid, shapes, camera, 2, 3)
    assert mask_mismatches == 0 and error < TOLERANCE_PX
