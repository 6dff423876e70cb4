"""Every flow format written and read back, checked against each format's published layout (no bpy)."""
import struct
import zlib

import h5py
import numpy as np
import OpenEXR
import pytest

import png_files
from flow_checks import EXACT, assert_same_flow
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.flow_files import FORMATS, WRITERS, read_flow_file
from optical_flow_addon.core.formats import png as png_format
from optical_flow_addon.core.formats.kitti import save_kitti
from optical_flow_addon.core.formats.pfm import load_pfm
from optical_flow_addon.core.formats.png import decode_png, encode_png, without_metadata
from optical_flow_addon.core.options import BakeOptions

H, W = 5, 7
FRAME = 12


def sample_frame(seed=0, height=H, width=W):
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in ("forward_flow", "backward_flow"):
        flow = rng.normal(scale=30, size=(height, width, 2)).astype(np.float32)
        flow[0, 0] = (0.015625, -511.984375)  # exact multiples of 1/64 near KITTI's limit
        flow[0, 1] = (1e-7, -3.25e4)  # tiny and huge: huge cannot be KITTI flow
        arrays[name] = flow
        arrays[f"{name}_valid"] = rng.random((height, width)) > 0.3
        arrays[f"{name}_valid"][0, :2] = True
    return arrays


def options(folder, **changes):
    return BakeOptions(**{"output_dir": folder, "frame_start": 1, "frame_end": 20, "formats": frozenset(WRITERS),
                          **changes})


def write(fmt, folder, arrays=None, frame=FRAME, **changes):
    arrays = sample_frame() if arrays is None else arrays
    return WRITERS[fmt].write(folder, frame, arrays, options(folder, **changes))


@pytest.mark.parametrize("fmt", EXACT)
def test_lossless_formats_read_back_bit_exact(tmp_path, fmt):
    arrays = sample_frame()
    write(fmt, tmp_path, arrays)
    back = FORMATS[fmt].read(tmp_path, FRAME)
    assert sorted(back) == sorted(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)


def test_flo_keeps_valid_flow_exactly_and_marks_the_rest_unknown(tmp_path):
    arrays = sample_frame()
    write("FLO", tmp_path, arrays)
    back = FORMATS["FLO"].read(tmp_path, FRAME)
    for name in ("forward_flow", "backward_flow"):
        valid = arrays[f"{name}_valid"]
        np.testing.assert_array_equal(back[f"{name}_valid"], valid)
        np.testing.assert_array_equal(back[name][valid], arrays[name][valid])
        assert np.all(back[name][~valid] == 0)


def test_flo_bytes_follow_middlebury(tmp_path):
    arrays = sample_frame()
    write("FLO", tmp_path, arrays)
    data = (tmp_path / f"forward_flow_{FRAME:04d}.flo").read_bytes()
    assert data[:4] == b"PIEH" and struct.unpack("<f", data[:4])[0] == 202021.25
    assert struct.unpack("<ii", data[4:12]) == (W, H) and len(data) == 12 + W * H * 8
    values = np.frombuffer(data[12:], "<f4").reshape(H, W, 2)
    valid = arrays["forward_flow_valid"]
    np.testing.assert_array_equal(values[valid], arrays["forward_flow"][valid])
    assert np.all(values[~valid] > 1e9)  # Middlebury's UNKNOWN_FLOW_THRESH


def test_flo_written_elsewhere_reads_with_unknown_pixels(tmp_path):
    values = np.array([[[1.5, -2], [1e10, 0]], [[0, np.nan], [3, 2e9]]], "<f4")
    (tmp_path / "frame_0001.flo").write_bytes(b"PIEH" + struct.pack("<ii", 2, 2) + values.tobytes())
    arrays = read_flow_file(tmp_path / "frame_0001.flo")
    np.testing.assert_array_equal(arrays["flow_valid"], [[True, False], [False, False]])
    np.testing.assert_array_equal(arrays["flow"][0, 0], [1.5, -2])


