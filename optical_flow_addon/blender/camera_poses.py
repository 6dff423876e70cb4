"""Camera poses ↔ keyframes on a Blender camera, and the Import Camera Poses operator."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty
from mathutils import Matrix

from ..core.errors import FlowError
from ..core.poses import CameraPoses, read_camera_poses
from .settings import POSE_FORMAT_ITEMS


def target_camera(scene: bpy.types.Scene) -> bpy.types.Object:
    """The scene camera, or a new one linked to the scene when it has none."""
    if scene.camera is not None:
        return scene.camera
    camera = bpy.data.objects.new("Flow Camera", bpy.data.cameras.new("Flow Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    return camera


def keyframe_poses(scene: bpy.types.Scene, camera: bpy.types.Object, poses: CameraPoses, start_frame: int) -> range:
    """One location/rotation keyframe per pose from ``start_frame``; the scene range is set to cover them."""
    camera.rotation_mode = "XYZ"
    previous = None
    frames = range(start_frame, start_frame + len(poses.camera_to_world))
    for frame, matrix in zip(frames, poses.camera_to_world):
        location, rotation, _ = Matrix(matrix.tolist()).decompose()
        euler = rotation.to_euler("XYZ", previous) if previous is not None else rotation.to_euler("XYZ")
        camera.location, camera.rotation_euler, previous = location, euler, euler
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_start, scene.frame_end = frames[0], frames[-1]
    scene.frame_set(scene.frame_current)  # show the pose of the current frame, not the last one keyed
    return frames


class OPTICAL_FLOW_OT_import_camera_poses(bpy.types.Operator):
    """Keyframe the scene camera (or a new one) from a camera pose file"""

    bl_idname = "optical_flow.import_camera_poses"
    bl_label = "Import Camera Poses"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Pose File", subtype="FILE_PATH")
    format: EnumProperty(name="Format", items=POSE_FORMAT_ITEMS, default="AUTO")

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            poses = read_camera_poses(bpy.path.abspath(self.filepath), self.format)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        scene = context.scene
        camera = target_camera(scene)
        frames = keyframe_poses(scene, camera, poses, scene.frame_start)
        settings = scene.optical_flow  # shown in the panel
        settings.imported_poses, settings.imported_first_frame = len(frames), frames[0]
        settings.imported_camera = camera.name
        self.report({"INFO"}, f"{len(frames)} camera poses keyframed on {camera.name}, frames {frames[0]}–{frames[-1]}")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


classes = (OPTICAL_FLOW_OT_import_camera_poses,)
register, unregister = bpy.utils.register_classes_factory(classes)
