"""One picture of a whole bake, like the figure of BlenderProc's optical-flow example: a row of the
frames' images above a row of forward flow and a row of backward flow, all flows on one colour scale; and where the
bake made them, a row of segmentation and one of normals."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .colour_wheel import flow_to_rgb
from .errors import FlowError
from .flow_files import FORMATS
from .formats.picture import GREY, longest_vector, on_screen
from .frame_picture import baked_image
from .products import DISPARITY_CHANGE, FLOW_NAMES, PRODUCTS

LABEL_WIDTH = 110
HEADER = 18
GAP = 4


def row_pictures(folder: Path, frames: list[int], formats: list[str],
                 blender_image_coordinate_style: bool) -> dict[str, list]:
    """Per row (``images``, then each flow), one H×W×3 picture per frame, or None where the frame has none.
    The flow is read from the first of ``formats`` that can be read back (NPY first)."""
    images = [baked_image(folder, frame) for frame in frames]
    images = [None if image is None else image[..., :3] for image in images]
    readable = sorted((name for name in formats if name in FORMATS), key=lambda name: name != "NPY")
    products = [FORMATS[readable[0]].read(folder, frame) if readable else {} for frame in frames]
    flows = {name: [on_screen(p[name], blender_image_coordinate_style) if name in p else None for p in products]
             for name in FLOW_NAMES}
    radius = max((longest_vector(f, p[f"{name}_valid"]) for name in FLOW_NAMES
                  for f, p in zip(flows[name], products) if f is not None), default=0.0) or 1.0
    rows = {"images": images}
    for name in FLOW_NAMES:
        rows[name.replace("_", " ")] = [None if f is None else flow_to_rgb(f, p[f"{name}_valid"], radius)
                                        for f, p in zip(flows[name], products)]
    largest = max((float(p["disparity"].max()) for p in products if "disparity" in p), default=0.0) or 1.0
    rows["disparity"] = [disparity_picture(p["disparity"], p["disparity_valid"], largest) if "disparity" in p
                         else None for p in products]
    for name, draw in PICTURES.items():
        rows[name] = [draw(p[name]) if name in p else None for p in products]
    return {label: pictures for label, pictures in rows.items() if any(p is not None for p in pictures)}


# Disparity's colours from far (small disparity) to near: dark blue, blue, cyan, yellow, red, as the stereo
# datasets' own pictures run from cold to warm.
DISPARITY_COLOURS = np.array([(0, 0, 128), (0, 0, 255), (0, 255, 255), (255, 255, 0), (255, 0, 0)], float)


def disparity_picture(disparity: np.ndarray, valid: np.ndarray, largest: float) -> np.ndarray:
    """Disparity on one scale for the whole bake (``largest`` at the warm end), black where there is none."""
    position = np.clip(disparity / largest, 0, 1) * (len(DISPARITY_COLOURS) - 1)
    below = np.minimum(position.astype(int), len(DISPARITY_COLOURS) - 2)
    share = (position - below)[..., None]
    colours = DISPARITY_COLOURS[below] * (1 - share) + DISPARITY_COLOURS[below + 1] * share
    return np.where(valid[..., None], np.round(colours), 0).astype(np.uint8)


# Signed values (disparity change) from negative to positive: blue, white at 0, red. No other picture here draws a
# signed value, so a plain diverging scale, named in the panel's label.
SIGNED_ENDS = np.array([(0, 0, 255), (255, 0, 0)], float)
SIGNED_LABEL = "blue -, white 0, red +"  # ASCII: without FreeType, Pillow's default font is Latin-1


def signed_picture(values: np.ndarray) -> np.ndarray:
    """``values`` on their own scale, symmetric about 0 so that white is no change whatever the largest value;
    black where not a number."""
    known = np.isfinite(values)
    largest = float(np.abs(values[known]).max(initial=0)) or 1.0
    share = np.clip(np.where(known, values, 0) / largest, -1, 1)[..., None]
    colours = 255 + np.abs(share) * (np.where(share < 0, SIGNED_ENDS[0], SIGNED_ENDS[1]) - 255)
    return np.where(known[..., None], np.round(colours), 0).astype(np.uint8)


def segmentation_picture(segmentation: np.ndarray) -> np.ndarray:
    """A colour per instance index, the same in every frame and bake (the index's bits mixed by a fixed
    multiplication, each channel kept above 63 so that no instance looks like the black background)."""
    mixed = segmentation.astype(np.uint32) * np.uint32(2654435761)  # Knuth's multiplicative hash
    channels = np.stack([64 + (mixed >> np.uint32(shift)) % 192 for shift in (8, 16, 24)], axis=-1)
    return np.where(segmentation[..., None] > 0, channels, 0).astype(np.uint8)


def normals_picture(normals: np.ndarray) -> np.ndarray:
    """Normals as colours, RGB = (n + 1) / 2 of the camera axes' x, y, z; the background's zero vectors are grey."""
    return np.round((normals + 1) * 127.5).clip(0, 255).astype(np.uint8)


# The products drawn as they are, whatever the rest of the bake holds: each its own picture.
PICTURES = {"segmentation": segmentation_picture, "normals": normals_picture}


def truth_panels(arrays: dict[str, np.ndarray]) -> tuple[tuple[str, np.ndarray], ...]:
    """A frame's disparity of each view (each on its own scale, its largest at the warm end), disparity change,
    segmentation and normals as labelled pictures, for ``vis``."""
    panels = []
    for name in ("disparity", "right_disparity"):
        if name in arrays:
            valid = arrays.get(f"{name}_valid", arrays[name] > 0)
            largest = float(arrays[name][valid].max(initial=0)) or 1.0
            panels.append((name.replace("_", " "), disparity_picture(arrays[name], valid, largest)))
    panels += [(f"{name.replace('_', ' ')} ({SIGNED_LABEL})", signed_picture(arrays[name]))
               for name in arrays if PRODUCTS.get(name) is DISPARITY_CHANGE]
    panels += [(name, draw(arrays[name])) for name, draw in PICTURES.items() if name in arrays]
    return tuple(panels)


def with_labels(picture: np.ndarray, labels: list[str], starts: list[int]) -> np.ndarray:
    """``picture`` under a grey strip of HEADER rows that names each of its panels above where it starts (x)."""
    Image, ImageDraw = pillow()
    canvas = Image.new("RGB", (picture.shape[1], HEADER + picture.shape[0]), (GREY,) * 3)
    canvas.paste(Image.fromarray(picture), (0, HEADER))
    draw = ImageDraw.Draw(canvas)
    for label, x in zip(labels, starts):
        draw.text((x + 2, 3), label, fill=(255, 255, 255))
    return np.asarray(canvas)


def pillow():
    """Pillow's Image and ImageDraw, which draw the labels, or an error that says how to install it."""
    try:
        from PIL import Image, ImageDraw
    except ImportError as error:
        raise FlowError("Labelled pictures need Pillow: python -m pip install pillow.") from error
    return Image, ImageDraw


