"""The bake's self-check: forward flow at t and backward flow at t+K describe the same motion, so following
one and then the other must come back to the start. A Blender bug that writes a wrong Vector pass or wrong
passes (Blender 4.2 did, for a second view layer) breaks that at most pixels; a correct bake only at the edges
of surfaces, where interpolating the backward flow mixes two surfaces.

Checked where the forward flow is valid and not occluded and the four pixels around its target are valid
(and not occluded) in the backward flow, so both flows see the same surface point, and only where interpolating
the backward flow between those four is exact to a fraction of ROUND_TRIP_PX: where the backward flow is smooth
(its second differences along rows and columns at each of the four, their neighbours usable too, stay within
SMOOTH_PX). Next to a surface's edge, a fold between two faces, or on a surface turning fast near the camera, the
flow bends between pixel centres, and bilinear interpolation missed by more than the round trip allows: a
correct bake of a cube turning 1.2 rad a frame failed. Frames of more than MOST_PIXELS_FOLLOWED pixels are checked
on an even spread of that many: a bug shows at as large a share of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import FlowError

ROUND_TRIP_PX = 0.5  # a pixel is off when the round trip misses its start by more than this
# A frame fails when more than this share of its checked pixels is off: with occlusion masks only surface edges
# can miss; without them, every pixel hidden at the other frame too (docs/explanation/self-check.md).
MOST_PIXELS_OFF = {True: 0.05, False: 0.25}
# Round trips followed per frame at most: 16,384 evenly spread pixels put the share off within about a fifth of a
# per cent of all pixels' (a failing frame has most of them off), in a fraction of the time (docs/explanation/speed.md).
MOST_PIXELS_FOLLOWED = 2**14
# Bilinear interpolation of a flow whose second differences stay within this misses by at most an eighth of it
# along each axis (the cross term it follows exactly): a fraction of ROUND_TRIP_PX.
SMOOTH_PX = ROUND_TRIP_PX
# A frame fails too when the backward flow bends at more than this share of the pixels the round trip reaches: a
# correct bake's flow is smooth on its surfaces and bends along their edges and folds (measured: at most 52 % of
# them, cubes turning 1.2 rad a frame at 128×96), a wrong pass (every other row off) bends everywhere ...
MOST_PIXELS_ROUGH = 0.9
# ... in frames where the round trip reaches at least this many pixels: in a tiny frame (the demo at 16×12) every
# surface is mostly edges, and its flow bends at most pixels.
FEWEST_PIXELS_ROUGH = 1024
GOLDEN_RATIO = (1 + 5**0.5) / 2
REPORT = "Please report it with the .blend, the Blender version and the manifest.json; --no-verify skips the check."


@dataclass(frozen=True)
class RoundTrip:
    """One frame pair's figures, for the manifest."""

    frame: int
    partner: int
    checked: int  # pixels checked
    off: int  # of those, pixels whose round trip misses by more than ROUND_TRIP_PX
    median_px: float
    rough: int = 0  # pixels left unjudged: their target's four are usable, but the backward flow bends there

    @property
    def share_rough(self) -> float:
        return self.rough / (self.checked + self.rough) if self.checked + self.rough else 0.0

    @property
    def share_off(self) -> float:
        return self.off / self.checked if self.checked else 0.0


def round_trip(frame: int, partner: int, forward: np.ndarray, forward_usable: np.ndarray, backward: np.ndarray,
               backward_usable: np.ndarray, blender_image_coordinate_style: bool) -> RoundTrip:
    """Follow ``forward`` (frame → partner) from each usable pixel centre, bilinearly interpolate ``backward``
    (partner → frame) there and measure how far from the start the round trip ends.

    float32 throughout: the whole pixel steps are split off first, so the fractions keep their precision."""
    height, width = forward.shape[:2]
    spread = followed(height, width)
    if spread is not None:
        forward_usable = forward_usable & spread
    # a spot between four pixel centres (indexed by the top left one) whose four are all usable
    around = backward_usable[:-1, :-1] & backward_usable[:-1, 1:] & backward_usable[1:, :-1] & backward_usable[1:, 1:]
    start = np.flatnonzero(forward_usable)
    flow = np.take(as_complex(forward), start)  # x + iy: one look-up per pixel for both components
    y_sign = np.float32(-1.0 if blender_image_coordinate_style else 1.0)
    whole_x, whole_y = np.floor(flow.real), np.floor(y_sign * flow.imag)  # pixel centres are at integer + 0.5
    rows, columns = np.divmod(start, width)
    # usable flow lands inside the image, so its whole steps fit 32 bits (numpy makes those ten times as fast)
    left, top = columns + whole_x.astype(np.int32), rows + whole_y.astype(np.int32)
    inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
    checked = np.flatnonzero(inside)
    checked = checked[np.take(around, top[checked] * (width - 1) + left[checked])]
    values = as_complex(backward)
    corner = np.take(top, checked) * width + np.take(left, checked)
    # where interpolating between the four is exact: the backward flow is smooth at each of them
    judged = (np.take(left, checked) >= 1) & (np.take(top, checked) >= 1)
    judged &= (np.take(left, checked) + 2 < width) & (np.take(top, checked) + 2 < height)
    usable_values = np.where(backward_usable.ravel(), values, np.complex64(np.nan))
    for offset in (0, 1, width, width + 1):
        judged[judged] = smooth_at(usable_values, corner[judged] + offset, width)
    rough = int((~judged).sum())
    checked, corner = checked[judged], corner[judged]
    flow = np.take(flow, checked)
    fraction_x = flow.real - np.take(whole_x, checked)
    fraction_y = y_sign * flow.imag - np.take(whole_y, checked)
    upper, lower = np.take(values, corner), np.take(values, corner + width)
    upper += fraction_x * (np.take(values, corner + 1) - upper)
    lower += fraction_x * (np.take(values, corner + width + 1) - lower)
    miss = np.abs(flow + upper + fraction_y * (lower - upper))
    return RoundTrip(frame, partner, int(miss.size), int((miss > ROUND_TRIP_PX).sum()),
                     float(np.median(miss, overwrite_input=True)) if miss.size else 0.0, rough)


