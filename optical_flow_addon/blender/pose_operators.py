"""The Import and Export Camera Poses operators: their options, their file browser side bar and reports.

(No ``from __future__ import annotations`` here: Blender needs the properties' annotations evaluated.)
"""
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..core.errors import FlowError
from ..core.poses import POSE_FORMATS, read_camera_poses, write_camera_poses
from ..core.transforms import CAMERA_AXES, DIRECTIONS, WORLD_UP_NAMES
from .camera_poses import export_poses, import_poses, keyed_frames_text
from .settings import PATH_OPTIONS, pose_format_items


def convention_items(choices: dict, attribute: str) -> list[tuple[str, str, str]]:
    """A convention's choices, after "the format's own" that names each format's."""
    own = "; ".join(f"{m.LABEL}: {choices[getattr(m.CONVENTION, attribute)][0]}" for m in POSE_FORMATS.values())
    return [("AUTO", "Format's Own", f"As the format defines it ({own})")] + [
        (key, name, description[:1].upper() + description[1:]) for key, (name, description) in choices.items()]


class PoseConventions:
    """Options shared by import and export: how to read the file's matrices."""

    camera_axes: EnumProperty(
        name="Camera Axes", items=convention_items(CAMERA_AXES, "camera_axes"), default="AUTO",
        description="Which way the file's camera looks and which way is up in its image")
    pose_direction: EnumProperty(
        name="Pose Direction", items=convention_items(DIRECTIONS, "direction"), default="AUTO",
        description="Whether the file stores the camera's pose or its inverse, the view matrix")
    world_up: EnumProperty(
        name="World Up", items=convention_items(WORLD_UP_NAMES, "world_up"), default="AUTO",
        description="The file's up axis; it becomes Blender's Z")
    scale: FloatProperty(
        name="Scale", default=1.0, min=1e-6, soft_min=0.001, soft_max=1000, precision=4,
        description="Blender units per unit of the file: 0.01 for a file in centimetres, 1 for metres")


def report_notes(operator: bpy.types.Operator, notes: list[str]) -> None:
    for note in notes:
        operator.report({"WARNING"}, note)


def draw_conventions(operator: bpy.types.Operator) -> bpy.types.UILayout:
    """Format and convention options at the top of the file browser's side bar; returns the layout."""
    layout = operator.layout
    layout.use_property_split = True
    layout.use_property_decorate = False
    for name in ("format", "camera_axes", "pose_direction", "world_up", "scale"):
        layout.prop(operator, name)
    return layout


class OPTICAL_FLOW_OT_import_camera_poses(PoseConventions, bpy.types.Operator):
    """Keyframe a camera from a camera pose file (BlenderProc, 4×4 matrices, TUM, KITTI, COLMAP, NeRF)"""

    bl_idname = "optical_flow.import_camera_poses"
    bl_label = "Import Camera Poses"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Pose File", subtype="FILE_PATH", options=PATH_OPTIONS,
                             description="Camera pose file to read")
    format: EnumProperty(name="Format", items=pose_format_items(True), default="AUTO",
                         description="Pose file format")
    frame_start: IntProperty(name="First Frame", default=1,
                             description="Frame of the first pose (default: the scene's start frame)")
    frame_step: IntProperty(name="Frame Step", default=1, min=1, soft_max=100,
                            description="Frames from one pose to the next; the frames between are interpolated")
    target: EnumProperty(name="Camera", default="ACTIVE", items=[
        ("ACTIVE", "Active Camera", "The scene's camera; a new one when the scene has none"),
        ("NEW", "New Camera", "A new camera, which becomes the scene's camera"),
        ("NAMED", "Camera by Name", "The camera object named below"),
    ], description="Which camera gets the poses. Its location and rotation keys in the imported frames are "
                   "replaced; keys outside them stay")
    camera_name: StringProperty(name="Camera Name", description="Camera object for 'Camera by Name'")
    use_intrinsics: BoolProperty(
        name="Camera Intrinsics", default=True,
        description="Set the camera's lens and shift from the file's focal length and principal point "
                    "(COLMAP, NeRF); other formats carry none")
    set_resolution: BoolProperty(
        name="Set Render Resolution", default=True,
        description="Set the render resolution (at 100%) and pixel aspect to the file's image size, so rendered "
                    "pixels match the original images. Off: keep the scene's; the lens keeps the file's "
                    "field of view across the width")
    set_frame_range: BoolProperty(name="Set Frame Range", default=True,
                                  description="Set the scene's start and end frame to the imported frames")

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        if not self.properties.is_property_set("frame_start"):
            self.frame_start = scene.frame_start
        try:
            poses = read_camera_poses(bpy.path.abspath(self.filepath), self.format, self.camera_axes,
                                      self.pose_direction, self.world_up, self.scale)
            result = import_poses(scene, poses, self.target, self.camera_name, self.frame_start, self.frame_step,
                                  self.use_intrinsics, self.set_resolution, self.set_frame_range)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        frames = result.frames
        settings = scene.optical_flow  # shown in the panel
        settings.imported_poses, settings.imported_first_frame = len(frames), frames[0]
        settings.imported_frame_step, settings.imported_camera = frames.step, result.camera.name
        scene.frame_set(scene.frame_current)  # show the pose of the current frame, not the last one keyed
        self.report({"INFO"}, f"{len(frames)} camera poses keyframed on {result.camera.name}, "
                              f"{keyed_frames_text(frames)}")
        report_notes(self, result.notes)
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self.properties.is_property_set("frame_start"):
            self.frame_start = context.scene.frame_start
        # a file dropped onto the 3D viewport: options in the redo panel
        if self.properties.is_property_set("filepath"):
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = draw_conventions(self)
        layout.prop(self, "frame_start")
        layout.prop(self, "frame_step")
        layout.prop(self, "target")
        if self.target == "NAMED":
            layout.prop_search(self, "camera_name", bpy.data, "objects", text="Camera Name")
        layout.prop(self, "use_intrinsics")
        row = layout.row()
        row.active = self.use_intrinsics
        row.prop(self, "set_resolution")
        layout.prop(self, "set_frame_range")


