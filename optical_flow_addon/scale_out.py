"""Many scenes and chunks of frames in one command: each chunk bakes in its own Blender (``bpy``) process, on a
Dask cluster (``--scheduler``) or, for several scenes without one, one after another. Longer than the other
modules because the coordinator's rules below (locks, working folders, merged manifests) only hold together.

The output folder stays "one folder, one bake" with chunks baking in parallel:

- This process (the coordinator) holds each scene folder's lock for the whole run and prepares the folder as
  a bake does: it refuses another bake's files, removes them with ``--overwrite``, checks the settings with
  ``--resume``. With a training layout every scene is a sequence of one root, prepared under one lock.
- Each chunk bakes with ``--resume`` into its own working folder inside the scene folder
  (``.optical_flow_chunk_SEQUENCE_FIRST-LAST``), under that folder's own lock; this process moves its files up. A chunk
  whose worker died runs again elsewhere and resumes its working folder: the frames it wrote whole stay, the
  rest are baked, and the files are the same byte for byte. The lock keeps two tries of one chunk apart.
- Each chunk's manifest comes back here; with every chunk moved up the scene's ``manifest.json`` is the merge of
  those finished, so every file in the scene folder is listed and ``--resume`` bakes only the other chunks. A stop
  (Ctrl-C, SIGTERM, SIGHUP) waits for a move to end; chunks that finish after it stay in their working folders.
- ``flow_sequence.hdf5`` grows frame by frame in order, so with HDF5_SEQUENCE a scene is one task.

``python -m optical_flow_addon.scale_out`` is the bake process of one chunk: it reads the bake's arguments
(pickled) on its standard input and runs them as ``python -m optical_flow_addon bake`` would.

Coordinator and chunk process share one module, though it is longer than most: they are the two ends of one
protocol (working folders, locks, manifests, the frame lines), which reads and changes best in one place.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from .cli import FrameReport, Stopped, duration, exit_now, positive_number, run_guarded
from .core.errors import FlowError
from .core.frame import own_files
from .core.layouts import LAYOUTS
from .core.manifest import bake_manifest, manifest_path, merge_manifests
from .core.options import BLENDERPROC, BakeOptions
from .core.output_folder import LOCK_NAME, BakeFolder, lock_descriptor, prepare_training_sequence

CHUNK_PREFIX = ".optical_flow_chunk_"
RETRIES = 2  # a chunk whose process died (killed, crashed) runs again this many times; one with bad settings does not
PROGRESS_TOPIC = "optical-flow-frames"
PARENT = "OPTICAL_FLOW_PARENT_PID"
FRAME_LINE = re.compile(r"frame\s+(-?\d+)\s")  # the bake's line per frame (cli.FrameReport)
PR_SET_PDEATHSIG = 1
DASK_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+)(:\d{1,5})?")  # HOST or [IPv6], and a PORT
DASK_MISSING = 'Dask is not installed: pip install "optical-flow-for-blender[dask]" (or dask[distributed]).'


def scheduler_address(text: str) -> str:
    """``local:N`` (N worker processes on this machine) or a running Dask scheduler's ``PROTOCOL://HOST:PORT``."""
    kind, _, count = text.partition(":")
    protocol, separator, place = text.partition("://")
    try:
        if kind == "local" and not separator:
            positive_number(count)
            return text
    except argparse.ArgumentTypeError:
        pass
    else:
        if separator and protocol in DASK_PROTOCOLS and ADDRESS.fullmatch(place):
            return text
    raise argparse.ArgumentTypeError(
        "expected local:N (N worker processes on this machine) or a Dask scheduler's address PROTOCOL://HOST:PORT "
        f"such as tcp://10.0.0.5:8786 (PROTOCOL one of {', '.join(DASK_PROTOCOLS)}), got {text!r}")


def sequence_names(scenes: list[Path]) -> list[str]:
    """The name of each scene's sequence (its subfolder of the output folder): the file name without its
    suffix, with as many parent folders as it takes to tell scenes apart (``a/scene.blend``, ``b/scene.blend``
    are ``a_scene`` and ``b_scene``)."""
    paths = [scene.resolve() for scene in scenes]
    for later, path in enumerate(paths):
        if path in paths[:later]:
            raise FlowError(f"Scenes {scenes[paths.index(path)]} and {scenes[later]} are the same file: give each "
                            "scene once.")
    stems = [path.with_suffix("") for path in paths]
    for depth in range(1, max(len(stem.parts) for stem in stems)):
        names = ["_".join(stem.parts[-depth:]) for stem in stems]
        if len(set(names)) == len(names):
            return names
    raise FlowError(f"Scenes {', '.join(map(str, scenes))} would share a sequence name: rename one.")


