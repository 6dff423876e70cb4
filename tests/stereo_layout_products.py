"""Synthetic stereo products of a baked sequence (no bpy): the right image, the left view's disparity with its masks,
and disparity change, as core/stereo.py hands them to a layout; ``largest`` is the disparity at the format's limit."""
from __future__ import annotations

import numpy as np

from layout_products import sequence_products


def stereo_products(frames: range, seed: int, largest: float, channels: int = 3) -> dict:
    """frame → products, with disparity up to ``largest`` px (pixel (0, 0) holds it) and a disparity change that
    keeps the disparity at t±1 within 0 … ``largest``."""
    products = sequence_products(frames, seed, channels)
    rng = np.random.default_rng(seed + 100)
    for arrays in products.values():
        shape = arrays["depth"].shape
        arrays["right_colors"] = rng.integers(0, 256, arrays["colors"].shape, dtype=np.uint8)
        valid = rng.random(shape) > 0.2
        valid[0, 0] = True
        disparity = np.where(valid, rng.uniform(2, largest - 2, shape), 0).astype(np.float32)
        disparity[0, 0] = largest
        arrays["disparity"], arrays["disparity_valid"] = disparity, valid
        arrays["disparity_occluded"] = valid & (rng.random(shape) > 0.7)
        arrays["disparity_outside"] = valid & ~arrays["disparity_occluded"] & (rng.random(shape) > 0.8)
        for direction in ("forward", "backward"):
            if f"{direction}_flow" in arrays:
                change = rng.uniform(-2, 2, shape).astype(np.float32)
                change[0, 0] = 0
                arrays[f"{direction}_disparity_change"] = np.where(arrays[f"{direction}_flow_valid"], change, 0)
    return products
