"""The panels' draw code on Blender 4.2–5.0, and what they tell the artist in each state.

The ``bpy`` module has no window to draw in, so a stand-in layout records the calls and checks each one
against this Blender's real UILayout API: function and argument names, icons and other enum values,
property names and operator properties. (test_blender_window.py draws the panels for real on 3.4.)
"""
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from optical_flow_addon.blender import bake_job, panels  # noqa: E402
from optical_flow_addon.blender.bake_job import BakeJob  # noqa: E402
from optical_flow_addon.blender.live_render import ImageRender  # noqa: E402
from optical_flow_addon.core.options import BakeOptions  # noqa: E402


class CheckedOperatorProperties:
    """An operator button's properties: each one set must exist; ``values`` records what the button passes."""

    def __init__(self, idname: str, values: dict) -> None:
        module, name = idname.split(".")
        object.__setattr__(self, "rna", getattr(getattr(bpy.ops, module), name).get_rna_type())
        object.__setattr__(self, "values", values)

    def __setattr__(self, name, value) -> None:
        assert name in self.rna.properties, f"{self.rna.identifier} has no property {name}"
        self.values[name] = value


class CheckedLayout:
    """Records what a panel draws; fails on anything this Blender's UILayout would reject."""

    def __init__(self, drawn: list, enabled: bool = True) -> None:
        object.__setattr__(self, "drawn", drawn)
        object.__setattr__(self, "enabled_chain", enabled)
        object.__setattr__(self, "values", {"enabled": True})

    def __setattr__(self, name, value) -> None:
        assert name in bpy.types.UILayout.bl_rna.properties, f"UILayout has no {name}"
        self.values[name] = value
        if name == "enabled":
            object.__setattr__(self, "enabled_chain", self.enabled_chain and value)

    def __getattr__(self, name):
        if name in self.values:
            return self.values[name]
        function = bpy.types.UILayout.bl_rna.functions.get(name)
        if function is None:
            raise AttributeError(name)  # as hasattr() sees it on this version

        def call(*args, **kwargs):
            parameters = {p.identifier: p for p in function.parameters if not p.is_output}
            for key, value in kwargs.items():
                assert key in parameters, f"UILayout.{name}() has no argument {key}"
                if parameters[key].type == "ENUM" and not parameters[key].is_enum_flag:
                    assert value in {item.identifier for item in parameters[key].enum_items}, f"{key}={value}"
            if name == "prop":
                assert args[1] in args[0].bl_rna.properties, f"no property {args[1]}"
            self.drawn.append((name, args, kwargs, self.enabled_chain))
            if name == "operator":
                kwargs["properties"] = {}  # this call's own dict: the drawn record shows what the button passes
                return CheckedOperatorProperties(args[0], kwargs["properties"])
            return CheckedLayout(self.drawn, self.enabled_chain) if name in {"row", "column", "box", "split"} else None
        return call


def draw(panel, scene) -> list:
    """Draw one panel into a 229 px wide sidebar at 100 % interface scale (Blender's defaults)."""
    drawn = []
    context = SimpleNamespace(scene=scene, region=SimpleNamespace(width=229),
                              preferences=SimpleNamespace(system=SimpleNamespace(ui_scale=1.0)))
    panel.draw(SimpleNamespace(layout=CheckedLayout(drawn)), context)
    return drawn


def texts(drawn) -> str:
    return " ".join(kwargs.get("text", "") for name, _, kwargs, _ in drawn if name in {"label", "progress"})


def operators(drawn) -> dict:
    """Operator id → whether its button can be pressed."""
    return {args[0]: enabled for name, args, _, enabled in drawn if name == "operator"}


def camera_scene():
    scene = scenes.empty_scene()
    scenes.add_camera(scene, [((0, -5, 0), (1.57, 0, 0)), ((0.1, -5, 0), (1.57, 0, 0))])
    scene.optical_flow.output_dir = "/tmp/flow/"
    return scene


def test_every_panel_draws_in_each_state_with_this_blenders_api(tmp_path):
    scene = camera_scene()
    scene.optical_flow.output_dir = str(tmp_path)
    for panel in panels.classes:
        if panel is not panels.VIEW3D_PT_optical_flow_result:
            assert draw(panel, scene)
    bpy.ops.optical_flow.render_flow()
    assert draw(panels.VIEW3D_PT_optical_flow_result, scene)


def test_no_camera_greys_out_render_flow_and_says_why():
    scene = scenes.empty_scene()
    drawn = draw(panels.VIEW3D_PT_optical_flow, scene)
    assert operators(drawn) == {"optical_flow.render_flow": False}
    assert ("The scene has no active camera: set one in Scene Properties › Camera, or import camera poses."
            in texts(drawn))


