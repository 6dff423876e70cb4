"""Regenerate the panel tutorial's screenshots (docs/tutorials/images/) from one run of the window test's driver.

    .venv/core/bin/python tools/screenshots.py

Debian's blender 3.4 opens in a window on a virtual screen (Xvfb) and tests/blender_window_driver.py uses the
Optical Flow tab as tests/blender/test_blender_window.py has it do, with the real pointer and keys; the launching
helpers are that test's own, imported, so the pictures show what the test checks. The chosen screenshots are cropped to
the part of the screen a step is about and written as small PNG files. SHOTS is the whole list:
tests/core/test_core_docs.py fails on an image in docs/tutorials/images/ that is not in it, so none is made by hand.
Needs what the window test needs: blender xvfb xdotool imagemagick python3-numpy python3-h5py (tools/test.sh
installs them as root).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "tutorials" / "images"


class Shot(NamedTuple):
    """One picture of the tutorial: the driver's screenshot it comes from, the part kept and how much it shrinks."""

    screenshot: str  # a name the driver passes to its screenshot(): OUT/<name>.png
    region: str  # "screen", or the key of a box in the driver's results.json
    scale: float = 1.0


# The tutorial's steps in order. Sidebar crops stay at full size, so the panel's text reads as on screen; the
# whole screen (1280×800) shrinks to 60 %, enough to see where things are.
SHOTS: dict[str, Shot] = {
    "tab.png": Shot("tab", "screen", 0.6),
    "file-browser.png": Shot("file_browser", "screen", 0.6),
    "poses-imported.png": Shot("panel", "sidebar"),
    "rendering.png": Shot("rendering", "sidebar"),
    "images-rendering.png": Shot("image_rendering", "screen", 0.6),
    "finished.png": Shot("finished", "sidebar"),
    "show-flow.png": Shot("show_flow", "image"),
    "show-flow-with-image.png": Shot("show_flow_with_image", "image_beside_flow"),
}


def box(results: dict, region: str) -> tuple[int, int, int, int] | None:
    """The crop box (left, top, right, bottom) of ``region`` in screen pixels; None for the whole screen."""
    if region == "screen":
        return None
    found = results[region]
    found = found["editor"][0] if "editor" in found else found  # Show Flow's results name the editor showing it
    return found["x"], found["y"], found["x"] + found["width"], found["y"] + found["height"]


def write_shot(source: Path, shot: Shot, results: dict, target: Path) -> None:
    """Crop, shrink and save with as few bytes as Pillow (and optipng, where installed) can manage."""
    from PIL import Image

    with Image.open(source) as opened:
        picture = opened.convert("RGB")
    region = box(results, shot.region)
    if region is not None:
        picture = picture.crop(region)
    if shot.scale != 1.0:
        size = (round(picture.width * shot.scale), round(picture.height * shot.scale))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    # Blender's interface has few colours; 256 keep it sharp and make the file a third of the size.
    picture = picture.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    picture.save(target, optimize=True)  # Pillow writes no date into the file: a rerun changes only what changed
    if shutil.which("optipng"):
        subprocess.run(["optipng", "-quiet", "-o2", "-strip", "all", str(target)], check=True)


def run_driver(folder: Path) -> dict:
    """One window run of blender 3.4 as the window test's fixture makes it; the driver's results.json."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "blender")]
    import pytest
    import test_blender_window as window_test

    try:
        setup = window_test.Legacy34(folder)
    except (pytest.skip.Exception, pytest.fail.Exception) as missing:
        sys.exit(f"cannot run Blender in a window here: {missing}")
    try:
        window = window_test.drive_window(setup, folder)
    except AssertionError as failed:
        sys.exit(str(failed))
    results_file = folder / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    if window.returncode or "error" in results or not results:
        sys.exit(f"the window run failed ({window.returncode}): {results.get('error') or window.stderr[-3000:]}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, help="also keep every full screenshot and results.json here, to choose "
                        "other pictures or crops")
    raw = parser.parse_args().raw
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="screenshots-") as temporary:
        folder = Path(temporary)
        results = run_driver(folder)
        if raw:
            raw.mkdir(parents=True, exist_ok=True)
            for kept in [*folder.glob("*.png"), folder / "results.json"]:
                shutil.copy(kept, raw / kept.name)
        IMAGES.mkdir(parents=True, exist_ok=True)
        for old in IMAGES.glob("*.png"):
            old.unlink()
        for name, shot in SHOTS.items():
            write_shot(folder / f"{shot.screenshot}.png", shot, results, IMAGES / name)
    sizes = {name: (IMAGES / name).stat().st_size for name in SHOTS}
    for name, size in sizes.items():
        print(f"{size / 1024:7.1f} KiB  docs/tutorials/images/{name}")
    print(f"{sum(sizes.values()) / 1024:7.1f} KiB in all, Blender {results['version']}, "
          f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
