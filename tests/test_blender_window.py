"""The artist's path in a real Blender window: Debian's blender on a virtual X screen (Xvfb).

The add-on is installed as a legacy add-on; blender_window_driver.py opens the Optical Flow tab with
real mouse clicks, renders flow as the button does (modal), cancels a bake with the real Esc key,
shows a flow picture and takes screenshots, which are kept in test_artifacts/window/.

Debian's blender runs with Debian's numpy and h5py; the OpenEXR package is put on its Python path
(only the bake's writer process imports it: inside Blender the system OpenEXR library would crash it).
"""
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from optical_flow_addon.core.colour_wheel import flow_to_rgb

pytestmark = pytest.mark.window

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("blender_window_driver.py")
ARTIFACTS = Path(os.environ.get("OPTICAL_FLOW_ARTIFACTS", ROOT / "test_artifacts")) / "window"
SCREEN = (1280, 800)
TOOLS = {"blender": "blender", "Xvfb": "xvfb", "xdotool": "xdotool", "import": "imagemagick", "convert": "imagemagick"}


def require_tools() -> None:
    """CI must run this test: there a missing tool fails it instead of skipping it."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    blender_python = "import numpy, h5py" if not missing else ""
    if blender_python and subprocess.run(["blender", "-b", "--factory-startup", "--python-expr",
                                          f"{blender_python}; import os; os._exit(0)"],
                                         capture_output=True, text=True, timeout=120).returncode:
        missing.append("numpy/h5py in Blender's Python (python3-numpy python3-h5py)")
    if missing:
        packages = " ".join(sorted(set(TOOLS.values()))) + " python3-numpy python3-h5py"
        message = f"missing {', '.join(missing)}: apt-get install {packages} (as .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def virtual_screen():
    """A fresh Xvfb display; yields its name (":N")."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        assert select.select([read], [], [], 30)[0], "Xvfb did not start"
        yield f":{os.read(read, 16).decode().strip()}"
    finally:
        os.close(read)
        xvfb.terminate()
        xvfb.wait(10)


def blender_env(folder: Path) -> dict:
    """The repository as the legacy add-on "optical_flow", and the OpenEXR package from this Python."""
    addons = folder / "scripts" / "addons"
    addons.mkdir(parents=True)
    (addons / "optical_flow").symlink_to(ROOT)
    python_path = folder / "python"
    python_path.mkdir()
    exr = Path(importlib.util.find_spec("OpenEXR").origin)
    (python_path / exr.name).symlink_to(exr)
    return {**os.environ, "BLENDER_USER_SCRIPTS": str(folder / "scripts"), "PYTHONPATH": str(python_path)}


