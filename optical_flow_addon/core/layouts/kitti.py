"""KITTI 2015's flow training folders: image pairs and 16-bit flow PNGs with and without occluded pixels.

KITTI has one flat folder per kind, so each pair is named ``<sequence>_<pair>_10.png`` (first image,
and its flow) and ``<sequence>_<pair>_11.png`` (second image), pairs numbered from 0: sequences
sit side by side, and every loader sorts the three folders into the same order. The image of every
frame but the first and last is written twice, as the second of one pair and the first of the next.
``flow_occ`` holds every valid pixel, ``flow_noc`` only those also visible in the second image.

With stereo, KITTI 2015's stereo folders too, under ``Kitti2015/training/`` where torchvision's ``Kitti2015Stereo``
looks, one sample ``<sequence>_<pair>_10.png`` per frame that has a next frame: ``image_2`` (left image), ``image_3``
(right image), ``disp_occ_0`` (the left view's disparity, 16-bit PNG of disparity·256, 0 where no surface) and
``disp_occ_1`` (KITTI's definition: the disparity at the next frame of the points of this frame, at this frame's
pixels, so disparity + disparity change; 0 where the point's motion is unknown or leaves the image). ``disp_noc_0``
keeps the pixels whose point is visible in the right image (not hidden, not outside it); ``disp_noc_1`` those also
not hidden at the next frame in the left view (whether the right view sees them then is not known, so they are
kept). Kitti2015Stereo pairs ``image_2`` with ``image_3`` and ``disp_occ_0`` with ``disp_occ_1`` by count, so these
folders hold no ``_11`` images: the second image of each pair is the first of the next sample, and under
``KittiFlow/``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..formats.kitti import LARGEST_DISPARITY, Quantised, disparity_fits, quantise, save_kitti, save_kitti_disparity
from .common import Layout, Output, Sequence, save_image

FOLDERS = ("image_2", "flow_occ", "flow_noc")
DISPARITY_FOLDERS = ("disp_occ_0", "disp_noc_0", "disp_occ_1", "disp_noc_1")
STEREO_FOLDERS = ("image_2", "image_3", *DISPARITY_FOLDERS)
STEREO_FOLDER = "Kitti2015"  # torchvision's Kitti2015Stereo looks there


def save_not_occluded(path: Path, flow: Quantised, valid: np.ndarray, occluded: np.ndarray) -> None:
    save_kitti(path, flow, valid & ~occluded)


def next_disparity(disparity: np.ndarray, change: np.ndarray) -> np.ndarray:
    """The disparity at the next frame of the points of this frame, at this frame's pixels (disp_*_1)."""
    return disparity + change


def next_valid(valid: np.ndarray, flow_valid: np.ndarray) -> np.ndarray:
    """Where disp_*_1 is known: a surface whose motion to the next frame is known and stays in the image."""
    return valid & flow_valid


def save_disparity_not_occluded(path: Path, disparity: np.ndarray, valid: np.ndarray, occluded: np.ndarray,
                                outside: np.ndarray) -> None:
    save_kitti_disparity(path, disparity, valid & ~occluded & ~outside)


def save_next_disparity(path: Path, disparity: np.ndarray, change: np.ndarray, valid: np.ndarray,
                        flow_valid: np.ndarray) -> None:
    save_kitti_disparity(path, next_disparity(disparity, change), next_valid(valid, flow_valid))


def save_next_disparity_not_occluded(path: Path, disparity: np.ndarray, change: np.ndarray, valid: np.ndarray,
                                     flow_valid: np.ndarray, occluded: np.ndarray, outside: np.ndarray,
                                     flow_occluded: np.ndarray) -> None:
    save_kitti_disparity(path, next_disparity(disparity, change),
                         next_valid(valid, flow_valid) & ~occluded & ~outside & ~flow_occluded)


