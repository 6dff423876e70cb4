"""The modal Render Flow path, stepped as its timer does: progress, Cancel, Undo, Save, errors, Show Flow.

``bpy`` runs in background mode, where the operator never goes modal; these tests drive the same
``BakeJob`` the modal operator steps. test_blender_window.py drives the real modal operator in a window.
"""
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from blender_state import snapshot, user_scene  # noqa: E402
from optical_flow_addon.blender import bake_job  # noqa: E402
from optical_flow_addon.blender.bake import RenderStopped, bake_flow, render_now  # noqa: E402
from optical_flow_addon.blender.bake_job import BakeJob, duration  # noqa: E402
from optical_flow_addon.blender.live_render import ImageRender  # noqa: E402
from optical_flow_addon.blender.show_flow import IMAGE_NAME  # noqa: E402
from optical_flow_addon.core.colour_wheel import flow_to_rgb  # noqa: E402
from optical_flow_addon.core.options import BakeOptions  # noqa: E402


@pytest.fixture
def running(tmp_path):
    """A user's scene and a bake of frames 1–5 started as the Render Flow button does."""
    scene = user_scene()
    before = snapshot(scene)
    job = BakeJob(scene, BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=5))
    bake_job.set_current(job)
    yield scene, before, job
    job.cancel()
    bake_job.set_current(None)


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def frames_in_manifest(folder) -> list[int]:
    return [record["frame"] for record in json.loads((folder / "manifest.json").read_text())["frames"]]


def test_each_step_bakes_one_frame_and_the_end_is_recorded_on_the_scene(running, tmp_path):
    scene, before, job = running
    assert (job.done, job.total, job.seconds_left()) == (0, 5, None)
    for frame in range(1, 6):
        assert job.step()
        assert (job.done, job.last.frame, job.running) == (frame, frame, True)
        assert f"forward_flow_{frame:04d}.npy" in files(tmp_path) or frame == 5
        assert snapshot(scene) != before  # really mid-bake: Blender redraws between steps in this state
        assert job.seconds_left() >= 0 and f"{frame} of 5 frames" in job.status()
    assert job.seconds_left() == 0
    assert not job.step()  # the manifest is written and the scene given back
    assert job.result == "FINISHED" and snapshot(scene) == before
    assert frames_in_manifest(tmp_path) == [1, 2, 3, 4, 5]
    settings = scene.optical_flow
    assert (settings.last_bake, settings.last_bake_frames, settings.last_bake_total) == ("FINISHED", 5, 5)
    assert settings.last_bake_folder == str(tmp_path) and settings.last_bake_seconds > 0
    assert job.summary().startswith(f"Optical flow: 5 frames written to {tmp_path} in ")


def test_cancel_button_mid_bake_leaves_complete_files_and_the_scene_restored(running, tmp_path):
    scene, before, job = running
    assert job.step() and job.step()
    assert bpy.ops.optical_flow.cancel_render_flow() == {"FINISHED"}
    assert job.result == "CANCELLED" and not job.step()
    assert snapshot(scene) == before
    assert files(tmp_path) == ["1.hdf5", "2.hdf5", "backward_flow_0002.npy", "backward_flow_occluded_0002.npy",
                               "backward_flow_valid_0002.npy", "forward_flow_0001.npy", "forward_flow_0002.npy",
                               "forward_flow_occluded_0001.npy", "forward_flow_occluded_0002.npy",
                               "forward_flow_valid_0001.npy", "forward_flow_valid_0002.npy", "manifest.json"]
    assert frames_in_manifest(tmp_path) == [1, 2]
    assert np.load(tmp_path / "forward_flow_0002.npy").shape == (scenes.HEIGHT, scenes.WIDTH, 2)
    assert (scene.optical_flow.last_bake, scene.optical_flow.last_bake_frames) == ("CANCELLED", 2)
    assert job.summary() == f"Flow rendering cancelled after 2 of 5 frames; their files in {tmp_path} are complete"


def test_undo_during_a_bake_cancels_it_first(running, tmp_path):
    scene, before, job = running
    assert job.step()
    for handler in bpy.app.handlers.undo_pre:  # what Blender runs when Ctrl+Z is pressed
        handler(scene)
    assert (job.result, job.message) == ("CANCELLED", "Undo was used")
    assert snapshot(scene) == before and frames_in_manifest(tmp_path) == [1]


def test_saving_during_a_bake_saves_the_users_settings_not_the_bakes(running, tmp_path):
    scene, before, job = running
    user_engine = scene.render.engine
    assert job.step() and "Optical Flow Motion" in bpy.data.materials  # the bake's own material, mid-bake
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    assert job.result == "CANCELLED" and "saved" in job.message
    assert snapshot(scene) == before
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    saved = bpy.context.scene
    assert saved.render.engine == user_engine and saved.cycles.samples == 64
    assert "Optical Flow Motion" not in bpy.data.materials and "Optical Flow Override" not in bpy.data.materials


def test_an_error_mid_bake_ends_the_job_with_the_reason_and_the_scene_restored(running, tmp_path):
    scene, before, job = running
    assert job.step() and job.step()
    (tmp_path / "forward_flow_0003.npy").mkdir()  # frame 3 cannot be written
    while job.step():
        pass
    assert job.result == "FAILED" and snapshot(scene) == before
    assert job.summary().startswith("Cannot write ") and "forward_flow_0003.npy" in job.summary()
    assert job.summary().endswith("(stopped after 2 of 5 frames; their files are complete)")
    assert (scene.optical_flow.last_bake, scene.optical_flow.last_bake_message) == ("FAILED", job.message)
    assert frames_in_manifest(tmp_path) == [1, 2]