def chunk_folders(folder: Path, name: str) -> list[Path]:
    """The working folders of sequence ``name``'s chunks in ``folder``, and no other sequence's: ``a``'s chunks are
    ``.optical_flow_chunk_a_1-5``, never ``.optical_flow_chunk_a_b_1-5`` (sequence ``a_b``)."""
    own = re.compile(re.escape(f"{CHUNK_PREFIX}{name}_") + r"-?\d+--?\d+")
    return sorted(path for path in folder.glob(f"{CHUNK_PREFIX}*") if own.fullmatch(path.name) and path.is_dir())


def remove_idle_chunk_folders(folder: Path, name: str) -> None:
    """Remove the working folders of sequence ``name`` that no chunk is baking in (their lock is free): what a
    killed or stopped run left, once the frames are in the sequence's folder."""
    for work in chunk_folders(folder, name):
        remove_if_idle(work)


def remove_if_idle(work: Path) -> None:
    """Remove a chunk's working folder unless a chunk is baking in it (its lock is held)."""
    try:
        descriptor = os.open(work / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # gone already, or never made
        return
    try:
        lock_descriptor(descriptor)
    except OSError:  # a chunk still at work (on a remote worker): it is its folder
        os.close(descriptor)
        return
    try:
        shutil.rmtree(work)
    finally:
        os.close(descriptor)


class CoordinatorStop:
    """Ctrl-C, SIGTERM and SIGHUP stop the coordinator as they stop a bake: between two chunks' moves into the
    scene folder (never during one, so every file moved in is in the manifest), then the cluster and the folder
    locks are let go. A second signal stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.holding = False
        self.previous: dict[int, object] = {}

    def __enter__(self) -> CoordinatorStop:
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                number = getattr(signal, name)
                self.previous[number] = signal.signal(number, self.stop)
        return self

    def stop(self, number: int, _frame: object) -> None:
        first = self.signal is None
        self.signal = number
        if not (first and self.holding):
            raise Stopped(number)

    @contextmanager
    def held(self) -> Iterator[None]:
        """A signal waits for the end of this block."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.signal is not None:
            raise Stopped(self.signal)

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def bake_scenes(args: argparse.Namespace) -> int:
    """``bake A B C OUT`` and ``--scheduler``: plan every scene, bake its chunks as tasks, merge the manifests."""
    with CoordinatorStop() as stop:
        scenes: dict[str, tuple[BakeOptions, list[dict]]] = {}
        try:
            return coordinate(args, stop, scenes)
        except Stopped as stopped:
            frames = sum(len(bake_manifest(options).get("frames", [])) for options, _ in scenes.values())
            total = sum(len(options.frames) for options, _ in scenes.values())
            print(f"Stopped by {signal.Signals(stopped.signal).name} after {frames} of {total} frames; their files in "
                  f"{args.output} are complete{' and their manifest lists them' if frames else ''}. Add --resume "
                  "to bake the others.", file=sys.stdout)
            return 128 + stopped.signal


def coordinate(args: argparse.Namespace, stop: CoordinatorStop, scenes: dict) -> int:
    """``bake_scenes`` under its signal handlers; ``scenes`` gets each sequence's options and manifests."""
    chunks: list[Chunk] = []
    try:
        return bake_chunks(args, stop, scenes, chunks)
    except ChunkRefused:  # the bake cannot go on with these settings: this run's chunks leave nothing to resume
        for chunk in chunks:
            remove_if_idle(working_folder(chunk))
        raise


def bake_chunks(args: argparse.Namespace, stop: CoordinatorStop, scenes: dict, chunks: list) -> int:
    """``coordinate``'s work; ``chunks`` gets the chunks to bake."""
    started = time.perf_counter()
    out = sys.stdout
    names = sequence_names(args.scenes)
    if args.sequence:
        if len(names) > 1:
            raise FlowError(f"--sequence names the sequence of one scene; the {len(names)} scenes are named by their "
                            f"files ({', '.join(names)}). Leave out --sequence, or bake one scene.")
        names = [args.sequence]
    for name in ("scenes", "output", "poses"):  # the bake processes may start elsewhere
        value = getattr(args, name)
        setattr(args, name, [p.resolve() for p in value] if isinstance(value, list) else value and value.resolve())
    # A training layout holds many sequences in one root; BlenderProc's files go to a folder per scene.
    one_root = len(names) == 1 or args.layout != BLENDERPROC
    folders = [args.output if one_root else args.output / name for name in names]
    if args.scheduler and args.scheduler.startswith("local:") and not args.threads:
        args.threads = max(1, (os.cpu_count() or 1) // int(args.scheduler.partition(":")[2]))
    scene_args = [argparse.Namespace(**{**vars(args), "sequence": name}) for name in names]
    with tasks_on(args.scheduler) as run_tasks, ExitStack() as locks:
        plans = run_tasks(plan_scene, list(zip(scene_args, args.scenes, folders)))
        notes, held = [], {}
        for (own_args, scene, folder), plan in list(plans):
            options, resolution = plan
            if folder in held:  # another sequence of the same root, under the lock already held
                held[folder].check(options, *resolution)
            else:
                held[folder] = locks.enter_context(BakeFolder(options, *resolution, args.resume))
            prepare_training_sequence(options)
            earlier = working_folders(folder, own_args, options)
            scenes[own_args.sequence] = options, earlier
            listed = {record["frame"] for manifest in earlier for record in manifest["frames"]}
            size = args.chunk_size or len(options.frames)
            if "HDF5_SEQUENCE" in options.formats and size < len(options.frames):
                notes.append(f"{scene.name}: flow_sequence.hdf5 grows frame by frame in order, "
                             "so its frames were one task.")
                size = len(options.frames)
            chunks += [Chunk(own_args, options, scene, folder, own_args.sequence, first, last)
                       for first, last in split([f for f in options.frames if f not in listed], size)]
        shown = ChunkReport(sum(chunk.frames(scenes[chunk.name][0]) for chunk in chunks), out, out.isatty())
        try:
            for chunk, manifest in run_tasks(run_chunk, chunks, shown.frame_done):
                options, manifests = scenes[chunk.name]
                for record in manifest["frames"]:  # also those a killed try wrote without word reaching us
                    shown.frame_done(chunk.name, record["frame"])
                with stop.held():  # here, not on the worker: no chunk moves in once the command stops
                    move_in(chunk)
                    manifests.append(manifest)
                    merge_manifests(options, manifests)
        finally:
            shown.close()
        for name, folder in zip(names, folders):
            for work in chunk_folders(folder, name):  # a resumed run's other chunking left them
                shutil.rmtree(work)
    for note in notes:
        print(f"note: {note}", file=out)
    frames = sum(len(bake_manifest(options)["frames"]) for options, _ in scenes.values())
    place = f"{len(names)} scenes in {args.output}" if len(names) > 1 else str(args.output)
    where = f" on {args.scheduler}" if args.scheduler else ""
    print(f"Flow for {frames} frames of {place} written in {len(chunks)} tasks{where} in "
          f"{duration(time.perf_counter() - started)}.", file=out)
    return 0


def working_folders(folder: Path, args: argparse.Namespace, options: BakeOptions) -> list[dict]:
    """The chunk working folders of the scene's sequence an interrupted run left: kept to resume, removed with
    --overwrite, else refused. Returns the manifests to start from: with --resume, the frames the sequence's
    manifest lists are done."""
    left = chunk_folders(folder, args.sequence)
    if args.resume:
        manifest = bake_manifest(options)
        return [manifest] if manifest.get("frames") else []
    if left and not args.overwrite:
        raise FlowError(f"{folder} holds the chunks of an interrupted bake ({left[0].name}): add --resume to "
                        "continue it or --overwrite to replace it.")
    for work in left:
        shutil.rmtree(work)
    return []


def split(frames: list[int], size: int) -> list[tuple[int, int]]:
    """First and last frame of each chunk: runs of consecutive frames, at most ``size`` frames each."""
    chunks: list[tuple[int, int]] = []
    for frame in frames:
        if chunks and frame == chunks[-1][1] + 1 and frame - chunks[-1][0] < size:
            chunks[-1] = (chunks[-1][0], frame)
        else:
            chunks.append((frame, frame))
    return chunks


@dataclass(frozen=True)
class Chunk:
    """One task: frames ``first``–``last`` of one scene."""

    args: argparse.Namespace  # the bake's arguments, with absolute paths
    options: BakeOptions  # the scene's bake
    scene: Path
    folder: Path  # the scene's output folder (a training layout's root)
    name: str  # the scene's sequence name
    first: int
    last: int

    def frames(self, options: BakeOptions) -> int:
        return sum(self.first <= frame <= self.last for frame in options.frames)


class ChunkReport(FrameReport):
    """One progress bar over all chunks (or a line per frame): a frame counts once, also when its chunk ran twice."""

    def __init__(self, total: int, out: TextIO, bar: bool) -> None:
        super().__init__(total, out, bar)
        self.total, self.done, self.lock = total, set(), threading.Lock()

    def frame_done(self, name: str, frame: int) -> None:
        with self.lock:
            if (name, frame) in self.done:
                return
            self.done.add((name, frame))
            if self.bar is None:
                print(f"{name} frame {frame:>5}  {len(self.done)}/{self.total}", file=self.out, flush=True)
            else:
                self.bar.set_postfix_str(f"{name} frame {frame}", refresh=False)
                self.bar.update(1)


@contextmanager
def tasks_on(scheduler: str | None) -> Iterator[Callable]:
    """``run_tasks(function, items, on_frame)``: yields (item, result) as tasks finish; on Dask with retries,
    without a scheduler one after another here."""
    if not scheduler:
        yield lambda function, items, on_frame=None: ((item, function(item, on_frame)) for item in items)
        return
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise FlowError(DASK_MISSING) from None
    with ExitStack() as stack:
        if scheduler.startswith("local:"):
            cluster = stack.enter_context(LocalCluster(n_workers=int(scheduler.partition(":")[2]), threads_per_worker=1,
                                                       processes=True, dashboard_address=None, silence_logs=50))
            client = stack.enter_context(Client(cluster))
            from distributed import WorkerPlugin

            plugin = type("IgnoreStops", (WorkerPlugin,), {"name": "optical-flow-ignore-stops", "setup": ignore_stops})
            client.register_plugin(plugin())
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=30))
            except (OSError, TimeoutError) as error:
                raise FlowError(f"--scheduler {scheduler}: no Dask scheduler answers there ({error}).") from None
            except ValueError as error:  # an address Dask cannot read, past scheduler_address's checks
                raise FlowError(f"--scheduler {scheduler} is not an address Dask can use ({error}): give "
                                "PROTOCOL://HOST:PORT such as tcp://10.0.0.5:8786.") from None

        def run_tasks(function: Callable, items: list, on_frame: Callable | None = None) -> Iterator[tuple]:
            if on_frame:
                client.subscribe_topic(PROGRESS_TOPIC, lambda event: on_frame(*event[1]))
            futures = {client.submit(on_worker, function, item, pure=False, retries=RETRIES): item for item in items}
            try:
                for future in as_completed(futures):
                    item = futures[future]
                    try:
                        result = future.result()
                    except Exception as error:  # the task's own error, after its retries
                        raise FlowError(f"{task_name(item)} failed {RETRIES + 1} times, the last time with "
                                        f"{type(error).__name__}: {error}") from None
                    if isinstance(result, FlowError):
                        raise result
                    yield item, result
            finally:
                client.cancel(list(futures))
                if on_frame:
                    client.unsubscribe_topic(PROGRESS_TOPIC)

        yield run_tasks


