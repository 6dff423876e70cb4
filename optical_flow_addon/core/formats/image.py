"""The scene's own rendered images, kept as Blender saved them but for its render date and time: ``colors_%04d.png``
(8-bit RGB, or RGBA when the film is transparent), named like BlenderProc's ``colors`` key."""
from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_path
from .common import read_bytes
from .png import without_metadata


class ImageFiles:
    kind = "image PNG"
    stores = frozenset({"colors", "right_colors"})  # the image, and with stereo the right view's

    def paths(self, folder: Path, frame: int, names: list[str]) -> list[Path]:
        return [folder / f"{name}_{frame:04d}.png" for name in sorted(self.stores) if name in names]

    def keep(self, rendered: Path, folder: Path, frame: int, name: str = "colors") -> list[Path]:
        """Copy Blender's PNG into the output folder (under a temporary name, then renamed) without its text and time
        chunks, so that a frame rendered again (resumed, or a chunk run twice) gives the same file."""
        path = folder / f"{name}_{frame:04d}.png"
        with atomic_path(path) as temporary:
            temporary.write_bytes(without_metadata(read_bytes(rendered), rendered))
        return [path]
