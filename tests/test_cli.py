"""``python -m optical_flow_addon`` as users run it, in a fresh process."""
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]


def run(*arguments, timeout=300):
    return subprocess.run([sys.executable, "-m", "optical_flow_addon", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_bakes_the_five_blenderproc_poses(tmp_path):
    result = run("demo", str(tmp_path), "--resolution", "80x60")
    assert result.returncode == 0, result.stderr
    assert "Flow for 5 frames written" in result.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["forward_flow_frames"] == [1, 2, 3, 4] and manifest["backward_flow_frames"] == [2, 3, 4, 5]
    assert manifest["resolution"] == {"width": 80, "height": 60}
    # pose 2 -> 3 moves the camera 2 m to the right: the scene moves left in the image
    flow, valid = np.load(tmp_path / "forward_flow_0002.npy"), np.load(tmp_path / "forward_flow_valid_0002.npy")
    assert np.median(flow[valid][:, 0]) < -1
    np.testing.assert_allclose(manifest["frames"][2]["camera_to_world"][0][3], 2.0, atol=1e-6)


def test_bake_a_mesh_file_with_poses_and_frame_subrange(tmp_path):
    mesh = tmp_path / "wall.obj"
    mesh.write_text("v -20 -20 -5\nv 20 -20 -5\nv 20 20 -5\nv -20 20 -5\nf 1 2 3 4\n")  # OBJ is y-up: a wall at Blender y = 5
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0 1.5707963 0 0\n0.5 -5 0 1.5707963 0 0\n1 -5 0 1.5707963 0 0\n")
    out = tmp_path / "out"
    result = run("bake", str(mesh), str(out), "--poses", str(poses), "--resolution", "32x24",
                 "--frames", "2-3", "--formats", "npy")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "backward_flow_0002.npy", "backward_flow_0003.npy", "backward_flow_occluded_0002.npy",
        "backward_flow_occluded_0003.npy", "backward_flow_valid_0002.npy", "backward_flow_valid_0003.npy",
        "forward_flow_0002.npy", "forward_flow_occluded_0002.npy", "forward_flow_valid_0002.npy", "manifest.json"]
    assert np.all(np.load(out / "forward_flow_0002.npy")[..., 0] < 0)


def test_pose_conventions_from_the_command_line(tmp_path):
    """View matrices in OpenCV camera axes and centimetres: the flags say so, the manifest gets Blender poses."""
    mesh = tmp_path / "wall.obj"
    mesh.write_text("v -20 -20 -5\nv 20 -20 -5\nv 20 20 -5\nv -20 20 -5\nf 1 2 3 4\n")
    looking_along_y = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)  # OpenCV camera: x right, y down, z along +y
    lines = []
    for x_cm in (0, 50, 100):
        camera_to_world = np.eye(4)
        camera_to_world[:3, :3], camera_to_world[:3, 3] = looking_along_y, (x_cm, -500, 0)
        lines.append(" ".join(f"{v:.9g}" for v in np.linalg.inv(camera_to_world).ravel()))
    poses = tmp_path / "view_matrices.txt"
    poses.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = run("bake", str(mesh), str(out), "--poses", str(poses), "--resolution", "32x24", "--formats", "npy",
                 "--pose-format", "matrices", "--camera-axes", "opencv", "--pose-direction", "world_to_camera",
                 "--world-up", "z", "--pose-scale", "0.01")
    assert result.returncode == 0, result.stderr
    frames = json.loads((out / "manifest.json").read_text())["frames"]
    blender_axes = looking_along_y @ np.diag([1, -1, -1])  # Blender's camera looks along its -z
    for frame, x in zip(frames, (0.0, 0.5, 1.0)):
        pose = np.array(frame["camera_to_world"])
        np.testing.assert_allclose(pose[:3, 3], (x, -5, 0), atol=1e-5)
        np.testing.assert_allclose(pose[:3, :3], blender_axes, atol=1e-5)
    assert np.all(np.load(out / "forward_flow_0002.npy")[..., 0] < 0)  # camera moves right: the wall moves left
    result = run("bake", str(mesh), str(out), "--poses", str(poses), "--pose-direction", "sideways")
    assert result.returncode == 2 and "invalid choice: 'SIDEWAYS'" in result.stderr


def test_bad_input_is_one_clear_line_and_exit_code_1(tmp_path):
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0 1.5 0\n")
    result = run("demo", str(tmp_path / "out"), "--resolution", "16x12")
    assert result.returncode == 0
    result = run("bake", str(tmp_path / "missing.blend"), str(tmp_path / "o"))
    assert result.returncode == 1 and "error: Scene file" in result.stderr and "does not exist" in result.stderr
    mesh = tmp_path / "m.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    result = run("bake", str(mesh), str(tmp_path / "o"), "--poses", str(poses))
    assert result.returncode == 1 and "camera_positions, line 1: expected 6 numbers" in result.stderr
    assert "Traceback" not in result.stderr


def test_versions_agree():
    import optical_flow_addon

    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    bl_info_version = (ROOT / "__init__.py").read_text().split('"version": ')[1].split(")")[0] + ")"
    assert manifest["version"] == optical_flow_addon.__version__
    assert eval(bl_info_version) == tuple(int(p) for p in optical_flow_addon.__version__.split("."))
