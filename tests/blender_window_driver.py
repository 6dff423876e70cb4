"""Runs inside Blender for test_blender_window.py (pytest does not collect it).

``blender -b --python this -- scene OUT``: save a small animated scene to OUT/scene.blend.
``blender OUT/scene.blend --python this -- window OUT``: in a real window, use the Optical Flow tab as an
artist does (real mouse clicks and keys through xdotool), take screenshots and write OUT/results.json.
"""
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import addon_utils
import bpy

MODE, OUT = sys.argv[sys.argv.index("--") + 1:][:2]
OUT = Path(OUT)
results: dict = {}


# BlenderProc's optical-flow example camera_positions: x y z rx ry rz.
POSES = "0 -10 4 1.3 0 0\n0 -12 4 1.3 0 0\n2 -12 4 1.3 0 0\n2 -12 6 1.3 0 0\n1 -11 5 1.3 0 0\n"


def build_scene() -> None:
    """The default cube scene with tiny renders, and a pose file next to it."""
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
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


def window_steps():
    window = bpy.context.window_manager.windows[0]
    area = max((a for a in window.screen.areas if a.type == "VIEW_3D"), key=lambda a: a.width * a.height)
    area.spaces.active.show_region_ui = True
    yield 1.0
    sidebar = next(r for r in area.regions if r.type == "UI")
    top = window.height - sidebar.y - sidebar.height  # screen rows count from the top, Blender's from the bottom
    results["sidebar"] = {"x": sidebar.x, "y": top, "width": sidebar.width, "height": sidebar.height}
    screenshot("without_addon")

    addon_utils.enable("optical_flow", default_set=True, handle_error=None)
    results["addon_enabled"] = "optical_flow" in bpy.context.preferences.addons
    from optical_flow.optical_flow_addon.blender import render_flow  # the add-on as Blender loaded it

    drawn = []
    bpy.types.VIEW3D_PT_optical_flow.append(lambda panel, context: drawn.append(context.region.width))
    tabs_x = sidebar.x + sidebar.width - 12  # the tab strip runs down the sidebar's right edge
    for y in range(top + 10, top + sidebar.height, 20):  # click down the strip until our tab opens
        yield 0.3
        if drawn:
            break
        xdotool("mousemove", tabs_x, y, "click", 1)
    results["panel_drawn"] = bool(drawn)

    scene = bpy.context.scene
    settings = scene.optical_flow
    settings.pose_file = "//camera_positions"
    with bpy.context.temp_override(window=window, area=area, region=sidebar):  # as the Import button does
        results["import"] = sorted(bpy.ops.optical_flow.import_camera_poses(
            "EXEC_DEFAULT", filepath=settings.pose_file, format=settings.pose_format))
    results["poses"] = {"count": settings.imported_poses, "camera": settings.imported_camera,
                        "frames": [scene.frame_start, scene.frame_end]}
    xdotool("mousemove", window.width // 3, window.height // 2)  # off the panel: no tooltip in the picture
    yield 0.5
    screenshot("panel")

    results["settings_before"] = user_settings(scene)
    with bpy.context.temp_override(window=window, area=area, region=sidebar):
        results["invoke"] = sorted(bpy.ops.optical_flow.render_flow("INVOKE_DEFAULT"))
    yield from wait_for(lambda: render_flow.JOB is None or render_flow.JOB.done >= 1)
    job = render_flow.JOB
    results["mid_bake"] = {"done": job.done, "total": job.total, "running": job.running} if job else None
    yield from wait_for(lambda: render_flow.JOB is None or render_flow.JOB.done >= 2)  # frame 1 drawn by now
    screenshot("rendering")
    yield from wait_for(lambda: render_flow.JOB is None)
    yield 0.5
    results["bake"] = {"result": settings.last_bake, "frames": settings.last_bake_frames,
                       "folder": settings.last_bake_folder, "settings_after": user_settings(scene)}
    screenshot("finished")

    with bpy.context.temp_override(window=window, area=area, region=sidebar):
        results["show_flow"] = sorted(bpy.ops.optical_flow.show_flow(flow="FORWARD"))
    yield 1.0
    image = bpy.data.images["Optical Flow"]
    shown = [(w, a) for w in bpy.context.window_manager.windows for a in w.screen.areas
             if a.type == "IMAGE_EDITOR" and a.spaces.active.image == image]
    results["image"] = {"size": list(image.size), "pixels": list(image.pixels[:]), "frame": scene.frame_current,
                        "editor": [{"x": w.x + a.x, "y": window.height - w.y - a.y - a.height, "width": a.width,
                                    "height": a.height} for w, a in shown]}
    screenshot("show_flow")
    for extra in list(bpy.context.window_manager.windows)[1:]:
        with bpy.context.temp_override(window=extra):
            bpy.ops.wm.window_close()
    yield 0.5

    # A long bake, stopped with the real Esc key once its first frame is written.
    settings.output_dir = "//cancelled/"
    scene.frame_end = 40  # the last pose holds from frame 5 on
    with bpy.context.temp_override(window=window, area=area, region=sidebar):
        bpy.ops.optical_flow.render_flow("INVOKE_DEFAULT")
    yield from wait_for(lambda: render_flow.JOB is None or render_flow.JOB.done >= 1)
    xdotool("mousemove", window.width // 3, window.height // 2, "key", "Escape")
    yield from wait_for(lambda: render_flow.JOB is None)
    yield 0.5
    results["cancel"] = {"result": settings.last_bake, "frames": settings.last_bake_frames,
                         "total": settings.last_bake_total, "folder": settings.last_bake_folder,
                         "settings_after": user_settings(scene)}
    screenshot("cancelled")


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
            finish(1)
    bpy.app.timers.register(tick, first_interval=1.0)


if MODE == "scene":
    build_scene()
    finish(0)
else:
    run_steps(window_steps())
