"""What the training layouts share: the sequence being baked, the refusals every dataset needs, and the
frame's files written one by one under temporary names.

A layout lists a frame's files as ``Output``\\ s (path, the products it is made of, how they are
saved); everything else (what a frame needs, writing, whether a frame is whole) follows from
that one list, so the paths are written down once.
"""
from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, file_buffer, write_uncached
from ..errors import FlowError
from ..formats.common import read_bytes
from ..formats.flo import TAG
from ..formats.png import decode_png, encode_png, without_metadata

CAM_BYTES = len(TAG) + 8 * (9 + 12)  # Sintel's .cam: tag, 3×3 and 3×4 float64 matrices
GLOB_CHARACTERS = "*?[]"  # torchvision and ptlflow find files with glob: these would be read as patterns


@dataclass(frozen=True)
class Sequence:
    """One bake into a layout: its root folder, name and scene frames, and what its images and flow are like.

    ``frame_gap``: forward flow of frame t points to frame t + gap (backward to t − gap).
    """

    root: Path
    name: str
    first_frame: int
    last_frame: int
    frame_step: int = 1
    frame_gap: int = 1
    motion_blur: bool = False
    blender_image_coordinate_style: bool = False
    overwrite: bool = False
    stereo: bool = False  # the right view and disparity too, where the layout holds them
    segmentation: bool = False  # each pixel's object instance too, where the layout holds it

    @property
    def frames(self) -> range:
        return range(self.first_frame, self.last_frame + 1, self.frame_step)

    def index(self, frame: int) -> int:
        """Position of ``frame`` in the sequence, from 0."""
        if frame not in self.frames:
            raise FlowError(f"Frame {frame} is not in sequence {self.name!r} (frames {self.first_frame} to "
                            f"{self.last_frame}, step {self.frame_step}).")
        return self.frames.index(frame)

    def is_last(self, frame: int) -> bool:
        return self.index(frame) == len(self.frames) - 1


@dataclass(frozen=True)
class Output:
    """One file of a frame: where it goes, the products it is made of, and ``save(path, *those arrays)``."""

    path: Path
    products: tuple[str, ...]
    save: Callable[..., None]


def image_file(render: Path) -> bytes:
    """Blender's PNG without its render date and time, so that a frame baked again (resumed, or a chunk run
    twice) gives the same file."""
    return without_metadata(read_bytes(render), render)


def save_image(path: Path, colors: np.ndarray | Path | bytes) -> None:
    """The image: in a bake, Blender's PNG (a path, or its ``image_file`` read once for several files);
    pixels (uint8) are encoded, with zlib's run-length strategy (faster and smaller than level 1 on render noise)."""
    if isinstance(colors, Path):
        colors = image_file(colors)
    if isinstance(colors, bytes):
        write_uncached(path, file_buffer(colors))
    else:
        path.write_bytes(encode_png(colors, 1, zlib.Z_RLE))


def save_mask(path: Path, mask: np.ndarray) -> None:
    """8-bit grey PNG, 255 where the mask is true (Sintel's and ptlflow's polarity for occluded and invalid).
    Deflated by ISA-L where installed (a sixth of zlib's time, files of a few kB either way); zlib's run-length
    coding otherwise, as small as its level 6 in a fifth of its time."""
    grey = np.negative(np.asarray(mask, bool).view(np.uint8))  # True (1) → 255 in uint8
    path.write_bytes(encode_png(grey, 1, zlib.Z_RLE, fast=True))


