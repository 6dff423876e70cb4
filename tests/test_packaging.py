"""The release zips: built by tools/build.py, checked by Blender's own extension tool, installed
into a clean Blender user folder and baked with. Runs on each bpy version of tools/test.sh."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

bpy_spec = pytest.importorskip("bpy").__spec__  # the extension tool comes from the bpy module
pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
BLENDER_EXT = sorted(Path(bpy_spec.submodule_search_locations[0]).glob(
    "*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))[0]
PLATFORM_TAGS = {  # Blender platform -> pattern of the wheel platform tags it may carry
    "linux_x64": r"manylinux_\d+_\d+_x86_64|manylinux2014_x86_64",
    "linux_arm64": r"manylinux_\d+_\d+_aarch64|manylinux2014_aarch64",
    "windows_x64": r"win_amd64",
    "macos_arm64": r"macosx_\d+_\d+_arm64",
    "macos_x64": r"macosx_\d+_\d+_x86_64",
}


@pytest.fixture(scope="session")
def dist(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "tools/build.py", "--dist", str(folder), "--blender-ext", str(BLENDER_EXT)]
    result = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(path)], capture_output=True, text=True)


def test_source_manifest_validates_and_declares_the_files_permission():
    result = validate(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert manifest["permissions"]["files"].strip()
    assert "wheels" not in manifest and "platforms" not in manifest  # written by the build only


def test_validation_catches_a_broken_manifest(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = (ROOT / "blender_manifest.toml").read_text()
    (broken / "blender_manifest.toml").write_text(manifest.replace('id = "optical_flow"', 'id = "optical flow"'))
    assert validate(broken).returncode != 0


def test_one_validated_zip_per_platform_with_both_pythons_wheels(dist):
    zips = {re.fullmatch(r"optical_flow-[\d.]+-(\w+)\.zip", p.name).group(1): p for p in dist.glob("*.zip")}
    assert set(zips) == {*PLATFORM_TAGS, "legacy"}
    for platform, tags in PLATFORM_TAGS.items():
        path = zips[platform]
        result = validate(path)
        assert result.returncode == 0, result.stdout + result.stderr
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
        generated = manifest["build"]["generated"]
        assert generated["platforms"] == [platform.replace("_", "-")]
        wheels = [w.removeprefix("./") for w in generated["wheels"]]
        assert set(wheels) == {n for n in names if n.endswith(".whl")}
        found = set()
        for wheel in wheels:
            name, _version, python, _abi, tag = Path(wheel).stem.split("-")
            assert all(re.fullmatch(tags, part) for part in tag.split(".")), f"{wheel} is not a {platform} wheel"
            found.add((name.lower(), python))
        assert found == {(n, p) for n in ("openexr", "h5py", "isal") for p in ("cp311", "cp313")}, platform
        assert "__init__.py" in names and "optical_flow_addon/blender/preferences.py" in names and "LICENSE" in names
        assert not any(n.startswith(("tests/", "tools/")) for n in names)


def test_legacy_zip_is_one_folder_with_bl_info_for_blender_3_4(dist):
    (path,) = dist.glob("*-legacy.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        init = archive.read("optical_flow/__init__.py").decode()
    assert {n.split("/")[0] for n in names} == {"optical_flow"} and "optical_flow/LICENSE" in names
    assert not any(n.endswith((".whl", ".toml")) or "__pycache__" in n for n in names)
    bl_info = next(ast.literal_eval(node.value) for node in ast.parse(init).body
                   if isinstance(node, ast.Assign) and node.targets[0].id == "bl_info")
    assert bl_info["blender"] == (3, 4, 0)


INSTALL_AND_BAKE = r"""
import json, os, sys
import bpy, addon_utils
zip_path, out = sys.argv[1:3]
result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
import OpenEXR, h5py, isal
for obj in list(bpy.data.objects):  # keep the preferences: factory settings would disable the extension
    bpy.data.objects.remove(obj)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 32, 24, 100
bpy.ops.mesh.primitive_plane_add(size=100)
camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
camera.data.lens, camera.data.sensor_width, camera.data.sensor_fit = 50, 36, "HORIZONTAL"
scene.collection.objects.link(camera)
scene.camera = camera
for frame, x in ((1, 0.0), (2, 0.5)):
    camera.location = (x, 0, 10)
    camera.keyframe_insert("location", frame=frame)
scene.frame_start, scene.frame_end = 1, 2
bake = bpy.ops.optical_flow.render_flow(output_dir=out)
print("RESULT", json.dumps({
    "install": sorted(result), "bake": sorted(bake),
    "enabled": [a.module for a in bpy.context.preferences.addons if a.module.endswith("optical_flow")],
    "OpenEXR": OpenEXR.__file__, "h5py": h5py.__file__, "isal": isal.__file__,
}))
sys.stdout.flush()
os._exit(0)
"""


def isolated_site(tmp_path: Path) -> Path:
    """This venv's packages without OpenEXR, h5py and isal: Blender must take them from the zip's wheels."""
    site = tmp_path / "site"
    site.mkdir()
    packages = Path(bpy_spec.submodule_search_locations[0]).parent
    for entry in packages.iterdir():
        if not re.match(r"(openexr|imath|h5py|isal)", entry.name, re.IGNORECASE):
            (site / entry.name).symlink_to(entry)
    return site


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                    reason="installs the linux-x64 zip")
def test_extension_zip_installs_into_a_clean_blender_and_bakes(dist, tmp_path):
    home, out = tmp_path / "home", tmp_path / "flow"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLENDER_USER", "XDG_", "PYTHON"))}
    env.update(HOME=str(home), PYTHONPATH=str(isolated_site(tmp_path)))
    (path,) = dist.glob("*-linux_x64.zip")
    result = subprocess.run([sys.executable, "-S", "-c", INSTALL_AND_BAKE, str(path), str(out)],
                            env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(lines[0].removeprefix("RESULT "))
    assert report["install"] == ["FINISHED"] and report["bake"] == ["FINISHED"]
    assert report["enabled"] == ["bl_ext.user_default.optical_flow"]
    extension_site = home / ".config" / "blender"
    for module in ("OpenEXR", "h5py", "isal"):  # from the zip's wheels, installed under the clean user folder
        assert Path(report[module]).is_relative_to(extension_site), report[module]
    # Camera 0.5 m to the right over a plane 10 m below: the ground moves left by f * 0.5 / 10 pixels.
    expected = 50 / 36 * 32 * 0.5 / 10
    forward, valid = np.load(out / "forward_flow_0001.npy"), np.load(out / "forward_flow_valid_0001.npy")
    assert valid.mean() > 0.85
    np.testing.assert_allclose(forward[valid], np.broadcast_to([-expected, 0.0], forward[valid].shape), atol=1e-3)
    import h5py

    with h5py.File(out / "2.hdf5") as file:
        backward = file["backward_flow"][:][file["backward_flow_valid"][:]]
    np.testing.assert_allclose(backward, np.broadcast_to([expected, 0.0], backward.shape), atol=1e-3)
    assert json.loads((out / "manifest.json").read_text())["forward_flow_frames"] == [1]
