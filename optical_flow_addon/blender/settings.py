"""Flow settings stored on the scene (``scene.optical_flow``), shared with the operator, and the bake they ask for.

The properties are annotations of mixin classes, which Blender registers from a class's bases: the scene's
settings and the Render Flow operator inherit the same ``FlowSettings``. (No ``from __future__ import
annotations`` here: Blender needs the annotations evaluated.) Long because every setting is declared once, here,
with its words for the panel and the reference pages; the choices come from the core.
"""
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..core.errors import FlowError
from ..core.options import LAYOUT_CHOICES, TRACK_FORMATS, TRACK_QUERIES, BakeOptions, requested_options
from ..core.poses import POSE_FORMATS
from ..core.render_devices import AS_SCENE, device_items

# The panel's words for the formats of core/flow_files.py's WRITERS (a test checks they hold the same names).
# Their order is fixed: a saved .blend stores the chosen formats as bits numbered by it.
FORMAT_ITEMS = [
    ("NPY", "NumPy .npy", "forward_flow_%04d.npy and backward_flow_%04d.npy, as BlenderProc writes them"),
    ("HDF5", "HDF5", "One %d.hdf5 per frame with forward_flow and backward_flow, as BlenderProc writes them"),
    ("NPZ", "NumPy .npz", "One flow_%04d.npz per frame with both flows and their masks"),
    ("FLO", "Middlebury .flo", "forward_flow_%04d.flo; invalid pixels hold the format's unknown value"),
    ("KITTI", "KITTI .png", "forward_flow_%04d.png, 16-bit: flow·64 + 2^15 and a valid bit (1/64 px steps)"),
    ("PFM", "PFM", "forward_flow_%04d.pfm (rows bottom-up), masks in forward_flow_valid_%04d.pfm"),
    ("EXR", "OpenEXR", "forward_flow_%04d.exr with float channels R = x and G = y, masks in their own .exr"),
    ("HDF5_SEQUENCE", "HDF5 Sequence", "One flow_sequence.hdf5 for all frames (frames × H × W × 2), "
     "added to frame by frame"),
    ("PICTURE", "Flow Pictures", "forward_flow_picture_%04d.png: flow colour-coded with the Middlebury colour wheel"),
]

LAYOUT_ITEMS = [(name, label, description) for name, (label, description) in {
    "BLENDERPROC": ("BlenderProc", "BlenderProc's files: forward_flow_%04d.npy, %d.hdf5, ... in the formats below"),
    "SINTEL": ("Sintel", "Sintel/training/clean|final, flow, occlusions, invalid, depth, camdata_left"),
    "KITTI": ("KITTI 2015", "KittiFlow/training/image_2, flow_occ, flow_noc"),
    "FLYINGTHINGS3D": ("FlyingThings3D", "FlyingThings3D/frames_cleanpass|finalpass, optical_flow, occlusions"),
    "COTRACKER": ("CoTracker", "<sequence>/frames/%03d.png and <sequence>/<sequence>.npy, as CoTracker's Kubric "
                  "dataset reads them (needs Point Tracks)"),
    "SPRING": ("Spring", "spring/train/<sequence>: both views, .flo5 flow and .dsp5 disparity at twice the image "
               "resolution, cam_data (needs Stereo and Truth Scale 2)"),
}.items() if name in LAYOUT_CHOICES]

TRACK_QUERY_ITEMS = [(name, label, description) for name, (label, description) in {
    "SPREAD": ("All Frames", "Query points spread evenly over the frames of the sequence, as Kubric samples them"),
    "FIRST": ("First Frame", "Every query point on the first frame, as TAP-Vid's \"first\" mode"),
}.items() if name in TRACK_QUERIES]

TRACK_FORMAT_ITEMS = [(name, label, description) for name, (label, description) in {
    "TAPVID": ("TAP-Vid", "tapvid.pkl: the video and the tracks as TAP-Vid's DAVIS file, for its evaluation readers"),
    "POINTODYSSEY": ("PointOdyssey", "annotations.npz: trajs_2d, trajs_3d, visibs and the cameras, float32"),
}.items() if name in TRACK_FORMATS]

