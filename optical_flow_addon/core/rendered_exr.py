"""Read the passes the bake needs from the multilayer EXR Blender rendered (core/formats/exr.py writes flow as EXR)."""
from __future__ import annotations

import struct
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
    return vector, np.ascontiguousarray(channels[wanted[4]])  # not a view that keeps the whole file


def read_depth_and_passes(path: str | Path, view_layer: str, colours: list[str],
                          values: list[str], vector: bool = False) -> dict[str, np.ndarray]:
    """The Depth pass (H×W, as ``"Depth"``), colour passes (H×W×3), value passes (H×W) and, with ``vector``, the
    Vector pass (H×W×4, as ``"Vector"``) of one view layer."""
    path = Path(path)
    channels = read_channels(path, "the rendered EXR file")
    wanted = {"Depth": ["Depth.Z"], **{name: [f"{name}.{c}" for c in "RGB"] for name in colours},
              **{name: [f"{name}.X"] for name in values},
              **({"Vector": [f"Vector.{c}" for c in VECTOR_CHANNELS]} if vector else {})}
    missing = [f"{view_layer}.{c}" for names in wanted.values() for c in names if f"{view_layer}.{c}" not in channels]
    if missing:
        raise FlowError(f"{path} has no channel {', '.join(missing)}; "
                        f"found {', '.join(sorted(channels)) or 'no channels'}.")
    stacked = {name: np.stack([channels[f"{view_layer}.{c}"] for c in names], axis=-1)
               for name, names in wanted.items()}
    return {name: array[..., 0] if array.shape[-1] == 1 else array for name, array in stacked.items()}


def read_channels(path: Path, what: str) -> dict[str, np.ndarray]:
    """Every channel of every part by full name; ``what`` names the file for the error message."""
    plain = plain_channels(path)
    if plain is not None:
        return plain
    try:
        exr = OpenEXR.File(str(path), separate_channels=True)
    except Exception as error:  # OpenEXR raises plain RuntimeError/OSError with terse text
        raise FlowError(f"Cannot read {what} {path}: {error}") from error
    if not exr.parts:  # OpenEXR only warns when the pixels cannot be read, and returns no parts
        raise FlowError(f"Cannot read {what} {path}: it is truncated or damaged (its pixels cannot be read).")
    return {name: channel.pixels for part in exr.parts for name, channel in part.channels.items()}


MAGIC, MULTIPART, TILED_OR_DEEP = 20000630, 0x1000, 0x200 | 0x800
FLOAT = 2  # the channel list's pixel type of 32-bit floats
HEADER_BYTES = 1 << 16  # a render's headers take a few kB


def plain_channels(path: Path) -> dict[str, np.ndarray] | None:
    """The channels of an uncompressed 32-bit scanline EXR (one part or several) as views of the file's bytes read at
    once, or None for any other EXR (OpenEXR reads those): the bake's own renders, which OpenEXR reads in three
    times the time (it converts every line of every channel).

    Such a file is its headers, a table of line offsets per part, then one block per line: (the part's number,)
    the line's y, its size, and each channel's line in the channel list's order. Anything unexpected, a file cut
    short included, gives None, so that OpenEXR reads it or says what is wrong with it."""
    try:
        data = np.fromfile(path, np.uint8)
        head = data[:HEADER_BYTES].tobytes()
        magic, version = struct.unpack_from("<ii", head)
        if magic != MAGIC or version & TILED_OR_DEEP:
            return None
        parts, position = [], 8
        while True:
            attributes, position = header_attributes(head, position)
            parts.append(attributes)
            if not version & MULTIPART or head[position] == 0:
                break
        position += bool(version & MULTIPART)  # the empty header that ends the list
        channels = {}
        prefix = 12 if version & MULTIPART else 8
        for number, attributes in enumerate(parts):
            left, top, right, bottom = struct.unpack("<4i", attributes["dataWindow"])
            width, height = right - left + 1, bottom - top + 1
            names = channel_names(attributes["channels"])
            if attributes["compression"] != b"\0" or names is None:
                return None
            offsets = data[position:position + 8 * height].view("<u8").astype(np.int64)
            position += 8 * height
            line = prefix + 4 * width * len(names)
            if offsets[0] + line * height > len(data) or (np.diff(offsets) != line).any():
                return None
            lines = data[offsets[0]:offsets[0] + line * height].reshape(height, line)
            starts = lines[:, :prefix].copy().view("<i4")  # (part,) y, size: lines in order, of the same size
            if ((starts[:, -2] != np.arange(top, top + height)).any() or (starts[:, -1] != line - prefix).any()
                    or (prefix == 12 and (starts[:, 0] != number).any())):
                return None
            for index, name in enumerate(names):
                start = prefix + 4 * width * index
                channels[name] = lines[:, start:start + 4 * width].view("<f4")
        return channels
    except (OSError, ValueError, IndexError, KeyError, struct.error):
        return None


def header_attributes(head: bytes, position: int) -> tuple[dict[str, bytes], int]:
    """One header's attributes (name -> value bytes) from ``position``, and the position after its end."""
    attributes = {}
    while head[position] != 0:
        name_end = head.index(b"\0", position)
        size_at = head.index(b"\0", name_end + 1) + 1
        (size,) = struct.unpack_from("<i", head, size_at)
        attributes[head[position:name_end].decode()] = head[size_at + 4:size_at + 4 + size]
        position = size_at + 4 + size
    return attributes, position + 1


def channel_names(listed: bytes) -> list[str] | None:
    """The names in a channel list, or None unless each is full-resolution 32-bit float."""
    names, position = [], 0
    while listed[position] != 0:
        end = listed.index(b"\0", position)
        kind, _, x_sampling, y_sampling = struct.unpack_from("<iB3xii", listed, end + 1)
        if kind != FLOAT or x_sampling != 1 or y_sampling != 1:
            return None
        names.append(listed[position:end].decode())
        position = end + 17
    return names
