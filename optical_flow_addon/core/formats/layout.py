"""How one frame's products map to files: one file per product, one per flow, or one per frame.

``arrays`` maps product names (``colors``, ``depth``, ``forward_flow``, ``forward_flow_valid``, ...; see
``products.py``) to numpy arrays. Each layout's ``stores`` says which products it can hold; it is given only those.
Every file is written under a temporary name and renamed.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..products import FLOW_NAMES, MASK, PRODUCTS, flow_products, kind_of
from .common import FileSettings, check_dataset, check_frame, reading


class SideBySideFiles:
    """Files of one frame next to each other, named ``<name>_%04d<suffix>`` as BlenderProc's .npy files."""

    def __init__(self, kind: str, suffix: str, names: tuple[str, ...]) -> None:
        self.kind, self.suffix, self.names = kind, suffix, names
        self.name_pattern = re.compile(rf"({'|'.join(names)})_(-?\d+){re.escape(suffix)}")

    def paths(self, folder: Path, frame: int, names: list[str]) -> list[Path]:
        return [folder / f"{name}_{frame:04d}{self.suffix}" for name in self.names if name in names]

    def frame_in_name(self, path: Path) -> int | None:
        """The frame of a file named like the bake's, whose neighbours hold the rest of that frame."""
        match = self.name_pattern.fullmatch(path.name)
        return int(match.group(2)) if match else None

    def name_in_path(self, path: Path) -> str:
        """The dataset a file holds by its name; a file not named like the bake's is taken as flow."""
        match = self.name_pattern.fullmatch(path.name)
        return match.group(1) if match else "flow"

    def read_file(self, path: Path) -> dict[str, np.ndarray]: ...

    def read(self, folder: Path, frame: int) -> dict[str, np.ndarray]:
        """Every dataset of ``frame`` found in ``folder``."""
        arrays = {}
        for path in self.paths(folder, frame, list(self.names)):
            if path.exists():
                arrays.update(self.read_file(path))
        return check_frame(folder, arrays)


class PerDatasetFiles(SideBySideFiles):
    """One file per product (.npy, .pfm, .exr): flows and masks, and for some formats ``extra`` products too."""

    def __init__(self, kind: str, suffix: str, save: Callable[[Path, np.ndarray], None],
                 load: Callable[[Path, bool], np.ndarray], extra: tuple[str, ...] = ()) -> None:
        super().__init__(kind, suffix, (*extra, *flow_products(FLOW_NAMES)))
        self.stores = frozenset(self.names)
        self.save, self.load = save, load

    def write(self, folder: Path, frame: int, arrays: dict[str, np.ndarray], options: FileSettings) -> list[Path]:
        paths = self.paths(folder, frame, list(arrays))
        for path, name in zip(paths, [n for n in self.names if n in arrays]):
            with atomic_path(path) as temporary:
                self.save(temporary, arrays[name])
        return paths

    def read_file(self, path: Path) -> dict[str, np.ndarray]:
        name = self.name_in_path(path)
        with reading(path, self.kind):
            return {name: check_dataset(path, name, self.load(path, kind_of(name) == MASK))}


class PerFlowFiles(SideBySideFiles):
    """One file per flow that holds its validity mask too (.flo, KITTI .png)."""

    def __init__(self, kind: str, suffix: str, save: Callable[[Path, np.ndarray, np.ndarray], None],
                 load: Callable[[Path], tuple[np.ndarray, np.ndarray]]) -> None:
        super().__init__(kind, suffix, FLOW_NAMES)
        self.stores = frozenset(flow_products(FLOW_NAMES))
        self.save, self.load = save, load

    def write(self, folder: Path, frame: int, arrays: dict[str, np.ndarray], options: FileSettings) -> list[Path]:
        paths = self.paths(folder, frame, list(arrays))
        for path, name in zip(paths, [n for n in self.names if n in arrays]):
            with atomic_path(path) as temporary:
                self.save(temporary, arrays[name], arrays[f"{name}_valid"])
        return paths

    def read_file(self, path: Path) -> dict[str, np.ndarray]:
        name = self.name_in_path(path)
        with reading(path, self.kind):
            flow, valid = self.load(path)
        return check_frame(path, {name: flow, f"{name}_valid": valid})


class PerFrameFile:
    """One file per frame holding every product, as BlenderProc's ``%d.hdf5``."""

    stores = frozenset(PRODUCTS)

    def __init__(self, kind: str, pattern: str, save: Callable[[Path, dict[str, np.ndarray], FileSettings], None],
                 load: Callable[[Path], dict[str, np.ndarray]]) -> None:
        self.kind, self.pattern, self.save, self.load = kind, pattern, save, load

    def paths(self, folder: Path, frame: int, names: list[str]) -> list[Path]:
        return [folder / self.pattern.format(frame=frame)] if names else []

    def frame_in_name(self, path: Path) -> None:
        """The file holds its whole frame; nothing to gather from siblings."""
        return None

    def write(self, folder: Path, frame: int, arrays: dict[str, np.ndarray], options: FileSettings) -> list[Path]:
        paths = self.paths(folder, frame, list(arrays))
        for path in paths:
            with atomic_path(path) as temporary:
                self.save(temporary, arrays, options)
        return paths

    def read_file(self, path: Path) -> dict[str, np.ndarray]:
        with reading(path, self.kind):
            return check_frame(path, self.load(path))

    def read(self, folder: Path, frame: int) -> dict[str, np.ndarray]:
        path = folder / self.pattern.format(frame=frame)
        return self.read_file(path) if path.exists() else {}
