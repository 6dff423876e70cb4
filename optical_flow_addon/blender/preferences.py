"""Add-on preferences: which Python modules are missing, and a button that installs them.

Modules are looked up without importing them: only the flow writer process imports them.

Blender 4.2+ installs the modules from the wheels in the extension zip. The legacy add-on
(Blender 3.4–4.1) installs them with pip into Blender's user modules folder, which Blender puts
on ``sys.path``. Only missing modules are installed, without their dependencies, so numpy never
replaces the one Blender ships; the optional ones (a faster bake) come with the others.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import bpy

from ..core.dependencies import MODULES, OPTIONAL, not_installed

# The add-on's own package: "optical_flow" (legacy), "bl_ext.<repo>.optical_flow" (extension).
ADDON_PACKAGE = __package__.rpartition(".optical_flow_addon")[0] or "optical_flow_addon"
IS_EXTENSION = ADDON_PACKAGE.startswith("bl_ext.")
PIP_REQUIREMENTS = {"numpy": "numpy", "OpenEXR": "OpenEXR>=3.3", "h5py": "h5py",  # OpenEXR.File is new in 3.3
                    "isal": "isal"}
ALL_MODULES = (*MODULES, *OPTIONAL)

def user_modules_folder() -> Path:
    return Path(bpy.utils.user_resource("SCRIPTS", path="modules"))


def pip_install_command(names: list[str], target: Path) -> list[str]:
    """pip for Blender's own Python and version; binary wheels only, no dependencies."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--upgrade",
            "--no-deps", "--only-binary=:all:", "--python-version", version, "--target", str(target),
            *(PIP_REQUIREMENTS[name] for name in names)]


def run_pip(command: list[str]) -> subprocess.CompletedProcess:
    """Run pip; when this Python has no pip yet, bootstrap it with ensurepip first."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0 and "No module named pip" in result.stderr:
        subprocess.run([sys.executable, "-m", "ensurepip", "--user"], capture_output=True, text=True, timeout=300)
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    return result


class OPTICAL_FLOW_OT_install_dependencies(bpy.types.Operator):
    """Download the missing Python modules with pip into Blender's user modules folder"""

    bl_idname = "optical_flow.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {"INTERNAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        names = not_installed(ALL_MODULES)
        if not names:
            self.report({"INFO"}, f"Nothing to install: {', '.join(ALL_MODULES)} are all found")
            return {"FINISHED"}
        target = user_modules_folder()
        target.mkdir(parents=True, exist_ok=True)
        command = pip_install_command(names, target)
        try:
            result = run_pip(command)
        except (OSError, subprocess.TimeoutExpired) as error:
            self.report({"ERROR"}, f"Could not run pip ({error}). Run it yourself: {' '.join(command)}")
            return {"CANCELLED"}
        if result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
            self.report({"ERROR"}, f"pip failed: {' '.join(detail)}. Command: {' '.join(command)}")
            return {"CANCELLED"}
        if str(target) not in sys.path:
            sys.path.insert(0, str(target))  # where Blender puts it at start-up
        importlib.invalidate_caches()
        still = not_installed(names)
        if still:
            self.report({"ERROR"}, f"Installed, but still not found on Blender's Python path: {', '.join(still)}")
            return {"CANCELLED"}
        restart = " Restart Blender to load the bake tools." if "numpy" in names else ""
        self.report({"INFO"}, f"Installed {', '.join(names)} into {target}.{restart}")
        return {"FINISHED"}


class OpticalFlowPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        missing, optional = not_installed(), not_installed(tuple(OPTIONAL))
        if not missing:
            found = [name for name in ALL_MODULES if name not in optional]
            versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in found)
            layout.label(text=f"Python modules found: {versions}", icon="CHECKMARK")
            for name in optional:
                layout.label(text=f"Optional, not found: {name}, for {OPTIONAL[name]}", icon="INFO")
            if optional and not IS_EXTENSION:
                layout.operator(OPTICAL_FLOW_OT_install_dependencies.bl_idname, icon="IMPORT")
            return
        box = layout.box()
        box.alert = True
        box.label(text="Baking flow needs Python modules that are missing:", icon="ERROR")
        for name in missing:
            box.label(text=f"{name}, for {MODULES[name]}")
        if IS_EXTENSION:
            layout.label(text="Install the Optical Flow zip made for this platform: it bundles them.")
            return
        layout.operator(OPTICAL_FLOW_OT_install_dependencies.bl_idname, icon="IMPORT")
        layout.label(text=f"pip installs them for {sys.executable} into {user_modules_folder()}")


classes = (OPTICAL_FLOW_OT_install_dependencies, OpticalFlowPreferences)
register, unregister = bpy.utils.register_classes_factory(classes)
