"""HDF5: BlenderProc's one container per frame, and one appendable file for a whole sequence."""
from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import flush_to_disk
from ..dependencies import LazyModule
from ..errors import FlowError
from ..flow import coordinate_metadata
from ..products import PRODUCTS, at_image_size, flow_of
from .common import FileSettings, check_frame, reading

h5py = LazyModule("h5py")

SEQUENCE_NAME = "flow_sequence.hdf5"
# The bake option ``hdf5_compression``: NONE (any HDF5 reader), LZF (h5py and PyTables read it, C or MATLAB
# readers need the LZF filter plugin), GZIP (any reader). Compressing takes processor time from Cycles, so NONE
# is the default; docs/how-to/formats.md has the sizes and times (measured by benchmarks/bake_speed.py).
HDF5_COMPRESSIONS = {
    "NONE": {},
    "LZF": {"compression": "lzf", "shuffle": True},
    "GZIP": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
}
REPLACING = np.iinfo(np.int64).min  # frame number of a slot whose flow is being replaced
# Each product's dataset (and a product group's, ``<dataset>_frames``): its own name, but BlenderProc's ``segmap``.
DATASETS = {name: "segmap" if name == "segmentation" else name for name in PRODUCTS}
PRODUCT_OF = {dataset: name for name, dataset in DATASETS.items()}
# BlenderProc stores normals as colours, (n + 1) / 2 in 0–1, and its viewer (``blenderproc vis hdf5``) refuses an
# image outside 0–1; so do we, and reading gives the unit vectors back (to within 6e-8).
NORMALS_ENCODING = "(n + 1) / 2 of the unit normals in the camera axes"


def stored(name: str, array: np.ndarray) -> np.ndarray:
    """The product as its dataset holds it."""
    return (array + np.float32(1)) / np.float32(2) if name == "normals" else array


def unstored(name: str, array: np.ndarray) -> np.ndarray:
    """The product from its dataset."""
    return array * np.float32(2) - np.float32(1) if name == "normals" else array


def create(file: h5py.File, name: str, **settings) -> h5py.Dataset:
    """The product's dataset, saying how it is stored where that is not the product itself."""
    dataset = file.create_dataset(DATASETS[name], **settings)
    if name == "normals":
        dataset.attrs["encoding"] = NORMALS_ENCODING
    return dataset


def save_frame(path: Path, arrays: dict[str, np.ndarray], options: FileSettings) -> None:
    compression = HDF5_COMPRESSIONS[options.hdf5_compression]
    with h5py.File(path, "w") as file:
        for name, array in arrays.items():
            create(file, name, data=stored(name, array), **compression)


def load_frame(path: Path) -> dict[str, np.ndarray]:
    """The products of a per-frame container; other datasets (BlenderProc's instance attribute maps, ...) are
    skipped."""
    with h5py.File(path, "r") as file:
        arrays = {name: unstored(name, file[key][()]) for name, key in DATASETS.items()
                  if isinstance(file.get(key), h5py.Dataset)}
        if not arrays:
            raise FlowError(f"{path} holds no forward_flow, backward_flow, colors or depth dataset "
                            f"(it holds: {', '.join(file) or 'nothing'}).")
    return arrays


def is_sequence(path: Path) -> bool:
    with reading(path, "HDF5"), h5py.File(path, "r") as file:
        return any(key.endswith("_frames") for key in file)


def frame_lists(file: h5py.File, path: Path) -> dict[str, list[int]]:
    """Frame numbers of every slot of each product group (a flow with its masks, the colors, the depth) in a
    sequence file, by the group's product name; a slot counts once its number is there."""
    lists = {}
    for key in file:
        if not key.endswith("_frames"):
            continue
        dataset, frames = key[: -len("_frames")], file[key]
        group = PRODUCT_OF.get(dataset, dataset)
        members = [DATASETS[name] for name in PRODUCTS if flow_of(name) == group and DATASETS[name] in file]
        if dataset not in file or frames.ndim != 1 or frames.dtype.kind != "i":
            raise FlowError(f"{path}: {key} needs 1-D integer frame numbers and the dataset {dataset}.")
        short = [f"{name} {file[name].shape}" for name in members if file[name].shape[0] < frames.shape[0]]
        if short:
            raise FlowError(f"{path}: {' and '.join(short)} should hold {frames.shape[0]} frames, as {key} says.")
        lists[group] = [int(f) for f in frames[()]]
    if not lists:
        raise FlowError(f"{path} is not a flow sequence: it has no forward_flow_frames or backward_flow_frames.")
    return lists


