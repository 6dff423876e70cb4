"""Middlebury colour coding (no bpy), checked against the published wheel's known colours."""
import numpy as np

from optical_flow_addon.core.colour_wheel import colour_wheel, flow_to_rgb


def test_wheel_has_55_colours_starting_red_and_passing_the_primaries():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3)
    np.testing.assert_array_equal(wheel[0], [255, 0, 0])
    np.testing.assert_array_equal(wheel[15], [255, 255, 0])   # after 15 red→yellow steps
    np.testing.assert_array_equal(wheel[21], [0, 255, 0])     # after 6 yellow→green steps
    np.testing.assert_array_equal(wheel[36], [0, 0, 255])     # after 4 green→cyan and 11 cyan→blue steps
    np.testing.assert_array_equal(wheel[54], [255, 0, 43])    # 255 - floor(255·5/6) on the way back to red


def test_directions_lengths_and_invalid_pixels():
    flow = np.array([[[0, 0], [1, 0], [-1, 0], [2, 0], [5, 5]]], np.float32)
    valid = np.array([[True, True, True, True, False]])
    picture = flow_to_rgb(flow, valid, max_radius=1.0)
    np.testing.assert_array_equal(picture[0, 0], [255, 255, 255])  # no motion: white
    np.testing.assert_array_equal(picture[0, 1], [255, 0, 0])      # right, full length: red
    np.testing.assert_array_equal(picture[0, 2], [0, 209, 255])    # left: wheel colour 27 (cyan→blue, step 2)
    np.testing.assert_array_equal(picture[0, 3], [191, 0, 0])      # beyond the rim: darkened to 75 %
    np.testing.assert_array_equal(picture[0, 4], [0, 0, 0])        # invalid: black


def test_default_scale_is_the_longest_valid_vector():
    flow = np.array([[[3, 0], [1.5, 0], [100, 0]]], np.float32)
    picture = flow_to_rgb(flow, np.array([[True, True, False]]))
    np.testing.assert_array_equal(picture[0, 0], [255, 0, 0])
    assert picture[0, 1, 1] == 127  # half way from white
