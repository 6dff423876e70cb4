"""The picture Show Flow shows for a baked frame: the colour picture of one flow, read from the bake's files
(BlenderProc's .npy, or a training layout's own flow files), beside the frame's own image when the bake rendered
one (so each motion is seen on the pixels it belongs to), or why there is no picture."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import FlowError
from .flow_files import FORMATS, IMAGE_FILES, read_flow_file
from .formats.common import check_dataset, read_bytes
from .formats.flo import known
from .formats.picture import GAP, GREY, flow_picture, longest_vector
from .formats.png import decode_png
from .layouts import Layout, Sequence, get_layout
from .manifest import manifest_coordinate_style, read_manifest_file
from .options import BLENDERPROC
from .products import FLOW_NAMES


def flow_path(folder: Path, flow: str, frame: int) -> Path:
    """The .npy of one flow at one frame (the NumPy format always has one file per flow and frame)."""
    return FORMATS["NPY"].paths(folder, frame, [flow])[0]


def image_path(folder: Path, frame: int) -> Path:
    """The frame's image, ``colors_%04d.png``: written whenever a bake renders images, whatever its formats."""
    return IMAGE_FILES.paths(folder, frame, ["colors"])[0]


def read_image(path: Path) -> np.ndarray | None:
    """An image as the bake saved it (H×W×3 uint8, or H×W×4 with a transparent film), None if there is none."""
    if not path.exists():
        return None
    return check_dataset(path, "colors", decode_png(read_bytes(path), path))


def baked_image(folder: Path, frame: int) -> np.ndarray | None:
    """The frame's image among BlenderProc-style files, None if it has none."""
    return read_image(image_path(folder, frame))


@lru_cache(maxsize=4)
def manifest_as_of(path: Path, version: tuple[int, int, int]) -> dict:
    """The manifest as it was when its (inode, size, modification time) were ``version``: the panel asks on every
    redraw, and each bake writes a new file (renamed over the old one)."""
    return read_manifest_file(path)