def test_kitti_keeps_flow_to_its_quantisation(tmp_path):
    arrays = sample_frame()
    write("KITTI", tmp_path, arrays)
    back = FORMATS["KITTI"].read(tmp_path, FRAME)
    for name in ("forward_flow", "backward_flow"):
        valid = arrays[f"{name}_valid"].copy()
        valid[0, 1] = False  # 32500 px is beyond KITTI's ±512 px: written as invalid, never clipped
        np.testing.assert_array_equal(back[f"{name}_valid"], valid)
        flow = back[name]
        assert np.all(np.abs(flow[valid] - arrays[name][valid]) <= 1 / 128)
        assert np.all(flow * 64 == np.round(flow * 64))  # whole 1/64 px steps
        np.testing.assert_array_equal(flow[0, 0], [0.015625, -511.984375])  # representable values are exact
        assert np.all(flow[~valid] == 0)


def test_kitti_png_bytes_follow_the_devkit(tmp_path):
    arrays = sample_frame()
    write("KITTI", tmp_path, arrays)
    pixels = png_files.read((tmp_path / f"forward_flow_{FRAME:04d}.png").read_bytes())
    assert pixels.dtype == np.uint16 and pixels.shape == (H, W, 3)
    valid = pixels[..., 2] == 1
    flow = arrays["forward_flow"]
    # devkit: u = (R - 2^15) / 64, v = (G - 2^15) / 64 where B > 0
    np.testing.assert_allclose((pixels[valid, :2] - 32768.0) / 64, flow[valid], atol=1 / 128)
    assert np.all(pixels[~valid] == 0)


def test_kitti_values_are_the_nearest_sixty_fourth_with_ties_to_even(tmp_path):
    """Every float32 flow near KITTI's limit and on the ties halfway between two 1/64 steps: the stored value is
    the one rounding in float64 gives (the writer works in float32)."""
    rng = np.random.default_rng(7)
    steps = rng.integers(-32768 * 2, 32767 * 2, (H, W, 2)) / 2  # whole and half 1/64 steps: half are ties
    flow = (steps / 64 + rng.choice([0, 1e-6, -1e-6], (H, W, 2))).astype(np.float32)
    save_kitti(tmp_path / "f.png", flow, np.ones((H, W), bool))
    pixels = png_files.read((tmp_path / "f.png").read_bytes())
    expected = np.rint(flow.astype(np.float64) * 64 + 32768)
    inside = np.all((expected >= 0) & (expected <= 65535), axis=-1)
    assert inside.mean() > 0.9 and np.array_equal(pixels[..., 2] == 1, inside)
    assert np.array_equal(pixels[inside][:, :2], expected[inside])


def test_kitti_flow_at_the_format_limits_is_stored_where_float64_rounding_fits(tmp_path):
    """Flow on the values that round to 0 and 65535 or just past them (ties included), one float32 step to either
    side, and NaN and ±inf, given in float32 and float64: stored, as the writer's float32 value rounded in float64,
    exactly where that value is within 0..65535, else invalid."""
    edges = np.float32([-32768.5, -32767.5, 32766.5, 32767.5]) / np.float32(64)
    values = np.concatenate([edges, np.nextafter(edges, np.float32(np.inf)), np.nextafter(edges, np.float32(-np.inf)),
                             np.float32([np.nan, np.inf, -np.inf, 0])])
    flow = np.dstack(np.meshgrid(values, values))
    stored = np.rint(flow.astype(np.float64) * 64 + 32768)
    with np.errstate(invalid="ignore"):
        inside = np.all((stored >= 0) & (stored <= 65535), axis=-1)
    assert 0.2 < inside.mean() < 0.5
    for given in (flow, flow.astype(np.float64) + 1e-9):  # float64 input is rounded to float32 first
        save_kitti(tmp_path / "f.png", given, np.ones(inside.shape, bool))
        pixels = png_files.read((tmp_path / "f.png").read_bytes())
        np.testing.assert_array_equal(pixels[..., 2] == 1, inside)
        np.testing.assert_array_equal(pixels[inside][:, :2], stored[inside])
        assert np.all(pixels[~inside] == 0)


def test_kitti_png_holds_the_same_pixels_deflated_by_isal_or_zlib(tmp_path, monkeypatch):
    pytest.importorskip("isal")
    arrays = sample_frame(height=40, width=60)
    flow, valid = arrays["forward_flow"], arrays["forward_flow_valid"]
    save_kitti(tmp_path / "isal.png", flow, valid)
    monkeypatch.setattr(png_format, "isal_zlib", lambda: None)  # as where isal is not installed
    save_kitti(tmp_path / "zlib.png", flow, valid)
    by_isal, by_zlib = (tmp_path / "isal.png").read_bytes(), (tmp_path / "zlib.png").read_bytes()
    assert by_isal != by_zlib  # two deflate streams of the same rows
    pixels = png_files.read(by_isal)
    np.testing.assert_array_equal(pixels, png_files.read(by_zlib))
    valid[0, 1] = False  # beyond ±512 px: invalid
    np.testing.assert_array_equal(pixels[..., 2] == 1, valid)
    np.testing.assert_array_equal(pixels[valid, :2], np.rint(flow[valid].astype(np.float64) * 64 + 32768))


