"""A real bake into every format, read back and compared with the .npy files; PNG shared with Blender's libpng."""
import json

import h5py
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import png_files  # noqa: E402
import scenes  # noqa: E402
from optical_flow_addon.core.flow_files import FORMATS, WRITERS  # noqa: E402
from optical_flow_addon.core.formats.png import decode_png, encode_png  # noqa: E402
from flow_checks import assert_same_flow  # noqa: E402


def bake(folder, **arguments):
    return bpy.ops.optical_flow.render_flow(output_dir=str(folder), output_formats=set(WRITERS), **arguments)


def test_bake_writes_every_format_with_the_npy_numbers(tmp_path):
    scenes.camera_motion_scene()
    assert bake(tmp_path, frame_start=1, frame_end=3, occlusion=False) == {"FINISHED"}  # masks only in some formats
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["formats"] == sorted(WRITERS)
    for frame in (1, 2, 3):
        npy = FORMATS["NPY"].read(tmp_path, frame)
        flows = ["forward_flow"] if frame == 1 else ["forward_flow", "backward_flow"]  # scene range 1-5
        assert sorted(npy) == sorted(n for flow in flows for n in (flow, f"{flow}_valid"))
        assert np.abs(npy[next(iter(npy))]).max() > 1  # the camera really moves
        for fmt in FORMATS:
            assert_same_flow(fmt, FORMATS[fmt].read(tmp_path, frame), npy)
        for name in ("forward_flow", "backward_flow"):
            if name in npy:
                picture = png_files.read((tmp_path / f"{name}_picture_{frame:04d}.png").read_bytes())
                assert picture.shape == (scenes.HEIGHT, scenes.WIDTH, 3)
                np.testing.assert_array_equal(picture.max(axis=-1) == 0, ~npy[f"{name}_valid"])  # black = invalid
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_second_bake_needs_overwrite_and_then_replaces_the_sequence_file(tmp_path):
    scenes.camera_motion_scene()
    assert bake(tmp_path, frame_start=1, frame_end=3) == {"FINISHED"}
    before = FORMATS["HDF5_SEQUENCE"].read(tmp_path, 2)
    with pytest.raises(RuntimeError, match="already holds flow files"):
        bake(tmp_path, frame_start=2, frame_end=4)
    assert bake(tmp_path, frame_start=2, frame_end=4, overwrite=True) == {"FINISHED"}
    with h5py.File(tmp_path / "flow_sequence.hdf5") as file:  # the earlier bake's frame 1 is gone with it
        assert list(file["forward_flow_frames"]) == [2, 3, 4] and list(file["backward_flow_frames"]) == [2, 3, 4]
    after = FORMATS["HDF5_SEQUENCE"].read(tmp_path, 2)
    assert sorted(after) == sorted(before)  # frame 2 rewritten by the second bake, with the same numbers
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


def test_blender_reads_our_16_bit_png_and_we_read_blenders(tmp_path):
    height, width = 40, 50
    rows, cols = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(1)
    values = np.dstack([cols * 1000 + rows * 7, (cols * rows * 13) % 65536, rng.integers(0, 65536, (height, width))])
    values = values.astype(np.uint16)
    (tmp_path / "ours.png").write_bytes(encode_png(values))
    image = bpy.data.images.load(str(tmp_path / "ours.png"))
    image.colorspace_settings.name = "Non-Color"
    pixels = np.array(image.pixels[:]).reshape(height, width, 4)[::-1]  # Blender keeps the bottom row first
    np.testing.assert_array_equal(np.rint(pixels[..., :3] * 65535), values)

    written = bpy.data.images.new("written", width, height, float_buffer=True, alpha=False)
    written.colorspace_settings.name = "Non-Color"
    written.pixels[:] = np.dstack([values / 65535, np.ones((height, width))])[::-1].ravel()
    scene = bpy.context.scene
    settings = scene.render.image_settings
    settings.file_format, settings.color_depth, settings.color_mode = "PNG", "16", "RGB"
    written.save_render(str(tmp_path / "blender.png"), scene=scene)
    data = (tmp_path / "blender.png").read_bytes()
    assert len(set(png_files.row_filters(data))) > 1  # Blender's writer mixes row filters
    np.testing.assert_array_equal(decode_png(data, tmp_path / "blender.png"), values)


def test_hdf5_compression_setting_reaches_the_files(tmp_path):
    scene, _ = scenes.camera_motion_scene()
    scene.optical_flow.hdf5_compression = "GZIP"
    result = bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), output_formats={"HDF5", "NPY"},
                                              frame_start=1, frame_end=2)
    assert result == {"FINISHED"}
    with h5py.File(tmp_path / "2.hdf5") as file:
        assert {file[name].compression for name in file} == {"gzip"}
        np.testing.assert_array_equal(file["backward_flow"][()], np.load(tmp_path / "backward_flow_0002.npy"))


def test_picture_max_radius_setting_scales_every_picture(tmp_path):
    scene, _ = scenes.camera_motion_scene()
    scene.optical_flow.picture_max_radius = 0.01  # far below the flow: every moving pixel lies beyond the rim
    result = bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), output_formats={"PICTURE", "NPY"},
                                              frame_start=1, frame_end=2)
    assert result == {"FINISHED"}
    flow, valid = np.load(tmp_path / "forward_flow_0001.npy"), np.load(tmp_path / "forward_flow_valid_0001.npy")
    picture = png_files.read((tmp_path / "forward_flow_picture_0001.png").read_bytes())
    occluded = np.load(tmp_path / "forward_flow_occluded_0001.npy")
    beyond = valid & (np.hypot(flow[..., 0], flow[..., 1]) > 0.01)
    assert beyond.sum() > 0.3 * beyond.size and (beyond & occluded).any()
    assert np.all(picture[beyond & ~occluded].max(axis=-1) == 191)  # wheel colours darkened to 75 % beyond the rim
    assert np.all(picture[beyond & occluded].max(axis=-1) == 95)  # occluded pixels half as bright


def test_command_line_bakes_new_formats_and_shows_them(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    def run(*arguments):
        return subprocess.run([sys.executable, "-m", "optical_flow_addon", *map(str, arguments)],
                              cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)

    result = run("demo", tmp_path, "--resolution", "32x24", "--formats", "kitti,hdf5_sequence,picture",
                 "--picture-max-radius", "4", "--hdf5-compression", "lzf")
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "flow_sequence.hdf5") as file:
        assert file["backward_flow"].compression == "lzf"
    names = {p.name for p in tmp_path.iterdir()}
    assert {"flow_sequence.hdf5", "forward_flow_0000.png", "backward_flow_picture_0004.png"} <= names
    assert not any(n.endswith(".npy") or n.endswith(".hdf5") and n != "flow_sequence.hdf5" for n in names)
    result = run("vis", tmp_path / "flow_sequence.hdf5", "--frame", 3, "--output", tmp_path / "vis.png")
    assert result.returncode == 0 and "forward flow | backward flow" in result.stdout, result.stderr
    result = run("demo", tmp_path / "x", "--formats", "npy,gif")
    assert result.returncode == 1 and "Unknown output format GIF; choose from EXR, FLO, HDF5" in result.stderr