def stopped_at(stop: int):
    """The window's image render (live_render.py; test_blender_window.py runs it for real) as a bpy module can run
    it: the image is rendered at once, then the step yields once, as it does while Blender's render job runs; at
    frame ``stop`` the render is then reported stopped, as after Esc."""
    def render_image(scene, frame, path, guard):
        rendered = yield from render_now(scene, frame, path, guard)
        yield ImageRender(frame, path)
        if frame == stop:
            raise RenderStopped(f"the image render of frame {frame} was stopped")
        return rendered
    return render_image


@pytest.mark.parametrize("way", ["esc", "cancel button"])
def test_stopping_an_image_mid_render_keeps_the_frames_written_and_restores_the_scene(tmp_path, way):
    scene = user_scene()
    scene.render.engine = "CYCLES"
    before = snapshot(scene)
    job = BakeJob(scene, BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=5, render_images=True))
    bake_job.set_current(job)
    try:
        job.frames = bake_flow(scene, job.options, render_image=stopped_at(3 if way == "esc" else 0))
        while job.step() and not (job.rendering and job.rendering.frame == 3):
            pass
        assert job.status().startswith("frame 3 of 5 · rendering image") and job.done == 0
        if way == "esc":
            while job.step():
                pass
        else:
            assert bpy.ops.optical_flow.cancel_render_flow() == {"FINISHED"}
    finally:
        bake_job.set_current(None)
    assert job.result == "CANCELLED" and not job.step()
    assert job.message == ("the image render of frame 3 was stopped" if way == "esc" else "")
    # frame 1 was being written while frame 3 rendered (frame 2's occlusion needs frame 3's render): it counts
    assert job.done == 1 and frames_in_manifest(tmp_path) == [1]
    assert [name for name in files(tmp_path) if name.startswith("colors")] == ["colors_0001.png"]
    assert snapshot(scene) == before


def test_durations_read_like_a_person_would_say_them():
    assert [duration(s) for s in (4.23, 59.94, 185, 3720)] == ["4.2 s", "59.9 s", "3 min 5 s", "1 h 2 min"]


def shown_picture() -> np.ndarray:
    image = bpy.data.images[IMAGE_NAME]
    width, height = image.size
    pixels = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(pixels)
    return np.round(pixels.reshape(height, width, 4)[::-1, :, :3] * 255).astype(np.uint8)


def test_show_flow_puts_the_current_frames_flow_picture_into_a_blender_image(tmp_path):
    scene, _ = scenes.camera_motion_scene()
    opencv, blender = tmp_path / "opencv", tmp_path / "blender"
    result = bpy.ops.optical_flow.render_flow(output_dir=str(blender), blender_image_coordinate_style=True)
    assert result == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(opencv)) == {"FINISHED"}
    scene.frame_set(2)
    assert bpy.ops.optical_flow.show_flow(flow="BACKWARD") == {"FINISHED"}
    flow, valid = np.load(opencv / "backward_flow_0002.npy"), np.load(opencv / "backward_flow_valid_0002.npy")
    expected = flow_to_rgb(flow, valid)
    assert valid.mean() > 0.5 and len(np.unique(expected[valid], axis=0)) > 20  # a real picture, not one colour
    np.testing.assert_array_equal(shown_picture(), expected)
    # Blender-style files (y up) give the same picture: a colour means the same direction on screen
    scene.optical_flow.last_bake_folder = str(blender)
    bpy.data.images[IMAGE_NAME].pixels.foreach_set(np.zeros(len(bpy.data.images[IMAGE_NAME].pixels), np.float32))
    assert bpy.ops.optical_flow.show_flow(flow="BACKWARD") == {"FINISHED"}
    np.testing.assert_array_equal(shown_picture(), expected)
    assert [image.name for image in bpy.data.images if image.name.startswith(IMAGE_NAME)] == [IMAGE_NAME]  # reused


def test_show_flow_leaves_the_users_own_image_of_the_same_name_alone(tmp_path):
    scenes.camera_motion_scene()
    users = bpy.data.images.new(IMAGE_NAME, 4, 4)
    users.pixels.foreach_set(np.full(4 * 4 * 4, 0.5, np.float32))
    before = users.pixels[:]
    bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path))
    assert bpy.ops.optical_flow.show_flow() == {"FINISHED"}
    assert tuple(users.size) == (4, 4) and users.pixels[:] == before
    assert sorted(image.name for image in bpy.data.images if image.name.startswith(IMAGE_NAME)) == [
        IMAGE_NAME, f"{IMAGE_NAME}.001"]


def test_show_flow_says_clearly_when_there_is_no_flow_to_show(tmp_path):
    scene, _ = scenes.camera_motion_scene()
    bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "hdf5"), output_formats={"HDF5"})
    with pytest.raises(RuntimeError, match="written without NumPy .npy files.*turn on NumPy .npy in Output"):
        bpy.ops.optical_flow.show_flow()
    bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "npy"))
    scene.frame_set(5)
    with pytest.raises(RuntimeError, match="No forward flow for frame 5 .*forward flow exists for frames 1–4"):
        bpy.ops.optical_flow.show_flow(flow="FORWARD")
    assert bpy.ops.optical_flow.show_flow(flow="BACKWARD") == {"FINISHED"}
