"""Show the flow of the current frame as a colour picture in an Image Editor, beside the frame's image.

The picture comes from the core (``core/frame_picture.py``); this module puts it into a Blender image
and shows that. (No ``from __future__ import annotations`` here: Blender needs the properties' annotations
evaluated.)"""
from pathlib import Path

import bpy
import numpy as np
from bpy.props import EnumProperty

from ..core.errors import FlowError
from ..core.frame_picture import Bake, baked_frame_picture
from ..core.track_picture import baked_tracks, tracks_file_picture
from .settings import ShowFlowSettings

IMAGE_NAME = "Optical Flow"
IMAGE_TAG = "optical_flow_picture"
FLOW_CHOICES = {"FORWARD": "forward_flow", "BACKWARD": "backward_flow"}  # the operator's choice → the flow shown


def flow_image(picture: np.ndarray) -> bpy.types.Image:
    """Put the picture (RGB, or RGBA whose alpha is kept) into the add-on's image (rows bottom first, as Blender
    stores them).

    The image is found by a tag, so an image of the user's that happens to be called "Optical Flow" is left alone.
    """
    height, width = picture.shape[:2]
    image = next((image for image in bpy.data.images if image.get(IMAGE_TAG)), None)
    if image is None:
        image = bpy.data.images.new(IMAGE_NAME, width, height)
        image[IMAGE_TAG] = True
    if tuple(image.size) != (width, height):
        image.scale(width, height)
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., :picture.shape[2]] = picture[::-1] / 255
    image.pixels.foreach_set(rgba.ravel())
    image.update()
    return image


def image_editor(context: bpy.types.Context, image: bpy.types.Image) -> tuple | None:
    """(window, area) of an Image Editor showing this picture or a render, never one showing the user's own image."""
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            shown = area.spaces.active.image if area.type == "IMAGE_EDITOR" else None
            if shown is not None and (shown == image or shown.type == "RENDER_RESULT"):
                return window, area
    return None


def show_in_image_editor(context: bpy.types.Context, image: bpy.types.Image) -> bool:
    """Show the picture where Blender shows renders (the user's preference); False without a window."""
    if context.window is None:
        return False
    if image_editor(context, image) is None:
        with context.temp_override(window=context.window):
            bpy.ops.render.view_show("INVOKE_DEFAULT")
    found = image_editor(context, image)
    if found is None:  # renders are set to "Keep User Interface"
        return False
    window, area = found
    area.spaces.active.image = image
    region = next(region for region in area.regions if region.type == "WINDOW")
    with context.temp_override(window=window, area=area, region=region):
        bpy.ops.image.view_all(fit_view=True)
    return True


def last_bake(settings: bpy.types.PropertyGroup) -> Bake:
    """The files of the scene's last bake (a .blend saved before bakes named their manifest: BlenderProc's).

    A dataset layout's sequence (``spring/shot.manifest.json``) is found only through its manifest: without it the
    folder would be read as BlenderProc's and the error would ask for .npy files, so its absence is the error."""
    folder, manifest = Path(settings.last_bake_folder), settings.last_bake_manifest
    path = folder / manifest if manifest else None
    if manifest.endswith(".manifest.json") and not path.is_file():
        raise FlowError(f"The last bake's manifest {manifest} is missing from {folder}: Show Flow finds a dataset "
                        "layout's frames through it. The folder was moved or emptied, or the bake stopped before "
                        "its first frame: render flow again.")
    return Bake.read(folder, path)


class OPTICAL_FLOW_OT_show_flow(ShowFlowSettings, bpy.types.Operator):
    """Show the flow of the current frame as a colour picture in an Image Editor, to the right of the frame's \
image when the render made one: the colour is the direction of motion, its strength the speed; black pixels \
have no valid flow"""

    bl_idname = "optical_flow.show_flow"
    bl_label = "Show Flow"

    flow: EnumProperty(name="Flow", items=[
        ("FORWARD", "Forward", "Where each pixel moves to in the next frame"),
        ("BACKWARD", "Backward", "Where each pixel came from in the previous frame"),
    ])

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None or not context.scene.optical_flow.last_bake_folder:
            cls.poll_message_set("Render flow first")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        frame = scene.frame_current
        try:
            picture = baked_frame_picture(last_bake(scene.optical_flow), FLOW_CHOICES[self.flow], frame,
                                          self.with_image)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        image = flow_image(picture.pixels)
        where = "" if show_in_image_editor(context, image) else f" in image {image.name!r}"
        beside = " (right of its image)" if picture.image_shown else ""
        alone = f"; shown alone: {picture.note}" if picture.note else ""
        self.report({"INFO"}, f"{self.flow.title()} flow of frame {frame}{beside}{where}: full colour means "
                              f"{picture.longest:.1f} px of motion{alone}")
        return {"FINISHED"}


def last_tracks(settings: bpy.types.PropertyGroup) -> Path:
    """The tracks file of the scene's last bake (it may have none)."""
    return baked_tracks(Path(settings.last_bake_folder), settings.last_bake_manifest)


class OPTICAL_FLOW_OT_show_tracks(bpy.types.Operator):
    """Show the point tracks at the current frame in an Image Editor: each track's trail over the frames before, \
coloured by where its query point is, hollow where the point is occluded"""

    bl_idname = "optical_flow.show_tracks"
    bl_label = "Show Tracks"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None or not last_tracks(context.scene.optical_flow).is_file():
            cls.poll_message_set("Render flow with Point Tracks first")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        path, frame = last_tracks(context.scene.optical_flow), context.scene.frame_current
        try:
            picture, _, count = tracks_file_picture(path, frame)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        shown = flow_image(picture)
        where = "" if show_in_image_editor(context, shown) else f" in image {shown.name!r}"
        self.report({"INFO"}, f"{count} tracks at frame {frame}{where}; hollow where occluded")
        return {"FINISHED"}


classes = (OPTICAL_FLOW_OT_show_flow, OPTICAL_FLOW_OT_show_tracks)
register, unregister = bpy.utils.register_classes_factory(classes)
