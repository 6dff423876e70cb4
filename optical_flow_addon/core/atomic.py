"""Write files so that a crash, a full disk or a cancel never leaves half a file behind."""
from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import FlowError

CANNOT_SYNC = {errno.EINVAL, errno.ENOTSUP, errno.ENOSYS}


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
