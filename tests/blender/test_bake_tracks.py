"""Point tracks against the triangle ray caster: a ray through each query point at its query frame finds a triangle
and barycentric point of Blender's evaluated triangles; the same point on the same triangle at every frame, projected,
is where the track must be, and a ray from that frame's camera towards it decides occlusion. Files are read the way
CoTracker's KubricMovifDataset, TAP-Vid's readers and PointOdyssey's loaders read them."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from ground_truth import project  # noqa: E402
from manifest_walk import undescribed_files  # noqa: E402

TOLERANCE_PX = 1e-3
ROOT = Path(__file__).resolve().parents[2]


def reference(triangles_at, camera, frames, query_points):
    """Image positions (N×T×2), occlusion (N×T) and world points (N×T×3) of the ray caster's tracks."""
    count = len(query_points)
    target = np.zeros((count, len(frames), 2))
    hidden = np.zeros((count, len(frames)), bool)
    world = np.zeros((count, len(frames), 3))
    (fx, _, cx), (_, fy, cy) = camera.K[:2]
    for t in np.unique(query_points[:, 0]).astype(int):
        rows = np.flatnonzero(query_points[:, 0] == t)
        y, x = query_points[rows, 1] - 0.5, query_points[rows, 2] - 0.5  # OpenCV pixel coordinates
        m = camera.matrices[frames[t]]
        directions = np.stack([(x - cx) / fx, -(y - cy) / fy, -np.ones_like(x)], axis=-1) @ m[:3, :3].T
        origins = np.broadcast_to(m[:3, 3], directions.shape)
        _, index, u, v = triangle_ground_truth.first_hits(origins, directions, triangles_at(frames[t]))
        assert (index >= 0).all(), "a query point lies on no surface"
        for i, frame in enumerate(frames):
            points = triangle_ground_truth.point_on(triangles_at(frame), index, u, v)
            world[rows, i] = points
            target[rows, i] = project(camera, frame, points)
            local = (points - camera.matrices[frame][:3, 3]) @ camera.matrices[frame][:3, :3]
            x_, y_ = target[rows, i].T
            outside = (local[:, 2] >= 0) | (x_ < 0) | (x_ > camera.width) | (y_ < 0) | (y_ > camera.height)
            hidden[rows, i] = outside | triangle_ground_truth.hidden_from(camera, frame, points, triangles_at(frame))
    return target, hidden, world


def check_tracks(tracks, triangles_at, camera, frames):
    """Positions within TOLERANCE_PX where visible, 3-D points within 1e-4 m, occlusion agreeing on ≥ 99.5 %;
    returns the agreement."""
    target, hidden, world = reference(triangles_at, camera, frames, tracks["query_points"])
    visible = ~hidden
    error = np.abs(tracks["target_points"] - target)[visible].max()
    assert error <= TOLERANCE_PX, error
    assert np.abs(tracks["points_3d"] - world).max() <= 1e-4
    rows = np.arange(len(target))
    query_frame = tracks["query_points"][:, 0].astype(int)
    assert (tracks["target_points"][rows, query_frame] == tracks["query_points"][:, [2, 1]]).all()
    agree = (tracks["occluded"] == hidden).mean()
    print(f"{len(rows)} tracks × {len(frames)} frames: worst position error {error:.1e} px, occlusion agrees on "
          f"{100 * agree:.2f} % ({(tracks['occluded'] != hidden).sum()} pairs differ), "
          f"{100 * hidden.mean():.1f} % occluded")
    assert agree >= 0.995 and hidden.any() and visible.any()
    return agree


