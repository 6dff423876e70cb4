"""The stereo files of the Sintel and KITTI layouts, read back with independent readers (pypng and the datasets'
own decoding): Sintel's RGB disparity (d = R·4 + G/2⁶ + B/2¹⁴, the SDK's disparity_read) and KITTI's 16-bit
disparity·256, each within half its step, with their limits and refusals (no bpy)."""
import numpy as np
import pytest

import png_files
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.formats.kitti import load_kitti_disparity, save_kitti_disparity
from optical_flow_addon.core.formats.sintel import load_disparity, save_disparity
from optical_flow_addon.core.layouts import LAYOUTS, Sequence
from stereo_layout_products import stereo_products

SINTEL_STEP, KITTI_STEP = 2.0 ** -14, 1 / 256
SINTEL_LARGEST, KITTI_LARGEST = (2 ** 24 - 1) * SINTEL_STEP, 65535 * KITTI_STEP


def sintel_sdk_read(path):
    """The Sintel SDK's disparity_read: R·4 + G/2⁶ + B/2¹⁴ of the 8-bit RGB PNG, in float64."""
    pixels = png_files.read(path.read_bytes()).astype(np.float64)
    return pixels[..., 0] * 4 + pixels[..., 1] / 2 ** 6 + pixels[..., 2] / 2 ** 14


def test_sintel_disparity_round_trips_within_half_a_step(tmp_path):
    rng = np.random.default_rng(1)
    disparity = rng.uniform(0, SINTEL_LARGEST, (7, 9)).astype(np.float32)
    disparity[0, :5] = (0, SINTEL_LARGEST, 4, 1 / 64, SINTEL_STEP)  # the limits, and one unit of R, G and B
    path = tmp_path / "frame_0001.png"
    save_disparity(path, disparity)
    pixels = png_files.read(path.read_bytes())
    assert pixels.dtype == np.uint8 and pixels.shape == (7, 9, 3)
    assert pixels[0, :5].tolist() == [[0, 0, 0], [255, 255, 255], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    read = sintel_sdk_read(path)
    assert np.abs(read - disparity).max() <= SINTEL_STEP / 2
    np.testing.assert_array_equal(load_disparity(path), read.astype(np.float32))


@pytest.mark.parametrize("value", [-0.001, SINTEL_LARGEST + SINTEL_STEP, np.nan, np.inf])
def test_sintel_disparity_the_png_cannot_hold_is_refused(tmp_path, value):
    with pytest.raises(FlowError, match="outside the 0 to 1023.99994 px that Sintel's disparity PNG holds"):
        save_disparity(tmp_path / "d.png", np.full((2, 2), value, np.float32))
    assert not (tmp_path / "d.png").exists()


def test_kitti_disparity_round_trips_within_half_a_step_and_zero_is_invalid(tmp_path):
    rng = np.random.default_rng(2)
    disparity = rng.uniform(0, KITTI_LARGEST, (7, 9)).astype(np.float32)
    disparity[0, :4] = (KITTI_LARGEST, 1.0, 0.001, 0)  # the limit, one px, under half a step (kept as one step)
    valid = rng.random((7, 9)) > 0.3
    valid[0, :4] = True
    disparity[~valid] = 1e9  # invalid pixels may hold anything
    path = tmp_path / "000000_10.png"
    save_kitti_disparity(path, disparity, valid)
    pixels = png_files.read(path.read_bytes())[..., 0]
    assert pixels.dtype == np.uint16 and pixels[0, :4].tolist() == [65535, 256, 1, 1]
    assert (pixels[~valid] == 0).all() and (pixels[valid] > 0).all()
    assert np.abs(pixels / 256 - disparity)[valid].max() <= KITTI_STEP
    assert np.abs(pixels / 256 - disparity)[valid & (disparity >= KITTI_STEP / 2)].max() <= KITTI_STEP / 2
    read, read_valid = load_kitti_disparity(path)
    np.testing.assert_array_equal(read_valid, valid)
    np.testing.assert_array_equal(read, (pixels / 256).astype(np.float32))


@pytest.mark.parametrize("value", [-0.5, 256.0, np.nan])
def test_kitti_disparity_the_png_cannot_hold_is_refused(tmp_path, value):
    with pytest.raises(FlowError, match="outside the 0 to 255.996 px that KITTI's 16-bit disparity PNG holds"):
        save_kitti_disparity(tmp_path / "d.png", np.full((2, 2), value, np.float32), np.ones((2, 2), bool))
    assert not (tmp_path / "d.png").exists()


@pytest.mark.parametrize("name, largest, product, value, message", [
    ("SINTEL", SINTEL_LARGEST, "disparity", 1500.0, "pixel.s. have disparity from 1500.0000 to 1500.0000 px, "
                                                     "outside the 0 to 1023.99994 px that Sintel's disparity PNG"),
    ("SINTEL", SINTEL_LARGEST, "disparity", -3.0, "pixel.s. have disparity from -3.0000.*Use a parallel rig"),
    ("KITTI", KITTI_LARGEST, "disparity", 300.0, "valid pixel.s. have disparity from 300.00 to 300.00 px, outside "
                                                 "the 0 to 255.996 px that KITTI's 16-bit disparity PNG holds"),
    ("KITTI", KITTI_LARGEST, "forward_disparity_change", 0.5, "valid pixel.s. have disparity at the next frame "
                                                              "from 256.50"),
])
def test_stereo_frames_the_files_cannot_hold_are_refused_before_any_file_is_written(tmp_path, name, largest, product,
                                                                                   value, message):
    sequence = Sequence(tmp_path, "shot", 1, 3, stereo=True)
    products = stereo_products(range(1, 4), 0, largest)
    products[1][product][0, 0] = value
    products[1]["forward_flow_valid"][0, 0] = True
    with pytest.raises(FlowError, match=f"Frame 1: 1 {message}"):
        LAYOUTS[name].write(sequence, 1, products[1])
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_sintel_stereo_refuses_a_root_whose_stereo_sequences_are_in_the_other_pass(tmp_path):
    layout = LAYOUTS["SINTEL"]
    sharp = Sequence(tmp_path, "sharp", 1, 2, stereo=True)
    products = stereo_products(range(1, 3), 0, SINTEL_LARGEST)
    for frame in (1, 2):
        layout.write(sharp, frame, products[frame])
    layout.check(Sequence(tmp_path, "blurred", 1, 2, motion_blur=True))  # without stereo: the flow release only
    with pytest.raises(FlowError, match=r"holds stereo sequences without motion blur \(sharp\)"):
        layout.check(Sequence(tmp_path, "blurred", 1, 2, motion_blur=True, stereo=True))


@pytest.mark.parametrize("name", ["SINTEL", "KITTI"])
def test_a_stereo_sequence_baked_again_needs_overwrite_for_its_stereo_files_too(tmp_path, name):
    layout = LAYOUTS[name]
    sequence = Sequence(tmp_path, "shot", 1, 2, stereo=True)
    layout.write(sequence, 1, stereo_products(range(1, 3), 0, 200.0)[1])
    stereo = [p for p in tmp_path.rglob("*") if p.is_file() and p.parts[len(tmp_path.parts)] in ("stereo", "Kitti2015")]
    for path in set(layout.sequence_files(sequence)) - set(stereo):
        path.unlink()
    with pytest.raises(FlowError, match="already has"):
        layout.check(sequence)
