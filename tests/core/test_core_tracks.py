"""The pure parts of point tracks: how many query points each frame gets, which candidates a balanced choice
takes, the camera's rays and projection, and files that are the same bytes for the same tracks."""
import numpy as np

from optical_flow_addon.core.tracks import (barycentric, choose, outside_view, pixel_rays, point_at, project,
                                            queries_per_frame, save_arrays)


def test_queries_spread_evenly_over_the_frames_or_all_on_the_first():
    assert queries_per_frame(10, 4, False).tolist() == [2, 3, 2, 3]
    assert queries_per_frame(2048, 24, False).sum() == 2048
    assert queries_per_frame(7, 3, True).tolist() == [7, 0, 0]


def test_a_balanced_choice_takes_each_object_in_turn():
    owners = np.array([0, 0, 0, 0, 0, 0, 1, 0, 2, 2])  # the floor (0) comes up first and most
    assert choose(owners, 4, balance=False).tolist() == [0, 1, 2, 3]
    picked = choose(owners, 5, balance=True)
    assert sorted(owners[picked].tolist()) == [0, 0, 1, 2, 2]
    assert picked.tolist()[:3] == [0, 6, 8]  # the first of each object, in the order drawn
    assert len(choose(owners, 50, balance=True)) == 10


def test_rays_through_pixel_centres_project_back_onto_them():
    intrinsics = np.array([[80.0, 0, 31.5], [0, 80.0, 23.5], [0, 0, 1]])
    turn = np.radians(20)
    camera_to_world = np.array([[1, 0, 0, 0.5], [0, np.cos(turn), -np.sin(turn), -9],
                                [0, np.sin(turn), np.cos(turn), 1], [0, 0, 0, 1]])
    rows, cols = np.array([0, 10, 47]), np.array([0, 40, 63])
    origin, directions = pixel_rays(intrinsics, camera_to_world, rows, cols)
    xy, depth = project(origin + 5 * directions, intrinsics, camera_to_world)
    assert np.allclose(xy, np.stack([cols + 0.5, rows + 0.5], axis=1), atol=1e-9) and (depth > 0).all()
    _, behind = project(origin - 5 * directions, intrinsics, camera_to_world)
    assert (behind < 0).all() and outside_view(xy, behind, 64, 48).all() and not outside_view(xy, depth, 64, 48).any()


def test_barycentric_coordinates_give_back_the_point_a_ray_crosses():
    corners = np.array([[[0.0, 0, 0], [2, 0, 0], [0, 2, 0]]])
    origin, direction = np.array([0.5, 0.25, 3.0]), np.array([[0.0, 0, -1]])
    uv = barycentric(corners, origin, direction)
    assert np.allclose(uv, [[0.25, 0.125]]) and np.allclose(point_at(corners, uv), [[0.5, 0.25, 0]])


def test_track_files_are_the_same_bytes_for_the_same_tracks(tmp_path):
    arrays = {"target_points": np.arange(12, dtype=np.float32).reshape(2, 3, 2), "objects": np.array(["Cube"])}
    save_arrays(tmp_path / "a.npz", arrays)
    save_arrays(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as loaded:
        assert (loaded["target_points"] == arrays["target_points"]).all() and loaded["objects"][0] == "Cube"
