"""The legacy zip in a real `blender` program (Debian's Blender 3.4 on CI), driven as users do:
install from the zip, Install Dependencies, then `blender -b file.blend --python-expr ...`.

Debian's Blender links the system OpenEXR library and exports it to every Python module, so the
OpenEXR module cannot be used there (it would crash Blender): the headless bake must stop with a
clear error and exit code 1, leaving the .blend file and the output folder as they were.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [
    pytest.mark.blender_binary,
    pytest.mark.skipif(importlib.util.find_spec("bpy") is not None,
                       reason="runs once, in tools/test.sh's run without the bpy module"),
]

ROOT = Path(__file__).resolve().parents[2]


def blender_program() -> str:
    program = shutil.which("blender")
    if program is None:
        message = "the blender program is not installed (apt-get install blender)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    return program


class Blender:
    """The blender program with its own clean user folders (preferences, scripts, modules)."""

    def __init__(self, program: str, home: Path) -> None:
        self.program = program
        self.modules = home / "scripts" / "modules"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("BLENDER_", "XDG_", "PYTHON"))}
        self.env.update(HOME=str(home), BLENDER_USER_CONFIG=str(home / "config"),
                        BLENDER_USER_SCRIPTS=str(home / "scripts"), BLENDER_USER_DATAFILES=str(home / "data"),
                        PIP_CACHE_DIR=str(ROOT / "build" / "pip-cache"))

    def run(self, *arguments: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run([self.program, "-b", *arguments], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def python(self, code: str, *before: str) -> subprocess.CompletedProcess:
        return self.run(*before, "--python-exit-code", "1", "--python-expr", code)

    def report(self, expression: str) -> dict:
        result = self.python(f"import bpy, json; print('REPORT', json.dumps({expression}))")
        lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
        assert result.returncode == 0 and lines, result.stdout[-2000:] + result.stderr[-2000:]
        return json.loads(lines[0].removeprefix("REPORT "))


@pytest.fixture(scope="module")
def blender(tmp_path_factory) -> Blender:
    """Debian's Blender with the legacy zip installed and enabled in a clean user folder."""
    program = blender_program()
    folder = tmp_path_factory.mktemp("blender")
    built = subprocess.run([sys.executable, "tools/build.py", "--legacy-only", "--dist", str(folder / "dist")],
                           cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (legacy_zip,) = (folder / "dist").glob("*-legacy.zip")
    blender = Blender(program, folder / "home")
    installed = blender.python(f"import bpy; bpy.ops.preferences.addon_install(filepath={str(legacy_zip)!r}); "
                               "bpy.ops.preferences.addon_enable(module='optical_flow'); bpy.ops.wm.save_userpref()")
    assert installed.returncode == 0, installed.stderr
    return blender


@pytest.fixture(scope="module")
def with_dependencies(blender) -> tuple[Blender, dict, subprocess.CompletedProcess]:
    """Press Install Dependencies (pip from PyPI into the user modules folder)."""
    before = blender.report("{name: __import__('importlib.util').util.find_spec(name) is not None"
                            " for name in ('numpy', 'OpenEXR', 'h5py')}")
    pressed = blender.python("import bpy; bpy.ops.optical_flow.install_dependencies()")
    return blender, before, pressed


def test_legacy_zip_installs_and_registers_in_a_clean_user_folder(blender):
    state = blender.report("""{
        'enabled': 'optical_flow' in bpy.context.preferences.addons,
        'preferences': type(bpy.context.preferences.addons['optical_flow'].preferences).__name__,
        'install_button': hasattr(bpy.types, 'OPTICAL_FLOW_OT_install_dependencies'),
        'version': list(bpy.app.version)}""")
    assert state["enabled"] and state["install_button"]
    assert state["preferences"] == "OpticalFlowPreferences"
    assert state["version"] >= [3, 4, 0]


def test_install_dependencies_adds_only_missing_modules_to_the_user_folder(with_dependencies):
    blender, before, pressed = with_dependencies
    installed = {p.name.split("-")[0].split(".")[0].lower() for p in blender.modules.iterdir()}
    assert not before["OpenEXR"] and "openexr" in installed
    for name in ("numpy", "h5py"):  # installed only when missing: never a second copy next to Blender's
        assert (name.lower() in installed) == (not before[name])
    assert pressed.returncode == 0, pressed.stdout[-2000:] + pressed.stderr[-2000:]


def save_two_frame_scene(blender, scene: Path) -> bytes:
    made = blender.python(f"""
import bpy
bpy.ops.mesh.primitive_plane_add(size=40)
camera = bpy.context.scene.camera
for frame, x in ((1, 0.0), (2, 0.5)):
    camera.location = (x, 0, 10)
    camera.rotation_euler = (0, 0, 0)
    camera.keyframe_insert("location", frame=frame)
bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 2
bpy.ops.wm.save_as_mainfile(filepath={str(scene)!r})""", "--factory-startup")
    assert made.returncode == 0, made.stderr
    return scene.read_bytes()


def test_headless_bake_in_debians_blender(with_dependencies, tmp_path):
    """Blender's own OpenEXR library would crash the OpenEXR module inside Blender; the writer process bakes anyway."""
    blender = with_dependencies[0]
    scene = tmp_path / "scene.blend"
    saved = save_two_frame_scene(blender, scene)
    out = tmp_path / "flow"
    result = blender.run(str(scene), "--python-exit-code", "1", "--python-expr",
                         f"import bpy; bpy.ops.optical_flow.render_flow(output_dir={str(out)!r})")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    flow = np.load(out / "forward_flow_0001.npy")
    assert np.all(flow[..., 0] < -1) and np.allclose(flow[..., 1], 0, atol=1e-4)  # the camera moved right
    assert scene.read_bytes() == saved


def test_headless_bake_error_exits_1(with_dependencies, tmp_path):
    blender = with_dependencies[0]
    scene = tmp_path / "scene.blend"
    saved = save_two_frame_scene(blender, scene)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = blender.run(str(scene), "--python-exit-code", "1", "--python-expr",
                         f"import bpy; bpy.ops.optical_flow.render_flow(output_dir={str(blocker / 'flow')!r})")
    assert result.returncode == 1
    assert any(line.startswith("RuntimeError") and "Cannot write to output folder" in line
               for line in result.stdout.splitlines() + result.stderr.splitlines())
    assert scene.read_bytes() == saved


def test_headless_pose_import_succeeds_with_exit_code_0(with_dependencies, tmp_path):
    blender = with_dependencies[0]
    scene, poses = tmp_path / "poses.blend", tmp_path / "camera_positions"
    poses.write_text("0 -10 4 1.3 0 0\n2 -12 6 1.3 0 0.5\n")
    result = blender.run("--python-exit-code", "1", "--python-expr",
                         f"import bpy; bpy.ops.optical_flow.import_camera_poses(filepath={str(poses)!r}); "
                         f"bpy.ops.wm.save_as_mainfile(filepath={str(scene)!r})")
    assert result.returncode == 0, result.stderr[-2000:]
    read = blender.run(str(scene), "--python-exit-code", "1", "--python-expr",
                       "import bpy; s = bpy.context.scene; c = s.camera\n"
                       "for f in (1, 2):\n s.frame_set(f); print('POSE', *c.location, *c.rotation_euler)")
    values = [[float(v) for v in line.split()[1:]] for line in read.stdout.splitlines() if line.startswith("POSE")]
    expected = [[float(v) for v in line.split()] for line in poses.read_text().splitlines()]
    assert len(values) == 2 and all(abs(a - b) < 1e-5 for got, want in zip(values, expected) for a, b in zip(got, want))