class Kitti(Layout):
    name = "KITTI"
    folder = "KittiFlow"
    formats = ("PNG", "KITTI")
    loaders = ("torchvision.datasets.KittiFlow(root)",
               "ptlflow.data.datasets.KittiDataset(root_dir_2015=root / 'KittiFlow', versions='2015', "
               "split='trainval')",
               "torchvision.datasets.Kitti2015Stereo(root)  # with stereo")
    digits = 6

    def training(self, sequence: Sequence) -> Path:
        return sequence.root / self.folder / "training"

    def outputs(self, sequence: Sequence, frame: int) -> list[Output]:
        folder, index = self.training(sequence), sequence.index(frame)

        def path(kind: str, pair: int, image: int) -> Path:
            return folder / kind / f"{sequence.name}_{pair:06d}_{image}.png"

        outputs = []
        if index > 0:
            outputs.append(Output(path("image_2", index - 1, 11), ("colors",), save_image))
        if not sequence.is_last(frame):
            outputs += [Output(path("image_2", index, 10), ("colors",), save_image),
                        Output(path("flow_occ", index, 10), ("forward_flow", "forward_flow_valid"), save_kitti),
                        Output(path("flow_noc", index, 10),
                               ("forward_flow", "forward_flow_valid", "forward_flow_occluded"), save_not_occluded)]
            if sequence.stereo:
                outputs += self.stereo_outputs(sequence, index)
        return outputs

    def stereo_outputs(self, sequence: Sequence, index: int) -> list[Output]:
        """Sample ``index`` of KITTI 2015's stereo folders: both images, disparity at this frame and the next."""

        def path(kind: str) -> Path:
            return self.stereo_training(sequence) / kind / f"{sequence.name}_{index:06d}_10.png"

        masks = ("disparity_occluded", "disparity_outside")
        later = ("disparity", "forward_disparity_change", "disparity_valid", "forward_flow_valid")
        left, right, occ_0, noc_0, occ_1, noc_1 = STEREO_FOLDERS
        return [Output(path(left), ("colors",), save_image),
                Output(path(right), ("right_colors",), save_image),
                Output(path(occ_0), ("disparity", "disparity_valid"), save_kitti_disparity),
                Output(path(noc_0), ("disparity", "disparity_valid", *masks), save_disparity_not_occluded),
                Output(path(occ_1), later, save_next_disparity),
                Output(path(noc_1), (*later, *masks, "forward_flow_occluded"), save_next_disparity_not_occluded)]

    def stereo_training(self, sequence: Sequence) -> Path:
        return sequence.root / STEREO_FOLDER / "training"

    def write(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray | Path]) -> list[Path]:
        """The flow is quantised once, for flow_occ, flow_noc and the check that it fits."""
        products = dict(products)
        if "forward_flow" in products and not sequence.is_last(frame):
            products["forward_flow"] = quantise(products["forward_flow"])
        return super().write(sequence, frame, products)

    def check_frame(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray | Quantised]) -> None:
        if sequence.is_last(frame):
            return
        quantised, valid = products["forward_flow"], products["forward_flow_valid"]
        outside = valid & ~quantised.fits
        if outside.any():
            longest = float(np.abs(quantised.flow[outside]).max())
            raise FlowError(f"Frame {frame}: {int(outside.sum())} valid pixel(s) move up to {longest:.1f} px, beyond "
                            "the ±512 px that KITTI's 16-bit flow PNG holds. Use the SINTEL or FLYINGTHINGS3D "
                            "layout, or a smaller resolution.")
        if sequence.stereo:
            for name, disparity, valid in (
                    ("disparity", products["disparity"], products["disparity_valid"]),
                    ("disparity at the next frame",
                     next_disparity(products["disparity"], products["forward_disparity_change"]),
                     next_valid(products["disparity_valid"], products["forward_flow_valid"]))):
                unfit = valid & ~disparity_fits(disparity)
                if unfit.any():
                    values = disparity[unfit]
                    raise FlowError(f"Frame {frame}: {int(unfit.sum())} valid pixel(s) have {name} from "
                                    f"{np.nanmin(values):.2f} to {np.nanmax(values):.2f} px, outside the 0 to "
                                    f"{LARGEST_DISPARITY:.3f} px that KITTI's 16-bit disparity PNG holds. Use a "
                                    "parallel rig (off-axis convergence makes the disparity of points beyond the "
                                    "convergence distance negative), a smaller interocular distance or resolution, "
                                    "or the FLYINGTHINGS3D layout.")

    def folders(self, sequence: Sequence) -> list[Path]:
        return ([self.training(sequence) / kind for kind in FOLDERS]
                + [self.stereo_training(sequence) / kind for kind in STEREO_FOLDERS])

    def sequence_files(self, sequence: Sequence) -> list[Path]:
        pattern = f"{sequence.name}_" + "[0-9]" * self.digits + "_1[01].png"
        return [path for path in super().sequence_files(sequence) if path.match(pattern)]


KITTI = Kitti()
