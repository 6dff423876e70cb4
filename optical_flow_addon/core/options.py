"""What a bake should produce, checked before any frame is rendered."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FlowError
from .flow_files import WRITERS
from .formats.hdf5 import HDF5_COMPRESSIONS
from .layouts import LAYOUTS, Sequence
from .products import (DISPARITIES, FLOW_STEPS, PRODUCTS, RENDER_OF, RENDERS, disparity_change_name,
                       flow_products)

# ``image_motion_blur``: sharp images aligned with the flow (Sintel's clean pass), or the scene's own blur (final pass).
IMAGE_MOTION_BLUR = ("OFF", "SCENE")
# ``layout``: BlenderProc's flat files (``formats``), or a training dataset's folders (core/layouts/).
BLENDERPROC = "BLENDERPROC"
LAYOUT_CHOICES = (BLENDERPROC, *LAYOUTS)
CAMERA_DATA = ("K", "camera_to_world")  # what a layout may store of the camera besides the rendered products
# ``track_queries``: query points spread evenly over the sequence's frames (as Kubric samples them), or all on its
# first frame (TAP-Vid's "first" mode).
TRACK_QUERIES = ("SPREAD", "FIRST")
# ``track_formats``: the tracks besides tracks.npz, in the files of TAP-Vid (its DAVIS pickle) and PointOdyssey.
TRACK_FORMATS = ("TAPVID", "POINTODYSSEY")
TRACK_LAYOUTS = (BLENDERPROC, "COTRACKER")  # the layouts that hold tracks
# the layouts with the right view and disparity
STEREO_LAYOUTS = (BLENDERPROC, "FLYINGTHINGS3D", "SINTEL", "KITTI", "SPRING")
TRUTH_SCALES = (1, 2)  # Spring's truth: 2 × 2 samples per image pixel
SCALED_TRUTH_LAYOUTS = (BLENDERPROC, "SPRING")  # the layouts whose truth may be larger than their images


@dataclass(frozen=True)
class BakeOptions:
    """Bake settings; names mirror BlenderProc's ``render_optical_flow`` arguments.

    ``frame_start``–``frame_end`` are the frames whose files are written; the sequence
    (by default the same range, usually the scene's) decides which neighbouring frames exist.
    A long sequence can so be split into chunks baked separately, with the same files as one bake.
    """

    output_dir: Path
    frame_start: int
    frame_end: int
    sequence_start: int | None = None
    sequence_end: int | None = None
    get_forward_flow: bool = True
    get_backward_flow: bool = True
    blender_image_coordinate_style: bool = False
    formats: frozenset[str] = field(default_factory=lambda: frozenset({"NPY", "HDF5"}))
    overwrite: bool = False
    picture_max_radius: float = 0.0  # flow length (px) at the colour wheel's rim; 0: each picture its own
    hdf5_compression: str = "NONE"  # a key of HDF5_COMPRESSIONS
    render_images: bool = False  # the scene's own render of each frame, as it looks with its own settings
    render_depth: bool = False
    image_motion_blur: str = "OFF"  # one of IMAGE_MOTION_BLUR
    verify: bool = True  # the self-check: forward and backward flow of a frame pair must agree (core/self_check.py)
    frame_gap: int = 1  # K: forward flow is t → t+K, backward flow t → t−K
    occlusion: bool = True  # forward_flow_occluded / backward_flow_occluded masks
    scene_flow: bool = False  # forward_scene_flow / backward_scene_flow: 3-D motion in frame t's camera axes
    layout: str = BLENDERPROC  # one of LAYOUT_CHOICES
    point_tracks: bool = False  # every query point followed through the whole sequence (core/tracks.py)
    track_count: int = 2048  # N: the number of query points
    track_queries: str = "SPREAD"  # one of TRACK_QUERIES
    track_balance: bool = False  # the query points shared equally among the visible objects
    track_seed: int = 0  # the query points' random choice: the same seed, the same points
    track_formats: frozenset[str] = frozenset()  # of TRACK_FORMATS
    segmentation: bool = False  # each pixel's object instance, 0 for the background
    normals: bool = False  # each pixel's surface normal in the camera axes
    geometric_normals: bool = False  # the triangle's own normal instead of the interpolated shading normal
    stereo: bool = False  # the right view of the camera's Stereo 3D rig, disparity and disparity change
    truth_scale: int = 1  # per-pixel truth sampled at truth_scale × truth_scale points per image pixel (1 or 2)
    sequence: str = "scene"  # the sequence's name in a training layout
    # What the scene and its animation are over the sequence (blender/scene_fingerprint.py), so that a resumed bake
    # can tell that it bakes the scene whose frames it keeps; "" where no scene is known (the pure core's tests).
    scene_fingerprint: str = ""

    def __post_init__(self) -> None:
        if self.sequence_start is None:
            object.__setattr__(self, "sequence_start", self.frame_start)
        if self.sequence_end is None:
            object.__setattr__(self, "sequence_end", self.frame_end)
        if not (self.get_forward_flow or self.get_backward_flow):
            raise FlowError("Nothing to bake: turn on forward flow, backward flow or both.")
        if isinstance(self.frame_gap, bool) or not isinstance(self.frame_gap, int) or self.frame_gap < 1:
            raise FlowError(f"Frame gap {self.frame_gap!r} is not a whole number of frames of 1 or more.")
        if self.sequence_end <= self.sequence_start:
            raise FlowError(
                f"Frame range {self.sequence_start}–{self.sequence_end} is too short: "
                "flow needs at least two frames (end must be greater than start)."
            )
        if self.frame_gap > self.sequence_end - self.sequence_start:
            raise FlowError(f"Frame gap {self.frame_gap} reaches past the frame range {self.sequence_start}–"
                            f"{self.sequence_end}: no frame has a partner that far away.")
        if not self.sequence_start <= self.frame_start <= self.frame_end <= self.sequence_end:
            raise FlowError(
                f"Frames {self.frame_start}–{self.frame_end} must lie inside the scene's frame range "
                f"{self.sequence_start}–{self.sequence_end}, start before end."
            )
        if not 0 <= self.picture_max_radius < float("inf"):
            raise FlowError(f"Picture max radius {self.picture_max_radius} is not a length in pixels: "
                            "use 0 (automatic) or more.")
        if self.hdf5_compression not in HDF5_COMPRESSIONS:
            raise FlowError(f"Unknown HDF5 compression {self.hdf5_compression!r}; "
                            f"choose from {', '.join(HDF5_COMPRESSIONS)}.")
        if self.image_motion_blur not in IMAGE_MOTION_BLUR:
            raise FlowError(f"Unknown image motion blur {self.image_motion_blur!r}; "
                            f"choose from {', '.join(IMAGE_MOTION_BLUR)}.")
        if not self.frames:
            missing = "forward" if self.frame_start == self.sequence_end else "backward"
            raise FlowError(f"Frames {self.frame_start}–{self.frame_end} give no flow: frame {self.frame_start} has no "
                            f"{missing} flow inside the sequence {self.sequence_start}–{self.sequence_end}, and the "
                            f"other flow is turned off.")
        if self.layout not in LAYOUT_CHOICES:
            raise FlowError(f"Unknown layout {self.layout!r}; choose from {', '.join(LAYOUT_CHOICES)}.")
        self.check_tracks()
        if self.truth_scale not in TRUTH_SCALES or isinstance(self.truth_scale, bool):
            raise FlowError(f"Truth scale {self.truth_scale!r} is not one of {', '.join(map(str, TRUTH_SCALES))}: "
                            "the points each image pixel's truth is sampled at, per axis.")
        if self.truth_scale != 1 and self.layout not in SCALED_TRUTH_LAYOUTS:
            raise FlowError(f"The {self.layout} layout holds truth the size of its images; truth scale "
                            f"{self.truth_scale} needs the {' or '.join(SCALED_TRUTH_LAYOUTS)} layout.")
        if self.stereo and self.layout not in STEREO_LAYOUTS:
            raise FlowError(f"The {self.layout} layout has no place for the right view and disparity; use the "
                            f"{' or '.join(STEREO_LAYOUTS)} layout, or turn Stereo off.")
        unknown = sorted(set(self.formats) - set(WRITERS))
        if unknown or not self.formats:
            raise FlowError(
                f"Unknown output format {', '.join(unknown) or '(none chosen)'}; "
                f"choose from {', '.join(sorted(WRITERS))}."
            )

    def check_tracks(self) -> None:
        """The track settings, and a layout that holds tracks (the number a frame can hold is checked with the
        resolution, ``check_track_count``)."""
        if isinstance(self.track_count, bool) or not isinstance(self.track_count, int) or self.track_count < 1:
            raise FlowError(f"Track count {self.track_count!r} is not a whole number of 1 or more.")
        if self.track_queries not in TRACK_QUERIES:
            raise FlowError(f"Unknown track queries {self.track_queries!r}; choose from {', '.join(TRACK_QUERIES)}.")
        unknown = sorted(set(self.track_formats) - set(TRACK_FORMATS))
        if unknown:
            raise FlowError(f"Unknown track format {', '.join(unknown)}; choose from {', '.join(TRACK_FORMATS)}.")
        if self.track_formats and not self.point_tracks:
            raise FlowError(f"Track formats {', '.join(sorted(self.track_formats))} need point tracks: turn on "
                            "Point Tracks (--tracks N), or choose no track format.")
        if self.point_tracks and self.layout not in TRACK_LAYOUTS:
            raise FlowError(f"The {self.layout} layout has no place for point tracks; use the "
                            f"{' or '.join(TRACK_LAYOUTS)} layout, or turn Point Tracks off.")
        if "TAPVID" in self.track_formats:
            if self.layout == BLENDERPROC and not self.render_images:
                raise FlowError("TAP-Vid's file holds the video: turn on Images for the TAPVID track format.")
            if (self.frame_start, self.frame_end) != (self.sequence_start, self.sequence_end):
                raise FlowError(f"TAP-Vid's file holds the whole video, frames {self.sequence_start}–"
                                f"{self.sequence_end}, but this bake writes {self.frame_start}–{self.frame_end}: bake "
                                "the whole sequence at once for the TAPVID track format.")
        if self.layout == "COTRACKER" and not self.point_tracks:
            raise FlowError("The COTRACKER layout holds point tracks: turn on Point Tracks (--tracks N).")
        if self.layout == "SPRING" and not (self.stereo and self.truth_scale == 2):
            raise FlowError("The SPRING layout holds both views and truth at twice the image resolution per axis: "
                            "turn on Stereo and set Truth Scale to 2.")

    def check_track_count(self, width: int, height: int) -> None:
        """Before rendering: every query point is a pixel of its query frame, each pixel at most once."""
        if not self.point_tracks:
            return
        frames = 1 if self.track_queries == "FIRST" else self.sequence_end - self.sequence_start + 1
        room = frames * width * height
        if self.track_count > room:
            raise FlowError(f"Track count {self.track_count} is more than the {room} pixels of the "
                            f"{'first frame' if frames == 1 else f'{frames} frames'} at {width}×{height} that its "
                            "query points are chosen from; ask for fewer tracks.")

    def to_json(self) -> dict[str, Any]:
        """The options as JSON values, for another process (the frame writer, a scale-out's coordinator)."""
        return {**dataclasses.asdict(self), "output_dir": str(self.output_dir), "formats": sorted(self.formats),
                "track_formats": sorted(self.track_formats)}

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> BakeOptions:
        return cls(**{**fields, "output_dir": Path(fields["output_dir"]), "formats": frozenset(fields["formats"]),
                      "track_formats": frozenset(fields.get("track_formats", ()))})

    def flows_at(self, frame: int) -> tuple[str, ...]:
        """Names of the flows written at ``frame``: none point outside the sequence."""
        names = []
        if self.get_forward_flow and frame + self.frame_gap <= self.sequence_end:
            names.append("forward_flow")
        if self.get_backward_flow and frame - self.frame_gap >= self.sequence_start:
            names.append("backward_flow")
        return tuple(names)

    def products_at(self, frame: int) -> list[str]:
        """Names of everything written at ``frame``: the image and depth of every frame, flows where they exist,
        and what a training layout needs (it may turn images and depth on)."""
        wanted = {name for name, on in (("colors", self.render_images), ("depth", self.render_depth),
                                        ("segmentation", self.segmentation), ("normals", self.normals)) if on}
        wanted |= set(flow_products(self.flows_at(frame), self.occlusion, self.scene_flow))
        if self.stereo:
            changes = [disparity_change_name(flow) for flow in self.flows_at(frame)]
            wanted |= {f"{view}{name}" for view in ("", "right_") for name in (*DISPARITIES, *changes)}
            wanted |= {f"right_{name}" for name in flow_products(self.flows_at(frame), self.occlusion)}
        if self.training_sequence and frame in self.training_sequence.frames:
            wanted |= LAYOUTS[self.layout].needs(self.training_sequence, frame) - set(CAMERA_DATA)
        if self.stereo and "colors" in wanted:
            wanted.add("right_colors")
        return [name for name in PRODUCTS if name in wanted]

    def written_products(self, frame: int) -> list[str]:
        """The products whose files the bake writes at ``frame``: all of ``products_at``, but in a training
        layout only those its files hold (the bake makes backward flow for the self-check, say, where the dataset
        holds forward flow only)."""
        names = self.products_at(frame)
        sequence = self.training_sequence
        if sequence is None:
            return names
        held = LAYOUTS[self.layout].needs(sequence, frame) if frame in sequence.frames else set()
        return [name for name in names if name in held]

    def written_flows(self, frame: int) -> tuple[str, ...]:
        """The flows whose files the bake writes at ``frame`` (see ``written_products``)."""
        written = self.written_products(frame)
        return tuple(name for name in self.flows_at(frame) if name in written)

    @property
    def written_formats(self) -> list[str]:
        """The formats of the files written: ``formats``, or the files of a training layout (which ignores them)."""
        return sorted(LAYOUTS[self.layout].formats if self.training_sequence else self.formats)

    @property
    def training_sequence(self) -> Sequence | None:
        """The sequence a training layout writes (None for BlenderProc's files): the scene's whole range, so that
        chunks number their files alike."""
        if self.layout == BLENDERPROC:
            return None
        return Sequence(self.output_dir, self.sequence, self.sequence_start, self.sequence_end,
                        frame_gap=self.frame_gap, motion_blur=self.image_motion_blur == "SCENE",
                        blender_image_coordinate_style=self.blender_image_coordinate_style, overwrite=self.overwrite,
                        stereo=self.stereo, segmentation=self.segmentation)

    @property
    def partner_renders(self) -> list[str]:
        """The renders of a frame rendered only because a flow points to it: its surfaces, of both views."""
        return ["flow", "flow_right"] if self.stereo else ["flow"]

    def renders_at(self, frame: int) -> list[str]:
        """The renders that make ``frame``'s products, in the order they run (products.RENDERS)."""
        return sorted({RENDER_OF[name] for name in self.products_at(frame)}, key=RENDERS.index)

    @property
    def frames(self) -> list[int]:
        """Frames that must be rendered (one flow render gives forward and backward flow at once)."""
        return [f for f in range(self.frame_start, self.frame_end + 1) if self.products_at(f)]

    def partners(self, frames: list[int]) -> list[int]:
        """``frames`` and the frames their flows point to, in order: each is rendered once."""
        return sorted({*frames, *(f + FLOW_STEPS[name] * self.frame_gap for f in frames for name in self.flows_at(f))})


def requested_options(output_dir: Path, scene_frames: tuple[int, int], frames: tuple[int, int] | None,
                      formats: Iterable[str], track_formats: Iterable[str] = (), **settings: Any) -> BakeOptions:
    """The bake a user asks for in the panel, the operator or the command line, checked.

    ``frames`` are the frames to write (None: the scene's); the scene's range is the sequence their flows may
    reach. ``formats`` and ``track_formats`` are format names in any case; ``settings`` the other options by their
    BakeOptions names.
    """
    start, end = frames or scene_frames
    return BakeOptions(output_dir=output_dir, frame_start=start, frame_end=end, sequence_start=scene_frames[0],
                       sequence_end=scene_frames[1], formats=names(formats), track_formats=names(track_formats),
                       **settings)


def names(choices: Iterable[str]) -> frozenset[str]:
    """Option values as typed (``npy, HDF5``): upper case, blanks dropped."""
    return frozenset(name.strip().upper() for name in choices if name.strip())
