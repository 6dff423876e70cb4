"""Many scenes and chunks of frames in one command: each chunk bakes in its own Blender (``bpy``) process, on a
Dask cluster (``--scheduler``) or, for several scenes without one, one after another.

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

This module is the coordinator; ``tasks`` runs its tasks, and ``chunk_process`` is a chunk's bake process.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TextIO

from ..core.duration import duration
from ..core.errors import FlowError
from ..core.manifest import bake_manifest, merge_manifests
from ..core.options import BLENDERPROC, BakeOptions
from ..core.output_folder import BakeFolder, prepare_training_sequence
from .names import chunk_folders, remove_if_idle, sequence_names
from .shared import FrameReport, Stopped
from .tasks import Chunk, ChunkRefused, move_in, plan_scene, run_chunk, tasks_on, working_folder


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
            whole = {"flow_sequence.hdf5 grows frame by frame in order": "HDF5_SEQUENCE" in options.formats,
                     "tapvid.pkl holds the whole video": "TAPVID" in options.track_formats,
                     "Spring's cam_data files hold every frame's camera": options.layout == "SPRING"}
            if any(whole.values()) and size < len(options.frames):
                why = " and ".join(text for text, on in whole.items() if on)
                notes.append(f"{scene.name}: {why}, so its frames were one task.")
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
