"""Images and depth in the same bake as the flow, on real Cycles renders."""
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from blender_state import snapshot  # noqa: E402
from environments import venv_python  # noqa: E402
from ground_truth import OFFSETS, pixel_rays, trace  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def lit_scene(samples: int = 4):
    """The camera-motion scene with coloured boxes, a sun and Cycles: images worth comparing."""
    scene, objects = scenes.camera_motion_scene()
    for obj, colour in zip(objects, [(0.8, 0.8, 0.8, 1), (0.9, 0.2, 0.1, 1), (0.1, 0.3, 0.9, 1)]):
        material = bpy.data.materials.new(obj.name)
        if bpy.app.version < (5, 0, 0):
            material.use_nodes = True
        material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = colour
        obj.data.materials.append(material)
    bpy.ops.object.light_add(type="SUN", location=(0, 0, 10), rotation=(0.5, 0.3, 0))
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.frame_set(1)
    return scene, objects


@pytest.mark.parametrize("transparent", [False, True], ids=["opaque", "transparent film"])
def test_images_equal_a_plain_render_and_hdf5_has_blenderprocs_keys(tmp_path, transparent):
    scene, _ = lit_scene()
    scene.render.film_transparent = transparent
    before = snapshot(scene)
    out = tmp_path / "bake"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), render_images=True, frame_start=2, frame_end=3,
                                            use_scene_frame_range=False) == {"FINISHED"}
    assert snapshot(scene) == before
    channels = 4 if transparent else 3
    for frame in (2, 3):
        expected = scenes.plain_render(scene, frame, tmp_path / f"plain_{frame}.png")
        image = scenes.png_pixels(out / f"colors_{frame:04d}.png")
        assert image.shape == (48, 64, channels)
        np.testing.assert_array_equal(image, expected)  # bit-identical to Blender's own render
        assert len(np.unique(image.reshape(-1, channels), axis=0)) > 20  # lit, coloured, not a flat picture
        with h5py.File(out / f"{frame}.hdf5") as file:
            assert {k: (file[k].dtype, file[k].shape) for k in ("colors", "forward_flow", "backward_flow")} == {
                "colors": (np.uint8, (48, 64, channels)), "forward_flow": (np.float32, (48, 64, 2)),
                "backward_flow": (np.float32, (48, 64, 2))}
            np.testing.assert_array_equal(file["colors"][()], expected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["products"][0] == "colors" and manifest["image_motion_blur"] == "OFF"


def test_depth_is_the_distance_along_the_view_axis(tmp_path):
    scene, objects = scenes.camera_motion_scene()
    shapes, camera = scenes.describe(scene, objects)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), render_depth=True,
                                            output_formats={"NPY", "HDF5"}) == {"FINISHED"}
    for frame in range(1, 6):
        depth = np.load(tmp_path / f"depth_{frame:04d}.npy")
        assert depth.dtype == np.float32 and depth.shape == (48, 64)
        with h5py.File(tmp_path / f"{frame}.hdf5") as file:
            np.testing.assert_array_equal(file["depth"][()], depth)
        # the rays at and just beside each pixel centre: a pixel on an edge may show either surface
        errors = []
        for offset in OFFSETS:
            index, points = trace(shapes, camera, frame, offset)
            origin, directions = pixel_rays(camera, frame, offset)
            view_axis = -camera.matrices[frame][:3, 2]
            expected = np.where(index >= 0, (points - origin) @ view_axis, np.inf)
            errors.append(np.where(index >= 0, np.abs(depth / expected - 1), np.where(depth >= 1e9, 0, np.inf)))
        relative = np.min(errors, axis=0)
        assert relative.max() < 1e-4, f"frame {frame}: worst relative depth error {relative.max():.2e}"
        hit = np.isfinite(np.min(errors, axis=0))
        assert hit.all() and (depth < 1e9).sum() > 0.5 * depth.size
        assert np.all(depth[depth >= 1e9] == np.float32(1e10))  # background: Cycles' 1e10, as BlenderProc writes it


