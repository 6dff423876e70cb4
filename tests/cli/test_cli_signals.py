"""Signals, killed bakes, locks and replaced bakes, driven as users do: ``python -m optical_flow_addon`` processes."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")
pytestmark = pytest.mark.any_blender_line  # process handling: one Blender line is enough

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 120


def scene_files(folder: Path, frames: int = FRAMES) -> tuple[Path, Path]:
    """A wall and a camera sliding along it, one pose per frame."""
    mesh = folder / "wall.obj"
    mesh.write_text("v -200 -20 -5\nv 200 -20 -5\nv 200 20 -5\nv -200 20 -5\nf 1 2 3 4\n")
    poses = folder / "camera_positions"
    poses.write_text("".join(f"{0.05 * i} -5 0 1.5707963 0 0\n" for i in range(frames)))
    return mesh, poses


def start_bake(folder: Path, out: Path, *extra: str, frames: int = FRAMES) -> subprocess.Popen:
    mesh, poses = scene_files(folder, frames)
    return subprocess.Popen([sys.executable, "-m", "optical_flow_addon", "bake", str(mesh), str(out),
                             "--poses", str(poses), "--resolution", "64x48", "--formats", "npy", "--first-frame", "1",
                             *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_frames(process: subprocess.Popen, count: int) -> list[str]:
    lines = [process.stdout.readline() for _ in range(count)]
    assert all(line.startswith("frame") for line in lines), lines
    return lines


def render_folders(pid: int) -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith(f"optical_flow_{pid}_")]


def frames_on_disk(out: Path) -> list[int]:
    return sorted(int(p.stem.rsplit("_", 1)[1]) for p in out.glob("forward_flow_[0-9]*.npy"))


def assert_whole_bake(out: Path, frames: list[int]) -> None:
    """The manifest lists exactly the frames on disk, every file reads, and nothing temporary is left."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["forward_flow_frames"] == frames_on_disk(out) == frames
    assert all(np.load(out / f"forward_flow_{f:04d}.npy").shape == (48, 64, 2) for f in frames)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("to_group", [False, True], ids=["main process", "process group"])
def test_ctrl_c_stops_after_the_frame_in_hand(tmp_path, to_group):
    out = tmp_path / "out"
    process = start_bake(tmp_path, out)
    wait_for_frames(process, 2)
    (os.killpg if to_group else os.kill)(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.strip() == "", stderr
    stopped = [line for line in stdout.splitlines() if not line.startswith("frame")]
    assert len(stopped) == 1 and stopped[0].startswith("Stopped by SIGINT after "), stdout
    done = int(stopped[0].split(" after ")[1].split(" of ")[0])
    assert 2 <= done < FRAMES - 10
    assert_whole_bake(out, list(range(1, done + 1)))
    assert render_folders(process.pid) == []


def test_sigterm_cleans_up(tmp_path):
    out = tmp_path / "out"
    process = start_bake(tmp_path, out)
    wait_for_frames(process, 1)
    process.terminate()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Stopped by SIGTERM" in stdout and stderr == ""
    assert_whole_bake(out, frames_on_disk(out))
    assert render_folders(process.pid) == [] and not (out / ".optical_flow.lock").exists()


def test_a_killed_bake_leaves_nothing_a_later_bake_does_not_remove(tmp_path):
    out = tmp_path / "out"
    process = start_bake(tmp_path, out)
    wait_for_frames(process, 3)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert render_folders(process.pid), "the killed bake's rendered frames in memory"
    left = frames_on_disk(out)
    # the manifest, written before the first frame, says how the frames were baked and lists none of them yet
    assert left and json.loads((out / "manifest.json").read_text())["frames"] == []
    # a later bake elsewhere removes the dead bake's folder in /dev/shm; the killed bake's frames block its own folder
    later = start_bake(tmp_path, tmp_path / "elsewhere", "--frames", "1-2", frames=3)
    later.communicate(timeout=120)
    assert later.returncode == 0 and render_folders(process.pid) == []
    again = start_bake(tmp_path, out, "--frames", "1-2", frames=3)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 1 and "already holds flow files" in stderr and "--overwrite" in stderr


def test_second_bake_into_the_same_folder_names_the_first_and_a_dead_ones_lock_is_taken_over(tmp_path):
    out = tmp_path / "out"
    first = start_bake(tmp_path, out)
    wait_for_frames(first, 1)
    os.killpg(first.pid, signal.SIGSTOP)  # still baking, as far as the folder can tell
    second = start_bake(tmp_path, out, "--overwrite")
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 1 and f"Another bake is writing to {out} (process {first.pid} on " in stderr, stderr
    assert "started " in stderr and "Traceback" not in stderr
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    assert (out / ".optical_flow.lock").exists()  # left by the killed bake, but no process holds it
    third = start_bake(tmp_path, out, "--overwrite", frames=4)
    _, stderr = third.communicate(timeout=120)
    assert third.returncode == 0, stderr
    assert_whole_bake(out, [1, 2, 3])


def test_overwrite_replaces_the_earlier_bake_even_when_cancelled(tmp_path):
    out = tmp_path / "out"
    assert start_bake(tmp_path, out, "--formats", "npy,flo").wait(timeout=300) == 0
    (out / "notes.txt").write_text("the user's own file")
    process = start_bake(tmp_path, out, "--overwrite")
    wait_for_frames(process, 2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    done = int(stdout.split("Stopped by SIGINT after ")[1].split(" of ")[0])
    assert_whole_bake(out, list(range(1, done + 1)))
    assert not list(out.glob("*.flo")) and (out / "notes.txt").read_text() == "the user's own file"
    assert "note: Overwrite removed the" not in stdout  # the summary of a stopped bake is the one line


def test_overwrite_says_it_replaced_the_earlier_bake(tmp_path):
    out = tmp_path / "out"
    assert start_bake(tmp_path, out, frames=6).wait(timeout=300) == 0
    process = start_bake(tmp_path, out, "--overwrite", "--frames", "1-2", frames=6)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    # 5 forward and 5 backward flows of 6 frames, each with its validity and occlusion mask, + manifest
    assert "note: Overwrite removed the 31 files of the earlier bake" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}{mask}_{frame:04d}.npy" for name, frames in (("forward_flow", (1, 2)), ("backward_flow", (2,)))
         for frame in frames for mask in ("", "_valid", "_occluded")] + ["manifest.json"])


