"""Fuzzed pose files: every reader either returns clean poses or raises FlowError, nothing else."""
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optical_flow_addon.core.camera import Intrinsics
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.poses import POSE_FORMATS, CameraPoses, read_camera_poses, write_camera_poses

settings.register_profile("pose_fuzz", max_examples=150, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings.get_profile("pose_fuzz")
FOLDER = Path(tempfile.mkdtemp(prefix="pose_fuzz_"))
NAMES = ("camera_positions", "poses.txt", "images.txt", "transforms.json", "poses.csv")
FORMAT_CHOICES = ("AUTO", *POSE_FORMATS)

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["0", "1", "-1", "0.7071067811865476", "1e400", "-0", "nan", "inf", "1_0", "0x10", "１"]),
)
tokens = st.one_of(numbers, st.sampled_from(["#", "x", "PINHOLE", "OPENCV_FISHEYE", "a.png", "{", "}", "[", "]", ",",
                                             '"frames"', ":", '"transform_matrix"', "\x00", "\t", "\r", "\u2028"]))
lines = st.lists(tokens, max_size=18).map(" ".join)
token_text = st.lists(lines, max_size=12).map("\n".join)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(-10**400, 10**400), st.text(max_size=5)),
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=5), children, max_size=4)),
    max_leaves=20,
)
IDENTITY = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
matrix_like = st.one_of(st.just(IDENTITY), st.just(IDENTITY),
                        st.lists(st.lists(json_values, min_size=3, max_size=5), min_size=3, max_size=5),
                        st.lists(st.lists(st.floats(-2, 2), min_size=4, max_size=4), min_size=4, max_size=4),
                        json_values)
# Well-formed frames, so that the code after the matrix checks (name order, intrinsics) is reached too.
intrinsics_values = st.one_of(st.floats(-1e4, 1e4), st.integers(-5, 5000), json_values)
well_formed_nerf = st.fixed_dictionaries(
    {"frames": st.lists(st.fixed_dictionaries({"transform_matrix": st.just(IDENTITY),
                                               "file_path": st.text("019²١_a./", max_size=8)}),
                        min_size=1, max_size=4)},
    optional={key: intrinsics_values for key in ("w", "h", "fl_x", "fl_y", "cx", "cy", "camera_angle_x", "k1")},
)
nerf_documents = st.fixed_dictionaries(
    {"frames": st.lists(st.one_of(st.fixed_dictionaries(
        {"transform_matrix": matrix_like},
        optional={"file_path": st.one_of(st.text("019²١_a.", max_size=8), json_values), "fl_x": json_values}),
        json_values), max_size=4)},
    optional={key: st.one_of(json_values, st.floats(-1e4, 1e4)) for key in
              ("w", "h", "fl_x", "fl_y", "cx", "cy", "camera_angle_x", "camera_angle_y", "k1", "p1")},
)


def valid_file(format_name: str, seed: int) -> Path:
    """A correct file of the format, to mutate."""
    rng = np.random.default_rng(seed)
    matrices = []
    for _ in range(3):
        q = rng.normal(size=4)
        w, x, y, z = q / np.linalg.norm(q)
        rotation = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                    [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                    [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = rotation, rng.uniform(-9, 9, 3)
        matrices.append(matrix)
    folder = FOLDER / f"valid_{format_name}_{seed}"
    folder.mkdir(exist_ok=True)
    path = folder / POSE_FORMATS[format_name].FILE_NAME
    write_camera_poses(path, CameraPoses(path, matrices, intrinsics=Intrinsics(64, 48, 50.0, 51.0, 31.0, 24.0)),
                       format_name, overwrite=True)
    return path


def read_or_flow_error(path: Path, format_name: str) -> None:
    try:
        poses = read_camera_poses(path, format_name)
    except FlowError as error:
        assert str(error)
        return
    for matrix in poses.matrices:  # whatever is accepted is a clean pose
        assert np.all(np.isfinite(matrix))
        np.testing.assert_allclose(matrix[:3, :3].T @ matrix[:3, :3], np.eye(3), atol=1e-9)
        assert np.linalg.det(matrix[:3, :3]) > 0


def write(name: str, content: bytes) -> Path:
    path = FOLDER / name
    path.write_bytes(content)
    return path


@FUZZ
@given(text=st.one_of(st.text(), token_text), name=st.sampled_from(NAMES), format_name=st.sampled_from(FORMAT_CHOICES))
def test_any_text_reads_or_raises_flow_error(text, name, format_name):
    read_or_flow_error(write(name, text.encode("utf-8")), format_name)


@FUZZ
@given(content=st.binary(), name=st.sampled_from(NAMES), format_name=st.sampled_from(FORMAT_CHOICES))
def test_any_bytes_read_or_raise_flow_error(content, name, format_name):
    read_or_flow_error(write(name, content), format_name)


@FUZZ
@given(format_name=st.sampled_from(list(POSE_FORMATS)), seed=st.integers(0, 3), data=st.data())
def test_mutated_valid_files_read_or_raise_flow_error(format_name, seed, data):
    path = valid_file(format_name, seed)
    target = data.draw(st.sampled_from([path, path.with_name("cameras.txt")])) if format_name == "COLMAP" else path
    original = target.read_text()
    text = original
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 40)))
        text = text[:start] + data.draw(st.one_of(st.just(""), tokens, lines, st.text(max_size=8))) + text[end:]
    target.write_text(text, encoding="utf-8")
    try:
        read_or_flow_error(path, data.draw(st.sampled_from([format_name, "AUTO"])))
    finally:
        target.write_text(original, encoding="utf-8")


