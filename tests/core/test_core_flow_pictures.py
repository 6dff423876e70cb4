"""Colour-coded flow pictures and the overview that ``vis`` writes (no bpy), checked by known colours."""
import json
import re

import numpy as np
import pytest

import png_files
from optical_flow_addon.core.colour_wheel import flow_to_rgb
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.flow_files import WRITERS
from optical_flow_addon.core.formats.picture import GAP, overview
from optical_flow_addon.core.frame_picture import Bake, baked_flow_picture, baked_frame_picture
from optical_flow_addon.core.layouts import LAYOUTS, Sequence
from optical_flow_addon.core.options import BakeOptions
from optical_flow_addon.core.products import FLOW_NAMES

RED, WHITE, BLACK, GREY = [255, 0, 0], [255, 255, 255], [0, 0, 0], [128, 128, 128]


def flow_of(*vectors):
    """One row of flow vectors, all valid but the last."""
    flow = np.array([vectors], np.float32)
    valid = np.ones(flow.shape[:2], bool)
    valid[0, -1] = False
    return flow, valid


def pictures(tmp_path, flows, frame=1, **changes):
    """Write forward flow pictures for ``flows`` (one per frame) and read them with a PNG library."""
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=9, formats=frozenset({"PICTURE"}), **changes)
    decoded = []
    for offset, (flow, valid) in enumerate(flows):
        arrays = {"forward_flow": flow, "forward_flow_valid": valid}
        [path] = WRITERS["PICTURE"].write(tmp_path, frame + offset, arrays, options)
        assert path.name == f"forward_flow_picture_{frame + offset:04d}.png"
        pixels = png_files.read(path.read_bytes())
        assert pixels.dtype == np.uint8 and pixels.shape == (*flow.shape[:2], 3)
        decoded.append(pixels[0])
    return decoded


def test_picture_colours_follow_the_middlebury_wheel(tmp_path):
    [row] = pictures(tmp_path, [flow_of((0, 0), (2, 0), (-2, 0), (4, 0), (1, 0))], picture_max_radius=2.0)
    # still, right, left, beyond the rim, invalid
    np.testing.assert_array_equal(row, [WHITE, RED, [0, 209, 255], [191, 0, 0], BLACK])


def test_a_fixed_max_radius_gives_the_sequence_one_scale(tmp_path):
    fast, slow = flow_of((4, 0), (2, 0), (0, 0)), flow_of((2, 0), (2, 0), (0, 0))
    own_scale = pictures(tmp_path, [fast, slow])
    np.testing.assert_array_equal(own_scale[0][1], [255, 127, 127])  # half of the longest vector: half way from white
    np.testing.assert_array_equal(own_scale[1][1], RED)  # the same vector, full red when it is the longest
    (tmp_path / "shared").mkdir()
    shared = pictures(tmp_path / "shared", [fast, slow], picture_max_radius=4.0)
    np.testing.assert_array_equal(shared[0][1], shared[1][1])
    np.testing.assert_array_equal(shared[1][1], [255, 127, 127])


def test_blender_style_flow_gets_the_colours_of_its_direction_on_screen(tmp_path):
    up_in_blender = pictures(tmp_path, [flow_of((0, 1), (0, 0))], blender_image_coordinate_style=True)[0][0]
    (tmp_path / "cv").mkdir()
    up_in_opencv, down_in_opencv = pictures(tmp_path / "cv", [flow_of((0, -1), (0, 0)), flow_of((0, 1), (0, 0))])
    np.testing.assert_array_equal(up_in_blender, up_in_opencv[0])
    assert up_in_opencv[0][2] == 255 and up_in_opencv[0][1] == 0  # up is blue-violet on the wheel
    assert down_in_opencv[0][0] == 255 and down_in_opencv[0][2] == 0  # down is orange-yellow


