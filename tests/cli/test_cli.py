"""``python -m optical_flow_addon`` as users run it, in a fresh process."""
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")

import scenes

ROOT = Path(__file__).resolve().parents[2]


def run(*arguments, timeout=300):
    return subprocess.run([sys.executable, "-m", "optical_flow_addon", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def wall_mesh(folder: Path) -> Path:
    """A 40 m square wall in an OBJ file: OBJ is y-up, so it stands at Blender y = 5."""
    mesh = folder / "wall.obj"
    mesh.write_text("v -20 -20 -5\nv 20 -20 -5\nv 20 20 -5\nv -20 20 -5\nf 1 2 3 4\n")
    return mesh


def test_demo_bakes_the_five_blenderproc_poses(tmp_path):
    result = run("demo", str(tmp_path), "--resolution", "80x60")
    assert result.returncode == 0, result.stderr
    assert "Flow for 5 frames written" in result.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["forward_flow_frames"] == [0, 1, 2, 3] and manifest["backward_flow_frames"] == [1, 2, 3, 4]
    assert manifest["resolution"] == {"width": 80, "height": 60}
    # pose 2 -> 3 (frames 1 -> 2, numbered from 0 as BlenderProc's example) moves the camera 2 m to the right
    flow, valid = np.load(tmp_path / "forward_flow_0001.npy"), np.load(tmp_path / "forward_flow_valid_0001.npy")
    assert np.median(flow[valid][:, 0]) < -1
    np.testing.assert_allclose(manifest["frames"][2]["camera_to_world"][0][3], 2.0, atol=1e-6)
    assert manifest["products"] == ["colors", "depth", "forward_flow", "forward_flow_valid", "forward_flow_occluded",
                                    "backward_flow", "backward_flow_valid", "backward_flow_occluded"]
    overview = scenes.png_pixels(tmp_path / "overview.png")
    from optical_flow_addon.core.overview import GAP, HEADER, LABEL_WIDTH
    assert overview.shape == (HEADER + 3 * (60 + GAP), LABEL_WIDTH + 5 * (80 + GAP), 3)  # images, forward, backward
    for column, frame in enumerate(range(0, 5)):
        left = LABEL_WIDTH + column * (80 + GAP)
        colors = scenes.png_pixels(tmp_path / f"colors_{frame:04d}.png")
        np.testing.assert_array_equal(overview[HEADER:HEADER + 60, left:left + 80], colors)


def test_bake_a_mesh_file_with_poses_and_frame_subrange(tmp_path):
    mesh = wall_mesh(tmp_path)
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0 1.5707963 0 0\n0.5 -5 0 1.5707963 0 0\n1 -5 0 1.5707963 0 0\n")
    out = tmp_path / "out"
    result = run("bake", str(mesh), str(out), "--poses", str(poses), "--resolution", "32x24",
                 "--frames", "1-2", "--formats", "npy")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [  # a mesh file's poses are frames 0-2, as BlenderProc numbers them
        "backward_flow_0001.npy", "backward_flow_0002.npy", "backward_flow_occluded_0001.npy",
        "backward_flow_occluded_0002.npy", "backward_flow_valid_0001.npy", "backward_flow_valid_0002.npy",
        "forward_flow_0001.npy", "forward_flow_occluded_0001.npy", "forward_flow_valid_0001.npy", "manifest.json"]
    assert np.all(np.load(out / "forward_flow_0001.npy")[..., 0] < 0)


def test_pose_conventions_from_the_command_line(tmp_path):
    """View matrices in OpenCV camera axes and centimetres: the flags say so, the manifest gets Blender poses."""
    mesh = wall_mesh(tmp_path)
    looking_along_y = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)  # OpenCV camera: x right, y down, z along +y
    lines = []
    for x_cm in (0, 50, 100):
        camera_to_world = np.eye(4)
        camera_to_world[:3, :3], camera_to_world[:3, 3] = looking_along_y, (x_cm, -500, 0)
        lines.append(" ".join(f"{v:.9g}" for v in np.linalg.inv(camera_to_world).ravel()))
    poses = tmp_path / "view_matrices.txt"
    poses.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = run("bake", str(mesh), str(out), "--poses", str(poses), "--resolution", "32x24", "--formats", "npy",
                 "--pose-format", "matrices", "--camera-axes", "opencv", "--pose-direction", "world_to_camera",
                 "--world-up", "z", "--pose-scale", "0.01")
    assert result.returncode == 0, result.stderr
    frames = json.loads((out / "manifest.json").read_text())["frames"]
    blender_axes = looking_along_y @ np.diag([1, -1, -1])  # Blender's camera looks along its -z
    for frame, x in zip(frames, (0.0, 0.5, 1.0)):
        pose = np.array(frame["camera_to_world"])
        np.testing.assert_allclose(pose[:3, 3], (x, -5, 0), atol=1e-5)
        np.testing.assert_allclose(pose[:3, :3], blender_axes, atol=1e-5)
    assert np.all(np.load(out / "forward_flow_0001.npy")[..., 0] < 0)  # camera moves right: the wall moves left
    result = run("bake", str(mesh), str(out), "--poses", str(poses), "--pose-direction", "sideways")
    assert result.returncode == 2 and "invalid choice: 'SIDEWAYS'" in result.stderr


def test_bad_input_is_one_clear_line_and_exit_code_1(tmp_path):
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0 1.5 0\n")
    result = run("demo", str(tmp_path / "out"), "--resolution", "16x12")
    assert result.returncode == 0
    result = run("bake", str(tmp_path / "missing.blend"), str(tmp_path / "o"))
    assert result.returncode == 1 and "error: Scene file" in result.stderr and "does not exist" in result.stderr
    mesh = tmp_path / "m.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    result = run("bake", str(mesh), str(tmp_path / "o"), "--poses", str(poses))
    assert result.returncode == 1 and "camera_positions, line 1: expected 6 numbers" in result.stderr
    assert "Traceback" not in result.stderr


def test_versions_agree():
    import optical_flow_addon

    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    bl_info_version = (ROOT / "__init__.py").read_text().split('"version": ')[1].split(")")[0] + ")"
    assert manifest["version"] == optical_flow_addon.__version__
    assert eval(bl_info_version) == tuple(int(p) for p in optical_flow_addon.__version__.split("."))


def test_inputs_are_checked_before_anything_renders(tmp_path):
    mesh = tmp_path / "m.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    poses = tmp_path / "camera_positions"
    poses.write_text("".join(f"{i} -5 0 1.5707963 0 0\n" for i in range(5)))
    bake = ("bake", str(mesh), str(tmp_path / "out"), "--poses", str(poses))
    for size in ("0x10", "-5x10", "16x70000"):
        result = run(*bake, f"--resolution={size}")
        assert result.returncode == 1, result.stdout
        assert (f"error: --resolution {size}: Blender renders widths and heights from 4 to 65536 pixels."
                in result.stderr)
    result = run(*bake, "--frames", "4-4", "--no-backward-flow")  # a mesh file's five poses are frames 0-4
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ("error: --frames 4–4 give no flow: frame 4 has no forward flow inside the sequence 0–4, and the other "
            "flow is turned off (--no-forward-flow or --no-backward-flow).") in result.stderr
    (tmp_path / "file").write_text("")
    not_a_folder = f"error: Output folder {tmp_path / 'file'} is a file, not a folder"
    result = run("bake", str(mesh), str(tmp_path / "file"), "--poses", str(poses), "--resolution", "16x12")
    assert result.returncode == 1 and not_a_folder in result.stderr
    result = run("demo", str(tmp_path / "file"), "--resolution", "16x12")
    assert result.returncode == 1 and not_a_folder in result.stderr
    broken = tmp_path / "broken.glb"
    broken.write_text("not a glTF file")
    result = run("bake", str(broken), str(tmp_path / "out"))
    assert result.returncode == 1 and result.stderr.startswith(f"error: Blender cannot import {broken}: ")
    assert not (tmp_path / "out").exists()


def test_frame_step_is_said_not_silently_ignored(tmp_path):
    scene = tmp_path / "stepped.blend"
    build = ("import bpy, sys; sys.path.insert(0, %r); "
             "from optical_flow_addon.blender.demo_scene import build_demo_scene\n"
             "scene = build_demo_scene(); scene.frame_end = 4; scene.frame_step = 2\n"
             "bpy.ops.wm.save_as_mainfile(filepath=%r)") % (str(ROOT), str(scene))
    subprocess.run([sys.executable, "-c", build], check=True, capture_output=True, timeout=120)
    result = run("bake", str(scene), str(tmp_path / "out"), "--resolution", "16x12", "--formats", "npy")
    assert result.returncode == 0, result.stderr
    assert ("note: The scene's Frame Step is 2, but flow is motion to the next and previous frame, "
            "so every frame was baked." in result.stdout)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["forward_flow_frames"] == [1, 2, 3]


def test_an_unexpected_error_is_one_line_and_a_prompt_exit(tmp_path):
    """A bug (here: one put in on purpose) still ends with a line that says so and exit status 1."""
    code = ("import sys; from optical_flow_addon.cli import command, shared, single\n"
            "def broken(args, out): raise KeyError('frame')\n"
            "single.bake = broken; shared.exit_now(command.main(sys.argv[1:]))")
    for verbose in ((), ("--verbose",)):
        result = subprocess.run([sys.executable, "-c", code, "demo", str(tmp_path), *verbose], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert result.stderr.endswith("error: unexpected KeyError: 'frame'. This is a bug: run again with --verbose "
                                      "and report what it prints.\n")
        assert ("Traceback" in result.stderr) == bool(verbose)


def test_a_progress_bar_on_a_terminal_lines_without_one_and_blenders_log_only_when_verbose(tmp_path):
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "optical_flow_addon", "demo", str(tmp_path / "bar"),
                                "--resolution", "16x12"], cwd=ROOT, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=120) == 0
    shown = shown.decode()
    assert "Baking flow: 100%" in shown and "5/5" in shown and ("frame/s" in shown or "s/frame" in shown)
    assert "Saved: " not in shown and "\nframe " not in shown
    assert re.search(r"Flow for 5 frames written to .*bar in [\d.]+ s: images, depth, forward flow and backward flow "
                     r"with masks, "
                     r"as hdf5, npy\.", shown)
    quiet = run("demo", str(tmp_path / "lines"), "--resolution", "16x12")
    assert [line.split()[:3] for line in quiet.stdout.splitlines()[:5]] == \
        [["frame", str(f), f"{f + 1}/5"] for f in range(0, 5)]
    assert "Saved: " not in quiet.stdout and "%|" not in quiet.stdout
    verbose = run("demo", str(tmp_path / "verbose"), "--resolution", "16x12", "--verbose")
    assert "Saved: " in verbose.stdout and "\nframe     4  5/5" in verbose.stdout