IMAGE_MOTION_BLUR_ITEMS = [
    ("OFF", "Sharp", "Sharp images aligned with the flow, like Sintel's clean pass"),
    ("SCENE", "Scene's", "The scene's own motion blur settings, like Sintel's final pass"),
]

HDF5_COMPRESSION_ITEMS = [
    ("NONE", "None", "Fastest; every HDF5 reader opens the files"),
    ("LZF", "LZF", "Smaller files for some processor time; h5py and PyTables read it, "
     "C and MATLAB readers need the LZF filter plugin"),
    ("GZIP", "GZIP", "Smallest files, the most processor time; every HDF5 reader opens it"),
]


# Blender 4.5 added this flag (5.0 warns without it); older versions reject it.
PATH_OPTIONS = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()


class FlowSettings:
    """What to bake: the scene's stored settings, and the Render Flow operator's arguments."""

    output_dir: StringProperty(
        name="Output Folder", subtype="DIR_PATH", default="//optical_flow/",
        options=PATH_OPTIONS,
        description="Folder for the flow files; // means next to the .blend file",
    )
    get_forward_flow: BoolProperty(
        name="Forward Flow", default=True,
        description="Where each pixel moves to in the next frame (written for all but the last frame)",
    )
    get_backward_flow: BoolProperty(
        name="Backward Flow", default=True,
        description="Where each pixel came from in the previous frame (written for all but the first frame)",
    )
    blender_image_coordinate_style: BoolProperty(
        name="Blender Coordinates", default=False,
        description="Off: OpenCV style, origin top-left, y down (as most flow datasets). "
        "On: Blender style, origin bottom-left, y up (the y component changes sign)",
    )
    # No hard limits below (only soft ones, for the panel's slider): Blender would clamp a script's frame_gap=0 to
    # 1 without a word; the bake's own check refuses it instead (RuntimeError from the operator).
    frame_gap: IntProperty(
        name="Frame Gap", default=1, soft_min=1, soft_max=10,
        description="K: forward flow goes from frame t to t+K, backward flow to t−K",
    )
    occlusion: BoolProperty(
        name="Occlusion Masks", default=True,
        description="Mark the pixels whose surface point is hidden from the camera in the other frame",
    )
    scene_flow: BoolProperty(
        name="Scene Flow", default=False,
        description="Also write the 3-D motion of each pixel's surface point, in metres, "
                    "in the camera axes of frame t",
    )
    verify: BoolProperty(
        name="Self-Check", default=True,
        description="Stop the bake when a frame's forward flow and its partner's backward flow disagree at most "
        "pixels (a Blender bug); turn off only for scenes where you know better",
    )
    device: EnumProperty(
        name="Device", items=device_items(), default=AS_SCENE,
        description="What Cycles renders the images and the flow passes on; the preferences and the scene are as "
        "before once the bake ends",
    )
    layout: EnumProperty(
        name="Layout", items=LAYOUT_ITEMS, default="BLENDERPROC",
        description="How the files are laid out: BlenderProc's files in the formats below, or a training "
        "dataset's folders that torchvision and ptlflow load unchanged",
    )
    sequence: StringProperty(
        name="Sequence", default="",
        description="Name of this bake's sequence in a training layout (empty: the .blend file's name); "
        "another sequence baked into the same folder is added next to it",
    )
    output_formats: EnumProperty(
        name="Formats", items=FORMAT_ITEMS, options={"ENUM_FLAG"}, default={"NPY", "HDF5"},
        description="File formats to write",
    )
    picture_max_radius: FloatProperty(
        name="Picture Max Radius", default=0.0, soft_min=0.0, soft_max=100.0, subtype="PIXEL",
        description="Flow length at the rim of the colour wheel in flow pictures, so the whole sequence "
        "shares one scale; 0 scales each picture to its longest vector",
    )
    hdf5_compression: EnumProperty(
        name="HDF5 Compression", items=HDF5_COMPRESSION_ITEMS, default="NONE",
        description="Compression of the HDF5 files; compressing takes processor time from Cycles",
    )
    use_scene_frame_range: BoolProperty(
        name="Scene Frame Range", default=True, description="Bake the scene's frame range instead of a custom one",
    )
    frame_start: IntProperty(
        name="Start", default=1,
        description="First frame to write; flows still reach neighbours anywhere in the scene's range",
    )
    frame_end: IntProperty(
        name="End", default=250,
        description="Last frame to write; bake a long shot in chunks with identical results",
    )
    render_images: BoolProperty(
        name="Images", default=False,
        description="Also render each frame as the scene looks (its engine, samples, materials, lights, colour "
        "management) into colors_%04d.png and the colors of the HDF5 files",
    )
    render_depth: BoolProperty(
        name="Depth", default=False,
        description="Also write the depth of the surface under each pixel centre, in metres along the view axis",
    )
    image_motion_blur: EnumProperty(
        name="Image Motion Blur", items=IMAGE_MOTION_BLUR_ITEMS, default="OFF",
        description="Motion blur of the images; the flow is always sharp and exact",
    )
    overwrite: BoolProperty(
        name="Overwrite", default=False, description="Replace flow files already in the output folder",
    )
    point_tracks: BoolProperty(
        name="Point Tracks", default=False,
        description="Follow query points on the visible surfaces through every frame of the sequence: image "
        "position, occlusion and 3-D position in tracks.npz",
    )
    track_count: IntProperty(
        name="Tracks", default=2048, soft_min=1, soft_max=20000,
        description="Number of query points (tracks)",
    )
    track_queries: EnumProperty(
        name="Query Frames", items=TRACK_QUERY_ITEMS, default="SPREAD",
        description="The frames the query points are chosen on",
    )
    track_balance: BoolProperty(
        name="Balance Objects", default=False,
        description="Share the query points of a frame equally among its visible objects, so that a small object "
        "gets as many as the floor",
    )
    track_seed: IntProperty(
        name="Seed", default=0, min=0, description="The query points' random choice: the same seed, the same points",
    )
    track_formats: EnumProperty(
        name="Track Formats", items=TRACK_FORMAT_ITEMS, options={"ENUM_FLAG"}, default=set(),
        description="The tracks also in these datasets' files",
    )
    segmentation: BoolProperty(
        name="Segmentation", default=False,
        description="Also write each pixel's object instance (0 for the background), with the manifest naming "
        "each index's object",
    )
    normals: BoolProperty(
        name="Normals", default=False,
        description="Also write each pixel's surface normal, a unit vector in the camera axes",
    )
    geometric_normals: BoolProperty(
        name="Geometric Normals", default=False,
        description="The triangle's own normal instead of the smooth shading normal",
    )
    truth_scale: IntProperty(
        name="Truth Scale", default=1, soft_min=1, soft_max=2,
        description="Per-pixel truth (flow, depth, masks, disparity...) sampled at this many points per image pixel "
        "and axis, as Spring's 2×2; the images keep the scene's resolution",
    )
    stereo: BoolProperty(
        name="Stereo", default=False,
        description="Also render the right view of the camera's Stereo 3D rig (Output › Stereoscopy, Camera › "
        "Stereoscopy) and write disparity, disparity change and stereo masks of both views",
    )


