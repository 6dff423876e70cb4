"""EXR reading, writers, atomic writes, options and output checks (no bpy)."""
import errno
import json
import mmap
import os
import subprocess
import sys

import h5py
import numpy as np
import OpenEXR
import pytest

from optical_flow_addon.core import atomic
from optical_flow_addon.core.atomic import atomic_path, file_buffer, write_uncached
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.rendered_exr import plain_channels, read_vector_and_depth
from optical_flow_addon.core.frame import convert_frame, planned_paths, prepare_output_dir
from optical_flow_addon.core.manifest import write_manifest
from optical_flow_addon.core.options import BakeOptions

H, W = 6, 8


def write_blender_exr(path, vector, depth, layer="ViewLayer", one_part_per_pass=False):
    """Multilayer EXR as Blender writes it: 4.x one part, 5.0 one part per pass."""
    vector_channels = {f"{layer}.Vector.{c}": np.ascontiguousarray(vector[..., i]) for i, c in enumerate("XYZW")}
    depth_channels = {f"{layer}.Depth.Z": depth}
    header = {"compression": OpenEXR.NO_COMPRESSION, "type": OpenEXR.scanlineimage}
    if one_part_per_pass:
        OpenEXR.File([OpenEXR.Part(dict(header, name=f"{layer}.Vector"), vector_channels),
                      OpenEXR.Part(dict(header, name=f"{layer}.Depth"), depth_channels)]).write(str(path))
    else:
        OpenEXR.File(header, {**vector_channels, **depth_channels}).write(str(path))


def sample_passes():
    rng = np.random.default_rng(1)
    vector = rng.normal(size=(H, W, 4)).astype(np.float32)
    depth = np.full((H, W), 3.0, np.float32)
    depth[0, :] = 1e10
    return vector, depth


@pytest.mark.parametrize("one_part_per_pass", [False, True], ids=["blender4", "blender5"])
def test_exr_passes_read_back_exactly(tmp_path, one_part_per_pass):
    vector, depth = sample_passes()
    write_blender_exr(tmp_path / "f.exr", vector, depth, one_part_per_pass=one_part_per_pass)
    read_vector, read_depth = read_vector_and_depth(tmp_path / "f.exr", "ViewLayer")
    np.testing.assert_array_equal(read_vector, vector)
    np.testing.assert_array_equal(read_depth, depth)


@pytest.mark.parametrize("one_part_per_pass", [False, True], ids=["blender4", "blender5"])
def test_uncompressed_renders_are_read_from_their_bytes_as_openexr_reads_them(tmp_path, one_part_per_pass):
    """The bake's renders (uncompressed 32-bit lines) are read without OpenEXR; every channel equals OpenEXR's."""
    vector, depth = sample_passes()
    write_blender_exr(tmp_path / "f.exr", vector, depth, one_part_per_pass=one_part_per_pass)
    read = plain_channels(tmp_path / "f.exr")
    expected = {name: channel.pixels for part in OpenEXR.File(str(tmp_path / "f.exr"), separate_channels=True).parts
                for name, channel in part.channels.items()}
    assert read is not None and read.keys() == expected.keys()
    for name, pixels in expected.items():
        np.testing.assert_array_equal(read[name], pixels)


@pytest.mark.parametrize("kind", ["zip", "half", "cut", "not exr"])
def test_other_exrs_are_left_to_openexr(tmp_path, kind):
    """Compressed files, half floats and files cut short are not read from their bytes; OpenEXR reads them (a cut
    file is then called truncated)."""
    vector, depth = sample_passes()
    path = tmp_path / "f.exr"
    header = {"compression": OpenEXR.ZIP_COMPRESSION if kind == "zip" else OpenEXR.NO_COMPRESSION,
              "type": OpenEXR.scanlineimage}
    depth = np.minimum(depth, 1e4).astype(np.float16 if kind == "half" else np.float32)
    OpenEXR.File(header, {"ViewLayer.Depth.Z": depth, "ViewLayer.Vector.X": vector[..., 0].copy()}).write(str(path))
    if kind == "cut":
        path.write_bytes(path.read_bytes()[:-5])
    if kind == "not exr":
        path.write_bytes(b"\0" * 400)
    assert plain_channels(path) is None
    if kind == "cut":
        with pytest.raises(FlowError, match=r"Cannot read the rendered EXR file .*f\.exr: it is truncated or damaged"):
            read_vector_and_depth(path, "ViewLayer")


def test_missing_pass_names_the_file_and_channel(tmp_path):
    vector, depth = sample_passes()
    write_blender_exr(tmp_path / "f.exr", vector, depth, layer="Other")
    with pytest.raises(FlowError, match=r"f\.exr has no channel ViewLayer\.Vector\.X.*found Other\.Depth\.Z"):
        read_vector_and_depth(tmp_path / "f.exr", "ViewLayer")


def test_unreadable_exr_is_a_flow_error(tmp_path):
    (tmp_path / "junk.exr").write_bytes(b"not an exr")
    with pytest.raises(FlowError, match="Cannot read the rendered EXR file .*junk.exr"):
        read_vector_and_depth(tmp_path / "junk.exr", "ViewLayer")


