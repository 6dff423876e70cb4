"""Segmentation indices and normals in the camera axes from the rendered passes, and their files."""
import h5py
import numpy as np
import pytest

from optical_flow_addon.core.flow_files import FORMATS, WRITERS
from optical_flow_addon.core.options import BakeOptions
from optical_flow_addon.core.overview import row_pictures
from optical_flow_addon.core.surface_motion import View, camera_normals, segmentation

INTRINSICS = [[50, 0, 3], [0, 50, 2], [0, 0, 1]]


def turned_camera(scale=1.0) -> View:
    """A camera turned 90° about the world's z axis: its x axis (right) is the world's y, its y axis (up) the world's
    z, and it looks along the world's x (its −z); ``scale``: of its x, y, z axes."""
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3] = np.array([[0, 0, -1], [1, 0, 0], [0, 1, 0]]) * scale
    return View.from_lists(INTRINSICS, camera_to_world.tolist())


@pytest.mark.parametrize("scale", [1.0, 2.5, [0.5, 2.0, 3.0]])
def test_normals_are_unit_vectors_in_the_camera_axes_of_the_coordinate_style(scale):
    world = np.array([[[0, 1, 0], [0, 0, 1], [-1, 0, 0]]], np.float32)  # Cycles' normals are unit vectors
    surface = np.array([[True, True, True]])
    blender = camera_normals(world, turned_camera(scale), surface, blender_image_coordinate_style=True)
    np.testing.assert_allclose(blender, [[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], atol=1e-7)  # right, up, backwards
    opencv = camera_normals(world, turned_camera(scale), surface, blender_image_coordinate_style=False)
    np.testing.assert_allclose(opencv, [[[1, 0, 0], [0, -1, 0], [0, 0, -1]]], atol=1e-7)  # y down, z forwards
    assert opencv.dtype == np.float32


@pytest.mark.parametrize("scale", [2.5, [0.5, 2.0, 3.0]])
def test_a_scaled_camera_turns_normals_square_to_the_surface_it_sees(scale):
    """A surface's normal in the camera axes is square to the surface's own directions mapped into them."""
    along = np.array([[1, 2, 0], [0, 1, -3]], np.float64)  # two directions within a surface
    normal = np.cross(*along)
    camera = turned_camera(scale)
    in_camera = along @ np.linalg.inv(camera.camera_to_world)[:3, :3].T
    turned = camera_normals((normal / np.linalg.norm(normal)).astype(np.float32).reshape(1, 1, 3), camera,
                            np.array([[True]]), blender_image_coordinate_style=True)[0, 0]
    np.testing.assert_allclose(in_camera @ turned, 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(turned), 1, atol=1e-6)


def test_normals_of_the_background_are_zero_vectors():
    world = np.full((2, 2, 3), 3 ** -0.5, np.float32)
    surface = np.array([[True, False], [False, True]])
    normals = camera_normals(world, turned_camera(), surface, blender_image_coordinate_style=False)
    assert (normals[~surface] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(normals[surface], axis=-1), 1, atol=1e-6)


def test_segmentation_takes_each_rows_index_and_the_objects_where_the_instance_is_unknown():
    rows = np.array([[0, 1, 2], [0, 0, 3]])  # instance rows of the frame's list, 0: not identified
    numbers = np.array([[0, 4, 4], [2, 7, 1]], np.float32)  # the object pass: 7 is no object's number
    surface = np.array([[False, True, True], [True, True, True]])
    index = segmentation(rows, numbers, surface, segments=[40, 41, 9], object_segments=[0, 5, 6, 0, 8])
    assert index.dtype == np.uint16
    # background 0; rows through ``segments``; unknown rows through the number's object (6), 0 where it names none
    np.testing.assert_array_equal(index, [[0, 40, 41], [6, 0, 9]])


def test_segmentation_indices_reach_the_top_of_uint16():
    index = segmentation(np.array([[1]]), np.array([[1.0]]), np.array([[True]]), [65535], [0, 65535])
    assert index[0, 0] == 65535


def products(height=3, width=4):
    rng = np.random.default_rng(1)
    normals = rng.normal(size=(height, width, 3)).astype(np.float32)
    return {"segmentation": rng.integers(0, 65536, (height, width)).astype(np.uint16),
            "normals": normals / np.linalg.norm(normals, axis=-1, keepdims=True),
            "forward_flow": rng.normal(size=(height, width, 2)).astype(np.float32),
            "forward_flow_valid": rng.random((height, width)) > 0.5}


@pytest.mark.parametrize("fmt", ["NPY", "NPZ", "HDF5", "HDF5_SEQUENCE"])
def test_segmentation_and_normals_read_back(tmp_path, fmt):
    """Bit-exact, but HDF5's normals, stored as BlenderProc's colours (n + 1) / 2: to within float32's step at 1."""
    arrays = products()
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=3, formats=frozenset(WRITERS))
    WRITERS[fmt].write(tmp_path, 2, arrays, options)
    back = FORMATS[fmt].read(tmp_path, 2)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        step = 2 ** -23 if name == "normals" and fmt.startswith("HDF5") else 0
        np.testing.assert_allclose(back[name], array, rtol=0, atol=step)