def test_overview_shows_flows_masks_and_the_wheel_side_by_side():
    height, width = 6, 4
    forward = np.zeros((height, width, 2), np.float32)
    forward[..., 0] = 2.0  # everything moves right
    backward = -forward
    valid = np.ones((height, width), bool)
    valid[0, 0] = False
    arrays = {"forward_flow": forward, "forward_flow_valid": valid, "backward_flow": backward,
              "backward_flow_valid": np.ones((height, width), bool)}
    picture, radius, labels, _ = overview(arrays)
    assert radius == 2.0
    assert labels == ["forward flow", "backward flow", "forward flow mask", "backward flow mask", "colour wheel"]
    scale = 240 // height  # small flow is enlarged to at least 240 px
    tile = width * scale
    assert picture.shape == (height * scale, 4 * tile + 240 + 4 * GAP, 3)
    starts = [i * (tile + GAP) for i in range(5)]
    np.testing.assert_array_equal(picture[-1, starts[0]], RED)  # forward flow, right
    np.testing.assert_array_equal(picture[0, starts[0]], BLACK)  # its invalid pixel
    np.testing.assert_array_equal(picture[-1, starts[1]], [0, 209, 255])  # backward flow, left
    np.testing.assert_array_equal(picture[0, starts[2]], BLACK)  # forward mask: invalid
    np.testing.assert_array_equal(picture[-1, starts[2]], WHITE)  # forward mask: valid
    np.testing.assert_array_equal(picture[0, starts[3]], WHITE)  # backward mask: all valid
    np.testing.assert_array_equal(picture[:, tile:tile + GAP].reshape(-1, 3)[0], GREY)  # gap
    wheel = picture[:, starts[4]:]
    assert wheel.shape[:2] == (240, 240)
    assert wheel[120, 120].min() >= 250  # centre: almost no flow, almost white
    assert wheel[120, 238][0] == 255 and wheel[120, 238][1:].max() < 10  # right edge: red
    np.testing.assert_array_equal(wheel[0, 0], GREY)  # outside the disc


def test_overview_of_a_single_flow_without_mask_and_a_fixed_scale():
    flow = np.zeros((300, 2, 2), np.float32)
    flow[..., 0] = 1.0
    picture, radius, labels, _ = overview({"flow": flow}, max_radius=2.0)
    assert labels == ["flow", "colour wheel"] and radius == 2.0
    assert picture.shape == (300, 2 + GAP + 300, 3)  # no enlarging above 240 px
    np.testing.assert_array_equal(picture[0, 0], [255, 127, 127])


def bake_folder(folder, flow, valid, frames=(3,), image=None, **changes):
    """A bake folder as the bake leaves it: forward flow .npy files, the frames' ``image`` if given (written by
    another PNG library) and manifest.json."""
    options = BakeOptions(output_dir=folder, frame_start=1, frame_end=9, formats=frozenset({"NPY"}), **changes)
    folder.mkdir(exist_ok=True)
    for frame in frames:
        WRITERS["NPY"].write(folder, frame, {"forward_flow": flow, "forward_flow_valid": valid}, options)
        if image is not None:
            (folder / f"colors_{frame:04d}.png").write_bytes(png_files.write(image))
    manifest = {"formats": ["NPY"], "forward_flow_frames": list(frames),
                "products": (["colors"] if image is not None else []) + ["forward_flow", "forward_flow_valid"],
                "blender_image_coordinate_style": options.blender_image_coordinate_style}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_the_picture_of_a_baked_frame_turns_blender_style_flow_to_the_screen(tmp_path):
    flow, valid = flow_of((3, 4), (0, 0), (30, 40))  # the last one is invalid: it does not set the scale
    bake_folder(tmp_path / "opencv", flow, valid)
    bake_folder(tmp_path / "blender", flow * np.float32([1, -1]), valid, blender_image_coordinate_style=True)
    for style in ("opencv", "blender"):
        picture, longest = baked_flow_picture(Bake.read(tmp_path / style), "forward_flow", 3)
        assert longest == 5.0
        np.testing.assert_array_equal(picture[0, 1:], [WHITE, BLACK])  # still, invalid
        assert picture[0, 0][0] == 255 and picture[0, 0][2] == 0  # right and down on screen: red to yellow


@pytest.mark.parametrize("manifest, message", [
    ("{not json", r"manifest\.json cannot be read as JSON"),
    ("[1, 2]", r"manifest\.json holds a JSON list, not the object a manifest is"),
    ('{"formats": ["NPY"]}', r"manifest\.json does not say blender_image_coordinate_style"),
])
def test_a_broken_manifest_is_named_not_ignored(tmp_path, manifest, message):
    bake_folder(tmp_path, *flow_of((1, 0), (0, 0)))
    (tmp_path / "manifest.json").write_text(manifest)
    with pytest.raises(FlowError, match=message):
        baked_flow_picture(Bake.read(tmp_path), "forward_flow", 3)
    if "cannot be read" in message:  # also when it is read to say why a frame has no flow
        with pytest.raises(FlowError, match=message):
            baked_flow_picture(Bake.read(tmp_path), "forward_flow", 4)