small = st.sampled_from(["0"] * 3 + ["1"] * 3 + ["-1", "0.5", "2", "1e-9"] + ["nan", "-inf", "1e400", "x", "a.png"])
SHAPES = {"BLENDERPROC": [6], "MATRICES": [16, 4], "TUM": [8], "KITTI": [12], "COLMAP": [10, 0, 3]}


@pytest.mark.parametrize("format_name", SHAPES)
@FUZZ
@given(data=st.data())
def test_format_shaped_text_reads_or_raises_flow_error(format_name, data):
    """Lines with the format's own column counts (give or take one), from numbers such as 0, nan and junk."""
    counts = st.sampled_from(SHAPES[format_name]).flatmap(lambda n: st.sampled_from([n, n, n, max(n - 1, 0), n + 1]))
    rows = data.draw(st.lists(counts.flatmap(lambda n: st.lists(small, min_size=n, max_size=n)), max_size=10))
    name = data.draw(st.sampled_from(["poses.txt", "images.txt"]))
    chosen = data.draw(st.sampled_from([format_name, "AUTO"]))
    read_or_flow_error(write(name, "\n".join(map(" ".join, rows)).encode()), chosen)


@FUZZ
@given(document=st.one_of(well_formed_nerf, nerf_documents, json_values))
def test_any_json_document_reads_or_raises_flow_error(document):
    try:
        text = json.dumps(document)
    except ValueError:
        return
    read_or_flow_error(write("transforms.json", text.encode("utf-8")), "NERF")


@FUZZ
@given(cameras=st.one_of(token_text, st.lists(st.tuples(st.sampled_from(["1", "2", "x"]), st.sampled_from(
    ["PINHOLE", "SIMPLE_PINHOLE", "OPENCV", "FOV", "NOPE"]), numbers, numbers, st.lists(numbers, max_size=13))
    .map(lambda row: " ".join([*row[:4], *row[4]])), max_size=3).map("\n".join)))
def test_any_colmap_cameras_file_reads_or_raises_flow_error(cameras):
    folder = FOLDER / "colmap_cameras"
    folder.mkdir(exist_ok=True)
    (folder / "cameras.txt").write_text(cameras, encoding="utf-8")
    (folder / "images.txt").write_text("1 1 0 0 0 0 0 0 1 a.png\n\n2 1 0 0 0 1 0 0 2 b.png\n\n", encoding="utf-8")
    read_or_flow_error(folder / "images.txt", "COLMAP")


@pytest.mark.parametrize("format_name", POSE_FORMATS)
@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_any_rigid_poses_round_trip(format_name, data):
    """Random rotations (including awkward ones: 180° turns, gimbal lock) and translations survive a write
    and a read."""
    awkward = st.sampled_from([0.0, math.pi, -math.pi, math.pi / 2, -math.pi / 2])
    angle = st.one_of(st.floats(-math.pi, math.pi), awkward)
    matrices = []
    for _ in range(data.draw(st.integers(1, 4))):
        rx, ry, rz = (data.draw(angle) for _ in range(3))
        c, s = math.cos, math.sin
        rotation = (np.array([[c(rz), -s(rz), 0], [s(rz), c(rz), 0], [0, 0, 1]])
                    @ np.array([[c(ry), 0, s(ry)], [0, 1, 0], [-s(ry), 0, c(ry)]])
                    @ np.array([[1, 0, 0], [0, c(rx), -s(rx)], [0, s(rx), c(rx)]]))
        matrix = np.eye(4)
        matrix[:3, :3] = rotation
        matrix[:3, 3] = [data.draw(st.floats(-1e4, 1e4)) for _ in range(3)]
        matrices.append(matrix)
    folder = FOLDER / f"round_trip_{format_name}"
    folder.mkdir(exist_ok=True)
    path = folder / POSE_FORMATS[format_name].FILE_NAME
    write_camera_poses(path, CameraPoses(path, matrices), format_name, overwrite=True)
    np.testing.assert_allclose(read_camera_poses(path, format_name).matrices, matrices, atol=1e-9)
