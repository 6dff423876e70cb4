"""``manifest.json``: what a bake wrote and with which cameras, for loaders and for people."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from . import self_check
from .atomic import atomic_path
from .errors import FlowError
from .flow import coordinate_metadata
from .layouts import LAYOUTS
from .options import BakeOptions

MANIFEST_VERSION = 1


def manifest_path(options: BakeOptions) -> Path:
    """``manifest.json`` next to BlenderProc's files; in a training layout one per sequence, beside the dataset's
    folders (``Sintel/<sequence>.manifest.json``), where its loaders do not look."""
    if options.training_sequence is None:
        return options.output_dir / "manifest.json"
    return options.output_dir / LAYOUTS[options.layout].folder / f"{options.sequence}.manifest.json"


def write_manifest(options: BakeOptions, resolution: tuple[int, int], frames: list[dict], versions: dict) -> Path:
    """Write the manifest for the frames baked so far (also after a cancel or an error)."""
    manifest = manifest_fields(options, resolution, frames, versions)
    path = manifest_path(options)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return path


def manifest_fields(options: BakeOptions, resolution: tuple[int, int], frames: list[dict], versions: dict) -> dict:
    """The manifest's fields. Each frame's flows and products are those whose files were written (a training layout
    writes fewer than the bake makes)."""
    frames = [{**record, "flows": list(options.written_flows(record["frame"])),
               "products": options.written_products(record["frame"])} for record in frames]
    return {
        "manifest_version": MANIFEST_VERSION,
        **versions,
        "resolution": {"width": resolution[0], "height": resolution[1]},
        **coordinate_metadata(options.blender_image_coordinate_style),
        "intrinsics_convention": "OpenCV K: centre of pixel (0, 0) at (0, 0)",
        "camera_axes": "Blender (x right, y up, looking along -z), camera-to-world",
        "frame_range": [options.frame_start, options.frame_end],
        "sequence_range": [options.sequence_start, options.sequence_end],
        "layout": options.layout,
        "sequence": options.sequence if options.training_sequence else None,
        "formats": options.written_formats,
        "products": list(dict.fromkeys(name for f in frames for name in f["products"])),
        "image_motion_blur": options.image_motion_blur if options.render_images else None,
        "self_check": self_check.summary(options.verify, options.occlusion, frames),
        "forward_flow_frames": [f["frame"] for f in frames if "forward_flow" in f["flows"]],
        "backward_flow_frames": [f["frame"] for f in frames if "backward_flow" in f["flows"]],
        "frames": frames,
    }


def merge_manifests(options: BakeOptions, manifests: list[dict]) -> Path:
    """One manifest for the chunks of a sequence baked apart (in parallel, on other machines): the manifest
    one bake of all their frames writes. Chunks baked by different Blender or add-on versions are refused."""
    resolution = (manifests[0]["resolution"]["width"], manifests[0]["resolution"]["height"])
    own = manifest_fields(options, resolution, [], {})
    versions = [{key: value for key, value in manifest.items() if key not in own} for manifest in manifests]
    if any(other != versions[0] for other in versions):
        raise FlowError(f"The chunks of the bake in {options.output_dir} were baked with different versions "
                        f"({', '.join(sorted({json.dumps(v, sort_keys=True) for v in versions}))}): install the same "
                        "Blender (bpy) and add-on on every machine and bake again with --overwrite.")
    frames = sorted({record["frame"]: record for manifest in manifests for record in manifest["frames"]}.values(),
                    key=lambda record: record["frame"])
    span = replace(options, frame_start=min(options.frame_start, frames[0]["frame"]),
                   frame_end=max(options.frame_end, frames[-1]["frame"]))
    return write_manifest(span, resolution, frames, versions[0])


def read_manifest(folder: Path) -> dict:
    """The manifest of the bake in ``folder``: empty if there is none, a FlowError naming it if it is broken."""
    return read_manifest_file(folder / "manifest.json")


def bake_manifest(options: BakeOptions) -> dict:
    """The manifest of the bake (in a training layout, of the sequence) ``options`` describe, as ``read_manifest``."""
    return read_manifest_file(manifest_path(options))


def read_manifest_file(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FlowError(f"{path} cannot be read as JSON ({error}); fix or remove it.") from error
    if not isinstance(manifest, dict):
        raise FlowError(f"{path} holds a JSON {type(manifest).__name__}, not the object a manifest is; "
                        "fix or remove it.")
    return manifest


def baked_coordinate_style(folder: Path) -> bool:
    """Whether the flow in ``folder`` was baked in Blender style, as its manifest says.
    Without a manifest the flow is taken as OpenCV style (y down), as in most flow datasets."""
    return manifest_coordinate_style(read_manifest(folder), folder / "manifest.json")


def manifest_coordinate_style(manifest: dict, path: Path) -> bool:
    """Whether ``manifest`` (read from ``path``; empty if there is none) says its flow is in Blender style."""
    if manifest and "blender_image_coordinate_style" not in manifest:
        raise FlowError(f"{path} does not say blender_image_coordinate_style; fix or remove it.")
    return bool(manifest.get("blender_image_coordinate_style", False))
