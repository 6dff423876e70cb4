"""Frames in flight in a surface-motion bake: frame t's files need the render of frame t+K too, so each
frame waits until the frames its flows point to are rendered, and is forgotten once no later frame needs it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .exr import read_depth_and_passes
from .flow_files import WRITERS
from .options import BakeOptions
from .surface_motion import MOTION_PASSES, OBJECT_PASS, Frame, View, flow_products

STEPS = {"forward_flow": 1, "backward_flow": -1}


def read_frame(exr_path: Path, view_layer: str, view: View, matrices: dict[str, list]) -> Frame:
    passes = read_depth_and_passes(exr_path, view_layer, list(MOTION_PASSES.values()), [OBJECT_PASS])
    displacement = {name: passes[aov] for name, aov in MOTION_PASSES.items()}
    return Frame.from_passes(passes["Depth"], passes[OBJECT_PASS], displacement, view, matrices)


class FrameWindow:
    """Takes rendered frames in order; works out each flow as soon as both its frames are in and writes a
    frame's files once all its flows are done. Holds at most the last K frames and those still waiting."""

    def __init__(self, options: BakeOptions) -> None:
        self.options = options
        self.frames: dict[int, Frame] = {}
        self.waiting: dict[int, dict[str, np.ndarray]] = {f: {} for f in options.frames}  # frame -> arrays so far

    def add(self, frame: int, data: Frame) -> list[tuple[int, list[Path]]]:
        """Take a rendered frame; return (frame, files written) for every frame it completes."""
        options, gap = self.options, self.options.frame_gap
        self.frames[frame] = data
        done = []
        for waiting in [f for f in self.waiting if f <= frame]:
            arrays = self.waiting[waiting]
            flows = options.flows_at(waiting)
            for name in flows:
                partner = waiting + STEPS[name] * gap
                if f"{name}_valid" not in arrays and partner in self.frames:
                    arrays.update(flow_products(self.frames[waiting], self.frames[partner], name,
                                                options.blender_image_coordinate_style, options.occlusion,
                                                options.scene_flow))
            if all(f"{name}_valid" in arrays for name in flows):
                ordered = {key: arrays[key] for key in options.datasets_at(waiting)}  # the same order in every chunk
                done.append((waiting, [path for fmt in sorted(options.formats)
                                       for path in WRITERS[fmt].write(options.output_dir, waiting, ordered, options)]))
                del self.waiting[waiting]
        for old in [f for f in self.frames if f <= frame - gap and f not in self.waiting]:
            del self.frames[old]  # no frame still to come points back this far
        return done
