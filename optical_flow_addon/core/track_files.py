"""Where a bake's tracks go and what they are written with: in BlenderProc's layout next to its other files, in
CoTracker's in the sequence's folder, with CoTracker's own file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .flow_files import IMAGE_FILES
from .formats.common import read_bytes
from .formats.png import decode_png
from .layouts.cotracker import COTRACKER
from .options import BakeOptions
from .atomic import atomic_path
from .tracks import Tracks, cotracker_annotations, track_paths, write_tracks


def track_folder(options: BakeOptions) -> Path:
    sequence = options.training_sequence
    return COTRACKER.sequence_folder(sequence) if sequence else options.output_dir


def track_files(options: BakeOptions) -> list[Path]:
    """Every file of the bake's tracks (none without tracks)."""
    if not options.point_tracks:
        return []
    sequence = options.training_sequence
    own = [COTRACKER.annotations(sequence)] if sequence else []
    return track_paths(track_folder(options), options.track_formats) + own


def sequence_images(options: BakeOptions) -> list[Path]:
    """The image files of the sequence's frames, in order."""
    frames = range(options.sequence_start, options.sequence_end + 1)
    sequence = options.training_sequence
    if sequence:
        return [COTRACKER.outputs(sequence, frame)[0].path for frame in frames]
    return [IMAGE_FILES.paths(options.output_dir, frame, ["colors"])[0] for frame in frames]


def video(options: BakeOptions) -> np.ndarray:
    """The sequence's images as TAP-Vid stores them: uint8 T×H×W×3."""
    return np.stack([decode_png(read_bytes(path), path)[..., :3] for path in sequence_images(options)])


def save_tracks(options: BakeOptions, tracks: Tracks) -> list[Path]:
    """Write the tracks' files; return their paths, tracks.npz first."""
    written = write_tracks(track_folder(options), options.track_formats, options.sequence, tracks,
                           lambda: video(options))
    sequence = options.training_sequence
    if sequence:
        path = COTRACKER.annotations(sequence)
        with atomic_path(path) as temporary, open(temporary, "wb") as file:  # a .npy holding the dict, as Kubric's
            np.save(file, cotracker_annotations(tracks), allow_pickle=True)
        written.append(path)
    return written
