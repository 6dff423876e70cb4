"""Turn camera poses into keyframes on a Blender camera."""
from __future__ import annotations

import bpy
from mathutils import Matrix

from ..core.poses import CameraPoses


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
    return frames