def ignore_stops(_plugin: object, worker: object) -> None:
    """A worker plugin's ``setup``, run in each ``local:N`` worker process: ignore Ctrl-C and SIGHUP, which a
    terminal sends to the whole process group, so that the worker ends as the coordinator closes the cluster
    instead of with a traceback of its own."""
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def on_worker(function: Callable, item: object) -> object:
    """A task on a Dask worker: its frames go to the coordinator's progress bar as worker events. A FlowError
    (bad settings, a broken scene) comes back as the task's result, so that Dask does not retry it."""
    from dask.distributed import get_worker

    worker = get_worker()
    try:
        return function(item, lambda name, frame: worker.log_event(PROGRESS_TOPIC, (name, frame)))
    except FlowError as error:
        return error


def task_name(item: object) -> str:
    if isinstance(item, Chunk):
        return f"The chunk of frames {item.first}-{item.last} of {item.scene}"
    return f"Reading {item[1]}"


def bake_process(args: argparse.Namespace, on_line: Callable[[str], None]) -> tuple[int, str]:
    """Run ``args`` in a Blender process of its own; its lines go to ``on_line`` as they come.
    Returns the exit status and the last line of its errors."""
    package = str(Path(__file__).resolve().parents[1])
    environment = {**os.environ, PARENT: str(os.getpid()),
                   "PYTHONPATH": os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=errors, env=environment, text=True)
        process.stdin.buffer.write(pickle.dumps(args))
        process.stdin.close()
        for line in process.stdout:
            on_line(line)
        status = process.wait()
        errors.seek(0)
        lines = errors.read().decode("utf-8", "replace").strip().splitlines()
    return status, lines[-1] if lines else ""


