"""``manifest.json``: what a bake wrote and with which cameras, for loaders and for people."""
from __future__ import annotations

import json
from pathlib import Path

from .atomic import atomic_path
from .errors import FlowError
from .flow import coordinate_metadata
from .options import BakeOptions

MANIFEST_VERSION = 1


def write_manifest(options: BakeOptions, resolution: tuple[int, int], frames: list[dict], versions: dict) -> Path:
    """Write the manifest for the frames baked so far (also after a cancel or an error)."""
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        **versions,
        "resolution": {"width": resolution[0], "height": resolution[1]},
        **coordinate_metadata(options.blender_image_coordinate_style),
        "intrinsics_convention": "OpenCV K: centre of pixel (0, 0) at (0, 0)",
        "camera_axes": "Blender (x right, y up, looking along -z), camera-to-world",
        "frame_range": [options.frame_start, options.frame_end],
        "sequence_range": [options.sequence_start, options.sequence_end],
        "formats": sorted(options.formats),
        "products": list(dict.fromkeys(name for f in frames for name in options.products_at(f["frame"]))),
        "image_motion_blur": options.image_motion_blur if options.render_images else None,
        "forward_flow_frames": [f["frame"] for f in frames if "forward_flow" in f["flows"]],
        "backward_flow_frames": [f["frame"] for f in frames if "backward_flow" in f["flows"]],
        "frames": frames,
    }
    path = options.output_dir / "manifest.json"
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return path


def baked_coordinate_style(folder: Path) -> bool:
    """Whether the flow in ``folder`` was baked in Blender style, as its manifest says.
    Without a manifest the flow is taken as OpenCV style (y down), as in most flow datasets."""
    path = folder / "manifest.json"
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text(encoding="utf-8"))["blender_image_coordinate_style"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FlowError(f"{path} does not say blender_image_coordinate_style ({error}); fix or remove it.") from error
