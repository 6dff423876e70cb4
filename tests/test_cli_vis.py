"""``python -m optical_flow_addon vis`` as users run it, in a fresh process (no bpy needed)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import png_files
from optical_flow_addon.core.flow_files import WRITERS
from optical_flow_addon.core.formats.picture import GAP, GREY
from optical_flow_addon.core.overview import HEADER
from optical_flow_addon.core.options import BakeOptions

ROOT = Path(__file__).resolve().parents[1]
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
