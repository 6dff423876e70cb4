"""Pictures of flow for people: Middlebury colour-coded PNGs (Baker et al.), not read back as flow.

Colours mean directions on screen (right = red, down = yellow-green, ...), so Blender-style flow
(y up) is turned to y down before colouring. Invalid pixels are black, as in the Middlebury tools.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..colour_wheel import flow_to_rgb
from ..products import FLOW_NAMES, flow_products
from .common import FileSettings
from .png import encode_png


GAP = 4  # grey pixels between the panels of an overview
GREY = 128
MIN_HEIGHT = 240  # small flows are enlarged (whole pixels) to at least this height


def on_screen(flow: np.ndarray, blender_image_coordinate_style: bool) -> np.ndarray:
    """Flow with y pointing down, the direction the colour wheel is drawn in."""
    return flow * np.array([1, -1], np.float32) if blender_image_coordinate_style else flow


def flow_picture(flow: np.ndarray, valid: np.ndarray | None, blender_image_coordinate_style: bool,
                 max_radius: float | None = None) -> np.ndarray:
    """Colour picture of one flow; ``max_radius`` (px) at the wheel's rim, by default its longest valid vector."""
    return flow_to_rgb(on_screen(flow, blender_image_coordinate_style), valid, max_radius)


def longest_vector(flow: np.ndarray, valid: np.ndarray | None) -> float:
    length = np.hypot(flow[..., 0], flow[..., 1])
    keep = np.isfinite(length) if valid is None else valid & np.isfinite(length)
    return float(length[keep].max()) if keep.any() else 0.0


def legend(size: int, max_radius: float) -> np.ndarray:
    """The colour wheel as a size×size disc: the colour a flow of that direction and length gets."""
    offsets = (np.arange(size) + 0.5 - size / 2) / (size / 2)
    flow = np.stack(np.meshgrid(offsets, offsets), axis=-1) * max_radius
    disc = np.hypot(*np.meshgrid(offsets, offsets)) <= 1
    picture = flow_to_rgb(flow, disc, max_radius)
    picture[~disc] = GREY
    return picture


def mask_picture(valid: np.ndarray) -> np.ndarray:
    """White where the mask is True (valid, or occluded), black where not."""
    return np.repeat((valid * 255).astype(np.uint8)[..., None], 3, axis=-1)


def overview(arrays: dict[str, np.ndarray], max_radius: float | None = None,
             blender_image_coordinate_style: bool = False,
             extra: tuple[tuple[str, np.ndarray], ...] = ()) -> tuple[np.ndarray, float | None, list[str], list[int]]:
    """Forward and backward flow, their validity (and occlusion) masks and the colour wheel side by side, on one
    shared scale, then the ``extra`` labelled pictures (disparity, segmentation, normals) at the same size.

    Returns the picture, the flow length (px) at the wheel's rim (None without flow), what each panel shows and
    where it starts (x)."""
    flows = [name for name in (*FLOW_NAMES, "flow") if name in arrays]
    masks = [f"{n}_{kind}" for n in flows for kind in ("valid", "occluded") if f"{n}_{kind}" in arrays]
    screen = {name: on_screen(arrays[name], blender_image_coordinate_style) for name in flows}
    radius = (max_radius or max(longest_vector(screen[n], arrays.get(f"{n}_valid")) for n in flows) or 1.0
              if flows else None)
    tiles = [flow_to_rgb(screen[n], arrays.get(f"{n}_valid"), radius) for n in flows]
    tiles += [mask_picture(arrays[n]) for n in masks] + [picture for _, picture in extra]
    labels = [n.replace("_", " ") for n in flows + [m.replace("_valid", "_mask") for m in masks]]
    labels += [label for label, _ in extra]
    scale = max(1, MIN_HEIGHT // tiles[0].shape[0])
    tiles = [tile.repeat(scale, axis=0).repeat(scale, axis=1) for tile in tiles]
    if flows:  # the wheel right after the flow's own panels
        at = len(flows) + len(masks)
        tiles.insert(at, legend(tiles[0].shape[0], radius))
        labels.insert(at, "colour wheel")
    gap = np.full((tiles[0].shape[0], GAP, 3), GREY, np.uint8)
    starts = list(np.cumsum([0] + [tile.shape[1] + GAP for tile in tiles[:-1]]))
    return np.hstack([part for tile in tiles for part in (gap, tile)][1:]), radius, labels, [int(x) for x in starts]


class FlowPictures:
    """``<flow>_picture_%04d.png`` per flow, scaled to ``picture_max_radius`` (0: each picture's own longest vector)."""

    kind = "flow picture"
    stores = frozenset(flow_products(FLOW_NAMES, occlusion=True))

    def paths(self, folder: Path, frame: int, names: list[str]) -> list[Path]:
        return [folder / f"{name}_picture_{frame:04d}.png" for name in FLOW_NAMES if name in names]

    def write(self, folder: Path, frame: int, arrays: dict[str, np.ndarray], options: FileSettings) -> list[Path]:
        paths = self.paths(folder, frame, list(arrays))
        for path, name in zip(paths, [n for n in FLOW_NAMES if n in arrays]):
            picture = flow_picture(arrays[name], arrays[f"{name}_valid"], options.blender_image_coordinate_style,
                                   options.picture_max_radius or None)
            if f"{name}_occluded" in arrays:  # hidden in the other frame: half as bright
                picture[arrays[f"{name}_occluded"]] //= 2
            with atomic_path(path) as temporary:
                temporary.write_bytes(encode_png(picture))
        return paths
