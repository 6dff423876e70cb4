"""Flow settings stored on the scene (``scene.optical_flow``), shared with the operator."""
from __future__ import annotations

from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

FORMAT_ITEMS = [
    ("NPY", "NumPy .npy", "forward_flow_%04d.npy and backward_flow_%04d.npy, as BlenderProc writes them"),
    ("HDF5", "HDF5", "One %d.hdf5 per frame with forward_flow and backward_flow, as BlenderProc writes them"),
]


# Blender 4.5 added this flag (5.0 warns without it); older versions reject it.
PATH_OPTIONS = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()


def flow_properties() -> dict[str, Any]:
    """Property definitions used by both the scene settings and the Render Flow operator."""
    return {
        "output_dir": StringProperty(
            name="Output Folder", subtype="DIR_PATH", default="//optical_flow/",
            options=PATH_OPTIONS,
            description="Folder for the flow files; // means next to the .blend file",
        ),
        "get_forward_flow": BoolProperty(
            name="Forward Flow", default=True,
            description="Where each pixel moves to in the next frame (written for all but the last frame)",
        ),
        "get_backward_flow": BoolProperty(
            name="Backward Flow", default=True,
            description="Where each pixel came from in the previous frame (written for all but the first frame)",
        ),
        "blender_image_coordinate_style": BoolProperty(
            name="Blender Coordinates", default=False,
            description="Off: OpenCV style, origin top-left, y down (as most flow datasets). "
            "On: Blender style, origin bottom-left, y up (the y component changes sign)",
        ),
        "output_formats": EnumProperty(
            name="Formats", items=FORMAT_ITEMS, options={"ENUM_FLAG"}, default={"NPY", "HDF5"},
            description="File formats to write",
        ),
        "use_scene_frame_range": BoolProperty(
            name="Scene Frame Range", default=True, description="Bake the scene's frame range instead of a custom one",
        ),
        "frame_start": IntProperty(
            name="Start", default=1,
            description="First frame to write; flows still reach neighbours anywhere in the scene's range",
        ),
        "frame_end": IntProperty(
            name="End", default=250,
            description="Last frame to write; bake a long shot in chunks with identical results",
        ),
        "overwrite": BoolProperty(
            name="Overwrite", default=False, description="Replace flow files already in the output folder",
        ),
    }


class OpticalFlowSettings(bpy.types.PropertyGroup):
    __annotations__ = flow_properties()


classes = (OpticalFlowSettings,)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()
    bpy.types.Scene.optical_flow = bpy.props.PointerProperty(type=OpticalFlowSettings)


def unregister() -> None:
    del bpy.types.Scene.optical_flow
    _unregister()
