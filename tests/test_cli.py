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
        "backward_flow_0002.npy", "backward_flow_0003.npy", "backward_flow_valid_0002.npy",
        "backward_flow_valid_0003.npy", "forward_flow_0002.npy", "forward_flow_valid_0002.npy", "manifest.json"]
    assert np.all(np.load(out / "forward_flow_0002.npy")[..., 0] < 0)


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
