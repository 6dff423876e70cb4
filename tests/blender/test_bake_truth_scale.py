"""Truth at twice the resolution per axis (Spring's 2×2 samples per image pixel) against the triangle ray caster:
each of a pixel's four samples is the flow of the surface point under its own point, in image pixels; the image
keeps the scene's resolution."""
import dataclasses
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from flow_checks import edges  # noqa: E402


def test_each_of_a_pixels_four_samples_is_exact_at_its_own_point(tmp_path):
    scene, _ = scenes.occlusion_scene(3)
    scene.render.engine, scene.cycles.samples = "CYCLES", 1
    out = tmp_path / "scaled"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), truth_scale=2, render_images=True,
                                            render_depth=True) == {"FINISHED"}
    width, height = scene.render.resolution_x, scene.render.resolution_y
    assert scenes.png_pixels(out / "colors_0001.png").shape[:2] == (height, width)
    flow = np.load(out / "forward_flow_0001.npy")
    valid, occluded = np.load(out / "forward_flow_valid_0001.npy"), np.load(out / "forward_flow_occluded_0001.npy")
    assert flow.shape == (2 * height, 2 * width, 2) and np.load(out / "depth_0001.npy").shape == (2 * height, 2 * width)
    triangles_at, camera = scenes.rendered_triangles(scene), scenes.scene_camera(scene)
    triangles_at(1)  # fills its owners
    owners = np.unique(triangles_at.owners[1], return_inverse=True)[1]
    worst, agree, judged = 0.0, 0, 0
    for i in (0, 1):
        for j in (0, 1):
            offset = (-0.25 + 0.5 * j, -0.25 + 0.5 * i)  # the sample's point, from the pixel centre (x right, y down)
            index, expected, hidden, _ = triangle_ground_truth.surface_motion(triangles_at, camera, 1, 2, offset)
            expected = expected - np.array(offset)  # the reference measures from the pixel centre
            hit = index >= 0
            away = hit & ~edges(np.where(hit, owners[np.maximum(index, 0)], -1))
            ours, ours_valid = flow[i::2, j::2], valid[i::2, j::2]
            usable = away & ours_valid
            worst = max(worst, float(np.abs(ours - expected)[usable].max()))
            agree += int((occluded[i::2, j::2] == hidden)[usable].sum())
            judged += int(usable.sum())
    print(f"truth scale 2: worst flow error {worst:.1e} px over the four samples, occlusion agrees on "
          f"{agree}/{judged}")
    assert worst <= 1e-3 and agree >= 0.995 * judged
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["truth_scale"] == 2 and manifest["resolution"] == {"width": width, "height": height}


@pytest.mark.any_blender_line  # the files and refusals of the core, checked above on every line: one is enough
def test_a_layout_whose_truth_is_the_size_of_its_images_refuses_a_finer_scale(tmp_path):
    scenes.occlusion_scene(2)
    with pytest.raises(RuntimeError, match="SINTEL layout holds truth the size of its images"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), truth_scale=2, layout="SINTEL")


def test_a_bake_at_truth_scale_2_resumes_keeping_its_whole_frames(tmp_path):
    """The images are the scene's size and every other file twice that per axis: a resume keeps them all."""
    from optical_flow_addon.blender.bake import bake_flow
    from optical_flow_addon.core.options import BakeOptions

    scene, _ = scenes.occlusion_scene(3)
    scene.render.engine, scene.cycles.samples = "CYCLES", 1
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=3, overwrite=True, truth_scale=2,
                          render_images=True, segmentation=True, normals=True,
                          formats=frozenset({"NPY", "HDF5", "HDF5_SEQUENCE", "EXR", "PICTURE"}))
    list(bake_flow(scene, options))
    written = {path: path.stat().st_mtime_ns for path in tmp_path.iterdir() if path.name != "manifest.json"}
    assert np.load(tmp_path / "normals_0001.npy").shape[:2] == (2 * scene.render.resolution_y,
                                                                 2 * scene.render.resolution_x)
    progress = list(bake_flow(scene, dataclasses.replace(options, overwrite=False), resume=True))
    assert progress == [] or "kept the 3 frames already whole, baked the other 0" in " ".join(progress[-1].notes)
    assert {path: path.stat().st_mtime_ns for path in written} == written
