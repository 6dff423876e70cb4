"""Training layouts written from synthetic products and read back with independent readers (no bpy):
Sintel's .dpt and .cam as the Sintel SDK reads them, masks' polarity, KITTI pairs, FlyingThings3D's
files per direction, sequences side by side, and every refusal."""
import struct
from pathlib import Path

import numpy as np
import pytest

import png_files
from layout_products import layout_products, sequence_products
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.layouts import LAYOUTS, Sequence, get_layout

FRAMES = range(3, 7)


def bake(layout, root, name="scene", frames=FRAMES, seed=0, **settings):
    """Write every frame of a synthetic sequence as the bake would: check first, then frame by frame."""
    settings.setdefault("stereo", layout.name == "SPRING")  # Spring holds both views
    sequence = Sequence(root, name, frames.start, frames.stop - 1, frames.step, frames.step, **settings)
    layout.check(sequence)
    products = layout_products(layout.name, frames, seed)
    for frame in frames:
        layout.write(sequence, frame, products[frame])
    return sequence, products


def read_png(path):
    return png_files.read(path.read_bytes())


def read_dpt(path):
    """As the Sintel SDK's depth_read: float32 tag, int32 width, int32 height, float32 depth."""
    data = path.read_bytes()
    tag, width, height = struct.unpack("<fii", data[:12])
    assert tag == 202021.25
    return np.frombuffer(data[12:], "<f4").reshape(height, width)


def read_cam(path):
    """As the Sintel SDK's cam_read: float32 tag, then 9 and 12 float64 (intrinsic 3×3, extrinsic 3×4)."""
    data = path.read_bytes()
    assert len(data) == 4 + 21 * 8 and struct.unpack("<f", data[:4])[0] == 202021.25
    values = np.frombuffer(data[4:], "<f8")
    return values[:9].reshape(3, 3), values[9:].reshape(3, 4)


def read_flo(path):
    data = path.read_bytes()
    assert data[:4] == b"PIEH"
    width, height = struct.unpack("<ii", data[4:12])
    return np.frombuffer(data[12:], "<f4").reshape(height, width, 2)


def read_pfm(path):
    header, width_height, scale, pixels = path.read_bytes().split(b"\n", 3)
    width, height = map(int, width_height.split())
    assert header == b"PF" and float(scale) < 0  # three channels, little-endian
    return np.frombuffer(pixels, "<f4").reshape(height, width, 3)[::-1]


def read_kitti(path):
    pixels = read_png(path).astype(np.float64)
    return (pixels[..., :2] - 2 ** 15) / 64, pixels[..., 2] == 1


def test_sintel_files_hold_the_products(tmp_path):
    sequence, products = bake(LAYOUTS["SINTEL"], tmp_path)
    training = tmp_path / "Sintel" / "training"
    for number, frame in enumerate(FRAMES, start=1):
        stem = f"scene/frame_{number:04d}"
        arrays = products[frame]
        np.testing.assert_array_equal(read_png(training / "clean" / f"{stem}.png"), arrays["colors"])
        np.testing.assert_array_equal(read_dpt(training / "depth" / f"{stem}.dpt"), arrays["depth"])
        intrinsics, extrinsic = read_cam(training / "camdata_left" / f"{stem}.cam")
        np.testing.assert_array_equal(intrinsics, arrays["K"])
        # A point 7 units in front of the Blender camera (which looks along its −z) projects to K's centre,
        # 7 units deep: the extrinsic is world-to-camera with OpenCV axes (z forward).
        point = arrays["camera_to_world"] @ [0, 0, -7, 1]
        pixel = intrinsics @ extrinsic @ point
        np.testing.assert_allclose(pixel, [arrays["K"][0, 2] * 7, arrays["K"][1, 2] * 7, 7], atol=1e-9)
        # and a point to the camera's upper right (Blender +x, +y) lands right of and above the centre
        x, y, _ = intrinsics @ extrinsic @ (arrays["camera_to_world"] @ [1, 1, -7, 1]) / 7
        assert x > arrays["K"][0, 2] and y < arrays["K"][1, 2]
        if frame == FRAMES[-1]:
            assert not (training / "flow" / f"{stem}.flo").exists()
            continue
        valid = arrays["forward_flow_valid"]
        flow = read_flo(training / "flow" / f"{stem}.flo")
        np.testing.assert_array_equal(flow[valid], arrays["forward_flow"][valid])
        assert np.all(flow[~valid] > 1e9)
        occlusions = read_png(training / "occlusions" / f"{stem}.png")[..., 0]
        np.testing.assert_array_equal(occlusions, np.where(arrays["forward_flow_occluded"], 255, 0))
        invalid = read_png(training / "invalid" / f"{stem}.png")[..., 0]
        np.testing.assert_array_equal(invalid, np.where(valid, 0, 255))
    counts = {kind: len(list((training / kind / "scene").iterdir())) for kind in
              ("clean", "flow", "occlusions", "invalid", "depth", "camdata_left")}
    assert counts == {"clean": 4, "flow": 3, "occlusions": 3, "invalid": 3, "depth": 4, "camdata_left": 4}
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


