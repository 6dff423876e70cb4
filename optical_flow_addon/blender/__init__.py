"""Thin Blender layer: preferences, properties, operators, panels, file menus, render-settings guard and bake loop."""
import sys

from ..core.dependencies import not_installed
from . import preferences

if not_installed(("numpy",)):  # a Blender on a system Python without numpy: only the preferences, to install it
    print("Optical Flow: numpy is missing; install it in Preferences › Add-ons › Optical Flow", file=sys.stderr)
    MODULES = (preferences,)
else:
    from . import bake_job, file_menus, panels, pose_operators, render_flow, settings, show_flow

    # A running bake is cancelled (bake_job) before its operator goes away (render_flow).
    MODULES = (preferences, settings, render_flow, bake_job, show_flow, pose_operators, file_menus, panels)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
