"""The training layouts load unchanged with torchvision's and ptlflow's dataset classes.

Runs in the `torch` environment (tools/venv.sh torch); skipped where torchvision or ptlflow is missing.
Two sequences share each root: `alpha` (scene frames 3-6, RGB images) and `beta` (frames 10, 12, 14 with
frame step and gap 2, RGBA images from a transparent film). Every sample is matched to its frames by its
first image, which is random and so unique; images must be exact, .flo and .pfm flow exact at valid
pixels, KITTI flow within 1/128 px (it is rounded to 1/64 px steps).
"""
import numpy as np
import pytest

torchvision = pytest.importorskip("torchvision")
ptlflow_datasets = pytest.importorskip("ptlflow.data.datasets")

from layout_products import sequence_products  # noqa: E402
from optical_flow_addon.core.layouts import LAYOUTS, Sequence  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")
SEQUENCES = {"alpha": (range(3, 7), 3), "beta": (range(10, 15, 2), 4)}  # frames, image channels
FORWARD, BACKWARD = 1, -1


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """motion blur → (root holding the flow layouts, products of its sequences); Spring's, whose truth is at twice
    the images' size, is loaded in tests/loaders/test_layouts_spring.py."""
    products = {name: sequence_products(frames, seed, channels)
                for seed, (name, (frames, channels)) in enumerate(SEQUENCES.items())}
    roots = {}
    for motion_blur in (False, True):
        root = tmp_path_factory.mktemp("blurred" if motion_blur else "sharp")
        for layout in (layout for layout in LAYOUTS.values() if layout.name != "SPRING"):
            for name, (frames, _) in SEQUENCES.items():
                sequence = Sequence(root, name, frames.start, frames[-1], frames.step, frames.step, motion_blur)
                layout.check(sequence)
                for frame in frames:
                    layout.write(sequence, frame, products[name][frame])
        roots[motion_blur] = root, products
    return roots


class Frames:
    """Finds a loaded image's sequence and frame, and the products of a pair."""

    def __init__(self, products):
        self.products = products
        self.by_image = {arrays["colors"][..., :3].tobytes(): (name, frame)
                         for name, frames in products.items() for frame, arrays in frames.items()}

    def which(self, image):
        """(sequence, frame) of an RGB image (PIL image or H×W×3 array)."""
        return self.by_image[np.ascontiguousarray(np.asarray(image)).tobytes()]

    def direction(self, first, second):
        """+1 when ``second`` is the frame after ``first`` in the same sequence, −1 when it is the one before."""
        (name, a), (other, b) = self.which(first), self.which(second)
        frames = SEQUENCES[name][0]
        assert other == name and abs(frames.index(b) - frames.index(a)) == 1
        return FORWARD if b > a else BACKWARD

    def flow(self, name, frame, direction):
        prefix = "forward_flow" if direction == FORWARD else "backward_flow"
        arrays = self.products[name][frame]
        return arrays[prefix], arrays[f"{prefix}_valid"], arrays[f"{prefix}_occluded"]


def expected_pairs(directions=(FORWARD,)):
    return sorted((name, frame, d) for name, (frames, _) in SEQUENCES.items() for d in directions
                  for frame in (frames[:-1] if d == FORWARD else frames[1:]))


def loaded_pairs(dataset, frames, images=lambda sample: sample[:2]):
    """(sequence, first frame, direction, sample) of every sample, sorted; found by the sample's images."""
    pairs = []
    for sample in dataset:
        first, second = images(sample)
        name, frame = frames.which(first)
        pairs.append((name, frame, frames.direction(first, second), sample))
    return sorted(pairs, key=lambda pair: pair[:3])


def ptlflow_images(sample):
    return [bgr[..., ::-1] for bgr in sample["images"]]


def assert_flow_exact(loaded, flow, valid):
    np.testing.assert_array_equal(loaded[valid], flow[valid])
    assert np.all(np.abs(loaded[~valid]) >= 1000)  # unknown: beyond the loaders' 1000 px validity threshold


