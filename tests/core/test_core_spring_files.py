"""Spring's .flo5 and .dsp5 files (no bpy): the one HDF5 dataset Spring's readers open, float32, NaN exactly where
there is no truth, read back with plain h5py; damaged files are named, not a traceback; the camera files' lines."""
import h5py
import numpy as np
import pytest

from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.formats.spring import load_dsp5, load_flo5, save_dsp5, save_flo5, truth_size
from optical_flow_addon.core.layouts.spring import extrinsics_line, has_line, intrinsics_line, line_saver


def test_flo5_holds_the_flow_and_nan_where_it_is_invalid(tmp_path):
    rng = np.random.default_rng(1)
    flow = rng.normal(scale=40, size=(6, 10, 2)).astype(np.float32)
    valid = rng.random((6, 10)) < 0.7
    path = tmp_path / "flow_FW_left_0001.flo5"
    save_flo5(path, flow, valid)
    with h5py.File(path, "r") as file:
        assert list(file) == ["flow"]
        stored = file["flow"][()]
    assert stored.dtype == np.float32 and stored.shape == (6, 10, 2)
    np.testing.assert_array_equal(stored[valid], flow[valid])
    assert np.isnan(stored[~valid]).all()
    np.testing.assert_array_equal(load_flo5(path), stored)
    assert truth_size(path) == (6, 10)


def test_dsp5_holds_the_disparity_and_nan_where_it_is_unknown(tmp_path):
    rng = np.random.default_rng(2)
    disparity = rng.uniform(0, 300, (8, 4)).astype(np.float32)
    valid = rng.random((8, 4)) < 0.5
    path = tmp_path / "disp1_left_0001.dsp5"
    save_dsp5(path, disparity, valid)
    with h5py.File(path, "r") as file:
        assert list(file) == ["disparity"] and file["disparity"].dtype == np.float32
    stored = load_dsp5(path)
    np.testing.assert_array_equal(np.where(valid, stored, 0), np.where(valid, disparity, 0))
    assert np.isnan(stored[~valid]).all()
    assert truth_size(path) == (8, 4)


@pytest.mark.parametrize("damage", ["truncated", "empty", "other dataset"])
def test_damaged_files_are_named(tmp_path, damage):
    path = tmp_path / "disp1_left_0001.dsp5"
    save_dsp5(path, np.ones((4, 4), np.float32), np.ones((4, 4), bool))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-20])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with h5py.File(path, "w") as file:
            file.create_dataset("flow", data=np.zeros((4, 4, 2), np.float32))
    with pytest.raises(FlowError, match="disp1_left_0001.dsp5"):
        truth_size(path)
    with pytest.raises(FlowError, match="disp1_left_0001.dsp5"):
        load_dsp5(path)


def test_camera_lines_are_spring_s(tmp_path):
    """fx fy cx cy with the principal point from the image corner (960 540 for a centred 1920×1080 camera), and the
    world-to-camera matrix in OpenCV axes: a camera at (1, 2, 3) looking down Blender's −Z."""
    K = np.array([[1100.5, 0, 959.5], [0, 1100.5, 539.5], [0, 0, 1]])
    assert intrinsics_line(K) == [1100.5, 1100.5, 960.0, 540.0]
    pose = np.eye(4)
    pose[:3, 3] = (1, 2, 3)
    world_to_camera = np.array(extrinsics_line(pose)).reshape(4, 4)
    np.testing.assert_allclose(world_to_camera, [[1, 0, 0, -1], [0, -1, 0, 2], [0, 0, -1, 3], [0, 0, 0, 1]])


def test_a_camera_file_gets_each_frame_s_line_in_place(tmp_path):
    path = tmp_path / "intrinsics.txt"

    def save(index, count, fx):
        line_saver(path, index, count, intrinsics_line)(path, np.array([[fx, 0, 1], [0, fx, 2], [0, 0, 1]]))

    save(1, 3, 20.0)  # a frame written before the one before it: that one's line is unknown meanwhile
    assert path.read_text() == "nan nan nan nan\n20.0 20.0 1.5 2.5\n"
    assert has_line(path, 1) and not has_line(path, 0) and not has_line(path, 2)
    save(0, 3, 10.0)
    save(2, 3, 1e-5)
    np.testing.assert_array_equal(np.loadtxt(path)[:, 0], [10, 20, 1e-5])
    save(0, 1, 30.0)  # a shorter sequence baked again over it: the lines beyond it go
    assert path.read_text() == "30.0 30.0 1.5 2.5\n"


def test_spring_refuses_truth_at_the_image_resolution_before_writing(tmp_path):
    from layout_products import layout_products, sequence_products

    from optical_flow_addon.core.layouts import LAYOUTS, Sequence

    sequence = Sequence(tmp_path, "scene", 0, 2, stereo=True)
    products = layout_products("SPRING", range(3))[1]
    same_size = sequence_products(range(3))[1]  # 6×8 truth for 6×8 images
    with pytest.raises(FlowError, match=r"twice the image resolution per axis \(16×12\): bake it with truth_scale 2"):
        LAYOUTS["SPRING"].write(sequence, 1, {**products, **{k: v for k, v in same_size.items() if k != "colors"}})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("changes, message", [
    ({"stereo": False}, "The SPRING layout holds both views: turn on Stereo."),
    ({"name": "shot.v2"}, "Sequence name 'shot.v2' has a '.': ptlflow's SpringDataset"),
])
def test_spring_refuses_one_view_and_names_ptlflow_would_cut(tmp_path, changes, message):
    from optical_flow_addon.core.layouts import LAYOUTS, Sequence

    settings = {"root": tmp_path, "name": "shot", "first_frame": 1, "last_frame": 3, "stereo": True, **changes}
    with pytest.raises(FlowError, match=message):
        LAYOUTS["SPRING"].check(Sequence(**settings))


@pytest.mark.parametrize("missing", [{}, {"stereo": True}, {"truth_scale": 2}])
def test_the_spring_option_needs_stereo_and_truth_at_twice_the_size(tmp_path, missing):
    from optical_flow_addon.core.options import BakeOptions

    settings = {"output_dir": tmp_path, "frame_start": 1, "frame_end": 3, "layout": "SPRING", "sequence": "shot"}
    with pytest.raises(FlowError, match="SPRING layout holds both views and truth at twice .* turn on Stereo and set "
                                       "Truth Scale to 2"):
        BakeOptions(**settings, **missing)
    assert BakeOptions(**settings, stereo=True, truth_scale=2).training_sequence.stereo
