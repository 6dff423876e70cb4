"""Camera poses ↔ keyframes on a Blender camera: the Import and Export Camera Poses operators."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from mathutils import Matrix

from ..core.camera import BlenderCamera, Intrinsics
from ..core.errors import FlowError
from ..core.poses import FORMATS, CameraPoses, read_camera_poses, write_camera_poses
from ..core.transforms import CAMERA_AXES, DIRECTIONS, WORLD_UP_NAMES
from .settings import PATH_OPTIONS, pose_format_items

# Keys of these in the imported range are replaced; scale and every other property keep their animation.
TRANSFORM_PATHS = ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle")
ROTATION_PATHS = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}  # else rotation_euler
LENS_SETTINGS = ("lens", "sensor_width", "sensor_height", "sensor_fit", "shift_x", "shift_y")
FOCAL_TOLERANCE = 0.01  # px


@dataclass
class ImportResult:
    camera: bpy.types.Object
    frames: range
    notes: list[str] = field(default_factory=list)


def blender_camera(scene: bpy.types.Scene, data: bpy.types.Camera | None) -> BlenderCamera:
    """The projection of camera data (a new camera's defaults for None) at the scene's render size."""
    render = scene.render
    scale = render.resolution_percentage / 100
    lens = [getattr(data, name) if data else bpy.types.Camera.bl_rna.properties[name].default for name in LENS_SETTINGS]
    return BlenderCamera(*lens, int(render.resolution_x * scale), int(render.resolution_y * scale),
                         render.pixel_aspect_x, render.pixel_aspect_y)


def find_camera(scene: bpy.types.Scene, target: str, camera_name: str) -> bpy.types.Object | None:
    """The camera object to keyframe (None: a new one), checked to take world poses as they are."""
    if target == "NEW" or (target == "ACTIVE" and scene.camera is None):
        return None
    camera = scene.camera if target == "ACTIVE" else bpy.data.objects.get(camera_name)
    if camera is None or camera.type != "CAMERA":
        name = camera.name if camera else camera_name
        raise FlowError(f"{name!r} is not a camera object; choose a camera or import to a new one.")
    if camera.parent is not None:
        raise FlowError(f"Camera {camera.name!r} has a parent ({camera.parent.name!r}), so its keyframes would not be "
                        "world poses: clear the parent (Alt+P › Clear and Keep Transformation) or import to a new camera.")
    delta = Matrix.LocRotScale(camera.delta_location, camera.delta_rotation_euler.to_quaternion()
                               @ camera.delta_rotation_quaternion, camera.delta_scale)
    if not np.allclose(np.array(delta), np.eye(4)):
        raise FlowError(f"Camera {camera.name!r} has delta transforms, which would move it off the imported poses: "
                        "clear them (Object Properties › Transform › Delta Transform) or import to a new camera.")
    return camera


def fitted_camera(scene: bpy.types.Scene, data: bpy.types.Camera | None, poses: CameraPoses,
                  set_resolution: bool) -> tuple[BlenderCamera | None, list[str]]:
    """Lens, shift and render size that reproduce the file's intrinsics (None when it has none).

    Without ``set_resolution`` (or when the file gives only a field of view) the scene keeps its
    render size and pixel aspect, and the file's camera is scaled to that width.
    """
    current = blender_camera(scene, data)
    if poses.intrinsics is None:
        if poses.field_of_view is None:
            return None, []
        pixel_aspect = current.pixel_aspect_y / current.pixel_aspect_x  # fx / fy on the scene's pixels
        wanted = Intrinsics.from_field_of_view(poses.field_of_view, current.width, current.height, pixel_aspect)
        return current.with_intrinsics(wanted, keep_pixel_aspect=True), []
    if set_resolution:
        return current.with_intrinsics(poses.intrinsics), []
    wanted = poses.intrinsics.scaled_to(current.width, current.height)
    fitted = current.with_intrinsics(wanted, keep_pixel_aspect=True)
    fy = fitted.intrinsics()[1, 1]
    if abs(fy - wanted.fy) <= FOCAL_TOLERANCE:
        return fitted, []
    return fitted, [f"The scene's render size {current.width}×{current.height} has another shape than the file's "
                    f"{poses.intrinsics.width}×{poses.intrinsics.height}: the vertical focal length is {fy:.2f} px "
                    f"instead of {wanted.fy:.2f} px. Turn on Set Render Resolution to match the file."]


def apply_camera(scene: bpy.types.Scene, data: bpy.types.Camera, camera: BlenderCamera, set_resolution: bool) -> None:
    data.type = "PERSP"
    data.lens, data.shift_x, data.shift_y = camera.lens, camera.shift_x, camera.shift_y
    if set_resolution:
        render = scene.render
        render.resolution_x, render.resolution_y, render.resolution_percentage = camera.width, camera.height, 100
        render.pixel_aspect_x, render.pixel_aspect_y = camera.pixel_aspect_x, camera.pixel_aspect_y


def transform_fcurves(camera: bpy.types.Object) -> list[bpy.types.FCurve]:
    """The camera's location and rotation F-curves (Blender 4.4+ keeps them in the action slot's channelbag)."""
    animation = camera.animation_data
    if animation is None or animation.action is None:
        return []
    if bpy.app.version >= (4, 4, 0):
        from bpy_extras.anim_utils import action_get_channelbag_for_slot

        channelbag = action_get_channelbag_for_slot(animation.action, animation.action_slot)
        fcurves = channelbag.fcurves if channelbag else []
    else:
        fcurves = animation.action.fcurves
    return [fcurve for fcurve in fcurves if fcurve.data_path in TRANSFORM_PATHS]


def own_action(camera: bpy.types.Object) -> None:
    """Give the camera its own copy of an action it shares, so other users keep their animation."""
    animation = camera.animation_data
    action = animation.action if animation else None
    if action is None or action.users - action.use_fake_user <= 1:
        return
    slot = getattr(animation, "action_slot", None)  # Blender 4.4+
    identifier = slot.identifier if slot else None
    animation.action = action.copy()
    if identifier:
        animation.action_slot = animation.action.slots[identifier]


def keyframe_poses(camera: bpy.types.Object, matrices: list[np.ndarray], frames: range) -> None:
    """Replace the camera's location and rotation keys from the first to the last frame by one key per pose."""
    own_action(camera)
    for fcurve in transform_fcurves(camera):
        points = fcurve.keyframe_points
        for index in reversed(range(len(points))):
            if frames[0] <= points[index].co.x <= frames[-1]:
                points.remove(points[index], fast=True)
        fcurve.update()
    mode = camera.rotation_mode
    rotation_path = ROTATION_PATHS.get(mode, "rotation_euler")
    euler, quaternion = camera.rotation_euler.copy(), camera.rotation_quaternion.copy()
    values = {"location": [], rotation_path: []}
    for matrix in matrices:
        location, rotation, _ = Matrix(matrix.tolist()).decompose()
        values["location"].append(location)
        if mode == "QUATERNION":
            rotation.make_compatible(quaternion)
            quaternion = rotation
            values[rotation_path].append(quaternion)
        elif mode == "AXIS_ANGLE":
            axis, angle = rotation.to_axis_angle()
            values[rotation_path].append((angle, *axis))
        else:
            euler = rotation.to_euler(mode, euler)  # continuous angles, no 360° jumps
            values[rotation_path].append(euler)
    for path, columns in values.items():  # the first key creates action, slot and F-curves on every Blender version
        setattr(camera, path, columns[0])
        camera.keyframe_insert(path, frame=frames[0])
    for fcurve in transform_fcurves(camera):  # the others in one go: keyframe_insert would re-sort each time
        if fcurve.data_path in values and len(frames) > 1:
            append_keys(fcurve, frames[1:], [value[fcurve.array_index] for value in values[fcurve.data_path][1:]])


