"""One rendered frame on disk → flow files, and the checks made before a bake starts."""
from __future__ import annotations

import os
from pathlib import Path

from .dependencies import require
from .errors import FlowError
from .exr import read_vector_and_depth
from .flow import backward_flow, forward_flow, surface_hit, validity_mask
from .flow_files import WRITERS
from .options import BakeOptions

FLOWS = {"forward_flow": forward_flow, "backward_flow": backward_flow}


def convert_frame(exr_path: Path, view_layer: str, frame: int, options: BakeOptions) -> list[Path]:
    """Read the Vector and Depth passes of one frame and write its flows and masks."""
    vector, depth = read_vector_and_depth(exr_path, view_layer)
    hit = surface_hit(depth)
    style = options.blender_image_coordinate_style
    arrays = {}
    for name in options.flows_at(frame):
        flow = FLOWS[name](vector, style)
        arrays[name] = flow
        arrays[f"{name}_valid"] = validity_mask(flow, hit, style)
    return [path for fmt in sorted(options.formats) for path in WRITERS[fmt].write(options.output_dir, frame, arrays, options)]


def planned_paths(options: BakeOptions) -> list[Path]:
    """Every file the bake will write, so existing ones are found before anything is rendered."""
    paths = [options.output_dir / "manifest.json"]
    for frame in options.frames:
        names = options.datasets_at(frame)
        paths += [p for fmt in sorted(options.formats) for p in WRITERS[fmt].paths(options.output_dir, frame, names)]
    return list(dict.fromkeys(paths))  # a sequence file is named once, not per frame


def check_modules(options: BakeOptions) -> None:
    """Before anything is rendered: OpenEXR reads every frame, the HDF5 formats need h5py."""
    require("OpenEXR", *(["h5py"] if any(fmt.startswith("HDF5") for fmt in options.formats) else []))


def prepare_output_dir(options: BakeOptions) -> None:
    """Create the folder, prove it is writable and refuse to overwrite unless asked."""
    folder = options.output_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FlowError(f"Cannot write to output folder {folder}: {error.strerror or error}") from error
    if not options.overwrite:
        existing = [p for p in planned_paths(options) if p.exists()]
        if existing:
            names = ", ".join(p.name for p in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
            raise FlowError(f"{folder} already holds flow files ({names}); turn on Overwrite or choose another folder.")
