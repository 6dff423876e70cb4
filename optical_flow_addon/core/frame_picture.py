"""The picture Show Flow shows for a baked frame: the colour picture of one flow, read from the bake's .npy files,
beside the frame's own image when the bake rendered one (so each motion is seen on the pixels it belongs to),
or why there is no picture."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FlowError
from .flow_files import FORMATS, IMAGE_FILES
from .formats.common import check_dataset, read_bytes
from .formats.picture import GAP, GREY, flow_picture, longest_vector
from .formats.png import decode_png
from .manifest import baked_coordinate_style, read_manifest


def flow_path(folder: Path, flow: str, frame: int) -> Path:
    """The .npy of one flow at one frame (the NumPy format always has one file per flow and frame)."""
    return FORMATS["NPY"].paths(folder, frame, [flow])[0]


def image_path(folder: Path, frame: int) -> Path:
    """The frame's image, ``colors_%04d.png``: written whenever a bake renders images, whatever its formats."""
    return IMAGE_FILES.paths(folder, frame, ["colors"])[0]


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


def baked_image(folder: Path, frame: int) -> np.ndarray | None:
    """The frame's image as the bake saved it (H×W×3 uint8, or H×W×4 with a transparent film), None if it has none."""
    path = image_path(folder, frame)
    if not path.exists():
        return None
    return check_dataset(path, "colors", decode_png(read_bytes(path), path))


def with_alpha(pixels: np.ndarray) -> np.ndarray:
    """H×W×4 uint8: RGBA as it is, RGB made opaque."""
    if pixels.shape[2] == 4:
        return pixels
    return np.concatenate([pixels, np.full((*pixels.shape[:2], 1), 255, np.uint8)], axis=2)


def side_by_side(image: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """The image (left) and the flow picture (right) of one height, ``GAP`` grey pixels apart, as H×W×4 uint8:
    the image keeps its alpha (a transparent film stays see-through), the flow and the gap are opaque."""
    gap = np.full((picture.shape[0], GAP, 4), (GREY, GREY, GREY, 255), np.uint8)
    return np.concatenate([with_alpha(image), gap, with_alpha(picture)], axis=1)


@dataclass(frozen=True)
class FramePicture:
    """What Show Flow shows: ``pixels`` (uint8, top row first; RGBA with the image on the left), the flow's
    longest valid motion in pixels, whether the frame's image is on the left, and ``note``: why the image asked
    for is not there ("" when it is, or when it was not asked for)."""

    pixels: np.ndarray
    longest: float
    image_shown: bool
    note: str = ""


def baked_frame_picture(folder: Path, flow: str, frame: int, with_image: bool = True) -> FramePicture:
    """The flow picture of a frame, with the frame's image on its left if asked for and the bake has it.
    A bake without images gives the flow alone and a note saying so, never an error."""
    picture, longest = baked_flow_picture(folder, flow, frame)
    if not with_image:
        return FramePicture(picture, longest, False)
    image = baked_image(folder, frame)
    if image is None:
        rendered = "colors" in read_manifest(folder).get("products", [])
        note = (f"{image_path(folder, frame).name} is missing from {folder}" if rendered else
                "the bake rendered no images (turn on Images under Flow and render again to see them beside the flow)")
        return FramePicture(picture, longest, False, note)
    if image.shape[:2] != picture.shape[:2]:
        return FramePicture(picture, longest, False, f"{image_path(folder, frame).name} is {image.shape[1]}×"
                                                     f"{image.shape[0]} px, the flow {picture.shape[1]}×"
                                                     f"{picture.shape[0]}: they are not of the same bake")
    return FramePicture(side_by_side(image, picture), longest, True)
