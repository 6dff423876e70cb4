"""The SPRING layout loads unchanged with ptlflow's SpringDataset, and Spring's own readers read every file.

Runs in the `torch` environment (tools/venv.sh torch); skipped where ptlflow is missing. Two stereo sequences share
the root: `alpha` (scene frames 3-6) and `beta` (frames 10, 12, 14, frame step and gap 2), with random images and
random truth at twice the images' height and width (truth_scale 2). Every sample is matched to its frame by its
first image, which is random and so unique; images and flow must be exact at each of a pixel's 2×2 samples.
"""
import numpy as np
import pytest

ptlflow_datasets = pytest.importorskip("ptlflow.data.datasets")
flow_transforms = pytest.importorskip("ptlflow.data.flow_transforms")
flow_IO = pytest.importorskip("ptlflow.utils.external.flow_IO")

import png_files  # noqa: E402
from layout_products import layout_products  # noqa: E402
from optical_flow_addon.core.formats.spring import load_dsp5  # noqa: E402
from optical_flow_addon.core.layouts import LAYOUTS, Sequence  # noqa: E402

SEQUENCES = {"alpha": range(3, 7), "beta": range(10, 15, 2)}
SPRING = LAYOUTS["SPRING"]


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """(root, sequence name → its Sequence, sequence name → frame → products)."""
    root = tmp_path_factory.mktemp("spring")
    sequences, products = {}, {}
    for seed, (name, frames) in enumerate(SEQUENCES.items()):
        sequence = Sequence(root, name, frames.start, frames[-1], frames.step, frames.step, stereo=True)
        SPRING.check(sequence)
        products[name] = layout_products("SPRING", frames, seed)
        for frame in frames:
            SPRING.write(sequence, frame, products[name][frame])
        sequences[name] = sequence
    return root, sequences, products


def which(products, image):
    """The (sequence, frame) whose left image this is."""
    found = [(name, frame) for name, frames in products.items() for frame, arrays in frames.items()
             if np.array_equal(arrays["colors"], image)]
    assert len(found) == 1
    return found[0]


def test_ptlflow_loads_every_pair_both_ways_with_each_of_the_4_samples_exact(baked):
    root, _, products = baked
    dataset = ptlflow_datasets.SpringDataset(str(root / SPRING.folder), split="train", side_names="left",
                                             transform=flow_transforms.ToTensor(ignore_keys=["images"]))
    loaded = []
    for sample in dataset:
        first, second = (bgr[..., ::-1] for bgr in sample["images"])
        name, frame = which(products, first)
        frames = SEQUENCES[name]
        forward = which(products, second) == (name, frame + frames.step)
        assert forward or which(products, second) == (name, frame - frames.step)
        loaded.append((name, frame, forward))
        truth = products[name][frame]["forward_flow" if forward else "backward_flow"]
        valid = products[name][frame]["forward_flow_valid" if forward else "backward_flow_valid"]
        flows = sample["flows"][0].numpy()  # ptlflow stacks a pixel's 2×2 samples: 4 × 2 × H × W
        for row in range(2):
            for column in range(2):
                expected = np.where(valid[row::2, column::2, None], truth[row::2, column::2], 0)
                np.testing.assert_array_equal(flows[2 * row + column].transpose(1, 2, 0), expected)
        np.testing.assert_array_equal(sample["valids"][0, 0].numpy() > 0, valid[::2, ::2])
    expected = [(name, frame, forward) for name, frames in SEQUENCES.items() for forward in (True, False)
                for frame in (frames[:-1] if forward else frames[1:])]
    assert sorted(loaded) == sorted(expected)


def test_spring_readers_read_both_views_flow_disparity_and_disparity_change(baked):
    root, sequences, products = baked
    for name, frames in SEQUENCES.items():
        folder = root / "spring" / "train" / name
        for number, frame in enumerate(frames, 1):
            arrays = products[name][frame]
            for side, view in (("left", ""), ("right", "right_")):
                image = png_files.read((folder / f"frame_{side}" / f"frame_{side}_{number:04d}.png").read_bytes())
                np.testing.assert_array_equal(image, arrays[f"{view}colors"])
                path = folder / f"disp1_{side}" / f"disp1_{side}_{number:04d}.dsp5"
                disparity, valid = arrays[f"{view}disparity"], arrays[f"{view}disparity_valid"]
                for read in (load_dsp5, flow_IO.readDispFile):
                    stored = read(str(path) if read is flow_IO.readDispFile else path)
                    np.testing.assert_array_equal(stored[valid], disparity[valid])
                    assert np.isnan(stored[~valid]).all()
                for word, direction, partner in (("FW", "forward", frames[-1]), ("BW", "backward", frames[0])):
                    path = folder / f"disp2_{word}_{side}" / f"disp2_{word}_{side}_{number:04d}.dsp5"
                    assert path.is_file() == (frame != partner)
                    if frame == partner:
                        continue
                    known = valid & arrays[f"{view}{direction}_flow_valid"]
                    later = disparity + arrays[f"{view}{direction}_disparity_change"]
                    stored = flow_IO.readDispFile(str(path))
                    np.testing.assert_array_equal(stored[known], later[known])
                    assert np.isnan(stored[~known]).all()
                    flow, flow_valid = arrays[f"{view}{direction}_flow"], arrays[f"{view}{direction}_flow_valid"]
                    stored = flow_IO.readFlowFile(str(folder / f"flow_{word}_{side}" /
                                                      f"flow_{word}_{side}_{number:04d}.flo5"))
                    np.testing.assert_array_equal(stored[flow_valid], flow[flow_valid])


def test_cam_data_lines_as_spring_s_readers_parse_them(baked):
    """np.loadtxt (spring_utils) and ``row.split(" ")`` readers: one line per image, ``fx fy cx cy`` and the 4×4
    world-to-camera matrix; a point seen at a pixel projects back to that pixel through them (cx, cy from the
    corner of the image)."""
    root, _, products = baked
    for name, frames in SEQUENCES.items():
        cam_data = root / "spring" / "train" / name / "cam_data"
        intrinsics, extrinsics = (np.loadtxt(cam_data / f"{kind}.txt") for kind in ("intrinsics", "extrinsics"))
        rows = [[float(x) for x in row.split(" ")] for row in (cam_data / "extrinsics.txt").read_text().splitlines()]
        np.testing.assert_array_equal(rows, extrinsics)
        assert intrinsics.shape == (len(frames), 4) and extrinsics.shape == (len(frames), 16)
        for number, frame in enumerate(frames, 1):
            K, pose = products[name][frame]["K"], products[name][frame]["camera_to_world"]
            fx, fy, cx, cy = intrinsics[number - 1]
            pixel, depth = np.array([2.0, 5.0]), 7.5
            opencv = depth * np.linalg.solve(K, [*pixel, 1.0])  # the point in OpenCV camera axes
            world = pose @ [opencv[0], -opencv[1], -opencv[2], 1.0]  # Blender's camera looks down its −Z
            seen = extrinsics[number - 1].reshape(4, 4) @ world
            np.testing.assert_allclose(seen[:3], opencv, atol=1e-9)
            projected = [fx * seen[0] / seen[2] + cx - 0.5, fy * seen[1] / seen[2] + cy - 0.5]
            np.testing.assert_allclose(projected, pixel, atol=1e-9)
