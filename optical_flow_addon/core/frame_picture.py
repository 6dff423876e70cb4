"""The colour picture of one flow of a baked frame, read from the bake's .npy files, or why there is none."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import FlowError
from .flow_files import FORMATS
from .formats.picture import flow_picture, longest_vector
from .manifest import baked_coordinate_style, read_manifest


def flow_path(folder: Path, flow: str, frame: int) -> Path:
    """The .npy of one flow at one frame (the NumPy format always has one file per flow and frame)."""
    return FORMATS["NPY"].paths(folder, frame, [flow])[0]


def missing_flow_message(folder: Path, flow: str, frame: int) -> str:
    """Say why there is no picture and what to do about it."""
    label = flow.replace("_", " ")
    manifest = read_manifest(folder)
    if manifest and "NPY" not in manifest.get("formats", []):
        return (f"The flow in {folder} was written without NumPy .npy files, which Show Flow reads: "
                "turn on NumPy .npy in Output and render again.")
    frames = manifest.get(f"{flow}_frames", [])
    where = f" ({label} exists for frames {frames[0]}–{frames[-1]})" if frames else ""
    return f"No {label} for frame {frame} in {folder}{where}: go to a frame that has one, or render flow first."


def baked_flow_picture(folder: Path, flow: str, frame: int) -> tuple[np.ndarray, float]:
    """Colour picture (H×W×3 uint8, top row first) of one flow of a frame and its longest valid motion in pixels.

    Colours always mean the same direction on screen: Blender-style files (y up) are turned to y down.
    """
    if not flow_path(folder, flow, frame).exists():
        raise FlowError(missing_flow_message(folder, flow, frame))
    arrays = FORMATS["NPY"].read(folder, frame)
    vectors, valid = arrays[flow], arrays.get(f"{flow}_valid")
    return flow_picture(vectors, valid, baked_coordinate_style(folder)), longest_vector(vectors, valid)
