"""Registration, the panels' and operators' polls, and the settings a .blend remembers."""
import pytest

bpy = pytest.importorskip("bpy")

import optical_flow_addon  # noqa: E402
import scenes  # noqa: E402
from optical_flow_addon.blender import bake_job, panels, render_flow  # noqa: E402
from optical_flow_addon.blender.bake_job import BakeJob  # noqa: E402
from optical_flow_addon.blender.settings import scene_bake_options  # noqa: E402
from optical_flow_addon.core.errors import FlowError  # noqa: E402
from optical_flow_addon.core.options import BakeOptions  # noqa: E402
from optical_flow_addon.core.poses import POSE_FORMATS  # noqa: E402

PANELS = panels.classes
OPERATORS = ("render_flow", "cancel_render_flow", "show_flow", "import_camera_poses")


def registered() -> dict:
    return {
        "settings": hasattr(bpy.types.Scene, "optical_flow"),
        "panels": [hasattr(bpy.types, panel.__name__) for panel in PANELS],
        "operators": [hasattr(bpy.types, f"OPTICAL_FLOW_OT_{name}") for name in OPERATORS],
        "handlers": [bake_job.cancel_before_undo in bpy.app.handlers.undo_pre,
                     bake_job.cancel_before_save in bpy.app.handlers.save_pre,
                     bake_job.cancel_before_load in bpy.app.handlers.load_pre],
    }


def panel_shown(panel, context) -> bool:
    return panel.poll(context) if hasattr(panel, "poll") else True


def camera_scene():
    scene = scenes.empty_scene()
    scenes.add_camera(scene, [((0, -5, 0), (1.57, 0, 0)), ((0.1, -5, 0), (1.57, 0, 0))])
    return scene


def test_register_and_unregister_twice_in_one_process():
    scenes.empty_scene()  # registers
    everything = {"settings": True, "panels": [True] * len(PANELS), "operators": [True] * len(OPERATORS),
                  "handlers": [True] * 3}
    nothing = {"settings": False, "panels": [False] * len(PANELS), "operators": [False] * len(OPERATORS),
               "handlers": [False] * 3}
    assert registered() == everything
    for _ in range(2):
        optical_flow_addon.unregister()
        assert registered() == nothing
        optical_flow_addon.register()
        assert registered() == everything
    assert bpy.app.handlers.undo_pre.count(bake_job.cancel_before_undo) == 1


def test_without_a_camera_only_pose_import_is_possible_and_the_panel_says_why():
    scene = scenes.empty_scene()
    assert scene.camera is None
    assert [panel_shown(panel, bpy.context) for panel in PANELS] == [
        panel is not panels.VIEW3D_PT_optical_flow_result for panel in PANELS]
    assert "no active camera" in render_flow.context_problem(bpy.context)
    with pytest.raises(RuntimeError, match="no active camera: set one in Scene Properties › Camera, or import"):
        bpy.ops.optical_flow.render_flow()
    assert bpy.ops.optical_flow.import_camera_poses.poll()  # it makes a camera
    assert not bpy.ops.optical_flow.cancel_render_flow.poll()
    with pytest.raises(RuntimeError, match="Render flow first"):
        bpy.ops.optical_flow.show_flow()


def test_with_a_camera_render_flow_is_possible(tmp_path):
    scene = camera_scene()
    assert render_flow.context_problem(bpy.context) is None
    assert bpy.ops.optical_flow.render_flow.poll() and bpy.ops.optical_flow.import_camera_poses.poll()
    assert not bpy.ops.optical_flow.cancel_render_flow.poll() and not bpy.ops.optical_flow.show_flow.poll()
    assert not panels.VIEW3D_PT_optical_flow_result.poll(bpy.context)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path)) == {"FINISHED"}
    assert [panel_shown(panel, bpy.context) for panel in PANELS] == [True] * len(PANELS)
    assert bpy.ops.optical_flow.show_flow.poll()
    assert scene.optical_flow.last_bake_folder == str(tmp_path)


def test_while_a_bake_runs_only_cancel_is_possible(tmp_path):
    scene = camera_scene()
    job = BakeJob(scene, BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=2))
    bake_job.set_current(job)
    try:
        assert job.step()
        assert not bpy.ops.optical_flow.render_flow.poll()
        assert "already rendering" in render_flow.context_problem(bpy.context)
        assert bpy.ops.optical_flow.cancel_render_flow.poll()
        assert not panels.VIEW3D_PT_optical_flow_result.poll(bpy.context)  # the progress bar shows instead
    finally:
        job.cancel()
        bake_job.set_current(None)


def test_without_cycles_render_flow_says_so():
    import addon_utils

    camera_scene()
    addon_utils.disable("cycles")
    try:
        with pytest.raises(RuntimeError, match="Cycles, which is turned off: enable it in Preferences"):
            bpy.ops.optical_flow.render_flow()
    finally:
        addon_utils.enable("cycles")
    assert bpy.ops.optical_flow.render_flow.poll()


