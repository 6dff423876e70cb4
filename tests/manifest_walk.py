"""Every file of a bake's folder against its manifest: the files the manifest describes are those of the frames it
lists, in the formats (or the training layout) it names; any other file in the folder is one nobody vouches for."""
from __future__ import annotations

import json
from pathlib import Path

from optical_flow_addon.core.flow_files import IMAGE_FILES, WRITERS
from optical_flow_addon.core.formats.hdf5 import SEQUENCE_NAME
from optical_flow_addon.core.layouts import LAYOUTS, Sequence

TRACK_NAMES = {"TAPVID": "tapvid.pkl", "POINTODYSSEY": "annotations.npz"}


def described_files(manifest_file: Path) -> tuple[Path, set[Path]]:
    """The folder the manifest describes (a training layout's root) and every file it describes there."""
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    records = manifest["frames"]
    tracks = manifest.get("settings", {}).get("tracks") if "tracks" in manifest else None
    track_names = ["tracks.npz"] + [TRACK_NAMES[name] for name in tracks["formats"]] if tracks else []
    if manifest["layout"] in LAYOUTS:
        layout = LAYOUTS[manifest["layout"]]
        root = manifest_file.parent.parent if layout.folder else manifest_file.parent  # CoTracker's is the root
        first, last = manifest["sequence_range"]
        blur = {manifest["image_motion_blur"], manifest.get("settings", {}).get("image_motion_blur")}
        sequence = Sequence(root, manifest["sequence"], first, last, motion_blur="SCENE" in blur,
                            stereo=bool(manifest.get("settings", {}).get("stereo")),
                            segmentation=bool(manifest.get("settings", {}).get("segmentation")))
        own = root / sequence.name
        described = {own / name for name in track_names + ([f"{sequence.name}.npy"] if tracks else [])}
        return root, {manifest_file} | described | {output.path for r in records
                                                    for output in layout.outputs(sequence, r["frame"])}
    folder = manifest_file.parent
    described = {manifest_file} | ({folder / SEQUENCE_NAME} if "HDF5_SEQUENCE" in manifest["formats"] else set())
    described |= {folder / name for name in track_names}
    for r in records:
        described.update(IMAGE_FILES.paths(folder, r["frame"], r["products"]))
        for fmt in manifest["formats"]:
            stored = [name for name in r["products"] if name in WRITERS[fmt].stores]
            described.update(WRITERS[fmt].paths(folder, r["frame"], stored))
    return folder, described


def undescribed_files(manifest_file: Path) -> list[str]:
    """Files under the bake's folder that its manifest does not describe (hidden ones too), and described files
    that are missing, each with what is wrong."""
    folder, described = described_files(manifest_file)
    on_disk = {path for path in folder.rglob("*") if path.is_file()}
    return sorted([f"not described: {p.relative_to(folder)}" for p in on_disk - described]
                  + [f"missing: {p.relative_to(folder)}" for p in described - on_disk])
