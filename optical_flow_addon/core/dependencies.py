"""Third-party modules the bake needs, loaded when used so the add-on registers without them.

Blender 4.2+ installs them from the wheels bundled in the extension zip; older Blenders get
them from the add-on preferences' Install Dependencies button (pip into Blender's user modules).
The same goes for the optional modules, which only make the bake faster.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import FlowError

# import name -> what the bake uses it for. numpy is imported at module level: without it
# (a system-Python Blender) the Blender layer registers only the preferences, to install it.
MODULES = {
    "numpy": "flow arrays",
    "OpenEXR": "reading the rendered EXR files",
    "h5py": "writing HDF5 flow files",
}
# Modules the bake uses where they are installed, and does without (more slowly) where not.
OPTIONAL = {
    "isal": "compressing KITTI flow PNGs several times faster than zlib",
}
HOW_TO_INSTALL = (
    "In Blender: Edit › Preferences › Add-ons › Optical Flow › Install Dependencies "
    "(Blender 4.2+: install the extension zip made for your platform). "
    "With the bpy module: python -m pip install {names}."
)


def import_error(name: str) -> str | None:
    """Why ``name`` cannot be imported, or None when it can. Only the flow writer process
    imports OpenEXR and h5py: inside a ``blender`` program Blender's own libraries would crash them."""
    try:
        importlib.import_module(name)
    except Exception as error:  # a broken install can fail with more than ImportError
        return f"{type(error).__name__}: {error}"
    return None


def not_installed(names: tuple[str, ...] | list[str] = tuple(MODULES)) -> list[str]:
    """The modules of ``names`` that are not installed, found without importing them."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def missing(names: tuple[str, ...] | list[str] = tuple(MODULES)) -> dict[str, str]:
    """The modules of ``names`` that cannot be imported or used, with the reason."""
    return {name: reason for name in names if (reason := import_error(name)) is not None}


def require(*names: str) -> None:
    """Raise one FlowError naming every module of ``names`` that is missing and what it is for."""
    problems = missing(names)
    if not problems:
        return
    listed = "; ".join(f"{name} (for {MODULES[name]}: {reason})" for name, reason in problems.items())
    to_install = [name for name, reason in problems.items() if reason.startswith(("ModuleNotFound", "ImportError"))]
    hint = " " + HOW_TO_INSTALL.format(names=" ".join(to_install)) if to_install else ""
    raise FlowError(f"Python modules the bake needs are missing or unusable: {listed}.{hint}")


def load(name: str) -> ModuleType:
    """Import ``name`` or raise a FlowError that says what to install."""
    require(name)
    return importlib.import_module(name)


class LazyModule:
    """Stands for a module and imports it on first use, so the add-on registers without it
    and Blender's own process never loads it (only the flow writer process uses it)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        return getattr(load(self._name), attribute)
