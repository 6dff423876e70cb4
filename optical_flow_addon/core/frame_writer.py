"""A separate process that turns rendered EXRs into flow files while Blender renders the next frame.

A process rather than a thread: Blender 4.2 corrupts Python state when Python code runs in
another thread during a render. The worker imports only the pure core. Requests and replies
are JSON lines on stdin/stdout; one frame is in flight at a time.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

from .errors import FlowError
from .frame import convert_frame
from .options import BakeOptions

PACKAGE_PARENT = Path(__file__).resolve().parents[2]


def options_to_json(options: BakeOptions) -> dict:
    fields = dataclasses.asdict(options)
    return {**fields, "output_dir": str(options.output_dir), "formats": sorted(options.formats)}


def options_from_json(fields: dict) -> BakeOptions:
    return BakeOptions(**{**fields, "output_dir": Path(fields["output_dir"]), "formats": frozenset(fields["formats"])})


class FrameWriter:
    """Client side: start the worker, hand it one frame at a time, collect the written paths."""

    def __init__(self, options: BakeOptions, view_layer: str) -> None:
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_PARENT), *sys.path])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "optical_flow_addon.core.frame_writer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment, cwd=PACKAGE_PARENT,
        )
        self._send({"options": options_to_json(options), "view_layer": view_layer})
        self._frame: int | None = None

    def _send(self, message: dict) -> None:
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except OSError:
            raise self._stopped() from None

    def _stopped(self) -> FlowError:
        code = self._process.wait()
        return FlowError(f"The flow file writer stopped unexpectedly (exit code {code}) while writing frame {self._frame}.")

    def submit(self, exr_path: Path, frame: int) -> None:
        """Start writing a frame's files; the EXR is deleted once read."""
        self._frame = frame
        self._send({"exr": str(exr_path), "frame": frame})

    def result(self) -> list[Path]:
        """Wait for the submitted frame; raise its error if writing failed."""
        line = self._process.stdout.readline()
        if not line:
            raise self._stopped()
        self._frame = None
        reply = json.loads(line)
        if "error" in reply:
            raise FlowError(reply["error"]) if reply.get("user_error") else RuntimeError(reply["error"])
        return [Path(p) for p in reply["written"]]

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


def serve() -> None:
    """Worker side: first line sets up the bake, each further line is one frame."""
    setup = json.loads(sys.stdin.readline())
    options, view_layer = options_from_json(setup["options"]), setup["view_layer"]
    for line in sys.stdin:
        request = json.loads(line)
        exr_path = Path(request["exr"])
        try:
            written = convert_frame(exr_path, view_layer, request["frame"], options)
            reply = {"written": [str(p) for p in written]}
        except FlowError as error:
            reply = {"error": str(error), "user_error": True}
        except Exception:  # noqa: BLE001  a bug: send the whole traceback to the Blender side
            reply = {"error": traceback.format_exc()}
        exr_path.unlink(missing_ok=True)
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve()