def test_images_with_motion_blur_are_the_final_pass(tmp_path):
    bake(LAYOUTS["SINTEL"], tmp_path, motion_blur=True)
    bake(LAYOUTS["FLYINGTHINGS3D"], tmp_path, motion_blur=True)
    assert len(list((tmp_path / "Sintel/training/final/scene").iterdir())) == 4
    assert not (tmp_path / "Sintel/training/clean").exists()
    assert len(list((tmp_path / "FlyingThings3D/frames_finalpass/TRAIN/A/scene/left").iterdir())) == 4
    assert not (tmp_path / "FlyingThings3D/frames_cleanpass").exists()


def test_transparent_images_keep_their_alpha(tmp_path):
    sequence = Sequence(tmp_path, "scene", 0, 1)
    products = sequence_products(range(2), channels=4)
    LAYOUTS["SINTEL"].write(sequence, 0, products[0])
    np.testing.assert_array_equal(read_png(tmp_path / "Sintel/training/clean/scene/frame_0001.png"),
                                  products[0]["colors"])


@pytest.mark.parametrize("name", LAYOUTS)
def test_blenders_png_is_copied_but_for_its_render_date(tmp_path, name):
    """In a bake ``colors`` is Blender's PNG: every image file of the layout is that file without its text chunks
    (Blender's render date and time), not a new encoding."""
    sequence = Sequence(tmp_path / "root", "scene", 0, 2, stereo=name == "SPRING")
    products = layout_products(name, range(3))
    expected = {}
    for frame in range(3):  # made by another encoder than the layouts' own (pypng, None filter)
        expected[frame] = png_files.write(products[frame]["colors"])
        header_end = 8 + 25  # signature, IHDR
        text = png_files.chunk(b"tEXt", f"Date\x002026/01/0{frame} 12:00:00".encode())
        products[frame]["colors"] = tmp_path / f"render_{frame}.png"
        products[frame]["colors"].write_bytes(expected[frame][:header_end] + text + expected[frame][header_end:])
    images = {}
    for frame in range(3):
        written = LAYOUTS[name].write(sequence, frame, products[frame])
        images[frame] = [path for path in written if path.read_bytes() == expected[frame]]
    assert [len(images[frame]) for frame in range(3)] == ([1, 2, 1] if name == "KITTI" else [1, 1, 1])
    assert not list((tmp_path / "root").rglob(".*"))  # no temporary left


