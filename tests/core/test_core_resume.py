"""Resume and overwrite vouch for every file (no bpy): a resumed bake refuses settings or a scene that would change
what a kept file holds, a killed bake's manifest already says how its files were baked, files the manifest does not
vouch for go, an overwriting training-layout bake leaves none of the earlier bake's files, and a truncated file of a
layout is not kept. Real files, written by the formats' and layouts' own writers."""
import json
import re
from dataclasses import replace

import numpy as np
import pytest

import png_files
from layout_products import layout_products
from manifest_walk import undescribed_files
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.flow_files import IMAGE_FILES
from optical_flow_addon.core.frame import write_products
from optical_flow_addon.core.layouts import LAYOUTS
from optical_flow_addon.core.manifest import manifest_path, merge_manifests, write_manifest
from optical_flow_addon.core.options import BakeOptions
from optical_flow_addon.core.output_folder import BakeFolder, prepare_training_sequence
from optical_flow_addon.core.resume import whole_frame

H, W = 6, 8
VERSIONS = {"blender_version": "4.5.4", "addon_version": "0.1.0"}


def options(folder, **changes):
    settings = {"output_dir": folder, "frame_start": 1, "frame_end": 10, "sequence_start": 1, "sequence_end": 10,
                "formats": frozenset({"NPY", "HDF5"}), "scene_fingerprint": "scene-a",
                "point_tracks": changes.get("layout") == "COTRACKER",  # CoTracker's folders hold tracks
                "stereo": changes.get("layout") == "SPRING",  # Spring's both views, its truth at twice the size
                "truth_scale": 2 if changes.get("layout") == "SPRING" else 1, **changes}
    return BakeOptions(**settings)


def record(bake, frame):
    return {"frame": frame, "flows": list(bake.flows_at(frame)), "products": bake.products_at(frame)}


def bake_frames(bake, frames, seed=0):
    """Write the frames' files as the writer does, from synthetic products of the right kinds."""
    products = layout_products(bake.layout, range(bake.sequence_start, bake.sequence_end + 1), seed, height=H, width=W)
    for frame in frames:
        arrays = {name: products[frame][name] for name in bake.products_at(frame) if name in products[frame]}
        for name in bake.products_at(frame):  # scene flow: not among the synthetic products
            arrays.setdefault(name, np.zeros((H, W, 3), np.float32))
        camera = {name: products[frame][name] for name in ("K", "camera_to_world")}
        write_products(arrays, None, frame, bake, camera)


def finished_bake(bake, frames):
    """A bake of ``frames`` as one that ended: its folder prepared, its files, its manifest."""
    with BakeFolder(bake, W, H):
        bake_frames(bake, frames)
        write_manifest(bake, (W, H), [record(bake, f) for f in frames], VERSIONS)


def tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_kept_image_drops_blenders_render_date(tmp_path):
    """Two renders of one frame differ only in Blender's date and time chunk: colors_*.png must not."""
    pixels = np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3)
    plain = png_files.write(pixels)
    renders = []
    for minute in (1, 2):
        render = tmp_path / f"render_{minute}.png"
        text = png_files.chunk(b"tEXt", f"Date\x002026/01/01 12:0{minute}:00".encode())
        render.write_bytes(plain[:33] + text + plain[33:])
        renders.append(render)
    out = tmp_path / "out"
    out.mkdir()
    written = [IMAGE_FILES.keep(render, out, 1)[0].read_bytes() for render in renders]
    assert written == [plain, plain]


@pytest.mark.parametrize("name, suffix, damage", [
    ("SINTEL", ".flo", "truncated"), ("SINTEL", ".dpt", "truncated"), ("SINTEL", ".cam", "truncated"),
    ("FLYINGTHINGS3D", ".pfm", "truncated"), ("SINTEL", ".flo", "other size"), ("SINTEL", ".dpt", "other size"),
    ("FLYINGTHINGS3D", ".pfm", "other size"), ("SPRING", ".flo5", "truncated"), ("SPRING", ".dsp5", "truncated"),
    ("SPRING", ".dsp5", "other size")])