@pytest.mark.parametrize("motion_blur", [False, True], ids=["clean", "final"])
def test_torchvision_sintel(baked, motion_blur):
    root, products = baked[motion_blur]
    frames = Frames(products)
    pairs = loaded_pairs(torchvision.datasets.Sintel(root, pass_name="final" if motion_blur else "clean"), frames)
    assert [pair[:3] for pair in pairs] == expected_pairs()
    for name, frame, direction, (_, _, flow) in pairs:
        forward, valid, _ = frames.flow(name, frame, direction)
        assert_flow_exact(flow.transpose(1, 2, 0), forward, valid)


def test_torchvision_kitti(baked):
    root, products = baked[False]
    frames = Frames(products)
    pairs = loaded_pairs(torchvision.datasets.KittiFlow(root), frames)
    assert [pair[:3] for pair in pairs] == expected_pairs()
    for name, frame, direction, (_, _, flow, valid) in pairs:
        forward, ours, _ = frames.flow(name, frame, direction)
        np.testing.assert_array_equal(valid, ours)
        assert np.abs(flow.transpose(1, 2, 0)[ours] - forward[ours]).max() <= 1 / 128


@pytest.mark.parametrize("motion_blur", [False, True], ids=["clean", "final"])
def test_torchvision_flyingthings3d_loads_every_pair_both_ways(baked, motion_blur):
    root, products = baked[motion_blur]
    frames = Frames(products)
    dataset = torchvision.datasets.FlyingThings3D(root, pass_name="final" if motion_blur else "clean")
    pairs = loaded_pairs(dataset, frames)
    assert [pair[:3] for pair in pairs] == expected_pairs((FORWARD, BACKWARD))
    for name, frame, direction, (_, _, flow) in pairs:
        expected, valid, _ = frames.flow(name, frame, direction)
        assert_flow_exact(flow.transpose(1, 2, 0), expected, valid)


def test_ptlflow_sintel_with_occlusions(baked):
    root, products = baked[False]
    frames = Frames(products)
    dataset = ptlflow_datasets.SintelDataset(str(root / "Sintel"), split="trainval", pass_names="clean")
    pairs = loaded_pairs(dataset, frames, ptlflow_images)
    assert [pair[:3] for pair in pairs] == expected_pairs()
    for name, frame, direction, sample in pairs:
        forward, valid, occluded = frames.flow(name, frame, direction)
        np.testing.assert_array_equal(sample["flows"][0][valid], forward[valid])
        np.testing.assert_array_equal(sample["valids"][0][..., 0], np.where(valid, 255, 0))
        np.testing.assert_array_equal(sample["occs"][0][..., 0], np.where(occluded, 255, 0))


def test_ptlflow_kitti_occlusions_from_flow_noc(baked):
    root, products = baked[False]
    frames = Frames(products)
    dataset = ptlflow_datasets.KittiDataset(root_dir_2015=str(root / "KittiFlow"), split="trainval",
                                            versions="2015", get_occlusion_mask=True)
    pairs = loaded_pairs(dataset, frames, ptlflow_images)
    assert [pair[:3] for pair in pairs] == expected_pairs()
    for name, frame, direction, sample in pairs:
        forward, valid, occluded = frames.flow(name, frame, direction)
        np.testing.assert_array_equal(sample["valids"][0][..., 0], np.where(valid, 255, 0))
        assert np.abs(sample["flows"][0][valid] - forward[valid]).max() <= 1 / 128
        # ptlflow's occlusion: valid in flow_occ but not in flow_noc
        np.testing.assert_array_equal(sample["occs"][0][..., 0], np.where(valid & occluded, 255, 0))


