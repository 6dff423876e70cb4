"""KITTI 2015's flow training folders: image pairs and 16-bit flow PNGs with and without occluded pixels.

KITTI has one flat folder per kind, so each pair is named ``<sequence>_<pair>_10.png`` (first image,
and its flow) and ``<sequence>_<pair>_11.png`` (second image), pairs numbered from 0: sequences
sit side by side, and every loader sorts the three folders into the same order. The image of every
frame but the first and last is written twice, as the second of one pair and the first of the next.
``flow_occ`` holds every valid pixel, ``flow_noc`` only those also visible in the second image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from ..formats.kitti import Quantised, quantise, save_kitti
from .common import Layout, Output, Sequence, image_file, save_image

FOLDERS = ("image_2", "flow_occ", "flow_noc")


def save_not_occluded(path: Path, flow: Quantised, valid: np.ndarray, occluded: np.ndarray) -> None:
    save_kitti(path, flow, valid & ~occluded)


class Kitti(Layout):
    name = "KITTI"
    folder = "KittiFlow"
    formats = ("PNG", "KITTI")
    loaders = ("torchvision.datasets.KittiFlow(root)",
               "ptlflow.data.datasets.KittiDataset(root_dir_2015=root / 'KittiFlow', versions='2015', "
               "split='trainval')")
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
        return outputs

    def write(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray | Path]) -> list[Path]:
        """What two of the frame's files share is done once, before they are written: the flow is quantised
        (for flow_occ, flow_noc and the check that it fits) and Blender's PNG, the image of two pairs, is read."""
        products = dict(products)
        if isinstance(products.get("colors"), Path):
            products["colors"] = image_file(products["colors"])
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

    def folders(self, sequence: Sequence) -> list[Path]:
        return [self.training(sequence) / kind for kind in FOLDERS]

    def sequence_files(self, sequence: Sequence) -> list[Path]:
        pattern = f"{sequence.name}_" + "[0-9]" * self.digits + "_1[01].png"
        return [path for path in super().sequence_files(sequence) if path.match(pattern)]


KITTI = Kitti()