def test_a_damaged_layout_file_is_not_kept(tmp_path, name, suffix, damage):
    bake = options(tmp_path, layout=name, sequence="one", frame_end=4, sequence_end=4)
    prepare_training_sequence(bake)
    bake_frames(bake, range(1, 5))
    layout, sequence = LAYOUTS[name], bake.training_sequence
    assert all(layout.whole(sequence, f, H, W) for f in range(1, 5))
    path = next(o.path for o in layout.outputs(sequence, 2) if o.path.suffix == suffix)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:-1])
        assert not whole_frame(bake, 2, H, W)
    else:  # whole, but of another size: a frame of another bake
        assert not layout.whole(sequence, 2, H + 1, W)
    assert whole_frame(bake, 1, H, W) and whole_frame(bake, 3, H, W)


def test_a_layout_manifest_says_what_the_layout_wrote(tmp_path):
    kitti = options(tmp_path, layout="KITTI", sequence="one", frame_end=4, sequence_end=4, render_depth=True,
                    scene_flow=True, formats=frozenset({"EXR"}))
    write_manifest(kitti, (W, H), [record(kitti, f) for f in range(1, 5)], VERSIONS)
    manifest = json.loads(manifest_path(kitti).read_text())
    assert manifest["formats"] == ["KITTI", "PNG"]
    assert manifest["products"] == ["colors", "forward_flow", "forward_flow_valid", "forward_flow_occluded"]
    assert manifest["image_motion_blur"] == "OFF"  # the layout's images, although --images was not given
    assert manifest["backward_flow_frames"] == [] and manifest["forward_flow_frames"] == [1, 2, 3]
    assert [f["flows"] for f in manifest["frames"]] == [["forward_flow"]] * 3 + [[]]
    assert manifest["settings"]["flows"] == ["forward_flow"] and not manifest["settings"]["depth"]
    sintel = replace(kitti, layout="SINTEL")
    assert sintel.written_formats == ["CAM", "DPT", "FLO", "PNG"]
    assert sorted(replace(kitti, layout="FLYINGTHINGS3D").written_formats) == ["PFM", "PNG"]


@pytest.mark.parametrize("name, blur", [(name, "OFF") for name in LAYOUTS] + [("SINTEL", "SCENE")])
def test_an_overwriting_layout_bake_removes_every_file_of_the_earlier_one(tmp_path, name, blur):
    """The earlier bake wrote frames 1-8 of a sequence (or of the other pass: Sintel's final for clean); the new
    scene's bake of frames 1-4 (of a longer range) must not leave frames 5-8 for the loaders to pair with its own."""
    earlier = options(tmp_path, layout=name, sequence="one", frame_end=8, sequence_end=8, image_motion_blur=blur)
    prepare_training_sequence(earlier)
    finished_bake(earlier, range(1, 9))
    layout = LAYOUTS[name]
    assert len(layout.sequence_files(earlier.training_sequence)) >= 8
    other = options(tmp_path, layout=name, sequence="one", frame_end=4, sequence_end=20, overwrite=True,
                    scene_fingerprint="campan")
    prepare_training_sequence(other)
    with BakeFolder(other, W, H):
        assert layout.sequence_files(other.training_sequence) == []
        bake_frames(other, range(1, 5))
        write_manifest(other, (W, H), [record(other, f) for f in range(1, 5)], VERSIONS)
    assert undescribed_files(manifest_path(other)) == []


@pytest.mark.parametrize("changes, change", [
    ({"frame_gap": 2}, "frame gap 1 → 2"),
    ({"get_backward_flow": False}, "flows forward and backward → forward"),
    ({"occlusion": False}, "occlusion masks on → off"),
    ({"scene_flow": True}, "scene flow off → on"),
    ({"render_images": True}, "images off → on"),
    ({"render_depth": True}, "depth off → on"),
    ({"blender_image_coordinate_style": True}, "coordinate style OpenCV → Blender"),
    ({"formats": frozenset({"NPY"})}, "formats hdf5, npy → npy"),
    ({"hdf5_compression": "GZIP"}, "HDF5 compression none → gzip"),
    ({"sequence_start": 0}, "scene frame range 1–10 → 0–10"),
    ({"scene_fingerprint": "scene-b"}, "scene (its camera, objects or their animation)"),
])
def test_resume_refuses_what_would_change_a_kept_file_before_touching_any(tmp_path, changes, change):
    earlier = options(tmp_path, frame_end=6, sequence_end=10)
    finished_bake(earlier, range(1, 7))
    before = tree(tmp_path)
    resumed = options(tmp_path, overwrite=True, **changes)
    with pytest.raises(FlowError, match=f"Cannot resume the bake in .*: this bake changes its .*{re.escape(change)}"):
        BakeFolder(resumed, W, H, resume=True).__enter__()
    assert tree(tmp_path) == before


