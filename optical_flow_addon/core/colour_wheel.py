"""Middlebury colour coding of flow (Baker et al., 2011): hue is direction, saturation is length."""
from __future__ import annotations

import numpy as np

# Colour wheel segments: red→yellow, yellow→green, green→cyan, cyan→blue, blue→magenta, magenta→red.
SEGMENTS = (15, 6, 4, 11, 13, 6)
CORNERS = ((255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255), (255, 0, 0))
INVALID_COLOUR = (0, 0, 0)  # unknown flow is black, as in the Middlebury tools


def colour_wheel() -> np.ndarray:
    """The 55 wheel colours (55×3, 0–255), starting at red and turning through yellow, green, cyan, blue, magenta."""
    colours = np.zeros((sum(SEGMENTS), 3))
    index = 0
    for segment, steps in enumerate(SEGMENTS):
        start, end = np.array(CORNERS[segment]), np.array(CORNERS[segment + 1])
        fraction = np.floor(255 * np.arange(steps) / steps)[:, None] / 255
        colours[index:index + steps] = start + fraction * (end - start)
        index += steps
    return colours


def flow_to_rgb(flow: np.ndarray, valid: np.ndarray | None = None, max_radius: float | None = None) -> np.ndarray:
    """H×W×3 uint8 picture of flow (x right, y down). ``max_radius`` fixes the scale so a whole
    sequence shares one; by default the longest valid vector reaches the wheel's rim."""
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    valid = np.isfinite(u) & np.isfinite(v) if valid is None else valid & np.isfinite(u) & np.isfinite(v)
    u, v = np.where(valid, u, 0), np.where(valid, v, 0)
    length = np.hypot(u, v)
    if max_radius is None:
        max_radius = float(length.max()) if length.size else 0.0
    radius = length / max_radius if max_radius > 0 else np.zeros_like(length)
    wheel = colour_wheel() / 255
    angle = np.arctan2(-v, -u) / np.pi  # -1..1
    position = (angle + 1) / 2 * (len(wheel) - 1)
    k0 = np.floor(position).astype(int)
    k1 = (k0 + 1) % len(wheel)
    f = (position - k0)[..., None]
    colour = (1 - f) * wheel[k0] + f * wheel[k1]
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    picture = np.floor(255 * colour).astype(np.uint8)
    picture[~valid] = INVALID_COLOUR
    return picture