def test_not_a_blender_file(tmp_path):
    text = tmp_path / "notes.blend"
    text.write_text("hello")
    truncated = tmp_path / "truncated.blend"
    subprocess.run([sys.executable, "-c", "import bpy; bpy.ops.wm.save_as_mainfile(filepath=%r)" % str(truncated)],
                   check=True, capture_output=True, timeout=120)
    truncated.write_bytes(truncated.read_bytes()[:3000])
    for scene in (text, truncated):
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "optical_flow_addon", "bake", str(scene), str(tmp_path / "o")],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and f"error: {scene} is not a Blender file" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and time.monotonic() - started < 60


def without_self_check(manifest: dict) -> dict:
    """A manifest but for its self-check figures, which only the run that baked a frame has (a resumed bake's
    kept frames and a killed chunk's redone ones carry none)."""
    manifest = {key: value for key, value in manifest.items() if key != "self_check"}
    manifest["frames"] = [{k: v for k, v in frame.items() if k != "self_check"} for frame in manifest["frames"]]
    return manifest


def test_ctrl_c_at_any_moment_of_start_up_stops_with_130_and_no_traceback(tmp_path):
    """Python's own imports, the arguments, bpy loading (about 1 s), the scene: a Ctrl-C in any of them stops."""
    for delay in (0.05, 0.2, 0.4, 0.7, 1.0, 1.4):
        out = tmp_path / f"out_{delay}"
        process = start_bake(tmp_path, out)  # 120 frames: still baking when the last signal comes
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, (delay, process.returncode, stdout, stderr)
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, (delay, stderr)
        assert not (out / "manifest.json").exists() or "Stopped by SIGINT" in stdout, (delay, stdout)


def test_the_writer_exits_quietly_when_the_bake_is_killed(tmp_path):
    """SIGKILL to the bake process alone: its writer process finishes the frame in hand and ends without a word."""
    for attempt in range(3):
        process = start_bake(tmp_path, tmp_path / f"out{attempt}", "--resolution", "320x240", "--formats",
                             "npy,npz,hdf5,picture", "--hdf5-compression", "gzip")
        wait_for_frames(process, 1)
        os.kill(process.pid, signal.SIGKILL)  # not its group: the writer stays, and its replies have no reader
        _, stderr = process.communicate(timeout=120)  # the pipes close when the writer ends too
        assert stderr == "", stderr


def test_no_blender_session_folder_is_left_in_the_temporary_folder(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    mesh, poses = scene_files(tmp_path, 3)
    result = subprocess.run([sys.executable, "-m", "optical_flow_addon", "bake", str(mesh), str(tmp_path / "out"),
                             "--poses", str(poses), "--resolution", "16x12", "--formats", "npy"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(temporary)})
    assert result.returncode == 0, result.stderr
    assert list(temporary.iterdir()) == []
