"""Stereo bakes into the Sintel and KITTI 2015 layouts: the disparity their PNGs hold, decoded as the datasets' own
readers decode it, is the disparity of a stereo bake of the same scene into .npy, within the format's step, and
every file of the folder is one the manifest describes."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import png_files  # noqa: E402
from manifest_walk import undescribed_files  # noqa: E402
from test_bake_stereo import stereo_scene  # noqa: E402

FRAMES = range(1, 4)
# The layouts' files from a bake's products: the disparity itself is checked on every Blender line in
# tests/blender/test_bake_stereo.py, so one line is enough here.
pytestmark = pytest.mark.any_blender_line


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """layout → its root, after stereo bakes of one tiny scene into BlenderProc's .npy, Sintel and KITTI."""
    scene = stereo_scene(frames=len(FRAMES))
    scene.render.engine, scene.cycles.samples = "CYCLES", 1
    roots = {}
    for layout in ("BLENDERPROC", "SINTEL", "KITTI"):
        roots[layout] = tmp_path_factory.mktemp(layout.lower())
        extra = {"output_formats": {"NPY"}} if layout == "BLENDERPROC" else {"sequence": "shot"}
        assert bpy.ops.optical_flow.render_flow(output_dir=str(roots[layout]), stereo=True, layout=layout,
                                                **extra) == {"FINISHED"}
    return roots


def npy(baked, name, frame):
    return np.load(baked["BLENDERPROC"] / f"{name}_{frame:04d}.npy")


def read(path):
    return png_files.read(path.read_bytes())


def test_sintel_stereo_disparity_and_masks_are_the_bakes_within_a_sixteen_thousandth_of_a_pixel(baked):
    root = baked["SINTEL"]
    stereo = root / "stereo" / "Sintel" / "training"
    worst = 0.0
    for number, frame in enumerate(FRAMES, 1):
        name = f"shot/frame_{number:04d}.png"
        r, g, b = read(stereo / "disparities" / name).astype(np.float64).transpose(2, 0, 1)  # the SDK's disparity_read
        worst = max(worst, float(np.abs(r * 4 + g / 2 ** 6 + b / 2 ** 14 - npy(baked, "disparity", frame)).max()))
        for folder, mask in (("occlusions", "disparity_occluded"), ("outofframe", "disparity_outside")):
            np.testing.assert_array_equal(read(stereo / folder / name)[..., 0], np.where(npy(baked, mask, frame),
                                                                                         255, 0))
        assert (stereo / "clean_left" / name).read_bytes() == (root / "Sintel/training/clean" / name).read_bytes()
        assert read(stereo / "clean_right" / name).shape == read(stereo / "clean_left" / name).shape
    print(f"Sintel disparity: worst error {worst:.2e} px")
    assert worst <= 2 ** -15
    assert npy(baked, "disparity_occluded", 1).any() and npy(baked, "disparity_outside", 1).any()
    assert undescribed_files(root / "Sintel" / "shot.manifest.json") == []


def test_kitti_2015_disparity_now_and_at_the_next_frame_is_the_bakes_within_a_256th_of_a_pixel(baked):
    root = baked["KITTI"]
    stereo = root / "Kitti2015" / "training"
    worst = 0.0
    for pair, frame in enumerate(FRAMES[:-1]):
        name = f"shot_{pair:06d}_10.png"
        now, known = npy(baked, "disparity", frame), npy(baked, "disparity_valid", frame)
        later = now + npy(baked, "forward_disparity_change", frame)
        later_known = known & npy(baked, "forward_flow_valid", frame)
        for folder, expected, valid in (("disp_occ_0", now, known), ("disp_occ_1", later, later_known)):
            stored = read(stereo / folder / name)[..., 0]
            np.testing.assert_array_equal(stored > 0, valid)
            worst = max(worst, float(np.abs(stored / 256 - expected)[valid].max()))
        hidden = npy(baked, "disparity_occluded", frame) | npy(baked, "disparity_outside", frame)
        np.testing.assert_array_equal(read(stereo / "disp_noc_0" / name)[..., 0] > 0, known & ~hidden)
        assert (stereo / "image_2" / name).read_bytes() == (root / "KittiFlow/training/image_2" / name).read_bytes()
        assert read(stereo / "image_3" / name).shape == read(stereo / "image_2" / name).shape
    print(f"KITTI disparity: worst error {worst:.2e} px")
    assert worst <= 1 / 512
    assert sorted(p.name for p in (stereo / "image_3").iterdir()) == ["shot_000000_10.png", "shot_000001_10.png"]
    assert undescribed_files(root / "KittiFlow" / "shot.manifest.json") == []


def test_spring_holds_both_views_and_truth_at_twice_the_size_as_the_bakes_npy(tmp_path):
    """Spring's .flo5 and .dsp5 hold the flow and disparity a BlenderProc bake at truth scale 2 writes (NaN where it
    has none), beside the images at the scene's size."""
    pytest.importorskip("h5py")
    from optical_flow_addon.core.formats.spring import load_dsp5, load_flo5

    scene = stereo_scene(frames=2)
    scene.render.engine, scene.cycles.samples = "CYCLES", 1
    roots = {layout: tmp_path / layout for layout in ("BLENDERPROC", "SPRING")}
    for layout, root in roots.items():
        extra = {"output_formats": {"NPY"}} if layout == "BLENDERPROC" else {"sequence": "shot"}
        assert bpy.ops.optical_flow.render_flow(output_dir=str(root), stereo=True, truth_scale=2, layout=layout,
                                                **extra) == {"FINISHED"}
    train = roots["SPRING"] / "spring" / "train" / "shot"
    flow, valid = (np.load(roots["BLENDERPROC"] / f"forward_flow{kind}_0001.npy") for kind in ("", "_valid"))
    stored = load_flo5(train / "flow_FW_left" / "flow_FW_left_0001.flo5")
    assert stored.shape == flow.shape and (np.isnan(stored[..., 0]) == ~valid).all()
    np.testing.assert_array_equal(stored[valid], flow[valid])
    disparity = np.load(roots["BLENDERPROC"] / "right_disparity_0002.npy")
    stored = load_dsp5(train / "disp1_right" / "disp1_right_0002.dsp5")
    known = ~np.isnan(stored)
    assert known.any() and np.array_equal(stored[known], disparity[known])
    image = read(train / "frame_right" / "frame_right_0001.png")
    assert image.shape[:2] == (scene.render.resolution_y, scene.render.resolution_x)
    assert undescribed_files(roots["SPRING"] / "spring" / "shot.manifest.json") == []