def append_keys(fcurve: bpy.types.FCurve, frames: range, values: list[float]) -> None:
    points = fcurve.keyframe_points
    start = len(points)
    points.add(len(frames))
    coordinates = np.empty(2 * len(points))
    points.foreach_get("co", coordinates)
    coordinates[2 * start::2], coordinates[2 * start + 1::2] = frames, values
    points.foreach_set("co", coordinates)
    fcurve.update()  # sorts the keys and sets their automatic handles


def import_poses(scene: bpy.types.Scene, poses: CameraPoses, target: str = "ACTIVE", camera_name: str = "",
                 frame_start: int = 1, frame_step: int = 1, use_intrinsics: bool = True, set_resolution: bool = True,
                 set_frame_range: bool = True) -> ImportResult:
    """Keyframe a camera with Blender-convention poses. Everything is checked before the scene changes."""
    if frame_step < 1:
        raise FlowError(f"Frame step must be 1 or more, got {frame_step}.")
    frames = range(frame_start, frame_start + len(poses.matrices) * frame_step, frame_step)
    last_frame = bpy.types.Scene.bl_rna.properties["frame_end"].hard_max
    if set_frame_range and not 0 <= frames[0] <= frames[-1] <= last_frame:
        raise FlowError(f"{len(frames)} poses from frame {frames[0]} in steps of {frame_step} end on frame "
                        f"{frames[-1]}; a scene's frames go from 0 to {last_frame}.")
    camera = find_camera(scene, target, camera_name)
    fitted, notes = fitted_camera(scene, camera.data if camera else None, poses, set_resolution) if use_intrinsics \
        else (None, [])
    if camera is None:
        name = poses.source.stem or "Imported Camera"
        camera = bpy.data.objects.new(name, bpy.data.cameras.new(name))
        scene.collection.objects.link(camera)
        scene.camera = camera
    constraints = [constraint.name for constraint in camera.constraints if constraint.enabled]
    if constraints:
        notes.append(f"Camera {camera.name!r} has constraints ({', '.join(constraints)}) that move it off the "
                     "imported poses; turn them off to see the poses as imported.")
    keyframe_poses(camera, poses.matrices, frames)
    if fitted:
        apply_camera(scene, camera.data, fitted, set_resolution and poses.intrinsics is not None)
    if set_frame_range:
        scene.frame_start, scene.frame_end = frames[0], frames[-1]
    return ImportResult(camera, frames, poses.notes + notes)


