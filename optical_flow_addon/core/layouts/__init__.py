"""Training layouts: folders that a dataset's own loaders (torchvision, ptlflow) read unchanged.

Each module holds one dataset's path rules, the refusals for what its files cannot hold and the loader
classes it is tested with. ``LAYOUTS`` names them by the bake option's value.
"""
from __future__ import annotations

from ..errors import FlowError
from .common import Layout, Sequence
from .cotracker import COTRACKER
from .flyingthings3d import FLYINGTHINGS3D
from .kitti import KITTI
from .sintel import SINTEL
from .spring import SPRING

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (SINTEL, KITTI, FLYINGTHINGS3D, COTRACKER, SPRING)}

__all__ = ["LAYOUTS", "Layout", "Sequence", "get_layout"]


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise FlowError(f"Unknown layout {name!r}; expected one of {', '.join(LAYOUTS)}.") from None