def test_kitti_pairs_and_flows_with_and_without_occluded_pixels(tmp_path):
    sequence, products = bake(LAYOUTS["KITTI"], tmp_path, frames=range(10, 16, 2))
    training = tmp_path / "KittiFlow" / "training"
    for pair, (first, second) in enumerate([(10, 12), (12, 14)]):
        stem = f"scene_{pair:06d}"
        np.testing.assert_array_equal(read_png(training / "image_2" / f"{stem}_10.png"), products[first]["colors"])
        np.testing.assert_array_equal(read_png(training / "image_2" / f"{stem}_11.png"), products[second]["colors"])
        arrays = products[first]
        valid, occluded = arrays["forward_flow_valid"], arrays["forward_flow_occluded"]
        for kind, expected in (("flow_occ", valid), ("flow_noc", valid & ~occluded)):
            flow, stored_valid = read_kitti(training / kind / f"{stem}_10.png")
            np.testing.assert_array_equal(stored_valid, expected)
            assert np.abs(flow[expected] - arrays["forward_flow"][expected]).max() <= 1 / 128
    assert sorted(p.name for p in (training / "flow_occ").iterdir()) == ["scene_000000_10.png", "scene_000001_10.png"]
    assert len(list((training / "image_2").iterdir())) == 4


def test_flyingthings3d_has_one_flow_per_image_in_each_direction(tmp_path):
    sequence, products = bake(LAYOUTS["FLYINGTHINGS3D"], tmp_path)
    top = tmp_path / "FlyingThings3D"
    for number, frame in enumerate(FRAMES):
        arrays = products[frame]
        np.testing.assert_array_equal(read_png(top / f"frames_cleanpass/TRAIN/A/scene/left/{number:04d}.png"),
                                      arrays["colors"])
        for flow_name, direction, word in (("forward_flow", "into_future", "IntoFuture"),
                                           ("backward_flow", "into_past", "IntoPast")):
            flow = read_pfm(top / f"optical_flow/TRAIN/A/scene/{direction}/left/OpticalFlow{word}_{number:04d}_L.pfm")
            occlusions = read_png(top / f"occlusions/TRAIN/A/scene/{direction}/left/{number:04d}.png")[..., 0]
            assert np.all(flow[..., 2] == 0)
            if flow_name not in arrays:  # the first frame's past and the last frame's future: unknown
                assert np.all(flow[..., :2] == 1e10) and np.all(occlusions == 255)
                continue
            valid = arrays[f"{flow_name}_valid"]
            np.testing.assert_array_equal(flow[valid, :2], arrays[flow_name][valid])
            assert np.all(flow[~valid, :2] == 1e10)
            np.testing.assert_array_equal(occlusions, np.where(arrays[f"{flow_name}_occluded"], 255, 0))


@pytest.mark.parametrize("name", LAYOUTS)
def test_a_second_sequence_leaves_the_first_untouched(tmp_path, name):
    layout = LAYOUTS[name]
    first, _ = bake(layout, tmp_path, "first")
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in layout.sequence_files(first)}
    second, _ = bake(layout, tmp_path, "second", frames=range(0, 3), seed=1)
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in layout.sequence_files(first)} == before
    assert layout.sequence_files(second) and not set(layout.sequence_files(second)) & set(before)


@pytest.mark.parametrize("name", LAYOUTS)
def test_baking_a_sequence_again_needs_overwrite(tmp_path, name):
    layout = LAYOUTS[name]
    bake(layout, tmp_path)
    with pytest.raises(FlowError, match="already has .* Overwrite"):
        layout.check(Sequence(tmp_path, "scene", 3, 6, stereo=name == "SPRING"))
    # what it removes: test_core_resume.py
    layout.check(Sequence(tmp_path, "scene", 3, 5, overwrite=True, stereo=name == "SPRING"))


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("changes, message", [
    ({"blender_image_coordinate_style": True}, "OpenCV-style flow .* turn off Blender image coordinate style"),
    ({"frame_gap": 2}, "frame gap is 2: .* Use a frame gap of 1: every frame of the range is written"),
    ({"last_frame": 3}, "at least two frames .* give 1"),
    ({"name": ""}, "Sequence name '' "),
    ({"name": "a/b"}, "Sequence name 'a/b' .* none of /"),
    ({"name": ".hidden"}, "not start with '.'"),
    ({"name": "take[1]"}, r"Sequence name 'take\[1\]'"),
])
def test_settings_a_layout_cannot_hold_are_refused(tmp_path, name, changes, message):
    settings = {"root": tmp_path, "name": "scene", "first_frame": 3, "last_frame": 6, **changes}
    with pytest.raises(FlowError, match=message):
        LAYOUTS[name].check(Sequence(**settings))
    assert not list(tmp_path.iterdir())


