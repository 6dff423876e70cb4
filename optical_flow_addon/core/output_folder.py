"""One bake per output folder, a folder that holds one bake only, and nothing left behind by dead bakes.

A bake holds a lock on its output folder for its whole run (``.optical_flow.lock``, held by the
operating system, so a killed bake cannot leave a lock behind). Temporary folders and files carry
the owning process's ID, so the next bake can tell those of dead bakes and remove them.

Long because the lock, the refusals, Overwrite, resuming and the clean-up all decide which files are a bake's, and
must decide it the same way.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import FlowError
from .formats.hdf5 import SEQUENCE_NAME
from .frame import create_folder, own_files, planned_paths, prepare_output_dir
from .layouts import LAYOUTS
from .manifest import bake_settings, in_words, manifest_path, read_manifest_file, setting_changes, write_manifest
from .options import BakeOptions
from .track_files import track_files

LOCK_NAME = ".optical_flow.lock"
TEMPORARY_PREFIX = "optical_flow_"
# Temporary names: ``optical_flow_<pid>_...`` folders, ``.<name>.<pid>.part`` and ``.write_test.<pid>`` files.
OWNED_TEMPORARY = re.compile(r"(?:optical_flow_(\d+)_.*|\..+\.(\d+)\.part|\.write_test\.(\d+))")
# Bytes per pixel of one flow with its mask in the formats that store them uncompressed; the
# compressed ones (EXR, KITTI, pictures, compressed HDF5) need less, by how much depends on the scene.
UNCOMPRESSED_BYTES = {"NPY": 9, "NPZ": 9, "FLO": 8, "PFM": 16, "HDF5": 9, "HDF5_SEQUENCE": 9}
DISK_FULL_TEXT = ("No space left on device", "requested and")  # the operating system's and numpy's words
MB = 1e6


def process_alive(pid: int) -> bool:
    """Whether a process with this ID runs; on Windows every process counts as alive (nothing is removed)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:  # on Linux, a killed process nobody has reaped yet still answers: it is a zombie ("Z")
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def dead_owner(name: str) -> bool:
    match = OWNED_TEMPORARY.fullmatch(name)
    return bool(match) and not process_alive(int(next(group for group in match.groups() if group)))


def remove_dead_leftovers(folder: Path) -> list[str]:
    """Remove the temporary folders and files of bakes whose process is gone; return their names."""
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not dead_owner(entry.name):
            continue
        try:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry.name)
        except OSError:
            pass  # another bake removed it first, or it is not ours to remove
    return removed