def test_kitti_written_elsewhere_reads_like_the_devkit(tmp_path):
    pixels = np.array([[[32768 + 64, 32768 - 32, 1], [40000, 20000, 0]]], np.uint16)
    (tmp_path / "000000_10.png").write_bytes(png_files.write(pixels))
    arrays = read_flow_file(tmp_path / "000000_10.png")
    np.testing.assert_array_equal(arrays["flow"], [[[1.0, -0.5], [0, 0]]])
    np.testing.assert_array_equal(arrays["flow_valid"], [[True, False]])


def test_kitti_as_libpng_writes_it_reads_like_the_devkit(tmp_path):
    """libpng (the KITTI devkit, OpenCV) mixes None, Sub and Up rows on flow with an invalid sky."""
    rows, cols = np.mgrid[0:60, 0:200]
    flow = np.dstack([(cols - 100) * 0.05 - (rows - 30) * 0.01, (rows - 30) * 0.05])
    flow += np.random.default_rng(0).normal(0, 0.3, flow.shape)
    pixels = np.zeros((60, 200, 3), np.uint16)
    pixels[..., :2], pixels[..., 2] = np.rint(flow * 64 + 2 ** 15), 1
    pixels[:20] = 0  # no lidar points: invalid
    data = png_files.with_filter(png_files.write(pixels), png_files.LIBPNG_CHOICE)
    assert set(png_files.row_filters(data)) == {0, 1, 2}
    (tmp_path / "000000_10.png").write_bytes(data)
    arrays = read_flow_file(tmp_path / "000000_10.png")
    np.testing.assert_array_equal(arrays["flow_valid"], rows >= 20)
    np.testing.assert_array_equal(arrays["flow"][:20], 0)
    assert np.abs(arrays["flow"][20:] - flow[20:]).max() <= 1 / 128


PNG_PIXELS = {f"{name}{bits}": np.random.default_rng(channels * bits).integers(
    0, 1 << bits, (9, 11, channels), dtype=np.uint8 if bits == 8 else np.uint16)
    for name, channels in (("grey", 1), ("grey_alpha", 2), ("rgb", 3), ("rgba", 4)) for bits in (8, 16)}


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4, png_files.LIBPNG_CHOICE],
                         ids=["none", "sub", "up", "average", "paeth", "libpng_choice"])
@pytest.mark.parametrize("name", PNG_PIXELS)
def test_png_reader_undoes_every_filter_of_libpng(name, kind):
    pixels = PNG_PIXELS[name]
    data = png_files.with_filter(png_files.write(pixels), kind)
    filters = png_files.row_filters(data)
    assert set(filters) == {kind} if kind != png_files.LIBPNG_CHOICE else len(set(filters)) > 1
    np.testing.assert_array_equal(decode_png(data, "x.png"), pixels)