def load_tracks(path):
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def test_tracks_follow_rigid_shape_key_and_armature_motion_exactly_with_occlusion(tmp_path):
    scene, _ = scenes.occlusion_scene(6)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), point_tracks=True, track_count=400, track_seed=7,
                                            output_formats={"NPY", "HDF5_SEQUENCE"}) == {"FINISHED"}
    tracks = load_tracks(out / "tracks.npz")
    import h5py

    with h5py.File(out / "flow_sequence.hdf5", "r") as file:  # the same arrays in the sequence file
        assert sorted(file["tracks"]) == sorted(tracks)
        assert (file["tracks/target_points"][()] == tracks["target_points"]).all()
        assert file["tracks/objects"][()].astype(str).tolist() == tracks["objects"].tolist()
    frames = list(range(1, 7))
    assert tracks["frames"].tolist() == frames
    assert tracks["target_points"].shape == (400, 6, 2) and tracks["occluded"].shape == (400, 6)
    assert tracks["query_points"].dtype == np.float32 and tracks["occluded"].dtype == bool
    # spread evenly over the frames, on pixel centres
    assert np.bincount(tracks["query_points"][:, 0].astype(int)).tolist() == [66, 67, 67, 66, 67, 67]
    assert (tracks["query_points"][:, 1:] % 1 == 0.5).all()
    check_tracks(tracks, scenes.rendered_triangles(scene), scenes.scene_camera(scene), frames)
    # every deforming mesh and the rigid box get tracks
    objects = tracks["objects"][tracks["object_index"]]
    assert {"Cube", "Sphere", "Cylinder", "Plane"} <= set(objects), set(objects)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tracks"]["count"] == 400 and manifest["tracks"]["untracked_objects"] == {}
    assert undescribed_files(out / "manifest.json") == []
    camera = scenes.scene_camera(scene)
    k = tracks["intrinsics"][0]
    assert np.allclose(k[:2, 2], camera.K[:2, 2] + 0.5) and np.allclose(k[0, 0], camera.K[0, 0])


def test_every_object_kind_gets_exact_balanced_tracks_and_a_chunk_writes_the_same_file(tmp_path):
    scene, kinds = scenes.every_kind_scene(tmp_path)
    out = tmp_path / "flow"
    settings = {"point_tracks": True, "track_count": 600, "track_balance": True}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), **settings) == {"FINISHED"}
    tracks = load_tracks(out / "tracks.npz")
    character = kinds["Character"].modifiers["Subdivision"]
    character.levels = character.render_levels  # the reference follows the render's geometry
    check_tracks(tracks, scenes.rendered_triangles(scene), scenes.scene_camera(scene), list(range(1, 5)))
    character.levels = 0
    per_object = np.bincount(tracks["object_index"], minlength=len(tracks["objects"]))
    named = dict(zip(tracks["objects"].tolist(), per_object.tolist()))
    for kind in kinds.values():
        assert named.get(kind.name, 0) >= 10, (kind.name, named)
    assert per_object.max() <= 4 * np.median(per_object), named  # balanced: the wall does not take them all
    # a chunk holding the sequence's first frame follows the whole sequence's tracks: the same bytes
    chunk = tmp_path / "chunk"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(chunk), use_scene_frame_range=False, frame_start=1,
                                            frame_end=2, **settings) == {"FINISHED"}
    assert (chunk / "tracks.npz").read_bytes() == (out / "tracks.npz").read_bytes()


def test_tracks_follow_vertex_instances_and_never_the_child_the_render_leaves_out(tmp_path):
    """Boxes instanced on the vertices of a moving, bending grid: the render leaves out the box itself (the grid's
    child, which the viewport still shows where it is), so no track starts on it and it hides none."""
    scene, _ = scenes.emitter_scene("vertices", size=0.4)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), point_tracks=True, track_count=600) == {"FINISHED"}
    check_tracks(load_tracks(out / "tracks.npz"), scenes.rendered_triangles(scene), scenes.scene_camera(scene),
                 [1, 2, 3])


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
def test_cotracker_layout_tapvid_and_pointodyssey_files_load_as_their_readers_read_them(tmp_path):
    scene, _ = scenes.deforming_scene(4)
    scene.render.engine, scene.cycles.samples = "CYCLES", 1  # the layout renders images: quick ones
    out = tmp_path / "cotracker"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), layout="COTRACKER", sequence="shot",
                                            point_tracks=True, track_count=120, track_queries="FIRST",
                                            track_formats={"TAPVID", "POINTODYSSEY"}) == {"FINISHED"}
    # KubricMovifDataset: every folder under the root is a sequence; sorted frames; the .npy's dict; negated
    sequences = [name for name in os.listdir(out) if os.path.isdir(out / name)]
    assert sequences == ["shot"] and undescribed_files(out / "shot.manifest.json") == []
    frames = sorted(os.listdir(out / "shot" / "frames"))
    assert frames == ["000.png", "001.png", "002.png", "003.png"]
    annotations = np.load(out / "shot" / "shot.npy", allow_pickle=True).item()
    coords, visible = annotations["coords"], np.logical_not(annotations["visibility"])
    tracks = load_tracks(out / "shot" / "tracks.npz")
    assert coords.shape == (120, 4, 2) and (coords == tracks["target_points"]).all()
    assert (tracks["query_points"][:, 0] == 0).all()  # TAP-Vid's "first" mode
    triangles_at, camera = scenes.rendered_triangles(scene), scenes.scene_camera(scene)
    check_tracks({**tracks, "target_points": coords, "occluded": ~visible}, triangles_at, camera, [1, 2, 3, 4])
    # TAP-Vid's DAVIS file: sequence -> video, points normalised by width and height, occluded
    with open(out / "shot" / "tapvid.pkl", "rb") as file:
        davis = pickle.load(file)
    sample = davis["shot"]
    assert sample["video"].shape == (4, camera.height, camera.width, 3) and sample["video"].dtype == np.uint8
    assert np.allclose(sample["points"] * [camera.width, camera.height], coords, atol=1e-4)
    assert (sample["occluded"] == annotations["visibility"]).all()
    # PointOdyssey: frames first, visibs True where visible
    odyssey = load_tracks(out / "shot" / "annotations.npz")
    assert odyssey["trajs_2d"].shape == (4, 120, 2) and odyssey["trajs_3d"].dtype == np.float32
    assert (odyssey["visibs"] == visible.T).all() and odyssey["extrinsics"].shape == (4, 4, 4)


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
@pytest.mark.parametrize("settings, message", [
    ({"track_count": 64 * 48 + 1, "track_queries": "FIRST"}, "more than the 3072 pixels of the first frame"),
    ({"layout": "SINTEL"}, "SINTEL layout has no place for point tracks"),
    ({"track_formats": {"TAPVID"}}, "turn on Images for the TAPVID track format"),
])
def test_bad_track_settings_are_refused_before_rendering(tmp_path, settings, message):
    scenes.deforming_scene(3)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "out"), point_tracks=True, **settings)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
