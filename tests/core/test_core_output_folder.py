"""The output folder: its lock, the files that belong to a bake, dead bakes' leftovers, a damaged sequence file,
and the disk space a bake needs (no bpy)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.flow_files import FORMATS
from optical_flow_addon.core.frame import own_files
from optical_flow_addon.core.options import BakeOptions
from optical_flow_addon.core.output_folder import (BakeFolder, FolderLock, remove_dead_leftovers, render_folder,
                                                   uncompressed_bytes_per_frame)

ROOT = Path(__file__).resolve().parents[2]


def options(folder, **changes):
    return BakeOptions(**{"output_dir": folder, "frame_start": 1, "frame_end": 5, **changes})


def dead_pid() -> int:
    """The ID of a process that has ended (and was reaped)."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(process.stdout)


def test_own_files_are_the_add_on_names_of_any_frame_and_format(tmp_path):
    ours = ["manifest.json", "flow_sequence.hdf5", ".flow_sequence.hdf5.adding", "7.hdf5", "forward_flow_0012.npy",
            "backward_flow_valid_-003.pfm", "flow_0002.npz", "forward_flow_0001.flo", "backward_flow_0009.png",
            "forward_flow_picture_0004.png", "forward_flow_valid_0100.exr"]
    others = ["notes.txt", "forward_flow_12.npy", "render_0001.png", "7.h5", "camera_positions", "forward_flow.npy"]
    for name in ours + others:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "3.hdf5.d").mkdir()
    assert sorted(p.name for p in own_files(tmp_path)) == sorted(ours)


def test_lock_names_its_holder_and_goes_with_it(tmp_path):
    with FolderLock(tmp_path):
        code = ("from pathlib import Path; from optical_flow_addon.core.output_folder import FolderLock\n"
                f"FolderLock(Path({str(tmp_path)!r})).__enter__()")
        other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        assert f"Another bake is writing to {tmp_path} (process {os.getpid()} on " in other.stderr
    assert list(tmp_path.iterdir()) == []
    with FolderLock(tmp_path):  # the folder is free again
        pass


def test_a_killed_holders_lock_is_taken_over(tmp_path):
    code = ("import os; from pathlib import Path; from optical_flow_addon.core.output_folder import FolderLock\n"
            f"FolderLock(Path({str(tmp_path)!r})).__enter__(); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT)
    assert (tmp_path / ".optical_flow.lock").exists()
    with FolderLock(tmp_path):
        pass


def test_dead_bakes_leftovers_go_living_ones_stay(tmp_path):
    dead, alive = dead_pid(), os.getpid()
    names = [f"optical_flow_{dead}_abc", f"optical_flow_{alive}_abc", f".forward_flow_0001.npy.{dead}.part",
             f".forward_flow_0001.npy.{alive}.part", f".write_test.{dead}", "optical_flow_cache", "flow_1.part"]
    for name in names:
        (tmp_path / name).mkdir() if name.startswith("optical_flow_") else (tmp_path / name).write_bytes(b"")
    (tmp_path / f"optical_flow_{dead}_abc" / "frame_3.exr").write_bytes(b"x")
    assert sorted(remove_dead_leftovers(tmp_path)) == sorted(n for n in names if str(dead) in n)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n in names if str(dead) not in n)
    with render_folder(str(tmp_path)) as folder:
        assert folder.name.startswith(f"optical_flow_{alive}_")
    assert not folder.exists()


def test_overwrite_empties_the_folder_of_the_earlier_bake_only(tmp_path):
    for name in ("forward_flow_0009.npy", "manifest.json", "flow_sequence.hdf5", "notes.txt"):
        (tmp_path / name).write_bytes(b"old")
    with pytest.raises(FlowError, match=r"already holds flow files \(flow_sequence.hdf5, forward_flow_0009.npy, "
                                        r"manifest.json\); turn on Overwrite"):
        BakeFolder(options(tmp_path), 8, 6).__enter__()
    with BakeFolder(options(tmp_path, overwrite=True), 8, 6) as folder:
        # the new bake's manifest, written before its first frame, says how its files are baked
        assert sorted(p.name for p in tmp_path.iterdir()) == [".optical_flow.lock", "manifest.json", "notes.txt"]
        assert folder.notes == [f"Overwrite removed the 3 files of the earlier bake in {tmp_path}; "
                                "every flow file there now belongs to this bake."]


def test_an_output_path_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(FlowError, match=r"Output folder .*out is a file, not a folder"):
        BakeFolder(options(tmp_path / "out"), 8, 6).__enter__()


def test_a_damaged_sequence_file_is_said_to_be_unreadable_and_overwrite_starts_it_afresh(tmp_path):
    path = tmp_path / "flow_sequence.hdf5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))  # an HDF5 signature, then nothing that reads
    arrays = {"forward_flow": np.ones((6, 8, 2), np.float32), "forward_flow_valid": np.ones((6, 8), bool)}
    bake = options(tmp_path, formats=frozenset({"HDF5_SEQUENCE"}))
    for attempt in range(2):  # the same answer every time: nothing is renamed
        with pytest.raises(FlowError,
                           match=r"flow_sequence.hdf5 cannot be read \(.*\): move it away, or turn on Overwrite"):
            FORMATS["HDF5_SEQUENCE"].write(tmp_path, 2, arrays, bake)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["flow_sequence.hdf5"]
    FORMATS["HDF5_SEQUENCE"].write(tmp_path, 2, arrays, options(tmp_path, formats=bake.formats, overwrite=True))
    np.testing.assert_array_equal(FORMATS["HDF5_SEQUENCE"].read_file(path, 2)["forward_flow"], arrays["forward_flow"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow_sequence.hdf5"]


def test_uncompressed_bytes_per_frame():
    both = options(Path("/o"), formats=frozenset({"NPY", "HDF5", "KITTI"}))
    assert uncompressed_bytes_per_frame(both, 10, 4) == 2 * 40 * (9 + 9)  # both flows; KITTI is compressed
    gzip = options(Path("/o"), formats=frozenset({"HDF5_SEQUENCE", "PFM"}), hdf5_compression="GZIP",
                   get_backward_flow=False)
    assert uncompressed_bytes_per_frame(gzip, 10, 4) == 40 * 16