@pytest.mark.parametrize("motion_blur", [False, True], ids=["clean", "final"])
def test_ptlflow_flyingthings3d_both_ways_with_occlusions(baked, motion_blur):
    root, products = baked[motion_blur]
    frames = Frames(products)
    dataset = ptlflow_datasets.FlyingThings3DDataset(str(root / "FlyingThings3D"),
                                                     pass_names="final" if motion_blur else "clean")
    pairs = loaded_pairs(dataset, frames, ptlflow_images)
    assert [pair[:3] for pair in pairs] == expected_pairs((FORWARD, BACKWARD))
    for name, frame, direction, sample in pairs:
        other = SEQUENCES[name][0][SEQUENCES[name][0].index(frame) + direction]
        for key, (at, towards) in (("", (frame, direction)), ("_b", (other, -direction))):
            flow, valid, occluded = frames.flow(name, at, towards)
            np.testing.assert_array_equal(sample[f"flows{key}"][0][valid], flow[valid])
            np.testing.assert_array_equal(sample[f"valids{key}"][0][..., 0], np.where(valid, 255, 0))
            np.testing.assert_array_equal(sample[f"occs{key}"][0][..., 0], np.where(occluded, 255, 0))


def test_torchvision_scene_flow_stereo_loads_flyingthings3d_with_the_right_view_and_disparity(tmp_path):
    """With stereo, FlyingThings3D gets right images, disparity and disparity change; SceneFlowStereo pairs each
    left image with its right one and the left disparity, exactly; the flow still loads with FlyingThings3D."""
    frames = range(1, 4)
    products = sequence_products(frames, seed=9)
    rng = np.random.default_rng(4)
    for frame, arrays in products.items():
        arrays["right_colors"] = rng.integers(0, 256, arrays["colors"].shape, dtype=np.uint8)
        arrays.update({f"right_{name}": rng.permutation(array) for name, array in list(arrays.items())
                       if name.endswith(("_flow", "_flow_valid", "_flow_occluded"))})  # the right view's flow
        for view in ("", "right_"):
            arrays[f"{view}disparity"] = rng.uniform(0, 40, arrays["depth"].shape).astype(np.float32)
            for direction in ("forward", "backward"):
                if f"{direction}_flow" in arrays:
                    arrays[f"{view}{direction}_disparity_change"] = rng.normal(size=arrays["depth"].shape).astype(
                        np.float32)
    layout = LAYOUTS["FLYINGTHINGS3D"]
    sequence = Sequence(tmp_path, "shot", 1, 3, stereo=True)
    layout.check(sequence)
    for frame in frames:
        layout.write(sequence, frame, products[frame])
    dataset = torchvision.datasets.SceneFlowStereo(tmp_path, variant="FlyingThings3D", pass_name="clean")
    assert len(dataset) == 3
    by_image = {arrays["colors"].tobytes(): frame for frame, arrays in products.items()}
    for left, right, disparity in dataset:
        frame = by_image[np.asarray(left).tobytes()]
        np.testing.assert_array_equal(np.asarray(right), products[frame]["right_colors"])
        np.testing.assert_array_equal(disparity[0], products[frame]["disparity"])
    assert len(torchvision.datasets.FlyingThings3D(tmp_path, pass_name="clean")) == 4  # pairs both ways
    both = torchvision.datasets.FlyingThings3D(tmp_path, pass_name="clean", camera="both")
    right_images = {arrays["right_colors"].tobytes(): frame for frame, arrays in products.items()}
    right = [sample for sample in both if np.asarray(sample[0]).tobytes() in right_images]
    assert len(right) == 4  # the right view's pairs, both ways
    for first, second, flow in right:
        frame, other = (right_images[np.asarray(image).tobytes()] for image in (first, second))
        name = "right_forward_flow" if other > frame else "right_backward_flow"
        assert_flow_exact(flow.transpose(1, 2, 0), products[frame][name], products[frame][f"{name}_valid"])
    change = tmp_path / "FlyingThings3D/disparity_change/TRAIN/A/shot/into_future/right/0000.pfm"
    assert change.is_file()


STEREO_SEQUENCES = {"alpha": range(1, 4), "beta": range(10, 15, 2)}


