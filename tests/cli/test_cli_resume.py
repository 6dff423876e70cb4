"""--resume after a bake killed with SIGKILL (the whole process group): the same files as a bake never interrupted."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from manifest_walk import undescribed_files
from optical_flow_addon.core.layouts import LAYOUTS
from test_cli_signals import FRAMES, ROOT, render_folders, start_bake, wait_for_frames, without_self_check

pytest.importorskip("bpy")
pytestmark = pytest.mark.any_blender_line  # process handling: one Blender line is enough
FORMATS = ("--formats", "npy,hdf5,flo,picture,hdf5_sequence")
LAYOUT_FRAMES = 24


def files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_resume_after_kill_gives_the_same_files_as_one_bake(tmp_path):
    whole = tmp_path / "whole"
    assert start_bake(tmp_path, whole, *FORMATS).wait(timeout=600) == 0
    resumed = tmp_path / "resumed"
    killed = start_bake(tmp_path, resumed, *FORMATS)
    wait_for_frames(killed, FRAMES // 2)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)
    assert render_folders(killed.pid) and json.loads((resumed / "manifest.json").read_text())["frames"] == []
    frames_left = len(list(resumed.glob("forward_flow_[0-9]*.npy")))
    assert FRAMES // 2 <= frames_left < FRAMES - 1

    again = start_bake(tmp_path, resumed, *FORMATS, "--resume")
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    kept = int(stdout.split("note: Resumed: kept the ")[1].split()[0])
    assert FRAMES // 2 - 1 <= kept <= frames_left
    assert render_folders(killed.pid) == []
    expected, got = files(whole), files(resumed)
    assert sorted(got) == sorted(expected)  # nothing temporary, nothing missing
    assert without_self_check(json.loads(got.pop("manifest.json"))) == \
        without_self_check(json.loads(expected.pop("manifest.json")))
    # every file byte for byte, flow_sequence.hdf5 too
    assert [name for name in expected if got[name] != expected[name]] == []
    done = start_bake(tmp_path, resumed, *FORMATS, "--resume")
    stdout, _ = done.communicate(timeout=600)
    assert done.returncode == 0 and f"All {FRAMES} frames in {resumed} were already whole: nothing to bake." in stdout
    again_files, whole_files = files(resumed), files(whole)
    assert without_self_check(json.loads(again_files.pop("manifest.json"))) == \
        without_self_check(json.loads(whole_files.pop("manifest.json")))
    assert again_files == whole_files
    other = start_bake(tmp_path, resumed, *FORMATS, "--resume", "--resolution", "32x24")
    _, stderr = other.communicate(timeout=600)
    assert other.returncode == 1
    assert (f"error: Cannot resume the bake in {resumed}: this bake changes its resolution 64×48 → 32×24, so the "
            "files kept would not be this bake's. Bake with the same settings, or add --overwrite to replace "
            "it.") in stderr
    assert undescribed_files(resumed / "manifest.json") == []


def tree(folder):
    """Every file under ``folder`` by its path there, hidden ones (locks, temporaries) included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("layout", [pytest.param(name, marks=pytest.mark.skip(
    reason="Spring's layout needs a stereo rig, which a mesh file's scene has none of "
    "(tests/blender/test_bake_stereo_layouts.py bakes it)")) if name == "SPRING" else name for name in LAYOUTS])
def test_a_killed_layout_bake_resumes_to_the_files_of_one_bake(tmp_path, layout):
    arguments = ("--layout", layout, "--sequence", "shot", *(("--tracks", "20") if layout == "COTRACKER" else ()))
    manifest = str(Path(LAYOUTS[layout].folder) / "shot.manifest.json")  # CoTracker's sits in the root
    whole = tmp_path / "whole"
    assert start_bake(tmp_path, whole, *arguments, frames=LAYOUT_FRAMES).wait(timeout=600) == 0
    resumed = tmp_path / "resumed"
    killed = start_bake(tmp_path, resumed, *arguments, frames=LAYOUT_FRAMES)
    wait_for_frames(killed, LAYOUT_FRAMES // 2)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)
    expected, partial = tree(whole), tree(resumed)
    assert json.loads(partial.pop(manifest))["frames"] == [] and len(expected) // 3 < len(partial) < len(expected)
    # a file cut short (a disk that filled, a copy stopped) is baked again, not kept: the first frame's flow
    cut = sorted(name for name in partial if name.endswith((".flo", ".pfm")) or "/flow_occ/" in name
                 or "/frames/" in name)[0]
    (resumed / cut).write_bytes(partial[cut][:-8])

    again = start_bake(tmp_path, resumed, *arguments, "--resume", frames=LAYOUT_FRAMES)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    kept = int(stdout.split("note: Resumed: kept the ")[1].split()[0])
    assert LAYOUT_FRAMES // 2 - 1 <= kept < LAYOUT_FRAMES
    got = tree(resumed)
    assert sorted(got) == sorted(expected)  # nothing temporary, nothing missing
    assert without_self_check(json.loads(got.pop(manifest))) == without_self_check(json.loads(expected.pop(manifest)))
    assert [name for name in expected if got[name] != expected[name]] == []  # every file byte for byte
    assert undescribed_files(resumed / manifest) == []


def test_chunks_baked_one_after_another_with_resume_give_the_files_of_one_bake(tmp_path):
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert start_bake(tmp_path, whole, *FORMATS, frames=10).wait(timeout=600) == 0
    for chunk in ("1-4", "5-7", "8-10"):
        process = start_bake(tmp_path, chunked, *FORMATS, "--frames", chunk, "--resume", frames=10)
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    expected, got = files(whole), files(chunked)
    assert without_self_check(json.loads(got.pop("manifest.json"))) == \
        without_self_check(json.loads(expected.pop("manifest.json")))
    assert sorted(got) == sorted(expected) and [n for n in expected if got[n] != expected[n]] == []
    assert undescribed_files(chunked / "manifest.json") == []


def test_a_resumed_bake_gives_the_scene_back(tmp_path):
    """Kept frames are visited for their camera records; the scene's frame and settings come back all the same."""
    from blender_state import snapshot, user_scene

    from optical_flow_addon.blender.bake import bake_flow
    from optical_flow_addon.core.options import BakeOptions

    scene = user_scene()
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=5, overwrite=True)
    bake = bake_flow(scene, options)
    assert [next(bake).frame, next(bake).frame, next(bake).frame] == [1, 2, 3]
    bake.close()
    scene.frame_set(2)
    before = snapshot(scene)
    progress = list(bake_flow(scene, options, resume=True))
    assert [p.frame for p in progress] == [4, 5] and progress[0].done == 4
    assert snapshot(scene) == before
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [f["frame"] for f in manifest["frames"]] == [1, 2, 3, 4, 5]


