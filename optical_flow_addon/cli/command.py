"""``main``: the parsed flags to a run of ``bake``, ``demo`` or ``vis``; every way a run ends is one clear line and an
exit status (never a hang in Blender's teardown)."""
from __future__ import annotations

import argparse
import signal
import sys
import traceback

from ..core.errors import FlowError
from . import scene, single
from .names import check_sequence_names
from .parser import parser
from .scale_out import bake_scenes
from .shared import exit_now, in_flags, own_output, signals_held
from .vis import visualize


def run(args: argparse.Namespace) -> int | None:
    if args.command == "vis":
        return visualize(args)
    check_sequence_names(args)
    if args.command == "bake" and (len(args.scenes) > 1 or args.scheduler):
        return bake_scenes(args)
    with signals_held():
        import bpy  # noqa: F401
    if args.command == "bake":
        args.scene = args.scenes[0]
    with own_output(args.verbose) as out:
        if getattr(args, "plan_only", False):  # a scale-out's question to a scene (tasks.plan_scene)
            return scene.print_plan(args, out)
        return single.bake(args, out)


def main(argv: list[str] | None = None, prog: str = "python -m optical_flow_addon") -> int:
    """Run a command; every way it ends is one clear line and an exit status (never a hang in Blender's teardown)."""
    try:
        args = parser(prog).parse_args(argv)
    except KeyboardInterrupt:
        print("Stopped by Ctrl-C.", file=sys.stderr)
        return 130
    return run_guarded(args)


def run_guarded(args: argparse.Namespace) -> int:
    """Run parsed arguments; an error is one line on stderr and exit status 1, a stop 128 + the signal."""
    try:
        return run(args) or 0
    except FlowError as error:
        print(f"error: {in_flags(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        number = getattr(stop, "signal", signal.SIGINT)
        print("Stopped by Ctrl-C." if number == signal.SIGINT else f"Stopped by {signal.Signals(number).name}.",
              file=sys.stderr)
        return 128 + number
    except Exception as error:  # a bug: say so in one line, the details on request
        if args.verbose:
            traceback.print_exc()
        print(f"error: unexpected {type(error).__name__}: {error}. This is a bug: run again with --verbose and "
              "report what it prints.", file=sys.stderr)
        return 1


def console() -> None:
    """The ``optical-flow`` command that ``pip install .`` makes."""
    from .. import stop_at_once_on_signals

    stop_at_once_on_signals()
    exit_now(main(prog="optical-flow"))
