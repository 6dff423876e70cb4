"""The bake running from the Render Flow button: stepped a frame at a time, one at most per Blender.

A ``BakeJob`` drives the ``bake_flow`` generator one frame per step. The modal operator (render_flow.py)
steps it on a timer and makes it the current job, which the panels show (``current()``); its images render in
Blender's render job (live_render.py). Esc, the Cancel button, Undo, saving or opening a file close the
generator, which writes the manifest for the frames done and restores the scene.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import bpy
from bpy.app.handlers import persistent

from ..core.duration import duration
from ..core.errors import FlowError
from ..core.manifest import manifest_path
from ..core.options import BakeOptions
from ..core.render_devices import AS_SCENE
from .bake import BakeProgress, RenderStopped, bake_flow
from .live_render import ImageRender, image_renders_in

# The one bake running modally in this Blender, shown by the panels; None when idle.
_current: BakeJob | None = None


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
    device: str = AS_SCENE  # what Cycles renders on: render_device.py

    def __post_init__(self) -> None:
        live = {"render_image": image_renders_in(self.window)} if self.window else {}
        self.frames = bake_flow(self.scene, self.options, device=self.device, **live)

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
        on = f" · on {self.last.device}" if self.last and self.last.device else ""
        return counted + on + (f" · about {duration(left)} left" if left is not None else "")

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
        settings.last_bake_manifest = str(manifest_path(self.options).relative_to(self.options.output_dir))

    def summary(self) -> str:
        """One line for the status bar; it does not touch the scene, which may be gone by now."""
        folder, count = self.options.output_dir, f"{self.done} of {self.total} frames"
        if self.result == "FINISHED":
            on = f" on {self.last.device}" if self.last and self.last.device else ""
            return f"Optical flow: {self.total} frames written to {folder} in {duration(self.seconds)}{on}"
        if self.result == "CANCELLED":
            because = f" because {self.message}" if self.message else ""
            return f"Flow rendering cancelled after {count}{because}; their files in {folder} are complete"
        return f"{self.message} (stopped after {count}; their files are complete)" if self.done else self.message


def current() -> BakeJob | None:
    """The bake running modally, which the panels show; None when idle."""
    return _current


def set_current(job: BakeJob | None) -> None:
    """Make ``job`` the one the panels show and Undo, saving or opening a file cancel; None when it has ended."""
    global _current
    _current = job


def cancel_current(reason: str = "") -> None:
    if _current is not None:
        _current.cancel(reason)


@persistent
def cancel_before_undo(*_args: Any) -> None:
    cancel_current("Undo was used")


@persistent
def cancel_before_save(*_args: Any) -> None:
    cancel_current("the file was saved (it keeps your own render settings)")


@persistent
def cancel_before_load(*_args: Any) -> None:
    cancel_current("another file was opened")


HANDLERS = {"undo_pre": cancel_before_undo, "redo_pre": cancel_before_undo,
            "save_pre": cancel_before_save, "load_pre": cancel_before_load}


def register() -> None:
    for name, handler in HANDLERS.items():
        getattr(bpy.app.handlers, name).append(handler)


def unregister() -> None:
    cancel_current("the add-on was turned off")
    for name, handler in HANDLERS.items():
        handlers = getattr(bpy.app.handlers, name)
        if handler in handlers:
            handlers.remove(handler)
