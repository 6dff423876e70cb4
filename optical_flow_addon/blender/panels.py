"""The "Optical Flow" tab in the 3D viewport's sidebar (N): poses, flow, output, render and results."""
from __future__ import annotations

import textwrap
from pathlib import Path

import bpy

from ..core.errors import FlowError
from . import bake_job
from .bake_job import BakeJob, duration
from .camera_poses import keyed_frames_text
from .render_flow import context_problem
from .settings import scene_bake_options
from .show_flow import FLOW_CHOICES, last_bake, last_tracks


class SidebarPanel:
    """Where every panel of the add-on lives."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Optical Flow"


def draw_text(layout: bpy.types.UILayout, context: bpy.types.Context, text: str, icon: str = "NONE") -> None:
    """Labels do not wrap: split the text to the sidebar's width, the icon on the first line only."""
    scale = context.preferences.system.ui_scale
    characters = max(16, int((context.region.width - 55 * scale) / (6.5 * scale)))  # tabs, margins, icon
    column, indent = layout.column(align=True), "BLANK1" if icon != "NONE" else "NONE"
    for number, line in enumerate(textwrap.wrap(text, characters)):
        column.label(text=line, icon=icon if number == 0 else indent)


def shown_path(folder: Path) -> str:
    """A folder next to the saved .blend as the artist typed it (//...), any other in full."""
    relative = bpy.path.relpath(str(folder)) if bpy.data.filepath else ""
    return relative if relative.startswith("//") and not relative.startswith("//..") else str(folder)


def locked_while_baking(layout: bpy.types.UILayout) -> None:
    """Settings take effect when a bake starts; changing the camera mid-bake would mix two animations."""
    layout.enabled = bake_job.current() is None


def draw_progress(layout: bpy.types.UILayout, job: BakeJob) -> None:
    factor = job.done / job.total if job.total else 0.0
    frames = f"{job.done} / {job.total} frames"
    if hasattr(layout, "progress"):  # Blender 4.0+
        layout.progress(factor=factor, type="BAR", text=frames)
    else:
        layout.label(text=f"{frames} ({factor:.0%})", icon="RENDER_ANIMATION")
    left = job.seconds_left()
    layout.label(text=f"About {duration(left)} left" if left is not None else "Estimating time left…",
                 icon="TIME")


class VIEW3D_PT_optical_flow(SidebarPanel, bpy.types.Panel):
    """Render ground-truth optical flow of this scene's camera and animation"""

    bl_label = "Optical Flow"

    def draw(self, context: bpy.types.Context) -> None:
        layout, scene = self.layout, context.scene
        job = bake_job.current()
        if job is not None:
            draw_progress(layout, job)
            if job.rendering:  # Python cannot stop a render job: Blender's own bar, whose ✕ stops it, is the Cancel
                layout.template_running_jobs()
                layout.label(text="✕ or Esc stops the image and the bake", icon="CANCEL")
            else:
                layout.operator("optical_flow.cancel_render_flow", text="Cancel", icon="CANCEL")
            return
        problem = context_problem(context)
        if problem is None:
            try:
                options = scene_bake_options(scene)
                layout.label(text=f"{scene.camera.name} · frames {options.frame_start}–{options.frame_end}",
                             icon="CAMERA_DATA")
            except FlowError as error:
                problem = str(error)
        row = layout.row()
        row.scale_y = 1.5
        row.enabled = problem is None
        row.operator("optical_flow.render_flow", icon="RENDER_ANIMATION")
        if problem:
            draw_text(layout, context, problem, icon="ERROR")
        elif scene.render.engine != "CYCLES":
            draw_text(layout, context, "Renders with Cycles, then restores your engine", icon="INFO")


class VIEW3D_PT_optical_flow_poses(SidebarPanel, bpy.types.Panel):
    """Keyframe the camera from a file of camera poses, one pose per frame"""

    bl_label = "Camera Poses"
    bl_parent_id = "VIEW3D_PT_optical_flow"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.layout, context.scene.optical_flow
        locked_while_baking(layout)
        layout.prop(settings, "pose_file", text="File")
        layout.prop(settings, "pose_format")
        row = layout.row()
        row.enabled = bool(settings.pose_file.strip())
        row.operator_context = "EXEC_DEFAULT"  # import the file chosen above, no file browser
        operator = row.operator("optical_flow.import_camera_poses", text="Import", icon="IMPORT")
        operator.filepath, operator.format = settings.pose_file, settings.pose_format
        if not row.enabled:
            draw_text(layout, context, "Choose a pose file to import", icon="INFO")
        elif settings.imported_poses:
            first, step = settings.imported_first_frame, settings.imported_frame_step
            frames = range(first, first + settings.imported_poses * step, step)
            draw_text(layout, context, f"{settings.imported_poses} poses keyframed on {settings.imported_camera}, "
                                       f"{keyed_frames_text(frames)}", icon="CHECKMARK")