def plan_scene(item: tuple, _on_frame: object = None) -> tuple[BakeOptions, tuple[int, int]]:
    """Load a scene in its own process: the options of its bake and the size of its frames."""
    args, scene, folder = item
    lines: list[str] = []
    status, error = bake_process(argparse.Namespace(**{**vars(args), "scenes": [scene], "output": folder,
                                                       "scheduler": None, "plan_only": True}), lines.append)
    if status != 0:
        raise FlowError(f"{scene}: {error.removeprefix('error: ')}" if error.startswith("error: ")
                        else f"Reading {scene} ended with exit status {status}: {error}")
    plan = json.loads(lines[-1])
    resolution = tuple(plan.pop("resolution"))
    return BakeOptions.from_json(plan), resolution


def print_plan(args: argparse.Namespace, out: TextIO) -> int:
    """The bake process's answer to ``plan_scene``: the options as JSON, and the size of the frames."""
    from .blender.bake import check_scene, surface_motion_or_vector_pass
    from .blender.camera import blender_camera
    from .blender.scene_fingerprint import with_scene_fingerprint
    from .cli import prepare_bake

    scene, options = prepare_bake(args)
    check_scene(scene)
    # the options the bake processes will bake with, the scene's fingerprint included: the coordinator checks a
    # resumed folder against them and writes the chunks' merged manifest with them
    options = with_scene_fingerprint(scene, surface_motion_or_vector_pass(scene, options)[0])
    size = blender_camera(scene, scene.camera.data)
    print(json.dumps({**options.to_json(), "resolution": [size.width, size.height]}), file=out)
    return 0