def test_resume_names_every_change_and_accepts_the_same_settings(tmp_path):
    earlier = options(tmp_path, frame_end=6, sequence_end=10)
    finished_bake(earlier, range(1, 7))
    with pytest.raises(FlowError, match="changes its frame gap 1 → 2, resolution 8×6 → 16×12 and occlusion masks"):
        BakeFolder(options(tmp_path, frame_gap=2, occlusion=False), 16, 12, resume=True).__enter__()
    with BakeFolder(options(tmp_path, overwrite=True), W, H, resume=True) as folder:
        assert [r["frame"] for r in folder.other_frames] == []  # frames 1-6 are in this bake's range


def test_a_bake_says_how_its_files_are_baked_before_the_first_frame(tmp_path):
    """A killed bake writes no manifest at its end: the one written before rendering vouches for its settings."""
    bake = options(tmp_path)
    with BakeFolder(bake, W, H):
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        bake_frames(bake, [1, 2])  # then killed
    assert manifest["frames"] == [] and manifest["settings"]["frame_gap"] == 1
    assert manifest["settings"]["scene"] == "scene-a"
    with pytest.raises(FlowError, match="frame gap 1 → 3"):
        BakeFolder(options(tmp_path, overwrite=True, frame_gap=3), W, H, resume=True).__enter__()
    with BakeFolder(options(tmp_path, overwrite=True), W, H, resume=True):
        assert whole_frame(bake, 1, H, W) and whole_frame(bake, 2, H, W)


def test_flow_files_without_a_manifest_are_not_resumed(tmp_path):
    bake = options(tmp_path)
    bake_frames(bake, [1, 2])
    before = tree(tmp_path)
    assert "manifest.json" not in before
    with pytest.raises(FlowError, match="holds flow files .* but no manifest.json that says how they were baked"):
        BakeFolder(options(tmp_path, overwrite=True), W, H, resume=True).__enter__()
    assert tree(tmp_path) == before
    (tmp_path / "manifest.json").write_text(json.dumps({"frames": [], "resolution": {"width": W, "height": H},
                                                        "blender_image_coordinate_style": False,
                                                        "sequence_range": [1, 10], "formats": ["HDF5", "NPY"]}))
    before = tree(tmp_path)
    with pytest.raises(FlowError, match="does not record the settings .* older version"):
        BakeFolder(options(tmp_path, overwrite=True), W, H, resume=True).__enter__()
    assert tree(tmp_path) == before


def test_resume_removes_the_files_no_manifest_vouches_for(tmp_path):
    """Frames 1-3 were baked and listed; a killed chunk left frames 4-6 unlisted; resuming frames 7-10 keeps the
    first and removes the others, which neither the manifest nor this bake vouch for."""
    first = options(tmp_path, frame_end=3)
    finished_bake(first, range(1, 4))
    killed = options(tmp_path, frame_start=4, frame_end=6, overwrite=True)
    with BakeFolder(killed, W, H, resume=True):
        bake_frames(killed, range(4, 7))
    resumed = options(tmp_path, frame_start=7, frame_end=10, overwrite=True)
    with BakeFolder(resumed, W, H, resume=True) as folder:
        assert [r["frame"] for r in folder.other_frames] == [1, 2, 3]
        bake_frames(resumed, range(7, 11))
        write_manifest(resumed, (W, H), folder.other_frames + [record(resumed, f) for f in range(7, 11)], VERSIONS)
    assert not list(tmp_path.glob("*_0004.npy")) and not (tmp_path / "5.hdf5").exists()
    assert undescribed_files(tmp_path / "manifest.json") == []
    assert sorted(int(p.stem) for p in tmp_path.glob("*.hdf5")) == [1, 2, 3, 7, 8, 9, 10]


