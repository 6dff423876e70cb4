"""The Render Flow and Cancel operators: modal with progress and cancel from the UI, synchronous from scripts.

The bake itself is a ``bake_job.BakeJob``; the modal operator steps it on a timer and shows its
progress. (No ``from __future__ import annotations`` here: Blender needs the properties' annotations evaluated.)
"""
from typing import Any

import bpy

from ..core.errors import FlowError
from . import bake_job
from .bake import check_scene
from .bake_job import BakeJob
from .settings import FlowSettings, bake_options


def context_problem(context: bpy.types.Context) -> str | None:
    """Why Render Flow cannot start here, in words for the status bar; None if it can."""
    if bake_job.current() is not None:
        return "Flow is already rendering: wait for it to finish or press Cancel"
    scene = context.scene
    try:
        check_scene(scene)
    except FlowError as error:
        return str(error)
    if not hasattr(scene, "cycles"):
        return "Flow is rendered with Cycles, which is turned off: enable it in Preferences › Add-ons"
    return None


class GivenOrStored:
    """The settings a Render Flow bakes with: an argument given to the operator wins over the scene's setting."""

    def __init__(self, operator: bpy.types.Operator, stored: FlowSettings) -> None:
        self._operator, self._stored = operator, stored

    def __getattr__(self, name: str) -> Any:
        given = self._operator.properties.is_property_set(name)
        return getattr(self._operator if given else self._stored, name)


def redraw_sidebars(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class OPTICAL_FLOW_OT_render_flow(FlowSettings, bpy.types.Operator):
    """Render forward and backward optical flow for the frame range (Esc cancels)"""

    bl_idname = "optical_flow.render_flow"
    bl_label = "Render Flow"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        problem = context_problem(context)
        if problem:
            cls.poll_message_set(problem)
        return problem is None

    def start(self, context: bpy.types.Context, window: bpy.types.Window | None = None) -> BakeJob | None:
        settings = GivenOrStored(self, context.scene.optical_flow)
        custom_range = (
            self.properties.is_property_set("frame_start") or self.properties.is_property_set("frame_end")
            or not settings.use_scene_frame_range
        )
        try:
            options = bake_options(context.scene, settings, custom_range)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return None
        return BakeJob(context.scene, options, window=window, device=settings.device)

    def report_end(self, job: BakeJob) -> set[str]:
        for note in job.last.notes if job.last else []:
            self.report({"WARNING"}, note)
        level = {"FINISHED": "INFO", "CANCELLED": "WARNING"}.get(job.result, "ERROR")
        self.report({level}, job.summary())
        return {"FINISHED"} if job.result == "FINISHED" else {"CANCELLED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Synchronous: scripts, ``blender -b`` and the command line."""
        job = self.start(context)
        if job is None:
            return {"CANCELLED"}
        while job.step():
            print(f"Optical flow: frame {job.last.frame} ({job.done}/{job.total}) in {job.last.seconds:.2f} s")
        return self.report_end(job)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """From a button: modal, one frame per timer tick, so Blender stays responsive."""
        if bpy.app.background or context.window is None:
            return self.execute(context)
        job = self.start(context, context.window)
        if job is None:
            return {"CANCELLED"}
        bake_job.set_current(job)
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(0.01, window=context.window)
        window_manager.modal_handler_add(self)
        window_manager.progress_begin(0, job.total)
        self.show_progress(context, job)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = bake_job.current()
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        elif event.type == "TIMER" and job.step():
            self.show_progress(context, job)
        if job.running:
            return {"PASS_THROUGH"}
        self.stop(context)
        bake_job.set_current(None)
        return self.report_end(job)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the operator (window closed, Blender quits): stop the bake cleanly."""
        bake_job.cancel_current("Blender stopped it")
        self.stop(context)
        bake_job.set_current(None)

    def show_progress(self, context: bpy.types.Context, job: BakeJob) -> None:
        context.window_manager.progress_update(job.done)
        context.workspace.status_text_set(f"Optical flow: {job.status()} · Esc to cancel")
        redraw_sidebars(context)

    def stop(self, context: bpy.types.Context) -> None:
        window_manager = context.window_manager
        window_manager.event_timer_remove(self._timer)
        window_manager.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        redraw_sidebars(context)


class OPTICAL_FLOW_OT_cancel_render_flow(bpy.types.Operator):
    """Stop rendering flow; the frames written so far stay complete and the scene is restored"""

    bl_idname = "optical_flow.cancel_render_flow"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if bake_job.current() is None:
            cls.poll_message_set("No flow is rendering")
        return bake_job.current() is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        if bake_job.current().rendering:
            self.report({"WARNING"}, "The image being rendered goes on in Blender's render job and is then deleted: "
                                     "Esc or the ✕ of its progress bar stops it now")
        bake_job.cancel_current()
        return {"FINISHED"}


classes = (OPTICAL_FLOW_OT_render_flow, OPTICAL_FLOW_OT_cancel_render_flow)
register, unregister = bpy.utils.register_classes_factory(classes)