def smooth_at(values: np.ndarray, pixels: np.ndarray, width: int) -> np.ndarray:
    """Whether the flow (``values``, flat complex, NaN where not usable) is smooth at the flat indices ``pixels``
    (none on the frame's border): they and their neighbours left, right, above and below are usable, and the flow's
    second differences along the row and the column are within SMOOTH_PX (NaN compares False)."""
    centre = 2 * np.take(values, pixels)
    row = np.abs(np.take(values, pixels - 1) - centre + np.take(values, pixels + 1)) <= SMOOTH_PX
    return row & (np.abs(np.take(values, pixels - width) - centre + np.take(values, pixels + width)) <= SMOOTH_PX)


@lru_cache(maxsize=2)
def followed(height: int, width: int) -> np.ndarray | None:
    """The pixels whose round trips are followed (None: all): in a frame of more than MOST_PIXELS_FOLLOWED pixels,
    that many, the same in every frame of that size. Pixel i is taken where the fractional part of i × the golden
    ratio is below their share: evenly spread over every row, every column and every other regular pattern, so
    no pattern of wrong pixels can slip between them."""
    share = MOST_PIXELS_FOLLOWED / (height * width)
    if share >= 1:
        return None
    return (np.arange(height * width) * GOLDEN_RATIO % 1.0 < share).reshape(height, width)


def as_complex(flow: np.ndarray) -> np.ndarray:
    """An H×W×2 flow as one complex64 per pixel (x + iy), flattened."""
    return np.ascontiguousarray(flow, np.float32).view(np.complex64).ravel()


def check_round_trip(result: RoundTrip, occlusion: bool = True) -> None:
    """Stop the bake when a frame pair's flows disagree at most pixels
    (``occlusion``: occluded pixels were left out)."""
    if result.share_rough > MOST_PIXELS_ROUGH and result.checked + result.rough >= FEWEST_PIXELS_ROUGH:
        raise FlowError(
            f"Self-check failed at frame {result.frame}: frame {result.partner}'s backward flow bends between "
            f"neighbouring pixels at {100 * result.share_rough:.1f}% of the {result.checked + result.rough} pixels "
            f"that frame {result.frame}'s forward flow reaches (a correct bake: along surface edges). Blender "
            f"rendered motion that does not add up; the files of frame {result.frame} were not written. {REPORT}")
    if result.share_off > MOST_PIXELS_OFF[occlusion]:
        raise FlowError(
            f"Self-check failed at frame {result.frame}: following its forward flow to frame {result.partner} and that "
            f"frame's backward flow back misses the start by more than {ROUND_TRIP_PX} px at "
            f"{100 * result.share_off:.1f}% of {result.checked} pixels (a correct bake: a few edge pixels). Blender "
            f"rendered motion that does not add up; the files of frame {result.frame} were not written. {REPORT}")


def summary(verify: bool, occlusion: bool, frames: list[dict]) -> dict:
    """The manifest's account of the self-check over the frames written."""
    checks = [RoundTrip(**record["self_check"]) for record in frames if "self_check" in record]
    return {"on": verify, "round_trip_px": ROUND_TRIP_PX, "most_pixels_off": MOST_PIXELS_OFF[occlusion],
            "most_pixels_followed": MOST_PIXELS_FOLLOWED,
            "frame_pairs_checked": len(checks),
            "worst_share_off": round(max((c.share_off for c in checks), default=0.0), 6)}