def options(tmp_path, **changes):
    """Options of a flow-only bake, the one that converts the Vector pass."""
    return BakeOptions(**{"output_dir": tmp_path, "frame_start": 3, "frame_end": 5, "occlusion": False, **changes})


def test_frame_conversion_writes_blenderproc_layout(tmp_path):
    vector, depth = sample_passes()
    write_blender_exr(tmp_path / "f.exr", vector, depth)
    out = tmp_path / "out"
    out.mkdir()
    written = convert_frame({"flow": tmp_path / "f.exr"}, "ViewLayer", 4, options(out))
    assert sorted(p.name for p in written) == ["4.hdf5", "backward_flow_0004.npy", "backward_flow_valid_0004.npy",
                                              "forward_flow_0004.npy", "forward_flow_valid_0004.npy"]
    forward = np.load(out / "forward_flow_0004.npy")
    np.testing.assert_array_equal(forward[..., 0], -vector[..., 2])
    np.testing.assert_array_equal(forward[..., 1], vector[..., 3])
    with h5py.File(out / "4.hdf5") as file:
        assert sorted(file) == ["backward_flow", "backward_flow_valid", "forward_flow", "forward_flow_valid"]
        assert file["forward_flow"].dtype == np.float32 and file["forward_flow"].shape == (H, W, 2)
        np.testing.assert_array_equal(file["forward_flow"][()], forward)
        assert not file["backward_flow_valid"][0].any()  # background row


def test_first_and_last_frames_only_get_flows_inside_the_range(tmp_path):
    bake = options(tmp_path)
    assert bake.flows_at(3) == ("forward_flow",) and bake.flows_at(5) == ("backward_flow",)
    assert options(tmp_path, get_backward_flow=False).frames == [3, 4]
    assert options(tmp_path, get_forward_flow=False).frames == [4, 5]
    chunk = options(tmp_path, frame_start=5, frame_end=5, sequence_start=1, sequence_end=9)
    assert chunk.frames == [5] and chunk.flows_at(5) == ("forward_flow", "backward_flow")


@pytest.mark.parametrize("changes, message", [
    (dict(get_forward_flow=False, get_backward_flow=False), "Nothing to bake"),
    (dict(frame_end=3), "Frame range 3–3 is too short"),
    (dict(sequence_start=4), "Frames 3–5 must lie inside the scene's frame range 4–5"),
    (dict(frame_start=5, frame_end=4, sequence_start=1), "Frames 5–4 must lie inside"),
    (dict(formats=frozenset({"JPEG"})), "Unknown output format JPEG"),
    (dict(hdf5_compression="ZSTD"), "Unknown HDF5 compression 'ZSTD'; choose from NONE, LZF, GZIP"),
])
def test_bad_options_are_explained(tmp_path, changes, message):
    with pytest.raises(FlowError, match=message):
        options(tmp_path, **changes)


def test_atomic_write_leaves_nothing_when_the_body_fails(tmp_path):
    target = tmp_path / "a.npy"
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half")
            1 / 0
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_turns_os_errors_into_flow_errors(tmp_path):
    with pytest.raises(FlowError, match=r"Cannot write .*missing/a.npy"):
        with atomic_path(tmp_path / "missing" / "a.npy") as temporary:
            temporary.write_bytes(b"x")


def test_file_systems_that_cannot_sync_still_get_the_file_but_real_write_errors_stop(tmp_path, monkeypatch):
    synced = []

    def fsync(descriptor, error=errno.EINVAL):
        synced.append(descriptor)
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_path(tmp_path / "a.npy") as temporary:
        temporary.write_bytes(b"flow")
    assert synced and (tmp_path / "a.npy").read_bytes() == b"flow"
    monkeypatch.setattr(os, "fsync", lambda descriptor: fsync(descriptor, errno.EIO))
    with pytest.raises(FlowError, match=r"Cannot write .*b\.npy: Input/output error"):
        with atomic_path(tmp_path / "b.npy") as temporary:
            temporary.write_bytes(b"flow")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


PAGE = mmap.PAGESIZE


@pytest.mark.parametrize("size", [0, 1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 17])
def test_uncached_writes_give_the_bytes_whatever_the_size(tmp_path, size):
    """Whole pages go past the cache and the rest through it: every byte must land once, in order."""
    content = np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes()
    head = min(size, 17)
    data = file_buffer(content[:head], size - head)
    assert (size == 0 or data.ctypes.data % PAGE == 0) and not data[head:].any()
    data[head:] = np.frombuffer(content[head:], np.uint8)
    write_uncached(tmp_path / "f", data)
    assert (tmp_path / "f").read_bytes() == content


def refuse_direct_opens(monkeypatch, opened):
    real_open = os.open

    def open_(path, flags, *args):
        opened.append(bool(flags & atomic.DIRECT))
        if flags & atomic.DIRECT:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_open(path, flags, *args)
    monkeypatch.setattr(os, "open", open_)


