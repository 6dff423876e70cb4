"""Stereo from the scene camera's Stereo 3D rig against the triangle ray caster: disparity is f·B/Z of the surface
under each pixel centre (plus an off-axis rig's constant), disparity change f·B/Z at t+K minus at t of the same
surface point, the stereo masks a ray from the other view's camera; the right image is Blender's own Stereo 3D
render of the right view."""
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from flow_checks import edges  # noqa: E402
from ground_truth import Camera, pixel_rays, project  # noqa: E402

BASELINE = 0.3


def stereo_scene(mode="PARALLEL", pivot="LEFT", frames=4):
    scene, _ = scenes.occlusion_scene(frames)
    scene.render.use_multiview, scene.render.views_format = True, "STEREO_3D"
    stereo = scene.camera.data.stereo
    stereo.convergence_mode, stereo.pivot, stereo.interocular_distance = mode, pivot, BASELINE
    stereo.convergence_distance = 8.0
    return scene


def moved(camera: Camera, offset: float) -> Camera:
    """The camera slid ``offset`` metres along its own x axis (where a stereo view sits)."""
    shift = np.eye(4)
    shift[0, 3] = offset
    return Camera({frame: matrix @ shift for frame, matrix in camera.matrices.items()}, camera.K, camera.width,
                  camera.height)


def surface(triangles_at, camera, frame):
    """Per pixel centre: the triangle index hit (−1 none), its barycentric (u, v), its planar depth and labels."""
    _, index, u, v = triangle_ground_truth.first_hits(*pixel_rays(camera, frame), triangles_at(frame))
    points = triangle_ground_truth.point_on(triangles_at(frame), index, u, v)
    return index, u, v, planar_depth(camera, frame, points)


def away_from_edges(triangles_at, frame, index):
    """Pixels whose 3×3 neighbourhood shows one object (or only sky)."""
    owners = np.unique(triangles_at.owners[frame], return_inverse=True)[1]
    return ~edges(np.where(index >= 0, owners[np.maximum(index, 0)], -1))


def planar_depth(camera, frame, points):
    local = (points - camera.matrices[frame][:3, 3]) @ camera.matrices[frame][:3, :3]
    return -local[..., 2]


def test_parallel_rig_disparity_disparity_change_and_stereo_masks_are_exact(tmp_path):
    scene = stereo_scene()
    out = tmp_path / "stereo"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), stereo=True) == {"FINISHED"}
    triangles_at = scenes.rendered_triangles(scene)
    left = scenes.scene_camera(scene)
    right = moved(left, BASELINE)  # pivot left: the left view is the camera, the right one B along its x
    f = left.K[0, 0]
    for view, camera, other, prefix in ((left, left, right, ""), (right, right, left, "right_")):
        index, u, v, depth = surface(triangles_at, camera, 1)
        hit = index >= 0
        away = hit & away_from_edges(triangles_at, 1, index)
        disparity = np.load(out / f"{prefix}disparity_{1:04d}.npy")
        assert disparity.dtype == np.float32
        error = np.abs(disparity - f * BASELINE / depth)[away].max()
        assert error <= 1e-4, (prefix, error)
        sky = ~hit & away_from_edges(triangles_at, 1, index)
        assert sky.any() and (disparity[sky] == 0).all()  # a point at infinity, seen alike from both views
        assert (np.load(out / f"{prefix}disparity_valid_{1:04d}.npy") == hit)[away].all()
        points = triangle_ground_truth.point_on(triangles_at(1), index, u, v)
        x, y = project(other, 1, points).transpose(2, 0, 1)
        outside = (x < 0) | (x > other.width) | (y < 0) | (y > other.height)
        baked_outside = np.load(out / f"{prefix}disparity_outside_{1:04d}.npy")
        assert (baked_outside == (hit & outside))[away].all()
        hidden = triangle_ground_truth.hidden_from(other, 1, points, triangles_at(1)) & hit & ~outside
        baked_hidden = np.load(out / f"{prefix}disparity_occluded_{1:04d}.npy")
        judged = away & ~outside
        agree = (baked_hidden == hidden)[judged].mean()
        print(f"{prefix}disparity: worst error {error:.1e} px, stereo occlusion agrees on {100 * agree:.2f} % "
              f"({hidden[judged].sum()} occluded), {outside[hit].sum()} out of frame")
        assert agree >= 0.995 and hidden[judged].any()
        # the same surface point at frame 2, seen from this view's camera then
        later = planar_depth(camera, 2, triangle_ground_truth.point_on(triangles_at(2), index, u, v))
        change = np.load(out / f"{prefix}forward_disparity_change_{1:04d}.npy")
        valid = np.load(out / f"{prefix}forward_flow_valid_{1:04d}.npy") if not prefix else change != 0
        expected = f * BASELINE / later - f * BASELINE / depth
        change_error = np.abs(change - expected)[away & valid].max()
        assert change_error <= 1e-3, (prefix, change_error)
        assert np.abs(expected[away & valid]).max() > 0.05  # the scene's motion changes disparity
    # the right view's own flow, as the left view's is checked in tests/blender/test_bake_occlusion.py
    index, expected, hidden, _ = triangle_ground_truth.surface_motion(triangles_at, right, 1, 2)
    away = (index >= 0) & away_from_edges(triangles_at, 1, index)
    flow, valid = (np.load(out / f"right_forward_flow{kind}_{1:04d}.npy") for kind in ("", "_valid"))
    flow_error = np.abs(flow - expected)[away & valid].max()
    same = np.load(out / f"right_forward_flow_occluded_{1:04d}.npy") == hidden
    agree, off_edges = same[away & valid].mean(), same[away & valid & ~edges(hidden)].mean()
    print(f"right view's flow: worst error {flow_error:.1e} px, occlusion agrees on {100 * agree:.2f} % "
          f"({100 * off_edges:.2f} % away from occlusion edges)")
    assert flow_error <= 1e-3 and agree >= 0.97 and off_edges >= 0.995  # edges: as the left view's (flow_checks.py)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stereo_rig"]["view_offsets"] == pytest.approx([0.0, BASELINE])
    assert bpy.context.scene.render.use_multiview and bpy.context.scene.camera.name == "Camera"  # restored


