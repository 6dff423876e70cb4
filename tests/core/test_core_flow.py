"""Vector pass → flow conversion and masks, on hand-made arrays (no bpy)."""
import numpy as np

from optical_flow_addon.core.flow import backward_flow, forward_flow, surface_hit, target_inside_image, validity_mask


def vector_pass(x, y, z, w, shape=(3, 4)):
    return np.broadcast_to(np.array([x, y, z, w], np.float32), (*shape, 4)).copy()


def test_forward_is_minus_zw_and_backward_is_xy_with_y_down_for_opencv():
    vector = vector_pass(1.0, 2.0, 3.0, 4.0)
    np.testing.assert_array_equal(forward_flow(vector, False)[0, 0], [-3.0, 4.0])
    np.testing.assert_array_equal(backward_flow(vector, False)[0, 0], [1.0, -2.0])
    np.testing.assert_array_equal(forward_flow(vector, True)[0, 0], [-3.0, -4.0])
    np.testing.assert_array_equal(backward_flow(vector, True)[0, 0], [1.0, 2.0])


def test_every_pixel_is_converted_on_its_own():
    """Different values at every pixel: a mix-up of pixels or channels cannot hide behind a constant pass."""
    vector = np.random.default_rng(1).normal(scale=20, size=(5, 7, 4)).astype(np.float32)
    down = np.array([1, -1], np.float32)  # OpenCV style negates y
    np.testing.assert_array_equal(forward_flow(vector, True), -vector[..., 2:4])
    np.testing.assert_array_equal(forward_flow(vector, False), -vector[..., 2:4] * down)
    np.testing.assert_array_equal(backward_flow(vector, True), vector[..., 0:2])
    np.testing.assert_array_equal(backward_flow(vector, False), vector[..., 0:2] * down)


def test_conversion_leaves_the_vector_pass_untouched():
    vector = vector_pass(1.0, 2.0, 3.0, 4.0)
    original = vector.copy()
    forward_flow(vector, False), backward_flow(vector, False)
    np.testing.assert_array_equal(vector, original)


def test_background_depth_is_no_hit():
    depth = np.array([[5.0, 1e10], [5e8, 0.1]], np.float32)
    np.testing.assert_array_equal(surface_hit(depth), [[True, False], [True, True]])


def test_targets_leaving_the_image_are_flagged_at_the_exact_border():
    # 1×4 image, pixel centres at x = 0.5 … 3.5; moving by -0.5 keeps pixel 0 on the border (x = 0, inside)
    flow = np.zeros((1, 4, 2), np.float32)
    flow[..., 0] = [-0.5, -0.5, 0.0, 0.5]
    np.testing.assert_array_equal(target_inside_image(flow, False), [[True, True, True, False]])
    flow[..., 0] = [-0.51, 0, 0, 0.49]
    np.testing.assert_array_equal(target_inside_image(flow, False), [[False, True, True, True]])


def test_vertical_direction_depends_on_style():
    flow = np.zeros((4, 1, 2), np.float32)
    flow[..., 1] = 1.0  # opencv: down by one row; blender: up by one row
    np.testing.assert_array_equal(target_inside_image(flow, False)[:, 0], [True, True, True, False])
    np.testing.assert_array_equal(target_inside_image(flow, True)[:, 0], [False, True, True, True])


def test_valid_needs_both_hit_and_inside():
    flow = np.zeros((2, 2, 2), np.float32)
    flow[0, 0, 0] = -5
    hit = np.array([[True, True], [False, True]])
    np.testing.assert_array_equal(validity_mask(flow, hit, False), [[False, True], [False, True]])