def test_samples_and_denoising_of_the_images_are_options_with_the_default_said(tmp_path):
    from optical_flow_addon.blender.demo_scene import DEMO_SAMPLES
    from optical_flow_addon.cli import scene as cli

    assert cli.DEMO_SAMPLES == DEMO_SAMPLES
    usage = run("bake", "--help").stdout
    assert "--samples N" in usage and "64 for a mesh file" in usage and "--denoise, --no-denoise" in usage
    mesh = tmp_path / "corner.obj"  # a floor and a wall: light bounces between them, noisy at few samples
    mesh.write_text("v -20 -1 -20\nv 20 -1 -20\nv 20 -1 20\nv -20 -1 20\n"
                    "v -20 -20 -6\nv 20 -20 -6\nv 20 20 -6\nv -20 20 -6\nf 1 2 3 4\nf 5 6 7 8\n")
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0.5 1.45 0 0\n0.2 -5 0.5 1.45 0 0\n")

    def noise(*options: str) -> float:  # Blender 5.0's render log no longer counts the samples: the image tells
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        result = run("bake", str(mesh), str(out), "--poses", str(poses), "--resolution", "32x24", "--images",
                     "--formats", "npy", *options)
        assert result.returncode == 0, result.stderr
        image = scenes.png_pixels(out / "colors_0000.png").astype(float)
        return float(np.abs(np.diff(image, axis=1)).mean())  # measured: 21, 2.4 and 1.1 (bpy 4.5 and 5.0)

    noisy, clean, default = noise("--samples", "1", "--no-denoise"), noise("--samples", "64", "--no-denoise"), noise()
    assert noisy > 4 * clean and clean > 1.5 * default, (noisy, clean, default)  # a mesh file: 64 samples, denoised
    result = run("bake", str(mesh), str(tmp_path / "o"), "--samples", "0")
    assert result.returncode == 2 and "--samples: expected a whole number of 1 or more, got '0'" in result.stderr


