"""The self-check's round trip on flow fields whose answer is known."""
import numpy as np
import pytest

from optical_flow_addon.core import self_check
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.self_check import MOST_PIXELS_FOLLOWED, ROUND_TRIP_PX, check_round_trip, round_trip

H, W = 40, 60


def affine_pair(blender_style: bool, height: int = H, width: int = W):
    """Forward flow of p -> A p + b (a zoom and turn) and the backward flow of its inverse, at pixel centres."""
    a = np.array([[1.03, -0.02], [0.015, 0.98]])
    b = np.array([1.7, -2.3])
    rows, cols = np.mgrid[0:height, 0:width]
    centres = np.stack([cols + 0.5, rows + 0.5], axis=-1)
    forward = centres @ a.T + b - centres
    backward = (centres - b) @ np.linalg.inv(a).T - centres
    if blender_style:
        forward[..., 1] *= -1
        backward[..., 1] *= -1
    return forward.astype(np.float32), backward.astype(np.float32)


@pytest.mark.parametrize("blender_style", [False, True], ids=["opencv", "blender"])
def test_a_consistent_pair_comes_back_to_the_start(blender_style):
    forward, backward = affine_pair(blender_style)
    usable = np.ones((H, W), bool)
    result = round_trip(3, 4, forward, usable, backward, usable, blender_style)
    assert result.checked > 0.8 * H * W and result.off == 0 and result.median_px < 1e-4
    check_round_trip(result)  # passes


def test_wrong_backward_flow_is_caught_with_the_frame_named():
    """Blender 4.2's wrong Vector pass: backward flow -(x + 0.5) along every row."""
    forward, _ = affine_pair(False)
    garbage = np.zeros_like(forward)
    garbage[..., 0] = -(np.arange(W) + 0.5)
    usable = np.ones((H, W), bool)
    result = round_trip(7, 8, forward, usable, garbage, usable, False)
    assert result.share_off > 0.9
    with pytest.raises(FlowError, match=r"Self-check failed at frame 7: following its forward flow to frame 8 .* "
                                        r"by more than 0\.5 px at (9\d|100)\.\d% of \d+ pixels.*--no-verify"):
        check_round_trip(result)


def test_only_pixels_whose_target_lands_on_the_same_surface_are_checked():
    forward, backward = affine_pair(False)
    usable = np.ones((H, W), bool)
    backward_usable = usable.copy()
    backward_usable[:, W // 2:] = False  # e.g. occluded or background in the partner frame
    wrong = backward.copy()
    wrong[:, W // 2:] += 50  # wrong there, but not checked
    result = round_trip(1, 2, forward, usable, wrong, backward_usable, False)
    assert 0 < result.checked < 0.6 * H * W and result.off == 0
    forward_usable = usable.copy()
    forward_usable[::2] = False
    assert round_trip(1, 2, forward, forward_usable, backward, usable, False).checked < result.checked + H * W / 2
    assert ROUND_TRIP_PX == 0.5


def test_a_large_frame_is_checked_on_an_even_spread_of_pixels_that_keeps_the_verdict(monkeypatch):
    """At 640×480 the round trips of 16,384 pixels are followed; backward flow wrong on every other row (a pattern
    that a regular grid of pixels could miss entirely) bends at as large a share of them as of all pixels."""
    height, width = 480, 640
    forward, backward = affine_pair(False, height, width)
    usable = np.ones((height, width), bool)
    result = round_trip(1, 2, forward, usable, backward, usable, False)
    assert 0.95 * MOST_PIXELS_FOLLOWED < result.checked <= MOST_PIXELS_FOLLOWED and result.off == 0
    backward[1::2] += 1  # whole rows of the partner frame 1 px off
    spread = round_trip(1, 2, forward, usable, backward, usable, False)
    monkeypatch.setattr(self_check, "followed", lambda height, width: None)
    every = round_trip(1, 2, forward, usable, backward, usable, False)
    assert spread.checked + spread.rough <= MOST_PIXELS_FOLLOWED < (every.checked + every.rough) / 3
    assert abs(spread.share_rough - every.share_rough) < 0.005 and every.share_rough > 0.5
    with pytest.raises(FlowError, match="Self-check failed at frame 1: frame 2's backward flow bends between "
                                        r"neighbouring pixels at 100\.0% of the \d+ pixels"):
        check_round_trip(spread)