class OPTICAL_FLOW_OT_export_camera_poses(PoseConventions, bpy.types.Operator):
    """Write the scene camera's poses over a frame range to a camera pose file"""

    bl_idname = "optical_flow.export_camera_poses"
    bl_label = "Export Camera Poses"
    bl_options = {"REGISTER"}

    filepath: StringProperty(name="Pose File", subtype="FILE_PATH", options=PATH_OPTIONS,
                             description="Camera pose file to write (COLMAP also writes cameras.txt and "
                                         "points3D.txt next to it)")
    format: EnumProperty(name="Format", items=pose_format_items(False), default="BLENDERPROC",
                         description="Pose file format")
    use_scene_frame_range: BoolProperty(name="Scene Frame Range", default=True,
                                        description="Export the scene's frame range instead of a custom one")
    frame_start: IntProperty(name="Start", default=1, description="First frame of a custom range")
    frame_end: IntProperty(name="End", default=250, description="Last frame of a custom range")
    frame_step: IntProperty(name="Frame Step", default=1, min=1, soft_max=100,
                            description="Write a pose every this many frames")
    overwrite: BoolProperty(name="Overwrite", default=False, description="Replace pose files that already exist")

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        if self.use_scene_frame_range:
            self.frame_start, self.frame_end = scene.frame_start, scene.frame_end
        try:
            if scene.camera is None:
                raise FlowError("The scene has no active camera to export: set one in Scene Properties › Camera.")
            poses = export_poses(scene, scene.camera, range(self.frame_start, self.frame_end + 1, self.frame_step))
            written = write_camera_poses(bpy.path.abspath(self.filepath), poses, self.format, self.camera_axes,
                                         self.pose_direction, self.world_up, self.scale, self.overwrite)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{len(poses.matrices)} camera poses of {scene.camera.name} written to "
                              f"{', '.join(str(path) for path in written)}")
        report_notes(self, poses.notes)
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self.filepath:
            folder = Path(bpy.data.filepath).parent if bpy.data.filepath else Path.home()
            self.filepath = str(folder / POSE_FORMATS[self.format].FILE_NAME)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = draw_conventions(self)
        layout.prop(self, "use_scene_frame_range")
        column = layout.column(align=True)
        column.active = not self.use_scene_frame_range
        column.prop(self, "frame_start")
        column.prop(self, "frame_end")
        layout.prop(self, "frame_step")
        layout.prop(self, "overwrite")


classes = (OPTICAL_FLOW_OT_import_camera_poses, OPTICAL_FLOW_OT_export_camera_poses)
register, unregister = bpy.utils.register_classes_factory(classes)