def test_a_baked_frame_goes_through_the_cores_checks_of_npy_files(tmp_path):
    bake_folder(tmp_path, *flow_of((1, 0), (0, 0)))
    np.save(tmp_path / "forward_flow_0003.npy", np.zeros((1, 2, 2), np.float64))
    with pytest.raises(FlowError, match=r"forward_flow should be float32 H×W×2, found float64"):
        baked_flow_picture(Bake.read(tmp_path), "forward_flow", 3)
    np.save(tmp_path / "forward_flow_0003.npy", np.zeros((1, 3, 2), np.float32))
    with pytest.raises(FlowError, match=r"the products of one frame differ in size"):
        baked_flow_picture(Bake.read(tmp_path), "forward_flow", 3)


def test_a_frame_without_flow_says_which_frames_have_it(tmp_path):
    bake_folder(tmp_path, *flow_of((1, 0), (0, 0)), frames=(2, 3, 4))
    with pytest.raises(FlowError, match=r"No forward flow for frame 7 .*forward flow exists for frames 2–4"):
        baked_flow_picture(Bake.read(tmp_path), "forward_flow", 7)


def still_moving_invalid(rows: int = 2):
    """Flow of ``rows`` rows: right and down, still, invalid (too long, but it does not set the scale)."""
    flow, valid = flow_of((3, 4), (0, 0), (30, 40))
    return flow.repeat(rows, axis=0), valid.repeat(rows, axis=0)


@pytest.mark.parametrize("channels", [3, 4], ids=["RGB", "transparent film"])
def test_show_flow_puts_the_frames_image_left_of_its_flow(tmp_path, channels):
    image = np.random.default_rng(channels).integers(0, 256, (2, 3, channels), np.uint8)
    bake_folder(tmp_path, *still_moving_invalid(), image=image)
    shown = baked_frame_picture(Bake.read(tmp_path), "forward_flow", 3)
    assert shown.image_shown and shown.note == "" and shown.longest == 5.0
    assert shown.pixels.dtype == np.uint8 and shown.pixels.shape == (2, 3 + GAP + 3, 4)
    left, gap, right = shown.pixels[:, :3], shown.pixels[:, 3:3 + GAP], shown.pixels[:, 3 + GAP:]
    np.testing.assert_array_equal(left[..., :channels], image)  # alpha too, with a transparent film
    if channels == 3:
        assert (left[..., 3] == 255).all()
    np.testing.assert_array_equal(gap.reshape(-1, 4), [[*GREY, 255]] * 2 * GAP)
    assert (right[..., 3] == 255).all()
    np.testing.assert_array_equal(right[..., :3], baked_flow_picture(Bake.read(tmp_path), "forward_flow", 3)[0])
    np.testing.assert_array_equal(right[0, 1:, :3], [WHITE, BLACK])  # still, invalid
    flow_alone = baked_frame_picture(Bake.read(tmp_path), "forward_flow", 3, with_image=False)
    assert not flow_alone.image_shown and flow_alone.note == "" and flow_alone.pixels.shape == (2, 3, 3)
    np.testing.assert_array_equal(flow_alone.pixels, right[..., :3])


@pytest.mark.parametrize("change, note", [
    ("no images", r"^the bake rendered no images \(turn on Images under Flow"),
    ("image removed", r"^colors_0003\.png is missing from "),
    ("other size", r"^colors_0003\.png is 3×1 px, the flow 3×2: they are not of the same bake$"),
])
def test_without_the_frames_image_show_flow_shows_the_flow_alone_and_says_why(tmp_path, change, note):
    image = np.zeros((1 if change == "other size" else 2, 3, 3), np.uint8)
    bake_folder(tmp_path, *still_moving_invalid(), image=None if change == "no images" else image)
    if change == "image removed":
        (tmp_path / "colors_0003.png").unlink()
    shown = baked_frame_picture(Bake.read(tmp_path), "forward_flow", 3)
    assert not shown.image_shown and re.search(note, shown.note)
    np.testing.assert_array_equal(shown.pixels, baked_flow_picture(Bake.read(tmp_path), "forward_flow", 3)[0])


