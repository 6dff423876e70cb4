"""Synthetic products of a baked sequence, shaped as the bake hands them to a layout (no bpy).

Every image is random, so a loaded image tells which frame it is. Flows are random with random valid
and occluded pixels; the last frame has no forward flow and the first no backward flow, as in a bake.
"""
from __future__ import annotations

import numpy as np

H, W = 6, 8


def random_pose(rng: np.random.Generator) -> np.ndarray:
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    pose = np.eye(4)
    pose[:3, :3] = rotation * np.sign(np.linalg.det(rotation))
    pose[:3, 3] = rng.normal(scale=5, size=3)
    return pose


def sequence_products(frames: range, seed: int = 0, channels: int = 3, height: int = H, width: int = W) -> dict:
    """frame → products."""
    rng = np.random.default_rng(seed)
    products = {}
    for frame in frames:
        arrays = {
            "colors": rng.integers(0, 256, (height, width, channels), dtype=np.uint8),
            "depth": rng.uniform(0.5, 100, (height, width)).astype(np.float32),
            "K": np.array([[50.0 + seed, 0, (width - 1) / 2], [0, 51.0, (height - 1) / 2], [0, 0, 1]]),
            "camera_to_world": random_pose(rng),
        }
        directions = [d for d, skip in (("forward", frames[-1]), ("backward", frames[0])) if frame != skip]
        for direction in directions:
            flow = rng.normal(scale=20, size=(height, width, 2)).astype(np.float32)
            flow[0, 0] = (0.015625, -511.984375)  # whole 1/64 px steps next to KITTI's limit
            valid = rng.random((height, width)) > 0.3
            valid[0, 0] = True
            arrays[f"{direction}_flow"] = flow
            arrays[f"{direction}_flow_valid"] = valid
            arrays[f"{direction}_flow_occluded"] = rng.random((height, width)) > 0.7
        products[frame] = arrays
    return products


def stereo_products(frames: range, seed: int = 0, height: int = H, width: int = W) -> dict:
    """frame → the right view's image and flow, both views' disparity with its masks, and each flow's disparity
    change."""
    rng = np.random.default_rng(seed + 1000)
    products = {}
    for frame in frames:
        arrays = {"right_colors": rng.integers(0, 256, (height, width, 3), dtype=np.uint8)}
        directions = [d for d, skip in (("forward", frames[-1]), ("backward", frames[0])) if frame != skip]
        for view in ("", "right_"):
            arrays[f"{view}disparity"] = rng.uniform(0.1, 90, (height, width)).astype(np.float32)
            for mask, share in (("valid", 0.8), ("outside", 0.1), ("occluded", 0.1)):
                arrays[f"{view}disparity_{mask}"] = rng.random((height, width)) < share
            for direction in directions:
                arrays[f"{view}{direction}_disparity_change"] = rng.normal(size=(height, width)).astype(np.float32)
        for direction in directions:  # the right view's own flow
            arrays[f"right_{direction}_flow"] = rng.normal(scale=20, size=(height, width, 2)).astype(np.float32)
            arrays[f"right_{direction}_flow_valid"] = rng.random((height, width)) > 0.3
            arrays[f"right_{direction}_flow_occluded"] = rng.random((height, width)) > 0.7
        products[frame] = arrays
    return products


def layout_products(layout: str, frames: range, seed: int = 0, channels: int = 3, height: int = H,
                    width: int = W) -> dict:
    """frame → products as the bake hands them to ``layout``: Spring's are stereo, with the truth (every product
    but the images and the camera) at twice the images' height and width, as truth_scale 2 makes it."""
    if layout != "SPRING":
        return sequence_products(frames, seed, channels, height, width)
    products = sequence_products(frames, seed, channels, 2 * height, 2 * width)
    images = sequence_products(frames, seed, channels, height, width)
    right = stereo_products(frames, seed, 2 * height, 2 * width)
    for frame in frames:
        products[frame] |= right[frame]
        products[frame]["colors"] = images[frame]["colors"]
        products[frame]["right_colors"] = right[frame]["right_colors"][::2, ::2]
        products[frame]["K"] = images[frame]["K"]
    return products
