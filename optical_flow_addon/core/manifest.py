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
from .products import FLOW_NAMES, OCCLUSION, SCENE_FLOWS

MANIFEST_VERSION = 1
SCENE_CHANGED = "scene (its camera, objects or their animation)"
# What the bake met per object on some of its frames (blender/bake.py's ``motion_record``): the frames, or why its
# pixels are unknown. Each chunk of a sequence baked apart has its own frames' share; the merged manifest holds all.
OBJECT_FRAMES = ("topology_changes", "velocity_objects", "transform_objects", "vector_objects", "realized_objects")
OBJECT_REASONS = ("unknown_objects",)


def on_off(value: object) -> str:
    return "on" if value else "off"


# The settings that decide what a bake's files hold, as ``bake_settings`` records them, each with its name in a
# message and how its value reads there.
SETTING_WORDS = {
    "layout": ("layout", str),
    "scene_frame_range": ("scene frame range", lambda value: f"{value[0]}–{value[1]}"),
    "frame_gap": ("frame gap", str),
    "resolution": ("resolution", lambda value: f"{value[0]}×{value[1]}"),
    "flows": ("flows", lambda value: " and ".join(name.split("_")[0] for name in value) or "none"),
    "occlusion": ("occlusion masks", on_off),
    "scene_flow": ("scene flow", on_off),
    "images": ("images", on_off),
    "image_motion_blur": ("image motion blur", lambda value: str(value).lower()),
    "depth": ("depth", on_off),
    "coordinate_style": ("coordinate style", str),
    "formats": ("formats", lambda value: ", ".join(name.lower() for name in value)),
    "hdf5_compression": ("HDF5 compression", lambda value: str(value).lower()),
    "picture_max_radius": ("picture max radius", lambda value: f"{value} px"),
    "segmentation": ("segmentation", on_off),
    "stereo": ("stereo", on_off),
    "truth_scale": ("truth scale", lambda value: str(value or 1)),
    "normals": ("normals", lambda value: value or "off"),
    "tracks": ("point tracks", lambda value: ", ".join(f"{key} {item}" for key, item in value.items()) if value
               else "off"),
}


