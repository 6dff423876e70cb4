"""Thin Blender layer: properties, operators, panels, render-settings guard and bake loop."""
from . import camera_poses, panels, render_flow, settings, show_flow

MODULES = (settings, render_flow, show_flow, camera_poses, panels)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
