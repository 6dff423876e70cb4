"""Camera poses ↔ a Blender camera: key a camera with the poses of a file, or take its poses over frames."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from ..core.camera import Intrinsics
from ..core.errors import FlowError
from ..core.poses import CameraPoses
from .camera import apply_camera, blender_camera, fitted_camera
from .keyframes import keyframe_poses


@dataclass
class ImportResult:
    camera: bpy.types.Object
    frames: range
    notes: list[str] = field(default_factory=list)


def find_camera(scene: bpy.types.Scene, target: str, camera_name: str) -> bpy.types.Object | None:
    """The camera object to keyframe (None: a new one), checked to take world poses as they are."""
    if target == "NEW" or (target == "ACTIVE" and scene.camera is None):
        return None
    camera = scene.camera if target == "ACTIVE" else bpy.data.objects.get(camera_name)
    if camera is None or camera.type != "CAMERA":
        name = camera.name if camera else camera_name
        raise FlowError(f"{name!r} is not a camera object; choose a camera or import to a new one.")
    if camera.parent is not None:
        raise FlowError(f"Camera {camera.name!r} has a parent ({camera.parent.name!r}), so its keyframes would not "
                        "be world poses: clear the parent (Alt+P › Clear and Keep Transformation) or import to a new "
                        "camera.")
    delta = Matrix.LocRotScale(camera.delta_location, camera.delta_rotation_euler.to_quaternion()
                               @ camera.delta_rotation_quaternion, camera.delta_scale)
    if not np.allclose(np.array(delta), np.eye(4)):
        raise FlowError(f"Camera {camera.name!r} has delta transforms, which would move it off the imported poses: "
                        "clear them (Object Properties › Transform › Delta Transform) or import to a new camera.")
    return camera


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


def keyed_frames_text(frames: range) -> str:
    """The frames a pose import keyed, as the import's report and the panel say it."""
    return f"frames {frames[0]}–{frames[-1]}" + (f" every {frames.step}" if frames.step > 1 else "")