class ChunkRefused(FlowError):
    """A chunk's bake refused its settings or its scene: the whole command stops, without retries."""


class ChunkFailed(RuntimeError):
    """A chunk's bake process died or crashed: Dask runs it again."""


def working_folder(chunk: Chunk) -> Path:
    return chunk.folder / f"{CHUNK_PREFIX}{chunk.name}_{chunk.first}-{chunk.last}"


def run_chunk(chunk: Chunk, on_frame: Callable[[str, int], None] | None) -> dict:
    """Bake one chunk in its own process into its working folder; returns the chunk's manifest. The coordinator
    moves its files into the scene folder (``move_in``), where it writes the manifest that lists them."""
    work = working_folder(chunk)
    args = argparse.Namespace(**{**vars(chunk.args), "scenes": [chunk.scene], "output": work, "scheduler": None,
                                 "frames": (chunk.first, chunk.last), "resume": True, "overwrite": False})

    def line(text: str) -> None:
        match = FRAME_LINE.match(text)
        if match and on_frame:
            on_frame(chunk.name, int(match.group(1)))

    status, error = bake_process(args, line)
    if error.startswith("error: "):  # the bake refused its settings or its scene: another try would too
        shutil.rmtree(work, ignore_errors=True)  # its process has ended; a bake with other settings starts afresh
        raise ChunkRefused(f"The chunk of frames {chunk.first}-{chunk.last} of {chunk.scene}: "
                        f"{error.removeprefix('error: ')}")
    if status != 0:
        raise ChunkFailed(f"its bake process ended with {describe(status)}{': ' + error if error else ''}")
    return bake_manifest(replace(chunk.options, output_dir=work))


def move_in(chunk: Chunk) -> None:
    """Move a finished chunk's files from its working folder into the scene folder, and remove the working folder."""
    work = working_folder(chunk)
    for path in chunk_files(replace(chunk.options, output_dir=work)):
        moved = chunk.folder / path.relative_to(work)
        moved.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, moved)
    shutil.rmtree(work)


def chunk_files(options: BakeOptions) -> list[Path]:
    """The files a chunk baked into its working folder, but its manifest: BlenderProc's files, or every file
    under the training layout's dataset folder (in the sequence's folders, to go to the same ones in the root)."""
    folder, manifest = options.output_dir, manifest_path(options)
    if options.training_sequence is None:
        return [path for path in own_files(folder) if path != manifest]
    return [path for path in sorted((folder / LAYOUTS[options.layout].folder).rglob("*"))
            if path.is_file() and path != manifest and not path.name.startswith(".")]


def describe(status: int) -> str:
    return f"signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"


def die_with_parent() -> None:
    """On Linux a chunk's bake process dies (SIGKILL) with the worker that started it, so the chunk's next try
    never finds it still at work."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if str(os.getppid()) != os.environ.get(PARENT):  # the worker died before the line above
        os._exit(128 + signal.SIGKILL)


def bake_process_main() -> None:
    die_with_parent()
    exit_now(run_guarded(pickle.loads(sys.stdin.buffer.read())))


if __name__ == "__main__":
    bake_process_main()
