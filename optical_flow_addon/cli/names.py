"""Names on disk: each scene's sequence name, checked against the file system before anything is made, and the
working folders of a scale-out's chunks (which a plain ``--resume`` removes too)."""
from __future__ import annotations

import argparse
import os
import re
import shutil
from pathlib import Path

from ..core.errors import FlowError
from ..core.limits import check_sequence_name
from ..core.options import BLENDERPROC
from ..core.output_folder import LOCK_NAME, lock_descriptor

CHUNK_PREFIX = ".optical_flow_chunk_"


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


def check_sequence_names(args: argparse.Namespace) -> None:
    """Refuse, before anything is loaded or made, a sequence name too long for the file names made from it."""
    if args.sequence is not None:
        names = [args.sequence]
    elif args.command == "bake" and (args.layout != BLENDERPROC or len(args.scenes) > 1 or args.scheduler):
        names = sequence_names(args.scenes)
    else:
        return  # a single BlenderProc bake's files are not named after the sequence
    for name in names:
        check_sequence_name(name, args.output,
                            "--sequence" if args.sequence is not None else f"The sequence name of {name[:20]}…")
