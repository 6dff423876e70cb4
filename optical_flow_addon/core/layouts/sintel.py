"""MPI Sintel's training folders: images, forward flow, occlusions, invalid pixels, depth and cameras.

``Sintel/training/<pass>/<sequence>/frame_0001.png`` ... numbered from 1, with ``clean`` for images without
motion blur and ``final`` for images with it. Flow, occlusions and invalid masks belong to the pair
(frame i, frame i + 1), so a sequence of N images has N − 1 of each; depth and cameras one per image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..formats.flo import save_flo
from ..formats.sintel import save_cam, save_dpt
from ..transforms import Convention
from .common import Layout, Output, Sequence, save_image, save_mask

FOLDERS = ("clean", "final", "flow", "occlusions", "invalid", "depth", "camdata_left")
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
               "ptlflow.data.datasets.SintelDataset(root / 'Sintel', split='trainval')")
    first_number = 1

    def training(self, sequence: Sequence) -> Path:
        return sequence.root / self.folder / "training"

    def outputs(self, sequence: Sequence, frame: int) -> list[Output]:
        folder = self.training(sequence)
        stem = f"frame_{sequence.index(frame) + self.first_number:04d}"
        image_pass = "final" if sequence.motion_blur else "clean"

        def path(kind: str, suffix: str) -> Path:
            return folder / kind / sequence.name / f"{stem}{suffix}"

        outputs = [Output(path(image_pass, ".png"), ("colors",), save_image),
                   Output(path("depth", ".dpt"), ("depth",), save_dpt),
                   Output(path("camdata_left", ".cam"), ("K", "camera_to_world"), save_camera)]
        if not sequence.is_last(frame):
            outputs += [Output(path("flow", ".flo"), ("forward_flow", "forward_flow_valid"), save_flo),
                        Output(path("occlusions", ".png"), ("forward_flow_occluded",), save_mask),
                        Output(path("invalid", ".png"), ("forward_flow_valid",), save_invalid)]
        return outputs

    def folders(self, sequence: Sequence) -> list[Path]:
        return [self.training(sequence) / kind / sequence.name for kind in FOLDERS]


SINTEL = Sintel()
