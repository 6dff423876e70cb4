"""Missing or unusable OpenEXR/h5py/numpy: the add-on still registers, and a bake says what to install."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optical_flow_addon.core.dependencies import missing, require
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.frame import check_modules
from optical_flow_addon.core.options import BakeOptions

ROOT = Path(__file__).resolve().parents[1]


def test_require_names_each_missing_module_its_use_and_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # makes the real import fail
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(FlowError) as error:
        require("numpy", "OpenEXR", "h5py")
    message = str(error.value)
    assert "OpenEXR (for reading the rendered EXR files" in message and "h5py (for writing HDF5" in message
    assert "numpy" not in message.split("Install Dependencies")[0]
    assert "pip install OpenEXR h5py" in message and "Install Dependencies" in message


def test_npy_only_bakes_do_not_need_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    check_modules(BakeOptions(tmp_path, 1, 2, formats=frozenset({"NPY"})))
    with pytest.raises(FlowError, match="h5py"):
        check_modules(BakeOptions(tmp_path, 1, 2, formats=frozenset({"NPY", "HDF5"})))


def python_with_bpy(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    pytest.importorskip("bpy")
    return subprocess.run([sys.executable, "-c", code + "\nimport os, sys; sys.stdout.flush(); os._exit(0)"],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_addon_registers_without_openexr_and_h5py():
    result = python_with_bpy("""
import sys
sys.modules["OpenEXR"] = sys.modules["h5py"] = None
import bpy, optical_flow_addon
optical_flow_addon.register()
print(hasattr(bpy.types, "OPTICAL_FLOW_OT_render_flow"), hasattr(bpy.types, "OPTICAL_FLOW_OT_install_dependencies"))
""")
    assert result.stdout.split() == ["True", "True"], result.stderr


def test_without_numpy_only_the_preferences_register_and_say_so():
    result = python_with_bpy("""
import sys
import bpy
sys.modules["numpy"] = None
import optical_flow_addon
optical_flow_addon.register()
print(hasattr(bpy.types, "OPTICAL_FLOW_OT_render_flow"), hasattr(bpy.types, "OPTICAL_FLOW_OT_install_dependencies"))
""")
    assert result.stdout.split() == ["False", "True"], result.stderr
    assert "numpy is missing" in result.stderr


def test_bake_without_openexr_fails_before_rendering_and_changes_nothing(tmp_path, monkeypatch):
    bpy = pytest.importorskip("bpy")
    from scenes import add_camera, add_plane, empty_scene

    scene = empty_scene()
    add_camera(scene, [((0, 0, 10), (0, 0, 0)), ((0.5, 0, 10), (0, 0, 0))])
    add_plane(50)
    monkeypatch.setitem(sys.modules, "OpenEXR", None)
    engine, samples = scene.render.engine, scene.cycles.samples
    with pytest.raises(RuntimeError, match=r"OpenEXR \(for reading the rendered EXR files") as error:
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "flow"))
    assert "pip install OpenEXR." in str(error.value)
    assert not (tmp_path / "flow").exists()
    assert (scene.render.engine, scene.cycles.samples) == (engine, samples)


@pytest.fixture
def small_exr(tmp_path) -> Path:
    import OpenEXR

    path = tmp_path / "small.exr"
    header = {"compression": OpenEXR.NO_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"R": np.arange(12, dtype=np.float32).reshape(3, 4)}).write(str(path))
    return path


READ_EXR = """
import os, sys
if {global_blender}:  # load Blender's libraries the way the blender program does: visible to every module
    sys.setdlopenflags(os.RTLD_NOW | os.RTLD_GLOBAL)
import bpy
sys.setdlopenflags(os.RTLD_NOW)
import json, OpenEXR
from optical_flow_addon.core.dependencies import missing
print(json.dumps(missing(["OpenEXR"])), flush=True)
if {read}:
    print(OpenEXR.File({path!r}, separate_channels=True).parts[0].channels["R"].pixels.sum(), flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="symbol take-over is a Linux loader behaviour")
def test_openexr_taken_over_by_blenders_own_library_is_reported_instead_of_crashing(small_exr):
    # The hazard itself: OpenEXR used in a process that exports Blender's OpenEXR library dies.
    crash = python_with_bpy(READ_EXR.format(global_blender=True, read=True, path=str(small_exr)))
    assert crash.returncode != 0 and "66.0" not in crash.stdout
    # The add-on sees it coming and reports it (the bake then stops with a FlowError).
    reported = python_with_bpy(READ_EXR.format(global_blender=True, read=False, path=str(small_exr)))
    assert "exports its own OpenEXR library" in json.loads(reported.stdout.splitlines()[0])["OpenEXR"]
    # The bpy module keeps its libraries to itself: no report, and reading works.
    normal = python_with_bpy(READ_EXR.format(global_blender=False, read=True, path=str(small_exr)))
    assert normal.stdout.split() == ["{}", "66.0"], normal.stderr


def test_missing_reports_nothing_when_all_modules_work():
    assert missing() == {}