def pose_format_items(with_auto: bool) -> list[tuple[str, str, str]]:
    """Pose file formats for the panel, the import and the export, named the same everywhere."""
    auto = [("AUTO", "Detect", "Detect the format from the file name and content")] if with_auto else []
    return auto + [(name, module.LABEL, module.__doc__.strip().splitlines()[0].rstrip("."))
                   for name, module in POSE_FORMATS.items()]


BAKE_RESULT_ITEMS = [
    ("NONE", "None", "No flow rendered yet"),
    ("FINISHED", "Finished", "Every frame was written"),
    ("CANCELLED", "Cancelled", "Stopped by the user; the frames written so far are complete"),
    ("FAILED", "Failed", "Stopped by an error; the frames written so far are complete"),
]


class PoseFileSettings:
    """The pose file the panel imports, and what the last import did (shown in the panel)."""

    pose_file: StringProperty(
        name="Pose File", subtype="FILE_PATH", options=PATH_OPTIONS,
        description="Camera pose file to keyframe the scene camera with, one pose per frame",
    )
    pose_format: EnumProperty(
        name="Format", items=pose_format_items(True), default="AUTO",
        description="Format of the pose file; Auto tells it from the file name and content",
    )
    imported_poses: IntProperty(name="Imported Poses", options=set(), description="Poses keyed by the last import")
    imported_camera: StringProperty(name="Imported Camera", options=set(),
                                    description="Camera keyed by the last import")
    imported_first_frame: IntProperty(name="First Imported Frame", options=set())
    imported_frame_step: IntProperty(name="Imported Frame Step", default=1, min=1, options=set())

