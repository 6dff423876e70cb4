"""OpenEXR ``.exr``: flow as two float32 channels R = x and G = y (ZIP, lossless); a mask as one
channel Y (1 = valid) in its own file. R and G let generic image readers such as OpenCV open it."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np

from ..dependencies import LazyModule
from ..errors import FlowError
from ..rendered_exr import read_channels

OpenEXR = LazyModule("OpenEXR")
ROOM_FOR_A_FILE = 1 << 20  # bytes: with less free, a file cut short was cut by the full disk


def header() -> dict:
    return {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}


def save_exr(path: Path, array: np.ndarray) -> None:
    """A float32 H×W×2 flow as channels R, G or a bool H×W mask as channel Y."""
    if array.dtype == bool:
        channels = {"Y": array.astype(np.float32)}
    else:
        channels = {"R": np.ascontiguousarray(array[..., 0]), "G": np.ascontiguousarray(array[..., 1])}
    OpenEXR.File(header(), channels).write(str(path))  # OpenEXR adds the image size to the dict it gets
    check_written(path)


def check_written(path: Path) -> None:
    """OpenEXR reports no failed write (a full disk leaves an empty or cut file), so read the file back."""
    try:
        complete = bool(OpenEXR.File(str(path), separate_channels=True).parts)
    except Exception:  # OpenEXR raises plain RuntimeError on a cut file
        complete = False
    if not complete:
        disk_full = shutil.disk_usage(path.parent).free < ROOM_FOR_A_FILE
        raise OSError(errno.ENOSPC if disk_full else errno.EIO, f"OpenEXR could not write {path.name} completely")


def load_exr(path: Path, mask: bool = False) -> np.ndarray:
    """Flow (float32 H×W×2 from R, G; half floats widened) or a mask (bool H×W, Y not 0)."""
    channels = read_channels(path, "the flow EXR file")
    wanted = ("Y",) if mask else ("R", "G")
    missing = [name for name in wanted if name not in channels]
    if missing:
        raise FlowError(f"{path} has channels {', '.join(sorted(channels)) or '(none)'}; "
                        f"{'a mask EXR needs Y' if mask else 'a flow EXR needs R (x) and G (y)'}.")
    found = [channels[name] for name in wanted]
    dtypes = sorted({str(c.dtype) for c in found})
    if set(dtypes) - {"float16", "float32"}:
        raise FlowError(f"{path}: channels {', '.join(wanted)} hold {', '.join(dtypes)}; expected float32 or half.")
    return found[0] != 0 if mask else np.stack(found, axis=-1).astype(np.float32)
