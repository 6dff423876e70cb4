"""CoTracker's training folders, as its ``KubricMovifDataset(data_root=root)`` reads Kubric's: one folder per
sequence with ``frames/%03d.png`` and ``<sequence>.npy`` (a pickled dict: ``coords`` N×T×2 and ``visibility``
N×T holding the occlusion flag, which CoTracker negates on loading).

CoTracker takes every folder under the root as a sequence, so the root holds the sequence folders only (the
manifest, a file, sits beside them). The tracks file and the track formats' files go in the sequence's folder,
where CoTracker does not look."""
from __future__ import annotations

from pathlib import Path

from .common import Layout, Output, Sequence, save_image


class CoTracker(Layout):
    name = "COTRACKER"
    folder = ""
    formats = ("PNG", "NPY")
    loaders = ("cotracker.datasets.kubric_movif_dataset.KubricMovifDataset(data_root=root)",)
    digits = 3

    def sequence_folder(self, sequence: Sequence) -> Path:
        return sequence.root / sequence.name

    def annotations(self, sequence: Sequence) -> Path:
        """The file of the tracks CoTracker reads (written once the tracks are followed, core/track_files.py)."""
        return self.sequence_folder(sequence) / f"{sequence.name}.npy"

    def outputs(self, sequence: Sequence, frame: int) -> list[Output]:
        image = self.sequence_folder(sequence) / "frames" / f"{sequence.index(frame):03d}.png"
        return [Output(image, ("colors",), save_image)]

    def folders(self, sequence: Sequence) -> list[Path]:
        return [self.sequence_folder(sequence) / "frames", self.sequence_folder(sequence)]


COTRACKER = CoTracker()