@contextmanager
def render_folder(parent: str | None) -> Iterator[Path]:
    """A temporary folder for the rendered EXRs, named with this process's ID, removed afterwards.
    Folders left by killed bakes in the same place are removed first."""
    remove_dead_leftovers(Path(parent or tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}_", dir=parent) as folder:
        yield Path(folder)


def lock_descriptor(descriptor: int) -> None:
    """Take the operating system's lock on an open file without waiting; OSError if another process has it."""
    if os.name == "nt":
        import msvcrt

        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


class FolderLock:
    """The output folder's lock: a second bake into the same folder stops before rendering and names the first."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self.descriptor: int | None = None

    def __enter__(self) -> FolderLock:
        while True:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                lock_descriptor(descriptor)
            except OSError:
                holder = self.holder()
                os.close(descriptor)
                raise FlowError(f"Another bake is writing to {self.path.parent} ({holder}). Wait for it to end, "
                                "or choose another folder.") from None
            try:  # a bake that ended meanwhile removed the file: lock the one now there
                if os.stat(self.path).st_ino == os.fstat(descriptor).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(descriptor)
        self.descriptor = descriptor
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(descriptor, 0)
        os.write(descriptor, json.dumps(holder).encode())
        return self

    def holder(self) -> str:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            return f"process {holder['pid']} on {holder['host']}, started {holder['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that is just starting"

    def __exit__(self, *exc_info: object) -> None:
        if os.name != "nt":  # removed while still locked, so no other bake can lock the old file meanwhile
            self.path.unlink(missing_ok=True)
        os.close(self.descriptor)
        if os.name == "nt":
            self.path.unlink(missing_ok=True)


def replace_earlier_bake(folder: Path) -> list[str]:
    """With Overwrite, a bake replaces the one in its folder: every file of the earlier bake goes, so a
    cancelled bake never leaves old frames next to new ones. Returns the names removed."""
    removed = []
    for path in own_files(folder):
        try:
            path.unlink()
        except OSError as error:
            raise FlowError(f"Cannot remove {path} of the earlier bake: {error.strerror or error}") from error
        removed.append(path.name)
    return removed


def replace_earlier_sequence(options: BakeOptions) -> list[str]:
    """With Overwrite, a training layout's bake replaces every file of the earlier bake of its sequence, frames it
    does not write included (a longer or other-pass bake's), so that loaders cannot pair them with its own."""
    if options.training_sequence is None:
        return []
    removed = []
    for path in [*bake_files(options), manifest_path(options)]:
        if path.is_file():
            path.unlink()
            removed.append(path.name)
    return removed


def uncompressed_bytes_per_frame(options: BakeOptions, width: int, height: int) -> int:
    """The least a frame takes on disk: its uncompressed formats (compressed ones add an unknown amount)."""
    flows = max(len(options.flows_at(frame)) for frame in options.frames)
    formats = [f for f in options.formats if not (f.startswith("HDF5") and options.hdf5_compression != "NONE")]
    return flows * width * height * sum(UNCOMPRESSED_BYTES.get(f, 0) for f in formats)


def check_free_space(options: BakeOptions, width: int, height: int) -> None:
    """Refuse a bake that cannot fit before rendering anything."""
    per_frame = uncompressed_bytes_per_frame(options, width, height)
    free = shutil.disk_usage(options.output_dir).free
    frames = len(options.frames)
    if free < per_frame * frames:
        raise FlowError(f"The disk is too full for this bake: {free / MB:.1f} MB free in {options.output_dir}, about "
                        f"{per_frame / MB:.1f} MB needed per frame for {frames} frames. "
                        "Free some space or choose another folder.")


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` or one of its causes says the disk is full (h5py and numpy wrap the system's error)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return True
        if any(text in str(error) for text in DISK_FULL_TEXT):
            return True
        error = error.__cause__ or error.__context__
    return False


def amount(size: float) -> str:
    return f"{size / MB:.1f} MB" if size >= MB / 10 else f"{size / 1000:.0f} kB"


def disk_full_error(folder: Path, frame: int, bytes_per_frame: int) -> FlowError:
    free = shutil.disk_usage(folder).free
    need = f", about {amount(bytes_per_frame)} needed per frame" if bytes_per_frame > free else (
        f"; frames so far took about {amount(bytes_per_frame)} each, this one needed more" if bytes_per_frame else "")
    return FlowError(f"The disk is full ({amount(free)} free in {folder}{need}): frame {frame} was not written. "
                     "Free some space or choose another folder.")


def bake_files(options: BakeOptions) -> list[Path]:
    """The files of the bake (in a training layout, of the sequence) that ``options`` describe, its manifest aside."""
    sequence = options.training_sequence
    if sequence is not None:
        return LAYOUTS[options.layout].sequence_files(sequence)
    return [path for path in own_files(options.output_dir) if path.name != "manifest.json"]


def check_same_bake(options: BakeOptions, width: int, height: int) -> list[dict]:
    """A bake resumes only what a bake of the same settings and scene began, as its manifest says (a bake writes one
    before its first frame, so a killed bake's manifest says it too); files no manifest vouches for are not kept.
    Returns the manifest's records of frames outside this bake's range (other chunks of the sequence)."""
    path, folder = manifest_path(options), options.output_dir
    if not path.is_file():
        existing = bake_files(options)
        if existing:
            names = ", ".join(p.name for p in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3
                                                                else "")
            raise FlowError(f"Cannot resume the bake in {folder}: it holds flow files ({names}) but no {path.name} "
                            "that says how they were baked, so none of them can be kept. Turn on Overwrite to bake "
                            "them again.")
        return []
    try:
        earlier = read_manifest_file(path)
        held = earlier.get("settings")
        records = [r for r in earlier["frames"] if not options.frame_start <= r["frame"] <= options.frame_end]
    except (KeyError, TypeError) as error:
        raise FlowError(f"Cannot resume from {path}: it cannot be read ({error!r}).") from error
    if not isinstance(held, dict):
        raise FlowError(f"Cannot resume the bake in {folder}: {path.name} does not record the settings its files were "
                        "baked with (an older version of the add-on wrote it), so none of them can be kept. Turn on "
                        "Overwrite to bake them again.")
    changes = setting_changes(held, bake_settings(options, (width, height)))
    if changes:
        raise FlowError(f"Cannot resume the bake in {folder}: this bake changes its {in_words(changes)}, so the files "
                        "kept would not be this bake's. Bake with the same settings, or turn on Overwrite to replace "
                        "it.")
    return records


def remove_unvouched(options: BakeOptions, others: list[dict]) -> list[Path]:
    """Resuming: remove the files of frames that neither this bake writes nor the manifest lists (a killed chunk's
    frames outside this bake's range, say), so that every file left belongs to a frame the manifest will list.
    Returns the files removed."""
    frames = sorted({*options.frames, *(record["frame"] for record in others)})
    sequence = options.training_sequence
    if sequence is not None:
        layout = LAYOUTS[options.layout]
        kept = {output.path for frame in frames if frame in sequence.frames
                for output in layout.outputs(sequence, frame)}
    else:
        folder = options.output_dir
        kept = {*planned_paths(options, frames), folder / SEQUENCE_NAME, folder / f".{SEQUENCE_NAME}.adding"}
    kept |= set(track_files(options))  # the bake holding the sequence's first frame writes them
    removed = [path for path in bake_files(options) if path not in kept]
    for path in removed:
        path.unlink()
    return removed


def prepare_training_sequence(options: BakeOptions) -> None:
    """Before rendering: refuse what a training layout cannot hold and clear the temporaries of killed bakes from
    the sequence's folders. The earlier bake's files go under the folder's lock (``BakeFolder``)."""
    sequence = options.training_sequence
    if sequence is None:
        return
    layout = LAYOUTS[options.layout]
    layout.check(sequence)
    for folder in layout.folders(sequence):
        remove_dead_leftovers(folder)


class BakeFolder:
    """The output folder for the length of one bake: locked, checked, cleared of dead bakes' leftovers,
    and with Overwrite emptied of the earlier bake. ``notes`` says what was removed. Several sequences of a
    training layout share one root: the other sequences are checked with ``check`` under the same lock."""

    def __init__(self, options: BakeOptions, width: int, height: int, resume: bool = False) -> None:
        self.options, self.size, self.resume = options, (width, height), resume
        self.lock = FolderLock(options.output_dir)
        self.notes: list[str] = []
        self.other_frames: list[dict] = []  # resuming: the manifest's records of the sequence's other chunks
        self.started: list[BakeOptions] = []  # the bakes whose manifest this one wrote before their first frame

    def __enter__(self) -> BakeFolder:
        create_folder(self.options.output_dir)
        self.lock.__enter__()
        try:
            self.other_frames = self.check(self.options, *self.size)
        except BaseException:
            self.lock.__exit__()
            raise
        return self

    def check(self, options: BakeOptions, width: int, height: int) -> list[dict]:
        """Prepare the locked folder for the bake of ``options``; returns, when resuming, the manifest's records
        of the sequence's other chunks. Before the first frame the folder has a manifest that says how its files are
        baked (listing the frames kept), so that a bake killed later can be resumed."""
        folder = options.output_dir
        remove_dead_leftovers(folder)
        if self.resume:
            other_frames = check_same_bake(options, width, height)
            removed = [path.name for path in remove_unvouched(options, other_frames)]
            if removed:
                names = ", ".join(removed[:3]) + (", ..." if len(removed) > 3 else "")
                self.notes.append(f"Resume removed {len(removed)} files of frames that neither this bake writes nor "
                                  f"the manifest lists ({names}).")
        else:
            other_frames = []
            prepare_output_dir(options)
            if options.overwrite:
                removed = replace_earlier_bake(folder) + replace_earlier_sequence(options)
                if removed:
                    self.notes.append(f"Overwrite removed the {len(removed)} files of the earlier bake in {folder}; "
                                      "every flow file there now belongs to this bake.")
            check_free_space(options, width, height)  # a resumed bake keeps frames, which ones only the writer can tell
        if not manifest_path(options).is_file():
            write_manifest(options, (width, height), [], {})
            self.started.append(options)
        return other_frames

    def __exit__(self, *exc_info: object) -> None:
        """A bake that wrote no frame (its engine failed at the first, say) leaves no manifest either."""
        try:
            for options in self.started:
                path = manifest_path(options)
                if not read_manifest_file(path).get("frames", True) and not bake_files(options):
                    path.unlink()
                    if path.parent != options.output_dir:  # a training layout's dataset folder, if now empty
                        with contextlib.suppress(OSError):
                            path.parent.rmdir()
        except (OSError, FlowError):
            pass  # the folder is as the bake left it: the manifest written first still says how
        finally:
            self.lock.__exit__()