def test_ready_scene_shows_camera_frames_and_the_engine_switch():
    scene = camera_scene()
    scene.render.engine = "BLENDER_WORKBENCH"
    drawn = draw(panels.VIEW3D_PT_optical_flow, scene)
    assert operators(drawn) == {"optical_flow.render_flow": True}
    assert "Camera · frames 1–2" in texts(drawn)
    assert "Renders with Cycles, then restores your engine" in texts(drawn)


def test_unsaved_file_with_a_relative_folder_greys_out_render_flow():
    scene = camera_scene()
    scene.optical_flow.output_dir = "//optical_flow/"
    drawn = draw(panels.VIEW3D_PT_optical_flow, scene)
    assert operators(drawn) == {"optical_flow.render_flow": False}
    assert "which is not saved yet: save it or choose an absolute folder." in texts(drawn)


def test_while_rendering_the_panel_shows_progress_and_cancel_and_locks_the_settings(tmp_path):
    scene = camera_scene()
    job = BakeJob(scene, BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=2))
    bake_job.set_current(job)
    try:
        assert job.step()
        drawn = draw(panels.VIEW3D_PT_optical_flow, scene)
        assert operators(drawn) == {"optical_flow.cancel_render_flow": True}
        assert "1 / 2 frames" in texts(drawn) and "left" in texts(drawn)
        for panel in (panels.VIEW3D_PT_optical_flow_poses, panels.VIEW3D_PT_optical_flow_flow,
                      panels.VIEW3D_PT_optical_flow_output):
            assert not any(enabled for *_, enabled in draw(panel, scene)), panel.bl_label
        job.rendering = ImageRender(2, tmp_path / "image_2.png")  # as the window's bake yields it
        drawn = draw(panels.VIEW3D_PT_optical_flow, scene)
        # Blender's bar of the render job, whose ✕ stops the image mid-frame, takes the Cancel button's place
        assert "template_running_jobs" in [name for name, *_ in drawn] and operators(drawn) == {}
        assert "✕ or Esc stops the image and the bake" in texts(drawn)
        assert job.status().startswith("frame 2 of 2 · rendering image")
        job.rendering = None
    finally:
        job.cancel()
        bake_job.set_current(None)


def test_pose_import_button_uses_the_panels_file_and_reports_what_it_keyframed(tmp_path):
    scene = scenes.empty_scene()
    drawn = draw(panels.VIEW3D_PT_optical_flow_poses, scene)
    assert operators(drawn) == {"optical_flow.import_camera_poses": False} and "Choose a pose file" in texts(drawn)
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -10 4 1.3 0 0\n0 -12 4 1.3 0 0\n")
    scene.optical_flow.pose_file = str(poses)
    bpy.ops.optical_flow.import_camera_poses(filepath=str(poses))
    drawn = draw(panels.VIEW3D_PT_optical_flow_poses, scene)
    assert operators(drawn) == {"optical_flow.import_camera_poses": True}
    assert "2 poses keyframed on camera_positions, frames 1–2" in texts(drawn)
    bpy.ops.optical_flow.import_camera_poses(filepath=str(poses), frame_start=3, frame_step=4)
    drawn = draw(panels.VIEW3D_PT_optical_flow_poses, scene)
    assert "2 poses keyframed on camera_positions, frames 3–7 every 4" in texts(drawn)


def test_last_render_offers_the_folder_and_the_flows_that_exist_at_this_frame(tmp_path):
    scene = camera_scene()
    scene.frame_end = 2
    bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path))
    scene.frame_set(2)  # the last frame: backward flow only
    drawn = draw(panels.VIEW3D_PT_optical_flow_result, scene)
    assert "2 frames in" in texts(drawn) and "Show flow of frame 2:" in texts(drawn)
    buttons = [(args[0], enabled) for name, args, _, enabled in drawn if name == "operator"]
    assert buttons == [("wm.path_open", True), ("optical_flow.show_flow", False), ("optical_flow.show_flow", True)]
    assert [args[1] for name, args, _, _ in drawn if name == "prop"] == []  # no image: no choice to show it


def test_last_render_offers_the_frames_image_beside_its_flow_when_it_has_one(tmp_path):
    scene = camera_scene()
    scene.render.engine, scene.cycles.samples, scene.frame_end = "CYCLES", 1, 2
    bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), render_images=True)
    scene.frame_set(1)

    def shown() -> tuple[list, list]:
        """The checkboxes drawn, and what the Show Flow buttons pass."""
        drawn = draw(panels.VIEW3D_PT_optical_flow_result, scene)
        return ([args[1] for name, args, _, _ in drawn if name == "prop"],
                [kwargs["properties"] for name, args, kwargs, _ in drawn
                 if name == "operator" and args[0] == "optical_flow.show_flow"])

    assert shown() == (["with_image"], [{"flow": "FORWARD", "with_image": True},
                                        {"flow": "BACKWARD", "with_image": True}])
    scene.optical_flow.with_image = False
    assert shown()[1] == [{"flow": "FORWARD", "with_image": False}, {"flow": "BACKWARD", "with_image": False}]
    (tmp_path / "colors_0001.png").unlink()
    assert shown()[0] == []


