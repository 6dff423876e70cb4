"""The scale-out's tasks: reading a scene and baking a chunk, each in a Blender (``bpy``) process of its own
(``chunk_process``), run on Dask with retries or one after another here; a finished chunk's files moved in."""
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import FlowError
from ..core.frame import own_files
from ..core.layouts import LAYOUTS
from ..core.manifest import bake_manifest, manifest_path
from ..core.options import BakeOptions
from .names import CHUNK_PREFIX

RETRIES = 2  # a chunk whose process died (killed, crashed) runs again this many times; one with bad settings does not
PROGRESS_TOPIC = "optical-flow-frames"
PARENT = "OPTICAL_FLOW_PARENT_PID"
FRAME_LINE = re.compile(r"frame\s+(-?\d+)\s")  # the bake's line per frame (shared.FrameReport)
CHUNK_PROCESS = "optical_flow_addon.cli.chunk_process"
DASK_MISSING = 'Dask is not installed: pip install "optical-flow-for-blender[dask]" (or dask[distributed]).'


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
    package = str(Path(__file__).resolve().parents[2])
    environment = {**os.environ, PARENT: str(os.getpid()),
                   "PYTHONPATH": os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([sys.executable, "-m", CHUNK_PROCESS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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