def test_png_reader_undoes_filters_that_change_from_row_to_row():
    """Bands of three rows that suit different filters, so libpng mixes them down the picture."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:120, 0:300]
    ramp = (cols * 97 + rows * 5000) % 65536  # a steady step from the left: Sub
    same = np.broadcast_to(rng.integers(0, 65536, 300), rows.shape)  # like the row above: Up
    curved = (rows - 60) ** 2 * 3 + (cols - 150) ** 2  # curved both ways: Average or Paeth
    noise = rng.integers(0, 65536, rows.shape)  # nothing to predict: None
    values = np.choose((rows // 3) % 4, [ramp, same, curved, noise]).astype(np.uint16)
    pixels = np.dstack([values, values[::-1], values[:, ::-1]])
    data = png_files.with_filter(png_files.write(pixels), png_files.LIBPNG_CHOICE)
    filters = set(png_files.row_filters(data))
    assert len(filters) >= 3 and filters & {3, 4}
    np.testing.assert_array_equal(decode_png(data, "x.png"), pixels)


@pytest.mark.parametrize("pixels", [PNG_PIXELS["grey8"][..., 0], PNG_PIXELS["grey16"][..., 0],
                                    PNG_PIXELS["rgb8"], PNG_PIXELS["rgb16"],
                                    np.random.default_rng(7).integers(0, 256, (9, 11, 4), dtype=np.uint8)],
                         ids=["grey8", "grey16", "rgb8", "rgb16", "rgba8"])
@pytest.mark.parametrize("level, strategy", [(6, zlib.Z_DEFAULT_STRATEGY), (1, zlib.Z_RLE)])
def test_png_writer_output_reads_with_a_library(pixels, level, strategy):
    data = encode_png(pixels, level, strategy)
    assert set(png_files.row_filters(data)) == {1}  # Sub
    np.testing.assert_array_equal(png_files.read(data).reshape(pixels.shape), pixels)


def test_png_without_metadata_drops_text_and_keeps_the_rest_byte_for_byte(tmp_path):
    plain = png_files.write(PNG_PIXELS["rgb8"])
    extra = png_files.chunk(b"tEXt", b"Date\x002026/01/01") + png_files.chunk(b"pHYs", bytes(9))
    data = plain[:33] + extra + plain[33:]  # after the signature and IHDR
    assert without_metadata(data, "x.png") == plain[:33] + png_files.chunk(b"pHYs", bytes(9)) + plain[33:]
    with pytest.raises(FlowError, match="x.png is truncated: a PNG chunk is cut off"):
        without_metadata(data[:-5], "x.png")
    with pytest.raises(FlowError, match="x.png is not a PNG file"):
        without_metadata(b"GIF89a", "x.png")


def test_pfm_rows_are_bottom_up(tmp_path):
    arrays = sample_frame()
    write("PFM", tmp_path, arrays)
    data = (tmp_path / f"forward_flow_{FRAME:04d}.pfm").read_bytes()
    header = f"PF\n{W} {H}\n-1.0\n".encode()
    assert data.startswith(header)
    first_row = np.frombuffer(data[len(header):len(header) + W * 12], "<f4").reshape(W, 3)
    np.testing.assert_array_equal(first_row[:, :2], arrays["forward_flow"][-1])  # bottom image row comes first
    assert np.all(first_row[:, 2] == 0)
    mask = (tmp_path / f"forward_flow_valid_{FRAME:04d}.pfm").read_bytes()
    assert mask.startswith(f"Pf\n{W} {H}\n-1.0\n".encode())


def test_big_endian_pfm_written_elsewhere(tmp_path):
    rows = np.array([[[1, 2, 0], [3, 4, 0]], [[5, 6, 0], [7, 8, 0]]], ">f4")  # stored bottom row first
    (tmp_path / "disp.pfm").write_bytes(b"PF\n2 2\n1.0\n" + rows.tobytes())
    np.testing.assert_array_equal(load_pfm(tmp_path / "disp.pfm"), [[[5, 6], [7, 8]], [[1, 2], [3, 4]]])


def test_exr_holds_two_float_channels(tmp_path):
    arrays = sample_frame()
    write("EXR", tmp_path, arrays)
    channels = OpenEXR.File(str(tmp_path / f"forward_flow_{FRAME:04d}.exr"), separate_channels=True).channels()
    assert sorted(channels) == ["G", "R"]
    assert channels["R"].pixels.dtype == np.float32
    np.testing.assert_array_equal(channels["R"].pixels, arrays["forward_flow"][..., 0])
    np.testing.assert_array_equal(channels["G"].pixels, arrays["forward_flow"][..., 1])


def test_npz_and_hdf5_hold_every_dataset_of_the_frame(tmp_path):
    arrays = sample_frame()
    write("NPZ", tmp_path, arrays)
    write("HDF5", tmp_path, arrays)
    with np.load(tmp_path / f"flow_{FRAME:04d}.npz") as archive:
        assert sorted(archive.files) == sorted(arrays)
        np.testing.assert_array_equal(archive["backward_flow_valid"], arrays["backward_flow_valid"])
    with h5py.File(tmp_path / f"{FRAME}.hdf5") as file:
        np.testing.assert_array_equal(file["forward_flow"][()], arrays["forward_flow"])


@pytest.mark.parametrize("fmt", ["HDF5", "HDF5_SEQUENCE"])
def test_hdf5_compression_is_the_one_asked_for_and_loses_nothing(tmp_path, fmt):
    smooth = np.round(np.linspace(-40, 40, 48 * 64 * 2, dtype=np.float32).reshape(48, 64, 2) * 4) / 4
    smooth[:16] = 0  # background: compressible, like real flow
    arrays = {"forward_flow": smooth, "forward_flow_valid": smooth[..., 0] != 0}
    sizes = {}
    for compression, (h5_filter, level) in {"NONE": (None, None), "LZF": ("lzf", None), "GZIP": ("gzip", 1)}.items():
        folder = tmp_path / compression
        folder.mkdir()
        [path] = write(fmt, folder, arrays, frame=3, hdf5_compression=compression)
        with h5py.File(path) as file:
            assert (file["forward_flow"].compression, file["forward_flow"].compression_opts) == (h5_filter, level)
            assert file["forward_flow_valid"].compression == h5_filter
        back = FORMATS[fmt].read(folder, 3)
        for name, array in arrays.items():
            np.testing.assert_array_equal(back[name], array)
        sizes[compression] = path.stat().st_size
    assert sizes["NONE"] > smooth.nbytes and max(sizes["LZF"], sizes["GZIP"]) < sizes["NONE"] / 2


def test_blenderproc_hdf5_with_other_datasets_reads_its_products(tmp_path):
    flow = sample_frame()["forward_flow"]
    with h5py.File(tmp_path / "0.hdf5", "w") as file:
        file["colors"] = np.zeros((H, W, 3), np.uint8)
        file["forward_flow"] = flow
        file["normals"] = np.zeros((H, W, 3), np.float32)
        file["category_id_segmaps"] = np.zeros((H, W), np.int64)
    arrays = read_flow_file(tmp_path / "0.hdf5")
    assert list(arrays) == ["colors", "normals", "forward_flow"]
    np.testing.assert_array_equal(arrays["forward_flow"], flow)


def test_a_file_named_like_the_bake_brings_its_whole_frame(tmp_path):
    arrays = sample_frame()
    write("NPY", tmp_path, arrays)
    back = read_flow_file(tmp_path / f"backward_flow_valid_{FRAME:04d}.npy")
    assert sorted(back) == sorted(arrays)
    np.testing.assert_array_equal(back["forward_flow"], arrays["forward_flow"])
    (tmp_path / "my_flow.npy").write_bytes((tmp_path / f"forward_flow_{FRAME:04d}.npy").read_bytes())
    assert list(read_flow_file(tmp_path / "my_flow.npy")) == ["flow"]


def test_first_frame_has_forward_flow_only(tmp_path):
    arrays = {k: v for k, v in sample_frame().items() if k.startswith("forward")}
    for fmt in WRITERS:
        written = write(fmt, tmp_path, arrays, frame=1)
        assert written and not any("backward" in p.name for p in written), fmt
        if fmt in FORMATS:
            assert sorted(FORMATS[fmt].read(tmp_path, 1)) == ["forward_flow", "forward_flow_valid"], fmt


def test_nothing_is_left_under_a_temporary_name(tmp_path):
    for fmt in WRITERS:
        write(fmt, tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


# Bad input: truncated, corrupt or wrong files give a FlowError naming the file, never a library traceback.

def small_files(folder):
    """One small file of each format, named as the bake names them."""
    arrays = sample_frame(height=3, width=4)
    for fmt in FORMATS:
        write(fmt, folder, arrays)
    return [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")]


def test_every_truncation_of_every_file_is_refused_by_name(tmp_path):
    originals = tmp_path / "originals"
    originals.mkdir()
    for original in small_files(originals):
        data = original.read_bytes()
        lengths = range(len(data)) if len(data) < 2000 else range(0, len(data), 97)
        for length in lengths:
            folder = tmp_path / f"cut{length}"
            folder.mkdir(exist_ok=True)
            broken = folder / f"flow{original.suffix}"
            broken.write_bytes(data[:length])
            with pytest.raises(FlowError, match=str(broken)):
                read_flow_file(broken)


@pytest.mark.parametrize("suffix", [".npy", ".flo", ".png", ".pfm", ".npz"])
def test_corrupt_bytes_read_as_flow_or_fail_by_name(tmp_path, suffix):
    """Seeded byte flips: a reader may not notice flipped flow values, but must never crash."""
    original = next(p for p in small_files(tmp_path) if p.suffix == suffix and "valid" not in p.name)
    data = original.read_bytes()
    rng = np.random.default_rng(7)
    broken = tmp_path / f"broken{suffix}"
    refused = 0
    for _ in range(300):
        corrupt = bytearray(data)
        for position in rng.integers(0, len(data), rng.integers(1, 4)):
            corrupt[position] = rng.integers(0, 256)
        broken.write_bytes(bytes(corrupt))
        try:
            arrays = read_flow_file(broken)
        except FlowError as error:
            assert str(broken) in str(error)
            refused += 1
            continue
        for name, array in arrays.items():
            assert array.dtype == (bool if name.endswith("_valid") else np.float32), name
    assert refused > 0


@pytest.mark.parametrize("name, content, message", [
    ("a.flo", b"PIEX" + bytes(20), r"not a Middlebury \.flo file: it starts with b'PIEX', expected b'PIEH'"),
    ("a.flo", b"PIEH" + struct.pack("<ii", 2, 2) + bytes(30), r"holds 42 bytes; a 2×2 \.flo file has 44"),
    ("a.flo", b"PIEH" + struct.pack("<ii", -2, 2), r"impossible \.flo size -2×2"),
    ("a.pfm", b"P6\n2 2\n255\n" + bytes(12), r"not a PFM file"),
    ("a.pfm", b"PF\n2 2\n-1.0\n" + bytes(40), r"holds 40 bytes of pixels; a 2×2 PFM with 3 channel\(s\) has 48"),
    ("a.pfm", b"Pf\n2 2\n-1.0\n" + bytes(16), r"has 1 channel\(s\); a flow PFM has 3"),
    ("a.pfm", b"PF\ntwo 2\n-1.0\n", r"broken PFM header"),
    ("a.png", b"GIF89a" + bytes(30), r"not a PNG file"),
    ("a.png", png_files.write(np.zeros((2, 2, 3), np.uint8)),
     r"8-bit samples and 3 channel\(s\); KITTI flow is a 16-bit RGB PNG"),
    ("a.png", png_files.write(np.zeros((2, 2, 3), np.uint16)).replace(b"\x00\x00\x00\x02\x00\x00\x00\x02",
                                                                     b"\x00\x00\x00\x03\x00\x00\x00\x02"),
     r"checksum of its IHDR chunk"),
    ("a.npz", b"not a zip file", r"not a \.npz file"),
    ("a.txt", b"", r"expected one of \.npy"),
])
def test_bad_files_are_explained(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FlowError, match=message) as error:
        read_flow_file(tmp_path / name)
    assert str(tmp_path / name) in str(error.value)


def test_corrupt_png_checksum_is_named(tmp_path):
    data = bytearray(png_files.write(np.zeros((2, 2, 3), np.uint16)))
    data[-20] ^= 0xFF  # inside the IDAT chunk
    (tmp_path / "a.png").write_bytes(bytes(data))
    with pytest.raises(FlowError, match=r"a\.png is corrupt: the checksum of its IDAT chunk does not match"):
        read_flow_file(tmp_path / "a.png")


@pytest.mark.parametrize("array, message", [
    (np.zeros((3, 4, 2), np.float64), r"flow should be float32 H×W×2, found float64 with shape \(3, 4, 2\)"),
    (np.zeros((3, 4, 3), np.float32), r"flow should be float32 H×W×2, found float32 with shape \(3, 4, 3\)"),
    (np.zeros(5, object), r"holds Python objects"),
])
def test_npy_of_the_wrong_kind_is_named(tmp_path, array, message):
    np.save(tmp_path / "f.npy", array, allow_pickle=True)
    with pytest.raises(FlowError, match=message):
        read_flow_file(tmp_path / "f.npy")


def test_masks_of_the_wrong_type_or_size_are_named(tmp_path):
    arrays = sample_frame()
    write("NPY", tmp_path, arrays)
    np.save(tmp_path / f"forward_flow_valid_{FRAME:04d}.npy", arrays["forward_flow_valid"].astype(np.uint8))
    with pytest.raises(FlowError, match=r"forward_flow_valid should be bool H×W, found uint8"):
        FORMATS["NPY"].read(tmp_path, FRAME)
    np.save(tmp_path / f"forward_flow_valid_{FRAME:04d}.npy", np.ones((2, 2), bool))
    with pytest.raises(FlowError, match=r"differ in size \(forward_flow 5×7, forward_flow_valid 2×2"):
        FORMATS["NPY"].read(tmp_path, FRAME)


def test_hdf5_and_exr_of_the_wrong_kind_are_named(tmp_path):
    with h5py.File(tmp_path / "3.hdf5", "w") as file:
        file["forward_flow"] = np.zeros((3, 4, 2))
    with pytest.raises(FlowError, match=r"3\.hdf5: forward_flow should be float32 H×W×2, found float64"):
        read_flow_file(tmp_path / "3.hdf5")
    with h5py.File(tmp_path / "4.hdf5", "w") as file:
        file["colors"] = np.zeros((3, 4, 3), np.uint8)
    with pytest.raises(FlowError, match=r"4\.hdf5 holds no forward_flow or backward_flow dataset \(it holds: colors\)"):
        read_flow_file(tmp_path / "4.hdf5")
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": np.zeros((3, 4), np.float32)}).write(str(tmp_path / "d.exr"))
    with pytest.raises(FlowError, match=r"d\.exr has channels Z; a flow EXR needs R \(x\) and G \(y\)"):
        read_flow_file(tmp_path / "d.exr")
    integers = {"R": np.zeros((3, 4), np.uint32), "G": np.zeros((3, 4), np.uint32)}
    OpenEXR.File({"type": OpenEXR.scanlineimage}, integers).write(str(tmp_path / "u.exr"))
    with pytest.raises(FlowError, match=r"u\.exr: channels R, G hold uint32; expected float32 or half"):
        read_flow_file(tmp_path / "u.exr")


def test_kitti_reader_rejects_a_picture_of_flow(tmp_path):
    write("PICTURE", tmp_path)
    with pytest.raises(FlowError, match="cannot be read back as flow"):
        read_flow_file(tmp_path / f"forward_flow_picture_{FRAME:04d}.png")


def test_missing_file_and_frame_of_a_single_frame_file(tmp_path):
    with pytest.raises(FlowError, match=r"Flow file .*nothing\.flo does not exist"):
        read_flow_file(tmp_path / "nothing.flo")
    write("FLO", tmp_path)
    with pytest.raises(FlowError, match="holds one frame"):
        read_flow_file(tmp_path / f"forward_flow_{FRAME:04d}.flo", frame=3)


def test_truncated_exr_is_called_truncated(tmp_path):
    write("EXR", tmp_path)
    path = tmp_path / f"forward_flow_{FRAME:04d}.exr"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(FlowError, match=r"forward_flow_0012\.exr: it is truncated or damaged"):
        read_flow_file(path)


def test_frame_conversion_writes_every_format_with_the_npy_numbers(tmp_path):
    from test_core_files import sample_passes, write_blender_exr
    from optical_flow_addon.core.frame import convert_frame, planned_paths

    vector, depth = sample_passes()
    vector *= 3
    write_blender_exr(tmp_path / "f.exr", vector, depth)
    out = tmp_path / "out"
    out.mkdir()
    bake = BakeOptions(output_dir=out, frame_start=3, frame_end=5, formats=frozenset(WRITERS), occlusion=False)
    written = [p for frame in (3, 4, 5) for p in convert_frame({"flow": tmp_path / "f.exr"}, "ViewLayer", frame, bake)]
    assert sorted({p.name for p in written}) == sorted(p.name for p in out.iterdir())
    assert [p.name for p in planned_paths(bake)].count("flow_sequence.hdf5") == 1
    assert {p.name for p in planned_paths(bake)} == {p.name for p in written} | {"manifest.json"}
    for frame in (3, 4, 5):
        npy = FORMATS["NPY"].read(out, frame)
        for fmt in FORMATS:
            assert_same_flow(fmt, FORMATS[fmt].read(out, frame), npy)


def test_png_that_unpacks_to_more_than_its_size_is_refused_without_unpacking_it(tmp_path):
    header = struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)
    bomb = zlib.compress(bytes(50_000_000), 9)  # 50 MB of zeros in about 50 kB
    data = b"\x89PNG\r\n\x1a\n" + png_files.chunk(b"IHDR", header) + png_files.chunk(b"IDAT", bomb)
    (tmp_path / "bomb.png").write_bytes(data + png_files.chunk(b"IEND", b""))
    with pytest.raises(FlowError, match=r"bomb\.png holds more than 27 bytes of image data; a 2×2 PNG needs 26"):
        read_flow_file(tmp_path / "bomb.png")