def test_an_image_that_is_not_an_8_bit_picture_is_named(tmp_path):
    bake_folder(tmp_path, *still_moving_invalid(), image=np.zeros((2, 3, 3), np.uint16))
    with pytest.raises(FlowError, match=r"colors_0003\.png: colors should be uint8 H×W×3 .* found uint16"):
        baked_frame_picture(Bake.read(tmp_path), "forward_flow", 3)


# The flows each frame of a three-frame sequence has in each dataset: Sintel and KITTI hold forward flow of pairs.
LAYOUT_FLOWS = {"SINTEL": {1: {"forward_flow"}, 2: {"forward_flow"}, 3: set()},
                "KITTI": {1: {"forward_flow"}, 2: {"forward_flow"}, 3: set()},
                "FLYINGTHINGS3D": {1: {"forward_flow"}, 2: set(FLOW_NAMES), 3: {"backward_flow"}}}


@pytest.mark.parametrize("name", sorted(LAYOUT_FLOWS))
def test_show_flow_reads_a_training_layouts_own_files(tmp_path, name):
    """A sequence in a dataset's folders: each frame's image and flow are found by the dataset's naming and read
    from its own files (.flo, KITTI's 16-bit PNG, .pfm); a flow the dataset does not hold is named, not guessed."""
    layout, rng, sequence = LAYOUTS[name], np.random.default_rng(5), Sequence(tmp_path, "shot", 1, 3)
    written = {}
    for frame in sequence.frames:
        products = {"colors": rng.integers(0, 256, (4, 5, 3), np.uint8), "depth": np.ones((4, 5), np.float32),
                    "K": np.eye(3), "camera_to_world": np.eye(4)}
        for flow in FLOW_NAMES:  # steps of 1/64 px, which KITTI's PNG holds exactly
            products[flow] = (rng.integers(-640, 640, (4, 5, 2)) / 64).astype(np.float32)
            products[f"{flow}_valid"] = rng.random((4, 5)) < 0.8
            products[f"{flow}_occluded"] = rng.random((4, 5)) < 0.2
        layout.write(sequence, frame, {key: products[key] for key in layout.needs(sequence, frame)})
        written[frame] = products
    manifest = tmp_path / layout.folder / "shot.manifest.json"
    manifest.write_text(json.dumps({"layout": name, "sequence": "shot", "sequence_range": [1, 3],
                                    "image_motion_blur": None, "products": ["colors"]}))
    bake = Bake.read(tmp_path, manifest)
    for frame, flows in LAYOUT_FLOWS[name].items():
        for flow in FLOW_NAMES:
            if flow not in flows:
                with pytest.raises(FlowError, match=rf"(No {flow.replace('_', ' ')} for frame {frame} in {name} "
                                                    rf"sequence 'shot'|holds no {flow.replace('_', ' ')}: the {name})"):
                    baked_frame_picture(bake, flow, frame)
                continue
            shown = baked_frame_picture(bake, flow, frame)
            assert shown.image_shown and shown.pixels.shape == (4, 5 + GAP + 5, 4)
            np.testing.assert_array_equal(shown.pixels[:, :5, :3], written[frame]["colors"])
            expected = flow_to_rgb(written[frame][flow], written[frame][f"{flow}_valid"])
            np.testing.assert_array_equal(shown.pixels[:, 5 + GAP:, :3], expected)


def test_a_layout_manifest_without_its_sequence_is_named(tmp_path):
    manifest = tmp_path / "Sintel" / "shot.manifest.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"layout": "SINTEL", "sequence_range": [1, 3]}))
    with pytest.raises(FlowError, match=r"shot\.manifest\.json does not say which SINTEL sequence it describes"):
        Bake.read(tmp_path, manifest)


def test_show_flow_enlarges_the_image_beside_truth_at_twice_its_size(tmp_path):
    """Truth scale 2: the flow has 2×2 samples per image pixel, so each image pixel shows as 2×2 beside it."""
    image = np.random.default_rng(2).integers(0, 256, (1, 2, 3), np.uint8)
    bake_folder(tmp_path, np.zeros((2, 4, 2), np.float32), np.ones((2, 4), bool), image=image)
    shown = baked_frame_picture(Bake.read(tmp_path), "forward_flow", 3)
    assert shown.image_shown and shown.note == "" and shown.pixels.shape == (2, 4 + GAP + 4, 4)
    np.testing.assert_array_equal(shown.pixels[:, :4, :3], image.repeat(2, axis=0).repeat(2, axis=1))