def test_image_motion_blur_changes_images_not_flow(tmp_path):
    scene, objects = scenes.moving_object_scene()
    bpy.ops.object.light_add(type="SUN", location=(0, 0, 10))
    scene.render.engine, scene.cycles.samples, scene.cycles.use_denoising = "CYCLES", 8, False
    scene.render.use_motion_blur = True
    results = {}
    for blur in ("OFF", "SCENE"):
        out = tmp_path / blur
        assert bpy.ops.optical_flow.render_flow(output_dir=str(out), render_images=True, image_motion_blur=blur,
                                                output_formats={"NPY"}) == {"FINISHED"}
        results[blur] = out
    assert scene.render.use_motion_blur  # the scene's own setting is back
    sharp, blurred = (scenes.png_pixels(results[b] / "colors_0002.png").astype(int) for b in ("OFF", "SCENE"))
    assert np.abs(sharp - blurred).max() > 30  # the moving box is smeared
    for name in ("forward_flow_0001.npy", "forward_flow_0002.npy", "backward_flow_0002.npy",
                 "backward_flow_valid_0003.npy"):
        assert (results["OFF"] / name).read_bytes() == (results["SCENE"] / name).read_bytes()


def test_an_engine_that_cannot_render_stops_before_anything_is_written(tmp_path):
    class NoGPUEngine(bpy.types.RenderEngine):
        bl_idname, bl_label = "OPTICAL_FLOW_TEST_NO_GPU", "No GPU"

        def render(self, depsgraph):
            self.report({"ERROR"}, "this engine needs a GPU")

    bpy.utils.register_class(NoGPUEngine)
    try:
        scene, _ = scenes.camera_motion_scene()
        scene.render.engine = "OPTICAL_FLOW_TEST_NO_GPU"
        scene.frame_set(1)
        before = snapshot(scene)
        with pytest.raises(RuntimeError, match=r"The OPTICAL_FLOW_TEST_NO_GPU render engine could not render frame 1: "
                                               r".*this engine needs a GPU.*Switch the scene to an engine"):
            bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "out"), render_images=True)
        assert snapshot(scene) == before
        assert list((tmp_path / "out").iterdir()) == []
    finally:
        bpy.utils.unregister_class(NoGPUEngine)


def blenderproc_example_files(folder: Path) -> tuple[Path, Path]:
    """A mesh file and BlenderProc's five example camera poses, as its optical-flow example has them: the demo's
    scene exported as OBJ (with its .mtl), made here so that the test needs nothing from outside the repository."""
    from optical_flow_addon.blender.demo_scene import DEMO_POSES, build_demo_scene

    build_demo_scene()
    mesh, poses = folder / "scene.obj", folder / "camera_positions"
    bpy.ops.wm.obj_export(filepath=str(mesh), export_animation=False)
    poses.write_text(DEMO_POSES, encoding="utf-8")
    return mesh, poses


def test_blenderprocs_example_end_to_end_and_its_own_viewer(tmp_path):
    """BlenderProc's example files through the command line: 0.hdf5-4.hdf5 that `blenderproc vis hdf5` draws,
    segmentation and normals included."""
    mesh, poses = blenderproc_example_files(tmp_path)
    out = tmp_path / "output"
    result = subprocess.run([sys.executable, "-m", "optical_flow_addon", "bake", str(mesh), str(out),
                             "--poses", str(poses), "--images", "--resolution", "64x48", "--segmentation",
                             "--normals", "shading"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.hdf5")) == [f"{n}.hdf5" for n in range(5)]
    with h5py.File(out / "0.hdf5") as file:
        colors = file["colors"][()]
        assert "backward_flow" not in file and file["forward_flow"].shape == (48, 64, 2)
    assert colors.dtype == np.uint8 and colors.shape == (48, 64, 3) and colors.std() > 5  # lit, not black
    python = venv_python("blenderproc")
    drawn = tmp_path / "vis"
    result = subprocess.run([str(Path(python).parent / "blenderproc"), "vis", "hdf5", str(out / "1.hdf5"),
                             "--save", str(drawn)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "'colors': (48, 64, 3)" in result.stdout and "'forward_flow': (48, 64, 2)" in result.stdout
    assert sorted(p.name for p in drawn.iterdir()) == ["1_backward_flow.png", "1_colors.png", "1_forward_flow.png",
                                                       "1_normals.png", "1_segmap.png"]
    check = ("import sys, h5py, numpy as np, matplotlib.pyplot as plt; "
             "drawn = plt.imread(sys.argv[1])[..., :3]; colors = h5py.File(sys.argv[2])['colors'][()] / 255; "
             "print(float(np.abs(drawn - colors).max()))")
    difference = subprocess.run([python, "-c", check, str(drawn / "1_colors.png"), str(out / "1.hdf5")],
                                capture_output=True, text=True, check=True).stdout
    assert float(difference) < 1e-6  # its viewer shows our image as it is