class Layout:
    """A dataset's folders. Subclasses give the names and ``outputs``; ``write`` is the bake's entry."""

    name: str  # the option value, e.g. "SINTEL"
    folder: str  # the folder torchvision adds to the root
    loaders: tuple[str, ...]  # the loader classes this layout is tested with
    formats: tuple[str, ...]  # the kinds of its files, as the manifest and the summary name them
    first_number: int = 0  # file numbers: position in the sequence + this
    digits: int = 4  # file numbers are zero-padded to this; more frames would sort out of order

    def outputs(self, sequence: Sequence, frame: int) -> list[Output]:
        raise NotImplementedError

    def folders(self, sequence: Sequence) -> list[Path]:
        """The folders that hold this sequence's files (KITTI's are shared with the other sequences)."""
        raise NotImplementedError

    def sequence_files(self, sequence: Sequence) -> list[Path]:
        """The files of this sequence already under the root."""
        return files_in(*self.folders(sequence))

    def check_root(self, sequence: Sequence) -> None:
        """Refuse a root whose other sequences this one cannot join."""

    def check_frame(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray]) -> None:
        """Refuse products the dataset's files cannot hold, before any of the frame's files is written."""

    def check(self, sequence: Sequence) -> None:
        """Refuse, before rendering, a sequence this layout cannot hold or that would overwrite files."""
        name = sequence.name
        if not name or name.startswith(".") or any(c in name for c in f"/\\\0{GLOB_CHARACTERS}"):
            raise FlowError(f"Sequence name {name!r} cannot be a folder or file name of the {self.name} layout: "
                            f"it must be non-empty, not start with '.', and have none of / \\ {GLOB_CHARACTERS}.")
        if any(c in str(sequence.root) for c in GLOB_CHARACTERS):
            raise FlowError(f"Output folder {sequence.root} has one of {GLOB_CHARACTERS} in its path; torchvision "
                            "and ptlflow look for files with glob patterns and would not find them there.")
        if sequence.blender_image_coordinate_style:
            raise FlowError(f"The {self.name} layout holds OpenCV-style flow (y down), as the dataset does; "
                            "turn off Blender image coordinate style.")
        if sequence.frame_gap != sequence.frame_step:
            raise FlowError(f"The {self.name} layout pairs each image with the next one written, {sequence.frame_step} "
                            f"frame(s) later, but the frame gap is {sequence.frame_gap}: the flow would not belong "
                            f"to the pair. Use a frame gap of {sequence.frame_step}"
                            + (": every frame of the range is written (a scene's Frame Step is not used)."
                               if sequence.frame_step == 1 else "."))
        count = len(sequence.frames)
        if count < 2:
            raise FlowError(f"The {self.name} layout needs at least two frames for a pair; "
                            f"frames {sequence.first_frame} to {sequence.last_frame} give {count}.")
        if self.first_number + count - 1 >= 10 ** self.digits:
            raise FlowError(f"The {self.name} layout numbers files with {self.digits} digits, so a sequence holds at "
                            f"most {10 ** self.digits - self.first_number} frames; this one has {count}.")
        existing = self.sequence_files(sequence)
        if existing and not sequence.overwrite:
            raise FlowError(f"Sequence {name!r} already has {len(existing)} file(s) in {sequence.root / self.folder} "
                            f"(e.g. {existing[0]}); turn on Overwrite to bake it again, or choose another name.")
        self.check_root(sequence)

    def needs(self, sequence: Sequence, frame: int) -> set[str]:
        """The products ``frame`` must have for ``write``."""
        return {name for output in self.outputs(sequence, frame) for name in output.products}

    def write(self, sequence: Sequence, frame: int, products: dict[str, np.ndarray | Path]) -> list[Path]:
        """Write one frame's files, each under a temporary name first; return their paths. ``colors`` and
        ``right_colors`` may be Blender's PNG, which is copied. The files are written at once, in threads: zlib,
        numpy and the disk release the GIL while they work."""
        outputs = self.outputs(sequence, frame)
        missing = sorted({name for output in outputs for name in output.products} - set(products))
        if missing:
            raise FlowError(f"The {self.name} layout needs {', '.join(missing)} for frame {frame}, "
                            "but the bake did not make it.")
        self.check_frame(sequence, frame, products)
        uses = Counter(name for output in outputs for name in output.products)
        products = {name: image_file(value) if isinstance(value, Path) and uses[name] > 1 else value
                    for name, value in products.items()}  # Blender's PNG read once for all the files it makes
        for folder in {output.path.parent for output in outputs}:
            folder.mkdir(parents=True, exist_ok=True)

        def save(output: Output) -> None:
            with atomic_path(output.path) as temporary:
                output.save(temporary, *(products[name] for name in output.products))

        with ThreadPoolExecutor(len(outputs)) as pool:
            done = [pool.submit(save, output) for output in outputs]
        for future in done:
            future.result()  # the first error, once every file has been written or given up
        return [output.path for output in outputs]

    def whole(self, sequence: Sequence, frame: int, height: int, width: int) -> bool:
        """Whether every file of ``frame`` is there, whole and of this size (resuming a killed bake): PNGs decode,
        the other files' headers give this size and their length is what that size takes."""
        try:
            return all(output.path.is_file() and file_fits(output.path, height, width)
                       for output in self.outputs(sequence, frame))
        except FlowError:  # damaged, or a frame outside the sequence
            return False


def file_fits(path: Path, height: int, width: int) -> bool:
    """Whether the layout's file at ``path`` is whole and of ``height`` × ``width`` pixels, by its kind: a PNG
    decodes at that size; a .flo, .dpt or .pfm has that size in its header and exactly the bytes it takes; a .cam
    (no size) has its tag and its two matrices. FlowError if it is damaged."""
    suffix = path.suffix
    if suffix == ".png":
        return decode_png(read_bytes(path), path).shape[:2] == (height, width)
    size = path.stat().st_size
    with open(path, "rb") as file:
        header = file.read(64)
    if suffix == ".cam":
        return header.startswith(TAG) and size == CAM_BYTES
    if suffix in (".flo", ".dpt"):
        pixel = 8 if suffix == ".flo" else 4
        return (header.startswith(TAG) and len(header) >= 12 and struct.unpack("<ii", header[4:12]) == (width, height)
                and size == 12 + pixel * width * height)
    if suffix == ".pfm":
        lines = header.split(b"\n", 3)
        if len(lines) < 4 or lines[0] not in (b"PF", b"Pf") or lines[1].split() != [b"%d" % width, b"%d" % height]:
            return False
        channels = 3 if lines[0] == b"PF" else 1
        return size == len(header) - len(lines[3]) + 4 * channels * width * height
    raise FlowError(f"{path}: no check for whole {suffix} files.")


def other_sequences(folder: Path, sequence: Sequence) -> list[str]:
    """The names of the sequences other than ``sequence`` that have a folder in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != sequence.name) if folder.is_dir() else []


def files_in(*folders: Path) -> list[Path]:
    """Every file directly in the given folders, in order; hidden ones (a crashed write's temporary) aside."""
    return sorted(path for folder in folders if folder.is_dir() for path in folder.iterdir()
                  if path.is_file() and not path.name.startswith("."))