def stereo_bake(root, name, largest):
    """Two stereo sequences of the layout in ``root``; (sequence, frame) → products."""
    from stereo_layout_products import stereo_products

    layout, products = LAYOUTS[name], {}
    for seed, (sequence_name, frames) in enumerate(STEREO_SEQUENCES.items()):
        sequence = Sequence(root, sequence_name, frames.start, frames[-1], frames.step, frames.step, stereo=True)
        layout.check(sequence)
        for frame, arrays in stereo_products(frames, seed, largest).items():
            layout.write(sequence, frame, arrays)
            products[np.asarray(arrays["colors"]).tobytes()] = arrays
    return products


def test_torchvision_sintel_stereo_loads_both_images_and_disparity_within_its_step(tmp_path):
    """SintelStereo(root / 'stereo') gets every image with its right image, exactly, the disparity within half of
    Sintel's 1/16384 px step, and as valid the pixels neither occluded in the right view nor outside it."""
    products = stereo_bake(tmp_path, "SINTEL", (2 ** 24 - 1) / 2 ** 14)
    dataset = torchvision.datasets.SintelStereo(tmp_path / "stereo", pass_name="clean")
    assert len(dataset) == len(products) == 6
    worst = 0.0
    for left, right, disparity, valid in dataset:
        arrays = products.pop(np.asarray(left).tobytes())
        np.testing.assert_array_equal(np.asarray(right), arrays["right_colors"])
        worst = max(worst, float(np.abs(disparity[0] - arrays["disparity"]).max()))
        np.testing.assert_array_equal(valid, ~arrays["disparity_occluded"] & ~arrays["disparity_outside"])
    print(f"Sintel stereo: worst disparity error {worst:.2e} px")
    assert not products and worst <= 2 ** -15
    assert len(torchvision.datasets.Sintel(tmp_path, pass_name="clean")) == 2 + 2  # the flow release still loads


def test_torchvision_kitti_2015_stereo_loads_one_sample_per_pair_with_disparity_now_and_next(tmp_path):
    """Kitti2015Stereo(root) gets one sample per frame with a next frame: both images exact, disp_occ_0 the disparity
    within half of KITTI's 1/256 px step where valid, 0 elsewhere; disp_occ_1 (paired by count) the disparity at
    the next frame of the same points; disp_noc_* drop the occluded pixels. KittiFlow still loads the pairs."""
    from optical_flow_addon.core.formats.kitti import load_kitti_disparity

    products = stereo_bake(tmp_path, "KITTI", 65535 / 256)
    dataset = torchvision.datasets.Kitti2015Stereo(tmp_path)
    assert len(dataset) == 2 + 2
    worst = 0.0
    for index, (left, right, disparity, valid) in enumerate(dataset):
        arrays = products[np.asarray(left).tobytes()]
        np.testing.assert_array_equal(np.asarray(right), arrays["right_colors"])
        assert valid is None  # KITTI's invalid disparity is 0
        now, now_valid = arrays["disparity"], arrays["disparity_valid"]
        later = now + arrays["forward_disparity_change"]
        later_valid = now_valid & arrays["forward_flow_valid"]
        next_file = dataset._disparities[index][1]
        later_read = dataset._read_disparity(next_file)[0][0]
        for read, expected, known in ((disparity[0], now, now_valid), (later_read, later, later_valid)):
            np.testing.assert_array_equal(read > 0, known)
            worst = max(worst, float(np.abs(read - expected)[known].max()))
        hidden = arrays["disparity_occluded"] | arrays["disparity_outside"]
        noc_now = load_kitti_disparity(next_file.replace("disp_occ_1", "disp_noc_0"))[1]
        noc_later = load_kitti_disparity(next_file.replace("disp_occ_1", "disp_noc_1"))[1]
        np.testing.assert_array_equal(noc_now, now_valid & ~hidden)
        np.testing.assert_array_equal(noc_later, later_valid & ~hidden & ~arrays["forward_flow_occluded"])
    print(f"KITTI 2015 stereo: worst disparity error {worst:.2e} px")
    assert worst <= 1 / 512
    assert not list((tmp_path / "Kitti2015").rglob("*_11.png"))
    assert len(torchvision.datasets.KittiFlow(tmp_path)) == 2 + 2
