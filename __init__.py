"""Blender extension entry point; the add-on itself lives in ``optical_flow_addon``."""
bl_info = {
    "name": "Optical Flow",
    "author": "Optical Flow for Blender contributors",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "View3D > Sidebar > Optical Flow",
    "description": "Render ground-truth forward and backward optical flow",
    "category": "Render",
}

from .optical_flow_addon import register, unregister  # noqa: E402,F401
