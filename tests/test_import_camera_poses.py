"""Importing BlenderProc camera_positions keyframes the camera exactly."""
import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402

SEED = "0 -10 4 1.3 0 0\n0 -12 4 1.3 0 0\n2 -12 4 1.3 0 0\n2 -12 6 1.3 0 0\n1 -11 5 1.3 0 0.2\n"


def expected_matrix(x, y, z, rx, ry, rz):
    """Independent composition: R = Rz @ Ry @ Rx (Blender's XYZ Euler), then translation."""
    c, s = math.cos, math.sin
    rot_x = np.array([[1, 0, 0], [0, c(rx), -s(rx)], [0, s(rx), c(rx)]])
    rot_y = np.array([[c(ry), 0, s(ry)], [0, 1, 0], [-s(ry), 0, c(ry)]])
    rot_z = np.array([[c(rz), -s(rz), 0], [s(rz), c(rz), 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rot_z @ rot_y @ rot_x
    matrix[:3, 3] = (x, y, z)
    return matrix


def test_blenderproc_poses_become_keyframes(tmp_path):
    scene = scenes.empty_scene()
    scene.frame_start = 10
    path = tmp_path / "camera_positions"
    path.write_text(SEED)
    assert bpy.ops.optical_flow.import_camera_poses(filepath=str(path)) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (10, 14)
    for frame, line in enumerate(SEED.splitlines(), start=10):
        scene.frame_set(frame)
        np.testing.assert_allclose(np.array(scene.camera.matrix_world), expected_matrix(*map(float, line.split())), atol=1e-6)


def test_bad_pose_file_names_file_and_line(tmp_path):
    scene = scenes.empty_scene()
    path = tmp_path / "camera_positions"
    path.write_text("0 -10 4 1.3 0 0\n0 -12 4 1.3 zero 0\n")
    with pytest.raises(RuntimeError, match=r"camera_positions, line 2: expected 6 numbers"):
        bpy.ops.optical_flow.import_camera_poses(filepath=str(path), format="BLENDERPROC")
    assert scene.camera is None and len(bpy.data.objects) == 0
