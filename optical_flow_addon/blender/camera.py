"""A Blender camera's projection: read from its lens and the render size, and fitted to a file's intrinsics."""
from __future__ import annotations

import bpy

from ..core.camera import BlenderCamera, Intrinsics
from ..core.poses import CameraPoses

LENS_SETTINGS = ("lens", "sensor_width", "sensor_height", "sensor_fit", "shift_x", "shift_y")
FOCAL_TOLERANCE = 0.01  # px


def blender_camera(scene: bpy.types.Scene, data: bpy.types.Camera | None) -> BlenderCamera:
    """The projection of camera data (a new camera's defaults for None) at the scene's render size."""
    render = scene.render
    scale = render.resolution_percentage / 100
    lens = [getattr(data, name) if data else bpy.types.Camera.bl_rna.properties[name].default for name in LENS_SETTINGS]
    return BlenderCamera(*lens, int(render.resolution_x * scale), int(render.resolution_y * scale),
                         render.pixel_aspect_x, render.pixel_aspect_y)


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
