"""Disparity, disparity change and the stereo masks, from both views' surface motion.

A view's disparity is the flow from that view to the other view at the same time, with nothing moving: the same
projection, occlusion test and float64 camera maps as the flow (core/surface_motion.py). It is x in the left image
minus x in the right image, positive in front of a parallel rig: f·B/Z there, plus the constant an off-axis rig's
shift adds. Disparity change is the same point's disparity at t±K minus its disparity at t (FlyingThings3D's and
KITTI's definition): x at t±K in this view and in the other view come from this view's flow into each.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .products import disparity_change_name
from .surface_motion import Frame, Motion, flow_products, seen_from

STILL = "still"  # the motion of a frame's surfaces to the same time: none


def standing_still(frame: Frame) -> Frame:
    """``frame`` with a motion to the same time added, under which nothing moves."""
    here = next(iter(frame.matrices.values()))[0]  # this frame's matrices, whichever flow brought them
    still = np.zeros((*frame.depth.shape, 3), np.float32)
    return dataclasses.replace(frame, matrices={**frame.matrices, STILL: (here, here)},
                               displacement={**frame.displacement, STILL: still},
                               lost={**frame.lost, STILL: np.zeros(len(here), bool)})


def disparity_products(view: Frame, other: Frame, prefix: str) -> dict[str, np.ndarray]:
    """``<prefix>disparity`` (float32 H×W; where no surface, a point at infinity's; 0 on a surface whose motion is
    unknown), ``_valid`` (a surface), ``_outside`` (its point lands outside the other view's image) and ``_occluded``
    (another surface hides it in the other view)."""
    arrays = flow_products(standing_still(view), other, STILL, False, occlusion=True, scene_flow=False)
    known = view.surface & (view.objects > 0)
    sign = 1 if prefix else -1  # the right view's flow into the left points right
    disparity = np.where(known, sign * arrays[STILL][..., 0], 0)
    # no surface: a point at infinity, which only the views' principal points and focal lengths part (what layouts
    # without a validity mask, Sintel's and FlyingThings3D's, hold for the sky)
    at_infinity = view.view.shift_in(other.view, 0, view.depth.shape[1])
    disparity = np.where(view.surface, disparity, sign * at_infinity)
    return {f"{prefix}disparity": disparity.astype(np.float32),
            f"{prefix}disparity_valid": known,
            f"{prefix}disparity_outside": known & ~arrays[f"{STILL}_valid"],
            f"{prefix}disparity_occluded": arrays[f"{STILL}_occluded"]}


def disparity_change(view: Frame, other_view_later: Frame, flow: str, prefix: str, disparity: np.ndarray,
                     own: dict[str, np.ndarray], motion: Motion | None) -> dict[str, np.ndarray]:
    """``<prefix><direction>_disparity_change`` of ``flow`` (forward or backward): where the view's own flow
    (``own``, its flow products, from ``motion``) is valid (the point's motion is known and it stays in the image),
    its disparity at the partner frame minus ``disparity`` (at this frame); 0 elsewhere. The other view sees the
    same motion from a camera beside this one: ``seen_from`` shifts it instead of working it out again."""
    there = flow_products(view, other_view_later, flow, False, occlusion=False, scene_flow=False,
                          motion=motion and seen_from(motion, view, other_view_later.view))
    sign = 1 if prefix else -1
    later = sign * (there[flow][..., 0] - own[flow][..., 0])
    name = prefix + disparity_change_name(flow)
    return {name: np.where(own[f"{flow}_valid"], later - disparity, 0).astype(np.float32)}