@pytest.mark.any_blender_line  # the command line's own checks: one Blender line is enough
def test_a_sequence_name_the_file_system_cannot_hold_is_refused_before_anything_is_made(tmp_path):
    mesh = wall_mesh(tmp_path)
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0 1.5707963 0 0\n0.5 -5 0 1.5707963 0 0\n1 -5 0 1.5707963 0 0\n")
    out = tmp_path / "out"
    for length in (250, 300):
        for extra in ((), ("--scheduler", "local:1")):
            result = run("bake", str(mesh), str(out), "--poses", str(poses), "--layout", "SINTEL", "--sequence",
                         "s" * length, "--resolution", "16x12", *extra)
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
            assert result.stderr.startswith(f"error: --sequence is {length} bytes long, but the file names made "
                                            "from it must fit in the file system's 255 bytes: give a name of at most "
                                            "191 bytes."), result.stderr
            assert not out.exists()
    assert run("bake", str(mesh), str(out), "--poses", str(poses), "--layout", "SINTEL", "--sequence", "s" * 191,
               "--resolution", "16x12", "--samples", "1").returncode == 0
    assert len(list((out / "Sintel" / "training" / "flow" / ("s" * 191)).glob("*.flo"))) == 2


@pytest.mark.any_blender_line  # the command line's own checks: one Blender line is enough
def test_a_resolution_that_cannot_fit_in_memory_is_refused_with_the_figures(tmp_path):
    mesh = wall_mesh(tmp_path)
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0 1.5707963 0 0\n0.5 -5 0 1.5707963 0 0\n")
    result = run("bake", str(mesh), str(tmp_path / "out"), "--poses", str(poses), "--resolution", "65536x65536")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.match(r"error: --resolution 65536x65536 needs about [\d,.]+ GB of memory for a frame \(\d+ bytes per "
                    r"pixel\), but [\d.,]+ GB is available\. Choose a smaller resolution", result.stderr), result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.any_blender_line  # the command line's own checks: one Blender line is enough
