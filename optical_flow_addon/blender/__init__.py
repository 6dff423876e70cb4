"""Thin Blender layer: preferences, properties, operators, render-settings guard and bake loop."""
import sys

from ..core.dependencies import not_installed
from . import preferences

if not_installed(("numpy",)):  # a Blender on a system Python without numpy: only the preferences, to install it
    print("Optical Flow: numpy is missing; install it in Preferences › Add-ons › Optical Flow", file=sys.stderr)
    MODULES = (preferences,)
else:
    from . import camera_poses, render_flow, settings

    MODULES = (preferences, settings, render_flow, camera_poses)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