class SequenceFile:
    """``flow_sequence.hdf5``: per flow, ``<flow>`` (frames × H × W × 2), ``<flow>_valid`` (frames × H × W)
    and ``<flow>_frames`` (their frame numbers); likewise ``colors``/``colors_frames`` and ``depth``/``depth_frames``;
    chunked per frame; the coordinate style as attributes.

    A frame is added while the file is renamed to ``.flow_sequence.hdf5.adding`` and gets its name back
    once it is closed, so ``flow_sequence.hdf5`` is always a complete, closed file. Inside, a frame
    counts only once its number is written, after its flow. If a bake dies while adding a frame, the next write
    checks the file left under the working name and puts it back, or says it is damaged. A later bake
    into the same folder adds its frames to the file (Overwrite replaces frames it already holds).
    """

    kind = "HDF5 sequence"
    stores = frozenset(PRODUCTS)

    def paths(self, folder: Path, frame: int, names: list[str]) -> list[Path]:
        return [folder / SEQUENCE_NAME] if names else []

    def write(self, folder: Path, frame: int, arrays: dict[str, np.ndarray], options: FileSettings) -> list[Path]:
        path = folder / SEQUENCE_NAME
        if shutil.disk_usage(folder).free < sum(array.nbytes for array in arrays.values()):
            full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # HDF5 may crash on a full disk: never let it fill
            raise FlowError(f"Cannot add frame {frame} to {path}: {full.strerror}") from full
        with adding(path, f"frame {frame}", options.overwrite) as working:
            mode = "a" if fits(working, path, arrays, options) else "w"
            with h5py.File(working, mode) as file:
                add_frame(file, path, frame, arrays, options)
        return [path]

    def read_file(self, path: Path, frame: int | None = None) -> dict[str, np.ndarray]:
        """The products of ``frame`` (by default the first one the file holds)."""
        with reading(path, self.kind), h5py.File(path, "r") as file:
            lists = frame_lists(file, path)
            held = sorted({f for frames in lists.values() for f in frames if f != REPLACING})
            if not held:
                raise FlowError(f"{path} holds no frames yet.")
            frame = held[0] if frame is None else frame
            arrays = {}
            for group, frames in lists.items():
                if frame in frames:
                    index = frames.index(frame)
                    arrays.update({name: unstored(name, file[DATASETS[name]][index]) for name in PRODUCTS
                                   if flow_of(name) == group and DATASETS[name] in file})
            if not arrays:
                raise FlowError(f"{path} holds no flow for frame {frame}; it holds frames {held[0]}–{held[-1]}.")
            return check_frame(path, arrays)

    def read(self, folder: Path, frame: int) -> dict[str, np.ndarray]:
        path = folder / SEQUENCE_NAME
        if not path.exists():
            return {}
        with reading(path, self.kind), h5py.File(path, "r") as file:
            if not any(frame in frames for frames in frame_lists(file, path).values()):
                return {}
        return self.read_file(path, frame)


@contextmanager
def adding(path: Path, what: str, overwrite: bool) -> Iterator[Path]:
    """The sequence file under its working name while ``what`` is added (it gets its name back, flushed, once the
    block ends; on an error, as it was)."""
    working = path.with_name(f".{path.name}.adding")
    put_back(path, working)
    if path.exists():
        problem = unreadable(path)
        if problem and not overwrite:
            raise FlowError(f"{path} cannot be read ({problem}): "
                            "move it away, or turn on Overwrite to start it afresh.")
        if problem:
            path.unlink()
        else:
            os.replace(path, working)
    try:
        yield working
        flush_to_disk(working)
    except BaseException as error:
        put_back(path, working)
        if isinstance(error, OSError):
            raise FlowError(f"Cannot add {what} to {path}: {error.strerror or error}") from error
        raise
    os.replace(working, path)


