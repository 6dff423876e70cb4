"""The bake's self-check on real Cycles renders: quiet on correct scenes,
stops a bake whose rendered motion is wrong."""
import json
import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import OpenEXR  # noqa: E402

import scenes  # noqa: E402
from blender_state import snapshot  # noqa: E402
from optical_flow_addon.blender import bake  # noqa: E402
from optical_flow_addon.core.self_check import MOST_PIXELS_OFF  # noqa: E402
from optical_flow_addon.core.surface_motion import MOTION_PASSES  # noqa: E402


@pytest.mark.parametrize("make_scene", [scenes.camera_motion_scene, scenes.deforming_scene],
                         ids=["camera motion", "rigid, shape-key and armature motion"])
def test_correct_bakes_pass_with_their_figures_in_the_manifest(tmp_path, make_scene):
    make_scene()
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path)) == {"FINISHED"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    check = manifest["self_check"]
    frames = manifest["forward_flow_frames"]
    assert check["on"] and check["frame_pairs_checked"] == len(frames) >= 3
    assert check["worst_share_off"] < MOST_PIXELS_OFF[True] / 2  # far from failing (measured: 1 % at 64×48)
    for record in manifest["frames"]:
        if record["frame"] in frames:
            assert record["self_check"]["checked"] > 1000 and record["self_check"]["median_px"] < 1e-3
    print(f"worst share of pixels off: {check['worst_share_off']:.4f}")



def inject_wrong_motion(monkeypatch, at_frame: int) -> None:
    """After Blender renders frame ``at_frame``'s flow passes, shift its forward surface motion by 0.3 m, as a
    Blender bug writing a wrong pass would."""
    render = bake.render_frame

    def render_then_spoil(scene, frame, path, guard):
        written = render(scene, frame, path, guard)
        if frame == at_frame and path.suffix == ".exr":
            exr = OpenEXR.File(str(written), separate_channels=True)
            spoiled = 0
            for part in exr.parts:
                for name, channel in part.channels.items():
                    if f"{MOTION_PASSES['forward_flow']}.R" in name:
                        channel.pixels += np.float32(0.3)
                        spoiled += 1
            assert spoiled == 1
            exr.write(str(written))
        return written

    monkeypatch.setattr(bake, "render_frame", render_then_spoil)


def test_wrong_rendered_motion_stops_the_bake_with_the_frame_named(tmp_path, monkeypatch):
    scene, _ = scenes.camera_motion_scene()
    scene.frame_set(1)
    before = snapshot(scene)
    inject_wrong_motion(monkeypatch, at_frame=3)
    with pytest.raises(RuntimeError, match=r"Self-check failed at frame 3: following its forward flow to frame 4 .*"
                                           r"files of frame 3 were not written.*--no-verify"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path))
    assert snapshot(scene) == before
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [record["frame"] for record in manifest["frames"]] == [1, 2]
    assert not (tmp_path / "forward_flow_0003.npy").exists()


def test_no_verify_lets_the_user_bake_it_anyway(tmp_path, monkeypatch):
    scenes.camera_motion_scene()
    inject_wrong_motion(monkeypatch, at_frame=3)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), verify=False) == {"FINISHED"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["self_check"]["on"] is False and manifest["self_check"]["frame_pairs_checked"] == 0
    assert (tmp_path / "forward_flow_0003.npy").exists()


def spinning(obj, turn: tuple[float, float, float], frames: int = 5) -> None:
    """Turn ``obj`` by ``turn`` radians (about x, y, z) every frame, at an even pace."""
    for frame in range(1, frames + 1):
        obj.rotation_euler = [(frame - 1) * step for step in turn]
        obj.keyframe_insert("rotation_euler", frame=frame)
    for curve in (obj.animation_data.action.fcurves if bpy.app.version < (5, 0, 0)
                  else obj.animation_data.action.layers[0].strips[0].channelbags[0].fcurves):
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"


def fast_spins_scene(width: int, height: int) -> None:
    """Near the camera, three cubes turning 1.2 rad a frame, about x, y and z, and a torus turning (0.9, 0.5, 0)
    rad a frame still nearer: the correct bakes the self-check took for wrong ones."""
    scene = scenes.empty_scene()
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scenes.add_camera(scene, [((0, -7, 0), (math.pi / 2, 0, 0))] * 5)
    for x, axis in zip((-2.4, 0.0, 2.4), range(3)):
        spinning(scenes.add_box((x, 0, -0.6)), tuple(1.2 if i == axis else 0.0 for i in range(3)))
    bpy.ops.mesh.primitive_torus_add(location=(0, -3.5, 1.0), major_radius=0.8, minor_radius=0.3)
    spinning(bpy.context.object, (0.9, 0.5, 0.0))


@pytest.mark.parametrize("width, height", [(64, 48), (128, 96)])
def test_fast_spins_near_the_camera_pass(tmp_path, width, height):
    fast_spins_scene(width, height)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), output_formats={"NPY"}) == {"FINISHED"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["self_check"]["frame_pairs_checked"] == 4 and manifest["self_check"]["worst_share_off"] < 0.01
    checked = [record["self_check"]["checked"] for record in manifest["frames"] if "self_check" in record]
    rough = [record["self_check"]["rough"] for record in manifest["frames"] if "self_check" in record]
    print(f"pixels checked per frame: {checked}, rough {rough}")
    assert min(checked) > width * height / 16  # judged inside the faces, not on a handful of pixels

