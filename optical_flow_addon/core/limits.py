"""What a bake checks of the machine before it renders: memory for a frame, and room in the file names for a
sequence's name. The command line and Blender's own bakes (the panel, scripts) ask the same questions."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import FlowError

# Memory a bake takes per pixel of a frame, at least: Cycles' passes, the EXR read back, the flow maths in float64 and
# the frame window (peak of the bake and its writer process, both flows with masks, .npy and HDF5: 470 bytes per
# pixel from 1000×1000 to 2000×1500 on bpy 4.5; with images, 1000). Lower bounds, so a bake is refused only when it
# cannot fit.
BYTES_PER_PIXEL = 400
IMAGE_BYTES_PER_PIXEL = 400
# Bytes the add-on's own names add around a sequence name: a chunk's working folder
# (``.optical_flow_chunk_NAME_FIRST-LAST``), a file written under a temporary name (``.NAME.manifest.json.PID.part``,
# ``.NAME_000000_10.png.PID.part``).
NAME_ROOM = 64


def available_memory() -> int | None:
    """Bytes of memory the system can give a new process without swapping (Linux), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_frame_memory(width: int, height: int, images: bool, size: str) -> None:
    """Refuse a frame too big for the memory there is: the kernel would kill the bake midway, with no word, its lock
    and temporary folder left. ``size`` names where the resolution came from, for the message."""
    per_pixel = BYTES_PER_PIXEL + (IMAGE_BYTES_PER_PIXEL if images else 0)
    needed, available = width * height * per_pixel, available_memory()
    if available is not None and needed > available:
        raise FlowError(f"{size} needs about {needed / 1e9:,.1f} GB of memory for a frame "
                        f"({per_pixel} bytes per pixel), but {available / 1e9:,.1f} GB is available. Choose a smaller "
                        "resolution, or free memory.")


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, the file system of ``folder`` (or of its nearest existing parent) holds."""
    for place in (folder, *folder.resolve().parents):
        if place.is_dir():
            try:
                return os.pathconf(place, "PC_NAME_MAX")
            except (OSError, ValueError, AttributeError):  # Windows has no pathconf: NTFS holds 255 characters
                break
    return 255


def check_sequence_name(name: str, folder: Path, flag: str) -> None:
    """Refuse a sequence name too long for the file names made from it in ``folder``; ``flag`` names where it came
    from, for the message."""
    limit = name_max(folder)
    size = len(os.fsencode(name))
    if size + NAME_ROOM > limit:
        raise FlowError(f"{flag} is {size} bytes long, but the file names made from it must fit in the file "
                        f"system's {limit} bytes: give a name of at most {limit - NAME_ROOM} bytes.")
