"""Runs inside Blender for test_blender_window.py (pytest does not collect it); shared by every Blender it drives.

``blender -b --python this -- scene OUT``: save a small animated scene to OUT/scene.blend.
``blender OUT/scene.blend --python this -- window OUT ADDON``: in a real window, use the Optical Flow tab as an
artist does (real mouse clicks and keys through xdotool), take screenshots and write OUT/results.json. ADDON is
the add-on's module: ``optical_flow`` (legacy add-on) or ``bl_ext.user_default.optical_flow`` (extension).

Buttons are found as a user finds them, by pointing: the pointer moves down the sidebar and Blender's own
"Copy Python Command" says which operator the button under it runs.
"""
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import addon_utils
import bpy

MODE, OUT, *ADDON = sys.argv[sys.argv.index("--") + 1:]
OUT = Path(OUT)
results: dict = {}
SHOW_FORWARD = "bpy.ops.optical_flow.show_flow(with_image=True, flow='FORWARD')"  # the panel's choice first


# BlenderProc's optical-flow example camera_positions: x y z rx ry rz.
POSES = "0 -10 4 1.3 0 0\n0 -12 4 1.3 0 0\n2 -12 4 1.3 0 0\n2 -12 6 1.3 0 0\n1 -11 5 1.3 0 0\n"


def build_scene() -> None:
    """The default cube scene with tiny renders, and a pose file next to it."""
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
    scene.cycles.use_denoising = False  # Debian's Blender 4.3 is built without OpenImageDenoise
    scene.frame_set(2)
    (OUT / "camera_positions").write_text(POSES, encoding="utf-8")
    bpy.ops.wm.save_as_mainfile(filepath=str(OUT / "scene.blend"))


def user_settings(scene) -> dict:
    """Settings the bake changes and must give back."""
    render, layer = scene.render, scene.view_layers[0]
    return {"engine": render.engine, "filepath": render.filepath, "file_format": render.image_settings.file_format,
            "samples": scene.cycles.samples, "filter_width": scene.cycles.filter_width,
            "film_transparent": render.film_transparent, "use_pass_vector": layer.use_pass_vector,
            "use_pass_z": layer.use_pass_z, "material_override": getattr(layer.material_override, "name", None),
            "frame": scene.frame_current, "materials": sorted(m.name for m in bpy.data.materials),
            "camera_x": round(scene.camera.matrix_world[0][3], 6)}


def screenshot(name: str) -> None:
    subprocess.run(["import", "-window", "root", str(OUT / f"{name}.png")], check=True)


def xdotool(*arguments) -> None:
    subprocess.run(["xdotool", *map(str, arguments)], check=True)