@dataclass(frozen=True)
class Bake:
    """What one bake wrote, as its manifest says: BlenderProc's files in ``folder``, or one sequence of a
    training layout under ``folder`` (``training``), whose files are named by the layout's own rules."""

    folder: Path
    manifest: dict
    manifest_path: Path
    training: tuple[Layout, Sequence] | None

    @classmethod
    def read(cls, folder: Path, manifest_path: Path | None = None) -> Bake:
        """The bake in ``folder`` that ``manifest_path`` describes (BlenderProc's ``manifest.json`` if not given;
        without a manifest, NumPy files in OpenCV style are looked for)."""
        path = manifest_path or folder / "manifest.json"
        found = path.stat() if path.is_file() else None
        manifest = manifest_as_of(path, (found.st_ino, found.st_size, found.st_mtime_ns)) if found else {}
        layout = manifest.get("layout", BLENDERPROC)
        if layout == BLENDERPROC:
            return cls(folder, manifest, path, None)
        try:
            first, last = manifest["sequence_range"]
            sequence = Sequence(folder, manifest["sequence"], int(first), int(last),
                                motion_blur=manifest.get("image_motion_blur") == "SCENE")
            return cls(folder, manifest, path, (get_layout(layout), sequence))
        except (KeyError, TypeError, ValueError) as error:
            raise FlowError(f"{path} does not say which {layout} sequence it describes ({error!r}: expected "
                            '"sequence" and "sequence_range": [first, last]); fix or remove it.') from None

    def frame_files(self, frame: int) -> dict[str, Path]:
        """Where the bake keeps the frame's flows and image, by product (``forward_flow``, ``backward_flow``,
        ``colors``): the files it writes, which may not be there."""
        if self.training is None:
            return {**{flow: flow_path(self.folder, flow, frame) for flow in FLOW_NAMES},
                    "colors": image_path(self.folder, frame)}
        layout, sequence = self.training
        if frame not in sequence.frames:
            return {}
        files: dict[str, Path] = {}
        for output in layout.outputs(sequence, frame):
            name = output.products[0]
            if output.products in ((name, f"{name}_valid"), ("colors",)):
                files.setdefault(name, output.path)  # KITTI keeps a middle frame's image in two pairs
        return files

    def has(self, product: str, frame: int) -> bool:
        path = self.frame_files(frame).get(product)
        return path is not None and path.is_file()

    def missing_flow_message(self, flow: str, frame: int) -> str:
        """Say why there is no picture and what to do about it."""
        label = flow.replace("_", " ")
        if self.training:
            layout, sequence = self.training
            frames = [f for f in sequence.frames if flow in self.frame_files(f)]
            where = f"{layout.name} sequence {sequence.name!r} in {self.folder}"
            if not frames:
                return f"The {where} holds no {label}: the {layout.name} layout has none; show the other flow."
        else:
            if self.manifest and "NPY" not in self.manifest.get("formats", []):
                return (f"The flow in {self.folder} was written without NumPy .npy files, which Show Flow reads: "
                        "turn on NumPy .npy in Output and render again.")
            frames, where = self.manifest.get(f"{flow}_frames", []), str(self.folder)
        exists = f" ({label} exists for frames {frames[0]}–{frames[-1]})" if frames else ""
        return f"No {label} for frame {frame} in {where}{exists}: go to a frame that has one, or render flow first."

    def flow(self, flow: str, frame: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The flow of a frame, in the bake's coordinate style, and its validity mask (None: all valid)."""
        if not self.has(flow, frame):
            raise FlowError(self.missing_flow_message(flow, frame))
        if self.training is None:
            arrays = FORMATS["NPY"].read(self.folder, frame)
            return arrays[flow], arrays.get(f"{flow}_valid")
        arrays = read_flow_file(self.frame_files(frame)[flow])  # the dataset's own file: .flo, KITTI .png, .pfm
        vectors = arrays["flow"]  # a .pfm holds no mask: its unknown pixels hold Middlebury's 1e10
        return vectors, arrays["flow_valid"] if "flow_valid" in arrays else known(vectors)

    def blender_image_coordinate_style(self) -> bool:
        """Training layouts hold OpenCV-style flow only; BlenderProc's files say their style in the manifest."""
        return False if self.training else manifest_coordinate_style(self.manifest, self.manifest_path)


def baked_flow_picture(bake: Bake, flow: str, frame: int) -> tuple[np.ndarray, float]:
    """Colour picture (H×W×3 uint8, top row first) of one flow of a frame and its longest valid motion in pixels.

    Colours always mean the same direction on screen: Blender-style files (y up) are turned to y down.
    """
    vectors, valid = bake.flow(flow, frame)
    return flow_picture(vectors, valid, bake.blender_image_coordinate_style()), longest_vector(vectors, valid)


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


def baked_frame_picture(bake: Bake, flow: str, frame: int, with_image: bool = True) -> FramePicture:
    """The flow picture of a frame, with the frame's image on its left if asked for and the bake has it.
    A bake without images gives the flow alone and a note saying so, never an error."""
    picture, longest = baked_flow_picture(bake, flow, frame)
    if not with_image:
        return FramePicture(picture, longest, False)
    path = bake.frame_files(frame)["colors"]
    image = read_image(path)
    if image is None:
        rendered = "colors" in bake.manifest.get("products", [])
        note = (f"{path.name} is missing from {path.parent}" if rendered else
                "the bake rendered no images (turn on Images under Flow and render again to see them beside the flow)")
        return FramePicture(picture, longest, False, note)
    scale = picture.shape[0] // image.shape[0]
    if scale > 1 and image.shape[1] * scale == picture.shape[1]:  # truth at a finer scale: the image's pixels grow
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    if image.shape[:2] != picture.shape[:2]:
        return FramePicture(picture, longest, False, f"{path.name} is {image.shape[1]}×{image.shape[0]} px, the flow "
                                                     f"{picture.shape[1]}×{picture.shape[0]}: they are not of the "
                                                     "same bake")
    return FramePicture(side_by_side(image, picture), longest, True)
