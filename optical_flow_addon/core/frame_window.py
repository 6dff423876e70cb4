"""Frames in flight in a surface-motion bake: frame t's files need the render of frame t+K too, so each
frame waits until the frames its flows point to are rendered, and is forgotten once no later frame needs it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .rendered_exr import read_depth_and_passes
from .frame import rendered_colors, write_products
from .options import BakeOptions
from .products import FLOW_STEPS, IN_PIXELS
from .self_check import check_round_trip, round_trip
from .stereo import disparity_change, disparity_products
from .surface_motion import (LOCATION_PASS, MOTION_PASSES, NORMAL_PASS, OBJECT_PASS, Frame, View, camera_normals,
                             Motion, flow_products, motion_of, segmentation)

def read_frame(renders: dict[str, Path], view_layer: str, motion: dict, frame: int,
               options: BakeOptions) -> tuple[dict[str, Frame], dict[str, np.ndarray | Path]]:
    """The frame's surface motion from its flow render, per view (``left``, and with stereo ``right``), and its
    other products (image, depth, segmentation, normals; the right view's image as Blender's PNG)."""
    colours = (list(MOTION_PASSES.values()) + ([LOCATION_PASS] if motion["locations"] else [])
               + ([NORMAL_PASS] if options.normals else []))
    views, passes = {}, {}
    for view, render, camera in (("left", "flow", "view"), ("right", "flow_right", "right_view")):
        if render in renders:
            passes[view] = read_depth_and_passes(renders[render], view_layer, colours, [OBJECT_PASS],
                                                 bool(motion.get("vector_rows")))
            displacement = {name: passes[view][aov] for name, aov in MOTION_PASSES.items()}
            views[view] = Frame.from_passes(passes[view]["Depth"], passes[view][OBJECT_PASS], displacement,
                                            View.from_lists(**motion[camera]), motion["instances"], motion["matrices"],
                                            passes[view].get(LOCATION_PASS), passes[view].get("Vector"),
                                            motion.get("vector_rows"))
    data, passes = views["left"], passes["left"]
    wanted = options.products_at(frame)
    others: dict[str, np.ndarray | Path] = {"depth": data.depth} if "depth" in wanted else {}
    if "segmentation" in wanted:
        others["segmentation"] = segmentation(data.objects, passes[OBJECT_PASS], data.surface, motion["segments"],
                                              motion["object_segments"])
    if "normals" in wanted:
        others["normals"] = camera_normals(passes[NORMAL_PASS], data.view, data.surface,
                                           options.blender_image_coordinate_style)
    if "image" in renders:
        others["colors"] = rendered_colors(renders["image"], options)
    if "image_right" in renders:
        others["right_colors"] = renders["image_right"]
    return views, others


class FrameWindow:
    """Takes rendered frames in order; works out each flow as soon as both its frames are in and writes a
    frame's files once all its flows are done. Holds at most the last K frames and those still waiting."""

    def __init__(self, options: BakeOptions) -> None:
        self.options = options
        self.frames: dict[int, Frame] = {}
        self.right: dict[int, Frame] = {}  # with stereo, the right view's
        self.waiting: dict[int, tuple[dict[str, np.ndarray], Path | None]] = {}  # frame -> (products so far, image)

    def add(self, frame: int, views: dict[str, Frame], others: dict[str, np.ndarray | Path], image: Path | None,
            write: bool) -> list[tuple[int, list[Path]]]:
        """Take a rendered frame (its files are wanted if ``write``); return (frame, files written) for every frame
        it completes. A waiting frame's rendered images are copied once the frame completes, then deleted."""
        options, gap = self.options, self.options.frame_gap
        self.frames[frame] = views["left"]
        if "right" in views:
            self.right[frame] = views["right"]
        if write:
            self.waiting[frame] = (others, image)
        ready = sorted(f for f in self.waiting if f <= frame)
        for waiting in ready:
            arrays, _ = self.waiting[waiting]
            if options.stereo and "disparity" not in arrays:
                arrays.update(disparity_products(self.frames[waiting], self.right[waiting], ""))
                arrays.update(disparity_products(self.right[waiting], self.frames[waiting], "right_"))
            for name in options.flows_at(waiting):
                partner = waiting + FLOW_STEPS[name] * gap
                if f"{name}_valid" not in arrays and partner in self.frames:
                    motion = motion_of(self.frames[waiting], name, self.frames[partner].view)
                    arrays.update(flow_products(self.frames[waiting], self.frames[partner], name,
                                                options.blender_image_coordinate_style, options.occlusion,
                                                options.scene_flow, motion))
                    if options.stereo:
                        arrays.update(self.disparity_changes(waiting, partner, name, arrays, motion))
        done = []
        for waiting in ready:
            arrays, image = self.waiting[waiting]
            flows = options.flows_at(waiting)
            if all(f"{name}_valid" in arrays for name in flows):
                check = self.round_trip(waiting) if options.verify else None
                ordered = {key: arrays[key] for key in options.products_at(waiting)}  # the same order in every chunk
                if options.truth_scale != 1:  # measured on the finer grid; the files hold image pixels
                    ordered.update({key: ordered[key] / np.float32(options.truth_scale)
                                    for key in IN_PIXELS if key in ordered})
                view = self.frames[waiting].view
                camera = {"K": view.intrinsics, "camera_to_world": view.camera_to_world}
                done.append((waiting, write_products(ordered, image, waiting, options, camera), check))
                for rendered in [image, *(value for value in arrays.values() if isinstance(value, Path))]:
                    if rendered:
                        rendered.unlink(missing_ok=True)
                del self.waiting[waiting]
        for old in [f for f in self.frames if f <= frame - gap and f not in self.waiting]:
            del self.frames[old]  # no frame still to come points back this far
            self.right.pop(old, None)
        return done

    def disparity_changes(self, frame: int, partner: int, flow: str, arrays: dict,
                          motion: Motion | None) -> dict[str, np.ndarray]:
        """The right view's ``flow`` (``right_<flow>`` and its masks) and both views' disparity change of it (their
        disparity at ``partner`` minus at ``frame``), each from the view's own flow and ``motion`` (the left view's)."""
        left, right, options = self.frames, self.right, self.options
        right_motion = motion_of(right[frame], flow, right[partner].view)
        right_flow = flow_products(right[frame], right[partner], flow, options.blender_image_coordinate_style,
                                   options.occlusion, False, right_motion)
        return {**{f"right_{name}": array for name, array in right_flow.items()},
                **disparity_change(left[frame], right[partner], flow, "", arrays["disparity"], arrays, motion),
                **disparity_change(right[frame], left[partner], flow, "right_", arrays["right_disparity"],
                                   right_flow, right_motion)}

    def round_trip(self, frame: int) -> dict | None:
        """The self-check of ``frame``'s forward flow against its partner's backward flow, when this bake makes both
        (raises before the frame's files are written if they disagree)."""
        options, partner = self.options, frame + self.options.frame_gap
        forward = self.waiting[frame][0]
        if "forward_flow_valid" not in forward or not options.get_backward_flow:
            return None
        backward = self.waiting[partner][0] if partner in self.waiting else {}
        if "backward_flow_valid" not in backward:  # the partner's files are another chunk's: work its flow out here
            backward = flow_products(self.frames[partner], self.frames[frame], "backward_flow",
                                     options.blender_image_coordinate_style, options.occlusion, False)
        usable = [arrays[f"{name}_valid"] & ~arrays[f"{name}_occluded"] if f"{name}_occluded" in arrays
                  else arrays[f"{name}_valid"]
                  for arrays, name in ((forward, "forward_flow"), (backward, "backward_flow"))]
        result = round_trip(frame, partner, forward["forward_flow"], usable[0], backward["backward_flow"], usable[1],
                            self.options.blender_image_coordinate_style)
        check_round_trip(result, self.options.occlusion)
        return dataclasses.asdict(result)
