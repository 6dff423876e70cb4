"""File formats by name: the files each writes for a frame, the products it stores, and reading them back.

Each format's bytes are in one module of ``formats/``; ``formats/layout.py`` says how a frame's
products (``products.py``) map to files. NPY and HDF5 match BlenderProc: ``forward_flow_%04d.npy``
and one ``%d.hdf5`` per frame with ``colors``, ``depth`` and the flows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import FlowError
from .formats import hdf5
from .formats.common import FileSettings, reading
from .formats.exr import load_exr, save_exr
from .formats.flo import known, load_flo, save_flo
from .formats.image import ImageFiles
from .formats.kitti import load_kitti, load_kitti_disparity, save_kitti
from .formats.layout import PerDatasetFiles, PerFlowFiles, PerFrameFile
from .formats.npy import load_npy, save_npy
from .formats.npz import load_npz, save_npz
from .formats.pfm import load_pfm, read_pfm, save_pfm
from .formats.picture import FlowPictures
from .formats.sintel import load_disparity
from .formats.spring import load_dsp5, load_flo5, without_unknown
from .layouts import flyingthings3d, kitti, sintel
from .products import FLOW, OCCLUSION, SCENE_FLOWS, STEREO, disparity_change_name, kind_of


class FlowWriter(Protocol):
    kind: str
    stores: frozenset[str]  # the products it can hold; it is given only those

    def paths(self, folder: Path, frame: int, names: list[str]) -> list[Path]: ...

    def write(self, folder: Path, frame: int, arrays: dict[str, np.ndarray], options: FileSettings) -> list[Path]: ...


class FlowFormat(FlowWriter, Protocol):
    def read(self, folder: Path, frame: int) -> dict[str, np.ndarray]: ...

    def read_file(self, path: Path) -> dict[str, np.ndarray]: ...

    def frame_in_name(self, path: Path) -> int | None: ...


FORMATS: dict[str, FlowFormat] = {
    "NPY": PerDatasetFiles("NumPy .npy", ".npy", save_npy, load_npy, extra=("depth", "segmentation", "normals",
                                                                           *OCCLUSION, *SCENE_FLOWS, *STEREO)),
    "NPZ": PerFrameFile("NumPy .npz", "flow_{frame:04d}.npz", save_npz, load_npz),
    "FLO": PerFlowFiles("Middlebury .flo", ".flo", save_flo, load_flo),
    "KITTI": PerFlowFiles("KITTI flow PNG", ".png", save_kitti, load_kitti),
    "PFM": PerDatasetFiles("PFM", ".pfm", save_pfm, load_pfm),
    "EXR": PerDatasetFiles("OpenEXR", ".exr", save_exr, load_exr),
    "HDF5": PerFrameFile("HDF5", "{frame}.hdf5", hdf5.save_frame, hdf5.load_frame),
    "HDF5_SEQUENCE": hdf5.SequenceFile(),
}
WRITERS: dict[str, FlowWriter] = {**FORMATS, "PICTURE": FlowPictures()}
IMAGE_FILES = ImageFiles()  # written whenever images are rendered, whatever the formats
BY_SUFFIX = {".npy": "NPY", ".npz": "NPZ", ".flo": "FLO", ".png": "KITTI", ".pfm": "PFM", ".exr": "EXR"}


def read_flow_file(path: Path, frame: int | None = None) -> dict[str, np.ndarray]:
    """Flow and masks (and any other products the file holds) from any supported file; see ``read_products``."""
    arrays = read_products(path, frame)
    if not any(kind_of(name) == FLOW for name in arrays):
        raise FlowError(f"{path} holds no forward_flow or backward_flow dataset "
                        f"(it holds: {', '.join(arrays) or 'nothing'}).")
    return arrays


def read_products(path: Path, frame: int | None = None) -> dict[str, np.ndarray]:
    """Flow and masks from any supported file. A file named like the bake's (``forward_flow_0003.flo``)
    brings the rest of its frame from the same folder; a stereo layout's disparity file gives ``disparity`` (see
    ``stereo_truth``); other files give ``flow`` (and ``flow_valid``). ``frame`` picks a frame of a sequence file."""
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"Flow file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix in (".hdf5", ".h5") and hdf5.is_sequence(path):
        return FORMATS["HDF5_SEQUENCE"].read_file(path, frame)
    if frame is not None:
        raise FlowError(f"{path} holds one frame; "
                        f"a frame number is only needed for a sequence file ({hdf5.SEQUENCE_NAME}).")
    if suffix in (".hdf5", ".h5"):
        return FORMATS["HDF5"].read_file(path)
    if suffix in SPRING_TRUTH:
        return spring_truth(path)
    if suffix not in BY_SUFFIX:
        readable = ", ".join([*BY_SUFFIX, ".hdf5", ".h5", *SPRING_TRUTH])
        raise FlowError(f"Cannot read {path}: expected one of {readable}.")
    fmt = FORMATS[BY_SUFFIX[suffix]]
    named_frame = fmt.frame_in_name(path)
    if named_frame is not None:
        return with_unknown_masked(fmt.read(path.parent, named_frame))
    return stereo_truth(path) or with_unknown_masked(fmt.read_file(path))


def stereo_truth(path: Path) -> dict[str, np.ndarray] | None:
    """A stereo layout's disparity (or FlyingThings3D's disparity change) file, known by a folder of its path, the
    layout's own name; None for any other file. KITTI's and Sintel's PNGs are flow or disparity by their folder alone;
    in FlyingThings3D's folders only a PFM of one channel is (its flow, in a root of any name, has three)."""
    folders, suffix = set(path.parent.parts), path.suffix.lower()
    with reading(path, "disparity"):
        if suffix == ".png" and folders & set(kitti.DISPARITY_FOLDERS):
            disparity, valid = load_kitti_disparity(path)
            return {"disparity": disparity, "disparity_valid": valid}
        if suffix == ".png" and sintel.DISPARITY_FOLDER in folders:
            return {"disparity": load_disparity(path)}  # no mask: 0 where there is no surface
        if suffix == ".pfm" and folders & {flyingthings3d.DISPARITY_FOLDER, flyingthings3d.DISPARITY_CHANGE_FOLDER}:
            values = read_pfm(path)
            if values.shape[2] == 1:
                return {flyingthings3d_name(path, folders): values[..., 0].astype(np.float32)}
    return None


