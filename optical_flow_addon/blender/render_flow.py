"""The Render Flow operator: modal with progress and cancel from the UI, synchronous from scripts.

A :class:`BakeJob` drives the ``bake_flow`` generator one frame per step. The modal operator steps
it on a timer, its images rendering in Blender's render job (live_render.py); Esc, the Cancel button, Undo,
saving or opening a file close the generator, which writes the manifest for the frames done and restores the scene.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
from bpy.app.handlers import persistent

from ..core.errors import FlowError
from ..core.options import BakeOptions
from .bake import BakeProgress, RenderStopped, bake_flow, check_scene
from .live_render import ImageRender, image_renders_in
from .settings import flow_properties

# The one bake running modally in this Blender, shown by the panel; None when idle.
JOB: BakeJob | None = None


def output_folder(path: str) -> Path:
    """Resolve ``//`` against the .blend; an unsaved file has no folder to be relative to."""
    if not path.strip():
        raise FlowError("Choose an output folder for the flow files.")
    if path.startswith("//") and not bpy.data.filepath:
        raise FlowError(f"Output folder {path!r} is relative to the .blend file, which is not saved yet: "
                        "save it or choose an absolute folder.")
    return Path(bpy.path.abspath(path))


def bake_options(scene: bpy.types.Scene, setting: Callable[[str], Any], custom_range: bool) -> BakeOptions:
    """Options from ``setting(name)``; the scene's frame range unless ``custom_range``."""
    start, end = ((setting("frame_start"), setting("frame_end")) if custom_range
                  else (scene.frame_start, scene.frame_end))
    return BakeOptions(
        output_dir=output_folder(setting("output_dir")),
        frame_start=start,
        frame_end=end,
        sequence_start=scene.frame_start,
        sequence_end=scene.frame_end,
        get_forward_flow=setting("get_forward_flow"),
        get_backward_flow=setting("get_backward_flow"),
        blender_image_coordinate_style=setting("blender_image_coordinate_style"),
        formats=frozenset(setting("output_formats")),
        overwrite=setting("overwrite"),
        picture_max_radius=setting("picture_max_radius"),
        hdf5_compression=setting("hdf5_compression"),
        render_images=setting("render_images"),
        render_depth=setting("render_depth"),
        image_motion_blur=setting("image_motion_blur"),
        frame_gap=setting("frame_gap"),
        occlusion=setting("occlusion"),
        scene_flow=setting("scene_flow"),
        verify=setting("verify"),
        layout=setting("layout"),
        sequence=setting("sequence") or (Path(bpy.data.filepath).stem if bpy.data.filepath else "scene"),
    )


def scene_bake_options(scene: bpy.types.Scene) -> BakeOptions:
    """What Render Flow would bake with the scene's stored settings (raises FlowError if it cannot)."""
    settings = scene.optical_flow
    return bake_options(scene, lambda name: getattr(settings, name), not settings.use_scene_frame_range)


def context_problem(context: bpy.types.Context) -> str | None:
    """Why Render Flow cannot start here, in words for the status bar; None if it can."""
    if JOB is not None:
        return "Flow is already rendering: wait for it to finish or press Cancel"
    scene = context.scene
    try:
        check_scene(scene)
    except FlowError as error:
        return str(error)
    if not hasattr(scene, "cycles"):
        return "Flow is rendered with Cycles, which is turned off: enable it in Preferences › Add-ons"
    return None