def wall_bake(folder, out, *extra, step=0.05, frames=10):
    """The wall of test_cli_signals, its camera sliding ``step`` per frame (another step: another scene)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wall.obj").write_text("v -200 -20 -5\nv 200 -20 -5\nv 200 20 -5\nv -200 20 -5\nf 1 2 3 4\n")
    (folder / "camera_positions").write_text("".join(f"{step * i} -5 0 1.5707963 0 0\n" for i in range(frames)))
    return subprocess.run([sys.executable, "-m", "optical_flow_addon", "bake", str(folder / "wall.obj"), str(out),
                           "--poses", str(folder / "camera_positions"), "--resolution", "32x24", "--first-frame", "1",
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_resume_refuses_other_settings_and_another_scene_and_keeps_only_what_the_manifest_vouches_for(tmp_path):
    """The issue's cases: a resumed bake with another frame gap, without occlusion masks, or of another scene would
    keep files of the earlier bake beside its own. Each is refused before rendering, the folder untouched; the same
    settings resume, re-baking a lost image byte for byte (Blender's render date is dropped)."""
    out, scene = tmp_path / "out", tmp_path / "scene"
    earlier = wall_bake(scene, out, "--frames", "1-6", "--images")
    assert earlier.returncode == 0, earlier.stderr
    before = tree(out)
    for extra, change in ((("--frame-gap", "2"), "frame gap 1 → 2"), (("--no-occlusion",), "occlusion masks on → off"),
                          ((), "scene (its camera, objects or their animation)")):
        other_scene = tmp_path / "other" if not extra else scene
        refused = wall_bake(other_scene, out, "--frames", "1-10", "--images", "--resume", *extra,
                            step=0.08 if not extra else 0.05)
        assert refused.returncode == 1 and f"this bake changes its {change}" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr and tree(out) == before
    image = (out / "colors_0003.png").read_bytes()
    (out / "colors_0003.png").unlink()
    resumed = wall_bake(scene, out, "--frames", "1-10", "--images", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "note: Resumed: kept the 5 frames already whole, baked the other 5." in resumed.stdout
    assert (out / "colors_0003.png").read_bytes() == image
    assert undescribed_files(out / "manifest.json") == []


def test_an_overwriting_layout_bake_of_fewer_frames_leaves_none_of_the_earlier_bake(tmp_path):
    """Another scene baked over frames 1-4 of a sequence whose frames 1-8 were baked: frames 5-8 must go, or the
    loaders pair them with the new scene's. The summary says what the layout wrote."""
    out = tmp_path / "out"
    arguments = ("--layout", "SINTEL", "--sequence", "one")
    first = wall_bake(tmp_path / "long", out, *arguments, "--frames", "1-8")
    assert first.returncode == 0, first.stderr
    assert "images, depth, forward flow with masks, as cam, dpt, flo, png." in first.stdout
    second = wall_bake(tmp_path / "campan", out, *arguments, "--frames", "1-4", "--overwrite", step=0.08)
    assert second.returncode == 0, second.stderr
    assert undescribed_files(out / "Sintel" / "one.manifest.json") == []
    manifest = json.loads((out / "Sintel" / "one.manifest.json").read_text())
    assert manifest["formats"] == ["CAM", "DPT", "FLO", "PNG"] and "backward_flow" not in manifest["products"]


def test_a_resumed_bake_lists_the_objects_its_kept_frames_met(tmp_path):
    """A grid that gains a column of vertices every frame moves with its object alone (``transform_objects``): a bake
    stopped after two frames and resumed lists the frames of both runs, as one bake of every frame does."""
    import scenes

    from optical_flow_addon.blender.bake import bake_flow
    from optical_flow_addon.core.options import BakeOptions

    scene = scenes.growing_grid_scene(5)
    whole, resumed = (BakeOptions(output_dir=tmp_path / name, frame_start=1, frame_end=5, sequence_start=1,
                                  sequence_end=5, overwrite=True) for name in ("whole", "resumed"))
    list(bake_flow(scene, whole))
    stopped = bake_flow(scene, resumed)
    assert [next(stopped).frame, next(stopped).frame] == [1, 2]
    stopped.close()
    assert [p.frame for p in bake_flow(scene, resumed, resume=True)] == [3, 4, 5]
    manifests = [json.loads((options.output_dir / "manifest.json").read_text()) for options in (whole, resumed)]
    assert manifests[0]["transform_objects"] == {"Grid": [1, 2, 3, 4, 5]}
    assert without_self_check(manifests[1]) == without_self_check(manifests[0])