def export_poses(scene: bpy.types.Scene, camera: bpy.types.Object, frames: range) -> CameraPoses:
    """The camera's world pose (scale dropped) and intrinsics at each frame; the current frame is restored."""
    if not frames:
        raise FlowError("The frame range to export is empty: the end frame comes before the start frame.")
    perspective = camera.type == "CAMERA" and camera.data.type == "PERSP"
    frame_current, subframe = scene.frame_current, scene.frame_subframe
    matrices, intrinsics = [], []
    try:
        for frame in frames:
            scene.frame_set(frame)
            location, rotation, _ = camera.matrix_world.decompose()
            matrices.append(np.array(Matrix.LocRotScale(location, rotation, None)))
            if perspective:
                intrinsics.append(blender_camera(scene, camera.data).intrinsics())
    finally:
        scene.frame_set(frame_current, subframe=subframe)
    fps = scene.render.fps / scene.render.fps_base
    poses = CameraPoses(Path(bpy.data.filepath), matrices, times=[frame / fps for frame in frames],
                        names=[f"{frame:04d}.png" for frame in frames])  # as Blender names rendered frames
    if not perspective:
        poses.notes.append(f"{camera.name} is not a perspective camera: no intrinsics were written.")
        return poses
    size = blender_camera(scene, camera.data)
    poses.intrinsics = Intrinsics.from_matrix(intrinsics[0], size.width, size.height)
    changed = next((frame for frame, k in zip(frames, intrinsics) if not np.allclose(k, intrinsics[0])), None)
    if changed is not None:
        poses.notes.append(f"The lens changes over the frames (first on frame {changed}); the files hold one camera, "
                           f"so the intrinsics of frame {frames[0]} were written.")
    return poses


def convention_properties() -> dict:
    """Options shared by import and export: how to read the file's matrices."""
    def items(choices: dict, attribute: str) -> list[tuple[str, str, str]]:
        own = "; ".join(f"{m.LABEL}: {choices[getattr(m.CONVENTION, attribute)][0]}" for m in FORMATS.values())
        return [("AUTO", "Format's Own", f"As the format defines it ({own})")] + [
            (key, name, description[:1].upper() + description[1:]) for key, (name, description) in choices.items()]

    return {
        "camera_axes": EnumProperty(
            name="Camera Axes", items=items(CAMERA_AXES, "camera_axes"), default="AUTO",
            description="Which way the file's camera looks and which way is up in its image"),
        "pose_direction": EnumProperty(
            name="Pose Direction", items=items(DIRECTIONS, "direction"), default="AUTO",
            description="Whether the file stores the camera's pose or its inverse, the view matrix"),
        "world_up": EnumProperty(
            name="World Up", items=items(WORLD_UP_NAMES, "world_up"), default="AUTO",
            description="The file's up axis; it becomes Blender's Z"),
        "scale": FloatProperty(
            name="Scale", default=1.0, min=1e-6, soft_min=0.001, soft_max=1000, precision=4,
            description="Blender units per unit of the file: 0.01 for a file in centimetres, 1 for metres"),
    }