def test_last_render_says_why_it_stopped(tmp_path):
    scene = camera_scene()
    job = BakeJob(scene, BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=2))
    assert job.step()
    bake_job.cancel_before_undo(scene)  # not the running job: nothing happens
    assert job.running
    job.cancel("Undo was used")
    drawn = draw(panels.VIEW3D_PT_optical_flow_result, scene)
    assert "Cancelled after 1 of 2 frames because Undo was used" in texts(drawn)
    failed = BakeJob(scene, BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=2))
    assert not failed.step()  # frame 1's files are there and Overwrite is off
    shown = texts(draw(panels.VIEW3D_PT_optical_flow_result, scene))
    assert "already holds flow files" in shown and "turn on Overwrite" in shown and "Stopped after" not in shown


def test_pose_import_and_export_are_in_the_file_menus():
    scenes.empty_scene()  # the add-on registered
    drawn = {}
    for menu in (bpy.types.TOPBAR_MT_file_import, bpy.types.TOPBAR_MT_file_export):
        layout = []
        for function in getattr(menu.draw, "_draw_funcs", ()):
            if function.__module__.endswith("file_menus"):
                function(SimpleNamespace(layout=CheckedLayout(layout)), bpy.context)
        drawn[menu.__name__] = operators(layout)
    assert drawn == {"TOPBAR_MT_file_import": {"optical_flow.import_camera_poses": True},
                     "TOPBAR_MT_file_export": {"optical_flow.export_camera_poses": True}}


@pytest.mark.skipif(not hasattr(bpy.types, "FileHandler"), reason="Blender 4.1+")
def test_a_pose_file_dropped_onto_the_viewport_imports_without_a_file_browser(tmp_path):
    handler = bpy.types.FileHandler.bl_rna_get_subclass_py("OPTICAL_FLOW_FH_camera_poses")
    assert handler.bl_import_operator == "optical_flow.import_camera_poses"
    assert set(handler.bl_file_extensions.split(";")) == {".txt", ".tum", ".json"}  # TUM, KITTI, COLMAP, matrices, NeRF
    poses = tmp_path / "groundtruth.txt"  # TUM: timestamp tx ty tz qx qy qz qw
    poses.write_text("0 0 -5 0 0 0 0 1\n1 1 -5 0 0 0 0 1\n")
    scene = scenes.empty_scene()
    # Blender invokes the handler's operator with the dropped file's path set
    assert bpy.ops.optical_flow.import_camera_poses("INVOKE_DEFAULT", filepath=str(poses)) == {"FINISHED"}
    assert scene.optical_flow.imported_poses == 2 and scene.camera is not None


def test_preferences_list_a_missing_optional_module_and_offer_to_install_it(monkeypatch):
    """isal only makes KITTI PNGs faster: without it the required modules are still found and listed, and the
    legacy add-on's button installs it."""
    import sys

    from optical_flow_addon.blender import preferences

    scenes.empty_scene()  # the add-on registered
    monkeypatch.setitem(sys.modules, "isal", None)  # as where it is not installed
    drawn = []
    preferences.OpticalFlowPreferences.draw(SimpleNamespace(layout=CheckedLayout(drawn)), SimpleNamespace())
    said = texts(drawn)
    assert "Python modules found: numpy" in said and "h5py" in said and "isal" not in said.split("Optional")[0]
    assert "Optional, not found: isal, for compressing KITTI flow PNGs" in said
    assert operators(drawn) == {"optical_flow.install_dependencies": True}


def test_last_render_of_a_training_layout_offers_the_flows_its_dataset_holds(tmp_path):
    scene = camera_scene()
    scene.render.engine, scene.cycles.samples, scene.frame_end = "CYCLES", 1, 2
    bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), layout="SINTEL", sequence="shot")

    def shown(frame: int) -> tuple[list, list, str]:
        """The checkboxes drawn, the Show Flow buttons (flow, enabled) and the texts."""
        scene.frame_set(frame)
        drawn = draw(panels.VIEW3D_PT_optical_flow_result, scene)
        return ([args[1] for name, args, _, _ in drawn if name == "prop"],
                [(kwargs["properties"]["flow"], enabled) for name, args, kwargs, enabled in drawn
                 if name == "operator" and args[0] == "optical_flow.show_flow"], texts(drawn))

    assert shown(1)[:2] == (["with_image"], [("FORWARD", True), ("BACKWARD", False)])  # Sintel: forward flow only
    props, buttons, text = shown(2)  # the last frame of the sequence has an image but no flow
    assert props == ["with_image"] and buttons == [("FORWARD", False), ("BACKWARD", False)]
    assert "No flow of frame 2 in this bake" in text and ".npy" not in text
