"""Write files so that a crash, a full disk or a cancel never leaves half a file behind."""
from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import FlowError

CANNOT_SYNC = {errno.EINVAL, errno.ENOTSUP, errno.ENOSYS}
try:
    from fcntl import F_GETFL, F_SETFL, fcntl
    DIRECT = getattr(os, "O_DIRECT", 0)  # Linux and some BSDs: the disk reads the data straight from memory
except ImportError:  # Windows
    DIRECT = 0


def file_buffer(start: bytes, more: int = 0) -> np.ndarray:
    """A file's bytes for ``write_uncached``, from a memory page on: ``start`` (a header, or the whole file),
    then ``more`` zero bytes for the caller to fill. Carved out of a numpy array rather than mapped afresh: numpy's
    memory is reused from frame to frame, and fresh pages cost more to fault in than the page cache does."""
    size = len(start) + more
    block = np.zeros(size + mmap.PAGESIZE, np.uint8)
    offset = -block.ctypes.data % mmap.PAGESIZE
    data = block[offset:offset + size]
    data[:len(start)] = np.frombuffer(start, np.uint8)
    return data


def write_uncached(path: Path, data: np.ndarray) -> None:
    """Write ``data`` (from ``file_buffer``) as the file ``path``, past the page cache where the system allows
    (``O_DIRECT``): whole pages go from memory to the disk, the last part page through the cache. Copying into the
    cache is most of what writing a large file costs the processor, which Cycles needs. Where the file system
    refuses, everything goes through the cache."""
    view, flags = memoryview(data).cast("B"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    direct = DIRECT
    try:
        descriptor = os.open(path, flags | direct, 0o666)
    except OSError as error:
        if not direct or error.errno != errno.EINVAL:
            raise
        descriptor, direct = os.open(path, flags, 0o666), 0
    try:
        done = 0
        if direct:
            whole_pages = len(view) // mmap.PAGESIZE * mmap.PAGESIZE
            try:
                while done < whole_pages:
                    done += os.write(descriptor, view[done:whole_pages])
            except OSError as error:  # blocks larger than a page, or a file system that opens but cannot write so
                if error.errno != errno.EINVAL:
                    raise
            fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~direct)
        while done < len(view):
            done += os.write(descriptor, view[done:])
    finally:
        os.close(descriptor)


def flush_to_disk(path: Path) -> None:
    """Put the file's data on disk, then drop it from the page cache.

    On disk before the rename, so that a crash cannot leave a renamed but empty file. Out of the cache
    because nothing reads it again soon, and recycled cache pages are cheaper than fresh ones: on a
    2-core virtual machine a 16.6 MB flow file then costs 2.8 ms of processor time instead of 7-9 ms.
    """
    descriptor = os.open(path, os.O_RDWR)
    try:
        try:
            os.fsync(descriptor)
        except OSError as error:  # some network and FUSE file systems cannot sync: the rename still holds
            if error.errno not in CANNOT_SYNC:
                raise
        if hasattr(os, "posix_fadvise"):  # Linux and the BSDs
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it to ``final`` only if the body succeeds."""
    temporary = final.with_name(f".{final.name}.{os.getpid()}.part")
    try:
        yield temporary
        flush_to_disk(temporary)
        os.replace(temporary, final)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise FlowError(f"Cannot write {final}: {error.strerror or error}") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
