"""A separate process that turns a frame's renders into its files while Blender renders the next frame.

A plain Python process rather than a thread in Blender, because:
- Blender 4.2 corrupts Python state when Python code runs in another thread during a render;
- inside a Linux ``blender`` program, Blender's own OpenEXR (and Debian's HDF5) libraries take
  over the ``OpenEXR`` and ``h5py`` wheels' copies and crash them.
The worker imports only the pure core. Requests and replies are JSON lines on stdin/stdout;
one frame is in flight at a time.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from .errors import FlowError
from .frame import check_modules, convert_frame
from .formats.hdf5 import add_tracks
from .frame_window import FrameWindow, read_frame
from .options import BakeOptions
from .output_folder import disk_full_error, is_disk_full
from .resume import whole_frames
from .tracks import read_tracks

PACKAGE_PARENT = Path(__file__).resolve().parents[2]
# glibc hands each frame's big arrays back to the system and faults fresh pages in for the next
# frame (8,000 page faults per 1280×720 EXR read, 19 ms instead of 6). Keeping freed memory in the
# heap reuses the same pages; the worker's memory stays at one frame's worth. Other C libraries
# ignore these variables.
KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**30)}
# numpy's matrix products would start a thread per core and spin against Cycles' render threads: on 2 busy
# cores, one frame's surface-motion maths took 1.8× as long with them.
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


class FrameWriter:
    """Client side: start the worker, hand it one frame at a time, collect the written paths."""

    def __init__(self, options: BakeOptions) -> None:
        environment = {**os.environ, **KEEP_FREED_MEMORY, **ONE_THREAD,
                       "PYTHONPATH": os.pathsep.join([str(PACKAGE_PARENT), *sys.path])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "optical_flow_addon.core.frame_writer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment, cwd=PACKAGE_PARENT,
        )
        self._frame: int | None = None
        self._starting = True  # its first reply, once it has checked its modules, is still to be read
        self._send({"options": options.to_json()})

    def ready(self) -> None:
        """Wait until the worker has started and checked its modules, or raise why it cannot write the frames.

        Python's start and the modules' imports (a fifth of a second) run while Blender prepares the scene: the bake
        asks for this just before its first render."""
        if self._starting:
            try:
                self._reply()
            except (FlowError, RuntimeError):
                self.close()
                raise
            finally:
                self._starting = False

    def _send(self, message: dict) -> None:
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except OSError:
            raise self._stopped() from None

    def _stopped(self) -> FlowError:
        code = self._process.wait()
        doing = "starting" if self._starting else f"writing frame {self._frame}"
        return FlowError(f"The flow file writer stopped unexpectedly (exit code {code}) while {doing}.")

    def submit(self, renders: dict[str, Path], view_layer: str, frame: int, motion: dict | None = None,
               write: bool = True) -> None:
        """Start writing a frame's files from its renders (by kind: ``image``, ``flow``); they are deleted once read.
        With ``motion`` (the camera ``view``, the rendered ``instances`` and their ``matrices``, and whether the
        render has ``locations``, see ``surface_motion.Frame``) the flow
        render holds the surface motion passes instead of the Vector pass, and the frame's files wait for the
        frames its flows point to; ``write`` False renders a frame only as such a partner."""
        self.ready()
        self._frame = frame
        self._send({"renders": {kind: str(path) for kind, path in renders.items()}, "view_layer": view_layer,
                    "frame": frame, "motion": motion, "write": write})

    def add_tracks(self, sequence_file: Path, tracks: Path) -> None:
        """Copy the arrays of a tracks file (``tracks.npz``) into the sequence HDF5 file, as its ``tracks`` group."""
        self.ready()
        self._send({"tracks": str(tracks), "sequence_file": str(sequence_file)})
        self._reply()

    def whole_frames(self, frames: list[int], width: int, height: int) -> list[int]:
        """The frames whose files are all there and whole (for resuming a bake)."""
        self.ready()
        self._send({"whole": frames, "width": width, "height": height})
        return self._reply()["whole"]

    def result(self) -> list[tuple[int, list[Path], dict | None]]:
        """Wait for the submitted frame; return the frames it completed with their files and self-check figures,
        or raise its error."""
        return [(frame, [Path(p) for p in paths], check) for frame, paths, check in self._reply()["written"]]

    def _reply(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            raise self._stopped()
        self._frame = None  # answered, even if with an error
        reply = json.loads(line)
        if "error" in reply:
            raise FlowError(reply["error"]) if reply.get("user_error") else RuntimeError(reply["error"])
        return reply

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Let a frame in flight finish (its files stay valid), then stop the worker."""
        if self._frame is not None:
            try:
                self.result()
            except (FlowError, RuntimeError):
                pass
        try:
            self._process.stdin.close()
        except OSError:  # the worker is already gone
            pass
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


def answer(work) -> dict:
    """Run ``work`` and turn its result or error into a reply line."""
    try:
        return work()
    except FlowError as error:
        return {"error": str(error), "user_error": True}
    except Exception:  # a bug: send the whole traceback to the Blender side
        return {"error": traceback.format_exc()}


def write_frame(renders: dict[str, Path], request: dict, options: BakeOptions, bytes_per_frame: list[int],
                window: FrameWindow) -> dict:
    """Convert one frame (with surface motion: every frame it completes); a full disk is said in those words,
    with what a frame needs."""
    folder, frame, view_layer, motion = options.output_dir, request["frame"], request["view_layer"], request["motion"]
    used = shutil.disk_usage(folder).used
    try:
        if motion:
            views, others = read_frame(renders, view_layer, motion, frame, options)
            done = window.add(frame, views, others, renders.get("image"), request["write"])
        else:
            done = [(frame, convert_frame(renders, view_layer, frame, options), None)]
    except Exception as error:
        if is_disk_full(error):
            raise disk_full_error(folder, frame, max(bytes_per_frame, default=0)) from error
        raise
    if done:
        bytes_per_frame += [(shutil.disk_usage(folder).used - used) // len(done)] * len(done)
    return {"written": [(f, [str(p) for p in paths], check) for f, paths, check in done]}


def reply(message: dict) -> bool:
    """Send a reply line to the bake; False when the bake has gone (killed), whose replies nobody reads."""
    try:
        print(json.dumps(message), flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's last flush at exit stays quiet
        return False
    return True


def serve() -> None:
    """Worker side: the first line sets up the bake (modules are checked), each further line is one frame.

    Signals are for the bake process, which stops after the frame in hand; the worker ends when its input does,
    or quietly when the bake has gone before its reply."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(10)  # Cycles keeps the cores; writing fits into the gaps of the next render
    options = BakeOptions.from_json(json.loads(sys.stdin.readline())["options"])
    if not reply(answer(lambda: check_modules(options) or {"ready": True})):
        return
    bytes_per_frame: list[int] = []
    window = FrameWindow(options)
    for line in sys.stdin:
        request = json.loads(line)
        if "whole" in request:
            done = answer(lambda: {"whole": whole_frames(options, request["whole"],
                                                         request["height"], request["width"])})
        elif "tracks" in request:
            done = answer(lambda: add_tracks(Path(request["sequence_file"]), read_tracks(Path(request["tracks"])))
                          or {"tracks": True})
        else:
            renders = {kind: Path(path) for kind, path in request["renders"].items()}
            done = answer(lambda: write_frame(renders, request, options, bytes_per_frame, window))
            for kind, path in renders.items():  # a waiting frame's images are copied when it completes
                if not (request["motion"] and kind.startswith("image")):
                    path.unlink(missing_ok=True)
        if not reply(done):
            return


if __name__ == "__main__":
    serve()
