"""The one-file-per-sequence HDF5: layout, adding frames across bakes, and surviving a crash (no bpy)."""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.flow_files import FORMATS, read_flow_file
from optical_flow_addon.core.options import BakeOptions

ROOT = Path(__file__).resolve().parents[2]
H, W = 6, 8
SEQUENCE = FORMATS["HDF5_SEQUENCE"]


def frame_arrays(frame, height=H, width=W, forward=True, backward=True):
    """Flow whose values say which frame and flow they belong to."""
    arrays = {}
    for name, wanted, sign in (("forward_flow", forward, 1), ("backward_flow", backward, -1)):
        if wanted:
            arrays[name] = np.full((height, width, 2), sign * frame, np.float32)
            arrays[name][0, 0] = (sign * frame + 0.25, 0.5)
            arrays[f"{name}_valid"] = np.ones((height, width), bool)
            arrays[f"{name}_valid"][-1, frame % width] = False
    return arrays


def options(folder, **changes):
    return BakeOptions(**{"output_dir": folder, "frame_start": 1, "frame_end": 9,
                          "formats": frozenset({"HDF5_SEQUENCE"}), **changes})


def bake(folder, frames, **changes):
    bake_options = options(folder, **changes)
    for frame in frames:
        flows = bake_options.flows_at(frame)
        SEQUENCE.write(folder, frame, frame_arrays(frame, forward="forward_flow" in flows,
                                                  backward="backward_flow" in flows), bake_options)
    return folder / "flow_sequence.hdf5"


def test_layout_frames_by_height_by_width_by_two_chunked_per_frame(tmp_path):
    path = bake(tmp_path, range(1, 10))
    with h5py.File(path) as file:
        assert file["forward_flow"].shape == (8, H, W, 2) and file["forward_flow"].dtype == np.float32
        assert file["forward_flow"].chunks == (1, H, W, 2) and file["forward_flow"].compression is None
        assert file["forward_flow_valid"].shape == (8, H, W) and file["forward_flow_valid"].dtype == bool
        assert list(file["forward_flow_frames"]) == list(range(1, 9))
        assert list(file["backward_flow_frames"]) == list(range(2, 10))
        assert file.attrs["blender_image_coordinate_style"] == False  # noqa: E712 (numpy bool)
        assert file.attrs["coordinate_style"] == "opencv (origin top-left, y down)"
        np.testing.assert_array_equal(file["backward_flow"][2], frame_arrays(4)["backward_flow"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow_sequence.hdf5"]


def test_each_frame_reads_back_exactly(tmp_path):
    bake(tmp_path, range(1, 10))
    for frame in (1, 5, 9):
        expected = {k: v for k, v in frame_arrays(frame).items() if (frame < 9 or "forward" not in k)
                    and (frame > 1 or "backward" not in k)}
        back = SEQUENCE.read(tmp_path, frame)
        assert sorted(back) == sorted(expected)
        for name in expected:
            np.testing.assert_array_equal(back[name], expected[name])
    assert SEQUENCE.read(tmp_path, 42) == {}
    assert sorted(read_flow_file(tmp_path / "flow_sequence.hdf5")) == ["forward_flow", "forward_flow_valid"]  # frame 1
    with pytest.raises(FlowError, match=r"holds no flow for frame 42; it holds frames 1–9"):
        read_flow_file(tmp_path / "flow_sequence.hdf5", frame=42)


def test_a_later_bake_adds_its_frames(tmp_path):
    bake(tmp_path, [1, 2, 3])
    bake(tmp_path, [4, 5])
    with h5py.File(tmp_path / "flow_sequence.hdf5") as file:
        assert list(file["forward_flow_frames"]) == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 2)["forward_flow"], frame_arrays(2)["forward_flow"])
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 5)["backward_flow"], frame_arrays(5)["backward_flow"])


def test_frames_already_held_need_overwrite_and_are_replaced_in_place(tmp_path):
    bake(tmp_path, [1, 2, 3])
    with pytest.raises(FlowError, match=r"already holds forward_flow for frame 2; turn on Overwrite"):
        SEQUENCE.write(tmp_path, 2, frame_arrays(7), options(tmp_path))
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 2)["forward_flow"], frame_arrays(2)["forward_flow"])
    SEQUENCE.write(tmp_path, 2, frame_arrays(7), options(tmp_path, overwrite=True))
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 2)["forward_flow"], frame_arrays(7)["forward_flow"])
    with h5py.File(tmp_path / "flow_sequence.hdf5") as file:
        assert list(file["forward_flow_frames"]) == [1, 2, 3] and file["forward_flow"].shape[0] == 3


def test_a_file_of_another_size_or_style_is_kept_unless_overwrite(tmp_path):
    bake(tmp_path, [1, 2])
    small = frame_arrays(3, height=3, width=4)
    with pytest.raises(FlowError,
                       match=r"flow_sequence\.hdf5 holds backward_flow of 8×6 px, forward_flow of 8×6 px; "
                             r"this bake makes truth of 4×3 px\. Choose another folder"):
        SEQUENCE.write(tmp_path, 3, small, options(tmp_path))
    with pytest.raises(FlowError, match=r"holds OpenCV-style flow; this bake makes Blender-style flow\. Choose"):
        SEQUENCE.write(tmp_path, 3, frame_arrays(3), options(tmp_path, blender_image_coordinate_style=True))
    assert list(SEQUENCE.read(tmp_path, 2)) and sorted(p.name for p in tmp_path.iterdir()) == ["flow_sequence.hdf5"]
    SEQUENCE.write(tmp_path, 3, small, options(tmp_path, overwrite=True))
    with h5py.File(tmp_path / "flow_sequence.hdf5") as file:
        assert list(file["forward_flow_frames"]) == [3] and file["forward_flow"].shape == (1, 3, 4, 2)