def test_off_axis_right_image_is_blenders_own_right_view_and_disparity_has_the_rigs_constant(tmp_path):
    scene = stereo_scene("OFFAXIS", "CENTER", frames=2)
    scene.render.engine, scene.cycles.samples, scene.cycles.use_denoising = "CYCLES", 4, False
    scene.cycles.seed = 3
    out = tmp_path / "stereo"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), stereo=True, render_images=True) == {"FINISHED"}
    # Blender's own Stereo 3D render of frame 1: one PNG per view
    scene.frame_set(1)
    scene.render.image_settings.file_format, scene.render.image_settings.views_format = "PNG", "INDIVIDUAL"
    scene.render.use_motion_blur = False
    scene.render.filepath = str(tmp_path / "own")
    bpy.ops.render.render(write_still=True)
    for ours, own in (("right_colors", "R"), ("colors", "L")):
        theirs = scenes.png_pixels(tmp_path / f"own_{own}.png")[..., :3].astype(float)
        mine = scenes.png_pixels(out / f"{ours}_{1:04d}.png").astype(float)
        mse = ((mine - theirs) ** 2).mean()
        psnr = np.inf if mse == 0 else 10 * np.log10(255 ** 2 / mse)
        print(f"{ours}: PSNR {psnr:.1f} dB against Blender's Stereo 3D {own} view")
        assert psnr >= 40
    manifest = json.loads((out / "manifest.json").read_text())
    rig = manifest["stereo_rig"]
    assert rig["view_offsets"] == pytest.approx([-BASELINE / 2, BASELINE / 2]) and rig["convergence_mode"] == "offaxis"
    triangles_at = scenes.rendered_triangles(scene)
    left = moved(scenes.scene_camera(scene), -BASELINE / 2)
    width = left.width
    left.K[0, 2] -= rig["shift_x_added"][0] * width  # Blender's shift moves the principal point by shift × width
    index, _, _, depth = surface(triangles_at, left, 1)
    away = (index >= 0) & away_from_edges(triangles_at, 1, index)
    offset = np.load(out / f"disparity_{1:04d}.npy") - left.K[0, 0] * BASELINE / depth
    constant = (rig["shift_x_added"][1] - rig["shift_x_added"][0]) * width  # cx(left) − cx(right)
    assert np.abs(offset[away] - constant).max() <= 1e-3
    # the sky: a point at infinity, whose disparity is the constant alone (what Sintel's PNG then holds there)
    sky = (index < 0) & away_from_edges(triangles_at, 1, index)
    disparity, valid = (np.load(out / f"disparity{part}_{1:04d}.npy") for part in ("", "_valid"))
    assert sky.any() and np.abs(disparity[sky] - constant).max() <= 1e-4 and not valid[sky].any()


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
@pytest.mark.parametrize("change, message", [
    (lambda scene: setattr(scene.render, "use_multiview", False), "turn on Output Properties › Stereoscopy"),
    (lambda scene: setattr(scene.camera.data.stereo, "convergence_mode", "TOE"), "Toe-in: its views are not"),
    (lambda scene: setattr(scene.camera.data.stereo, "interocular_distance", 0.0), "Interocular Distance is 0"),
])
def test_a_rig_that_gives_no_rectified_views_is_refused_before_rendering(tmp_path, change, message):
    scene = stereo_scene(frames=2)
    change(scene)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "out"), stereo=True)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
def test_a_layout_without_room_for_stereo_is_refused(tmp_path):
    stereo_scene(frames=2)
    with pytest.raises(RuntimeError, match="COTRACKER layout has no place for the right view"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), stereo=True, layout="COTRACKER", point_tracks=True)


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
def test_flyingthings3d_layout_gets_the_right_view_disparity_and_the_link_scene_flow_stereo_reads(tmp_path):
    from manifest_walk import undescribed_files

    scene = stereo_scene(frames=3)
    scene.render.engine, scene.cycles.samples = "CYCLES", 1
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), stereo=True, layout="FLYINGTHINGS3D",
                                            sequence="shot", segmentation=True) == {"FINISHED"}
    top = tmp_path / "FlyingThings3D"
    assert (tmp_path / "SceneFlow" / "FlyingThings3D").resolve() == top.resolve()
    for folder in ("frames_cleanpass/TRAIN/A/shot/right", "disparity/TRAIN/A/shot/left",
                   "disparity/TRAIN/A/shot/right", "disparity_change/TRAIN/A/shot/into_future/left",
                   "disparity_change/TRAIN/A/shot/into_past/right"):
        assert sorted(p.name for p in (top / folder).iterdir()) == [f"{i:04d}.{'png' if 'frames' in folder else 'pfm'}"
                                                                  for i in range(3)], folder
    assert undescribed_files(top / "shot.manifest.json") == []
    data = (top / "object_index/TRAIN/A/shot/left/0001.pfm").read_bytes()  # one float channel, rows bottom-up
    index = np.frombuffer(data.split(b"\n", 3)[3], "<f4").reshape(48 * 2, 64 * 2)[::-1]
    assert (index == np.round(index)).all() and len(np.unique(index)) >= 4  # the background and three objects
