"""A bake never changes the user's scene, never half-writes and never overwrites unasked."""
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from blender_state import snapshot, user_scene  # noqa: E402
from optical_flow_addon.blender.bake import bake_flow, memory_folder  # noqa: E402
from optical_flow_addon.core.errors import FlowError  # noqa: E402
from optical_flow_addon.core.options import BakeOptions  # noqa: E402


def options(folder, **changes):
    return BakeOptions(output_dir=folder, frame_start=1, frame_end=5, **changes)


def exr_folders() -> set:
    """This process's bakes' temporary EXR folders, in memory and in the system's temp folder (other processes
    on the machine bake at the same time)."""
    parents = [Path("/dev/shm"), Path(tempfile.gettempdir())]
    return {p for parent in parents if parent.is_dir() for p in parent.glob(f"optical_flow_{os.getpid()}_*")}


def test_rendered_exrs_stay_in_memory_when_there_is_room():
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        assert memory_folder(64, 48) == "/dev/shm"
    assert memory_folder(10**6, 10**6) is None  # 36 TB of EXRs: the system's temp folder instead


def test_scene_restored_after_bake(tmp_path):
    scene = user_scene()
    before = snapshot(scene)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path)) == {"FINISHED"}
    assert snapshot(scene) == before


def test_scene_restored_and_files_valid_after_failure_mid_bake(tmp_path):
    """Frame 3's HDF5 cannot be written (a folder is in the way): frames 1-2 stay valid, nothing half-written."""
    scene = user_scene()
    before, exrs = snapshot(scene), exr_folders()
    bake = bake_flow(scene, options(tmp_path))
    assert [next(bake).frame, next(bake).frame] == [1, 2]
    assert len(exr_folders() - exrs) == 1  # really rendering through a temporary folder
    (tmp_path / "3.hdf5").mkdir()
    with pytest.raises(FlowError, match=r"Cannot write .*3\.hdf5"):
        list(bake)
    assert snapshot(scene) == before and exr_folders() == exrs
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [f["frame"] for f in manifest["frames"]] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert np.load(tmp_path / "forward_flow_0002.npy").shape == (48, 64, 2)


def test_cancel_leaves_valid_files_and_restored_scene(tmp_path):
    scene = user_scene()
    before, exrs = snapshot(scene), exr_folders()
    bake = bake_flow(scene, options(tmp_path))
    assert [next(bake).frame, next(bake).frame] == [1, 2]
    assert snapshot(scene) != before  # really mid-bake
    bake.close()
    assert snapshot(scene) == before and exr_folders() == exrs
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["1.hdf5", "2.hdf5", "backward_flow_0002.npy", "backward_flow_occluded_0002.npy",
                     "backward_flow_valid_0002.npy", "forward_flow_0001.npy", "forward_flow_0002.npy",
                     "forward_flow_occluded_0001.npy", "forward_flow_occluded_0002.npy", "forward_flow_valid_0001.npy",
                     "forward_flow_valid_0002.npy", "manifest.json"]


def test_unwritable_output_folder_is_a_clear_error(tmp_path):
    scene = user_scene()
    before = snapshot(scene)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(RuntimeError, match=r"Cannot write to output folder .*not_a_folder/flow"):
        bpy.ops.optical_flow.render_flow(output_dir=str(blocker / "flow"))
    assert snapshot(scene) == before
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_folder"]


def test_existing_files_are_not_overwritten_unless_asked(tmp_path):
    user_scene()
    bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), frame_start=1, frame_end=2)
    first = (tmp_path / "forward_flow_0001.npy").stat().st_mtime_ns
    with pytest.raises(RuntimeError, match="already holds flow files.*Overwrite"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), frame_start=1, frame_end=2)
    assert (tmp_path / "forward_flow_0001.npy").stat().st_mtime_ns == first
    overwritten = bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), frame_start=1, frame_end=2, overwrite=True)
    assert overwritten == {"FINISHED"}
    assert (tmp_path / "forward_flow_0001.npy").stat().st_mtime_ns > first


def test_scene_settings_are_used_and_operator_arguments_win(tmp_path):
    scene = user_scene()
    settings = scene.optical_flow
    settings.output_dir = str(tmp_path / "from_scene")
    settings.get_backward_flow = False
    settings.output_formats = {"NPY"}
    settings.use_scene_frame_range = False
    settings.frame_start, settings.frame_end = 2, 3
    assert bpy.ops.optical_flow.render_flow() == {"FINISHED"}
    assert sorted(p.name for p in (tmp_path / "from_scene").iterdir()) == [
        "forward_flow_0002.npy", "forward_flow_0003.npy", "forward_flow_occluded_0002.npy",
        "forward_flow_occluded_0003.npy", "forward_flow_valid_0002.npy", "forward_flow_valid_0003.npy", "manifest.json"]
    result = bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "argument"), get_backward_flow=True)
    assert result == {"FINISHED"}
    assert (tmp_path / "argument" / "backward_flow_0003.npy").exists()


def test_relative_output_folder_needs_a_saved_file():
    user_scene()
    with pytest.raises(RuntimeError, match="relative to the .blend file, which is not saved"):
        bpy.ops.optical_flow.render_flow(output_dir="//flow/")


def test_no_camera_is_a_clear_error():
    scenes.empty_scene()
    assert not bpy.ops.optical_flow.render_flow.poll()
    with pytest.raises(FlowError, match="no active camera"):
        next(bake_flow(bpy.context.scene, options(__import__("pathlib").Path("/tmp/unused"))))


