"""Thin Blender layer: properties, operators, render-settings guard and bake loop."""
from . import camera_poses, render_flow, settings

MODULES = (settings, render_flow, camera_poses)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
