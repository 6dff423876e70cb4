"""Missing or unusable OpenEXR/h5py/numpy: the add-on still registers, and a bake says what to install."""
from __future__ import annotations

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
    """The flow writer process checks its modules first: a broken OpenEXR stops the bake before any render."""
    bpy = pytest.importorskip("bpy")
    from scenes import add_camera, add_plane, empty_scene

    scene = empty_scene()
    add_camera(scene, [((0, 0, 10), (0, 0, 0)), ((0.5, 0, 10), (0, 0, 0))])
    add_plane(50)
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "OpenEXR.py").write_text("raise ImportError('No module named OpenEXR')\n")
    monkeypatch.syspath_prepend(str(shadow))  # the writer process gets Blender's Python path
    engine, samples = scene.render.engine, scene.cycles.samples
    with pytest.raises(RuntimeError, match=r"OpenEXR \(for reading the rendered EXR files") as error:
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "flow"))
    assert "pip install OpenEXR." in str(error.value)
    assert [p.name for p in (tmp_path / "flow").glob("*")] == []  # nothing written (the folder may not exist)
    assert (scene.render.engine, scene.cycles.samples) == (engine, samples)


@pytest.fixture
def small_exr(tmp_path) -> Path:
    import OpenEXR

    path = tmp_path / "small.exr"
    header = {"compression": OpenEXR.NO_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"R": np.arange(12, dtype=np.float32).reshape(3, 4)}).write(str(path))
    return path


IN_BLENDER_PROGRAM = """
import os, sys
# load Blender's libraries the way the blender program does: visible to every module
sys.setdlopenflags(os.RTLD_NOW | os.RTLD_GLOBAL)
import bpy
sys.setdlopenflags(os.RTLD_NOW)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="symbol take-over is a Linux loader behaviour")
def test_bake_works_where_blenders_own_openexr_would_crash_the_module(small_exr, tmp_path):
    # The hazard: the OpenEXR module used inside a process that exports Blender's OpenEXR library dies.
    crash = python_with_bpy(IN_BLENDER_PROGRAM + "import OpenEXR; "
                            f"print(OpenEXR.File({str(small_exr)!r}).parts[0].channels['R'].pixels.sum())")
    assert crash.returncode != 0 and "66.0" not in crash.stdout
    # The bake never loads OpenEXR or h5py into Blender: its writer process does, so the same process bakes.
    out = tmp_path / "flow"
    baked = python_with_bpy(IN_BLENDER_PROGRAM + f"""
sys.path.insert(0, {str(ROOT / "tests")!r})
import scenes, numpy as np
scene = scenes.empty_scene()
scenes.add_plane(40, location=(0, 5, 0), rotation=(np.pi / 2, 0, 0))
scenes.add_camera(scene, [((0, -5, 0), (np.pi / 2, 0, 0)), ((0.5, -5, 0), (np.pi / 2, 0, 0))])
bpy.ops.optical_flow.render_flow(output_dir={str(out)!r})
print("OpenEXR" in sys.modules, "h5py" in sys.modules)
""")
    assert baked.returncode == 0 and baked.stdout.split()[-2:] == ["False", "False"], baked.stderr[-2000:]
    flow = np.load(out / "forward_flow_0001.npy")
    assert np.all(flow[..., 0] < -1) and np.allclose(flow[..., 1], 0, atol=1e-4)  # camera moved right


def test_missing_reports_nothing_when_all_modules_work():
    assert missing() == {}
