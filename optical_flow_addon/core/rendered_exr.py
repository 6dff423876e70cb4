"""Read the passes the bake needs from the multilayer EXR Blender rendered (core/formats/exr.py writes flow as EXR)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dependencies import LazyModule
from .errors import FlowError

OpenEXR = LazyModule("OpenEXR")
VECTOR_CHANNELS = ("X", "Y", "Z", "W")


def read_vector_and_depth(path: str | Path, view_layer: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the Vector pass (H×W×4, float32) and the Depth pass (H×W) of one view layer.

    Blender 4.x writes one part with all passes, 5.0 writes one part per pass;
    channels are looked up by full name across all parts so both work.
    """
    path = Path(path)
    channels = read_channels(path, "the rendered EXR file")
    wanted = [f"{view_layer}.Vector.{c}" for c in VECTOR_CHANNELS] + [f"{view_layer}.Depth.Z"]
    missing = [name for name in wanted if name not in channels]
    if missing:
        raise FlowError(
            f"{path} has no channel {', '.join(missing)}; found {', '.join(sorted(channels)) or 'no channels'}. "
            "The Vector and Z passes of the view layer must be rendered."
        )
    vector = np.stack([channels[name] for name in wanted[:4]], axis=-1).astype(np.float32, copy=False)
    return vector, channels[wanted[4]]


def read_depth_and_passes(path: str | Path, view_layer: str, colours: list[str],
                          values: list[str]) -> dict[str, np.ndarray]:
    """The Depth pass (H×W, as ``"Depth"``), colour passes (H×W×3) and value passes (H×W) of one view layer."""
    path = Path(path)
    channels = read_channels(path, "the rendered EXR file")
    wanted = {"Depth": ["Depth.Z"], **{name: [f"{name}.{c}" for c in "RGB"] for name in colours},
              **{name: [f"{name}.X"] for name in values}}
    missing = [f"{view_layer}.{c}" for names in wanted.values() for c in names if f"{view_layer}.{c}" not in channels]
    if missing:
        raise FlowError(f"{path} has no channel {', '.join(missing)}; "
                        f"found {', '.join(sorted(channels)) or 'no channels'}.")
    stacked = {name: np.stack([channels[f"{view_layer}.{c}"] for c in names], axis=-1)
               for name, names in wanted.items()}
    return {name: array[..., 0] if array.shape[-1] == 1 else array for name, array in stacked.items()}


def read_channels(path: Path, what: str) -> dict[str, np.ndarray]:
    """Every channel of every part by full name; ``what`` names the file for the error message."""
    try:
        exr = OpenEXR.File(str(path), separate_channels=True)
    except Exception as error:  # OpenEXR raises plain RuntimeError/OSError with terse text
        raise FlowError(f"Cannot read {what} {path}: {error}") from error
    if not exr.parts:  # OpenEXR only warns when the pixels cannot be read, and returns no parts
        raise FlowError(f"Cannot read {what} {path}: it is truncated or damaged (its pixels cannot be read).")
    return {name: channel.pixels for part in exr.parts for name, channel in part.channels.items()}
