"""Camera poses in File › Import and File › Export, and pose files dropped onto the 3D viewport (Blender 4.1+)."""
from __future__ import annotations

import bpy

from ..core.poses import POSE_FORMATS

MENU_TEXT = "Camera Poses (Optical Flow)"


def draw_import(menu: bpy.types.Menu, context: bpy.types.Context) -> None:
    menu.layout.operator("optical_flow.import_camera_poses", text=MENU_TEXT, icon="CAMERA_DATA")


def draw_export(menu: bpy.types.Menu, context: bpy.types.Context) -> None:
    menu.layout.operator("optical_flow.export_camera_poses", text=MENU_TEXT, icon="CAMERA_DATA")


def drop_extensions() -> str:
    """Blender matches dropped files by extension, so extensionless files (camera_positions) need the menu."""
    extensions = sorted({extension for module in POSE_FORMATS.values() for extension in module.EXTENSIONS if extension})
    return ";".join(extensions)


classes: tuple = ()
if hasattr(bpy.types, "FileHandler"):  # Blender 4.1+

    class OPTICAL_FLOW_FH_camera_poses(bpy.types.FileHandler):
        """A pose file dropped onto the 3D viewport keyframes the camera, as the import does."""

        bl_idname = "OPTICAL_FLOW_FH_camera_poses"
        bl_label = "Camera Poses (Optical Flow)"
        bl_import_operator = "optical_flow.import_camera_poses"
        bl_file_extensions = drop_extensions()

        @classmethod
        def poll_drop(cls, context: bpy.types.Context) -> bool:
            return context.area is not None and context.area.type == "VIEW_3D"

    classes = (OPTICAL_FLOW_FH_camera_poses,)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(draw_import)
    bpy.types.TOPBAR_MT_file_export.append(draw_export)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_export.remove(draw_export)
    bpy.types.TOPBAR_MT_file_import.remove(draw_import)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
