"""MPI Sintel's training folders: images, forward flow, occlusions, invalid pixels, depth and cameras.

``Sintel/training/<pass>/<sequence>/frame_0001.png`` ... numbered from 1, with ``clean`` for images without
motion blur and ``final`` for images with it. Flow, occlusions and invalid masks belong to the pair
(frame i, frame i + 1), so a sequence of N images has N − 1 of each; depth and cameras one per image.

With stereo, the stereo release's folders too, under ``stereo/Sintel/training/`` (its ``occlusions/`` are stereo
occlusion, the flow release's are flow occlusion, so the two sets cannot share a folder):
``clean_left/<sequence>/frame_0001.png`` and ``clean_right/`` (``final_*`` with motion blur), ``disparities/`` (the
left view's, in Sintel's RGB encoding, 1/16384 px steps up to 1023.99994 px), ``occlusions/`` (255 where the left
view's point is hidden in the right view) and ``outofframe/`` (255 where it lands outside the right image), one of
each per image. Load it with ``SintelStereo(root / 'stereo', pass_name=...)`` naming the pass written: the other
pass is not written, so ``pass_name='both'`` does not load.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..formats.flo import save_flo
from ..formats.sintel import DISPARITY_STEPS, LARGEST_STEP, disparity_fits, save_cam, save_disparity, save_dpt
from ..transforms import Convention
from .common import Layout, Output, Sequence, other_sequences, save_image, save_mask

FOLDERS = ("clean", "final", "flow", "occlusions", "invalid", "depth", "camdata_left")
DISPARITY_FOLDER = "disparities"
STEREO_FOLDERS = ("clean_left", "clean_right", "final_left", "final_right", DISPARITY_FOLDER, "occlusions",
                  "outofframe")
WORLD_TO_OPENCV_CAMERA = Convention(camera_axes="OPENCV", direction="WORLD_TO_CAMERA")


def save_camera(path: Path, intrinsics: np.ndarray, camera_to_world: np.ndarray) -> None:
    """Blender's camera-to-world pose as Sintel's world-to-camera extrinsic in OpenCV axes."""
    save_cam(path, intrinsics, WORLD_TO_OPENCV_CAMERA.from_blender(np.asarray(camera_to_world, np.float64)))


def save_invalid(path: Path, valid: np.ndarray) -> None:
    save_mask(path, ~valid)


class Sintel(Layout):
    name = "SINTEL"
    folder = "Sintel"
    formats = ("PNG", "FLO", "DPT", "CAM")
    loaders = ("torchvision.datasets.Sintel(root, pass_name='clean' or 'final')",
               "ptlflow.data.datasets.SintelDataset(root / 'Sintel', split='trainval')",
               "torchvision.datasets.SintelStereo(root / 'stereo', pass_name='clean' or 'final')  # with stereo")
    first_number = 1

    def training(self, sequence: Sequence) -> Path:
        return sequence.root / self.folder / "training"

    def stereo_training(self, sequence: Sequence) -> Path:
        return sequence.root / "stereo" / self.folder / "training"

    def outputs(self, sequence: Sequence, frame: int) -> list[Output]:
        folder = self.training(sequence)
        stem = f"frame_{sequence.index(frame) + self.first_number:04d}"
        image_pass = "final" if sequence.motion_blur else "clean"

        def path(kind: str, suffix: str, top: Path = folder) -> Path:
            return top / kind / sequence.name / f"{stem}{suffix}"

        outputs = [Output(path(image_pass, ".png"), ("colors",), save_image),
                   Output(path("depth", ".dpt"), ("depth",), save_dpt),
                   Output(path("camdata_left", ".cam"), ("K", "camera_to_world"), save_camera)]
        if not sequence.is_last(frame):
            outputs += [Output(path("flow", ".flo"), ("forward_flow", "forward_flow_valid"), save_flo),
                        Output(path("occlusions", ".png"), ("forward_flow_occluded",), save_mask),
                        Output(path("invalid", ".png"), ("forward_flow_valid",), save_invalid)]
        if sequence.stereo:
            stereo = self.stereo_training(sequence)
            outputs += [Output(path(f"{image_pass}_left", ".png", stereo), ("colors",), save_image),
                        Output(path(f"{image_pass}_right", ".png", stereo), ("right_colors",), save_image),
                        Output(path(DISPARITY_FOLDER, ".png", stereo), ("disparity",), save_disparity),
                        Output(path("occlusions", ".png", stereo), ("disparity_occluded",), save_mask),
                        Output(path("outofframe", ".png", stereo), ("disparity_outside",), save_mask)]
        return outputs

    def check_frame(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray]) -> None:
        if not sequence.stereo:
            return
        disparity = products["disparity"]
        unfit = ~disparity_fits(disparity)
        if unfit.any():
            values = disparity[unfit]
            raise FlowError(f"Frame {frame}: {int(unfit.sum())} pixel(s) have disparity from {np.nanmin(values):.4f} "
                            f"to {np.nanmax(values):.4f} px, outside the 0 to {LARGEST_STEP / DISPARITY_STEPS:.5f} px "
                            "that Sintel's disparity PNG holds. Use a parallel rig (off-axis convergence makes the "
                            "disparity of the sky and of points beyond the convergence distance negative), a smaller "
                            "interocular distance or resolution, or the FLYINGTHINGS3D layout.")

    def check_root(self, sequence: Sequence) -> None:
        """SintelStereo pairs the sorted images of a pass with every sequence's sorted disparities, so with stereo
        every sequence of the root must be in the same pass."""
        if not sequence.stereo:
            return
        other = self.stereo_training(sequence) / f"{'clean' if sequence.motion_blur else 'final'}_left"
        others = other_sequences(other, sequence)
        if others:
            kind = "with" if not sequence.motion_blur else "without"
            raise FlowError(f"{self.stereo_training(sequence)} holds stereo sequences {kind} motion blur "
                            f"({', '.join(others)}); torchvision's SintelStereo would pair this sequence's images "
                            f"with their disparity. Bake into another folder, or {kind} motion blur.")

    def folders(self, sequence: Sequence) -> list[Path]:
        return ([self.training(sequence) / kind / sequence.name for kind in FOLDERS]
                + [self.stereo_training(sequence) / kind / sequence.name for kind in STEREO_FOLDERS])


SINTEL = Sintel()
