"""One frame's renders on disk → its products → files, and the checks made before a bake starts."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .dependencies import require
from .errors import FlowError
from .rendered_exr import read_vector_and_depth
from .flow import FLOW_CONVERSIONS, surface_hit, validity_mask
from .flow_files import IMAGE_FILES, WRITERS
from .formats.common import read_bytes
from .formats.hdf5 import SEQUENCE_NAME
from .formats.png import decode_png
from .tracks import TRACK_FILES, TRACKS_NAME
from .layouts import LAYOUTS
from .options import BakeOptions
from .products import PRODUCTS

NUMBER = re.compile(r"-?\d+")  # a frame number in a file name


def frame_products(renders: dict[str, Path], view_layer: str, frame: int,
                   options: BakeOptions) -> dict[str, np.ndarray]:
    """The products of one frame from its renders: ``image`` (Blender's PNG) and ``flow`` (the multilayer EXR)."""
    wanted = options.products_at(frame)
    arrays = {}
    if "image" in renders:
        arrays["colors"] = rendered_colors(renders["image"], options)
    if "flow" in renders:
        vector, depth = read_vector_and_depth(renders["flow"], view_layer)
        if "depth" in wanted:
            arrays["depth"] = depth
        hit = surface_hit(depth)
        style = options.blender_image_coordinate_style
        for name in options.flows_at(frame):
            flow = FLOW_CONVERSIONS[name](vector, style)
            arrays[name] = flow
            arrays[f"{name}_valid"] = validity_mask(flow, hit, style)
    return arrays


def rendered_colors(image: Path, options: BakeOptions) -> np.ndarray | Path:
    """The ``colors`` product of Blender's PNG: its pixels, or for a training layout the file itself, whose pixel
    data the layout copies as it is (decoding and encoding it again cost more than all the flow files)."""
    return image if options.training_sequence else decode_png(read_bytes(image), image)


def convert_frame(renders: dict[str, Path], view_layer: str, frame: int, options: BakeOptions) -> list[Path]:
    """Turn one frame's renders into its products and write each format the products it stores."""
    return write_products(frame_products(renders, view_layer, frame, options), renders.get("image"), frame, options)


def write_products(arrays: dict[str, np.ndarray], image: Path | None, frame: int, options: BakeOptions,
                   camera: dict[str, np.ndarray] | None = None) -> list[Path]:
    """Write a frame's products: into a training layout's folders (with the ``camera``'s K and pose, which Sintel
    keeps), or each format those it stores with the rendered ``image`` copied next to them."""
    sequence = options.training_sequence
    if sequence:
        return LAYOUTS[options.layout].write(sequence, frame, {**arrays, **(camera or {})})
    written = IMAGE_FILES.keep(image, options.output_dir, frame) if image else []
    for name in [name for name, value in arrays.items() if isinstance(value, Path)]:  # the right view's image
        written += IMAGE_FILES.keep(arrays.pop(name), options.output_dir, frame, name)
    for fmt in sorted(options.formats):
        writer = WRITERS[fmt]
        stored = {name: array for name, array in arrays.items() if name in writer.stores}
        if stored:
            written += writer.write(options.output_dir, frame, stored, options)
    return written


def planned_paths(options: BakeOptions, frames: list[int] | None = None) -> list[Path]:
    """Every file the bake will write (of ``frames``, by default all of its own), so existing ones are found before
    anything is rendered."""
    paths = [options.output_dir / "manifest.json"]
    for frame in options.frames if frames is None else frames:
        names = options.products_at(frame)
        paths += IMAGE_FILES.paths(options.output_dir, frame, names)
        for fmt in sorted(options.formats):
            paths += WRITERS[fmt].paths(options.output_dir, frame, [n for n in names if n in WRITERS[fmt].stores])
    return list(dict.fromkeys(paths))  # a sequence file is named once, not per frame


def check_modules(options: BakeOptions) -> None:
    """Before anything is rendered: OpenEXR reads every frame, the HDF5 formats need h5py."""
    require("OpenEXR", *(["h5py"] if any(fmt.startswith("HDF5") for fmt in options.formats) else []))


def own_files(folder: Path) -> list[Path]:
    """Files in ``folder`` named as the add-on names its outputs (any frame, any format): the files of a bake."""
    fixed = {"manifest.json", SEQUENCE_NAME, f".{SEQUENCE_NAME}.adding", TRACKS_NAME, *TRACK_FILES.values()}
    writers = (*WRITERS.values(), IMAGE_FILES)
    found = []
    for path in sorted(folder.iterdir()):
        frames = {int(number) for number in NUMBER.findall(path.name)}
        if path.is_file() and (path.name in fixed or any(path in writer.paths(folder, frame, list(PRODUCTS))
                                                        for frame in frames for writer in writers)):
            found.append(path)
    return found


def create_folder(folder: Path) -> None:
    """Create the output folder and prove it is writable."""
    if folder.is_file():
        raise FlowError(f"Output folder {folder} is a file, not a folder: choose a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FlowError(f"Cannot write to output folder {folder}: {error.strerror or error}") from error


def prepare_output_dir(options: BakeOptions) -> None:
    """Create the folder and refuse to add to another bake's files unless asked to replace them."""
    folder = options.output_dir
    create_folder(folder)
    if not options.overwrite:
        existing = own_files(folder)
        if existing:
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            names = ", ".join(p.name for p in existing[:3]) + more
            raise FlowError(f"{folder} already holds flow files ({names}); turn on Overwrite or choose another folder.")
