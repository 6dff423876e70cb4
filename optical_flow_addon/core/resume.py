"""Resume: which frames an interrupted bake already wrote whole, so that only the rest are baked.

Runs in the writer process, the only one that may load ``h5py`` and ``OpenEXR``.
"""
from __future__ import annotations

from .errors import FlowError
from .flow_files import FORMATS, IMAGE_FILES, WRITERS
from .formats import hdf5
from .formats.png import decode_png
from .layouts import LAYOUTS
from .options import BakeOptions
from .products import at_image_size


def whole_frame(options: BakeOptions, frame: int, height: int, width: int) -> bool:
    """Whether every file of ``frame`` is there and reads back with this bake's products, shapes and types."""
    folder, names = options.output_dir, options.products_at(frame)
    sequence = options.training_sequence
    if sequence:
        return LAYOUTS[options.layout].whole(sequence, frame, height, width)
    truth = (height * options.truth_scale, width * options.truth_scale)  # every product but the images
    try:  # the pictures must decode, at their size
        pictures = {path: (height, width) for path in IMAGE_FILES.paths(folder, frame, names)}
        if "PICTURE" in options.formats:
            pictures.update((path, truth) for path in WRITERS["PICTURE"].paths(folder, frame, names))
        if not all(p.is_file() and decode_png(p.read_bytes(), p).shape[:2] == size for p, size in pictures.items()):
            return False
        for fmt in sorted(set(options.formats) & set(FORMATS)):
            stored = [name for name in names if name in FORMATS[fmt].stores]
            arrays = FORMATS[fmt].read(folder, frame) if stored else {}  # checks each product's dtype and shape
            if sorted(arrays) != sorted(stored) or any(
                    array.shape[:2] != ((height, width) if at_image_size(name) else truth)
                    for name, array in arrays.items()):
                return False
    except FlowError:  # missing or damaged
        return False
    return True


def whole_frames(options: BakeOptions, frames: list[int], height: int, width: int) -> list[int]:
    """The frames to keep, of ``frames``: this bake's and those the manifest lists. A sequence file a killed bake left
    under its working name is put back first; one that holds other frames (listed nowhere, as a killed bake's beyond
    this bake's frames) is refused: its frames cannot be taken out of it."""
    if "HDF5_SEQUENCE" in options.formats:
        path = options.output_dir / hdf5.SEQUENCE_NAME
        hdf5.put_back(path, path.with_name(f".{path.name}.adding"))
        stray = sorted(set(hdf5.held_frames(path)) - set(frames))
        if stray:
            span = (f"{stray[0]}–{stray[-1]}" if len(stray) > 1 and stray[-1] - stray[0] == len(stray) - 1
                    else ", ".join(map(str, stray)))
            raise FlowError(f"Cannot resume the bake in {options.output_dir}: {path.name} holds frames {span}, which "
                            "the manifest does not list and this bake does not write. Resume with frames that "
                            "include them, or turn on Overwrite to bake it again.")
    return [frame for frame in frames if whole_frame(options, frame, height, width)]
