"""The scene's own rendered images, kept byte for byte as Blender saved them: ``colors_%04d.png``
(8-bit RGB, or RGBA when the film is transparent), named like BlenderProc's ``colors`` key."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..atomic import atomic_path


class ImageFiles:
    kind = "image PNG"
    stores = frozenset({"colors"})

    def paths(self, folder: Path, frame: int, names: list[str]) -> list[Path]:
        return [folder / f"colors_{frame:04d}.png"] if "colors" in names else []

    def keep(self, rendered: Path, folder: Path, frame: int) -> list[Path]:
        """Copy Blender's PNG into the output folder (under a temporary name, then renamed)."""
        path = folder / f"colors_{frame:04d}.png"
        with atomic_path(path) as temporary:
            shutil.copyfile(rendered, temporary)
        return [path]
