"""Pose files and intrinsics (no bpy)."""
import numpy as np
import pytest

from optical_flow_addon.core.camera import BlenderCamera
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.poses import read_camera_poses


def test_blenderproc_file_with_comments(tmp_path):
    path = tmp_path / "camera_positions"
    path.write_text("# x y z rx ry rz\n0 -10 4 1.3 0 0 # start\n\n1 2 3 0 0 1.5707963267948966\n")
    poses = read_camera_poses(path)
    assert len(poses.camera_to_world) == 2
    np.testing.assert_allclose(poses.camera_to_world[0][:3, 3], [0, -10, 4])
    # 90° about z maps the camera's x axis to world y
    np.testing.assert_allclose(poses.camera_to_world[1][:3, 0], [0, 1, 0], atol=1e-12)


@pytest.mark.parametrize("text, message", [
    ("0 0 0 0 0\n", r"line 1: expected 6 numbers .*found 5"),
    ("0 0 0 0 0 0\n0 0 x 0 0 0\n", r"line 2: expected 6 numbers"),
    ("0 0 0 0 0 nan\n", r"line 1: numbers must be finite"),
    ("# only a comment\n", r"contains no camera poses"),
])
def test_bad_blenderproc_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "poses.txt"
    path.write_text(text)
    with pytest.raises(FlowError, match=message):
        read_camera_poses(path, "BLENDERPROC")


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(FlowError, match="does not exist"):
        read_camera_poses(tmp_path / "nope")
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(FlowError, match="is not a text file"):
        read_camera_poses(tmp_path / "bin")
    (tmp_path / "odd.json").write_text("1 2 3\n")
    with pytest.raises(FlowError, match="matches no known format"):
        read_camera_poses(tmp_path / "odd.json")
    (tmp_path / "camera_positions").write_text("0 0 0 0 0 0\n1 2 3\n")
    with pytest.raises(FlowError, match="line 2: expected 6 numbers"):
        read_camera_poses(tmp_path / "camera_positions")


def test_default_camera_intrinsics():
    k = BlenderCamera(50, 36, 24, "AUTO", 0, 0, 64, 48).intrinsics()
    np.testing.assert_allclose(k, [[50 / 36 * 64, 0, 31.5], [0, 50 / 36 * 64, 23.5], [0, 0, 1]])


def test_portrait_image_fits_the_sensor_to_its_height():
    k = BlenderCamera(50, 36, 24, "AUTO", 0, 0, 48, 64).intrinsics()
    assert k[0, 0] == pytest.approx(50 / 36 * 64) and k[0, 2] == pytest.approx(23.5)