def test_help_version_and_a_negative_first_frame_read_as_users_expect(tmp_path):
    import optical_flow_addon

    for arguments in (("--help",), ("bake", "--help"), ("demo", "--help"), ("vis", "--help")):
        usage = run(*arguments)
        assert usage.returncode == 0 and "`" not in usage.stdout, usage.stdout  # no reStructuredText markup
    assert "Command line: python -m optical_flow_addon bake|demo with the bpy module" in run("--help").stdout
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout == f"python -m optical_flow_addon {optical_flow_addon.__version__}\n"
    result = run("bake", "scene.blend", str(tmp_path / "out"), "--frames", "-3-2")
    assert result.returncode == 2 and "argument --frames: expected one argument" in result.stderr
    assert "a first frame below 0 goes after an equals sign: --frames=-3-2" in result.stderr, result.stderr


@pytest.mark.any_blender_line  # the command line's own checks: one Blender line is enough
def test_a_mesh_file_without_poses_names_the_poses_option(tmp_path):
    mesh = wall_mesh(tmp_path)
    result = run("bake", str(mesh), str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == (f"error: {mesh} brings no camera: give the camera's poses with --poses FILE "
                             "(a pose file in any of the formats docs/how-to/camera-poses.md lists).\n")


def test_the_dask_summary_says_its_time_as_a_plain_bake_does():
    from optical_flow_addon.cli import scale_out
    from optical_flow_addon.blender import bake_job

    assert scale_out.duration is bake_job.duration and scale_out.duration(108.4) == "1 min 48 s"


def absent_gpu() -> str | None:
    """A GPU kind Cycles finds no device of here (asked without changing the preferences), None if all are present."""
    from optical_flow_addon.blender.render_device import check_device
    from optical_flow_addon.core.errors import FlowError
    from optical_flow_addon.core.render_devices import GPU_BEST_FIRST

    for kind in GPU_BEST_FIRST:
        try:
            check_device(kind)
        except FlowError:
            return kind
    return None


@pytest.mark.any_blender_line  # the command line's own checks: one Blender line is enough
def test_a_render_device_not_present_is_refused_before_anything_is_made_and_the_summary_names_the_device(tmp_path):
    mesh = wall_mesh(tmp_path)
    poses = tmp_path / "camera_positions"
    poses.write_text("0 -5 0 1.5707963 0 0\n0.5 -5 0 1.5707963 0 0\n")
    bake = ("bake", str(mesh), str(tmp_path / "out"), "--poses", str(poses), "--resolution", "16x12", "--samples", "1")
    kind = absent_gpu()
    if kind is not None:
        result = run(*bake, "--device", kind.lower())
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith(f"error: --device {kind}: Cycles finds no ") and " Present: " in result.stderr
        assert not (tmp_path / "out").exists()
    result = run(*bake, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("as hdf5, npy. Rendered on CPU."), result.stdout
