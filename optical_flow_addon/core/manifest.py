"""``manifest.json``: what a bake wrote and with which cameras, for loaders and for people."""
from __future__ import annotations

import json
from pathlib import Path

from .atomic import atomic_path
from .options import BakeOptions

MANIFEST_VERSION = 1


def write_manifest(options: BakeOptions, resolution: tuple[int, int], frames: list[dict], versions: dict) -> Path:
    """Write the manifest for the frames baked so far (also after a cancel or an error)."""
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        **versions,
        "resolution": {"width": resolution[0], "height": resolution[1]},
        "blender_image_coordinate_style": options.blender_image_coordinate_style,
        "coordinate_style": "blender (origin bottom-left, y up)" if options.blender_image_coordinate_style
        else "opencv (origin top-left, y down)",
        "flow_units": "pixels; arrays are H x W x 2 (x, y), top row first",
        "intrinsics_convention": "OpenCV K: centre of pixel (0, 0) at (0, 0)",
        "camera_axes": "Blender (x right, y up, looking along -z), camera-to-world",
        "frame_range": [options.frame_start, options.frame_end],
        "sequence_range": [options.sequence_start, options.sequence_end],
        "formats": sorted(options.formats),
        "forward_flow_frames": [f["frame"] for f in frames if "forward_flow" in f["flows"]],
        "backward_flow_frames": [f["frame"] for f in frames if "backward_flow" in f["flows"]],
        "frames": frames,
    }
    path = options.output_dir / "manifest.json"
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return path
