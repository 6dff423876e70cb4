"""Frames in flight in a surface-motion bake: frame t's files need the render of frame t+K too, so each
frame waits until the frames its flows point to are rendered, and is forgotten once no later frame needs it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .exr import read_depth_and_passes
from .formats.common import read_bytes
from .formats.png import decode_png
from .frame import write_products
from .options import BakeOptions
from .products import FLOW_STEPS
from .surface_motion import MOTION_PASSES, OBJECT_PASS, Frame, View, flow_products

def read_frame(renders: dict[str, Path], view_layer: str, motion: dict, frame: int,
               options: BakeOptions) -> tuple[Frame, dict[str, np.ndarray]]:
    """The frame's surface motion from its flow render, and its other products (image, depth)."""
    passes = read_depth_and_passes(renders["flow"], view_layer, list(MOTION_PASSES.values()), [OBJECT_PASS])
    displacement = {name: passes[aov] for name, aov in MOTION_PASSES.items()}
    data = Frame.from_passes(passes["Depth"], passes[OBJECT_PASS], displacement, View.from_lists(**motion["view"]),
                             motion["matrices"])
    others = {"depth": data.depth} if "depth" in options.products_at(frame) else {}
    if "image" in renders:
        others["colors"] = decode_png(read_bytes(renders["image"]), renders["image"])
    return data, others


class FrameWindow:
    """Takes rendered frames in order; works out each flow as soon as both its frames are in and writes a
    frame's files once all its flows are done. Holds at most the last K frames and those still waiting."""

    def __init__(self, options: BakeOptions) -> None:
        self.options = options
        self.frames: dict[int, Frame] = {}
        self.waiting: dict[int, tuple[dict[str, np.ndarray], Path | None]] = {}  # frame -> (products so far, image)

    def add(self, frame: int, data: Frame, others: dict[str, np.ndarray], image: Path | None,
            write: bool) -> list[tuple[int, list[Path]]]:
        """Take a rendered frame (its files are wanted if ``write``); return (frame, files written) for every frame
        it completes. A waiting frame's rendered image is copied once the frame completes, then deleted."""
        options, gap = self.options, self.options.frame_gap
        self.frames[frame] = data
        if write:
            self.waiting[frame] = (others, image)
        done = []
        for waiting in sorted(f for f in self.waiting if f <= frame):
            arrays, image = self.waiting[waiting]
            flows = options.flows_at(waiting)
            for name in flows:
                partner = waiting + FLOW_STEPS[name] * gap
                if f"{name}_valid" not in arrays and partner in self.frames:
                    arrays.update(flow_products(self.frames[waiting], self.frames[partner], name,
                                                options.blender_image_coordinate_style, options.occlusion,
                                                options.scene_flow))
            if all(f"{name}_valid" in arrays for name in flows):
                ordered = {key: arrays[key] for key in options.products_at(waiting)}  # the same order in every chunk
                done.append((waiting, write_products(ordered, image, waiting, options)))
                if image:
                    image.unlink(missing_ok=True)
                del self.waiting[waiting]
        for old in [f for f in self.frames if f <= frame - gap and f not in self.waiting]:
            del self.frames[old]  # no frame still to come points back this far
        return done
