"""What a bake should produce, checked before any frame is rendered."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import FlowError
from .flow_files import WRITERS


@dataclass(frozen=True)
class BakeOptions:
    """Bake settings; names mirror BlenderProc's ``render_optical_flow`` arguments."""

    output_dir: Path
    frame_start: int
    frame_end: int
    get_forward_flow: bool = True
    get_backward_flow: bool = True
    blender_image_coordinate_style: bool = False
    formats: frozenset[str] = field(default_factory=lambda: frozenset({"NPY", "HDF5"}))
    overwrite: bool = False
    picture_max_radius: float = 0.0  # flow length (px) at the colour wheel's rim; 0: each picture its own

    def __post_init__(self) -> None:
        if not (self.get_forward_flow or self.get_backward_flow):
            raise FlowError("Nothing to bake: turn on forward flow, backward flow or both.")
        if self.frame_end <= self.frame_start:
            raise FlowError(
                f"Frame range {self.frame_start}–{self.frame_end} is too short: "
                "flow needs at least two frames (end must be greater than start)."
            )
        if not 0 <= self.picture_max_radius < float("inf"):
            raise FlowError(f"Picture max radius {self.picture_max_radius} is not a length in pixels: use 0 (automatic) or more.")
        unknown = sorted(set(self.formats) - set(WRITERS))
        if unknown or not self.formats:
            raise FlowError(
                f"Unknown output format {', '.join(unknown) or '(none chosen)'}; choose from {', '.join(sorted(WRITERS))}."
            )

    def flows_at(self, frame: int) -> tuple[str, ...]:
        """Names of the flows written at ``frame``: none point outside the frame range."""
        names = []
        if self.get_forward_flow and frame < self.frame_end:
            names.append("forward_flow")
        if self.get_backward_flow and frame > self.frame_start:
            names.append("backward_flow")
        return tuple(names)

    @property
    def frames(self) -> list[int]:
        """Frames that must be rendered (each gives forward and backward flow at once)."""
        return [f for f in range(self.frame_start, self.frame_end + 1) if self.flows_at(f)]
