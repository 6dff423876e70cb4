"""The Render Flow operator. Core errors become ``self.report`` messages."""
from __future__ import annotations

from pathlib import Path

import bpy

from ..core.errors import FlowError
from ..core.options import BakeOptions
from .bake import bake_flow
from .settings import flow_properties


def output_folder(path: str) -> Path:
    """Resolve ``//`` against the .blend; an unsaved file has no folder to be relative to."""
    if not path.strip():
        raise FlowError("Choose an output folder for the flow files.")
    if path.startswith("//") and not bpy.data.filepath:
        raise FlowError(f"Output folder {path!r} is relative to the .blend file, which is not saved yet: save it or choose an absolute folder.")
    return Path(bpy.path.abspath(path))


class OPTICAL_FLOW_OT_render_flow(bpy.types.Operator):
    """Render forward and backward optical flow for the frame range"""

    bl_idname = "optical_flow.render_flow"
    bl_label = "Render Flow"
    __annotations__ = flow_properties()

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None or context.scene.camera is None:
            cls.poll_message_set("The scene has no active camera")
            return False
        return True

    def setting(self, context: bpy.types.Context, name: str):
        """An argument given to the operator wins over the scene's stored setting."""
        source = self if self.properties.is_property_set(name) else context.scene.optical_flow
        return getattr(source, name)

    def bake_options(self, context: bpy.types.Context) -> BakeOptions:
        scene = context.scene
        custom_range = (
            self.properties.is_property_set("frame_start") or self.properties.is_property_set("frame_end")
            or not self.setting(context, "use_scene_frame_range")
        )
        start, end = (
            (self.setting(context, "frame_start"), self.setting(context, "frame_end"))
            if custom_range else (scene.frame_start, scene.frame_end)
        )
        return BakeOptions(
            output_dir=output_folder(self.setting(context, "output_dir")),
            frame_start=start,
            frame_end=end,
            sequence_start=scene.frame_start,
            sequence_end=scene.frame_end,
            get_forward_flow=self.setting(context, "get_forward_flow"),
            get_backward_flow=self.setting(context, "get_backward_flow"),
            blender_image_coordinate_style=self.setting(context, "blender_image_coordinate_style"),
            formats=frozenset(self.setting(context, "output_formats")),
            overwrite=self.setting(context, "overwrite"),
            picture_max_radius=self.setting(context, "picture_max_radius"),
        )

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            options = self.bake_options(context)
            progress = None
            for progress in bake_flow(context.scene, options):
                print(f"Optical flow: frame {progress.frame} ({progress.done}/{progress.total}) "
                      f"in {progress.seconds:.2f} s")
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for note in progress.notes if progress else []:
            self.report({"WARNING"}, note)
        self.report({"INFO"}, f"Optical flow: {progress.total} frames written to {options.output_dir}")
        return {"FINISHED"}


classes = (OPTICAL_FLOW_OT_render_flow,)
register, unregister = bpy.utils.register_classes_factory(classes)
