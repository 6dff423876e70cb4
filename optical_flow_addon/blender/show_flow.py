"""Show the flow of the current frame as a colour picture in an Image Editor."""
from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np
from bpy.props import EnumProperty

from ..core.colour_wheel import flow_to_rgb
from ..core.errors import FlowError
from ..core.flow_files import WRITERS

IMAGE_NAME = "Optical Flow"
IMAGE_TAG = "optical_flow_picture"
FLOWS = {"FORWARD": "forward_flow", "BACKWARD": "backward_flow"}


def flow_path(folder: Path, flow: str, frame: int) -> Path:
    """The .npy of one flow at one frame (the NumPy format always has one file per flow and frame)."""
    return WRITERS["NPY"].paths(folder, frame, [flow])[0]


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def missing_flow_message(folder: Path, flow: str, frame: int) -> str:
    """Say why there is no picture and what to do about it."""
    label = flow.replace("_", " ")
    manifest = read_manifest(folder)
    if manifest and "NPY" not in manifest.get("formats", []):
        return (f"The flow in {folder} was written without NumPy .npy files, which Show Flow reads: "
                "turn on NumPy .npy in Output and render again.")
    frames = manifest.get(f"{flow}_frames", [])
    where = f" ({label} exists for frames {frames[0]}–{frames[-1]})" if frames else ""
    return f"No {label} for frame {frame} in {folder}{where}: go to a frame that has one, or render flow first."


def flow_picture(folder: Path, flow: str, frame: int) -> tuple[np.ndarray, float]:
    """Colour picture (H×W×3 uint8, top row first) of one flow and its longest valid motion in pixels.

    Colours always mean the same direction on screen: Blender-style files (y up) are turned to y down.
    """
    path = flow_path(folder, flow, frame)
    if not path.exists():
        raise FlowError(missing_flow_message(folder, flow, frame))
    valid_path = flow_path(folder, f"{flow}_valid", frame)
    try:
        vectors = np.load(path)
        valid = np.load(valid_path).astype(bool) if valid_path.exists() else np.ones(vectors.shape[:2], bool)
    except (OSError, ValueError) as error:
        raise FlowError(f"Cannot read {path}: {error}") from error
    if vectors.ndim != 3 or vectors.shape[2] != 2 or valid.shape != vectors.shape[:2]:
        raise FlowError(f"{path} is not a flow file: expected H×W×2 values with an H×W mask, found {vectors.shape}.")
    if read_manifest(folder).get("blender_image_coordinate_style"):
        vectors = vectors * np.array([1, -1], vectors.dtype)
    lengths = np.hypot(vectors[..., 0], vectors[..., 1])[valid]
    return flow_to_rgb(vectors, valid), float(lengths.max()) if lengths.size else 0.0


def flow_image(picture: np.ndarray) -> bpy.types.Image:
    """Put the picture into the add-on's image (rows bottom first, as Blender stores them).

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
    rgba[..., :3] = picture[::-1] / 255
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


class OPTICAL_FLOW_OT_show_flow(bpy.types.Operator):
    """Show the flow of the current frame as a colour picture in an Image Editor: the colour is the direction \
of motion, its strength the speed; black pixels have no valid flow"""

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
        folder, frame = Path(scene.optical_flow.last_bake_folder), scene.frame_current
        try:
            picture, longest = flow_picture(folder, FLOWS[self.flow], frame)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        image = flow_image(picture)
        where = "" if show_in_image_editor(context, image) else f" in image {image.name!r}"
        self.report({"INFO"}, f"{self.flow.title()} flow of frame {frame}{where}: full colour means "
                              f"{longest:.1f} px of motion")
        return {"FINISHED"}


classes = (OPTICAL_FLOW_OT_show_flow,)
register, unregister = bpy.utils.register_classes_factory(classes)
