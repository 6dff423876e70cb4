"""A full disk, on a real 1 MB tmpfs: refused before rendering when the frames cannot fit,
said in words when it fills."""
import json
import os
import re
import subprocess

import pytest

from test_cli_signals import start_bake

pytest.importorskip("bpy")
pytestmark = pytest.mark.any_blender_line  # process handling: one Blender line is enough


@pytest.fixture
def tiny_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_bake_that_cannot_fit_is_refused_before_rendering(tmp_path, tiny_disk):
    process = start_bake(tmp_path, tiny_disk / "out", "--resolution", "320x240", frames=5)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    # .npy of both flows and masks: 320 × 240 × 2 × 9 bytes = 1.4 MB per frame
    assert "error: The disk is too full for this bake: 1.0 MB free in" in stderr
    assert "about 1.4 MB needed per frame for 5 frames" in stderr
    assert [p.name for p in (tiny_disk / "out").iterdir()] == []


def size(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"kB": 1e3, "MB": 1e6}[unit]


@pytest.mark.parametrize("formats", ["exr", "hdf5_sequence"])
def test_a_disk_that_fills_during_the_bake_is_named(tmp_path, tiny_disk, formats):
    """Compressed formats (EXR, GZIP HDF5) pass the check before the bake; the disk then fills."""
    out = tiny_disk / "out"
    # the wall's flow is smooth and compresses to about 2 KB a file: enough frames to fill the megabyte
    process = start_bake(tmp_path, out, "--resolution", "160x120", "--formats", formats, "--hdf5-compression", "gzip",
                         frames=200)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    assert "error: The disk is full (" in stderr and "B free in" in stderr, stderr
    assert "Traceback" not in stderr
    free = size(re.search(r"\(([\d.]+ [kM]B) free in", stderr).group(1))
    needed = re.search(r"about ([\d.]+ [kM]B) needed per frame\): frame ", stderr)
    if needed:  # the figures agree: a frame needs more than there is
        assert size(needed.group(1)) > free, stderr
    else:  # the frames so far took less than is free (HDF5 writes more at once than a frame adds in the end)
        assert re.search(r"frames so far took about [\d.]+ [kM]B each, this one needed more\): frame ", stderr), stderr
    done = len([line for line in stdout.splitlines() if line.startswith("frame")])
    assert done >= 1
    # the final manifest too may not have fit: the one written before the first frame then stays, listing none
    # (as a killed bake's, so that --resume keeps the frames written)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["forward_flow_frames"] in ([], list(range(1, done + 1)))
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
