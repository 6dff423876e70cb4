"""Optical Flow for Blender: ground-truth optical flow from any animated scene.

``core`` never imports ``bpy``; ``blender`` is the thin layer that does. Importing this
package does not import ``bpy`` either, so the core runs in plain Python.
"""
import sys

from .core.version import __version__ as __version__  # the package's version, kept in one place


def _started_as_a_command() -> bool:
    """``python -m optical_flow_addon`` (or a chunk's ``optical_flow_addon.cli.chunk_process``), not an import."""
    argv = getattr(sys, "orig_argv", [])
    module = argv[argv.index("-m") + 1:][:1] if "-m" in argv else []
    return module in (["optical_flow_addon"], ["optical_flow_addon.cli.chunk_process"])


def _stop_at_once(number: int, _frame: object) -> None:
    """A stop signal while the command starts: nothing is made yet that must be left whole, so it ends here."""
    import os
    import signal

    if "bpy" in sys.modules:
        from .cli.shared import remove_blender_session_folder

        remove_blender_session_folder()
    os.write(2, f"Stopped by {'Ctrl-C' if number == signal.SIGINT else signal.Signals(number).name}.\n".encode())
    os._exit(128 + number)


def stop_at_once_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP end the command at once, without a traceback, until a bake takes them over."""
    import signal

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop_at_once)


if _started_as_a_command():  # from the first moment: Python's imports of the command's own modules too
    stop_at_once_on_signals()


def register() -> None:
    from . import blender

    blender.register()


def unregister() -> None:
    from . import blender

    blender.unregister()