def test_panel_explains_settings_that_cannot_bake():
    scene = camera_scene()
    settings = scene.optical_flow
    with pytest.raises(FlowError, match="relative to the .blend file, which is not saved yet"):
        scene_bake_options(scene)  # the default //optical_flow/ in an unsaved file
    settings.output_dir = "/tmp/flow"
    settings.get_forward_flow = settings.get_backward_flow = False
    with pytest.raises(FlowError, match="Nothing to bake: turn on forward flow, backward flow or both"):
        scene_bake_options(scene)
    settings.get_backward_flow = True
    settings.use_scene_frame_range, settings.frame_start, settings.frame_end = False, 7, 7
    with pytest.raises(FlowError, match="Frames 7–7 must lie inside the scene's frame range 1–2"):
        scene_bake_options(scene)
    settings.frame_start, settings.frame_end = 2, 2  # one frame of the scene's 1-2 is a valid chunk
    options = scene_bake_options(scene)
    assert (options.frame_start, options.frame_end, options.get_forward_flow) == (2, 2, False)


def test_the_panels_choices_are_the_cores():
    from optical_flow_addon.blender.settings import FORMAT_ITEMS, HDF5_COMPRESSION_ITEMS
    from optical_flow_addon.core.flow_files import WRITERS
    from optical_flow_addon.core.formats.hdf5 import HDF5_COMPRESSIONS

    assert sorted(item[0] for item in FORMAT_ITEMS) == sorted(WRITERS)
    assert [item[0] for item in HDF5_COMPRESSION_ITEMS] == list(HDF5_COMPRESSIONS)
    assert scenes.empty_scene().optical_flow.hdf5_compression == BakeOptions.hdf5_compression == "NONE"


def test_defaults_are_stored_on_the_scene_and_saved_with_the_blend(tmp_path):
    scene = scenes.empty_scene()
    settings = scene.optical_flow
    defaults = {name: getattr(settings, name) for name in (
        "output_dir", "get_forward_flow", "get_backward_flow", "blender_image_coordinate_style",
        "use_scene_frame_range", "overwrite", "pose_file", "pose_format", "imported_poses", "last_bake")}
    assert defaults == {"output_dir": "//optical_flow/", "get_forward_flow": True, "get_backward_flow": True,
                        "blender_image_coordinate_style": False, "use_scene_frame_range": True, "overwrite": False,
                        "pose_file": "", "pose_format": "AUTO", "imported_poses": 0, "last_bake": "NONE"}
    assert settings.output_formats == {"NPY", "HDF5"}
    operator = bpy.ops.optical_flow.render_flow.get_rna_type().properties
    for name in ("output_dir", "get_forward_flow", "get_backward_flow", "blender_image_coordinate_style", "overwrite"):
        assert operator[name].default == settings.bl_rna.properties[name].default, name
    assert [item.identifier for item in settings.bl_rna.properties["pose_format"].enum_items] == ["AUTO", *POSE_FORMATS]

    settings.output_dir, settings.output_formats, settings.blender_image_coordinate_style = "//flow/", {"HDF5"}, True
    settings.pose_file, settings.last_bake, settings.last_bake_frames = "//poses.txt", "CANCELLED", 3
    path = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.context.scene.optical_flow.output_dir == "//optical_flow/"
    bpy.ops.wm.open_mainfile(filepath=str(path))
    reopened = bpy.context.scene.optical_flow
    assert (reopened.output_dir, reopened.output_formats, reopened.blender_image_coordinate_style) == (
        "//flow/", {"HDF5"}, True)
    assert (reopened.pose_file, reopened.last_bake, reopened.last_bake_frames) == ("//poses.txt", "CANCELLED", 3)


def test_pose_import_tells_the_panel_what_it_keyframed(tmp_path):
    scene = scenes.empty_scene()
    scene.frame_start, scene.frame_current = 4, 5
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -10 4 1.3 0 0\n0 -12 4 1.3 0 0\n2 -12 4 1.3 0 0\n")
    settings = scene.optical_flow
    settings.pose_file = str(poses)
    # as the panel's Import button: the file and format chosen in the panel, no file browser
    result = bpy.ops.optical_flow.import_camera_poses(filepath=settings.pose_file, format=settings.pose_format)
    assert result == {"FINISHED"}
    imported = (settings.imported_poses, settings.imported_camera, settings.imported_first_frame)
    assert imported == (3, "camera_positions", 4)
    assert scene.camera.name == "camera_positions" and (scene.frame_start, scene.frame_end) == (4, 6)
    assert tuple(scene.camera.matrix_world.translation) == (0, -12, 4)  # the viewport shows frame 5's pose
