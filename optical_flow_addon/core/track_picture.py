"""The picture of point tracks at one frame, as CoTracker's visualiser draws them: the frame's image, each track's
trail over the frames before, coloured by where its query point is (a rainbow from left to right), hollow where
the point is occluded."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .colour_wheel import colour_wheel
from .errors import FlowError
from .formats.common import read_bytes
from .formats.picture import GREY, MIN_HEIGHT
from .formats.png import decode_png
from .tracks import TRACKS_NAME, read_tracks

TRAIL = 8  # frames of trail behind each point
RADIUS = 3  # of a point, in pixels of the (enlarged) picture


def frame_image(folder: Path, frame: int, index: int) -> np.ndarray | None:
    """The image of the frame next to the tracks file: BlenderProc's colors_%04d.png or CoTracker's frames/%03d.png."""
    for path in (folder / f"colors_{frame:04d}.png", folder / "frames" / f"{index:03d}.png"):
        if path.is_file():
            return decode_png(read_bytes(path), path)[..., :3]
    return None


def stamp(picture: np.ndarray, centre: np.ndarray, colour: np.ndarray, radius: float, hollow: bool) -> None:
    """A disc (or ring) of ``colour`` at ``centre`` (x, y), clipped to the picture."""
    reach = int(np.ceil(radius))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    distance = np.hypot(dx, dy)
    keep = (distance <= radius) & ((distance >= radius - 1.2) if hollow else True)
    rows, cols = np.round(centre[1] - 0.5).astype(int) + dy[keep], np.round(centre[0] - 0.5).astype(int) + dx[keep]
    inside = (rows >= 0) & (rows < picture.shape[0]) & (cols >= 0) & (cols < picture.shape[1])
    picture[rows[inside], cols[inside]] = colour


def track_picture(tracks: dict[str, np.ndarray], frame: int | None,
                  image: np.ndarray | None) -> tuple[np.ndarray, int]:
    """The picture at scene ``frame`` (None: the last) on its ``image`` (None: grey), and the frame."""
    frames = tracks["frames"].tolist()
    frame = frames[-1] if frame is None else frame
    if frame not in frames:
        raise FlowError(f"Frame {frame} is not one of the tracks' frames ({frames[0]}–{frames[-1]}).")
    index = frames.index(frame)
    width, height = tracks["image_size"].tolist()
    picture = np.full((height, width, 3), GREY, np.uint8) if image is None else image.copy()
    scale = max(1, MIN_HEIGHT // height)
    picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    wheel = colour_wheel().astype(np.uint8)
    hue = np.clip(tracks["query_points"][:, 2] / width, 0, 0.999) * len(wheel)
    colours = wheel[hue.astype(int)]
    points = tracks["target_points"] * scale
    for first in range(max(0, index - TRAIL), index):  # older trail segments first, fading in towards the point
        for track in np.flatnonzero(~tracks["occluded"][:, first] & ~tracks["occluded"][:, first + 1]):
            for step in np.linspace(0, 1, 2 * scale + 2):
                stamp(picture, points[track, first] * (1 - step) + points[track, first + 1] * step,
                      colours[track], 0.6 * scale, False)
    for track in range(len(points)):
        stamp(picture, points[track, index], colours[track], RADIUS * max(1, scale // 2),
              bool(tracks["occluded"][track, index]))
    return picture, frame


def tracks_file_picture(path: Path, frame: int | None) -> tuple[np.ndarray, int, int]:
    """The picture of a tracks file at scene ``frame`` (None: the last) on the frame's image beside the file, the
    frame, and the number of tracks."""
    tracks = read_tracks(path)
    frames = tracks["frames"].tolist()
    frame = frames[-1] if frame is None else frame
    image = frame_image(path.parent, frame, frames.index(frame)) if frame in frames else None
    picture, frame = track_picture(tracks, frame, image)
    return picture, frame, len(tracks["target_points"])


def baked_tracks(folder: Path, manifest: str) -> Path:
    """The tracks file of the bake in ``folder`` whose manifest is ``manifest`` ("" for BlenderProc's
    manifest.json): a CoTracker sequence's is in the sequence's folder."""
    sequence = manifest.removesuffix(".manifest.json") if manifest.endswith(".manifest.json") else ""
    return folder / sequence / TRACKS_NAME


def is_tracks_file(path: Path) -> bool:
    return path.suffix == ".npz" and (path.name == TRACKS_NAME or b"target_points" in read_bytes(path)[:4096])
