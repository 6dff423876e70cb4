"""``python -m optical_flow_addon.cli.chunk_process`` is the bake process of one chunk of a scale-out: it reads the
bake's arguments (pickled) on its standard input and runs them as ``python -m optical_flow_addon bake`` would."""
from __future__ import annotations

import os
import pickle
import signal
import sys

from .command import run_guarded
from .shared import exit_now
from .tasks import PARENT

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """On Linux a chunk's bake process dies (SIGKILL) with the worker that started it, so the chunk's next try
    never finds it still at work."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if str(os.getppid()) != os.environ.get(PARENT):  # the worker died before the line above
        os._exit(128 + signal.SIGKILL)


def bake_process_main() -> None:
    die_with_parent()
    exit_now(run_guarded(pickle.loads(sys.stdin.buffer.read())))


if __name__ == "__main__":
    bake_process_main()
