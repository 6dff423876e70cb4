"""The artist's path in a real Blender window, on a virtual X screen (Xvfb), in two Blenders:

- Debian bookworm's ``blender`` 3.4 with the repository as a legacy add-on (Debian's numpy and h5py; the
  OpenEXR package of this Python on its path: only the bake's writer process imports it, inside Blender
  the system OpenEXR library would crash it);
- Debian trixie's Blender 4.3 (Python 3.13) in the chroot of tools/trixie_blender.sh, with the linux-x64
  extension zip built by tools/build.py and installed as users do (``blender --command extension
  install-file``), so the zip's own OpenEXR and h5py wheels are used.

blender_window_driver.py then finds and clicks the buttons with the real pointer and keys (xdotool): the
Optical Flow tab, the pose file through Blender's file browser, Import, Render Flow, Esc in one bake and the
Cancel button in another, Show Flow, bakes with images (rendered in Blender's render job, Esc stopping a long
one mid-image). Screenshots and Blender's log are kept in test_artifacts/window/<version>/.
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
from optical_flow_addon.core.formats.png import decode_png

pytestmark = pytest.mark.window

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parents[1] / "blender_window_driver.py"
ARTIFACTS = Path(os.environ.get("OPTICAL_FLOW_ARTIFACTS", ROOT / "test_artifacts")) / "window"
SCREEN = (1280, 800)
TOOLS = {"blender": "blender", "Xvfb": "xvfb", "xdotool": "xdotool", "import": "imagemagick", "convert": "imagemagick"}
TRIXIE = ROOT / "tools" / "trixie_blender.sh"
EXTENSION = "bl_ext.user_default.optical_flow"


def unavailable(message: str) -> None:
    """CI must run these tests: there a missing tool fails them instead of skipping them."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    blender_python = "import numpy, h5py" if not missing else ""
    if blender_python and subprocess.run(["blender", "-b", "--factory-startup", "--python-expr",
                                          f"{blender_python}; import os; os._exit(0)"],
                                         capture_output=True, text=True, timeout=120).returncode:
        missing.append("numpy/h5py in Blender's Python (python3-numpy python3-h5py)")
    if missing:
        packages = " ".join(sorted(set(TOOLS.values()))) + " python3-numpy python3-h5py"
        unavailable(f"missing {', '.join(missing)}: apt-get install {packages} (as tools/test.sh does)")