def test_hdf5_holds_segmentation_as_blenderprocs_segmap(tmp_path):
    arrays = products()
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=3, formats=frozenset(WRITERS))
    WRITERS["HDF5"].write(tmp_path, 2, arrays, options)
    WRITERS["HDF5_SEQUENCE"].write(tmp_path, 2, arrays, options)
    with h5py.File(tmp_path / "2.hdf5") as file:
        assert sorted(file) == ["forward_flow", "forward_flow_valid", "normals", "segmap"]
        np.testing.assert_array_equal(file["segmap"][()], arrays["segmentation"])
        normals = file["normals"][()]  # as BlenderProc's: colours in 0–1, which its viewer draws
        np.testing.assert_array_equal(normals, (arrays["normals"] + 1) / 2)
        assert normals.dtype == np.float32 and 0 <= normals.min() and normals.max() <= 1
        assert file["normals"].attrs["encoding"] == "(n + 1) / 2 of the unit normals in the camera axes"
    with h5py.File(tmp_path / "flow_sequence.hdf5") as file:
        assert list(file["segmap_frames"][()]) == [2] and file["segmap"].shape == (1, 3, 4)
        assert list(file["normals_frames"][()]) == [2]
        np.testing.assert_array_equal(file["normals"][0], (arrays["normals"] + 1) / 2)
    assert (tmp_path / "segmentation_0002.npy") in WRITERS["NPY"].paths(tmp_path, 2, ["segmentation", "normals"])


def test_the_overview_draws_a_row_of_segmentation_and_one_of_normals(tmp_path):
    arrays = products()
    arrays["segmentation"][0, :2] = [0, 7]
    arrays["normals"][0, 0] = 0  # the background
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=3, formats=frozenset({"NPY"}))
    for frame in (1, 2):
        WRITERS["NPY"].write(tmp_path, frame, arrays, options)
    rows = row_pictures(tmp_path, [1, 2], ["NPY"], blender_image_coordinate_style=False)
    assert list(rows) == ["forward flow", "segmentation", "normals"]
    segmentation = rows["segmentation"][0]
    assert (segmentation[0, 0] == 0).all() and (segmentation[0, 1] >= 64).all()
    np.testing.assert_array_equal(segmentation, rows["segmentation"][1])  # one colour per index, every frame
    assert (rows["normals"][0][0, 0] == 128).all()
    np.testing.assert_array_equal(rows["normals"][0][1:], np.round((arrays["normals"][1:] + 1) * 127.5))


def test_the_overview_draws_disparity_on_one_scale_black_where_there_is_none(tmp_path):
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=3, formats=frozenset({"NPY"}))
    for frame, largest in ((1, 10.0), (2, 20.0)):
        disparity = np.array([[0.0, largest / 2, largest]], np.float32)
        WRITERS["NPY"].write(tmp_path, frame, {"forward_flow": np.zeros((1, 3, 2), np.float32),
                                               "forward_flow_valid": np.ones((1, 3), bool), "disparity": disparity,
                                               "disparity_valid": np.array([[False, True, True]])}, options)
    rows = row_pictures(tmp_path, [1, 2], ["NPY"], blender_image_coordinate_style=False)
    first, second = rows["disparity"]
    assert (first[0, 0] == 0).all() and (second[0, 2] == [255, 0, 0]).all()  # none; the bake's largest: warm end
    np.testing.assert_array_equal(first[0, 2], second[0, 1])  # 10 px is one colour in both frames
