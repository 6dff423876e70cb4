"""Pose files, conventions and intrinsics, without bpy. Expected matrices are written out by hand."""
import math

import numpy as np
import pytest

from optical_flow_addon.core.camera import BlenderCamera, Intrinsics
from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.poses import (POSE_FORMATS, CameraPoses, detect_format, read_camera_poses,
                                           write_camera_poses)
from optical_flow_addon.core.transforms import Convention

S = math.sqrt(0.5)
FLIP = np.diag([1.0, -1, -1])  # OpenCV camera axes -> Blender camera axes


def pose(rotation, position):
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, position
    return matrix


def read_one(tmp_path, name, text, *args, **kwargs):
    path = tmp_path / name
    path.write_text(text)
    return read_camera_poses(path, *args, **kwargs)


def test_blenderproc_file_with_comments(tmp_path):
    text = "# x y z rx ry rz\n0 -10 4 1.3 0 0 # start\n\n1 2 3 0 0 1.5707963267948966\n"
    poses = read_one(tmp_path, "camera_positions", text)
    assert len(poses.matrices) == 2
    np.testing.assert_allclose(poses.matrices[0][:3, 3], [0, -10, 4])
    # 90° about z maps the camera's x axis to world y
    np.testing.assert_allclose(poses.matrices[1], pose([[0, -1, 0], [1, 0, 0], [0, 0, 1]], [1, 2, 3]), atol=1e-12)


def test_tum_is_camera_to_world_with_scalar_last_quaternion_in_opencv_axes(tmp_path):
    text = f"# timestamp tx ty tz qx qy qz qw\n1.5 1 2 3 0 0 {S} {S}\n2.0 0 0 0 0 0 0 1\n"
    poses = read_one(tmp_path, "groundtruth.txt", text)
    rz90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(poses.matrices[0], pose(rz90 @ FLIP, [1, 2, 3]), atol=1e-12)
    np.testing.assert_allclose(poses.matrices[1], pose(FLIP, [0, 0, 0]), atol=1e-12)
    assert poses.times == [1.5, 2.0]


def test_kitti_world_is_the_first_camera_with_y_down(tmp_path):
    poses = read_one(tmp_path, "00.txt", "1 0 0 1 0 1 0 2 0 0 1 3\n")
    # the camera looks along the file's +z (Blender +y), its image up is the file's -y (Blender +z)
    expected = pose([[1, 0, 0], [0, 0, -1], [0, 1, 0]], [1, 3, -2])
    np.testing.assert_allclose(poses.matrices[0], expected, atol=1e-12)
    np.testing.assert_allclose(-poses.matrices[0][:3, 2], [0, 1, 0], atol=1e-12)  # viewing direction
    same_world = read_one(tmp_path, "01.txt", "1 0 0 1 0 1 0 2 0 0 1 3\n", world_up="Z")
    np.testing.assert_allclose(same_world.matrices[0], pose(FLIP, [1, 2, 3]), atol=1e-12)


