"""Flow file formats on disk, each with the files it would write for a frame.

``arrays`` maps dataset names (``forward_flow``, ``forward_flow_valid``, ``backward_flow``,
``backward_flow_valid``) to numpy arrays. Names and layout match BlenderProc:
``forward_flow_%04d.npy`` and one ``%d.hdf5`` per frame with ``forward_flow``/``backward_flow``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from .atomic import atomic_path
from .dependencies import load


class FlowWriter(Protocol):
    modules: tuple[str, ...]  # Python modules the writer needs besides numpy

    def paths(self, output_dir: Path, frame: int, names: list[str]) -> list[Path]: ...

    def write(self, output_dir: Path, frame: int, arrays: dict[str, np.ndarray]) -> list[Path]: ...


class NpyWriter:
    """One ``<name>_%04d.npy`` per dataset, as BlenderProc writes them."""

    modules = ()

    def paths(self, output_dir: Path, frame: int, names: list[str]) -> list[Path]:
        return [output_dir / f"{name}_{frame:04d}.npy" for name in names]

    def write(self, output_dir: Path, frame: int, arrays: dict[str, np.ndarray]) -> list[Path]:
        paths = self.paths(output_dir, frame, list(arrays))
        for path, array in zip(paths, arrays.values()):
            with atomic_path(path) as temporary, open(temporary, "wb") as file:
                np.save(file, array)
        return paths


class Hdf5FrameWriter:
    """One ``%d.hdf5`` container per frame with every dataset, as BlenderProc's hdf5 writer."""

    modules = ("h5py",)

    def paths(self, output_dir: Path, frame: int, names: list[str]) -> list[Path]:
        return [output_dir / f"{frame}.hdf5"] if names else []

    def write(self, output_dir: Path, frame: int, arrays: dict[str, np.ndarray]) -> list[Path]:
        paths = self.paths(output_dir, frame, list(arrays))
        h5py = load("h5py")
        for path in paths:
            with atomic_path(path) as temporary, h5py.File(temporary, "w") as file:
                for name, array in arrays.items():
                    file.create_dataset(name, data=array, compression="gzip", compression_opts=1)
        return paths


WRITERS: dict[str, FlowWriter] = {"NPY": NpyWriter(), "HDF5": Hdf5FrameWriter()}


def dataset_names(flow_names: tuple[str, ...]) -> list[str]:
    """Each flow is stored with its validity mask next to it."""
    return [name for flow in flow_names for name in (flow, f"{flow}_valid")]
