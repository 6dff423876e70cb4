"""Optical Flow for Blender: ground-truth optical flow from any animated scene.

``core`` never imports ``bpy``; ``blender`` is the thin layer that does. Importing this
package does not import ``bpy`` either, so the core runs in plain Python.
"""
__version__ = "0.1.0"


def register() -> None:
    from . import blender

    blender.register()


def unregister() -> None:
    from . import blender

    blender.unregister()
