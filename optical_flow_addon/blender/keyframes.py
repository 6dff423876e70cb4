"""Camera poses as location and rotation keys, in the camera's own action (and slot, on Blender 4.4+)."""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

# Keys of these in the imported range are replaced; scale and every other property keep their animation.
TRANSFORM_PATHS = ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle")
ROTATION_PATHS = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}  # else rotation_euler


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
