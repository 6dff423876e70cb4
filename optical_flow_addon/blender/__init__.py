"""Thin Blender layer: properties, operators, render-settings guard and bake loop."""
from . import operators, settings

MODULES = (settings, operators)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