class LastBakeSettings:
    """Summary of the last bake, so the panel (and the saved .blend) can tell what was written where."""

    last_bake: EnumProperty(name="Last Bake", items=BAKE_RESULT_ITEMS, default="NONE", options=set())
    last_bake_frames: IntProperty(name="Frames Written", options=set())
    last_bake_total: IntProperty(name="Frames Planned", options=set())
    last_bake_seconds: FloatProperty(name="Seconds", options=set())
    last_bake_folder: StringProperty(name="Folder", subtype="DIR_PATH", options=set())
    # the manifest, within the folder, that says which files the bake wrote (a training layout's: its sequence's)
    last_bake_manifest: StringProperty(name="Manifest", options=set())
    last_bake_message: StringProperty(name="Message", options=set())


class ShowFlowSettings:
    """How Show Flow shows a frame: the Show Flow operator's argument, and the scene's choice that the Last Render
    panel's buttons pass to it."""

    with_image: BoolProperty(
        name="With Image", default=True,
        description="Show the frame's rendered image on the left of its flow, so each motion is seen on the pixels "
        "it belongs to (when the render made images)",
    )


class OpticalFlowSettings(FlowSettings, PoseFileSettings, LastBakeSettings, ShowFlowSettings, bpy.types.PropertyGroup):
    """``scene.optical_flow``: saved with the .blend."""


def output_folder(path: str) -> Path:
    """Resolve ``//`` against the .blend; an unsaved file has no folder to be relative to."""
    if not path.strip():
        raise FlowError("Choose an output folder for the flow files.")
    if path.startswith("//") and not bpy.data.filepath:
        raise FlowError(f"Output folder {path!r} is relative to the .blend file, which is not saved yet: "
                        "save it or choose an absolute folder.")
    return Path(bpy.path.abspath(path))


def bake_options(scene: bpy.types.Scene, settings: FlowSettings, custom_range: bool) -> BakeOptions:
    """The bake ``settings`` ask for; the scene's frame range unless ``custom_range``."""
    return requested_options(
        output_folder(settings.output_dir), (scene.frame_start, scene.frame_end),
        (settings.frame_start, settings.frame_end) if custom_range else None, settings.output_formats,
        settings.track_formats,
        get_forward_flow=settings.get_forward_flow,
        get_backward_flow=settings.get_backward_flow,
        blender_image_coordinate_style=settings.blender_image_coordinate_style,
        overwrite=settings.overwrite,
        picture_max_radius=settings.picture_max_radius,
        hdf5_compression=settings.hdf5_compression,
        render_images=settings.render_images,
        render_depth=settings.render_depth,
        image_motion_blur=settings.image_motion_blur,
        frame_gap=settings.frame_gap,
        occlusion=settings.occlusion,
        scene_flow=settings.scene_flow,
        verify=settings.verify,
        layout=settings.layout,
        point_tracks=settings.point_tracks,
        track_count=settings.track_count,
        track_queries=settings.track_queries,
        track_balance=settings.track_balance,
        track_seed=settings.track_seed,
        segmentation=settings.segmentation,
        normals=settings.normals,
        geometric_normals=settings.geometric_normals,
        stereo=settings.stereo,
        truth_scale=settings.truth_scale,
        sequence=settings.sequence or (Path(bpy.data.filepath).stem if bpy.data.filepath else "scene"),
    )


def scene_bake_options(scene: bpy.types.Scene) -> BakeOptions:
    """What Render Flow would bake with the scene's stored settings (raises FlowError if it cannot)."""
    settings = scene.optical_flow
    return bake_options(scene, settings, not settings.use_scene_frame_range)


classes = (OpticalFlowSettings,)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register()
    bpy.types.Scene.optical_flow = bpy.props.PointerProperty(type=OpticalFlowSettings)


def unregister() -> None:
    del bpy.types.Scene.optical_flow
    _unregister()