def bake_settings(options: BakeOptions, resolution: tuple[int, int]) -> dict:
    """Everything that decides what the bake's files hold, as they are written (a training layout's own files, not
    the formats it ignores), and the scene's fingerprint: a resumed bake keeps files only if all of it is the same.
    Products differ only at the ends of the sequence, so its first, middle and last frame give them all."""
    first, last = options.sequence_start, options.sequence_end
    written = {name for frame in (first, (first + last) // 2, last) for name in options.written_products(frame)}
    formats = options.written_formats
    return {
        "layout": options.layout,
        "scene_frame_range": [first, last],
        "frame_gap": options.frame_gap,
        "resolution": list(resolution),
        "flows": [name for name in FLOW_NAMES if name in written],
        "occlusion": any(name in written for name in OCCLUSION),
        "scene_flow": any(name in written for name in SCENE_FLOWS),
        "images": "colors" in written,
        "image_motion_blur": options.image_motion_blur if "colors" in written else None,
        "depth": "depth" in written,
        "coordinate_style": "Blender" if options.blender_image_coordinate_style else "OpenCV",
        "formats": formats,
        "hdf5_compression": options.hdf5_compression if any(f.startswith("HDF5") for f in formats) else None,
        "picture_max_radius": options.picture_max_radius if "PICTURE" in formats else None,
        "segmentation": True if "segmentation" in written else None,  # None as recorded before it existed
        "stereo": True if options.stereo else None,
        "truth_scale": options.truth_scale if options.truth_scale != 1 else None,
        "normals": ("geometric" if options.geometric_normals else "shading") if "normals" in written else None,
        "tracks": {"count": options.track_count, "queries": options.track_queries.lower(),
                   "balance": options.track_balance, "seed": options.track_seed,
                   "formats": sorted(options.track_formats)} if options.point_tracks else None,
        "scene": options.scene_fingerprint,
    }


def setting_changes(earlier: dict, now: dict) -> list[str]:
    """What differs between two ``bake_settings``, in words: ``frame gap 1 → 2``."""
    changes = [f"{word} {show(earlier.get(key))} → {show(now[key])}" if key in earlier else f"{word} (not recorded)"
               for key, (word, show) in SETTING_WORDS.items() if earlier.get(key) != now[key]]
    return changes + ([SCENE_CHANGED] if earlier.get("scene") != now["scene"] else [])


def in_words(changes: list[str]) -> str:
    return changes[0] if len(changes) == 1 else f"{', '.join(changes[:-1])} and {changes[-1]}"


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
        "image_motion_blur": options.image_motion_blur if any("colors" in f["products"] for f in frames) else None,
        "self_check": self_check.summary(options.verify, options.occlusion, frames),
        "settings": bake_settings(options, resolution),
        "forward_flow_frames": [f["frame"] for f in frames if "forward_flow" in f["flows"]],
        "backward_flow_frames": [f["frame"] for f in frames if "backward_flow" in f["flows"]],
        "frames": frames,
    }


def merge_manifests(options: BakeOptions, manifests: list[dict]) -> Path:
    """One manifest for the chunks of a sequence baked apart (in parallel, on other machines): the manifest
    one bake of all their frames writes. Chunks baked by different Blender or add-on versions are refused."""
    resolution = (manifests[0]["resolution"]["width"], manifests[0]["resolution"]["height"])
    own = manifest_fields(options, resolution, [], {})
    for manifest in manifests:
        changes = setting_changes(manifest.get("settings", {}), own["settings"])
        if changes:
            frames = [record["frame"] for record in manifest["frames"]] or ["none"]
            raise FlowError(f"Frames {frames[0]}-{frames[-1]} of the bake in {options.output_dir} were baked with "
                            f"other settings than this bake's: {in_words(changes)}. Bake with the same settings, "
                            "or turn on Overwrite to replace them.")
    # the tracks are the sequence's, followed by the chunk holding its first frame
    tracks = next(({"tracks": manifest["tracks"]} for manifest in manifests if "tracks" in manifest), {})
    met = objects_met(manifests)
    versions = [{key: value for key, value in manifest.items() if key not in {*own, *met, "tracks"}}
                for manifest in manifests]
    if any(other != versions[0] for other in versions):
        raise FlowError(f"The chunks of the bake in {options.output_dir} were baked with different versions "
                        f"({', '.join(sorted({json.dumps(v, sort_keys=True) for v in versions}))}): install the same "
                        "Blender (bpy) and add-on on every machine and bake again with --overwrite.")
    frames = sorted({record["frame"]: record for manifest in manifests for record in manifest["frames"]}.values(),
                    key=lambda record: record["frame"])
    span = replace(options, frame_start=min(options.frame_start, frames[0]["frame"]),
                   frame_end=max(options.frame_end, frames[-1]["frame"]))
    return write_manifest(span, resolution, frames, {**versions[0], **met, **tracks})


def objects_met(manifests: list[dict]) -> dict:
    """The ``OBJECT_FRAMES`` and ``OBJECT_REASONS`` of manifests of one sequence's frames (chunks, or a bake and its
    resume), as one bake of all their frames records them: each object's frames merged in order, the first reason."""
    met: dict[str, dict] = {}
    for key in [key for key in OBJECT_FRAMES + OBJECT_REASONS if any(key in manifest for manifest in manifests)]:
        merged = met.setdefault(key, {})
        for name, value in [item for manifest in manifests for item in manifest.get(key, {}).items()]:
            merged[name] = sorted({*merged.get(name, []), *value}) if key in OBJECT_FRAMES else merged.get(name, value)
    return met


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