def keyed_frames_text(frames: range) -> str:
    """The frames a pose import keyed, as the import's report and the panel say it."""
    return f"frames {frames[0]}–{frames[-1]}" + (f" every {frames.step}" if frames.step > 1 else "")


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


class OPTICAL_FLOW_OT_import_camera_poses(bpy.types.Operator):
    """Keyframe a camera from a camera pose file (BlenderProc, 4×4 matrices, TUM, KITTI, COLMAP, NeRF)"""

    bl_idname = "optical_flow.import_camera_poses"
    bl_label = "Import Camera Poses"
    bl_options = {"REGISTER", "UNDO"}

    __annotations__ = {
        "filepath": StringProperty(name="Pose File", subtype="FILE_PATH", options=PATH_OPTIONS,
                                   description="Camera pose file to read"),
        "format": EnumProperty(name="Format", items=pose_format_items(True), default="AUTO",
                               description="Pose file format"),
        **convention_properties(),
        "frame_start": IntProperty(name="First Frame", default=1,
                                   description="Frame of the first pose (default: the scene's start frame)"),
        "frame_step": IntProperty(name="Frame Step", default=1, min=1, soft_max=100,
                                  description="Frames from one pose to the next; the frames between are interpolated"),
        "target": EnumProperty(name="Camera", default="ACTIVE", items=[
            ("ACTIVE", "Active Camera", "The scene's camera; a new one when the scene has none"),
            ("NEW", "New Camera", "A new camera, which becomes the scene's camera"),
            ("NAMED", "Camera by Name", "The camera object named below"),
        ], description="Which camera gets the poses. Its location and rotation keys in the imported frames are "
                       "replaced; keys outside them stay"),
        "camera_name": StringProperty(name="Camera Name", description="Camera object for 'Camera by Name'"),
        "use_intrinsics": BoolProperty(
            name="Camera Intrinsics", default=True,
            description="Set the camera's lens and shift from the file's focal length and principal point "
                        "(COLMAP, NeRF); other formats carry none"),
        "set_resolution": BoolProperty(
            name="Set Render Resolution", default=True,
            description="Set the render resolution (at 100%) and pixel aspect to the file's image size, so rendered "
                        "pixels match the original images. Off: keep the scene's; the lens keeps the file's "
                        "field of view across the width"),
        "set_frame_range": BoolProperty(name="Set Frame Range", default=True,
                                        description="Set the scene's start and end frame to the imported frames"),
    }

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
        self.report({"INFO"}, f"{len(frames)} camera poses keyframed on {result.camera.name}, {keyed_frames_text(frames)}")
        report_notes(self, result.notes)
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not self.properties.is_property_set("frame_start"):
            self.frame_start = context.scene.frame_start
        if self.properties.is_property_set("filepath"):  # a file dropped onto the 3D viewport: options in the redo panel
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


class OPTICAL_FLOW_OT_export_camera_poses(bpy.types.Operator):
    """Write the scene camera's poses over a frame range to a camera pose file"""

    bl_idname = "optical_flow.export_camera_poses"
    bl_label = "Export Camera Poses"
    bl_options = {"REGISTER"}

    __annotations__ = {
        "filepath": StringProperty(name="Pose File", subtype="FILE_PATH", options=PATH_OPTIONS,
                                   description="Camera pose file to write (COLMAP also writes cameras.txt and "
                                               "points3D.txt next to it)"),
        "format": EnumProperty(name="Format", items=pose_format_items(False), default="BLENDERPROC",
                               description="Pose file format"),
        **convention_properties(),
        "use_scene_frame_range": BoolProperty(name="Scene Frame Range", default=True,
                                              description="Export the scene's frame range instead of a custom one"),
        "frame_start": IntProperty(name="Start", default=1, description="First frame of a custom range"),
        "frame_end": IntProperty(name="End", default=250, description="Last frame of a custom range"),
        "frame_step": IntProperty(name="Frame Step", default=1, min=1, soft_max=100,
                                  description="Write a pose every this many frames"),
        "overwrite": BoolProperty(name="Overwrite", default=False, description="Replace pose files that already exist"),
    }

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
            self.filepath = str(folder / FORMATS[self.format].FILE_NAME)
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
