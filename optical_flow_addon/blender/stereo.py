"""The two views of the scene camera's Stereo 3D rig, as Blender renders them: cameras placed and shifted as
Blender's multiview places each view (along the camera's x axis by the interocular distance, split by the pivot;
off-axis views shifted towards the convergence plane), so that each view renders as a plain camera.

The bake renders each view with multiview off, through these cameras; they are removed again afterwards."""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..core.errors import FlowError
from .settings_guard import SettingsGuard

SHARE = {"LEFT": (0.0, 1.0), "RIGHT": (1.0, 0.0), "CENTER": (0.5, 0.5)}  # pivot -> each view's share of the baseline
SCALE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class StereoRig:
    """Where each view sits along the camera's x axis (metres) and what it adds to the camera's horizontal shift."""

    mode: str  # "PARALLEL" or "OFFAXIS"
    baseline: float
    offsets: tuple[float, float]  # left, right
    shifts: tuple[float, float]

    def record(self) -> dict:
        """What the manifest says about the rig."""
        return {"convergence_mode": self.mode.lower(), "baseline": self.baseline, "view_offsets": list(self.offsets),
                "shift_x_added": list(self.shifts)}


def stereo_rig(scene: bpy.types.Scene) -> StereoRig:
    """The rig the scene camera's Stereoscopy settings describe; a FlowError naming the setting when it is none a
    bake can use."""
    render, camera = scene.render, scene.camera
    if not render.use_multiview or render.views_format != "STEREO_3D":
        raise FlowError("Stereo needs the scene's Stereo 3D views: turn on Output Properties › Stereoscopy and "
                        "choose Stereo 3D.")
    views = {view.name: view.use for view in render.views}
    if not (views.get("left") and views.get("right")):
        raise FlowError("Stereo needs both the left and the right view on in Output Properties › Stereoscopy.")
    data = camera.data
    if data.type != "PERSP":
        raise FlowError(f"Stereo needs a perspective camera; {camera.name} is {data.type.lower()}.")
    stereo = data.stereo
    if stereo.convergence_mode == "TOE":
        raise FlowError(f"Camera {camera.name}'s Stereoscopy Mode is Toe-in: its views are not rectified, so "
                        "disparity is not a horizontal offset. Choose Off-Axis or Parallel.")
    baseline = stereo.interocular_distance
    if not baseline > 0:
        raise FlowError(f"Camera {camera.name}'s Interocular Distance is {baseline:g}: the views need a baseline "
                        "above 0 (Camera Properties › Stereoscopy).")
    scale = np.linalg.norm(np.array(camera.matrix_world)[:3, :3], axis=0)
    if np.abs(scale - 1).max() > SCALE_TOLERANCE:
        raise FlowError(f"Camera {camera.name} is scaled ({', '.join(f'{s:g}' for s in scale)}): apply its scale "
                        "(Ctrl A › Scale) for stereo, so that its views sit the interocular distance apart.")
    left, right = SHARE[stereo.pivot]
    shifts = (0.0, 0.0)
    if stereo.convergence_mode == "OFFAXIS":
        step = baseline / data.sensor_width * data.lens / stereo.convergence_distance
        shifts = (step * left, -step * right)
    return StereoRig(stereo.convergence_mode, baseline, (-baseline * left, baseline * right), shifts)


def view_cameras(scene: bpy.types.Scene, rig: StereoRig, guard: SettingsGuard) -> tuple[bpy.types.Object, ...]:
    """A camera for each view, following the scene camera (children at their offset, their shift added to its
    own), removed again afterwards; multiview is off while they render."""
    camera = scene.camera
    cameras = []
    for name, offset, shift in zip(("left", "right"), rig.offsets, rig.shifts):
        data = camera.data.copy()  # the lens and its animation stay the camera's
        data.shift_x += shift
        view = bpy.data.objects.new(f"{camera.name} ({name})", data)
        scene.collection.objects.link(view)
        view.parent = camera
        view.location = (offset, 0.0, 0.0)

        def remove(view: bpy.types.Object = view, data: bpy.types.Camera = data) -> None:
            bpy.data.objects.remove(view)
            bpy.data.cameras.remove(data)

        guard.on_restore(remove)
        cameras.append(view)
    guard.set(scene.render, "use_multiview", False)
    return tuple(cameras)