def test_chunks_give_the_same_files_as_one_bake(tmp_path):
    """Frames 1-2 and 3-5 baked separately (as separate machines would) equal one bake of 1-5."""
    user_scene()
    whole, chunks = tmp_path / "whole", tmp_path / "chunks"
    bpy.ops.optical_flow.render_flow(output_dir=str(whole))
    bpy.ops.optical_flow.render_flow(output_dir=str(chunks / "a"), frame_start=1, frame_end=2)
    bpy.ops.optical_flow.render_flow(output_dir=str(chunks / "b"), frame_start=3, frame_end=5)
    chunk_files = {p.name: p for p in chunks.glob("*/*.npy")}
    assert sorted(chunk_files) == sorted(p.name for p in whole.glob("*.npy"))
    assert len(chunk_files) == 24  # flows, validity and occlusion masks
    for name, path in chunk_files.items():
        assert path.read_bytes() == (whole / name).read_bytes(), name
    manifest_b = json.loads((chunks / "b" / "manifest.json").read_text())
    assert manifest_b["frame_range"] == [3, 5] and manifest_b["sequence_range"] == [1, 5]


def test_frames_outside_the_scene_range_are_refused(tmp_path):
    user_scene()
    with pytest.raises(RuntimeError, match="Frames 4–9 must lie inside the scene's frame range 1–5"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path), frame_start=4, frame_end=9)


def test_script_arguments_out_of_range_are_refused_not_clamped(tmp_path):
    """Blender's property limits would clamp them silently (frame_gap=0 baked K=1): the raw value reaches the check."""
    user_scene()
    for arguments, message in (({"frame_gap": 0}, "Frame gap 0 is not a whole number of frames of 1 or more"),
                               ({"frame_gap": -3}, "Frame gap -3 is not a whole number of frames of 1 or more"),
                               ({"picture_max_radius": -5.0}, "Picture max radius -5.0 is not a length in pixels")):
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "out"), **arguments)
        assert not (tmp_path / "out").exists()


def test_a_render_device_not_present_is_refused_and_a_chosen_one_leaves_preferences_and_scene_as_they_were(
        tmp_path, monkeypatch):
    from optical_flow_addon.blender import render_device
    from optical_flow_addon.blender.render_device import check_device, cycles_preferences
    from optical_flow_addon.core.render_devices import GPU_BEST_FIRST

    def device_preferences():  # asked afresh: a new scene (user_scene) reloads the preferences
        preferences = cycles_preferences()
        return preferences.compute_device_type, [(d.type, d.id, d.use) for d in preferences.devices]

    scene = user_scene()
    scene.cycles.device = "GPU"  # the scene's own, which a CPU bake changes for its time only
    before, preferred = snapshot(scene), device_preferences()
    absent = []
    for kind in GPU_BEST_FIRST:
        try:
            check_device(kind)
        except FlowError:
            absent.append(kind)
    assert device_preferences() == preferred
    if absent:
        with pytest.raises(RuntimeError, match=f"Render device {absent[0]}: Cycles finds no .* Present: "):
            bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "refused"), device=absent[0])
        assert not (tmp_path / "refused").exists()
        assert snapshot(scene) == before and device_preferences() == preferred
    bake = bake_flow(scene, BakeOptions(output_dir=tmp_path / "cpu", frame_start=1, frame_end=2), device="CPU")
    assert next(bake).device == "CPU" and scene.cycles.device == "CPU"
    bake.close()  # cancelled mid-bake: everything is put back too
    assert snapshot(scene) == before and device_preferences() == preferred
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "op"), device="CPU", frame_start=1,
                                            frame_end=2) == {"FINISHED"}
    assert snapshot(scene) == before and device_preferences() == preferred
    # A GPU that Cycles' build knows (CUDA on Linux and Windows), said to be present: the preferences and the scene
    # are set for it while the bake runs (with no such device Cycles renders on the CPU), and put back after.
    monkeypatch.setattr(render_device, "gpus_present", lambda preferences: {"CUDA": ["Test GPU"]})
    bake = bake_flow(scene, BakeOptions(output_dir=tmp_path / "gpu", frame_start=1, frame_end=2), device="AUTO")
    assert next(bake).device == "CUDA (Test GPU)"
    assert (cycles_preferences().compute_device_type, scene.cycles.device) == ("CUDA", "GPU")
    assert all(device.use == (device.type == "CUDA") for device in cycles_preferences().devices)
    list(bake)
    assert snapshot(scene) == before and device_preferences() == preferred


def test_a_frame_too_big_for_memory_or_a_sequence_name_too_long_is_refused_before_anything_changes(tmp_path):
    """The panel's and scripts' bakes make the command line's checks too: the kernel would kill a bake whose frame
    cannot fit in memory, with no word; a sequence name too long for its file names fails after every frame."""
    scene = user_scene()
    before = snapshot(scene)
    size = scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage
    scene.render.resolution_x = scene.render.resolution_y = 65536  # Blender's largest: 1.7 TB a frame
    scene.render.resolution_percentage = 100
    with pytest.raises(RuntimeError, match=r"The scene's resolution, 65536x65536 \(Output Properties › Format\), "
                                           r"needs about [\d,.]+ GB of memory for a frame"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "big"))
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = size
    with pytest.raises(RuntimeError, match="The sequence name a{20}… is 300 bytes long, but the file names made from "
                                           "it must fit in the file system's 255 bytes"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "long"), layout="SINTEL", sequence="a" * 300)
    assert snapshot(scene) == before
    assert not (tmp_path / "big").exists() and not (tmp_path / "long").exists()
