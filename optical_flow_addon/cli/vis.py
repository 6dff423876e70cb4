"""``vis``: the picture of a flow, disparity, segmentation, normals or tracks file (no ``bpy``)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import webbrowser
from pathlib import Path

from ..core.errors import FlowError


def visualize(args: argparse.Namespace) -> None:
    """Write the picture to ``--output``, or show it in the system's image viewer."""
    from ..core.atomic import atomic_path
    from ..core.flow_files import read_products
    from ..core.formats.picture import overview
    from ..core.formats.png import encode_png
    from ..core.manifest import baked_coordinate_style
    from ..core.overview import truth_panels, with_labels
    from ..core.products import FLOW, kind_of
    from ..core.track_picture import is_tracks_file, tracks_file_picture

    if args.max_radius is not None and not 0 < args.max_radius < float("inf"):
        raise FlowError(f"--max-radius {args.max_radius} is not a flow length: give pixels above 0.")
    if args.path.is_file() and is_tracks_file(args.path):
        picture, frame, count = tracks_file_picture(args.path, args.frame)
        said = f"{count} tracks at frame {frame}, trails over the frames before; hollow where occluded"
    else:
        arrays = read_products(args.path, args.frame)
        extra = truth_panels(arrays)
        if not extra and not any(kind_of(name) == FLOW for name in arrays):
            raise FlowError(f"{args.path} holds no flow, disparity, segmentation or normals "
                            f"(it holds: {', '.join(arrays) or 'nothing'}).")
        picture, radius, panels, starts = overview(arrays, args.max_radius,
                                                   baked_coordinate_style(args.path.parent), extra)
        picture = with_labels(picture, panels, starts)
        said = " | ".join(panels)
        if radius is not None:
            said += f"; the rim of the colour wheel is {radius:.4g} px of flow"
    output = args.output
    if output is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")):
            raise FlowError("There is no display to show the picture on: write it with --output picture.png.")
        output = Path(tempfile.mkdtemp(prefix="optical_flow_")) / f"{args.path.stem}.png"
    elif output.exists() and not args.overwrite:
        raise FlowError(f"{output} already exists; add --overwrite to replace it or choose another name.")
    with atomic_path(output) as temporary:
        temporary.write_bytes(encode_png(picture))
    print(f"{output}: {said}.")
    if args.output is None and not webbrowser.open(output.as_uri()):
        raise FlowError(f"No image viewer opened {output}: write the picture with --output picture.png.")
