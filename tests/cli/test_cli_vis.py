"""``python -m optical_flow_addon vis`` as users run it, in a fresh process (no bpy needed)."""
import colorsys
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import png_files
from optical_flow_addon.core.flow_files import WRITERS
from optical_flow_addon.core.formats.kitti import save_kitti_disparity
from optical_flow_addon.core.formats.pfm import save_pfm
from optical_flow_addon.core.formats.sintel import save_disparity
from optical_flow_addon.core.formats.picture import GAP, GREY
from optical_flow_addon.core.layouts import FLYINGTHINGS3D, KITTI, SINTEL, Sequence, flyingthings3d, kitti, sintel
from optical_flow_addon.core.overview import HEADER
from optical_flow_addon.core.options import BakeOptions

ROOT = Path(__file__).resolve().parents[2]
H, W = 60, 80  # enlarged 4× to 240 px


def vis(*arguments):
    """Run without a display, as on a server."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "optical_flow_addon", "vis", *map(str, arguments)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=environment)


def bake_files(folder, fmt, blender_style=False):
    """Frame 3: forward flow 1 px right (top-left pixel invalid), backward flow 1 px down."""
    forward, backward = np.zeros((H, W, 2), np.float32), np.zeros((H, W, 2), np.float32)
    forward[..., 0] = 1
    backward[..., 1] = -1 if blender_style else 1
    valid = np.ones((H, W), bool)
    valid[0, 0] = False
    arrays = {"forward_flow": forward, "forward_flow_valid": valid,
              "backward_flow": backward, "backward_flow_valid": np.ones((H, W), bool)}
    options = BakeOptions(output_dir=folder, frame_start=1, frame_end=5, formats=frozenset({fmt}),
                          blender_image_coordinate_style=blender_style)
    return WRITERS[fmt].write(folder, 3, arrays, options)


def panels(path):
    """The picture's panels, below the strip of their names (each name's white text above its panel)."""
    picture = png_files.read(path.read_bytes())
    tile = W * 4
    assert picture.shape == (HEADER + 240, 4 * tile + 240 + 4 * GAP, 3)
    starts = [i * (tile + GAP) for i in range(5)]
    for start in starts:
        assert picture[:HEADER, start:start + 40].max() > 200, start  # a label's white text on grey
    assert (picture[:HEADER, tile:tile + GAP] == GREY).all()  # nothing between the labels
    picture = picture[HEADER:]
    return [picture[:, start:start + tile] for start in starts[:4]] + [picture[:, -240:]]


def test_vis_writes_forward_backward_masks_and_wheel_for_every_format(tmp_path):
    for fmt in ("NPY", "NPZ", "FLO", "KITTI", "PFM", "EXR", "HDF5", "HDF5_SEQUENCE"):
        folder = tmp_path / fmt
        folder.mkdir()
        written = bake_files(folder, fmt)
        frame = ["--frame", 3] if fmt == "HDF5_SEQUENCE" else []
        result = vis(written[0], "--output", folder / "vis.png", *frame)
        assert result.returncode == 0, (fmt, result.stderr)
        assert "forward flow | backward flow | forward flow mask | backward flow mask | colour wheel; " \
               "the rim of the colour wheel is 1 px of flow." in result.stdout, result.stdout
        forward, backward, forward_mask, backward_mask, wheel = panels(folder / "vis.png")
        np.testing.assert_array_equal(forward[-1, -1], [255, 0, 0], err_msg=fmt)  # right: red
        np.testing.assert_array_equal(forward[0, 0], [0, 0, 0], err_msg=fmt)  # invalid: black
        assert backward[-1, -1][0] == 255 and backward[-1, -1][2] == 0, fmt  # down: orange-yellow
        assert forward_mask[0, 0].max() == 0 and forward_mask[-1, -1].min() == 255, fmt
        assert backward_mask.min() == 255, fmt
        assert wheel[120, 238][0] == 255 and wheel[120, 238][1:].max() < 10, fmt


def test_vis_turns_blender_style_flow_to_screen_directions(tmp_path):
    written = bake_files(tmp_path, "FLO", blender_style=True)
    (tmp_path / "manifest.json").write_text(json.dumps({"blender_image_coordinate_style": True}))
    assert vis(written[0], "--output", tmp_path / "vis.png").returncode == 0
    backward = panels(tmp_path / "vis.png")[1]
    assert backward[-1, -1][0] == 255 and backward[-1, -1][2] == 0  # stored y up (-1) is down on screen


def test_vis_fixed_scale_and_refusals(tmp_path):
    written = bake_files(tmp_path, "NPY")
    result = vis(written[0], "--output", tmp_path / "vis.png", "--max-radius", 2)
    assert result.returncode == 0 and "wheel is 2 px of flow" in result.stdout
    np.testing.assert_array_equal(panels(tmp_path / "vis.png")[0][-1, -1], [255, 127, 127])  # half way to the rim
    result = vis(written[0], "--output", tmp_path / "vis.png")
    assert result.returncode == 1 and "vis.png already exists; add --overwrite" in result.stderr
    result = vis(written[0], "--output", tmp_path / "v.png", "--max-radius", -1)
    assert result.returncode == 1 and "--max-radius -1.0 is not a flow length" in result.stderr
    assert vis(written[0], "--output", tmp_path / "vis.png", "--overwrite").returncode == 0
    result = vis(written[0])
    assert result.returncode == 1 and "no display to show the picture on: write it with --output" in result.stderr
    (tmp_path / "broken.flo").write_bytes(b"PIEH\x02\x00")
    result = vis(tmp_path / "broken.flo", "--output", tmp_path / "b.png")
    assert result.returncode == 1 and "broken.flo is truncated" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "b.png").exists()


def test_vis_of_a_flyingthings3d_pfm_masks_its_unknown_flow(tmp_path):
    """FlyingThings3D's .pfm holds no mask: its unknown flow (1e10, as in .flo) is invalid, not a motion."""
    from optical_flow_addon.core.formats.pfm import save_pfm

    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 1
    valid = np.ones((H, W), bool)
    valid[:, : W // 2] = False  # stored as 1e10
    path = tmp_path / "OpticalFlowIntoFuture_0000_L.pfm"
    save_pfm(path, flow, valid)
    result = vis(path, "--output", tmp_path / "vis.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("flow | flow mask | colour wheel; the rim of the colour wheel is 1 px of flow.\n"), \
        result.stdout
    picture = png_files.read((tmp_path / "vis.png").read_bytes())[HEADER:]  # below the panels' names
    tile = W * 4
    shown, mask = picture[:, :tile], picture[:, tile + GAP:2 * tile + GAP]
    np.testing.assert_array_equal(shown[-1, 0], [0, 0, 0])  # unknown: black, as invalid flow
    np.testing.assert_array_equal(shown[-1, -1], [255, 0, 0])  # 1 px right at the rim: red
    assert mask[:, : tile // 2].max() == 0 and mask[:, tile // 2:].min() == 255


def truth_arrays():
    """Disparity rising left to right (the left quarter without a surface), two instances on the background and
    normals facing the camera (+z in the camera axes), on the left half, and facing right (+x) on the right half."""
    disparity = np.tile(np.linspace(0, 8, W, dtype=np.float32), (H, 1))
    valid = np.ones((H, W), bool)
    valid[:, : W // 4] = False
    segmentation = np.zeros((H, W), np.uint16)
    segmentation[:, W // 4: W // 2], segmentation[:, W // 2:] = 1, 7
    normals = np.zeros((H, W, 3), np.float32)
    normals[:, : W // 2, 2], normals[:, W // 2:, 0] = 1, 1
    return {"disparity": np.where(valid, disparity, 0), "disparity_valid": valid, "segmentation": segmentation,
            "normals": normals}


def test_vis_draws_disparity_segmentation_and_normals(tmp_path):
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=5, formats=frozenset({"NPY"}))
    WRITERS["NPY"].write(tmp_path, 3, truth_arrays(), options)
    result = vis(tmp_path / "segmentation_0003.npy", "--output", tmp_path / "vis.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(": disparity | segmentation | normals.\n"), result.stdout
    picture = png_files.read((tmp_path / "vis.png").read_bytes())
    tile = W * 4
    assert picture.shape == (HEADER + 240, 3 * tile + 2 * GAP, 3)
    disparity, segmentation, normals = (picture[HEADER:, i * (tile + GAP):i * (tile + GAP) + tile] for i in range(3))
    np.testing.assert_array_equal(disparity[5, 5], [0, 0, 0])  # no surface: black
    np.testing.assert_array_equal(disparity[5, -1], [255, 0, 0])  # the largest disparity: the warm end, red
    assert disparity[5, tile // 4 + 4][2] > 100 and disparity[5, tile // 4 + 4][0] == 0  # small: cold, blue
    np.testing.assert_array_equal(segmentation[5, 5], [0, 0, 0])  # background: black
    first, second = segmentation[5, tile // 4 + 4], segmentation[5, -1]
    assert first.min() >= 64 and second.min() >= 64 and (first != second).any()  # each instance its own colour
    assert (segmentation[:, tile // 4 + 4:tile // 2] == first).all()
    np.testing.assert_array_equal(normals[5, 5], [128, 128, 255])  # (n + 1) / 2: facing the camera, blue
    np.testing.assert_array_equal(normals[5, -1], [255, 128, 128])  # facing right: red


def test_vis_puts_truth_beside_the_flow_of_a_frame_file_and_refuses_files_without_either(tmp_path):
    bake_files(tmp_path, "HDF5")
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=5, formats=frozenset({"HDF5"}), overwrite=True)
    WRITERS["HDF5"].write(tmp_path, 3, {**WRITERS["HDF5"].read(tmp_path, 3), **truth_arrays()}, options)
    result = vis(tmp_path / "3.hdf5", "--output", tmp_path / "vis.png")
    assert result.returncode == 0, result.stderr
    assert ": forward flow | backward flow | forward flow mask | backward flow mask | colour wheel | disparity | " \
           "segmentation | normals; the rim of the colour wheel is 1 px of flow." in result.stdout, result.stdout
    np.save(tmp_path / "depth_0004.npy", np.ones((H, W), np.float32))
    result = vis(tmp_path / "depth_0004.npy", "--output", tmp_path / "depth.png")
    assert result.returncode == 1 and "holds no flow, disparity, segmentation or normals (it holds: depth)" \
        in result.stderr and "Traceback" not in result.stderr


def test_vis_draws_springs_flo5_and_dsp5_with_nan_as_no_truth(tmp_path):
    """Spring's truth files (twice the image size, NaN where there is none): flow with its mask, and disparity."""
    from optical_flow_addon.core.formats.spring import save_dsp5, save_flo5

    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 1
    valid = np.ones((H, W), bool)
    valid[:, : W // 2] = False
    save_flo5(tmp_path / "flow_FW_left_0001.flo5", flow, valid)
    result = vis(tmp_path / "flow_FW_left_0001.flo5", "--output", tmp_path / "flow.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(": flow | flow mask | colour wheel; the rim of the colour wheel is 1 px of flow.\n")
    picture = png_files.read((tmp_path / "flow.png").read_bytes())[HEADER:]
    shown = picture[:, :W * 4]
    np.testing.assert_array_equal(shown[5, 5], [0, 0, 0])  # NaN: no truth, black
    np.testing.assert_array_equal(shown[5, -1], [255, 0, 0])
    truth = truth_arrays()
    save_dsp5(tmp_path / "disp1_left_0001.dsp5", truth["disparity"], truth["disparity_valid"])
    result = vis(tmp_path / "disp1_left_0001.dsp5", "--output", tmp_path / "disparity.png")
    assert result.returncode == 0 and result.stdout.endswith(": disparity.\n"), result.stdout + result.stderr
    disparity = png_files.read((tmp_path / "disparity.png").read_bytes())[HEADER:]
    np.testing.assert_array_equal(disparity[5, 5], [0, 0, 0])
    np.testing.assert_array_equal(disparity[5, -1], [255, 0, 0])


def layout_file(tmp_path, layout, arrays, *folders):
    """The file that ``layout`` writes for frame 2 of a stereo sequence into the folder(s) named, by its own saver."""
    sequence = Sequence(tmp_path, "scene", 1, 3, stereo=True)
    output = next(o for o in layout.outputs(sequence, 2) if set(folders) <= set(o.path.parent.parts))
    output.path.parent.mkdir(parents=True)
    output.save(output.path, *(arrays[name] for name in output.products))
    return output.path


def stereo_arrays(change):
    """truth_arrays' disparity ramp (the left quarter without a surface) with the layouts' masks, none set, and
    ``change`` as the forward disparity change (its negative backward)."""
    truth, none = truth_arrays(), np.zeros((H, W), bool)
    return {"disparity": truth["disparity"], "disparity_valid": truth["disparity_valid"], "disparity_occluded": none,
            "disparity_outside": none, "forward_flow_valid": ~none, "forward_flow_occluded": none,
            "forward_disparity_change": change, "backward_disparity_change": -change}


def hues(row):
    """Each pixel's hue in degrees (red 0, yellow 60, cyan 180, blue 240)."""
    return np.array([colorsys.rgb_to_hsv(*(pixel / 255))[0] * 360 for pixel in row])


@pytest.mark.parametrize("layout, folder", [(KITTI, folder) for folder in kitti.DISPARITY_FOLDERS]
                         + [(SINTEL, sintel.DISPARITY_FOLDER), (FLYINGTHINGS3D, flyingthings3d.DISPARITY_FOLDER)])
def test_vis_draws_the_disparity_files_of_the_stereo_layouts(tmp_path, layout, folder):
    """KITTI's 16-bit PNG (0: no truth), Sintel's RGB PNG and FlyingThings3D's PFM (0: no surface), written by each
    layout; KITTI's disp_*_1 hold the disparity at the next frame, here 0.5 px more."""
    path = layout_file(tmp_path, layout, stereo_arrays(np.full((H, W), 0.5, np.float32)), folder)
    result = vis(path, "--output", tmp_path / "vis.png")
    assert result.returncode == 0 and result.stdout.endswith(": disparity.\n"), result.stdout + result.stderr
    picture = png_files.read((tmp_path / "vis.png").read_bytes())
    tile = W * 4
    assert picture.shape == (HEADER + 240, tile, 3)
    disparity = picture[HEADER:]
    assert disparity[:, : tile // 4].max() == 0  # no truth: black, as vis draws .npy's disparity
    for row in disparity[::37, tile // 4:]:  # the ramp: far (blue) to near (red) through cyan and yellow
        shown = hues(row)
        assert (np.diff(shown) <= 1e-6).all() and shown[0] > 200, shown
        assert row[0][0] == 0 and row[0][2] == 255  # the smallest disparity shown: blue, cold
        np.testing.assert_array_equal(row[-1], [255, 0, 0])  # the largest: the warm end, red


def test_vis_draws_flyingthings3d_disparity_change_signed_and_its_flow_by_its_channels(tmp_path):
    """Disparity change (one channel, in disparity_change/into_future or into_past) on a diverging scale; a PFM of
    three channels is flow even under a folder named disparity."""
    change = np.tile(np.linspace(-4, 4, W, dtype=np.float32), (H, 1))
    path = layout_file(tmp_path, FLYINGTHINGS3D, stereo_arrays(change), flyingthings3d.DISPARITY_CHANGE_FOLDER,
                       "into_future", "left")
    result = vis(path, "--output", tmp_path / "vis.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(": forward disparity change (blue -, white 0, red +).\n"), result.stdout
    shown = png_files.read((tmp_path / "vis.png").read_bytes())[HEADER:].astype(int)
    assert shown.shape == (240, W * 4, 3)
    for row in shown[::37]:
        np.testing.assert_array_equal(row[0], [0, 0, 255])  # −4 px: blue
        np.testing.assert_array_equal(row[-1], [255, 0, 0])  # +4 px: red
        assert row[len(row) // 2].min() > 240  # about 0: white
        assert (np.diff(row[:, 0]) >= 0).all() and (np.diff(row[:, 2]) <= 0).all()  # bluer to redder along the ramp
    path = layout_file(tmp_path, FLYINGTHINGS3D, stereo_arrays(change), flyingthings3d.DISPARITY_CHANGE_FOLDER,
                       "into_past", "left")
    result = vis(path, "--output", tmp_path / "past.png")
    assert result.returncode == 0 and result.stdout.endswith(": backward disparity change (blue -, white 0, red +).\n")
    assert (png_files.read((tmp_path / "past.png").read_bytes())[HEADER:, 0] == [255, 0, 0]).all()  # −(−4) px: red
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 1
    root = tmp_path / flyingthings3d.DISPARITY_FOLDER
    path = layout_file(root, FLYINGTHINGS3D, {"forward_flow": flow, "forward_flow_valid": np.ones((H, W), bool)},
                       "optical_flow", "into_future", "left")
    result = vis(path, "--output", tmp_path / "flow.png")
    assert result.returncode == 0 and ": flow | colour wheel;" in result.stdout, result.stdout + result.stderr


def test_vis_names_the_stereo_file_it_cannot_read_and_what_it_expected(tmp_path):
    disparity, valid = truth_arrays()["disparity"], truth_arrays()["disparity_valid"]
    files = {f"{kitti.DISPARITY_FOLDERS[0]}/garbled.png": (b"GIF89a" + bytes(30), "is not a PNG file"),
             f"{kitti.DISPARITY_FOLDERS[1]}/sintel.png": (save_disparity, "KITTI's disparity is a 16-bit grey PNG"),
             f"{sintel.DISPARITY_FOLDER}/scene/kitti.png": (save_kitti_disparity,
                                                           "Sintel's disparity is an 8-bit RGB PNG"),
             f"{flyingthings3d.DISPARITY_FOLDER}/left/garbled.pfm": (b"P6\n2 2\n255\n" + bytes(12),
                                                                     "is not a PFM file"),
             f"{flyingthings3d.DISPARITY_CHANGE_FOLDER}/left/0000.pfm": (
                 save_pfm, "not under into_future or into_past: expected FlyingThings3D's layout"),
             "disparity.txt": (b"8 8 8", "expected one of .npy")}
    for name, (content, message) in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content(path, *((disparity, valid) if content is save_kitti_disparity else (disparity,)))
        result = vis(path, "--output", tmp_path / "vis.png")
        assert result.returncode == 1 and f"{path}" in result.stderr and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "vis.png").exists()
