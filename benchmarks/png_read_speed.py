"""How fast the core reads a PNG: a 1242×375 16-bit KITTI flow frame and a 1280×720 8-bit RGB picture.

Run with the core's Python:  "$(tools/venv.sh core)" benchmarks/png_read_speed.py
Each picture is read as this add-on writes it (Sub on every row) and as libpng writes it (through
Debian's optipng, see tests/png_files.py): with libpng's own choice of filter per row, as OpenCV and
the KITTI devkit write, and with Paeth on every row, the slowest filter to undo. Prints a table:
the filters found and the median ms.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import png_files

from optical_flow_addon.core.colour_wheel import flow_to_rgb
from optical_flow_addon.core.formats.png import decode_png, encode_png

REPEATS = 15
FILTER_NAMES = "None Sub Up Average Paeth".split()


def smooth_flow(height: int, width: int) -> np.ndarray:
    """A zoom plus a turn plus sensor noise: flow as a driving scene gives it."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.stack([(x - width / 2) * 0.05 - (y - height / 2) * 0.01, (y - height / 2) * 0.05], axis=-1)
    return flow + np.random.default_rng(0).normal(0, 0.3, flow.shape).astype(np.float32)


def kitti_pixels() -> np.ndarray:
    flow = smooth_flow(375, 1242)
    pixels = np.zeros((375, 1242, 3), np.uint16)
    pixels[..., :2] = np.rint(flow * 64 + 2 ** 15)
    pixels[..., 2] = 1
    pixels[:120] = 0  # the sky: no lidar points, invalid
    return pixels


def picture_pixels() -> np.ndarray:
    flow = smooth_flow(720, 1280)
    return flow_to_rgb(flow, np.ones(flow.shape[:2], bool), None)


def filters_used(data: bytes) -> str:
    counts = np.bincount(png_files.row_filters(data), minlength=5)
    return ", ".join(f"{FILTER_NAMES[k]} {counts[k]}" for k in range(5) if counts[k])


def milliseconds(data: bytes, expected: np.ndarray) -> float:
    np.testing.assert_array_equal(decode_png(data, Path("x.png")), expected)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        decode_png(data, Path("x.png"))
        times.append(time.perf_counter() - start)
    return median(times) * 1000


def main() -> None:
    print(f"| picture | written by | rows per filter | read (ms, median of {REPEATS}) |")
    print("| --- | --- | --- | ---: |")
    for label, pixels in (("KITTI flow 1242×375, 16-bit RGB", kitti_pixels()),
                          ("flow picture 1280×720, 8-bit RGB", picture_pixels())):
        for writer, data in (("this add-on", encode_png(pixels)),
                             ("libpng, its own choice", png_files.with_filter(png_files.write(pixels), 5)),
                             ("libpng, Paeth", png_files.with_filter(png_files.write(pixels), 4))):
            print(f"| {label} | {writer} | {filters_used(data)} | {milliseconds(data, pixels):.1f} |")


if __name__ == "__main__":
    main()
