"""Files that a resumed or overwriting bake keeps or writes, and what the manifest says of them (no bpy): the kept image
drops Blender's render date, a damaged file of a training layout is not kept, a layout's manifest names the files the
layout wrote, and an overwriting layout bake leaves none of the earlier bake's files. Real files, written by the
formats' and layouts' own writers."""
import json
from dataclasses import replace

import numpy as np
import pytest

import png_files
from layout_products import sequence_products
from manifest_walk import undescribed_files
from optical_flow_addon.core.flow_files import IMAGE_FILES
from optical_flow_addon.core.frame import write_products
from optical_flow_addon.core.layouts import LAYOUTS
from optical_flow_addon.core.manifest import manifest_path, write_manifest
from optical_flow_addon.core.options import BakeOptions
from optical_flow_addon.core.output_folder import BakeFolder, prepare_training_sequence
from optical_flow_addon.core.resume import whole_frame

H, W = 6, 8
VERSIONS = {"blender_version": "4.5.4", "addon_version": "0.1.0"}


def options(folder, **changes):
    settings = {"output_dir": folder, "frame_start": 1, "frame_end": 10, "sequence_start": 1, "sequence_end": 10,
                "formats": frozenset({"NPY", "HDF5"}), **changes}
    return BakeOptions(**settings)


def record(bake, frame):
    return {"frame": frame, "flows": list(bake.flows_at(frame)), "products": bake.products_at(frame)}


def bake_frames(bake, frames, seed=0):
    """Write the frames' files as the writer does, from synthetic products of the right kinds."""
    products = sequence_products(range(bake.sequence_start, bake.sequence_end + 1), seed, height=H, width=W)
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
    ("FLYINGTHINGS3D", ".pfm", "other size")])
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
    assert manifest["backward_flow_frames"] == [] and manifest["forward_flow_frames"] == [1, 2, 3]
    assert [f["flows"] for f in manifest["frames"]] == [["forward_flow"]] * 3 + [[]]
    sintel = replace(kitti, layout="SINTEL")
    assert sintel.written_formats == ["CAM", "DPT", "FLO", "PNG"]
    assert sorted(replace(kitti, layout="FLYINGTHINGS3D").written_formats) == ["PFM", "PNG"]


@pytest.mark.parametrize("name", LAYOUTS)
def test_an_overwriting_layout_bake_removes_every_file_of_the_earlier_one(tmp_path, name):
    """The earlier bake wrote frames 1-8 of a sequence; the new scene's bake of frames 1-4 (of a longer range)
    must not leave frames 5-8 for the loaders to pair with its own."""
    earlier = options(tmp_path, layout=name, sequence="one", frame_end=8, sequence_end=8)
    prepare_training_sequence(earlier)
    finished_bake(earlier, range(1, 9))
    layout = LAYOUTS[name]
    assert len(layout.sequence_files(earlier.training_sequence)) > 8
    other = options(tmp_path, layout=name, sequence="one", frame_end=4, sequence_end=20, overwrite=True)
    prepare_training_sequence(other)
    with BakeFolder(other, W, H):
        assert layout.sequence_files(other.training_sequence) == []
        bake_frames(other, range(1, 5))
        write_manifest(other, (W, H), [record(other, f) for f in range(1, 5)], VERSIONS)
    assert undescribed_files(manifest_path(other)) == []