def flyingthings3d_name(path: Path, folders: set[str]) -> str:
    """``disparity``, or the disparity change of the flow whose direction's folder (``into_future``) holds it."""
    if flyingthings3d.DISPARITY_CHANGE_FOLDER not in folders:
        return "disparity"
    flow = next((flow for flow, (folder, _) in flyingthings3d.DIRECTIONS.items() if folder in folders), None)
    if flow is None:
        directions = " or ".join(folder for folder, _ in flyingthings3d.DIRECTIONS.values())
        raise FlowError(f"{path} is in a {flyingthings3d.DISPARITY_CHANGE_FOLDER} folder but not under {directions}: "
                        "expected FlyingThings3D's layout, whose direction folder says to which frame it changes.")
    return disparity_change_name(flow)


# Spring's truth files: a flow, or a disparity (``disp1_*``: at the frame; ``disp2_*``: at the next or previous
# frame, of the frame's points), NaN where there is none.
SPRING_TRUTH = {".flo5": ("flow", load_flo5), ".dsp5": ("disparity", load_dsp5)}


def spring_truth(path: Path) -> dict[str, np.ndarray]:
    """A Spring ``.flo5`` or ``.dsp5`` file as ``flow`` or ``disparity`` with its validity mask (0 where invalid)."""
    name, load = SPRING_TRUTH[path.suffix.lower()]
    values, valid = without_unknown(load(path))
    return {name: values, f"{name}_valid": valid}


def with_unknown_masked(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A flow read without its mask (a FlyingThings3D .pfm, say) gets one: where it holds Middlebury's unknown
    value (1e10, as the .flo reader tells it) it is invalid and reads 0, as in a .flo file."""
    for name, array in list(arrays.items()):
        if kind_of(name) == FLOW and f"{name}_valid" not in arrays:
            valid = known(array)
            if not valid.all():
                arrays[name] = np.where(valid[..., None], array, 0).astype(array.dtype)
                arrays[f"{name}_valid"] = valid
    return arrays
