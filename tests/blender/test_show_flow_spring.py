"""Show Flow on a bake in Spring's layout, whose .flo5 truth has 2×2 samples per image pixel and NaN where there is
none: what the Blender image holds, pixel for pixel, against the .flo5 read here with h5py; and the errors a
damaged or moved bake gives instead of a traceback."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
h5py = pytest.importorskip("h5py")

import scenes  # noqa: E402
from optical_flow_addon.core.colour_wheel import INVALID_COLOUR, flow_to_rgb  # noqa: E402
from test_bake_stereo import stereo_scene  # noqa: E402
from test_show_flow import GAP, shown_pixels  # noqa: E402

SCALE = 2  # Spring's truth samples per image pixel along each axis


def spring_bake(root: Path) -> tuple[bpy.types.Scene, Path]:
    """Three frames of a tiny stereo scene in Spring's layout (as the Spring bake test makes it); the scene and the
    sequence's folder."""
    scene = stereo_scene(frames=3)
    scene.render.engine, scene.cycles.samples = "CYCLES", 1
    assert bpy.ops.optical_flow.render_flow(output_dir=str(root), stereo=True, truth_scale=SCALE, layout="SPRING",
                                            sequence="shot") == {"FINISHED"}
    return scene, root / "spring" / "train" / "shot"


def flo5(path: Path) -> np.ndarray:
    """A .flo5's flow as Spring's own reader gets it: the HDF5 dataset ``flow``, NaN where there is no truth."""
    with h5py.File(path, "r") as file:
        return file["flow"][()]


def test_a_spring_frame_shows_its_truth_at_its_own_size_beside_the_image_enlarged(tmp_path: Path, capfd) -> None:
    """Show Flow shows Spring's truth as it is, at its own resolution (2H×2W, one picture pixel per truth sample,
    nothing averaged away), and the frame's image with each pixel repeated 2×2 so that it sits over its own four
    samples; pixels with no truth (NaN) are black, the colour of "no flow"; the scale reads in image pixels, as
    Spring's values are. The frame is the scene's current one: frame 2 is ``*_0002`` of the sequence."""
    scene, train = spring_bake(tmp_path)
    height, width = scene.render.resolution_y, scene.render.resolution_x
    image = scenes.png_pixels(train / "frame_left" / "frame_left_0002.png")  # read by Blender, not the add-on
    assert image.shape[:2] == (height, width)
    enlarged = image.repeat(SCALE, axis=0).repeat(SCALE, axis=1)
    scene.frame_set(2)
    for flow, folder in (("FORWARD", "flow_FW_left"), ("BACKWARD", "flow_BW_left")):
        truth = flo5(train / folder / f"{folder}_0002.flo5")
        assert truth.shape == (SCALE * height, SCALE * width, 2)
        unknown = np.isnan(truth).any(axis=-1)
        assert unknown.any() and not unknown.all()
        expected = flow_to_rgb(truth)  # the colour wheel marks NaN as invalid
        other = flow_to_rgb(flo5(train / folder / f"{folder}_{'0001' if flow == 'FORWARD' else '0003'}.flo5"))
        assert not np.array_equal(expected, other)  # the wrong frame's picture would not pass
        capfd.readouterr()
        assert bpy.ops.optical_flow.show_flow(flow=flow) == {"FINISHED"}
        longest = np.nanmax(np.hypot(truth[..., 0], truth[..., 1]))
        assert (f"{flow.title()} flow of frame 2 (right of its image) in image 'Optical Flow': full colour means "
                f"{longest:.1f} px of motion") in capfd.readouterr().out
        shown = shown_pixels()
        assert shown.shape == (SCALE * height, 2 * SCALE * width + GAP, 4)
        left, gap, right = shown[:, :SCALE * width], shown[:, SCALE * width:-SCALE * width], shown[:, -SCALE * width:]
        np.testing.assert_array_equal(left[..., :3], enlarged[..., :3])
        assert (gap == [128, 128, 128, 255]).all()
        assert (right[..., 3] == 255).all()
        np.testing.assert_array_equal(right[..., :3], expected)
        assert (right[unknown][:, :3] == INVALID_COLOUR).all()
        assert len(np.unique(right[~unknown][:, :3], axis=0)) > 20  # a real flow picture, not one colour
    assert bpy.ops.optical_flow.show_flow(flow="FORWARD", with_image=False) == {"FINISHED"}
    np.testing.assert_array_equal(shown_pixels()[..., :3], flow_to_rgb(flo5(train / "flow_FW_left" /
                                                                             "flow_FW_left_0002.flo5")))
    scene.frame_set(1)
    with pytest.raises(RuntimeError, match=r"No backward flow for frame 1 in SPRING sequence 'shot' in .* \(backward "
                                           r"flow exists for frames 2–3\)"):
        bpy.ops.optical_flow.show_flow(flow="BACKWARD")


def test_a_damaged_or_moved_spring_bake_is_an_error_naming_what_show_flow_expected(tmp_path: Path) -> None:
    """A .flo5 that is not HDF5, or one without Spring's ``flow`` dataset, is named; a bake whose manifest is gone
    (the folder moved or emptied) says so, rather than reading the folder as BlenderProc's and asking for .npy."""
    scene, train = spring_bake(tmp_path)
    scene.frame_set(2)
    path = train / "flow_FW_left" / "flow_FW_left_0002.flo5"
    path.write_bytes(b"not HDF5")
    with pytest.raises(RuntimeError, match=f"Cannot read {re.escape(str(path))} as Spring HDF5"):
        bpy.ops.optical_flow.show_flow(flow="FORWARD")
    with h5py.File(path, "w") as file:
        file["disparity"] = np.zeros((4, 4), np.float32)
    with pytest.raises(RuntimeError, match=f"{re.escape(str(path))} has no 'flow' dataset \\(it holds: disparity\\)"):
        bpy.ops.optical_flow.show_flow(flow="FORWARD")
    shutil.rmtree(tmp_path / "spring")
    with pytest.raises(RuntimeError, match=f"The last bake's manifest spring/shot.manifest.json is missing from "
                                           f"{re.escape(str(tmp_path))}: Show Flow finds a dataset layout's frames"):
        bpy.ops.optical_flow.show_flow(flow="FORWARD")


def test_a_flo5_whose_flow_is_not_height_by_width_by_two_is_an_error_naming_it(tmp_path: Path) -> None:
    """A ``flow`` dataset of another shape is refused when read, before any picture is drawn of it."""
    scene, train = spring_bake(tmp_path)
    scene.frame_set(2)
    path = train / "flow_FW_left" / "flow_FW_left_0002.flo5"
    with h5py.File(path, "w") as file:
        file["flow"] = np.zeros((5, 7), np.float32)
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.optical_flow.show_flow(flow="FORWARD")
    assert str(path) in str(raised.value) and "H×W×2" in str(raised.value) and "Traceback" not in str(raised.value)
