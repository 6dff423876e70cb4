"""FlyingThings3D's training folders: images, flow into the future and the past, and ptlflow's occlusions.

``FlyingThings3D/frames_cleanpass/TRAIN/A/<sequence>/left/0000.png`` ... numbered from 0
(``frames_finalpass`` for images with motion blur); ``optical_flow/TRAIN/A/<sequence>/into_future/left/
OpticalFlowIntoFuture_0000_L.pfm`` and ``into_past/.../OpticalFlowIntoPast_0000_L.pfm``; ``occlusions/``
mirrors ``optical_flow/`` with PNGs (255 = occluded), where ptlflow looks for them.

Each direction has one flow file per image, as in FlyingThings3D: torchvision and ptlflow pair image i
with into_future file i and image i + 1 with into_past file i + 1, and skip the last into_future and the
first into_past file. Those two point outside the sequence and hold unknown flow (1e10) and all occluded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..formats.pfm import save_pfm
from ..products import disparity_change_name
from .common import Layout, Output, Sequence, other_sequences, save_image, save_mask

PASSES = {False: "frames_cleanpass", True: "frames_finalpass"}  # by motion blur
DIRECTIONS = {"forward_flow": ("into_future", "IntoFuture"), "backward_flow": ("into_past", "IntoPast")}
DISPARITY_FOLDER, DISPARITY_CHANGE_FOLDER = "disparity", "disparity_change"


def save_flow(path: Path, flow: np.ndarray, valid: np.ndarray) -> None:
    """Flow with Middlebury's unknown value (1e10) at invalid pixels. Loaders without a validity mask
    (ptlflow, torchvision's training references) drop flow beyond ±1000 px, so these pixels are not learnt."""
    save_pfm(path, flow, valid)


def save_unknown_flow(path: Path, other: np.ndarray) -> None:
    """Flow to a frame outside the sequence, sized like the ``other`` direction's flow: unknown everywhere."""
    save_flow(path, np.zeros_like(other, np.float32), np.zeros(other.shape[:2], bool))


def save_all_occluded(path: Path, other: np.ndarray) -> None:
    save_mask(path, np.ones(other.shape[:2], bool))


def save_object_index(path: Path, segmentation: np.ndarray) -> None:
    save_pfm(path, segmentation.astype(np.float32))


def save_no_change(path: Path, disparity: np.ndarray) -> None:
    """Disparity change to a frame outside the sequence: none known, stored as 0 (FlyingThings3D has no unknown)."""
    save_pfm(path, np.zeros_like(disparity))


class FlyingThings3D(Layout):
    name = "FLYINGTHINGS3D"
    folder = "FlyingThings3D"
    formats = ("PNG", "PFM")
    loaders = ("torchvision.datasets.FlyingThings3D(root, pass_name='clean' or 'final')",
               "ptlflow.data.datasets.FlyingThings3DDataset(root / 'FlyingThings3D', pass_names='clean' or 'final')")

    def sequence_folder(self, sequence: Sequence, top: str) -> Path:
        return sequence.root / self.folder / top / "TRAIN" / "A" / sequence.name

    def outputs(self, sequence: Sequence, frame: int) -> list[Output]:
        number = f"{sequence.index(frame):04d}"
        image = self.sequence_folder(sequence, PASSES[sequence.motion_blur]) / "left" / f"{number}.png"
        outputs = [Output(image, ("colors",), save_image), *self.flow_outputs(sequence, frame, number, "left")]
        if sequence.segmentation:  # FlyingThings3D's object_index: one float channel of instance indices
            outputs.append(Output(self.sequence_folder(sequence, "object_index") / "left" / f"{number}.pfm",
                                  ("segmentation",), save_object_index))
        return outputs + (self.stereo_outputs(sequence, frame, number) if sequence.stereo else [])

    def flow_outputs(self, sequence: Sequence, frame: int, number: str, side: str) -> list[Output]:
        """A view's flow into the future and the past, and its occlusion masks."""
        view = "" if side == "left" else "right_"
        outputs = []
        for flow, (direction, word) in DIRECTIONS.items():
            flow_path = (self.sequence_folder(sequence, "optical_flow") / direction / side
                         / f"OpticalFlow{word}_{number}_{side[0].upper()}.pfm")
            occlusion_path = self.sequence_folder(sequence, "occlusions") / direction / side / f"{number}.png"
            beyond = sequence.is_last(frame) if flow == "forward_flow" else sequence.index(frame) == 0
            if beyond:  # a sequence has two frames or more, so the frame has the other direction's flow
                other = view + next(name for name in DIRECTIONS if name != flow)
                outputs += [Output(flow_path, (other,), save_unknown_flow),
                            Output(occlusion_path, (other,), save_all_occluded)]
            else:
                outputs += [Output(flow_path, (view + flow, f"{view}{flow}_valid"), save_flow),
                            Output(occlusion_path, (f"{view}{flow}_occluded",), save_mask)]
        return outputs

    def stereo_outputs(self, sequence: Sequence, frame: int, number: str) -> list[Output]:
        """The right image and flow, both views' disparity and disparity change, as FlyingThings3D's stereo release
        has them."""
        image = self.sequence_folder(sequence, PASSES[sequence.motion_blur]) / "right" / f"{number}.png"
        outputs = [Output(image, ("right_colors",), save_image), *self.flow_outputs(sequence, frame, number, "right")]
        for side, view in (("left", ""), ("right", "right_")):
            outputs.append(Output(self.sequence_folder(sequence, DISPARITY_FOLDER) / side / f"{number}.pfm",
                                  (f"{view}disparity",), save_pfm))
            for flow, (direction, _) in DIRECTIONS.items():
                path = self.sequence_folder(sequence, DISPARITY_CHANGE_FOLDER) / direction / side / f"{number}.pfm"
                beyond = sequence.is_last(frame) if flow == "forward_flow" else sequence.index(frame) == 0
                change = view + disparity_change_name(flow)
                outputs.append(Output(path, (f"{view}disparity",), save_no_change) if beyond
                               else Output(path, (change,), save_pfm))
        return outputs

    def write(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray | Path]) -> list[Path]:
        """With stereo, torchvision's SceneFlowStereo looks under ``SceneFlow/FlyingThings3D``: a link to the
        dataset's folder is enough."""
        written = super().write(sequence, frame, products)
        if sequence.stereo:
            link = sequence.root / "SceneFlow" / self.folder
            if not link.is_symlink():
                link.parent.mkdir(exist_ok=True)
                link.symlink_to(Path("..") / self.folder, target_is_directory=True)
        return written

    def check_root(self, sequence: Sequence) -> None:
        """torchvision pairs the sorted image folders of a pass with the sorted flow folders by position, so
        a root whose sequences are in different passes would pair images with another sequence's flow."""
        others = other_sequences(self.sequence_folder(sequence, PASSES[not sequence.motion_blur]).parent, sequence)
        if others:
            kind = "with" if not sequence.motion_blur else "without"
            raise FlowError(f"{sequence.root / self.folder} holds sequences {kind} motion blur ({', '.join(others)}); "
                            "torchvision would pair this sequence's images with their flow. Bake into another folder, "
                            f"or {kind} motion blur.")

    def folders(self, sequence: Sequence) -> list[Path]:
        folders = [self.sequence_folder(sequence, top) / side for top in PASSES.values() for side in ("left", "right")]
        folders += [self.sequence_folder(sequence, DISPARITY_FOLDER) / side for side in ("left", "right")]
        folders.append(self.sequence_folder(sequence, "object_index") / "left")
        folders += [self.sequence_folder(sequence, DISPARITY_CHANGE_FOLDER) / direction / side
                    for direction, _ in DIRECTIONS.values() for side in ("left", "right")]
        for top in ("optical_flow", "occlusions"):
            folders += [self.sequence_folder(sequence, top) / direction / side
                        for direction, _ in DIRECTIONS.values() for side in ("left", "right")]
        return folders


FLYINGTHINGS3D = FlyingThings3D()
