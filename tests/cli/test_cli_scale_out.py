"""Scenes and chunks of frames spread over a real Dask LocalCluster of 2 worker processes, driven as users do:
``python -m optical_flow_addon bake A B OUT --scheduler ...``. Every result is compared byte for byte with
bakes of one process."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.options import BakeOptions
from optical_flow_addon.cli.names import chunk_folders, remove_idle_chunk_folders, sequence_names
from optical_flow_addon.cli.parser import scheduler_address
from optical_flow_addon.cli.scale_out import split, working_folders
from test_cli_signals import without_self_check

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ("--formats", "npy,hdf5,picture")


def test_each_scene_is_named_by_its_file_with_as_many_folders_as_tell_them_apart(tmp_path):
    assert sequence_names([Path("a/scene.blend"), Path("b/scene.blend"), Path("b/wall.obj")]) == \
        ["a_scene", "b_scene", "b_wall"]
    assert sequence_names([Path("x/one.blend"), Path("two.blend")]) == ["one", "two"]
    with pytest.raises(FlowError, match="Scenes a/scene.blend and a/../a/scene.blend are the same file"):
        sequence_names([Path("a/scene.blend"), Path("a/../a/scene.blend")])
    with pytest.raises(FlowError, match="would share a sequence name"):
        sequence_names([tmp_path / "scene.blend", tmp_path / "scene.obj"])


def test_a_scheduler_address_that_is_no_address_is_the_users_mistake_said_as_such():
    for good in ("local:2", "tcp://10.0.0.5:8786", "tls://scheduler.example.org:8786", "tcp://[::1]:8786",
                 "ws://host:8786", "tcp://host"):
        assert scheduler_address(good) == good
    for bad in ("foo://bar:1", "tcp://", "tcp://host:port", "local:0", "host:8786", "tcp:// host:1"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"expected local:N \(N worker processes on this machine\)"
                           r" or a Dask scheduler's address PROTOCOL://HOST:PORT such as tcp://10.0.0.5:8786"):
            scheduler_address(bad)
    result = subprocess.run([sys.executable, "-m", "optical_flow_addon", "bake", "a.blend", "out", "--scheduler",
                             "foo://bar:1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "This is a bug" not in result.stderr
    assert "argument --scheduler: expected local:N" in result.stderr and "got 'foo://bar:1'" in result.stderr


def test_chunks_are_runs_of_consecutive_frames():
    assert split([1, 2, 3, 4, 5, 6, 7], 3) == [(1, 3), (4, 6), (7, 7)]
    assert split([1, 2, 5, 6, 7, 9], 2) == [(1, 2), (5, 6), (7, 7), (9, 9)]  # frames a resumed bake still needs


def test_a_sequences_chunk_folders_are_its_own_and_not_those_of_a_sequence_sharing_its_prefix(tmp_path):
    for name in ("a_1-5", "a_-3--1", "a_b_21-25", "a_b_1-5", "ab_1-5", "a_x"):
        (tmp_path / f".optical_flow_chunk_{name}").mkdir()
    assert [p.name for p in chunk_folders(tmp_path, "a")] == [".optical_flow_chunk_a_-3--1",
                                                               ".optical_flow_chunk_a_1-5"]
    assert [p.name for p in chunk_folders(tmp_path, "a_b")] == [".optical_flow_chunk_a_b_1-5",
                                                                 ".optical_flow_chunk_a_b_21-25"]
    options = BakeOptions(output_dir=tmp_path, frame_start=1, frame_end=5)
    args = argparse.Namespace(sequence="a_b", resume=False, overwrite=True)
    assert working_folders(tmp_path, args, options) == []  # --overwrite of a_b removes a_b's and only a_b's
    assert sorted(p.name for p in tmp_path.iterdir()) == [".optical_flow_chunk_a_-3--1", ".optical_flow_chunk_a_1-5",
                                                          ".optical_flow_chunk_a_x", ".optical_flow_chunk_ab_1-5"]
    args = argparse.Namespace(sequence="a_b", resume=False, overwrite=False)
    assert working_folders(tmp_path, args, options) == []  # a's chunks do not block a bake of a_b
    remove_idle_chunk_folders(tmp_path, "ab")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".optical_flow_chunk_a_-3--1", ".optical_flow_chunk_a_1-5",
                                                          ".optical_flow_chunk_a_x"]


pytest.importorskip("bpy")
pytestmark = pytest.mark.any_blender_line  # process handling: one Blender line is enough
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")


def scene(folder: Path, depth: float, frames: int) -> tuple[Path, Path]:
    """A wall ``depth`` metres from a camera sliding along it, one pose per frame."""
    folder.mkdir(parents=True, exist_ok=True)
    mesh = folder / "wall.obj"
    mesh.write_text(f"v -200 -20 -{depth}\nv 200 -20 -{depth}\nv 200 20 -{depth}\nv -200 20 -{depth}\nf 1 2 3 4\n")
    poses = folder / "camera_positions"
    poses.write_text("".join(f"{0.05 * i} -5 0 1.5707963 0 0\n" for i in range(frames)))
    return mesh, poses


def start(*arguments, resolution: str = "64x48") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optical_flow_addon", "bake", *map(str, arguments),
                             "--resolution", resolution, "--first-frame", "1", *FORMATS],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def bake(*arguments) -> str:
    process = start(*arguments)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return stdout


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def assert_same_bake(got: Path, expected: Path) -> None:
    """Every file byte for byte, nothing more (no working folders, no lock): the manifest too."""
    got_files, expected_files = files(got), files(expected)
    assert sorted(got_files) == sorted(expected_files)
    manifests = [without_self_check(json.loads(found.pop("manifest.json"))) for found in (got_files, expected_files)]
    assert manifests[0] == manifests[1]
    assert [name for name in expected_files if got_files[name] != expected_files[name]] == []


CLUSTER = """
import sys
from distributed import LocalCluster
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                  silence_logs=50) as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes in a process of its own (as ``dask scheduler`` and ``dask worker``
    run), used through its address as a cluster on other machines would be: ``--scheduler tcp://...``."""
    process = subprocess.Popen([sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    address = process.stdout.readline().strip()
    try:
        with distributed.Client(address) as client:
            yield address, client
    finally:
        process.stdin.close()
        process.wait(timeout=60)


def test_two_scenes_in_chunks_on_two_local_workers_give_the_files_of_one_bake_each(tmp_path):
    a, b = scene(tmp_path / "a", 5, 9), scene(tmp_path / "b", 8, 9)
    for (mesh, poses), name in ((a, "a"), (b, "b")):
        bake(mesh, tmp_path / f"one_{name}", "--poses", poses)
    out = tmp_path / "out"
    stdout = bake(a[0], b[0], out, "--poses", a[1], "--scheduler", "local:2", "--chunk-size", "4")
    assert sorted(p.name for p in out.iterdir()) == ["a_wall", "b_wall"]
    assert_same_bake(out / "a_wall", tmp_path / "one_a")
    assert_same_bake(out / "b_wall", tmp_path / "one_b")
    frame_lines = [line for line in stdout.splitlines() if " frame " in line]
    assert len(frame_lines) == 18 and frame_lines[-1].endswith(" 18/18")  # one count over both scenes
    assert stdout.splitlines()[-1].startswith(f"Flow for 18 frames of 2 scenes in {out} "
                                              "written in 6 tasks on local:2 in ")


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


TORCHVISION_SINTEL = """
import sys
from torchvision.datasets import Sintel
dataset = Sintel(sys.argv[1], pass_name="clean")
print(len(dataset), sorted({path.split("/")[-2] for pair in dataset._image_list for path in pair}))
"""


def test_two_scenes_in_one_layout_root_on_two_local_workers_give_the_files_of_one_bake_each(tmp_path):
    """With a training layout every scene is a sequence of one root, as bakes of each scene into that root give."""
    from environments import venv_python

    a, b = scene(tmp_path / "a", 5, 7), scene(tmp_path / "b", 8, 7)
    one = tmp_path / "one"
    for (mesh, poses), name in ((a, "a_wall"), (b, "b_wall")):
        bake(mesh, one, "--poses", poses, "--layout", "SINTEL", "--sequence", name)
    out = tmp_path / "out"
    stdout = bake(a[0], b[0], out, "--poses", a[1], "--layout", "SINTEL", "--scheduler", "local:2", "--chunk-size", "3")
    assert stdout.splitlines()[-1].startswith(f"Flow for 14 frames of 2 scenes in {out} written in 6 tasks")
    assert sorted(p.name for p in out.iterdir()) == ["Sintel"]  # no working folder, no lock left
    got, expected = tree(out), tree(one)
    for name in ("a_wall", "b_wall"):
        manifests = [without_self_check(json.loads(files.pop(f"Sintel/{name}.manifest.json")))
                     for files in (got, expected)]
        assert manifests[0] == manifests[1] and len(manifests[0]["frames"]) == 7
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
    loaded = subprocess.run([venv_python("torch"), "-c", TORCHVISION_SINTEL, str(out)], capture_output=True, text=True,
                            timeout=600)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["12", "['a_wall',", "'b_wall']"]  # 6 pairs of each sequence


def test_a_resumed_run_with_another_frame_gap_is_refused_for_it_before_any_chunk_runs(tmp_path, cluster):
    """The chunks of a K=3 resume would be moved in beside the K=1 frames (and then refused for their "versions"):
    the coordinator refuses it first, naming the frame gap, and the folder stays as the manifest describes it."""
    from manifest_walk import undescribed_files

    address, _ = cluster
    mesh, poses = scene(tmp_path, 5, 10)
    out = tmp_path / "out"
    bake(mesh, out, "--poses", poses, "--scheduler", address, "--chunk-size", "5")
    before = tree(out)
    process = start(mesh, out, "--poses", poses, "--scheduler", address, "--chunk-size", "5", "--resume",
                    "--frame-gap", "3")
    _, stderr = process.communicate(timeout=600)
    refusal = f"error: Cannot resume the bake in {out}: this bake changes its frame gap 1 → 3"
    assert process.returncode == 1 and refusal in stderr, stderr
    assert "version" not in stderr and tree(out) == before
    assert undescribed_files(out / "manifest.json") == []


def listed_frames(folder: Path) -> list[dict]:
    """The frames the manifest of a chunk's working folder lists: none until the chunk's bake ends."""
    try:
        return json.loads((folder / "manifest.json").read_text())["frames"]
    except (OSError, ValueError, KeyError):
        return []


def kill_mid_chunk(out: Path, whom: str) -> int:
    """Wait until a chunk's bake process has written a frame, kill it or its Dask worker (SIGKILL); return the
    bake process's ID."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for lock in out.glob(".optical_flow_chunk_*/.optical_flow.lock"):
            try:
                pid = json.loads(lock.read_text())["pid"]
            except (OSError, ValueError, KeyError):
                continue
            if list(lock.parent.glob("forward_flow_0*.npy")) and not listed_frames(lock.parent):
                bake_process = psutil.Process(pid)
                victim = bake_process.ppid() if whom == "worker" else pid
                os.kill(victim, signal.SIGKILL)
                return pid
        time.sleep(0.005)
    raise AssertionError(f"no chunk of {out} was seen at work")


@pytest.fixture(scope="module")
def one_bake(tmp_path_factory):
    """60 frames baked by one process."""
    folder = tmp_path_factory.mktemp("one_bake")
    mesh, poses = scene(folder, 5, 60)
    bake(mesh, folder / "one", "--poses", poses)
    return mesh, poses, folder / "one"


@pytest.mark.parametrize("whom", ["worker", "bake process"])
def test_a_chunk_killed_midway_runs_again_and_the_result_is_whole_and_the_same(tmp_path, cluster, one_bake, whom):
    address, client = cluster
    mesh, poses, one = one_bake
    out = tmp_path / "out"
    process = start(mesh, out, "--poses", poses, "--scheduler", address, "--chunk-size", "30", "--threads", "1")
    killed = kill_mid_chunk(out, whom)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE
    assert_same_bake(out, one)
    assert len([line for line in stdout.splitlines() if " frame " in line]) == 60  # each frame counted once
    client.wait_for_workers(2, timeout=120)  # the nanny restarted a killed worker


def test_memory_per_worker_stays_flat_over_many_chunks(tmp_path, cluster):
    """Each chunk bakes in a process of its own, so a worker's memory does not grow with the chunks it ran."""
    address, client = cluster
    client.wait_for_workers(2, timeout=120)
    mesh, poses = scene(tmp_path, 5, 24)

    def worker_memory() -> list[int]:
        return sorted(client.run(lambda: psutil.Process().memory_info().rss).values())

    bake(mesh, tmp_path / "warm", "--poses", poses, "--scheduler", address, "--chunk-size", "12", "--threads", "1")
    before = worker_memory()
    bake(mesh, tmp_path / "out", "--poses", poses, "--scheduler", address, "--chunk-size", "2", "--threads", "1")
    after = worker_memory()
    growth = [(a - b) / 2**20 for a, b in zip(after, before)]
    print(f"worker memory before {[b / 2**20 for b in before]} MB, growth over 12 chunks {growth} MB")
    assert max(growth) < 8, growth


@pytest.mark.parametrize("how", ["SIGTERM to the command", "Ctrl-C in its terminal"])
def test_a_stopped_coordinator_says_so_and_a_plain_resume_finishes_the_bake(tmp_path, one_bake, how):
    """SIGTERM to the command, or Ctrl-C to its whole process group (Dask's workers and the bake processes too):
    the Stopped line and 128 + the signal, nothing on stderr (no tracebacks, no leaked semaphores), the cluster
    closed, no lock left, and only files the manifest lists in the folder. A plain --resume (no Dask) then gives
    the files of one bake and removes the stopped chunks' working folders."""
    mesh, poses, one = one_bake
    out = tmp_path / "out"
    process = start(mesh, out, "--poses", poses, "--scheduler", "local:2", "--chunk-size", "10", "--threads", "1")
    deadline = time.monotonic() + 120
    while not list(out.glob(".optical_flow_chunk_*/forward_flow_0*.npy")) and time.monotonic() < deadline:
        time.sleep(0.01)
    number = signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGINT
    (os.kill if how.startswith("SIGTERM") else os.killpg)(process.pid, number)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + number, stderr
    assert stdout.splitlines()[-1].startswith(f"Stopped by {signal.Signals(number).name} after "), stdout
    assert "Traceback" not in stderr and "leaked" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert not (out / ".optical_flow.lock").exists()
    listed = json.loads((out / "manifest.json").read_text())["frames"] if (out / "manifest.json").exists() else []
    moved_in = sorted(int(p.stem.rsplit("_", 1)[1]) for p in out.glob("*_flow_[0-9]*.npy"))
    assert set(moved_in) <= {record["frame"] for record in listed}
    assert list(out.glob(".optical_flow_chunk_*")), "the stopped chunks' working folders"
    result = subprocess.run([sys.executable, "-m", "optical_flow_addon", "bake", str(mesh), str(out), "--poses",
                             str(poses), "--resolution", "64x48", "--first-frame", "1", *FORMATS, "--resume"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert_same_bake(out, one)  # no working folder, no lock left


def test_a_chunk_refused_for_its_settings_leaves_no_working_folder_and_names_no_flag_not_given(tmp_path):
    """A KITTI bake whose flow is beyond the ±512 px its PNG holds, a chunk per frame: one line naming the reason,
    and nothing, of the refused chunk or of the others, that would make the next bake into the folder a resumed
    one."""
    mesh, poses = scene(tmp_path, 5, 3)
    poses.write_text("".join(f"{7 * i} -5 0 1.5707963 0 0\n" for i in range(3)))  # about 620 px a frame
    out = tmp_path / "out"
    process = start(mesh, out, "--poses", poses, "--layout", "KITTI", "--scheduler", "local:1",
                    "--chunk-size", "1", "--samples", "1", resolution="640x48")
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 1, stderr
    assert "beyond the ±512 px that KITTI's 16-bit flow PNG holds" in stderr and "--frames" not in stderr, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith("error: The chunk of frames 1-1 of "), stderr
    assert list(out.glob(".optical_flow_chunk_*")) == [] and not (out / ".optical_flow.lock").exists()


def test_tracks_of_a_sequence_baked_in_chunks_are_the_bytes_of_one_bake(tmp_path):
    """The chunk holding the sequence's first frame follows the whole sequence's tracks, CoTracker's layout too."""
    mesh, poses = scene(tmp_path / "a", 5, 7)
    one, out = tmp_path / "one", tmp_path / "out"
    tracks = ("--layout", "COTRACKER", "--tracks", "50", "--track-formats", "pointodyssey", "--samples", "1")
    bake(mesh, one, "--poses", poses, *tracks)
    bake(mesh, out, "--poses", poses, "--scheduler", "local:2", "--chunk-size", "3", *tracks)
    got, expected = tree(out), tree(one)
    manifests = [without_self_check(json.loads(files.pop("wall.manifest.json"))) for files in (got, expected)]
    assert manifests[0] == manifests[1] and manifests[0]["tracks"]["count"] == 50
    assert sorted(got) == sorted(expected) and "wall/wall.npy" in got and "wall/annotations.npz" in got
    assert [name for name in expected if got[name] != expected[name]] == []


def test_chunks_that_each_meet_an_object_on_their_own_frames_merge_into_the_files_of_one_bake(tmp_path):
    """A grid that gains a column of vertices every frame moves with its object alone at a frame gap of 1 (its
    topology changes), and each chunk records that for its own frames (``transform_objects``): the merged manifest
    lists all of them, as one bake of every frame does, instead of refusing the chunks as of different versions."""
    import bpy
    import scenes

    scenes.growing_grid_scene(5)
    blend = tmp_path / "grid.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    one, out = tmp_path / "one", tmp_path / "out"
    bake(blend, one)
    bake(blend, out, "--scheduler", "local:2", "--chunk-size", "2")
    assert json.loads((one / "manifest.json").read_text())["transform_objects"] == {"Grid": [1, 2, 3, 4, 5]}
    assert_same_bake(out, one)
