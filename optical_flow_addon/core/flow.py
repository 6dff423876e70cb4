"""Vector pass → forward/backward optical flow and validity masks.

Cycles stores, per pixel and in pixels with y pointing up,
``X,Y = pos(t-1) - pos(t)`` and ``Z,W = pos(t) - pos(t+1)``.
So backward flow (t → t-1) is ``(X, Y)`` and forward flow (t → t+1) is ``-(Z, W)``.
OpenCV style (``blender_image_coordinate_style=False``, BlenderProc's default) negates y.
Arrays are always stored top row first.
"""
from __future__ import annotations

import numpy as np

# Cycles writes this depth where a pixel's ray hits no surface.
BACKGROUND_DEPTH = 1e9


def forward_flow(vector: np.ndarray, blender_image_coordinate_style: bool) -> np.ndarray:
    """Flow from frame t to t+1 (H×W×2 float32), numbers identical to BlenderProc's."""
    flow = np.empty(vector.shape[:2] + (2,), np.float32)
    flow[..., 0] = -vector[..., 2]
    flow[..., 1] = -vector[..., 3] if blender_image_coordinate_style else vector[..., 3]
    return flow


def backward_flow(vector: np.ndarray, blender_image_coordinate_style: bool) -> np.ndarray:
    """Flow from frame t to t-1 (H×W×2 float32), numbers identical to BlenderProc's."""
    flow = np.empty(vector.shape[:2] + (2,), np.float32)
    flow[..., 0] = vector[..., 0]
    flow[..., 1] = vector[..., 1] if blender_image_coordinate_style else -vector[..., 1]
    return flow


# Each flow from Cycles' Vector pass (H×W×4), by its product name.
FLOW_CONVERSIONS = {"forward_flow": forward_flow, "backward_flow": backward_flow}


def surface_hit(depth: np.ndarray) -> np.ndarray:
    """True where the pixel centre sees a surface; background pixels have no flow."""
    return depth < BACKGROUND_DEPTH


def target_inside_image(flow: np.ndarray, blender_image_coordinate_style: bool) -> np.ndarray:
    """True where pixel centre + flow lands inside the image of the other frame."""
    height, width = flow.shape[:2]
    x = flow[..., 0] + (np.arange(width, dtype=np.float32) + 0.5)  # broadcast over rows: no index grids
    centre_rows = (np.arange(height, dtype=np.float32) + 0.5)[:, None]
    y = centre_rows - flow[..., 1] if blender_image_coordinate_style else centre_rows + flow[..., 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def validity_mask(flow: np.ndarray, hit: np.ndarray, blender_image_coordinate_style: bool) -> np.ndarray:
    """A flow vector is valid where a surface was hit and its target stays in the image."""
    return hit & target_inside_image(flow, blender_image_coordinate_style)


def coordinate_metadata(blender_image_coordinate_style: bool) -> dict:
    """How to read the flow numbers, for the manifest and the HDF5 sequence file."""
    return {
        "blender_image_coordinate_style": blender_image_coordinate_style,
        "coordinate_style": "blender (origin bottom-left, y up)" if blender_image_coordinate_style
        else "opencv (origin top-left, y down)",
        "flow_units": "pixels; arrays are H x W x 2 (x, y), top row first",
    }