def add_tracks(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """The point tracks' arrays (core/tracks.py) as the ``tracks`` group of the sequence file, replacing earlier
    ones; text as UTF-8 bytes, which every HDF5 reader takes."""
    with adding(path, "the tracks", False) as working, h5py.File(working, "a") as file:
        if "tracks" in file:
            del file["tracks"]
        group = file.create_group("tracks")
        for name, array in arrays.items():
            group.create_dataset(name, data=np.char.encode(array, "utf-8") if array.dtype.kind == "U" else array)


def held_frames(path: Path) -> list[int]:
    """The frames a sequence file holds (a slot being replaced aside), in order; none if there is no file."""
    if not path.exists():
        return []
    with reading(path, "HDF5 sequence"), h5py.File(path, "r") as file:
        return sorted({f for frames in frame_lists(file, path).values() for f in frames if f != REPLACING})


def put_back(path: Path, working: Path) -> None:
    """Give a sequence file left under its working name its name back, if it still reads."""
    if not working.exists():
        return
    if path.exists():
        raise FlowError(f"Both {path} and {working.name} exist; "
                        f"keep the one you want as {path.name} and remove the other.")
    problem = unreadable(working)
    if problem:
        raise FlowError(f"{working} was left by a bake that stopped while adding a frame to {path.name} and cannot "
                        f"be read ({problem}). Move it away or delete it to start {path.name} afresh.")
    os.replace(working, path)


def unreadable(path: Path) -> str | None:
    """Why a sequence file cannot be read, or None if it reads."""
    try:
        with h5py.File(path, "r") as file:
            frame_lists(file, path)
    except Exception as error:  # h5py raises OSError, KeyError or ValueError on damaged files
        return str(error)
    return None


def fits(working: Path, path: Path, arrays: dict[str, np.ndarray], options: FileSettings) -> bool:
    """Whether this bake's frames can be added to ``path`` (now at ``working``): each group the file holds is the
    size this bake makes its kind (images, or truth, which truth_scale 2 makes twice their size);
    Overwrite starts an unfit file afresh."""
    if not working.exists():
        return True
    made = {at_image_size(name): array.shape[:2] for name, array in arrays.items()}
    style = options.blender_image_coordinate_style
    with h5py.File(working, "r") as file:
        held = {group: file[DATASETS.get(group, group)].shape[1:3] for group in frame_lists(file, path)}
        held_style = bool(file.attrs.get("blender_image_coordinate_style", style))
    unfit = {group: size for group, size in held.items()
             if made.get(at_image_size(group), size) != size}
    if not unfit and held_style == style:
        return True
    if options.overwrite:
        return False
    styles = {False: "OpenCV-style", True: "Blender-style"}
    held_said = [f"{group} of {w}×{h} px" for group, (h, w) in sorted(unfit.items())]
    made_said = [f"{'images' if image else 'truth'} of {w}×{h} px"
                 for image, (h, w) in sorted(made.items(), reverse=True) if unfit]
    if held_style != style:
        held_said.append(f"{styles[held_style]} flow")
        made_said.append(f"{styles[style]} flow")
    raise FlowError(f"{path} holds {', '.join(held_said)}; this bake makes {', '.join(made_said)}. Choose another "
                    "folder, or turn on Overwrite to start the file afresh.")


def add_frame(file: h5py.File, path: Path, frame: int, arrays: dict[str, np.ndarray], options: FileSettings) -> None:
    """Append the frame's products, or replace them if the file already holds them and Overwrite is on."""
    file.attrs.update(coordinate_metadata(options.blender_image_coordinate_style))
    compression = HDF5_COMPRESSIONS[options.hdf5_compression]
    for group in dict.fromkeys(flow_of(name) for name in arrays):
        members = [name for name in arrays if flow_of(name) == group]
        for name in members:
            if DATASETS[name] not in file:
                array = arrays[name]
                create(file, name, shape=(0, *array.shape), maxshape=(None, *array.shape), chunks=(1, *array.shape),
                       dtype=array.dtype, **compression)
        frames_key = f"{DATASETS[group]}_frames"
        if frames_key not in file:
            file.create_dataset(frames_key, shape=(0,), maxshape=(None,), dtype=np.int64)
        frames = file[frames_key]
        held = [int(f) for f in frames[()]]
        if frame in held and not options.overwrite:
            raise FlowError(f"{path} already holds {group} for frame {frame}; turn on Overwrite to replace it.")
        index = held.index(frame) if frame in held else len(held)
        if index < len(held):
            frames[index] = REPLACING  # while its products are rewritten: a crash cannot leave a half-replaced frame
        for name in members:
            dataset = file[DATASETS[name]]
            if dataset.shape[0] <= index:
                dataset.resize(index + 1, axis=0)
            dataset[index] = stored(name, arrays[name])
        if index == len(held):
            frames.resize(index + 1, axis=0)
        frames[index] = frame
