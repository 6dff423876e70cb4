"""Show Flow beside the frame's image, on real Cycles renders: what the Blender image holds, pixel for pixel."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from optical_flow_addon.blender.show_flow import IMAGE_NAME  # noqa: E402
from optical_flow_addon.core.colour_wheel import flow_to_rgb  # noqa: E402
from test_bake_images import lit_scene  # noqa: E402

W, H, GAP = scenes.WIDTH, scenes.HEIGHT, 4  # the image and the flow of a frame, and the grey gap between them


def shown_pixels() -> np.ndarray:
    """The add-on's Blender image as 8-bit RGBA, top row first."""
    image = bpy.data.images[IMAGE_NAME]
    width, height = image.size
    pixels = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(pixels)
    return np.round(pixels.reshape(height, width, 4)[::-1] * 255).astype(np.uint8)


def flow_colours(folder, frame: int, flow: str = "forward_flow") -> np.ndarray:
    """The picture of a baked frame's flow, from its .npy files and the colour wheel."""
    return flow_to_rgb(np.load(folder / f"{flow}_{frame:04d}.npy"), np.load(folder / f"{flow}_valid_{frame:04d}.npy"))


def bake(folder, render_images: bool) -> None:
    """Frame 2 only: its image (if asked) and flows (forward to frame 3 of the scene's range)."""
    assert bpy.ops.optical_flow.render_flow(output_dir=str(folder), render_images=render_images, frame_start=2,
                                            frame_end=2, use_scene_frame_range=False) == {"FINISHED"}


@pytest.mark.parametrize("transparent", [False, True], ids=["opaque", "transparent film"])
def test_show_flow_puts_the_frames_image_left_of_its_flow(tmp_path, capfd, transparent):
    scene, _ = lit_scene()
    scene.render.film_transparent = transparent
    bake(tmp_path, render_images=True)
    scene.frame_set(2)
    capfd.readouterr()
    assert bpy.ops.optical_flow.show_flow(flow="FORWARD") == {"FINISHED"}
    report = capfd.readouterr().out
    assert "Forward flow of frame 2 (right of its image) in image 'Optical Flow': full colour means" in report
    shown = shown_pixels()
    assert shown.shape == (H, W + GAP + W, 4)
    image = scenes.png_pixels(tmp_path / "colors_0002.png")  # read by Blender, not the add-on
    assert image.shape == (H, W, 4 if transparent else 3) and len(np.unique(image.reshape(-1, image.shape[2]), 0)) > 20
    left, gap, right = shown[:, :W], shown[:, W:W + GAP], shown[:, W + GAP:]
    np.testing.assert_array_equal(left[..., :image.shape[2]], image)
    if transparent:
        assert (image[..., 3] == 0).any() and (image[..., 3] == 255).any()  # sky and ground: alpha shown as it is
    else:
        assert (left[..., 3] == 255).all()
    assert (gap == [128, 128, 128, 255]).all()
    expected = flow_colours(tmp_path, 2)
    assert len(np.unique(expected.reshape(-1, 3), axis=0)) > 20  # a real flow picture, not one colour
    np.testing.assert_array_equal(right[..., :3], expected)
    assert (right[..., 3] == 255).all()


def test_show_flow_alone_when_asked_or_when_the_bake_has_no_images(tmp_path, capfd):
    scene, _ = lit_scene(samples=1)
    bake(tmp_path / "flow", render_images=False)
    bake(tmp_path / "images", render_images=True)  # the last render: Show Flow's folder
    scene.frame_set(2)
    assert bpy.ops.optical_flow.show_flow(flow="FORWARD", with_image=False) == {"FINISHED"}
    alone = shown_pixels()
    assert alone.shape == (H, W, 4) and (alone[..., 3] == 255).all()
    np.testing.assert_array_equal(alone[..., :3], flow_colours(tmp_path / "images", 2))
    assert bpy.ops.optical_flow.show_flow(flow="FORWARD") == {"FINISHED"}
    assert shown_pixels().shape == (H, W + GAP + W, 4)  # the same image, widened
    scene.optical_flow.last_bake_folder = str(tmp_path / "flow")
    capfd.readouterr()
    assert bpy.ops.optical_flow.show_flow(flow="FORWARD") == {"FINISHED"}
    report = capfd.readouterr().out
    assert "Forward flow of frame 2 in image 'Optical Flow'" in report
    assert "shown alone: the bake rendered no images (turn on Images under Flow" in report
    flow_only = shown_pixels()
    assert flow_only.shape == (H, W, 4)
    np.testing.assert_array_equal(flow_only[..., :3], flow_colours(tmp_path / "flow", 2))
    assert [image.name for image in bpy.data.images if image.name.startswith(IMAGE_NAME)] == [IMAGE_NAME]


@pytest.mark.parametrize("layout", ["SINTEL", "KITTI", "FLYINGTHINGS3D"])
def test_a_training_layouts_frame_shows_as_the_same_frame_baked_into_numpy_files(tmp_path, layout):
    """The image from the dataset's image folder, the flow from its own flow file (.flo, KITTI's 16-bit PNG,
    .pfm); a flow the dataset does not hold (Sintel's and KITTI's backward flow) is an error naming it."""
    scene, _ = lit_scene(samples=1)
    bake(tmp_path / "npy", render_images=True)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "datasets"), layout=layout,
                                            sequence="shot") == {"FINISHED"}
    scene.frame_set(2)
    for flow in ("FORWARD", "BACKWARD"):
        if flow == "BACKWARD" and layout != "FLYINGTHINGS3D":
            with pytest.raises(RuntimeError, match=f"The {layout} sequence 'shot' in .* holds no backward flow"):
                bpy.ops.optical_flow.show_flow(flow=flow)
            continue
        assert bpy.ops.optical_flow.show_flow(flow=flow) == {"FINISHED"}
        shown = shown_pixels()
        assert shown.shape == (H, W + GAP + W, 4)
        np.testing.assert_array_equal(shown[:, :W, :3], scenes.png_pixels(tmp_path / "npy" / "colors_0002.png"))
        expected = flow_colours(tmp_path / "npy", 2, f"{flow.lower()}_flow")
        assert len(np.unique(expected.reshape(-1, 3), axis=0)) > 20  # a real flow picture, not one colour
        # KITTI's PNG holds flow in steps of 1/64 px, which moves a colour by at most one level here
        np.testing.assert_allclose(shown[:, W + GAP:, :3], expected, atol=1 if layout == "KITTI" else 0)