def test_roots_that_loaders_cannot_search_are_refused(tmp_path):
    with pytest.raises(FlowError, match=r"Output folder .*\[x\] has one of \*\?\[\] .* glob"):
        LAYOUTS["SINTEL"].check(Sequence(tmp_path / "[x]", "scene", 0, 3))


@pytest.mark.parametrize("name, frames", [("SINTEL", 9999), ("FLYINGTHINGS3D", 10000), ("KITTI", 10 ** 6)])
def test_sequences_longer_than_the_file_numbers_are_refused(tmp_path, name, frames):
    LAYOUTS[name].check(Sequence(tmp_path, "scene", 1, frames))
    with pytest.raises(FlowError, match=f"at most {frames} frames; this one has {frames + 1}"):
        LAYOUTS[name].check(Sequence(tmp_path, "scene", 1, frames + 1))


def test_kitti_refuses_flow_beyond_512_pixels_before_writing_the_frame(tmp_path):
    sequence = Sequence(tmp_path, "scene", 0, 2)
    products = sequence_products(range(3))
    LAYOUTS["KITTI"].write(sequence, 0, products[0])
    products[1]["forward_flow"][2, 3] = (-600.5, 1.0)
    products[1]["forward_flow_valid"][2, 3] = True
    with pytest.raises(FlowError, match=r"Frame 1: 1 valid pixel\(s\) move up to 600.5 px, beyond the ±512 px"):
        LAYOUTS["KITTI"].write(sequence, 1, products[1])
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["scene_000000_10.png"] * 3  # image, occ, noc
    products[1]["forward_flow_valid"][2, 3] = False  # invalid pixels may hold any flow
    LAYOUTS["KITTI"].write(sequence, 1, products[1])


@pytest.mark.parametrize("name, missing", [("SINTEL", "forward_flow_occluded"), ("SINTEL", "depth"),
                                           ("KITTI", "forward_flow_occluded"), ("FLYINGTHINGS3D", "backward_flow")])
def test_a_frame_without_a_product_the_layout_needs_is_refused(tmp_path, name, missing):
    layout = LAYOUTS[name]
    sequence = Sequence(tmp_path, "scene", 0, 2)
    assert missing in layout.needs(sequence, 1)
    products = sequence_products(range(3))[1]
    del products[missing]
    with pytest.raises(FlowError, match=f"The {name} layout needs {missing} for frame 1, but the bake did not make it"):
        layout.write(sequence, 1, products)
    assert not list(tmp_path.iterdir())


def test_what_each_frame_needs():
    sequence = Sequence(Path("/nowhere"), "scene", 0, 2)
    assert LAYOUTS["KITTI"].needs(sequence, 2) == {"colors"}
    assert LAYOUTS["SINTEL"].needs(sequence, 2) == {"colors", "depth", "K", "camera_to_world"}
    assert LAYOUTS["FLYINGTHINGS3D"].needs(sequence, 0) == {"colors", "forward_flow", "forward_flow_valid",
                                                            "forward_flow_occluded"}


def test_flyingthings3d_refuses_a_root_whose_sequences_are_in_the_other_pass(tmp_path):
    bake(LAYOUTS["FLYINGTHINGS3D"], tmp_path, "sharp")
    with pytest.raises(FlowError, match=r"holds sequences without motion blur \(sharp\); torchvision would pair"):
        LAYOUTS["FLYINGTHINGS3D"].check(Sequence(tmp_path, "blurred", 0, 3, motion_blur=True))
    LAYOUTS["FLYINGTHINGS3D"].check(Sequence(tmp_path, "sharp", 0, 3, motion_blur=True, overwrite=True))


def test_unknown_layout_names_the_choices():
    with pytest.raises(FlowError, match="Unknown layout 'SINTEL2'; expected one of SINTEL, KITTI, FLYINGTHINGS3D"):
        get_layout("SINTEL2")
    assert get_layout("KITTI") is LAYOUTS["KITTI"]