def duration(seconds: float) -> str:
    """Artist-friendly duration: 4.2 s, 3 min 5 s, 1 h 2 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@dataclass
class BakeJob:
    """One bake, stepped a frame at a time; records its summary on the scene when it ends."""

    scene: bpy.types.Scene
    options: BakeOptions
    frames: Iterator[BakeProgress] = field(init=False)
    started: float = field(init=False, default_factory=time.perf_counter)
    last: BakeProgress | None = None
    result: str = "RUNNING"  # then FINISHED, CANCELLED or FAILED, as in settings.BAKE_RESULT_ITEMS
    message: str = ""
    seconds: float = 0.0
    window: bpy.types.Window | None = None  # the bake's images render in Blender's render job, from this window
    rendering: ImageRender | None = None  # the image being rendered in that job

    def __post_init__(self) -> None:
        live = {"render_image": image_renders_in(self.window)} if self.window else {}
        self.frames = bake_flow(self.scene, self.options, **live)

    @property
    def done(self) -> int:
        return self.last.done if self.last else 0

    @property
    def total(self) -> int:
        return len(self.options.frames)

    @property
    def running(self) -> bool:
        return self.result == "RUNNING"

    def seconds_left(self) -> float | None:
        """Estimate from the frames done so far; None before the first frame."""
        if not self.done:
            return None
        return (time.perf_counter() - self.started) / self.done * (self.total - self.done)

    def status(self) -> str:
        left = self.seconds_left()
        counted = (f"frame {self.options.frames.index(self.rendering.frame) + 1} of {self.total} · rendering image"
                   if self.rendering else f"{self.done} of {self.total} frames")
        return counted + (f" · about {duration(left)} left" if left is not None else "")

    def step(self) -> bool:
        """Bake the next frame; False once the bake has ended (finished, failed or cancelled)."""
        if not self.running:
            return False
        try:
            step = next(self.frames)
            if isinstance(step, ImageRender):
                self.rendering = step
            else:
                self.last, self.rendering = step, None
        except StopIteration:
            self.end("FINISHED")
        except RenderStopped as stopped:
            self.end("CANCELLED", str(stopped))
        except FlowError as error:
            self.end("FAILED", str(error))
        except Exception as error:  # the generator has already restored the scene; say what happened
            traceback.print_exc()
            self.end("FAILED", f"Flow rendering stopped by an unexpected error: {error}")
        return self.running

    def cancel(self, reason: str = "") -> None:
        """Stop after the frame in hand: its files and the manifest stay complete, the scene is restored."""
        if self.running:
            if self.rendering:  # the frame being written while the image renders is kept and counted
                try:
                    self.last = self.frames.throw(RenderStopped(reason))
                except (StopIteration, RenderStopped, FlowError):
                    pass
            self.frames.close()
            self.end("CANCELLED", reason)

    def end(self, result: str, message: str = "") -> None:
        self.result, self.message = result, message
        self.seconds = time.perf_counter() - self.started
        settings = self.scene.optical_flow
        settings.last_bake, settings.last_bake_message = result, message
        settings.last_bake_frames, settings.last_bake_total = self.done, self.total
        settings.last_bake_seconds, settings.last_bake_folder = self.seconds, str(self.options.output_dir)

    def summary(self) -> str:
        """One line for the status bar; it does not touch the scene, which may be gone by now."""
        folder, count = self.options.output_dir, f"{self.done} of {self.total} frames"
        if self.result == "FINISHED":
            return f"Optical flow: {self.total} frames written to {folder} in {duration(self.seconds)}"
        if self.result == "CANCELLED":
            because = f" because {self.message}" if self.message else ""
            return f"Flow rendering cancelled after {count}{because}; their files in {folder} are complete"
        return f"{self.message} (stopped after {count}; their files are complete)" if self.done else self.message


def cancel_running_bake(reason: str) -> None:
    if JOB is not None:
        JOB.cancel(reason)


@persistent
def cancel_before_undo(*_args: Any) -> None:
    cancel_running_bake("Undo was used")


@persistent
def cancel_before_save(*_args: Any) -> None:
    cancel_running_bake("the file was saved (it keeps your own render settings)")


@persistent
def cancel_before_load(*_args: Any) -> None:
    cancel_running_bake("another file was opened")


HANDLERS = {"undo_pre": cancel_before_undo, "redo_pre": cancel_before_undo,
            "save_pre": cancel_before_save, "load_pre": cancel_before_load}


def redraw_sidebars(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class OPTICAL_FLOW_OT_render_flow(bpy.types.Operator):
    """Render forward and backward optical flow for the frame range (Esc cancels)"""

    bl_idname = "optical_flow.render_flow"
    bl_label = "Render Flow"
    __annotations__ = flow_properties()

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        problem = context_problem(context)
        if problem:
            cls.poll_message_set(problem)
        return problem is None

    def setting(self, context: bpy.types.Context, name: str):
        """An argument given to the operator wins over the scene's stored setting."""
        source = self if self.properties.is_property_set(name) else context.scene.optical_flow
        return getattr(source, name)

    def start(self, context: bpy.types.Context, window: bpy.types.Window | None = None) -> BakeJob | None:
        custom_range = (
            self.properties.is_property_set("frame_start") or self.properties.is_property_set("frame_end")
            or not self.setting(context, "use_scene_frame_range")
        )
        try:
            options = bake_options(context.scene, lambda name: self.setting(context, name), custom_range)
        except FlowError as error:
            self.report({"ERROR"}, str(error))
            return None
        return BakeJob(context.scene, options, window=window)

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
        global JOB
        JOB = self.start(context, context.window)
        if JOB is None:
            return {"CANCELLED"}
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(0.01, window=context.window)
        window_manager.modal_handler_add(self)
        window_manager.progress_begin(0, JOB.total)
        self.show_progress(context)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC" and event.value == "PRESS":
            JOB.cancel()
        elif event.type == "TIMER" and JOB.step():
            self.show_progress(context)
        if JOB.running:
            return {"PASS_THROUGH"}
        self.stop(context)
        return self.report_end(self.forget_job())

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the operator (window closed, Blender quits): stop the bake cleanly."""
        cancel_running_bake("Blender stopped it")
        self.stop(context)
        self.forget_job()

    @staticmethod
    def forget_job() -> BakeJob:
        global JOB
        job, JOB = JOB, None
        return job

    def show_progress(self, context: bpy.types.Context) -> None:
        context.window_manager.progress_update(JOB.done)
        context.workspace.status_text_set(f"Optical flow: {JOB.status()} · Esc to cancel")
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
        if JOB is None:
            cls.poll_message_set("No flow is rendering")
        return JOB is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        JOB.cancel()
        return {"FINISHED"}


classes = (OPTICAL_FLOW_OT_render_flow, OPTICAL_FLOW_OT_cancel_render_flow)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()
    for name, handler in HANDLERS.items():
        getattr(bpy.app.handlers, name).append(handler)


def unregister() -> None:
    cancel_running_bake("the add-on was turned off")
    for name, handler in HANDLERS.items():
        handlers = getattr(bpy.app.handlers, name)
        if handler in handlers:
            handlers.remove(handler)
    _unregister()
