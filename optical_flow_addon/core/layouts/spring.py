"""Spring's training folders: both views' images, flow, disparity and disparity change, and the cameras.

``spring/train/<sequence>/frame_left/frame_left_0001.png`` ... numbered from 1, and ``frame_right/``;
``flow_FW_left/flow_FW_left_0001.flo5`` (no file for the last frame) and ``flow_BW_left/`` (none for the first);
``disp1_left/disp1_left_0001.dsp5`` and ``disp1_right/``: each view's disparity (positive in both, as Spring stores
it); ``disp2_FW_left/`` (not for the last frame), ``disp2_BW_left/`` (not for the first) and their ``_right``
siblings: the disparity at t±1 of the points of frame t, at frame t's pixels (disparity + disparity change);
``cam_data/intrinsics.txt`` (``fx fy cx cy``) and ``cam_data/extrinsics.txt`` (the left camera's world-to-camera
4×4 matrix in OpenCV axes, row-major), one line per frame.

As in Spring, the truth files hold 2×2 samples per image pixel (twice the image's height and width), with values
in image pixels, NaN where there is no truth. ptlflow's ``SpringDataset(root / 'spring')`` loads both views' flow;
Spring's own readers (``flow_IO``, ``np.loadtxt``) read every file. The right view's flow is ``flow_FW_right`` and
``flow_BW_right``.

Not written: ``cam_data/focaldistance.txt`` (the focus distance, not among a frame's products) and Spring's ``maps/``
(sky, detail, matchmaps).
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..formats.png import SIGNATURE
from ..formats.spring import save_dsp5, save_flo5, truth_size
from ..products import disparity_change_name
from ..transforms import Convention
from .common import Layout, Output, Sequence, file_fits, save_image

WORLD_TO_OPENCV_CAMERA = Convention(camera_axes="OPENCV", direction="WORLD_TO_CAMERA")
DIRECTIONS = {"forward_flow": "FW", "backward_flow": "BW"}
VIEWS = {"left": "", "right": "right_"}  # the view's folder suffix → its products' prefix
TRUTH_SCALE = 2  # truth samples per image pixel along each axis
IMAGE_PRODUCTS = ("colors", "right_colors")
CAMERA_FILES = ("intrinsics.txt", "extrinsics.txt")


def save_later_disparity(path: Path, disparity: np.ndarray, change: np.ndarray, *valid: np.ndarray) -> None:
    """``disp2``: the disparity of frame t's points at t±1 (at frame t's pixels), known where every mask is."""
    save_dsp5(path, disparity + change, np.logical_and.reduce(valid))


def intrinsics_line(K: np.ndarray) -> list[float]:
    """``fx fy cx cy`` with the principal point measured from the image's corner, as Spring (rendered by Blender)
    has it: 960 540 for a centred 1920×1080 camera. K has pixel (0, 0)'s centre at (0, 0), so half a pixel more."""
    return [K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5]


def extrinsics_line(camera_to_world: np.ndarray) -> list[float]:
    """Blender's camera-to-world pose as Spring's world-to-camera matrix in OpenCV axes, row by row."""
    return list(WORLD_TO_OPENCV_CAMERA.from_blender(np.asarray(camera_to_world, np.float64)).ravel())


def camera_lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").splitlines() if path.is_file() else []


def line_saver(final: Path, index: int, count: int, line: Callable[[np.ndarray], list[float]]) -> Callable[..., None]:
    """Save a camera file with this frame's line at ``index`` and the other frames' lines as ``final`` has them
    (lines of frames not written yet are ``nan``; lines beyond the sequence's ``count`` frames go). Frames are
    written one at a time, so the file ends with every frame's line."""

    def save(path: Path, array: np.ndarray) -> None:
        values = [repr(float(value)) for value in line(np.asarray(array, np.float64))]
        lines = camera_lines(final)[:count]
        lines += [" ".join(["nan"] * len(values))] * (index + 1 - len(lines))
        lines[index] = " ".join(values)  # single spaces: some readers split on " "
        path.write_text("\n".join(lines) + "\n", encoding="ascii")

    return save


def has_line(path: Path, index: int) -> bool:
    """Whether the camera file has a finite line for frame ``index``."""
    lines = camera_lines(path)
    try:
        return index < len(lines) and bool(np.isfinite([float(v) for v in lines[index].split(" ")]).all())
    except ValueError:
        return False


def fits(path: Path, index: int, height: int, width: int) -> bool:
    """Whether a file of frame ``index`` is whole for images of ``height`` × ``width``; FlowError if damaged."""
    if path.suffix == ".txt":
        return has_line(path, index)
    if path.suffix == ".png":
        return file_fits(path, height, width)
    return truth_size(path) == (TRUTH_SCALE * height, TRUTH_SCALE * width)


