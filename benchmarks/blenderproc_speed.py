"""Our default bake against BlenderProc 2.8's render_optical_flow, on the same heavy scene and frames.

Run with the bpy 4.2 module (BlenderProc 2.8 is made for Blender 4.2), BlenderProc's environment built:
    tools/venv.sh blenderproc && "$(tools/venv.sh 4.2)" benchmarks/blenderproc_speed.py
The full grid: --frames 5,24 --resolutions 640x480,1280x720 --rounds 3.

bake_speed.py's heavy scene (moving objects, moving camera) is saved as a .blend with its camera's pose at each
frame. Each round runs, in turn and each in a fresh process (the order swapped every round):
- ours: the .blend opened, the default bake (both flows, masks, occlusion, the self-check; .npy + HDF5) of its
  frames, as the command line and the Render Flow button bake them;
- BlenderProc: `blenderproc run` of a script that does what BlenderProc's optical-flow example does: bproc.init()
  (but for its switch of the interface language, which the bpy module lacks), the .blend's objects loaded, the
  camera poses set with bproc.camera.add_camera_pose, then
  bproc.renderer.render_optical_flow(get_backward_flow=True, get_forward_flow=True,
  blender_image_coordinate_style=False), and the flow saved with bproc.writer.write_hdf5 as the example saves it.
- the Cycles floor: the .blend opened, its frames rendered by Cycles with the bake's settings and only the Depth
  pass (the least any flow render writes), nothing read or converted: what no bake that renders the frames with
  Cycles can go below. Its ratio to BlenderProc is the lowest ours can reach on this machine.
Only the flow's own call is timed in each process (not the start, the import or the loading): ms per frame,
with each round's ratio to BlenderProc (median, lowest–highest).

`blenderproc run` starts a Blender executable, which it downloads unless given --custom-blender-path. No Blender
is installed here, so BlenderProc is pointed at a small stand-in that has a Blender installation's layout
(blender_shim): its `blender` runs the script with a Python whose site-packages hold the bpy 4.2 module, at
4.2/python/bin/python3.11, where BlenderProc looks for Blender's Python. BlenderProc's own code runs unchanged:
its launcher, its setup (which pip-installs its pinned packages into custom-python-packages on the first run, as
on any first run of BlenderProc: that needs PyPI once) and its rendering.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bpy
import h5py
import numpy as np
from bake_speed import floor_ms, heavy_scene, run_and_exit, set_resolution, silence_blender, table

from optical_flow_addon.blender.bake import bake_flow
from optical_flow_addon.core.options import BakeOptions

ROOT = Path(__file__).resolve().parents[1]
BLENDERPROC_VENV = ROOT / ".venv" / "blenderproc"
BPY_VENV = ROOT / ".venv" / "4.2"

# Run by `blenderproc run`: BlenderProc demands that its import comes first.
BLENDERPROC_SCRIPT = '''import blenderproc as bproc
import json
import sys
import time

import bpy
import numpy as np
from blenderproc.python.renderer import RendererUtility
from blenderproc.python.utility.GlobalStorage import GlobalStorage
from blenderproc.python.utility.Initializer import _Initializer

blend, poses_path, output = sys.argv[1:4]
poses = json.loads(open(poses_path).read())
# bproc.init() line by line but for its switch of the interface language to "en_US": the bpy module has no
# translations (its only language is "DEFAULT"), so that switch raises there, and it changes nothing rendered.
bproc.clean_up(clean_up_camera=True)
bpy.context.scene.render.engine = "CYCLES"
RendererUtility.set_render_devices()
_Initializer.set_default_parameters()
GlobalStorage.add("bproc_init_complete", True)
bproc.loader.load_blend(blend, obj_types=["mesh", "light"])
bproc.camera.set_intrinsics_from_blender_params(lens=poses["lens"], image_width=poses["width"],
                                                image_height=poses["height"], clip_start=poses["clip_start"],
                                                clip_end=poses["clip_end"], lens_unit="MILLIMETERS")
for frame, matrix in poses["frames"]:
    bproc.camera.add_camera_pose(np.array(matrix), frame)
bpy.context.scene.frame_start = poses["frames"][0][0]
frames = bpy.context.scene.frame_end - bpy.context.scene.frame_start
started = time.perf_counter()
data = bproc.renderer.render_optical_flow(get_backward_flow=True, get_forward_flow=True,
                                          blender_image_coordinate_style=False)
flowed = time.perf_counter()
bproc.writer.write_hdf5(output, data)
written = time.perf_counter()
assert len(data["forward_flow"]) == frames and data["forward_flow"][0].shape == (poses["height"], poses["width"], 2)
print("BLENDERPROC_MS", (flowed - started) * 1000 / frames, (written - started) * 1000 / frames, flush=True)
'''

BLENDER_SHIM = '''#!{python}
"""A stand-in for the `blender` executable that `blenderproc run` starts: runs --python's script as Blender does
(background, sys.argv as Blender's, exit code 2 on an error), with the bpy module of this Python."""
import os
import runpy
import sys
import traceback

argv = sys.argv[1:]
script = argv[argv.index("--python") + 1]
sys.argv = [os.path.abspath(__file__)] + argv
status = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as stop:
    status = stop.code if isinstance(stop.code, int) else 1
except BaseException:
    traceback.print_exc()
    status = 2
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)  # without Blender's teardown, as the benchmarks leave
'''


def blender_shim() -> Path:
    """A folder laid out as a Blender 4.2 installation (``blender``, ``4.2/python/bin/python3.11``), made once.

    Its Python is a virtual environment over the system's Python 3.11 (BlenderProc's setup pip-installs with
    ``--user``, which a venv allows only with the system's site-packages) that also sees the bpy 4.2 environment's
    site-packages, as Blender's own Python sees bpy; BlenderProc installs its packages beside it on the first run.
    """
    shim = BLENDERPROC_VENV / "bpy-blender-4.2"
    python = shim / "4.2" / "python" / "bin" / "python3.11"
    if not python.exists():
        subprocess.run(["python3.11", "-m", "venv", "--system-site-packages", "--without-pip",
                        str(shim / "4.2" / "python")], check=True)
        site = shim / "4.2" / "python" / "lib" / "python3.11" / "site-packages"
        (site / "bpy_4_2.pth").write_text(str(BPY_VENV / "lib" / "python3.11" / "site-packages") + "\n")
    blender = shim / "blender"
    blender.write_text(BLENDER_SHIM.format(python=python))
    blender.chmod(0o755)
    return shim


def save_scene(frames: int, width: int, height: int, folder: Path, plain: bool = False) -> tuple[Path, Path]:
    """The heavy scene as a .blend, and its camera (lens, clipping, pose at each frame) as JSON.

    ``plain``: its meshes without their costly material (Blender's default surface instead).
    """
    scene, _ = heavy_scene(frames)
    if plain:
        for obj in scene.objects:
            if obj.type == "MESH":
                obj.data.materials.clear()
    set_resolution(scene, width, height)
    camera = scene.camera
    poses = {"lens": camera.data.lens, "clip_start": camera.data.clip_start, "clip_end": camera.data.clip_end,
             "width": width, "height": height, "frames": []}
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        poses["frames"].append([frame, [list(row) for row in camera.matrix_world]])
    scene.frame_set(scene.frame_start)
    blend, poses_path = folder / "scene.blend", folder / "camera_poses.json"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    poses_path.write_text(json.dumps(poses))
    return blend, poses_path


def ours_ms(blend: Path, output: Path, tool: str = "ours") -> float:
    """Our default bake (or with ``tool`` "floor" the Cycles floor) of the .blend's frames in a fresh process; ms per
    frame of the bake alone."""
    result = subprocess.run([sys.executable, __file__, f"--{tool}", str(blend), str(output)],
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{tool} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return float(result.stdout.split("OURS_MS")[-1].split()[0])


def blenderproc_ms(shim: Path, blend: Path, poses: Path, folder: Path) -> tuple[float, float]:
    """`blenderproc run` of BLENDERPROC_SCRIPT; ms per frame of render_optical_flow, and with write_hdf5."""
    script = folder / "blenderproc_flow.py"
    script.write_text(BLENDERPROC_SCRIPT)
    output = folder / "blenderproc_output"
    result = subprocess.run([str(BLENDERPROC_VENV / "bin" / "blenderproc"), "run", "--custom-blender-path", str(shim),
                             "--temp-dir", str(folder / "blenderproc_temp"), str(script), str(blend), str(poses),
                             str(output)], capture_output=True, text=True)
    if result.returncode or "BLENDERPROC_MS" not in result.stdout:
        raise RuntimeError(f"BlenderProc failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    flow, with_hdf5 = result.stdout.split("BLENDERPROC_MS")[-1].split()[:2]
    return float(flow), float(with_hdf5)


def agreement(ours: Path, blenderproc: Path) -> tuple[int, int]:
    """How many of our valid flow pixels BlenderProc's flow (its .hdf5 files, one per frame) matches to 0.1 px, and
    how many there are: the check that both rendered the same scene and frames. Each BlenderProc file is removed
    once read (write_hdf5 merges into the files it finds)."""
    agree = valid_pixels = 0
    for path in sorted(blenderproc.glob("*.hdf5")):
        frame = int(path.stem)
        with h5py.File(path) as file:
            for name in ("forward_flow", "backward_flow"):
                if (ours / f"{name}_{frame:04d}.npy").exists():  # ours has no flow out of the frame range
                    valid = np.load(ours / f"{name}_valid_{frame:04d}.npy")
                    difference = np.abs(np.load(ours / f"{name}_{frame:04d}.npy") - file[name][()]).max(axis=-1)
                    agree += int(np.count_nonzero(difference[valid] <= 0.1))
                    valid_pixels += int(np.count_nonzero(valid))
        path.unlink()
    return agree, valid_pixels


def bake_ours(blend: Path, output: Path, floor: bool) -> None:
    """--ours: the .blend opened, its frames baked with the default options; --floor: only rendered as the Cycles
    floor; prints ms per frame."""
    report = silence_blender()
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    if floor:
        print("OURS_MS", floor_ms(scene, frames, vector_pass=False), file=report)
        return
    options = BakeOptions(output, scene.frame_start, scene.frame_end, overwrite=True)
    started = time.perf_counter()
    for _ in bake_flow(scene, options):
        pass
    print("OURS_MS", (time.perf_counter() - started) * 1000 / len(frames), file=report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="5", help="frame counts, comma-separated (each its own scene)")
    parser.add_argument("--resolutions", default="640x480")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (ours, BlenderProc), order swapped each")
    parser.add_argument("--plain-material", action="store_true",
                        help="the meshes without the heavy scene's costly material (shows what shading costs "
                             "BlenderProc, which renders the scene's own materials)")
    parser.add_argument("--ours", nargs=2, metavar=("BLEND", "OUTPUT"), help=argparse.SUPPRESS)
    parser.add_argument("--floor", nargs=2, metavar=("BLEND", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours or args.floor:
        bake_ours(*(Path(p) for p in args.ours or args.floor), floor=bool(args.floor))
        return
    if not (BLENDERPROC_VENV / "bin" / "blenderproc").exists():
        sys.exit("BlenderProc's environment is missing: run tools/venv.sh blenderproc")
    report = silence_blender()
    shim = blender_shim()
    agreed = [0, 0]  # pixels where both flows agree, our valid pixels
    print(f"Blender {bpy.app.version_string} (bpy module) for both, {os.cpu_count()} CPU cores, "
          f"{'plain' if args.plain_material else 'costly'} material; "
          f"load average at the start {os.getloadavg()[0]:.1f}\n", file=report)
    rows = [["frames", "resolution", "ours ms/frame", "BlenderProc render_optical_flow ms/frame",
             "BlenderProc + write_hdf5 ms/frame", "ratio ours/render_optical_flow", "ratio ours/(+ write_hdf5)",
             "Cycles floor ms/frame", "ratio floor/(+ write_hdf5)"]]
    for frames in (int(n) for n in args.frames.split(",")):
        for width, height in (tuple(int(v) for v in r.split("x")) for r in args.resolutions.split(",")):
            with tempfile.TemporaryDirectory() as temp:
                folder = Path(temp)
                blend, poses = save_scene(frames, width, height, folder, args.plain_material)
                ours, flow, with_hdf5, floor = [], [], [], []
                for round_ in range(args.rounds):
                    for tool in ("ours", "floor", "blenderproc")[::-1 if round_ % 2 else 1]:
                        if tool == "ours":
                            ours.append(ours_ms(blend, folder / "ours"))
                        elif tool == "floor":
                            floor.append(ours_ms(blend, folder / "floor", tool))
                        else:
                            flow_ms, with_hdf5_ms = blenderproc_ms(shim, blend, poses, folder)
                            flow.append(flow_ms)
                            with_hdf5.append(with_hdf5_ms)
                    agree, valid_pixels = agreement(folder / "ours", folder / "blenderproc_output")
                    if not valid_pixels or agree < 0.999 * valid_pixels:  # one sample a pixel: silhouettes differ
                        raise RuntimeError(f"BlenderProc's flow matches ours on {agree} of {valid_pixels} pixels: "
                                           "not the same scene and frames")
                    agreed[0] += agree
                    agreed[1] += valid_pixels
                ratios = sorted(o / b for o, b in zip(ours, flow))
                ratios_hdf5 = sorted(o / b for o, b in zip(ours, with_hdf5))
                floor_ratios = sorted(o / b for o, b in zip(floor, with_hdf5))
                rows.append([str(frames), f"{width}x{height}", f"{median(ours):.0f}", f"{median(flow):.0f}",
                             f"{median(with_hdf5):.0f}",
                             f"{median(ratios):.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})",
                             f"{median(ratios_hdf5):.2f} ({ratios_hdf5[0]:.2f}–{ratios_hdf5[-1]:.2f})",
                             f"{median(floor):.0f}",
                             f"{median(floor_ratios):.2f} ({floor_ratios[0]:.2f}–{floor_ratios[-1]:.2f})"])
                print(table(rows), "\n", file=report)
    print(f"Medians of {args.rounds} rounds; load average at the end {os.getloadavg()[0]:.1f}. BlenderProc's flow "
          f"matches ours to 0.1 px on all but {agreed[1] - agreed[0]} of our {agreed[1]} valid pixels (those lie on "
          "silhouettes, where one sample a pixel may land on either surface)", file=report)


if __name__ == "__main__":
    run_and_exit(main)
