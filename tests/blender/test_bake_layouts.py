"""Real bakes into the training layouts, loaded with torchvision's own dataset classes (in their own environment)."""
import json
import subprocess

import pytest

bpy = pytest.importorskip("bpy")

from environments import venv_python  # noqa: E402
from test_bake_images import lit_scene  # noqa: E402


# Runs in the torch environment: every sample torchvision loads, against the BlenderProc-layout bake of the same scene.
LOAD = """
import json, sys
from pathlib import Path
import numpy as np
from PIL import Image
from torchvision.datasets import FlyingThings3D, KittiFlow, Sintel

root, reference, frames = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
colors = {f: np.asarray(Image.open(reference / f"colors_{f:04d}.png").convert("RGB")) for f in frames}
flows = {f: (np.load(reference / f"forward_flow_{f:04d}.npy"), np.load(reference / f"forward_flow_valid_{f:04d}.npy"))
         for f in frames[:-1]}
report = {}
for name, dataset in (("SINTEL", Sintel(root, pass_name="clean")), ("KITTI", KittiFlow(root)),
                      ("FLYINGTHINGS3D", FlyingThings3D(root, pass_name="clean", camera="left"))):
    worst, valid_mismatch, images_equal = 0.0, 0, True
    for index in range(len(dataset)):
        image1, image2, flow, *valid = dataset[index]
        first = frames[index % (len(frames) - 1)] if name != "FLYINGTHINGS3D" else frames[index]
        if name == "FLYINGTHINGS3D" and index >= len(frames) - 1:
            break  # the into_past half: checked in the core tests
        images_equal &= bool((np.asarray(image1) == colors[first]).all()
                             and (np.asarray(image2) == colors[first + 1]).all())
        expected, mask = flows[first]
        worst = max(worst, float(np.abs(flow.transpose(1, 2, 0)[mask] - expected[mask]).max()))
        if valid and valid[0] is not None:
            valid_mismatch += int((valid[0] != mask).sum())
    report[name] = {"samples": len(dataset), "worst": worst, "images_equal": images_equal,
                    "valid_mismatch": valid_mismatch}
print(json.dumps(report))
"""


def test_each_layout_loads_in_torchvision_with_the_baked_images_and_flow(tmp_path):
    scene, _ = lit_scene(samples=2)
    reference, root = tmp_path / "blenderproc", tmp_path / "datasets"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(reference), render_images=True,
                                            output_formats={"NPY"}) == {"FINISHED"}
    for layout in ("SINTEL", "KITTI", "FLYINGTHINGS3D"):
        assert bpy.ops.optical_flow.render_flow(output_dir=str(root), layout=layout, sequence="shot") == {"FINISHED"}
    assert (root / "Sintel" / "shot.manifest.json").is_file() and not (root / "manifest.json").exists()
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    result = subprocess.run([venv_python("torch"), "-c", LOAD, str(root), str(reference), json.dumps(frames)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for layout, figures in report.items():
        assert figures["images_equal"], layout
        assert figures["samples"] == (2 if layout == "FLYINGTHINGS3D" else 1) * (len(frames) - 1), layout
    assert report["SINTEL"]["worst"] == 0 and report["FLYINGTHINGS3D"]["worst"] == 0  # .flo and .pfm are exact
    assert report["KITTI"]["worst"] <= 1 / 64 and report["KITTI"]["valid_mismatch"] == 0


def test_a_second_sequence_joins_the_root_and_refusals_come_before_rendering(tmp_path):
    lit_scene(samples=1)  # a layout renders images: Cycles, quick
    root = tmp_path / "datasets"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(root), layout="SINTEL", sequence="first") == {"FINISHED"}
    first = sorted(path for path in (root / "Sintel").rglob("*") if path.is_file())
    stamps = {path: path.stat().st_mtime_ns for path in first}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(root), layout="SINTEL", sequence="second") == {"FINISHED"}
    assert {path: path.stat().st_mtime_ns for path in first if path in stamps} == stamps  # the first is untouched
    assert len(list((root / "Sintel" / "training" / "flow").glob("*/*.flo"))) == 8  # 4 pairs in each sequence
    with pytest.raises(RuntimeError, match=r"Sequence 'first' already has .* turn on Overwrite"):
        bpy.ops.optical_flow.render_flow(output_dir=str(root), layout="SINTEL", sequence="first")
    with pytest.raises(RuntimeError, match=r"The KITTI layout holds OpenCV-style flow"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "k"), layout="KITTI", sequence="s",
                                         blender_image_coordinate_style=True)
    assert not list((tmp_path / "k").glob("**/*.png"))
    shorter = dict(use_scene_frame_range=False, frame_start=1, frame_end=3)
    bpy.context.scene.frame_end = 3
    assert bpy.ops.optical_flow.render_flow(output_dir=str(root), layout="SINTEL", sequence="first", overwrite=True,
                                            **shorter) == {"FINISHED"}
    flows = sorted(p.name for p in (root / "Sintel" / "training" / "flow" / "first").iterdir())
    assert flows == ["frame_0001.flo", "frame_0002.flo"]  # the earlier, longer bake's files are gone
