"""Write files so that a crash, a full disk or a cancel never leaves half a file behind."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import FlowError


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it to ``final`` only if the body succeeds."""
    temporary = final.with_name(f".{final.name}.{os.getpid()}.part")
    try:
        yield temporary
        os.replace(temporary, final)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise FlowError(f"Cannot write {final}: {error.strerror or error}") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
