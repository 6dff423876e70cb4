"""Read the passes the bake needs from a Blender multilayer EXR."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dependencies import load
from .errors import FlowError

VECTOR_CHANNELS = ("X", "Y", "Z", "W")


def read_vector_and_depth(path: str | Path, view_layer: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the Vector pass (H×W×4, float32) and the Depth pass (H×W) of one view layer.

    Blender 4.x writes one part with all passes, 5.0 writes one part per pass;
    channels are looked up by full name across all parts so both work.
    """
    path = Path(path)
    OpenEXR = load("OpenEXR")
    try:
        exr = OpenEXR.File(str(path), separate_channels=True)
    except Exception as error:  # OpenEXR raises plain RuntimeError/OSError with terse text
        raise FlowError(f"Cannot read the rendered EXR file {path}: {error}") from error
    channels = {name: channel.pixels for part in exr.parts for name, channel in part.channels.items()}
    wanted = [f"{view_layer}.Vector.{c}" for c in VECTOR_CHANNELS] + [f"{view_layer}.Depth.Z"]
    missing = [name for name in wanted if name not in channels]
    if missing:
        raise FlowError(
            f"{path} has no channel {', '.join(missing)}; found {', '.join(sorted(channels)) or 'no channels'}. "
            "The Vector and Z passes of the view layer must be rendered."
        )
    vector = np.stack([channels[name] for name in wanted[:4]], axis=-1).astype(np.float32, copy=False)
    return vector, channels[wanted[4]]
