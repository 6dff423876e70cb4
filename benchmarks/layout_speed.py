"""Writing one frame into each training layout against today's .npy + HDF5 flow files (pure core, no bpy).

Run:  "$(tools/venv.sh core)" benchmarks/layout_speed.py
Prints one table: ms per frame, wall clock and processor time of this process (the writer process
does this work beside Cycles), and MB written per frame. The frame is made here at 1280×720: a smooth
rotating and zooming flow field with a moving square (so valid, invalid and occluded pixels are mixed),
and an image of smooth colour gradients with render-like noise, saved as a PNG beforehand as Blender
saves its render (a layout copies that file, as in a bake). Each round writes every row's frames in turn;
the table gives the median frame of each round, lowest–highest over the rounds. Where the optional isal
module is installed, KITTI is also written as without it (zlib deflates its flow PNGs).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical_flow_addon.core.flow_files import WRITERS
from optical_flow_addon.core.formats import png
from optical_flow_addon.core.formats.png import encode_png
from optical_flow_addon.core.layouts import LAYOUTS, Sequence
from optical_flow_addon.core.options import BakeOptions


def frame_products(width: int, height: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(width, dtype=np.float32) - width / 2, np.arange(height, dtype=np.float32) - height / 2)
    products = {
        "colors": np.clip(np.dstack([128 + x / 10, 128 + y / 6, 128 - (x + y) / 12])
                          + rng.normal(0, 4, (height, width, 3)), 0, 255).astype(np.uint8),
        "depth": (5 + (x + y) / width).astype(np.float32),
        "K": np.array([[1000.0, 0, width / 2 - 0.5], [0, 1000.0, height / 2 - 0.5], [0, 0, 1]]),
        "camera_to_world": np.eye(4),
    }
    square = (abs(x) < 100) & (abs(y) < 100)
    for sign, name in ((1, "forward_flow"), (-1, "backward_flow")):
        flow = sign * np.dstack([-0.02 * y + 0.01 * x, 0.02 * x + 0.01 * y]).astype(np.float32)
        flow[square] = (sign * 12.5, 0)
        products[name] = flow
        products[f"{name}_valid"] = (abs(x + flow[..., 0]) < width / 2 - 1) & (abs(y + flow[..., 1]) < height / 2 - 1)
        products[f"{name}_occluded"] = ~square & (abs(x - sign * 106) < 6) & (abs(y) < 100)
    return products


def timed(write, frames: list[int]) -> tuple[float, float]:
    walls, cpus = [], []
    for frame in frames:
        wall, cpu = time.perf_counter(), time.process_time()
        write(frame)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return median(walls) * 1000, median(cpus) * 1000


@contextmanager
def without_isal() -> Iterator[None]:
    """As where the isal module is not installed: zlib deflates the PNGs."""
    found = png.isal_zlib
    png.isal_zlib = lambda: None
    try:
        yield
    finally:
        png.isal_zlib = found


def megabytes(folder: Path, frames: int) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / frames / 1e6


def spread(values: list[float]) -> str:
    return f"{min(values):.0f}–{max(values):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resolution", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.resolution.split("x"))
    frames = list(range(args.frames))
    products = {frame: frame_products(width, height, frame) for frame in frames}
    with tempfile.TemporaryDirectory() as scratch:
        renders = Path(scratch) / "renders"  # Blender's PNG of each frame, as the bake hands it to the writer
        renders.mkdir()
        for frame in frames:
            (renders / f"{frame}.png").write_bytes(encode_png(products[frame]["colors"], 1))
        folder = Path(scratch) / "blenderproc"
        folder.mkdir()
        options = BakeOptions(folder, frames[0], frames[-1], overwrite=True)
        flows = [n for n in products[0] if "flow" in n and not n.endswith("_occluded")]

        def today(frame: int) -> None:
            arrays = {name: products[frame][name] for name in flows}
            WRITERS["NPY"].write(folder, frame, arrays, options)
            WRITERS["HDF5"].write(folder, frame, arrays, options)

        rows = {".npy + HDF5 (flows and masks, today)": (today, folder)}
        variants = [(name, layout, nullcontext) for name, layout in LAYOUTS.items()]
        if png.isal_zlib() is not None:
            variants.append(("KITTI", LAYOUTS["KITTI"], without_isal))
        for name, layout, deflate in variants:
            zlib_only = deflate is without_isal
            sequence = Sequence(Path(scratch) / f"{name}{'-zlib' if zlib_only else ''}", "scene", frames[0],
                                frames[-1], overwrite=True)
            layout.check(sequence)
            label = (f"{name} layout (image, flow, masks{', depth, camera' if name == 'SINTEL' else ''})"
                     f"{', zlib: without isal' if zlib_only else ''}")

            def write(frame: int, layout=layout, sequence=sequence, deflate=deflate) -> None:
                with deflate():
                    layout.write(sequence, frame, {**products[frame], "colors": renders / f"{frame}.png"})
            rows[label] = (write, sequence.root)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in rows}
        for _ in range(args.rounds):
            for label, (write, _) in rows.items():
                times[label].append(timed(write, frames))
        table = [["written per frame", "wall ms", "processor ms", "MB"]]
        table += [[label, spread([t[0] for t in times[label]]), spread([t[1] for t in times[label]]),
                   f"{megabytes(root, len(frames)):.1f}"] for label, (_, root) in rows.items()]
    print(f"{width}×{height}, median frame of each of {args.rounds} rounds of {len(frames)} frames (lowest–highest), "
          f"{os.cpu_count()} CPU cores, each file flushed to disk\n")
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)))


if __name__ == "__main__":
    main()