def image_size(image: np.ndarray | Path | bytes) -> tuple[int, int]:
    """Height and width of an image product: pixels, or Blender's PNG (read from its header)."""
    if isinstance(image, np.ndarray):
        return image.shape[:2]
    header = image[:24] if isinstance(image, bytes) else image.read_bytes()[:24]
    if not header.startswith(SIGNATURE) or len(header) < 24:
        raise FlowError(f"{image} is not a PNG image.")
    width, height = struct.unpack(">II", header[16:24])
    return height, width


class Spring(Layout):
    name = "SPRING"
    folder = "spring"
    formats = ("PNG", "FLO5", "DSP5", "TXT")
    loaders = ("ptlflow.data.datasets.SpringDataset(root / 'spring', split='train', side_names='left')",)
    first_number = 1

    def sequence_folder(self, sequence: Sequence) -> Path:
        return sequence.root / self.folder / "train" / sequence.name

    def outputs(self, sequence: Sequence, frame: int) -> list[Output]:
        folder, index = self.sequence_folder(sequence), sequence.index(frame)
        number = f"{index + self.first_number:04d}"

        def path(kind: str, suffix: str) -> Path:
            return folder / kind / f"{kind}_{number}{suffix}"

        outputs = [Output(path("frame_left", ".png"), ("colors",), save_image),
                   Output(path("frame_right", ".png"), ("right_colors",), save_image)]
        for side, view in VIEWS.items():
            outputs.append(Output(path(f"disp1_{side}", ".dsp5"), (f"{view}disparity", f"{view}disparity_valid"),
                                  save_dsp5))
        for flow, word in DIRECTIONS.items():
            beyond = sequence.is_last(frame) if flow == "forward_flow" else index == 0
            if beyond:
                continue
            change = disparity_change_name(flow)
            for side, view in VIEWS.items():
                outputs += [Output(path(f"flow_{word}_{side}", ".flo5"), (view + flow, f"{view}{flow}_valid"),
                                   save_flo5),
                            Output(path(f"disp2_{word}_{side}", ".dsp5"), (f"{view}disparity", view + change,
                                   f"{view}disparity_valid", f"{view}{flow}_valid"), save_later_disparity)]
        count = len(sequence.frames)
        for name, product, line in (("intrinsics.txt", "K", intrinsics_line),
                                    ("extrinsics.txt", "camera_to_world", extrinsics_line)):
            final = folder / "cam_data" / name
            outputs.append(Output(final, (product,), line_saver(final, index, count, line)))
        return outputs

    def check(self, sequence: Sequence) -> None:
        """Spring holds both views; ptlflow takes a sequence's folder name up to its first '.' (``Path.stem``)."""
        super().check(sequence)
        if "." in sequence.name:
            raise FlowError(f"Sequence name {sequence.name!r} has a '.': ptlflow's SpringDataset reads a sequence's "
                            "folder name without what follows its last '.' and would not find it. Choose a name "
                            "without '.'.")
        if not sequence.stereo:
            raise FlowError("The SPRING layout holds both views: turn on Stereo.")

    def check_frame(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray | Path]) -> None:
        """Spring's truth has 2×2 samples per image pixel: refuse truth of any other size before writing."""
        height, width = image_size(products["colors"])
        expected = (TRUTH_SCALE * height, TRUTH_SCALE * width)
        for output in self.outputs(sequence, frame):
            for name in output.products:
                array = products[name]
                if name in IMAGE_PRODUCTS or output.path.parent.name == "cam_data":
                    continue
                if array.shape[:2] != expected:
                    raise FlowError(f"Frame {frame}: {name} is {array.shape[1]}×{array.shape[0]} for images of "
                                    f"{width}×{height}, but Spring's truth is at twice the image resolution per axis "
                                    f"({expected[1]}×{expected[0]}): bake it with truth_scale 2.")

    def whole(self, sequence: Sequence, frame: int, height: int, width: int) -> bool:
        """Whether the frame's images are ``height`` × ``width``, its truth files twice that per axis, and the
        camera files have its line."""
        try:
            index = sequence.index(frame)
            return all(output.path.is_file() and fits(output.path, index, height, width)
                       for output in self.outputs(sequence, frame))
        except FlowError:  # damaged, or a frame outside the sequence
            return False

    def folders(self, sequence: Sequence) -> list[Path]:
        folder = self.sequence_folder(sequence)
        kinds = [f"frame_{side}" for side in VIEWS] + [f"disp1_{side}" for side in VIEWS]
        kinds += [f"{kind}_{word}_{side}" for word in DIRECTIONS.values() for kind in ("flow", "disp2")
                  for side in VIEWS]
        return [folder / kind for kind in kinds] + [folder / "cam_data"]


SPRING = Spring()