def test_a_scene_with_nothing_to_track_writes_an_empty_tracks_file_and_says_so(tmp_path, capfd):
    scene = scenes.empty_scene()
    scenes.add_camera(scene, [((0, -9, 0.5), (1.5, 0, 0))] * 3)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), point_tracks=True, track_count=10) == {
        "FINISHED"}
    tracks = load_tracks(tmp_path / "tracks.npz")
    assert tracks["target_points"].shape == (0, 3, 2) and tracks["query_points"].shape == (0, 3)
    assert json.loads((tmp_path / "manifest.json").read_text())["tracks"]["count"] == 0
    assert "Only 0 of the 10 query points asked for lie on surfaces that can be tracked" in capfd.readouterr().out


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
def test_the_command_line_bakes_tracks_and_vis_draws_them_on_the_frame(tmp_path):
    def run(*arguments):
        return subprocess.run([sys.executable, "-m", "optical_flow_addon", *arguments], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    out = tmp_path / "demo"
    result = run("demo", str(out), "--resolution", "80x60", "--tracks", "40", "--track-formats", "tapvid",
                 "--track-seed", "3")
    assert result.returncode == 0, result.stderr
    tracks = load_tracks(out / "tracks.npz")
    assert len(tracks["query_points"]) == 40 and (out / "tapvid.pkl").is_file()
    picture_path = tmp_path / "tracks.png"
    result = run("vis", str(out / "tracks.npz"), "--output", str(picture_path), "--frame", "4")
    assert result.returncode == 0, result.stderr
    assert "40 tracks at frame 4" in result.stdout
    picture, image = scenes.png_pixels(picture_path), scenes.png_pixels(out / "colors_0004.png")
    scale = picture.shape[0] // image.shape[0]
    assert picture.shape[:2] == (60 * scale, 80 * scale)
    x, y = (tracks["target_points"][:, 4] * scale).astype(int).T
    seen = (0 <= x) & (x < picture.shape[1]) & (0 <= y) & (y < picture.shape[0]) & ~tracks["occluded"][:, 4]
    enlarged = image.repeat(scale, axis=0).repeat(scale, axis=1)
    assert seen.sum() >= 10 and (picture[y[seen], x[seen]] != enlarged[y[seen], x[seen]]).any(axis=1).all()


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
def test_show_tracks_puts_the_tracks_of_the_current_frame_into_an_image(tmp_path):
    scene, _ = scenes.deforming_scene(3)
    assert bpy.ops.optical_flow.show_tracks.poll() is False  # nothing baked yet
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), point_tracks=True, track_count=30) == {
        "FINISHED"}
    scene.frame_set(2)
    assert bpy.ops.optical_flow.show_tracks() == {"FINISHED"}
    image = next(image for image in bpy.data.images if image.get("optical_flow_picture"))
    pixels = np.array(image.pixels[:]).reshape(image.size[1], image.size[0], 4)
    assert image.size[0] % 64 == 0 and len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 5  # grey + tracks