def test_colmap_is_world_to_camera_sorted_by_name_with_intrinsics(tmp_path):
    (tmp_path / "cameras.txt").write_text("# Camera list\n7 PINHOLE 640 480 500 510 320.5 240.25\n")
    path = tmp_path / "images.txt"
    path.write_text("# Image list with two lines of data per image:\n"
                    "2 1 0 0 0 1 2 3 7 frame_10.png\n\n"
                    f"1 {S} 0 0 {S} 0 0 0 7 frame_2.png\n1.0 2.0 -1\n")
    poses = read_camera_poses(path)
    assert poses.names == ["frame_2.png", "frame_10.png"]
    rz90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])  # world-to-camera rotation of frame_2
    np.testing.assert_allclose(poses.matrices[0], pose(rz90.T @ FLIP, [0, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(poses.matrices[1], pose(FLIP, [-1, -2, -3]), atol=1e-12)
    # COLMAP puts the image corner at (0, 0); ours is the centre of the first pixel
    assert poses.intrinsics == Intrinsics(640, 480, 500.0, 510.0, 320.0, 239.75)


def test_colmap_distortion_and_missing_cameras_are_reported(tmp_path):
    path = tmp_path / "images.txt"
    path.write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
    poses = read_camera_poses(path)
    assert poses.intrinsics is None and "No cameras.txt" in poses.notes[0]
    (tmp_path / "cameras.txt").write_text("1 SIMPLE_RADIAL 100 50 80 50 25 0.1\n")
    poses = read_camera_poses(path)
    assert poses.intrinsics == Intrinsics(100, 50, 80.0, 80.0, 49.5, 24.5) and "distortion" in poses.notes[0]
    (tmp_path / "cameras.txt").write_text("1 OPENCV_FISHEYE 100 50 80 80 50 25 0 0 0 0\n")
    poses = read_camera_poses(path)
    assert poses.intrinsics is None and "OPENCV_FISHEYE" in poses.notes[0]


def test_nerf_frames_in_file_path_order_with_intrinsics(tmp_path):
    text = ('{"fl_x": 300, "fl_y": 310, "cx": 160, "cy": 120.5, "w": 320, "h": 240, "frames": ['
            '{"file_path": "./r_10", "transform_matrix": [[1,0,0,4],[0,1,0,5],[0,0,1,6],[0,0,0,1]]},'
            '{"file_path": "./r_9", "transform_matrix": [[0,-1,0,1],[1,0,0,2],[0,0,1,3],[0,0,0,1]]}]}')
    poses = read_one(tmp_path, "transforms.json", text)
    assert poses.names == ["./r_9", "./r_10"] and "file_path order" in poses.notes[0]
    np.testing.assert_allclose(poses.matrices[0], pose([[0, -1, 0], [1, 0, 0], [0, 0, 1]], [1, 2, 3]))
    np.testing.assert_allclose(poses.matrices[1], pose(np.eye(3), [4, 5, 6]))
    assert poses.intrinsics == Intrinsics(320, 240, 300.0, 310.0, 159.5, 120.0)


def test_image_names_sort_by_their_numbers_whatever_the_characters(tmp_path):
    frames = ", ".join(f'{{"file_path": "{name}", "transform_matrix": [[1,0,0,{i}],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}}'
                       for i, name in enumerate(["img_10²", "img_9²", "b", "a١٢"]))  # ١٢: Arabic-Indic 12
    poses = read_one(tmp_path, "transforms.json", f'{{"frames": [{frames}]}}')
    assert poses.names == ["a١٢", "b", "img_9²", "img_10²"]


def test_nerf_camera_angle_x_alone_is_a_field_of_view(tmp_path):
    text = ('{"camera_angle_x": 0.6911112070083618, '
            '"frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}]}')
    poses = read_one(tmp_path, "transforms.json", text)
    assert poses.intrinsics is None and poses.field_of_view == pytest.approx(0.6911112070083618)
    with_size = read_one(tmp_path, "t.json", text.replace('"frames"', '"w": 800, "h": 800, "frames"'))
    assert with_size.intrinsics.fx == pytest.approx(400 / math.tan(0.6911112070083618 / 2))
    assert (with_size.intrinsics.cx, with_size.intrinsics.cy) == (399.5, 399.5)


def test_matrices_four_rows_per_pose_as_world_to_camera(tmp_path):
    text = "0 1 0 0\n-1 0 0 0\n0 0 1 -5\n0 0 0 1\n\n1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"
    poses = read_one(tmp_path, "view.txt", text, "MATRICES", direction="WORLD_TO_CAMERA", camera_axes="OPENCV")
    # the inverse of [Rz(-90) | (0, 0, -5)] is [Rz(90) | (0, 0, 5)], then OpenCV -> Blender camera axes
    np.testing.assert_allclose(poses.matrices[0], pose(np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ FLIP, [0, 0, 5]),
                               atol=1e-12)
    np.testing.assert_allclose(poses.matrices[1], pose(FLIP, [0, 0, 0]), atol=1e-12)


def test_world_up_and_scale(tmp_path):
    line = " ".join(map(str, pose(np.eye(3), [1, 2, 3]).ravel())) + "\n"
    y_up = read_one(tmp_path, "a.txt", line, "MATRICES", world_up="Y", scale=2.0).matrices[0]
    np.testing.assert_allclose(y_up[:3, 3], [2, -6, 4])  # (x, y, z) -> (x, -z, y), times 2
    np.testing.assert_allclose(y_up[:3, 1], [0, 0, 1])  # the camera's up (file +y) is Blender's +z
    y_down = read_one(tmp_path, "b.txt", line, "MATRICES", world_up="NEG_Y").matrices[0]
    np.testing.assert_allclose(y_down[:3, 3], [1, 3, -2])
    np.testing.assert_allclose(y_down[:3, 1], [0, 0, -1])


def test_conventions_invert_each_other():
    rng = np.random.default_rng(3)
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    matrix = pose(rotation, rng.normal(size=3))
    for convention in (Convention("OPENCV", "WORLD_TO_CAMERA", "Y", 0.01),
                       Convention("BLENDER", "CAMERA_TO_WORLD", "NEG_Y", 3)):
        np.testing.assert_allclose(convention.from_blender(convention.to_blender(matrix)), matrix, atol=1e-12)
    with pytest.raises(FlowError, match="Scale must be a positive number"):
        Convention(scale=0.0)
    with pytest.raises(FlowError, match="Unknown camera axes 'ROS'"):
        Convention(camera_axes="ROS")


@pytest.mark.parametrize("name, text, format_name", [
    ("camera_positions", "0 0 0 0 0 0\n", "BLENDERPROC"),
    ("poses.txt", "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\n", "MATRICES"),
    ("poses.txt", "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "MATRICES"),
    ("trajectory.txt", "# tum\n1 0 0 0 0 0 0 1\n", "TUM"),
    ("00.txt", "1 0 0 0 0 1 0 0 0 0 1 0\n", "KITTI"),
    ("images.txt", "1 1 0 0 0 0 0 0 1 a.png\n\n", "COLMAP"),
    ("sparse.txt", "# Image list with two lines of data per image:\n1 1 0 0 0 0 0 0 1 a.png\n\n", "COLMAP"),
    ("transforms.json", '{"frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}]}', "NERF"),
])
def test_auto_detection(tmp_path, name, text, format_name):
    path = tmp_path / name
    path.write_text(text)
    assert detect_format(path, text).NAME == format_name
    np.testing.assert_array_equal(read_camera_poses(path).matrices, read_camera_poses(path, format_name).matrices)


@pytest.mark.parametrize("name, text, message", [
    ("images.txt", "0 0 0 0 0 0\n", r"could be BlenderProc or COLMAP Text; choose the format"),
    ("poses.csv", "0 0 0 0 0 0\n", r"no camera pose format uses the extension '.csv'"),
    ("poses.txt", "0 0 0 0 0 0 0\n", r"cannot tell the camera pose format from its first line '0 0 0 0 0 0 0'"),
    ("poses.txt", "# nothing\n\n", r"contains no camera poses"),
    ("poses.txt", "", r"contains no camera poses"),
])
def test_ambiguous_or_unknown_files_ask_for_the_format(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FlowError, match=message):
        read_camera_poses(path)


IDENTITY_16 = "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"
FRAME = '{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}'


@pytest.mark.parametrize("format_name, name, text, message", [
    ("BLENDERPROC", "p", "0 0 0 0 0\n", r"p, line 1: expected 6 numbers .*found 5"),
    ("BLENDERPROC", "p", "0 0 0 0 0 0\n0 0 x 0 0 0\n", r"p, line 2: expected 6 numbers"),
    ("BLENDERPROC", "p", "0 0 0 0 0 nan\n", r"p, line 1: numbers must be finite"),
    ("BLENDERPROC", "p", "# only a comment\n", r"p contains no camera poses"),
    ("MATRICES", "m.txt", IDENTITY_16 + "\n1 0 0\n", r"m.txt, line 2: expected 16 numbers"),
    ("MATRICES", "m.txt", IDENTITY_16.replace("1 0 0 0 0 1", "2 0 0 0 0 1", 1) + "\n",
     r"m.txt, line 1: the rotation part is not orthonormal .*Scale option"),
    ("MATRICES", "m.txt", IDENTITY_16.replace("1 0 0 0 0 1", "-1 0 0 0 0 1", 1) + "\n", r"line 1: .*mirror"),
    ("MATRICES", "m.txt", IDENTITY_16[:-1] + "2\n", r"m.txt, line 1: the last row must be 0 0 0 1, found 0 0 0 2"),
    ("MATRICES", "m.txt", "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n1 0 0 0\n0 1 0 0\n",
     r"m.txt, line 5: the last pose has only 2 of its 4 rows"),
    ("MATRICES", "m.txt", "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 1 1\n", r"m.txt, the pose on lines 1-4: the last row"),
    ("MATRICES", "m.txt", "1 0 0 0\n0 1 0 inf\n0 0 1 0\n0 0 0 1\n", r"m.txt, line 2: numbers must be finite"),
    ("TUM", "t.txt", "1 0 0 0 0 0 0 1\n2 0 0 0 0 0 0\n", r"t.txt, line 2: expected 8 numbers \(timestamp"),
    ("TUM", "t.txt", "1 0 0 0 0 0 0 2\n", r"t.txt, line 1: the quaternion must have length 1, found 2"),
    ("TUM", "t.txt", "1 0 0 0 0 0 0 0\n", r"t.txt, line 1: the quaternion must have length 1, found 0"),
    ("TUM", "t.txt", "2 0 0 0 0 0 0 1\n1 0 0 0 0 0 0 1\n", r"t.txt, line 2: timestamp 1 is not after the previous one"),
    ("KITTI", "k.txt", "1 0 0 0 0 1 0 0 0 0 1\n", r"k.txt, line 1: expected 12 numbers .*found 11"),
    ("KITTI", "k.txt", "1 0 0 0 0 1 0 0 0 0.5 1 0\n", r"k.txt, line 1: the rotation part is not orthonormal"),
    ("COLMAP", "images.txt", "1 1 0 0 0 0 0 0 1\n",
     r"images.txt, line 1: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME"),
    ("COLMAP", "images.txt", "x 1 0 0 0 0 0 0 1 a.png\n\n",
     r"images.txt, line 1: IMAGE_ID must be a whole number, found 'x'"),
    ("COLMAP", "images.txt", "1 1 0 0 0 0 0 0 0.5 a.png\n\n",
     r"images.txt, line 1: CAMERA_ID must be a whole number, found '0.5'"),
    ("COLMAP", "images.txt", "1 1 0 0 z 0 0 0 1 a.png\n\n",
     r"images.txt, line 1: expected 7 numbers \(QW QX QY QZ TX TY TZ\)"),
    ("COLMAP", "images.txt", "1 2 0 0 0 0 0 0 1 a.png\n\n", r"images.txt, line 1: the quaternion must have length 1"),
    ("COLMAP", "images.txt", "1 1 0 0 0 0 0 0 1 a.png\n2 1 0 0 0 0 0 0 1 b.png\n\n",
     r"images.txt, line 2: expected the 2D points of image 'a.png'"),
    ("COLMAP", "images.txt", "1 1 0 0 0 0 0 0 1 a.png\n\n1 1 0 0 0 0 0 0 1 b.png\n\n",
     r"images.txt, line 3: image id 1 is used twice \(also on line 1\)"),
    ("COLMAP", "images.txt", "1 1 0 0 0 0 0 0 1 a.png\n\n2 1 0 0 0 0 0 0 1 a.png\n\n",
     r"images.txt, line 3: image name 'a.png' is used twice"),
    ("COLMAP", "images.txt", "# only comments\n", r"images.txt contains no camera poses"),
    ("NERF", "t.json", '{"frames": [', r"t.json, line 1, column 13: not valid JSON"),
    ("NERF", "t.json", '[1, 2]', r"t.json: expected a JSON object with \"frames\""),
    ("NERF", "t.json", '{"frames": []}', r"t.json contains no camera poses"),
    ("NERF", "t.json", '{"frames": [{"file_path": "a"}]}',
     r"t.json, frames\[0\].transform_matrix: expected 4 rows of 4 numbers, found no transform_matrix"),
    ("NERF", "t.json", '{"frames": [' + FRAME + ', {"transform_matrix": [[1,0,0],[0,1,0],[0,0,1]]}]}',
     r"t.json, frames\[1\].transform_matrix: expected 4 rows of 4 numbers, found 3 rows of 3 items"),
    ("NERF", "t.json", '{"frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,"0"],[0,0,1,0],[0,0,0,1]]}]}',
     r"frames\[0\].transform_matrix: expected finite numbers, found '\"0\"'"),
    ("NERF", "t.json", '{"frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,NaN],[0,0,1,0],[0,0,0,1]]}]}',
     r"frames\[0\].transform_matrix: expected finite numbers, found 'NaN'"),
    ("NERF", "t.json", '{"frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}], "fl_x": "a"}',
     r"t.json: \"fl_x\" must be a finite number, found '\"a\"'"),
    ("NERF", "t.json", '{"w": 10.5, "h": 10, "fl_x": 10, "frames": [' + FRAME + ']}',
     r"t.json, top level: image width must be a whole number of pixels"),
    ("NERF", "t.json", '{"w": 10, "h": 10, "fl_x": -10, "frames": [' + FRAME + ']}',
     r"t.json, top level: focal length fx must be a positive number"),
    ("NERF", "t.json", '{"camera_angle_x": 4, "frames": [' + FRAME + ']}',
     r"\"camera_angle_x\" must be an angle between 0 and pi"),
])
def test_bad_files_name_the_file_line_and_what_was_expected(tmp_path, format_name, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FlowError, match=message) as error:
        read_camera_poses(path, format_name)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("cameras, message", [
    ("1 PINHOLE 640 480 500 500 320\n",
     r"cameras.txt, line 1: expected 4 numbers \(the 4 parameters of a PINHOLE camera\)"),
    ("1 PINHOLE 640 480 500 500 320 x\n", r"cameras.txt, line 1: expected 4 numbers"),
    ("1 PINHOLE 640.5 480 500 500 320 240\n", r"cameras.txt, line 1: WIDTH must be a whole number, found '640.5'"),
    ("1 PINHOLE 0 480 500 500 320 240\n", r"cameras.txt, line 1: image width must be a whole number of pixels ≥ 1"),
    ("1 PINHOLE 640 480 0 500 320 240\n", r"cameras.txt, line 1: focal length fx must be a positive number"),
    ("1 PINHOLE 640 480\n", r"cameras.txt, line 1: expected 4 numbers"),
    ("1 PINHOLE 640\n", r"cameras.txt, line 1: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS"),
    ("1 PINHOL 640 480 500 500 320 240\n", r"cameras.txt, line 1: unknown camera model 'PINHOL'; expected one of"),
    ("1 PINHOLE 640 480 500 500 320 240\n1 PINHOLE 640 480 500 500 320 240\n", r"line 2: camera 1 is defined twice"),
    ("2 PINHOLE 640 480 500 500 320 240\n",
     r"images.txt, line 1: image 'a.png' uses camera 1, which .*cameras.txt does not define"),
])
def test_bad_colmap_cameras(tmp_path, cameras, message):
    (tmp_path / "cameras.txt").write_text(cameras)
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
    with pytest.raises(FlowError, match=message):
        read_camera_poses(tmp_path / "images.txt")


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(FlowError, match="does not exist"):
        read_camera_poses(tmp_path / "nope")
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(FlowError, match="is not a text file"):
        read_camera_poses(tmp_path / "bin")
    (tmp_path / "odd.json").write_text("1 2 3\n")
    with pytest.raises(FlowError, match=r"odd.json, line 1, column 3: not valid JSON"):
        read_camera_poses(tmp_path / "odd.json")
    (tmp_path / "camera_positions").write_text("0 0 0 0 0 0\n1 2 3\n")
    with pytest.raises(FlowError, match="line 2: expected 6 numbers"):
        read_camera_poses(tmp_path / "camera_positions")
    (tmp_path / "camera_positions").write_text("1 2 3\n")  # no format fits: BlenderProc's file name decides
    with pytest.raises(FlowError, match="camera_positions, line 1: expected 6 numbers"):
        read_camera_poses(tmp_path / "camera_positions")
    with pytest.raises(FlowError, match="Unknown camera pose format 'PLY'"):
        read_camera_poses(tmp_path / "camera_positions", "PLY")


def random_poses(seed: int, count: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    matrices = []
    for _ in range(count):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                             [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                             [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
        matrices.append(pose(rotation, rng.uniform(-50, 50, 3)))
    return matrices


@pytest.mark.parametrize("format_name", POSE_FORMATS)
@pytest.mark.parametrize("options", [
    {}, {"camera_axes": "OPENCV", "direction": "WORLD_TO_CAMERA", "world_up": "Y", "scale": 0.01}])
def test_write_then_read_gives_the_same_poses(tmp_path, format_name, options):
    matrices = random_poses(len(format_name))
    k = Intrinsics(640, 480, 500.25, 498.5, 321.0, 239.0)
    path = tmp_path / POSE_FORMATS[format_name].FILE_NAME
    poses = CameraPoses(path, matrices, times=[0.5 * i for i in range(6)], names=[f"img{i}.png" for i in range(6)],
                        intrinsics=k)
    write_camera_poses(path, poses, format_name, **options)
    back = read_camera_poses(path, format_name, **options)
    np.testing.assert_allclose(back.matrices, matrices, atol=1e-12)
    if format_name in ("COLMAP", "NERF"):
        assert back.intrinsics == k and back.names == poses.names
    if format_name == "TUM":
        assert back.times == poses.times
    assert list(tmp_path.glob(".*.part")) == []


def test_writing_never_overwrites_unless_asked(tmp_path):
    path = tmp_path / "images.txt"
    (tmp_path / "points3D.txt").write_text("mine\n")
    poses = CameraPoses(path, random_poses(1), intrinsics=Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5))
    with pytest.raises(FlowError, match=r"points3D.txt already exists; choose another file or allow overwriting"):
        write_camera_poses(path, poses, "COLMAP")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points3D.txt"]  # nothing written at all
    assert write_camera_poses(path, poses, "COLMAP", overwrite=True) == [path, tmp_path / "cameras.txt",
                                                                           tmp_path / "points3D.txt"]
    assert (tmp_path / "points3D.txt").read_text().startswith("# 3D point list")


def test_default_camera_intrinsics():
    k = BlenderCamera(50, 36, 24, "AUTO", 0, 0, 64, 48).intrinsics()
    np.testing.assert_allclose(k, [[50 / 36 * 64, 0, 31.5], [0, 50 / 36 * 64, 23.5], [0, 0, 1]])


def test_portrait_image_fits_the_sensor_to_its_height():
    k = BlenderCamera(50, 36, 24, "AUTO", 0, 0, 48, 64).intrinsics()
    assert k[0, 0] == pytest.approx(50 / 36 * 64) and k[0, 2] == pytest.approx(23.5)


@pytest.mark.parametrize("sensor_fit, size, k", [
    ("AUTO", (640, 480), (500.0, 500.0, 300.0, 250.0)),
    ("AUTO", (480, 640), (700.0, 700.0, 250.0, 300.0)),  # portrait: the sensor width spans the height
    ("VERTICAL", (640, 480), (450.0, 450.0, 319.5, 200.0)),
    ("HORIZONTAL", (640, 480), (500.0, 400.0, 330.0, 240.0)),  # fx ≠ fy: non-square pixels
    ("AUTO", (640, 480), (400.0, 500.0, 320.0, 240.0)),
])
def test_lens_and_shift_reproduce_the_intrinsics(sensor_fit, size, k):
    wanted = Intrinsics(*size, *k)
    camera = BlenderCamera(50, 36, 24, sensor_fit, 0.3, -0.2, 10, 10).with_intrinsics(wanted)
    assert (camera.sensor_width, camera.sensor_height, camera.sensor_fit) == (36, 24, sensor_fit)
    assert (camera.width, camera.height) == size and min(camera.pixel_aspect_x, camera.pixel_aspect_y) == 1
    np.testing.assert_allclose(camera.intrinsics(), wanted.matrix(), atol=1e-9)


def test_lens_with_a_kept_pixel_aspect_follows_fx():
    camera = BlenderCamera(50, 36, 24, "AUTO", 0, 0, 64, 48, 1, 2).with_intrinsics(
        Intrinsics(64, 48, 40.0, 40.0, 31.5, 20.0), keep_pixel_aspect=True)
    assert (camera.pixel_aspect_x, camera.pixel_aspect_y) == (1, 2)
    np.testing.assert_allclose(camera.intrinsics(), [[40, 0, 31.5], [0, 20, 20], [0, 0, 1]], atol=1e-9)


def test_impossible_lenses_are_refused():
    with pytest.raises(FlowError, match=r"needs a lens of 0.36 mm on the 36 mm sensor"):
        BlenderCamera(50, 36, 24, "AUTO", 0, 0, 1, 1).with_intrinsics(Intrinsics(1000, 500, 10.0, 10.0, 500.0, 250.0))
    with pytest.raises(FlowError, match=r"differ more than Blender's pixel aspect allows"):
        BlenderCamera(50, 36, 24, "AUTO", 0, 0, 1, 1).with_intrinsics(Intrinsics(100, 100, 1000.0, 1.0, 50.0, 50.0))


def test_intrinsics_scale_with_the_image_and_from_a_field_of_view():
    k = Intrinsics(100, 50, 80.0, 80.0, 49.5, 24.5).scaled_to(200, 100)
    assert k == Intrinsics(200, 100, 160.0, 160.0, 99.5, 49.5)
    fov = Intrinsics.from_field_of_view(math.radians(90), 200, 100)
    assert fov.fx == pytest.approx(100) and (fov.cx, fov.cy) == (99.5, 49.5)
