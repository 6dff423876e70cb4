"""What a single bake and the scale-out share: the progress report, the stop request, the exit and the
messages in the command line's words."""
from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..blender.bake import BakeProgress

# The settings a message names, as the command line spells them.
FLAGS = {"turn on Overwrite": "add --overwrite",
         "turn on forward flow, backward flow or both": "leave out --no-forward-flow or --no-backward-flow",
         "the other flow is turned off": "the other flow is turned off (--no-forward-flow or --no-backward-flow)",
         "Picture max radius": "--picture-max-radius",
         "Frames ": "--frames ",
         "Render device ": "--device "}
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextmanager
def signals_held() -> Iterator[None]:
    """Stop signals wait while Blender's own code runs: a KeyboardInterrupt raised inside ``import bpy`` was
    swallowed there, and the bake ran to its end. Afterwards a stop that came meanwhile takes effect (the handlers
    are set again too, in case Blender's code changed them)."""
    numbers = {getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)}
    handlers = {number: signal.getsignal(number) for number in numbers}
    blocking = hasattr(signal, "pthread_sigmask")
    if blocking:
        signal.pthread_sigmask(signal.SIG_BLOCK, numbers)
    try:
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        if blocking:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, numbers)


@contextmanager
def own_output(verbose: bool) -> Iterator[TextIO]:
    """The stream for this tool's own lines. Blender's render log (written by its C code to the standard
    output, about 37 lines a frame) goes nowhere unless ``verbose``."""
    if verbose:
        yield sys.stdout
        return
    sys.stdout.flush()
    real = os.dup(1)
    with open(os.devnull, "wb") as nowhere:
        os.dup2(nowhere.fileno(), 1)
    try:
        with os.fdopen(os.dup(real), "w", buffering=1, encoding="utf-8") as out:
            yield out
    finally:
        sys.stdout.flush()
        os.dup2(real, 1)
        os.close(real)


class StopRequest:
    """Ctrl-C, SIGTERM and SIGHUP stop the bake after the frame in hand (its files, the manifest and the
    scene stay whole, the temporary files go); a second one stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                number = getattr(signal, name)
                self.previous[number] = signal.signal(number, self.stop)
        return self

    def stop(self, number: int, _frame: object) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = number

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


class FrameReport:
    """Frames done, rate and time left: a progress bar on a terminal (tqdm), else one line per frame."""

    def __init__(self, total: int, out: TextIO, bar: bool) -> None:
        self.out, self.bar = out, None
        if bar:
            try:
                from tqdm import tqdm
            except ImportError:  # pip install . brings tqdm; without it, lines
                return
            self.bar = tqdm(total=total, unit="frame", desc="Baking flow", file=out)

    def frame(self, progress: BakeProgress) -> None:
        if self.bar is None:
            print(f"frame {progress.frame:>5}  {progress.done}/{progress.total}  {progress.seconds * 1000:7.0f} ms  "
                  f"{len(progress.written)} files", file=self.out)
        else:
            self.bar.set_postfix_str(f"frame {progress.frame}", refresh=False)
            self.bar.update(progress.done - self.bar.n)  # a resumed bake starts with the frames it kept

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def in_flags(message: str) -> str:
    for setting, flag in FLAGS.items():
        message = message.replace(setting, flag)
    return message


class Stopped(KeyboardInterrupt):
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) that ends the command at once; ``signal`` is its number."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.signal = number


def remove_blender_session_folder() -> None:
    """Blender's teardown removes its session folder (``/tmp/blender_XXXXXX``); ``exit_now`` skips the teardown."""
    bpy = sys.modules.get("bpy")
    try:
        folder = Path(bpy.app.tempdir) if bpy is not None else None
    except (AttributeError, TypeError, ValueError):
        return
    if folder is not None and folder.name.startswith("blender_") and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def exit_now(status: int) -> None:
    """Leave without Blender's teardown, which can hang or crash after the work is done (bpy 4.2–4.5), but
    with its session folder removed."""
    remove_blender_session_folder()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