@pytest.mark.parametrize("name", LAYOUTS)
def test_a_resumed_layout_bake_removes_unlisted_frames_outside_its_range(tmp_path, name):
    killed = options(tmp_path, layout=name, sequence="one", frame_end=6, sequence_end=10)
    prepare_training_sequence(killed)
    with BakeFolder(killed, W, H):
        bake_frames(killed, range(1, 7))  # then killed: the manifest lists none
    resumed = options(tmp_path, layout=name, sequence="one", frame_end=3, sequence_end=10, overwrite=True)
    prepare_training_sequence(resumed)
    with BakeFolder(resumed, W, H, resume=True):
        assert all(whole_frame(resumed, f, H, W) for f in range(1, 4))
        write_manifest(resumed, (W, H), [record(resumed, f) for f in range(1, 4)], VERSIONS)
    assert undescribed_files(manifest_path(resumed)) == []


def test_chunks_of_other_settings_are_named_as_such(tmp_path):
    bake = options(tmp_path)
    write_manifest(bake, (W, H), [record(bake, 1)], VERSIONS)
    ours = json.loads((tmp_path / "manifest.json").read_text())
    other = json.loads(json.dumps(ours))
    other["settings"]["frame_gap"], other["frames"] = 2, [record(bake, 2)]
    with pytest.raises(FlowError, match="Frames 2-2 .* other settings than this bake's: frame gap 2 → 1") as error:
        merge_manifests(bake, [ours, other])
    assert "version" not in str(error.value)


def test_chunks_that_met_other_objects_on_their_frames_merge_into_one_record(tmp_path):
    """Each chunk of a sequence baked apart names the objects it met on its own frames (unknown, taking the Vector
    pass, realized, ...): the merged manifest names every chunk's, their frames in order, as one bake of all frames
    would, instead of refusing the chunks as baked by different versions."""
    bake = options(tmp_path, frame_end=4)
    motion = {"method": "surface motion", "segmentation": {"background": 0}}
    fluid, grass = "its evaluated geometry changes its topology", "instances of it share a rendered location"
    first = {**VERSIONS, **motion, "unknown_objects": {"Fluid": fluid}, "topology_changes": {"Fluid": [2]},
             "vector_objects": {}, "realized_objects": {"Crowd": [1, 2]}}
    second = {**VERSIONS, **motion, "unknown_objects": {"Grass": grass, "Fluid": fluid},
              "topology_changes": {"Fluid": [3, 4], "Grass": [4]}, "vector_objects": {"Rock": [3]},
              "realized_objects": {"Crowd": [3, 4]}}
    chunks = []
    for frames, versions in ((range(1, 3), first), (range(3, 5), second)):
        write_manifest(bake, (W, H), [record(bake, f) for f in frames], versions)
        chunks.append(json.loads((tmp_path / "manifest.json").read_text()))
    merged = json.loads(merge_manifests(bake, chunks).read_text())
    assert merged["unknown_objects"] == {"Fluid": fluid, "Grass": grass}
    assert merged["topology_changes"] == {"Fluid": [2, 3, 4], "Grass": [4]}
    assert merged["vector_objects"] == {"Rock": [3]} and merged["realized_objects"] == {"Crowd": [1, 2, 3, 4]}
    assert merged["segmentation"] == {"background": 0} and [r["frame"] for r in merged["frames"]] == [1, 2, 3, 4]
    with pytest.raises(FlowError, match="different versions"):
        merge_manifests(bake, [chunks[0], {**chunks[1], "blender_version": "5.0.1"}])


def test_a_sequence_file_holding_frames_no_manifest_lists_is_not_resumed(tmp_path):
    """flow_sequence.hdf5 of a bake killed after frame 6 holds frames 1-6; a resume of frames 1-3 would keep 4-6
    inside it, listed nowhere. It is refused, naming them; resuming frames that cover them keeps them."""
    from optical_flow_addon.core.resume import whole_frames

    bake = options(tmp_path, formats=frozenset({"HDF5_SEQUENCE"}))
    bake_frames(bake, range(1, 7))
    with pytest.raises(FlowError, match=r"flow_sequence.hdf5 holds frames 4–6, which the manifest does not list"):
        whole_frames(options(tmp_path, formats=frozenset({"HDF5_SEQUENCE"}), frame_end=3), [1, 2, 3], H, W)
    assert whole_frames(bake, list(range(1, 11)), H, W) == [1, 2, 3, 4, 5, 6]
