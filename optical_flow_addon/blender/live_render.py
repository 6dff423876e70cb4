"""The bake's images rendered as F12 renders them: in Blender's render job, so the window stays live.

``bpy.ops.render.render(write_still=True)`` holds Blender's whole window until the image is done: a 30-second
image, a 30-second freeze. Invoked (``INVOKE_DEFAULT``) from a window, the same render runs in Blender's render
job, shows in the render window as F12 does, and Blender keeps drawing and handling events. The bake then yields
an ``ImageRender`` at every step of its job until the render job has ended, and goes on with the file.

Python cannot stop a render job. Esc (which Blender's render takes, so the bake's operator never sees it) and the
✕ of the render's progress bar (``template_running_jobs``, drawn by the panel while an image renders) stop it; the
``render_cancel`` handler says so and the bake ends as cancelled. Blender may run its render handlers on the
render thread, so they only set flags.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from ..core.errors import FlowError
from .bake import RenderStep, RenderStopped, not_rendered
from .settings_guard import SettingsGuard

CLEAN_UP_EVERY = 0.5  # seconds between looks at a render the bake no longer waits for


@dataclass
class ImageRender:
    """An image being rendered in Blender's render job for ``frame``, into ``path``."""

    frame: int
    path: Path
    started: set[str] | None = None  # what Blender's render operator returned, once a timer has called it
    refused: str = ""  # why it did not start
    abandoned: bool = False  # the bake stopped before the timer came
    completed: bool = False  # set by Blender's render handlers
    cancelled: bool = False

    def on_complete(self, *_args: Any) -> None:
        self.completed = True

    def on_cancel(self, *_args: Any) -> None:
        self.cancelled = True

    def start(self, window: bpy.types.Window, scene: bpy.types.Scene) -> None:
        """Start the render from a timer of its own, as F12 over the window's largest editor would: started from
        the operator's modal handler when a button of the sidebar ran it, Blender 3.4 crashes when the render
        ends."""
        def start() -> None:
            if self.abandoned:
                return
            try:
                with bpy.context.temp_override(**main_region(window), scene=scene):
                    self.started = bpy.ops.render.render("INVOKE_DEFAULT", write_still=True)
            except (RuntimeError, ReferenceError) as error:  # the render's poll failed, the window was closed
                self.started, self.refused = {"CANCELLED"}, str(error).strip()
        bpy.app.timers.register(start, first_interval=0.0)

    @property
    def running(self) -> bool:
        """Until it has started, a handler has fired and the render job is gone (a job can start suspended)."""
        if self.started is None:
            return True
        return self.started == {"RUNNING_MODAL"} and (not (self.completed or self.cancelled)
                                                      or bpy.app.is_job_running("RENDER"))

    def handlers(self) -> dict[str, Any]:
        return {"render_complete": self.on_complete, "render_cancel": self.on_cancel}

    def discard_when_done(self) -> None:
        """The bake stopped waiting (Cancel, Undo, saving): the render goes on in Blender, its file is removed
        once it is written, with the folder the bake had already removed and Blender made again to write it."""
        def clean_up() -> float | None:
            if bpy.app.is_job_running("RENDER"):
                return CLEAN_UP_EVERY
            self.path.unlink(missing_ok=True)
            if self.path.parent.exists() and not any(self.path.parent.iterdir()):
                self.path.parent.rmdir()
            return None
        bpy.app.timers.register(clean_up, first_interval=CLEAN_UP_EVERY)


def main_region(window: bpy.types.Window) -> dict[str, Any]:
    """The context F12 has when pressed over the window's largest editor (the operator may run from elsewhere)."""
    area = max(window.screen.areas, key=lambda area: area.width * area.height)
    return {"window": window, "area": area, "region": next(r for r in area.regions if r.type == "WINDOW")}


def image_renders_in(window: bpy.types.Window) -> RenderStep:
    """The bake's image render for a bake started from ``window``, in Blender's render job."""

    def render_image(scene: bpy.types.Scene, frame: int, path: Path,
                     guard: SettingsGuard) -> Generator[ImageRender, None, Path]:
        """Start the render, yield while it runs (the guard keeps the image's settings), then give its file."""
        render = ImageRender(frame, path)
        scene.frame_set(frame)
        guard.set(scene.render, "filepath", str(path.with_suffix("")))
        for name, handler in render.handlers().items():
            getattr(bpy.app.handlers, name).append(handler)
        try:
            render.start(window, scene)
            while render.running:
                yield render
        finally:
            for name, handler in render.handlers().items():
                handlers = getattr(bpy.app.handlers, name)
                if handler in handlers:
                    handlers.remove(handler)
            render.abandoned = render.running
            if render.started and render.running:
                render.discard_when_done()
        if render.started != {"RUNNING_MODAL"}:
            raise FlowError(f"Blender did not start rendering frame {frame}: "
                            f"{render.refused or 'another render may be running'}. "
                            "Wait for it to end, then press Render Flow again.")
        if render.cancelled:
            render.path.unlink(missing_ok=True)
            raise RenderStopped(f"the image render of frame {frame} was stopped")
        if not path.exists():
            raise not_rendered(scene, frame, "see the render's message in the status bar")
        return path

    return render_image
