"""``bake`` of one scene (or ``demo``) in this process: the bake, its progress and its summary."""
from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Generator
from typing import TextIO

from ..core.duration import duration
from ..core.options import BLENDERPROC, BakeOptions
from .names import remove_idle_chunk_folders
from .scene import prepare_bake
from .shared import FrameReport, StopRequest, signals_held


def bake(args: argparse.Namespace, out: TextIO) -> int:
    """``bake`` and ``demo``: load or build the scene, bake it, report to ``out``; returns the exit status."""
    from ..blender.bake import bake_flow

    with signals_held():  # a KeyboardInterrupt inside Blender's operators would be lost as well
        scene, options = prepare_bake(args)
    with StopRequest() as stop:
        bar = out.isatty() and not args.verbose
        status = report(bake_flow(scene, options, args.resume, device=args.device), options, stop, out, bar=bar)
    if status == 0 and args.resume and args.command == "bake":  # a plain --resume after a stopped Dask run
        remove_idle_chunk_folders(options.output_dir, options.sequence)
    if args.command == "demo" and status == 0 and options.layout == BLENDERPROC:
        write_overview(options, out)
    return status


def write_overview(options: BakeOptions, out: TextIO) -> None:
    """The demo's figure: images above forward and backward flow, as in BlenderProc's example."""
    from ..core.atomic import atomic_path
    from ..core.formats.png import encode_png
    from ..core.overview import overview_picture

    path = options.output_dir / "overview.png"
    picture = overview_picture(options.output_dir, options.frames, sorted(options.formats),
                               options.blender_image_coordinate_style)
    with atomic_path(path) as temporary:
        temporary.write_bytes(encode_png(picture))
    print(f"Overview picture: {path}", file=out)


def report(frames: Generator, options: BakeOptions, stop: StopRequest, out: TextIO, bar: bool) -> int:
    """Show the frames as they are done and a summary; stop after the frame in hand when asked.
    Returns the exit status."""
    started = time.perf_counter()
    shown = FrameReport(len(options.frames), out, bar)
    progress = None
    try:
        for progress in frames:
            shown.frame(progress)
            if stop.signal is not None:
                frames.close()
                break
    finally:
        shown.close()
    if stop.signal is not None:
        done = progress.done if progress else 0
        print(f"Stopped by {signal.Signals(stop.signal).name} after {done} of {len(options.frames)} frames; "
              f"their files in {options.output_dir} are complete{' and manifest.json lists them' if done else ''}.",
              file=out)
        return 128 + stop.signal
    if progress is None:
        print(f"All {len(options.frames)} frames in {options.output_dir} were already whole: nothing to bake.",
              file=out)
        return 0
    for note in progress.notes:
        print(f"note: {note}", file=out)
    written = {name for frame in options.frames for name in options.written_products(frame)}  # a layout's, say
    flows = " and ".join(name.replace("_", " ") for name in ("forward_flow", "backward_flow") if name in written)
    others = [label for label, name in (("images", "colors"), ("depth", "depth")) if name in written]
    print(f"Flow for {progress.total} frames written to {options.output_dir} "
          f"in {duration(time.perf_counter() - started)}: "
          f"{', '.join([*others, f'{flows} with masks'])}, as {', '.join(f.lower() for f in options.written_formats)}. "
          f"Rendered on {progress.device}.",
          file=out)
    return 0