def fail_direct_writes(monkeypatch, written, error=errno.EINVAL):
    import fcntl
    real_write = os.write

    def write(descriptor, data):
        direct = bool(fcntl.fcntl(descriptor, fcntl.F_GETFL) & atomic.DIRECT)
        written.append(direct)
        if direct or error != errno.EINVAL:
            raise OSError(error, os.strerror(error))
        return real_write(descriptor, data)
    monkeypatch.setattr(os, "write", write)


@pytest.mark.skipif(not atomic.DIRECT, reason="no O_DIRECT on this system")
@pytest.mark.parametrize("refuse", [refuse_direct_opens, fail_direct_writes])
def test_file_systems_without_direct_writes_get_the_file_through_the_cache(tmp_path, monkeypatch, refuse):
    content = bytes(range(256)) * (2 * PAGE // 256 + 3)
    tried = []
    refuse(monkeypatch, tried)
    write_uncached(tmp_path / "f", file_buffer(content))
    assert tried[0] and not tried[-1]  # tried past the cache first, then through it
    assert (tmp_path / "f").read_bytes() == content


@pytest.mark.skipif(not atomic.DIRECT, reason="no O_DIRECT on this system")
def test_a_full_disk_during_an_uncached_write_stops_it(tmp_path, monkeypatch):
    fail_direct_writes(monkeypatch, [], errno.ENOSPC)
    with pytest.raises(FlowError, match=r"Cannot write .*f\.flo: No space left on device"):
        with atomic_path(tmp_path / "f.flo") as temporary:
            write_uncached(temporary, file_buffer(bytes(3 * PAGE)))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_without_overwrite(tmp_path):
    bake = options(tmp_path)
    assert [p.name for p in planned_paths(bake)][:3] == ["manifest.json", "3.hdf5", "forward_flow_0003.npy"]
    (tmp_path / "backward_flow_0005.npy").write_bytes(b"old")
    with pytest.raises(FlowError, match="already holds flow files \\(backward_flow_0005.npy\\); turn on Overwrite"):
        prepare_output_dir(bake)
    prepare_output_dir(options(tmp_path, overwrite=True))
    assert (tmp_path / "backward_flow_0005.npy").read_bytes() == b"old"


def test_manifest_lists_frames_written(tmp_path):
    bake = options(tmp_path)
    frames = [{"frame": 3, "flows": ["forward_flow"]}, {"frame": 4, "flows": ["forward_flow", "backward_flow"]}]
    manifest = json.loads(write_manifest(bake, (W, H), frames, {"blender_version": "x"}).read_text())
    assert manifest["forward_flow_frames"] == [3, 4] and manifest["backward_flow_frames"] == [4]
    assert manifest["resolution"] == {"width": W, "height": H} and manifest["blender_image_coordinate_style"] is False


def test_core_never_imports_bpy():
    code = ("import sys, optical_flow_addon, optical_flow_addon.core.frame, optical_flow_addon.core.poses, "
            "optical_flow_addon.core.camera, optical_flow_addon.core.manifest, optical_flow_addon.core.flow_files, "
            "optical_flow_addon.core.formats.picture, optical_flow_addon.cli; print('bpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_frame_writer_process_writes_frames_and_reports_errors(tmp_path):
    from optical_flow_addon.core.frame_writer import FrameWriter

    vector, depth = sample_passes()
    out = tmp_path / "out"
    out.mkdir()
    writer = FrameWriter(options(out, formats=frozenset({"NPY"})))
    try:
        write_blender_exr(tmp_path / "f.exr", vector, depth)
        writer.submit({"flow": tmp_path / "f.exr"}, "ViewLayer", 3)
        assert [(f, [p.name for p in paths]) for f, paths, _ in writer.result()] == \
            [(3, ["forward_flow_0003.npy", "forward_flow_valid_0003.npy"])]
        assert not (tmp_path / "f.exr").exists()  # the rendered EXR is removed once read
        np.testing.assert_array_equal(np.load(out / "forward_flow_0003.npy")[..., 0], -vector[..., 2])
        writer.submit({"flow": tmp_path / "missing.exr"}, "ViewLayer", 4)
        with pytest.raises(FlowError, match="Cannot read the rendered EXR file .*missing.exr"):
            writer.result()
    finally:
        writer.close()
    assert writer._process.returncode == 0


def test_frame_writer_that_dies_is_a_clear_error(tmp_path):
    from optical_flow_addon.core.frame_writer import FrameWriter

    starting = FrameWriter(options(tmp_path))
    starting._process.kill()
    with pytest.raises(FlowError, match=r"writer stopped unexpectedly \(exit code -9\) while starting\."):
        starting.ready()
    writer = FrameWriter(options(tmp_path))
    writer.ready()
    writer._process.kill()
    writer._process.wait()
    with pytest.raises(FlowError, match="writer stopped unexpectedly .* while writing frame 3"):
        writer.submit({"flow": tmp_path / "f.exr"}, "ViewLayer", 3)
        writer.result()