class VIEW3D_PT_optical_flow_flow(SidebarPanel, bpy.types.Panel):
    """Which flow to write and how its y axis points"""

    bl_label = "Flow"
    bl_parent_id = "VIEW3D_PT_optical_flow"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.layout, context.scene.optical_flow
        locked_while_baking(layout)
        row = layout.row(align=True)
        row.prop(settings, "get_forward_flow", toggle=True)
        row.prop(settings, "get_backward_flow", toggle=True)
        layout.label(text="Coordinates")
        row = layout.row(align=True)
        row.prop(settings, "blender_image_coordinate_style", text="OpenCV", toggle=True, invert_checkbox=True)
        row.prop(settings, "blender_image_coordinate_style", text="Blender", toggle=True)
        hint = ("Origin bottom-left, y up: flow y has the opposite sign" if settings.blender_image_coordinate_style
                else "Origin top-left, y down, as in most flow datasets")
        draw_text(layout, context, hint, icon="INFO")
        layout.prop(settings, "frame_gap")
        row = layout.row(align=True)
        row.prop(settings, "occlusion", toggle=True)
        row.prop(settings, "scene_flow", toggle=True)
        layout.prop(settings, "verify")
        if settings.occlusion:
            draw_text(layout, context, "Occluded: the pixel's surface point is hidden in the other frame", icon="INFO")
        layout.label(text="With the Flow")
        layout.prop(settings, "render_images")
        if settings.render_images:
            layout.prop(settings, "image_motion_blur", text="Motion Blur")
            draw_text(layout, context, f"Rendered with {context.scene.render.engine.replace('_', ' ').title()} "
                      "and the scene's own settings", icon="INFO")
        layout.prop(settings, "render_depth")
        layout.prop(settings, "segmentation")
        layout.prop(settings, "normals")
        if settings.normals:
            layout.prop(settings, "geometric_normals")
        layout.prop(settings, "stereo")
        layout.prop(settings, "truth_scale")
        layout.prop(settings, "point_tracks")
        if settings.point_tracks:
            column = layout.column(align=True)
            column.prop(settings, "track_count")
            column.prop(settings, "track_seed")
            layout.prop(settings, "track_queries")
            layout.prop(settings, "track_balance")
            layout.label(text="Also as")
            layout.row(align=True).prop(settings, "track_formats", expand=True)
        layout.prop(settings, "device")


class VIEW3D_PT_optical_flow_output(SidebarPanel, bpy.types.Panel):
    """Where the flow files go, in which formats, for which frames"""

    bl_label = "Output"
    bl_parent_id = "VIEW3D_PT_optical_flow"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings, scene = self.layout, context.scene.optical_flow, context.scene
        locked_while_baking(layout)
        layout.prop(settings, "output_dir", text="Folder")
        layout.prop(settings, "layout")
        if settings.layout != "BLENDERPROC":
            layout.prop(settings, "sequence")
            draw_text(layout, context, "The layout turns on the images, depth and masks it needs", icon="INFO")
        else:
            layout.label(text="Formats")
            layout.column(align=True).prop(settings, "output_formats", expand=True)  # one full name per row
        if settings.layout == "BLENDERPROC" and settings.output_formats & {"HDF5", "HDF5_SEQUENCE"}:
            layout.label(text="HDF5 Compression")  # beside the menu, the label would be cut at the default width
            layout.prop(settings, "hdf5_compression", text="")
        layout.prop(settings, "use_scene_frame_range")
        column = layout.column(align=True)
        if settings.use_scene_frame_range:
            column.enabled = False
            column.label(text=f"Scene frames {scene.frame_start}–{scene.frame_end}")
        else:
            column.prop(settings, "frame_start")
            column.prop(settings, "frame_end")
        layout.prop(settings, "overwrite", text="Overwrite Existing Files")


class VIEW3D_PT_optical_flow_result(SidebarPanel, bpy.types.Panel):
    """What the last Render Flow wrote, and where"""

    bl_label = "Last Render"
    bl_parent_id = "VIEW3D_PT_optical_flow"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return bake_job.current() is None and context.scene.optical_flow.last_bake != "NONE"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings, frame = self.layout, context.scene.optical_flow, context.scene.frame_current
        done, total, message = settings.last_bake_frames, settings.last_bake_total, settings.last_bake_message
        summary, icon = {
            "FINISHED": (f"{done} frames in {duration(settings.last_bake_seconds)}", "CHECKMARK"),
            "CANCELLED": (f"Cancelled after {done} of {total} frames" + (f" because {message}" if message else ""),
                          "CANCEL"),
            "FAILED": ((f"Stopped after {done} of {total} frames: " if done else "") + message, "ERROR"),
        }[settings.last_bake]
        draw_text(layout, context, summary, icon=icon)
        folder = Path(settings.last_bake_folder)
        draw_text(layout, context, shown_path(folder), icon="FILE_FOLDER")
        layout.operator("wm.path_open", text="Open Folder", icon="FILEBROWSER").filepath = str(folder)
        try:
            bake = last_bake(settings)
        except FlowError as error:  # a broken manifest: say so instead of the buttons
            draw_text(layout, context, str(error), icon="ERROR")
            return
        layout.label(text=f"Show flow of frame {frame}:")
        row = layout.row(align=True)
        available = {name: bake.has(flow, frame) for name, flow in FLOW_CHOICES.items()}
        for name, exists in available.items():
            button = row.row(align=True)
            button.enabled = exists
            show = button.operator("optical_flow.show_flow", text=name.title(), icon="IMAGE_DATA")
            show.flow, show.with_image = name, settings.with_image
        if bake.has("colors", frame):
            layout.prop(settings, "with_image")
        if last_tracks(settings).is_file():
            layout.operator("optical_flow.show_tracks", icon="TRACKER")
        if not any(available.values()):
            files = "" if bake.training else " (Show Flow reads the NumPy .npy files)"
            draw_text(layout, context, f"No flow of frame {frame} in this bake{files}", icon="INFO")


# Sub-panels show in this order: the last render's result right under the button that made it.
classes = (VIEW3D_PT_optical_flow, VIEW3D_PT_optical_flow_result, VIEW3D_PT_optical_flow_poses,
           VIEW3D_PT_optical_flow_flow, VIEW3D_PT_optical_flow_output)
register, unregister = bpy.utils.register_classes_factory(classes)