CRASH = """
import os, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_core_flow_sequence import bake, frame_arrays, options
from optical_flow_addon.core.formats import hdf5

folder = Path({folder!r})
bake(folder, [1, 2, 3])
add_frame = hdf5.add_frame

def add_frame_and_die(file, path, frame, arrays, bake_options):
    add_frame(file, path, frame, {{k: v for k, v in arrays.items() if k.startswith("forward")}}, bake_options)
    file["backward_flow"].resize(4, axis=0)
    file["backward_flow"][3] = 99  # half way through frame 4's backward flow
    os._exit(9)  # the process dies: no close, no cleanup

hdf5.add_frame = add_frame_and_die
bake(folder, [4])
"""


def test_a_bake_that_dies_while_adding_a_frame_loses_only_that_frame(tmp_path):
    script = CRASH.format(tests=str(Path(__file__).parent), folder=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr
    # the final name never holds a file caught half way; the file waits under its working name
    assert sorted(p.name for p in tmp_path.iterdir()) == [".flow_sequence.hdf5.adding"]
    bake(tmp_path, [5])  # the next bake puts it back and carries on
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow_sequence.hdf5"]
    with h5py.File(tmp_path / "flow_sequence.hdf5") as file:
        frames = [f for f in file["forward_flow_frames"][()] if f > 0]
        assert frames == [1, 2, 3, 5] or frames == [1, 2, 3, 4, 5]  # frame 4 counts only if its flow was flushed
        assert list(file["backward_flow_frames"][()]) == [2, 3, 5]
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 3)["backward_flow"], frame_arrays(3)["backward_flow"])
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 5)["forward_flow"], frame_arrays(5)["forward_flow"])
    assert "backward_flow" not in SEQUENCE.read(tmp_path, 4)


def test_a_frame_being_replaced_when_a_bake_died_is_not_read(tmp_path):
    bake(tmp_path, [1, 2])
    with h5py.File(tmp_path / "flow_sequence.hdf5", "a") as file:  # what a crash while replacing frame 2 leaves
        file["forward_flow_frames"][1] = np.iinfo(np.int64).min
        file["forward_flow"][1] = 99
    os.replace(tmp_path / "flow_sequence.hdf5", tmp_path / ".flow_sequence.hdf5.adding")
    bake(tmp_path, [3])
    assert "forward_flow" not in SEQUENCE.read(tmp_path, 2)
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 2)["backward_flow"], frame_arrays(2)["backward_flow"])
    np.testing.assert_array_equal(SEQUENCE.read(tmp_path, 3)["forward_flow"], frame_arrays(3)["forward_flow"])


def test_a_damaged_left_over_file_is_named_and_kept(tmp_path):
    (tmp_path / ".flow_sequence.hdf5.adding").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(FlowError, match=r"\.flow_sequence\.hdf5\.adding was left by a bake that stopped while "
                                        r"adding a frame to flow_sequence\.hdf5 and cannot be read"):
        bake(tmp_path, [1])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".flow_sequence.hdf5.adding"]


def test_not_a_sequence_file_is_named(tmp_path):
    with h5py.File(tmp_path / "flow_sequence.hdf5", "w") as file:
        file["forward_flow"] = np.zeros((2, 3, 4, 2), np.float32)
        file["forward_flow_valid"] = np.zeros((2, 3, 4), bool)
        file["forward_flow_frames"] = np.arange(3)
    with pytest.raises(FlowError,
                       match=r"forward_flow \(2, 3, 4, 2\) and forward_flow_valid \(2, 3, 4\) should hold 3 frames"):
        read_flow_file(tmp_path / "flow_sequence.hdf5")


def test_an_existing_sequence_file_is_refused_before_a_bake_without_overwrite(tmp_path):
    from optical_flow_addon.core.frame import prepare_output_dir

    bake(tmp_path, [1, 2])
    with pytest.raises(FlowError, match=r"already holds flow files \(flow_sequence\.hdf5\); turn on Overwrite"):
        prepare_output_dir(options(tmp_path))
    prepare_output_dir(options(tmp_path, overwrite=True))


def test_truth_at_twice_the_images_size_adds_up_frame_after_frame(tmp_path):
    """Truth scale 2: the images keep the scene's size, the flow is twice it per axis. Each frame is added (with
    Overwrite on, an unfit file would be started afresh at every frame, keeping only the last one)."""
    for frame in (1, 2, 3):
        arrays = {**frame_arrays(frame, 2 * H, 2 * W), "colors": np.full((H, W, 3), frame, np.uint8)}
        SEQUENCE.write(tmp_path, frame, arrays, options(tmp_path, overwrite=True, truth_scale=2))
    for frame in (1, 2, 3):
        back = SEQUENCE.read(tmp_path, frame)
        assert back["colors"].shape == (H, W, 3) and (back["colors"] == frame).all()
        np.testing.assert_array_equal(back["forward_flow"], frame_arrays(frame, 2 * H, 2 * W)["forward_flow"])
    with pytest.raises(FlowError, match=r"holds colors of 8×6 px; this bake makes images of 4×3 px, truth of 16×12"):
        SEQUENCE.write(tmp_path, 4, {**frame_arrays(4, 2 * H, 2 * W), "colors": np.zeros((3, 4, 3), np.uint8)},
                       options(tmp_path, truth_scale=2))