def overview_picture(folder: Path, frames: list[int], formats: list[str],
                     blender_image_coordinate_style: bool = False) -> np.ndarray:
    """The labelled grid (H×W×3 uint8) of the bake in ``folder``; frames without a picture stay grey."""
    Image, ImageDraw = pillow()
    rows = row_pictures(folder, frames, formats, blender_image_coordinate_style)
    if not rows:
        raise FlowError(f"{folder} holds no images or readable flow for frames {frames[0]}–{frames[-1]}.")
    height, width = next(p for pictures in rows.values() for p in pictures if p is not None).shape[:2]
    canvas = Image.new("RGB", (LABEL_WIDTH + len(frames) * (width + GAP), HEADER + len(rows) * (height + GAP)),
                       (GREY,) * 3)
    draw = ImageDraw.Draw(canvas)
    for column, frame in enumerate(frames):
        draw.text((LABEL_WIDTH + column * (width + GAP), 3), f"frame {frame}", fill=(255, 255, 255))
    for row, (label, pictures) in enumerate(rows.items()):
        top = HEADER + row * (height + GAP)
        draw.text((4, top + height // 2 - 6), label, fill=(255, 255, 255))
        for column, picture in enumerate(pictures):
            if picture is not None:  # truth at a finer scale than the images: one sample of each pixel
                step = max(1, picture.shape[0] // height)
                canvas.paste(Image.fromarray(np.ascontiguousarray(picture[::step, ::step])),
                             (LABEL_WIDTH + column * (width + GAP), top))
    return np.asarray(canvas)