def blender(*arguments, env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["blender", "--python-use-system-env", *map(str, arguments)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def window_run(tmp_path_factory):
    """One run of Blender in a window, driven by blender_window_driver.py; its results and folder."""
    require_tools()
    folder = tmp_path_factory.mktemp("window")
    env = blender_env(folder)
    built = blender("-b", "--factory-startup", "--python", DRIVER, "--", "scene", folder, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    with virtual_screen() as display:
        window = blender("--factory-startup", "-p", 0, 0, *SCREEN, folder / "scene.blend", "--python", DRIVER,
                         "--", "window", folder, env={**env, "DISPLAY": display}, timeout=600)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for picture in folder.glob("*.png"):
        shutil.copy(picture, ARTIFACTS / picture.name)
    (ARTIFACTS / "blender.log").write_text(window.stdout + window.stderr, encoding="utf-8")
    assert (folder / "results.json").exists(), f"Blender ended early ({window.returncode}): {window.stderr[-2000:]}"
    results = json.loads((folder / "results.json").read_text())
    assert "error" not in results and window.returncode == 0, results.get("error") or window.stderr
    return results, folder


def screenshot(path: Path) -> np.ndarray:
    raw = subprocess.run(["convert", str(path), "-depth", "8", "rgb:-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(SCREEN[1], SCREEN[0], 3).astype(int)


def crop(picture: np.ndarray, box: dict) -> np.ndarray:
    return picture[box["y"]:box["y"] + box["height"], box["x"]:box["x"] + box["width"]]


def flow_files_are_complete(folder: Path, frames: list[int]) -> None:
    """Exactly the files of ``frames`` (and the manifest), each readable, none half-written."""
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [record["frame"] for record in manifest["frames"]] == frames
    last = manifest["frame_range"][1]
    expected = {"manifest.json"} | {f"{frame}.hdf5" for frame in frames}
    for frame in frames:
        flows = ["forward_flow"] * (frame < last) + ["backward_flow"] * (frame > manifest["frame_range"][0])
        expected |= {f"{name}_{frame:04d}.npy" for flow in flows for name in (flow, f"{flow}_valid", f"{flow}_occluded")}
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    for path in folder.glob("*_flow_????.npy"):
        assert np.load(path).shape == (48, 64, 2)
        valid = np.load(path.with_name(path.name.replace("_flow_", "_flow_valid_")))
        assert valid.shape == (48, 64) and valid.any() and not valid.all()  # the cube, and empty sky


def test_optical_flow_tab_opens_in_the_sidebar(window_run):
    results, folder = window_run
    assert results["addon_enabled"] and results["panel_drawn"]
    with_addon, without = (crop(screenshot(folder / f"{name}.png"), results["sidebar"]) for name in ("panel", "without_addon"))
    changed = np.abs(with_addon - without).max(axis=2) > 40
    assert changed.mean() > 0.1, f"only {changed.mean():.1%} of the sidebar changed when the Optical Flow tab opened"
    assert len(np.unique(with_addon.reshape(-1, 3), axis=0)) > 50  # text and buttons, not an empty region


def test_import_button_keyframes_the_pose_file_next_to_the_blend(window_run):
    results, _ = window_run
    assert results["import"] == ["FINISHED"]
    assert results["poses"] == {"count": 5, "camera": "Camera", "frames": [1, 5]}


def test_render_flow_button_bakes_modally_and_restores_the_scene(window_run):
    results, folder = window_run
    assert results["invoke"] == ["RUNNING_MODAL"]
    mid = results["mid_bake"]
    assert mid["running"] and 1 <= mid["done"] < mid["total"] == 5  # Blender ran its loop between frames
    bake = results["bake"]
    assert (bake["result"], bake["frames"]) == ("FINISHED", 5)
    assert bake["folder"] == str(folder / "optical_flow")  # the default //optical_flow/ next to the .blend
    flow_files_are_complete(folder / "optical_flow", [1, 2, 3, 4, 5])
    # pose 2 -> 3 moves the camera 2 m to the right: the scene moves left in the picture
    flow = np.load(folder / "optical_flow" / "forward_flow_0002.npy")
    assert np.median(flow[np.load(folder / "optical_flow" / "forward_flow_valid_0002.npy")][:, 0]) < -1
    assert bake["settings_after"] == results["settings_before"]
    assert results["settings_before"]["engine"] != "CYCLES"


def test_esc_cancels_a_bake_leaving_complete_files_and_the_scene_restored(window_run):
    results, folder = window_run
    cancel = results["cancel"]
    assert cancel["result"] == "CANCELLED" and 1 <= cancel["frames"] < cancel["total"] == 40
    flow_files_are_complete(folder / "cancelled", list(range(1, cancel["frames"] + 1)))
    assert cancel["settings_after"] == results["settings_before"]


def test_show_flow_puts_the_frames_flow_picture_in_an_image_editor(window_run):
    results, folder = window_run
    assert results["show_flow"] == ["FINISHED"]
    image = results["image"]
    frame = image["frame"]
    flow = np.load(folder / "optical_flow" / f"forward_flow_{frame:04d}.npy")
    valid = np.load(folder / "optical_flow" / f"forward_flow_valid_{frame:04d}.npy")
    expected = flow_to_rgb(flow, valid)
    assert image["size"] == [64, 48]
    shown = np.array(image["pixels"]).reshape(48, 64, 4)[::-1, :, :3]  # Blender stores the bottom row first
    np.testing.assert_allclose(shown * 255, expected, atol=0.6)
    assert len(image["editor"]) == 1
    editor = crop(screenshot(folder / "show_flow.png"), image["editor"][0])
    colour = expected[valid][len(expected[valid]) // 2]
    assert (np.abs(editor - colour).max(axis=2) <= 12).sum() >= valid.sum() // 2  # the picture is on screen