@contextmanager
def virtual_screen(prefix: list[str]):
    """A fresh Xvfb display; yields its name (":N")."""
    read, write = os.pipe()
    xvfb = subprocess.Popen([*prefix, "Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        assert select.select([read], [], [], 60)[0], "Xvfb did not start"
        yield f":{os.read(read, 16).decode().strip()}"
    finally:
        os.close(read)
        xvfb.terminate()
        xvfb.wait(30)


class Legacy34:
    """Debian's own blender 3.4, the repository linked in as the legacy add-on "optical_flow"."""

    name, addon, prefix = "3.4", "optical_flow", []

    def __init__(self, folder: Path) -> None:
        require_tools()
        addons = folder / "scripts" / "addons"
        addons.mkdir(parents=True)
        (addons / "optical_flow").symlink_to(ROOT)
        python_path = folder / "python"
        python_path.mkdir()
        exr = Path(importlib.util.find_spec("OpenEXR").origin)
        (python_path / exr.name).symlink_to(exr)
        self.env = {**os.environ, "BLENDER_USER_SCRIPTS": str(folder / "scripts"),
                    "BLENDER_USER_CONFIG": str(folder / "config"), "PYTHONPATH": str(python_path)}
        self.arguments = ["--python-use-system-env"]


class Extension43:
    """Debian trixie's Blender 4.3 in a chroot, the linux-x64 extension zip installed into a clean user folder."""

    name, addon = "4.3", EXTENSION

    def __init__(self, folder: Path) -> None:
        if os.geteuid() != 0 or shutil.which("debootstrap") is None and shutil.which("apt-get") is None:
            unavailable("the Blender 4.3 window test needs root and apt-get (tools/trixie_blender.sh builds a chroot)")
        built = subprocess.run([str(TRIXIE)], capture_output=True, text=True, timeout=900)
        assert built.returncode == 0, built.stderr[-3000:]
        dist = folder / "dist"
        zips = subprocess.run([sys.executable, str(ROOT / "tools" / "build.py"), "--dist", str(dist)],
                              capture_output=True, text=True, timeout=600)
        assert zips.returncode == 0, zips.stdout + zips.stderr
        self.prefix = [str(TRIXIE), "run", "--bind", str(folder), "--bind", str(ROOT), "--"]
        self.env = {**os.environ, "BLENDER_USER_RESOURCES": str(folder / "user"), "PYTHONUNBUFFERED": "1"}
        self.arguments = []
        installed = blender(self, "--command", "extension", "install-file", "-r", "user_default", "-e",
                            dist / "optical_flow-0.1.0-linux_x64.zip")
        assert installed.returncode == 0 and 'Installed "optical_flow"' in installed.stdout, \
            installed.stdout + installed.stderr


def blender(setup, *arguments, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*setup.prefix, "blender", *setup.arguments, *map(str, arguments)], env=env or setup.env,
                          capture_output=True, text=True, timeout=timeout)


def drive_window(setup, folder: Path) -> subprocess.CompletedProcess:
    """The driver's scene built in ``folder``, then the driver run in Blender's window on a virtual screen (also
    tools/screenshots.py's run); AssertionError with Blender's output where a step before the window fails."""
    built = blender(setup, "-b", "--factory-startup", "--python", DRIVER, "--", "scene", folder)
    assert built.returncode == 0, built.stdout + built.stderr
    # The user folder is the test's own: turn the splash off there, keeping the enabled extension.
    splash = blender(setup, "-b", "--python-expr", "import bpy, os; bpy.context.preferences.view.show_splash = False; "
                     "bpy.ops.wm.save_userpref(); os._exit(0)")
    assert splash.returncode == 0, splash.stdout + splash.stderr
    with virtual_screen(setup.prefix) as display:
        return blender(setup, "-p", 0, 0, *SCREEN, folder / "scene.blend", "--python", DRIVER,
                       "--", "window", folder, setup.addon, env={**setup.env, "DISPLAY": display}, timeout=600)


@pytest.fixture(scope="module", params=[Legacy34, Extension43], ids=["3.4", "4.3"])
def window_run(request, tmp_path_factory):
    """One run of Blender in a window, driven by blender_window_driver.py; its set-up, results and folder."""
    folder = tmp_path_factory.mktemp(f"window-{request.param.name}")
    setup = request.param(folder)
    window = drive_window(setup, folder)
    artifacts = ARTIFACTS / setup.name
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    for picture in folder.glob("*.png"):
        shutil.copy(picture, artifacts / picture.name)
    (artifacts / "blender.log").write_text(window.stdout + window.stderr, encoding="utf-8")
    assert (folder / "results.json").exists(), f"Blender ended early ({window.returncode}): {window.stderr[-2000:]}"
    results = json.loads((folder / "results.json").read_text())
    cancelled = results.get("images_cancelled", {})
    measured = {"version": results.get("version"), "long_frame": results.get("long_frame"),
                "image_render": {key: value for key, value in cancelled.items() if not key.startswith("settings")},
                **{key: {"frames": results[key]["frames"], "seconds_to_stop": results[key]["seconds_to_stop"]}
                   for key in ("cancel_esc", "cancel_button") if key in results}}
    (artifacts / "measurements.json").write_text(json.dumps(measured, indent=1), encoding="utf-8")
    assert "error" not in results and window.returncode == 0, results.get("error") or window.stderr
    return setup, results, folder


def screenshot(path: Path) -> np.ndarray:
    raw = subprocess.run(["convert", str(path), "-depth", "8", "rgb:-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(SCREEN[1], SCREEN[0], 3).astype(int)


def crop(picture: np.ndarray, box: dict) -> np.ndarray:
    return picture[box["y"]:box["y"] + box["height"], box["x"]:box["x"] + box["width"]]


def flow_files_are_complete(folder: Path, frames: list[int], images: bool = False) -> None:
    """Exactly the files of ``frames`` (and the manifest), each readable, none half-written."""
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [record["frame"] for record in manifest["frames"]] == frames
    last = manifest["frame_range"][1]
    expected = {"manifest.json"} | {f"{frame}.hdf5" for frame in frames}
    if images:
        expected |= {f"colors_{frame:04d}.png" for frame in frames}
        for frame in frames:
            assert decode_png((folder / f"colors_{frame:04d}.png").read_bytes(), folder).shape == (48, 64, 3)
    for frame in frames:
        flows = ["forward_flow"] * (frame < last) + ["backward_flow"] * (frame > manifest["frame_range"][0])
        expected |= {f"{name}_{frame:04d}.npy"
                     for flow in flows for name in (flow, f"{flow}_valid", f"{flow}_occluded")}
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    for path in folder.glob("*_flow_????.npy"):
        assert np.load(path).shape == (48, 64, 2)
        valid = np.load(path.with_name(path.name.replace("_flow_", "_flow_valid_")))
        assert valid.shape == (48, 64) and valid.any() and not valid.all()  # the cube, and empty sky


def test_optical_flow_tab_opens_in_the_sidebar(window_run):
    setup, results, folder = window_run
    assert results["version"].startswith(setup.name)
    assert results["addon_enabled"] and results["panel_drawn"]
    if setup.addon == EXTENSION:  # the installed zip's copy, not the repository
        assert "/extensions/user_default/optical_flow/" in results["addon_file"]
    with_addon, without = (crop(screenshot(folder / f"{name}.png"), results["sidebar"])
                           for name in ("tab", "without_addon"))
    changed = np.abs(with_addon - without).max(axis=2) > 40
    assert changed.mean() > 0.1, f"only {changed.mean():.1%} of the sidebar changed when the Optical Flow tab opened"
    assert len(np.unique(with_addon.reshape(-1, 3), axis=0)) > 50  # text and buttons, not an empty region


def test_pose_file_chosen_in_the_file_browser_is_imported_by_the_import_button(window_run):
    _, results, folder = window_run
    assert results["pose_file"] == "//camera_positions"  # relative to the saved .blend, as Blender's browser sets it
    assert results["poses"] == {"count": 5, "camera": "Camera", "frames": [1, 5]}
    tab, imported = (crop(screenshot(folder / f"{name}.png"), results["sidebar"]) for name in ("tab", "panel"))
    assert (np.abs(tab - imported).max(axis=2) > 40).mean() > 0.005  # the file name and the summary appeared


def test_render_flow_button_bakes_modally_and_restores_the_scene(window_run):
    _, results, folder = window_run
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
    rendering, finished = (crop(screenshot(folder / f"{name}.png"), results["sidebar"])
                           for name in ("rendering", "finished"))
    assert (np.abs(rendering - finished).max(axis=2) > 40).mean() > 0.01  # progress and Cancel, then the result


def test_files_written_from_the_window_are_those_of_the_same_headless_bake(window_run):
    setup, _, folder = window_run
    bake = blender(setup, "-b", folder / "scene.blend", "--python-expr",
                   f"import addon_utils, bpy, os; addon_utils.enable({setup.addon!r}); "
                   "bpy.ops.optical_flow.import_camera_poses(filepath='//camera_positions'); "
                   f"bpy.ops.optical_flow.render_flow(output_dir={str(folder / 'headless')!r}); os._exit(0)")
    assert bake.returncode == 0, bake.stdout + bake.stderr
    window, headless = folder / "optical_flow", folder / "headless"
    names = sorted(path.name for path in window.iterdir())
    assert names == sorted(path.name for path in headless.iterdir())
    for name in names:
        if name != "manifest.json":  # it names its folder and the time taken
            assert (window / name).read_bytes() == (headless / name).read_bytes(), name
    frames = [json.loads((bake_folder / "manifest.json").read_text())["frames"] for bake_folder in (window, headless)]
    assert frames[0] == frames[1]


@pytest.mark.parametrize("way", ["esc", "button"])
def test_esc_or_the_cancel_button_stops_a_bake_leaving_complete_files_and_the_scene_restored(window_run, way):
    _, results, folder = window_run
    cancel = results[f"cancel_{way}"]
    assert cancel["result"] == "CANCELLED" and 1 <= cancel["frames"] < cancel["total"] == 200
    flow_files_are_complete(Path(cancel["folder"]), list(range(1, cancel["frames"] + 1)))
    assert cancel["settings_after"] == results["settings_before"]
    assert cancel["seconds_to_stop"] < 5  # after the frame being rendered: a 64×48 frame takes milliseconds


def test_show_flow_puts_the_frames_flow_picture_in_an_image_editor(window_run):
    _, results, folder = window_run
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


def test_a_long_frame_is_measured_while_the_window_stays_open(window_run):
    """How long the window stops while Cycles renders a 1920×1080 frame: kept in measurements.json, not judged."""
    _, results, _ = window_run
    long_frame = results["long_frame"]
    assert (long_frame["result"], long_frame["frames"]) == ("FINISHED", 2)
    assert 0 < long_frame["longest_event_loop_pause"] <= long_frame["bake_seconds"]


def test_images_render_in_blenders_render_job_and_equal_the_headless_bakes(window_run):
    """From the window, the images render as F12 renders them (in the render window); the files are the same."""
    setup, results, folder = window_run
    images = results["images"]
    assert (images["result"], images["frames"], images["render_window"]) == ("FINISHED", 3, True)
    assert images["settings_after"] == images["settings_before"]
    bake = blender(setup, "-b", folder / "images.blend", "--python-expr",
                   f"import addon_utils, bpy, os; addon_utils.enable({setup.addon!r}); "
                   f"bpy.ops.optical_flow.render_flow(output_dir={str(folder / 'images_headless')!r}); os._exit(0)")
    assert bake.returncode == 0, bake.stdout + bake.stderr
    window, headless = folder / "images", folder / "images_headless"
    flow_files_are_complete(window, [1, 2, 3], images=True)
    names = sorted(path.name for path in window.iterdir())
    assert names == sorted(path.name for path in headless.iterdir())
    for name in names:
        if name.endswith(".png"):  # Blender's PNG holds the render's date and time: the pixels are compared
            window_pixels, headless_pixels = (decode_png((f / name).read_bytes(), f) for f in (window, headless))
            np.testing.assert_array_equal(window_pixels, headless_pixels, err_msg=name)
            assert len(np.unique(window_pixels.reshape(-1, 3), axis=0)) > 20  # a lit cube, not an empty render
        elif name != "manifest.json":
            assert (window / name).read_bytes() == (headless / name).read_bytes(), name


def test_the_render_window_ends_on_the_last_image_and_show_flow_puts_the_image_beside_its_flow(window_run):
    """Each frame's flow passes render before its image, so the render window ends on the last image as F12 leaves
    it. Show Flow then shows the current frame's image, a 4-pixel grey gap and its flow, from the same bake."""
    _, results, folder = window_run
    images = folder / "images"
    last_image = images / "colors_0003.png"
    shown = folder / "render_window_at_the_end.png"  # saved from the Render Result, as Image › Save As would
    np.testing.assert_array_equal(decode_png(shown.read_bytes(), shown)[..., :3],
                                  decode_png(last_image.read_bytes(), last_image)[..., :3])
    picture = results["image_beside_flow"]
    frame, (width, height) = picture["frame"], (64, 48)
    assert picture["size"] == [width + 4 + width, height] and len(picture["editor"]) == 1
    pixels = np.array(picture["pixels"]).reshape(height, 2 * width + 4, 4)[::-1, :, :3] * 255
    image = images / f"colors_{frame:04d}.png"
    np.testing.assert_allclose(pixels[:, :width], decode_png(image.read_bytes(), image)[..., :3], atol=0.6)
    flow = np.load(images / f"forward_flow_{frame:04d}.npy")
    valid = np.load(images / f"forward_flow_valid_{frame:04d}.npy")
    np.testing.assert_allclose(pixels[:, width + 4:], flow_to_rgb(flow, valid), atol=0.6)


def test_the_window_stays_live_while_a_long_image_renders_and_esc_stops_it(window_run):
    """Each image takes Cycles' time limit (6 s). The event loop and the viewport's drawing must keep going:
    on a loaded 2-core machine they pause up to ~1.7 s between two images (the flow's 1-sample render blocks, and
    Cycles prepares the next image), so the bound is half the image's time (a blocking render pauses both for the
    whole image, and the flow render's pause grows with the resolution, not the samples). Esc, pressed halfway
    through the third image, stops the render, then the bake ends as a cancel between frames ends it (writing the
    manifest, restoring the scene): within 4 s in all on a loaded machine. Frame 1's files are complete (frame 2's
    occlusion needed frame 3), none of the others'."""
    _, results, _ = window_run
    cancelled = results["images_cancelled"]
    assert cancelled["image_seconds"] > cancelled["time_limit"] - 1  # as seen from the driver's timer
    assert cancelled["longest_event_loop_pause"] < cancelled["time_limit"] / 2
    assert cancelled["redraws"] > 10 and cancelled["longest_redraw_pause"] < cancelled["time_limit"] / 2
    assert cancelled["status"].startswith("frame 3 of 5 · rendering image")
    assert (cancelled["result"], cancelled["frames"], cancelled["total"]) == ("CANCELLED", 1, 5)
    assert cancelled["message"] == "the image render of frame 3 was stopped"
    assert 0 < cancelled["seconds_to_render_stop"] < cancelled["seconds_to_stop"] < 4
    flow_files_are_complete(Path(cancelled["folder"]), [1], images=True)
    assert not cancelled["render_file_left"]
    assert cancelled["settings_after"] == cancelled["settings_before"]