def wait_for(condition, seconds: float = 60.0):
    """Let Blender run until ``condition()`` holds, looking again after every pass of its event loop."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds} s")
        yield 0.0


def screen_box(window, x: int, y: int, width: int, height: int) -> dict:
    """A box in screen pixels, rows from the top (Blender counts them from the bottom of the screen)."""
    screen_height = bpy.context.window_manager.windows[0].height  # the main window fills the screen
    return {"x": window.x + x, "y": screen_height - window.y - y - height, "width": width, "height": height}


class Pointer:
    """Finds and clicks the sidebar's buttons with the real pointer."""

    def __init__(self, window, area, sidebar, top: int) -> None:
        self.window, self.area, self.sidebar, self.top = window, area, sidebar, top

    def command_under_pointer(self) -> str:
        """The Python command of the button under the pointer, as Blender's Copy Python Command gives it."""
        manager = bpy.context.window_manager
        manager.clipboard = ""
        with bpy.context.temp_override(window=self.window, area=self.area, region=self.sidebar):
            if bpy.ops.ui.copy_python_command_button.poll():
                bpy.ops.ui.copy_python_command_button()
        return manager.clipboard

    def find(self, command: str, x_from_right: int = 0, below: int = 0):
        """Point down the sidebar until the button's command starts with ``command``; its screen position."""
        x = self.sidebar.x + (self.sidebar.width - x_from_right if x_from_right else self.sidebar.width // 2)
        for y in range(self.top + below + 5, self.top + self.sidebar.height, 6):
            xdotool("mousemove", x, y)
            yield 0.05
            yield 0.0  # the motion event is handled in the pass after it arrives
            if self.command_under_pointer().startswith(command):
                results.setdefault("buttons", {})[command] = [x, y]
                return
        raise LookupError(f"no button runs {command} in the sidebar")

    def click(self, command: str) -> None:
        xdotool("mousemove", *results["buttons"][command], "click", 1)

    def rest(self) -> None:
        """Off the panel: no highlight or tooltip in the next picture."""
        xdotool("mousemove", self.window.width // 3, self.window.height // 2)


def window_steps():
    window = bpy.context.window_manager.windows[0]
    area = max((a for a in window.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.width * a.height)
    area.spaces.active.show_region_ui = True
    if ADDON[0] in bpy.context.preferences.addons:  # an extension is enabled when installed
        addon_utils.disable(ADDON[0], default_set=True)
    yield 1.0
    sidebar = next(r for r in area.regions if r.type == "UI")
    top = window.height - sidebar.y - sidebar.height  # screen rows count from the top, Blender's from the bottom
    results["sidebar"] = {"x": sidebar.x, "y": top, "width": sidebar.width, "height": sidebar.height}
    results["version"] = bpy.app.version_string
    screenshot("without_addon")

    addon_utils.enable(ADDON[0], default_set=True, handle_error=None)
    results["addon_enabled"] = ADDON[0] in bpy.context.preferences.addons
    bake_job = importlib.import_module(f"{ADDON[0]}.optical_flow_addon.blender.bake_job")  # as Blender loaded it
    results["addon_file"] = bake_job.__file__

    drawn = []
    bpy.types.VIEW3D_PT_optical_flow.append(lambda panel, context: drawn.append(context.region.width))
    tabs_x = sidebar.x + sidebar.width - 12  # the tab strip runs down the sidebar's right edge
    for y in range(top + 10, top + sidebar.height, 20):  # click down the strip until our tab opens
        yield 0.3
        if drawn:
            break
        xdotool("mousemove", tabs_x, y, "click", 1)
    results["panel_drawn"] = bool(drawn)
    pointer = Pointer(window, area, sidebar, top)
    pointer.rest()
    yield 0.5
    screenshot("tab")

    # Camera Poses: the folder button opens Blender's file browser; choose the file there and press Return.
    scene = bpy.context.scene
    settings = scene.optical_flow
    yield from pointer.find("bpy.ops.buttons.file_browse", x_from_right=45)
    pointer.click("bpy.ops.buttons.file_browse")
    def browsers():
        return [(w, a) for w in bpy.context.window_manager.windows for a in w.screen.areas
                if a.type == "FILE_BROWSER"]
    yield from wait_for(browsers)
    yield 0.5
    browser_window, browser = browsers()[0]
    browser.spaces.active.params.directory = str(OUT).encode()
    browser.spaces.active.params.filename = "camera_positions"
    yield 0.5
    screenshot("file_browser")
    box = screen_box(browser_window, 0, 0, browser_window.width, browser_window.height)
    xdotool("mousemove", box["x"] + box["width"] // 2, box["y"] + box["height"] // 2, "key", "Return")
    yield from wait_for(lambda: settings.pose_file != "")
    results["pose_file"] = settings.pose_file
    yield from pointer.find("bpy.ops.optical_flow.import_camera_poses")
    pointer.click("bpy.ops.optical_flow.import_camera_poses")
    yield from wait_for(lambda: settings.imported_poses)
    results["poses"] = {"count": settings.imported_poses, "camera": settings.imported_camera,
                        "frames": [scene.frame_start, scene.frame_end]}
    pointer.rest()
    yield 0.5
    screenshot("panel")
    results["settings_before"] = user_settings(scene)
    yield from pointer.find("bpy.ops.optical_flow.render_flow")
    pointer.click("bpy.ops.optical_flow.render_flow")
    yield from wait_for(lambda: bake_job.current() is not None or settings.last_bake != "NONE")
    yield from wait_for(lambda: bake_job.current() is None or bake_job.current().done >= 1)
    job = bake_job.current()
    results["mid_bake"] = {"done": job.done, "total": job.total, "running": job.running} if job else None
    yield from wait_for(lambda: bake_job.current() is None or bake_job.current().done >= 2)  # frame 1 drawn by now
    screenshot("rendering")
    yield from wait_for(lambda: bake_job.current() is None)
    pointer.rest()
    yield 0.5
    results["bake"] = {"result": settings.last_bake, "frames": settings.last_bake_frames,
                       "folder": settings.last_bake_folder, "settings_after": user_settings(scene)}
    yield from sidebar_redrawn()  # on a busy machine the half-second above can end before the panel shows Last Render
    screenshot("finished")

    yield from show_forward(pointer)
    yield from wait_for(lambda: "Optical Flow" in bpy.data.images)
    yield 1.0
    results["image"] = shown_flow(scene)
    screenshot("show_flow")
    yield from back_to_the_main_window(pointer)

    # Long bakes, stopped once their first frame is written: with the real Esc key, then the Cancel button.
    scene.frame_end = 200  # the last pose holds from frame 5 on
    for way, folder in (("esc", "cancelled"), ("button", "cancelled_button")):
        settings.output_dir = f"//{folder}/"
        pointer.click("bpy.ops.optical_flow.render_flow")
        yield from wait_for(lambda: bake_job.current() is not None and bake_job.current().done >= 1)
        if way == "esc":
            pressed = time.monotonic()
            xdotool("mousemove", window.width // 3, window.height // 2, "key", "Escape")
        else:
            below = results["buttons"]["bpy.ops.optical_flow.render_flow"][1] - top - 20
            yield from pointer.find("bpy.ops.optical_flow.cancel_render_flow", below=below)
            screenshot("cancel_button")
            pressed = time.monotonic()
            pointer.click("bpy.ops.optical_flow.cancel_render_flow")
        yield from wait_for(lambda: bake_job.current() is None)
        stopped = time.monotonic() - pressed
        pointer.rest()
        yield 0.5
        results[f"cancel_{way}"] = {"result": settings.last_bake, "frames": settings.last_bake_frames,
                                    "total": settings.last_bake_total, "folder": settings.last_bake_folder,
                                    "seconds_to_stop": stopped, "settings_after": user_settings(scene)}
        screenshot(f"cancelled_{way}")

    yield from long_frame(scene, settings, bake_job, window)
    yield from images(scene, settings, bake_job, window, pointer)


def show_forward(pointer):
    """Clicks Show Flow's Forward, found anew: the Last Render box above it changes with each bake."""
    yield from pointer.find(SHOW_FORWARD, x_from_right=pointer.sidebar.width * 3 // 4)  # the left of two buttons
    pointer.click(SHOW_FORWARD)


def sidebar_redrawn():
    """Let Blender run until the 3D viewport's sidebar has been drawn again, so a screenshot shows its panel as the
    settings are now, not half redrawn."""
    drawn = []
    handler = bpy.types.SpaceView3D.draw_handler_add(lambda: drawn.append(True), (), "UI", "POST_PIXEL")
    try:
        for area in bpy.context.window_manager.windows[0].screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
        yield from wait_for(lambda: bool(drawn), seconds=10)
    finally:
        bpy.types.SpaceView3D.draw_handler_remove(handler, "UI")
    yield 0.2  # the drawn window reaches the screen


def back_to_the_main_window(pointer):
    """Closes the other windows; the main window takes clicks again once the pointer has entered it."""
    # Blender 3.4 refuses to close a window while a render job makes its Python render engine; once, on a loaded
    # machine, the render window was still open 30 s after the bake's render job, for a reason the log did not give:
    # a timeout now says which windows, refusals and jobs there were
    refusals: list = []
    try:
        yield from wait_for(lambda: close_other_windows(refusals) or len(bpy.context.window_manager.windows) == 1,
                            seconds=90)
    except TimeoutError as late:
        raise TimeoutError(f"{late}; windows {window_kinds()}; last refusals {refusals[-3:]} of {len(refusals)}; "
                           f"jobs {running_jobs()}") from None
    pointer.rest()
    yield 1.0


def shown_flow(scene) -> dict:
    """The picture Show Flow made, and where it is shown."""
    image = bpy.data.images["Optical Flow"]
    shown = [(w, a) for w in bpy.context.window_manager.windows for a in w.screen.areas
             if a.type == "IMAGE_EDITOR" and a.spaces.active.image == image]
    return {"size": list(image.size), "pixels": list(image.pixels[:]), "frame": scene.frame_current,
            "editor": [screen_box(w, a.x, a.y, a.width, a.height) for w, a in shown]}


def long_frame(scene, settings, bake_job, window):
    """A frame that renders for seconds: how long Blender's event loop and the viewport's drawing stop meanwhile."""
    scene.frame_start, scene.frame_end = 1, 2
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    settings.output_dir, settings.output_formats = "//long_frame/", {"NPY"}
    drawn = []
    handler = bpy.types.SpaceView3D.draw_handler_add(lambda: drawn.append(time.monotonic()), (), "WINDOW", "POST_PIXEL")
    ticks = []
    xdotool("mousemove", *results["buttons"]["bpy.ops.optical_flow.render_flow"], "click", 1)
    yield from wait_for(lambda: bake_job.current() is not None)
    started = time.monotonic()
    while bake_job.current() is not None:
        ticks.append(time.monotonic())
        # keep the pointer moving over the viewport, so a live window has something to redraw
        xdotool("mousemove", window.width // 4 + len(ticks) % 50, window.height // 2)
        yield 0.05
    ended = time.monotonic()
    bpy.types.SpaceView3D.draw_handler_remove(handler, "WINDOW")
    gaps = [b - a for a, b in zip([started, *ticks], [*ticks, ended])]
    redraws = [t for t in drawn if started <= t <= ended]
    draw_gaps = [b - a for a, b in zip([started, *redraws], [*redraws, ended])]
    results["long_frame"] = {"result": settings.last_bake, "frames": settings.last_bake_frames,
                             "bake_seconds": ended - started, "resolution": [1920, 1080],
                             "longest_event_loop_pause": max(gaps), "redraws": len(redraws),
                             "longest_redraw_pause": max(draw_gaps)}


def close_other_windows(refusals: list) -> None:
    """Closes the windows but the first; a window that is still drawing (the render window, on a busy machine)
    refuses to close, and is tried again on the next tick. Each refusal is added to ``refusals``."""
    for extra in list(bpy.context.window_manager.windows)[1:]:
        with bpy.context.temp_override(window=extra):
            try:
                bpy.ops.wm.window_close()
            except RuntimeError as refused:
                if "can't modify blend data in this state" not in str(refused):
                    raise
                refusals.append(f"{time.monotonic():.1f}: {refused}")


def window_kinds() -> list:
    """Each window's editors, to say which window would not close."""
    return [[area.type for area in window.screen.areas] for window in bpy.context.window_manager.windows]


def running_jobs() -> list:
    """The kinds of Blender job running now."""
    kinds = ("RENDER", "RENDER_PREVIEW", "OBJECT_BAKE", "COMPOSITE", "SHADER_COMPILATION")
    return [kind for kind in kinds if bpy.app.is_job_running(kind)]


def render_windows() -> list:
    """Windows showing the render as F12 shows it."""
    return [w for w in bpy.context.window_manager.windows for a in w.screen.areas
            if a.type == "IMAGE_EDITOR" and getattr(a.spaces.active.image, "type", "") == "RENDER_RESULT"]


def no_render_jobs():
    """Until no render runs in a job: while one creates its Python render engine (Cycles), Blender 3.4 refuses
    writes to the scene from any Python, the driver's timer too (material previews render in such jobs)."""
    yield from wait_for(lambda: not any(bpy.app.is_job_running(job) for job in ("RENDER", "RENDER_PREVIEW")))
    yield 0.2


def images(scene, settings, bake_job, window, pointer):
    """Bakes with images from the window, whose images render in Blender's render job: a short bake to compare
    with the headless one, then long images (Cycles' time limit) while the event loop is timed, stopped by Esc."""
    close_other_windows([])
    yield from no_render_jobs()
    scene.frame_start, scene.frame_end = 1, 3
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.use_adaptive_sampling = 16, False
    settings.render_images, settings.output_dir, settings.output_formats = True, "//images/", {"NPY", "HDF5"}
    bpy.ops.wm.save_as_mainfile(filepath=str(OUT / "images.blend"), copy=True)  # the headless bake's scene
    before = user_settings(scene)
    render_button = results["buttons"]["bpy.ops.optical_flow.render_flow"]
    xdotool("mousemove", *render_button, "click", 1)
    yield from wait_for(lambda: bake_job.current() is not None)
    shown = False
    while bake_job.current() is not None:
        shown = shown or bool(render_windows())
        yield 0.0
    results["images"] = {"result": settings.last_bake, "frames": settings.last_bake_frames, "render_window": shown,
                         "settings_before": before, "settings_after": user_settings(scene)}
    yield from no_render_jobs()
    bpy.data.images["Render Result"].save_render(str(OUT / "render_window_at_the_end.png"), scene=scene)
    screenshot("images_finished")
    # then the render window, opened over the sidebar, goes; Show Flow shows frame 2's image beside its flow
    yield from back_to_the_main_window(pointer)
    yield from show_forward(pointer)
    yield from wait_for(lambda: len(bpy.context.window_manager.windows) > 1 and
                        tuple(bpy.data.images["Optical Flow"].size) != (scene.render.resolution_x,
                                                                        scene.render.resolution_y))
    yield 1.0
    results["image_beside_flow"] = shown_flow(scene)
    screenshot("show_flow_with_image")
    yield from back_to_the_main_window(pointer)
    yield from no_render_jobs()

    long_image = 6.0
    scene.frame_end = 5
    scene.cycles.samples, scene.cycles.time_limit = 1 << 24, long_image
    settings.output_dir = "//images_cancelled/"
    before = user_settings(scene)
    drawn = []
    handler = bpy.types.SpaceView3D.draw_handler_add(lambda: drawn.append(time.monotonic()), (), "WINDOW", "POST_PIXEL")
    xdotool("mousemove", *render_button, "click", 1)  # the render window opens centred there, top right
    yield from wait_for(lambda: bake_job.current() is not None and bake_job.current().rendering is not None)
    started, ticks, renders, status = time.monotonic(), [], {}, ""
    while True:  # until the third image has rendered for half its time (frame 1's occlusion needs frame 2)
        job = bake_job.current()
        if job is None:
            raise RuntimeError(f"the bake ended before frame 3's image had rendered for {long_image / 2} s: "
                               f"{settings.last_bake} after {settings.last_bake_frames} frames, "
                               f"{settings.last_bake_message!r}")
        now = time.monotonic()
        ticks.append(now)
        if job.rendering is not None:
            renders.setdefault(job.rendering.frame, [now, now])[1] = now
            status = status or (job.status() if job.rendering.frame == 3 else "")
        if 3 in renders and now - renders[3][0] > long_image / 2:
            break
        xdotool("mousemove", window.width // 4 + len(ticks) % 50, window.height // 2)
        yield 0.05
    rendering = bake_job.current().rendering
    screenshot("image_rendering")
    pressed = time.monotonic()
    # over the main window, as for F12 (Esc over Blender 3.4's render window only lowers that window)
    xdotool("mousemove", window.width // 8, window.height * 3 // 4, "key", "Escape")
    render_stopped = None
    while bake_job.current() is not None:
        render_stopped = render_stopped or (rendering.cancelled and time.monotonic() - pressed)
        if time.monotonic() - pressed > 30:
            raise TimeoutError("Esc did not stop the bake in 30 s")
        yield 0.0
    stopped = time.monotonic() - pressed
    bpy.types.SpaceView3D.draw_handler_remove(handler, "WINDOW")
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    redraws = [t for t in drawn if started <= t <= pressed]
    yield 1.0  # a render the bake stopped waiting for would be written by now
    results["images_cancelled"] = {
        "result": settings.last_bake, "frames": settings.last_bake_frames, "total": settings.last_bake_total,
        "message": settings.last_bake_message, "folder": settings.last_bake_folder, "status": status,
        "image_seconds": renders[1][1] - renders[1][0], "time_limit": long_image,
        "longest_event_loop_pause": max(gaps), "redraws": len(redraws),
        "longest_redraw_pause": max(b - a for a, b in zip(redraws, redraws[1:])),
        "seconds_to_stop": stopped, "seconds_to_render_stop": render_stopped,
        "render_file_left": rendering.path.exists() or rendering.path.parent.exists(),
        "settings_before": before, "settings_after": user_settings(scene)}


def finish(status: int) -> None:
    (OUT / "results.json").write_text(json.dumps(results), encoding="utf-8")
    sys.stdout.flush()
    os._exit(status)  # no teardown and no "save changes?" question


def run_steps(steps):
    def tick():
        try:
            return next(steps)
        except StopIteration:
            finish(0)
        except Exception:
            results["error"] = traceback.format_exc()
            screenshot("error")
            finish(1)
    bpy.app.timers.register(tick, first_interval=1.0)


if MODE == "scene":
    build_scene()
    finish(0)
else:
    run_steps(window_steps())
