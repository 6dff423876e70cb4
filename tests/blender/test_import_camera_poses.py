"""Importing and exporting camera poses with real Blender.

Every pose file here is written by the test itself from known cameras, with its own maths
(rotation matrices from Euler angles, quaternions from quaternion products). After the import,
Blender's own projection (world_to_camera_view) must put known world points on the pixels a
plain pinhole model computes from the same cameras.
"""
import json
import math
import re

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402

import scenes  # noqa: E402
from optical_flow_addon.blender.camera_poses import import_poses  # noqa: E402
from optical_flow_addon.core.poses import read_camera_poses  # noqa: E402

# Known cameras: location and Blender Euler XYZ angles (Blender camera axes, camera-to-world).
CAMERAS = [((0.0, -10.0, 4.0), (1.3, 0.0, 0.0)),
           ((1.5, -9.0, 4.5), (1.25, 0.1, 0.3)),
           ((-2.0, -7.5, 3.0), (1.4, -0.2, -0.5)),
           ((0.5, -11.0, 6.0), (1.1, 0.05, 2.9))]
# Points in each camera's frame: (right, up, distance in front)
POINTS = [(0.0, 0.0, 3.0), (0.3, -0.2, 5.0), (-1.0, 0.5, 8.0)]
# What a file without intrinsics leaves: Blender's 50 mm lens on a 36 mm sensor, 64×48 scene (image corner at 0, 0)
DEFAULT_K = (50 / 36 * 64, 50 / 36 * 64, 32.0, 24.0, 64, 48)
# What COLMAP and NeRF files here carry: non-square pixels and an off-centre principal point
FILE_K = (70.0, 77.0, 43.5, 27.25, 80, 60)
OPENCV_FROM_BLENDER_AXES = np.diag([1.0, -1.0, -1.0])
Y_DOWN_FROM_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # KITTI world (x, y down, z forward)
Y_UP_FROM_BLENDER = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])


def rotation(rx, ry, rz):
    c, s = math.cos, math.sin
    rot_x = np.array([[1, 0, 0], [0, c(rx), -s(rx)], [0, s(rx), c(rx)]])
    rot_y = np.array([[c(ry), 0, s(ry)], [0, 1, 0], [-s(ry), 0, c(ry)]])
    rot_z = np.array([[c(rz), -s(rz), 0], [s(rz), c(rz), 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def quaternion_product(a, b):
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw)


def opencv_quaternion(rx, ry, rz):
    """(w, x, y, z) of the OpenCV-axes camera-to-world rotation: qz·qy·qx, then 180° about the camera's x."""
    q = quaternion_product(quaternion_product((math.cos(rz / 2), 0, 0, math.sin(rz / 2)),
                                              (math.cos(ry / 2), 0, math.sin(ry / 2), 0)),
                           (math.cos(rx / 2), math.sin(rx / 2), 0, 0))
    return quaternion_product(q, (0, 1, 0, 0))


def numbers(values):
    return " ".join(f"{float(v):.17g}" for v in values)


def write_blenderproc(folder):
    path = folder / "camera_positions"
    path.write_text("".join(f"{numbers(location)} {numbers(euler)}\n" for location, euler in CAMERAS))
    return path


def write_matrices(folder):
    path = folder / "poses.txt"
    path.write_text("".join(numbers(np.vstack([np.column_stack([rotation(*e), loc]), [0, 0, 0, 1]]).ravel()) + "\n"
                            for loc, e in CAMERAS))
    return path


def write_view_matrices(folder):
    """World-to-camera in OpenCV axes, four lines per pose, blank line between poses."""
    path = folder / "views.txt"
    blocks = []
    for location, euler in CAMERAS:
        r = rotation(*euler) @ OPENCV_FROM_BLENDER_AXES
        view = np.vstack([np.column_stack([r.T, -r.T @ np.array(location)]), [0, 0, 0, 1]])
        blocks.append("".join(numbers(row) + "\n" for row in view))
    path.write_text("\n".join(blocks))
    return path


def write_y_up_matrices(folder):
    """Camera-to-world from a Y-up world, in centimetres."""
    path = folder / "y_up.txt"
    path.write_text("".join(numbers(np.vstack([np.column_stack([Y_UP_FROM_BLENDER @ rotation(*e),
                                                                Y_UP_FROM_BLENDER @ np.array(loc) * 100]),
                                               [0, 0, 0, 1]]).ravel()) + "\n" for loc, e in CAMERAS))
    return path


def write_tum(folder):
    path = folder / "groundtruth.txt"
    lines = ["# ground truth trajectory\n# timestamp tx ty tz qx qy qz qw\n"]
    for index, (location, euler) in enumerate(CAMERAS):
        w, x, y, z = opencv_quaternion(*euler)
        lines.append(f"{1305031102.175304 + index / 30:.6f} {numbers(location)} {numbers((x, y, z, w))}\n")
    path.write_text("".join(lines))
    return path


def write_kitti(folder):
    path = folder / "00.txt"
    path.write_text("".join(numbers(np.column_stack([Y_DOWN_FROM_BLENDER @ rotation(*e) @ OPENCV_FROM_BLENDER_AXES,
                                                     Y_DOWN_FROM_BLENDER @ np.array(loc)]).ravel()) + "\n"
                            for loc, e in CAMERAS))
    return path


def write_colmap(folder):
    """Images listed last first, named so that plain string order would be wrong (frame_8 < frame_14)."""
    fx, fy, cx, cy, width, height = FILE_K
    (folder / "cameras.txt").write_text(f"# Camera list with one line of data per camera:\n"
                                        f"3 PINHOLE {width} {height} {fx} {fy} {cx} {cy}\n")
    lines = ["# Image list with two lines of data per image:\n"]
    for index in reversed(range(len(CAMERAS))):
        location, euler = CAMERAS[index]
        w, x, y, z = opencv_quaternion(*euler)
        r = rotation(*euler) @ OPENCV_FROM_BLENDER_AXES
        t = -r.T @ np.array(location)
        lines.append(f"{index + 1} {numbers((w, -x, -y, -z))} {numbers(t)} 3 frame_{8 + 2 * index}.png\n"
                     f"12.5 20.25 -1 30.0 40.0 {index}\n")
    path = folder / "images.txt"
    path.write_text("".join(lines))
    return path


def write_nerf(folder):
    fx, fy, cx, cy, width, height = FILE_K
    frames = [{"file_path": f"./images/r_{index}", "transform_matrix": np.vstack(
        [np.column_stack([rotation(*euler), location]), [0, 0, 0, 1]]).tolist()}
        for index, (location, euler) in enumerate(CAMERAS)]
    path = folder / "transforms.json"
    path.write_text(json.dumps({"fl_x": fx, "fl_y": fy, "cx": cx, "cy": cy, "w": width, "h": height,
                                "aabb_scale": 16, "frames": frames}, indent=4))
    return path


FOV = 0.8


def write_nerf_field_of_view(folder):
    frames = [{"file_path": f"r_{i}", "transform_matrix": np.vstack([np.column_stack([rotation(*e), loc]),
                                                                     [0, 0, 0, 1]]).tolist()}
              for i, (loc, e) in enumerate(CAMERAS)]
    path = folder / "transforms.json"
    path.write_text(json.dumps({"camera_angle_x": FOV, "frames": frames}))
    return path


FOV_K = (32 / math.tan(FOV / 2), 32 / math.tan(FOV / 2), 32.0, 24.0, 64, 48)

# name: (writer, import options, expected intrinsics: fx, fy, cx, cy with the image corner at 0, 0, width, height)
CASES = {
    "blenderproc": (write_blenderproc, {}, DEFAULT_K),
    "matrices": (write_matrices, {}, DEFAULT_K),
    "view matrices": (write_view_matrices, {"format": "MATRICES", "camera_axes": "OPENCV",
                                            "pose_direction": "WORLD_TO_CAMERA"}, DEFAULT_K),
    "y-up matrices in cm": (write_y_up_matrices, {"format": "MATRICES", "world_up": "Y", "scale": 0.01}, DEFAULT_K),
    "tum": (write_tum, {}, DEFAULT_K),
    "kitti": (write_kitti, {"format": "KITTI"}, DEFAULT_K),
    "colmap": (write_colmap, {}, FILE_K),
    "nerf": (write_nerf, {}, FILE_K),
    "nerf field of view": (write_nerf_field_of_view, {}, FOV_K),
}


def assert_projects_known_points(scene, camera, frames, k):
    fx, fy, cx, cy, width, height = k
    assert (scene.render.resolution_x, scene.render.resolution_y) == (width, height)
    assert scene.render.resolution_percentage == 100
    for frame, (location, euler) in zip(frames, CAMERAS):
        scene.frame_set(frame)
        for right, up, distance in POINTS:
            point = np.array(location) + rotation(*euler) @ np.array([right, up, -distance])
            ndc = world_to_camera_view(scene, camera, Vector(point))
            pixel = (ndc.x * width, (1 - ndc.y) * height)  # Blender's view: origin bottom-left, y up
            expected = (cx + fx * right / distance, cy - fy * up / distance)
            np.testing.assert_allclose(pixel, expected, atol=1e-3,
                                       err_msg=f"frame {frame}, point {right, up, distance}")
            assert ndc.z == pytest.approx(distance, abs=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_imported_camera_projects_known_points_to_their_pixels(tmp_path, case):
    writer, options, k = CASES[case]
    scene = scenes.empty_scene()
    path = writer(tmp_path)
    assert bpy.ops.optical_flow.import_camera_poses(filepath=str(path), **options) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (1, len(CAMERAS))
    assert scene.camera.name == path.stem
    assert_projects_known_points(scene, scene.camera, range(1, len(CAMERAS) + 1), k)


EXPORT_FORMATS = {"blenderproc": "BLENDERPROC", "matrices": "MATRICES", "view matrices": "MATRICES",
                  "y-up matrices in cm": "MATRICES", "tum": "TUM", "kitti": "KITTI", "colmap": "COLMAP", "nerf": "NERF",
                  "nerf field of view": "NERF"}


@pytest.mark.parametrize("case", CASES)
def test_import_export_import_gives_the_same_cameras(tmp_path, case):
    writer, options, k = CASES[case]
    scene = scenes.empty_scene()
    original = writer(tmp_path)
    bpy.ops.optical_flow.import_camera_poses(filepath=str(original), **options)
    first = scene.camera
    conventions = {key: value for key, value in options.items() if key != "format"}
    exported = tmp_path / "out" / original.name
    exported.parent.mkdir()
    assert bpy.ops.optical_flow.export_camera_poses(filepath=str(exported), format=EXPORT_FORMATS[case],
                                                    **conventions) == {"FINISHED"}
    assert bpy.ops.optical_flow.import_camera_poses(filepath=str(exported), target="NEW", **options) == {"FINISHED"}
    second = scene.camera
    assert second != first
    for frame in range(1, len(CAMERAS) + 1):
        scene.frame_set(frame)
        np.testing.assert_allclose(np.array(second.matrix_world), np.array(first.matrix_world), atol=2e-6)
    for setting in ("lens", "shift_x", "shift_y", "sensor_width", "sensor_fit"):
        assert getattr(second.data, setting) == pytest.approx(getattr(first.data, setting), abs=1e-6)
    assert_projects_known_points(scene, second, range(1, len(CAMERAS) + 1), k)
    # and the file itself holds the original file's matrices
    format_name = EXPORT_FORMATS[case]
    conventions = {"camera_axes": options.get("camera_axes", "AUTO"),
                   "direction": options.get("pose_direction", "AUTO"),
                   "world_up": options.get("world_up", "AUTO"), "scale": options.get("scale", 1.0)}
    np.testing.assert_allclose(read_camera_poses(exported, format_name, **conventions).matrices,
                               read_camera_poses(original, format_name, **conventions).matrices, atol=2e-6)


def fcurve_keys(obj, data_path):
    """Keyframe frames per array index, read straight from the action (slotted on Blender 4.4+)."""
    animation = obj.animation_data
    if bpy.app.version >= (4, 4, 0):
        fcurves = animation.action.layers[0].strips[0].channelbag(animation.action_slot).fcurves
    else:
        fcurves = animation.action.fcurves
    return {fc.array_index: [round(p.co.x, 3) for p in fc.keyframe_points]
            for fc in fcurves if fc.data_path == data_path}


def test_import_replaces_keys_in_the_imported_frames_only(tmp_path):
    scene = scenes.empty_scene()
    camera = scenes.add_camera(scene, [((frame, 0, 0), (1.2, 0, 0.01 * frame)) for frame in range(1, 13)])
    camera.scale = (2, 2, 2)
    camera.keyframe_insert("scale", frame=1)
    camera.data.lens = 35
    camera.data.keyframe_insert("lens", frame=1)
    camera.data.lens = 60
    camera.data.keyframe_insert("lens", frame=12)
    path = tmp_path / "camera_positions"
    path.write_text("".join(f"{numbers(loc)} {numbers(e)}\n" for loc, e in CAMERAS[:3]))
    assert bpy.ops.optical_flow.import_camera_poses(filepath=str(path), frame_start=5, frame_step=2,
                                                    set_frame_range=False) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (1, 12) and scene.camera == camera
    kept = [1, 2, 3, 4, 10, 11, 12]
    assert fcurve_keys(camera, "location") == {axis: [1, 2, 3, 4, 5, 7, 9, 10, 11, 12] for axis in range(3)}
    assert fcurve_keys(camera, "rotation_euler") == {axis: [1, 2, 3, 4, 5, 7, 9, 10, 11, 12] for axis in range(3)}
    assert fcurve_keys(camera, "scale") == {axis: [1] for axis in range(3)}
    assert fcurve_keys(camera.data, "lens") == {0: [1, 12]}
    for frame in kept:
        scene.frame_set(frame)
        assert tuple(camera.location) == pytest.approx((frame, 0, 0))
        assert tuple(camera.rotation_euler) == pytest.approx((1.2, 0, 0.01 * frame))
    for frame, (location, euler) in zip((5, 7, 9), CAMERAS):
        scene.frame_set(frame)
        np.testing.assert_allclose(np.array(camera.matrix_world.to_3x3().normalized()), rotation(*euler), atol=1e-6)
        np.testing.assert_allclose(np.array(camera.matrix_world.translation), location, atol=1e-6)


def test_frames_between_poses_are_interpolated_like_keys_inserted_by_hand(tmp_path):
    scene = scenes.empty_scene()
    path = tmp_path / "camera_positions"
    poses = [((2 * i, 0.5 * i * i, 1), (1.3, 0, 0.1 * i)) for i in range(6)]
    path.write_text("".join(f"{numbers(location)} {numbers(euler)}\n" for location, euler in poses))
    bpy.ops.optical_flow.import_camera_poses(filepath=str(path), frame_step=2)
    camera = scene.camera
    by_hand = bpy.data.objects.new("By hand", None)
    scene.collection.objects.link(by_hand)
    for frame, (location, euler) in zip(range(1, 12, 2), poses):
        by_hand.location, by_hand.rotation_euler = location, euler
        by_hand.keyframe_insert("location", frame=frame)
        by_hand.keyframe_insert("rotation_euler", frame=frame)
    assert (scene.frame_start, scene.frame_end) == (1, 11)
    for frame in range(1, 12):
        scene.frame_set(frame)
        assert tuple(camera.location) == pytest.approx(tuple(by_hand.location), abs=1e-5)
        assert tuple(camera.rotation_euler) == pytest.approx(tuple(by_hand.rotation_euler), abs=1e-6)
    animation = camera.animation_data
    fcurves = (animation.action.layers[0].strips[0].channelbag(animation.action_slot).fcurves
               if bpy.app.version >= (4, 4, 0) else animation.action.fcurves)
    for fcurve in fcurves:
        first = fcurve.keyframe_points[0]
        assert {(p.interpolation, p.handle_left_type, p.handle_right_type) for p in fcurve.keyframe_points} == {
            (first.interpolation, first.handle_left_type, first.handle_right_type)}


def test_a_shared_action_stays_unchanged_for_its_other_user(tmp_path):
    scene = scenes.empty_scene()
    camera = scenes.add_camera(scene, [((frame, 0, 0), (1.2, 0, 0)) for frame in range(1, 6)])
    other = bpy.data.objects.new("Other", None)
    scene.collection.objects.link(other)
    other.animation_data_create()
    other.animation_data.action = camera.animation_data.action
    if bpy.app.version >= (4, 4, 0):
        other.animation_data.action_slot = camera.animation_data.action_slot
    path = tmp_path / "camera_positions"
    path.write_text("".join(f"{numbers(loc)} {numbers(e)}\n" for loc, e in CAMERAS))
    bpy.ops.optical_flow.import_camera_poses(filepath=str(path))
    for frame, (location, _) in zip(range(1, 5), CAMERAS):
        scene.frame_set(frame)
        assert tuple(other.location) == pytest.approx((frame, 0, 0))
        np.testing.assert_allclose(np.array(camera.matrix_world.translation), location, atol=1e-6)


@pytest.mark.parametrize("mode", ["QUATERNION", "AXIS_ANGLE", "ZXY"])
def test_the_camera_keeps_its_rotation_mode(tmp_path, mode):
    scene = scenes.empty_scene()
    camera = scenes.add_camera(scene, [((0, 0, 0), (0, 0, 0))], lens=50)
    camera.animation_data_clear()
    camera.rotation_mode = mode
    path = write_blenderproc(tmp_path)
    bpy.ops.optical_flow.import_camera_poses(filepath=str(path))
    assert camera.rotation_mode == mode
    assert_projects_known_points(scene, camera, range(1, len(CAMERAS) + 1), DEFAULT_K)


def test_euler_angles_stay_continuous_across_a_half_turn(tmp_path):
    """4×4 matrices lose the winding; consecutive keys must not jump by 2π, or the camera spins between them."""
    scene = scenes.empty_scene()
    turns = [0.0, 1.2, 2.4, 3.6, 4.8, 6.0, 7.2]
    path = tmp_path / "turn.txt"
    path.write_text("".join(numbers(np.vstack([np.column_stack([rotation(1.3, 0, rz), (0, 0, 1)]),
                                               [0, 0, 0, 1]]).ravel()) + "\n" for rz in turns))
    bpy.ops.optical_flow.import_camera_poses(filepath=str(path))
    keys = []
    for frame in range(1, len(turns) + 1):
        scene.frame_set(frame)
        keys.append(scene.camera.rotation_euler.z)
    np.testing.assert_allclose(np.diff(keys), 1.2, atol=1e-5)


def test_without_setting_the_resolution_the_field_of_view_is_kept(tmp_path):
    scene = scenes.empty_scene()
    scene.render.resolution_percentage = 50
    path = write_colmap(tmp_path)
    assert bpy.ops.optical_flow.import_camera_poses(filepath=str(path), set_resolution=False) == {"FINISHED"}
    assert (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage) == (64, 48, 50)
    fx, fy, cx, cy, width, height = FILE_K
    scale = 32 / width  # the file's 80×60 camera on the scene's 32×24 render
    # fy follows fx and the scene's square pixels: 77 px becomes 70 px, as the import warns
    scaled = (fx * scale, fx * scale, cx * scale, cy * scale, 32, 24)
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 32, 24, 100
    assert_projects_known_points(scene, scene.camera, range(1, len(CAMERAS) + 1), scaled)
    result = import_poses(scene, read_camera_poses(path), target="NEW", set_resolution=False)
    assert any("vertical focal length is 28.00 px instead of 30.80 px" in note for note in result.notes)


def snapshot(scene):
    """Everything an import could touch."""
    state = {
        "objects": sorted(o.name for o in bpy.data.objects), "cameras": sorted(c.name for c in bpy.data.cameras),
        "actions": sorted(a.name for a in bpy.data.actions), "scene camera": scene.camera and scene.camera.name,
        "render": (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage,
                   scene.render.pixel_aspect_x, scene.render.pixel_aspect_y),
        "frames": (scene.frame_start, scene.frame_end, scene.frame_current),
    }
    for camera in bpy.data.objects:
        if camera.type == "CAMERA":
            state[camera.name] = (camera.data.lens, camera.data.shift_x, camera.data.shift_y, camera.rotation_mode,
                                  fcurve_keys(camera, "location") if camera.animation_data else None)
    return state


BAD_FILES = {
    "camera_positions": "0 -10 4 1.3 0 0\n0 -12 4 1.3 zero 0\n",
    "poses.txt": "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\n1 0 0 0 0 2 0 0 0 0 1 0 0 0 0 1\n",
    "groundtruth.txt": "1 0 0 0 0 0 0 1\n2 0 0 0 0 0 0 nan\n",
    "00.txt": "1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1\n",
    "images.txt": "1 1 0 0 0 0 0 0 1 a.png\n\n2 1 0 0 0 0 0 0 9 b.png\n\n",
    "transforms.json": '{"frames": [{"transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]}]}',
    "junk.txt": "\x00\x01 PK\x03\x04 \x7f ELF",
    "binary.txt": b"\xff\xd8\xff\xe0\x00\x10JFIF",
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_file_changes_nothing(tmp_path, name):
    scene = scenes.empty_scene()
    scenes.add_camera(scene, [((frame, 0, 0), (1.2, 0, 0)) for frame in range(1, 4)])
    (tmp_path / "cameras.txt").write_text("1 PINHOLE 64 48 50 50 32 24\n")
    path = tmp_path / name
    content = BAD_FILES[name]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(scene)
    with pytest.raises(RuntimeError, match=rf"{re.escape(name)}[,:]|{re.escape(name)} is not a text file"):
        bpy.ops.optical_flow.import_camera_poses(filepath=str(path))
    assert snapshot(scene) == before


@pytest.mark.parametrize("problem", ["parent", "delta", "missing camera", "impossible lens"])
def test_a_camera_that_cannot_take_the_poses_changes_nothing(tmp_path, problem):
    scene = scenes.empty_scene()
    camera = scenes.add_camera(scene, [((frame, 0, 0), (1.2, 0, 0)) for frame in range(1, 4)])
    options = {}
    path = write_blenderproc(tmp_path)
    if problem == "parent":
        camera.parent = bpy.data.objects.new("Rig", None)
        scene.collection.objects.link(camera.parent)
        message = "has a parent"
    elif problem == "delta":
        camera.delta_location = (0, 0, 1)
        message = "has delta transforms"
    elif problem == "missing camera":
        options = {"target": "NAMED", "camera_name": "Nope"}
        message = "'Nope' is not a camera object"
    else:
        (tmp_path / "cameras.txt").write_text("1 PINHOLE 4000 3000 10 10 2000 1500\n")
        path = tmp_path / "images.txt"
        path.write_text("1 1 0 0 0 0 0 0 1 a.png\n\n")
        message = "needs a lens of 0.09 mm"
    before = snapshot(scene)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.optical_flow.import_camera_poses(filepath=str(path), **options)
    assert snapshot(scene) == before


def test_named_camera_and_new_camera_targets(tmp_path):
    scene = scenes.empty_scene()
    active = scenes.add_camera(scene, [((0, 0, 0), (0, 0, 0))])
    other = bpy.data.objects.new("Witness", bpy.data.cameras.new("Witness"))
    scene.collection.objects.link(other)
    path = write_blenderproc(tmp_path)
    bpy.ops.optical_flow.import_camera_poses(filepath=str(path), target="NAMED", camera_name="Witness")
    assert scene.camera == active and other.animation_data is not None and active.animation_data.action is not None
    scene.frame_set(2)
    np.testing.assert_allclose(np.array(other.matrix_world.translation), CAMERAS[1][0], atol=1e-6)
    bpy.ops.optical_flow.import_camera_poses(filepath=str(path), target="NEW")
    assert scene.camera not in (active, other) and scene.camera.type == "CAMERA"


def test_export_writes_the_frames_asked_for_and_restores_the_current_frame(tmp_path):
    scene = scenes.empty_scene()
    camera = scenes.add_camera(scene, [(location, euler) for location, euler in CAMERAS])
    camera.data.lens, camera.data.shift_x, camera.data.shift_y = 35, 0.1, -0.05
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 80, 60, 50
    scene.frame_set(3)
    path = tmp_path / "groundtruth.txt"
    assert bpy.ops.optical_flow.export_camera_poses(filepath=str(path), format="TUM", use_scene_frame_range=False,
                                                    frame_start=1, frame_end=4, frame_step=3) == {"FINISHED"}
    assert scene.frame_current == 3
    rows = [list(map(float, line.split())) for line in path.read_text().splitlines() if not line.startswith("#")]
    assert [row[0] for row in rows] == pytest.approx([1 / 24, 4 / 24])  # frame / fps
    for row, (location, euler) in zip(rows, (CAMERAS[0], CAMERAS[3])):
        assert row[1:4] == pytest.approx(location, abs=1e-6)
        qx, qy, qz, qw = row[4:]
        expected = opencv_quaternion(*euler)
        sign = np.sign(np.dot((qw, qx, qy, qz), expected))
        np.testing.assert_allclose(np.multiply(sign, (qw, qx, qy, qz)), expected, atol=1e-6)
    colmap = tmp_path / "colmap" / "images.txt"
    colmap.parent.mkdir()
    bpy.ops.optical_flow.export_camera_poses(filepath=str(colmap), format="COLMAP")
    camera_line = (tmp_path / "colmap" / "cameras.txt").read_text().splitlines()[-1]
    model, width, height, fx, fy, cx, cy = camera_line.split()[1:]
    # 50% of 80×60; 35 mm on 36 mm across 40 px; shift in units of the image width, y up
    assert (model, int(width), int(height)) == ("PINHOLE", 40, 30)
    np.testing.assert_allclose([float(v) for v in (fx, fy, cx, cy)], [35 / 36 * 40, 35 / 36 * 40, 20 - 4, 15 - 2])
    names = [line.split()[-1] for line in colmap.read_text().splitlines()[4::2]]
    assert names == ["0001.png", "0002.png", "0003.png", "0004.png"]


def test_export_never_overwrites_unless_asked(tmp_path):
    scene = scenes.empty_scene()
    scenes.add_camera(scene, CAMERAS)
    path = tmp_path / "camera_positions"
    path.write_text("mine\n")
    with pytest.raises(RuntimeError, match="already exists"):
        bpy.ops.optical_flow.export_camera_poses(filepath=str(path))
    assert path.read_text() == "mine\n"
    assert bpy.ops.optical_flow.export_camera_poses(filepath=str(path), overwrite=True) == {"FINISHED"}
    first = [float(v) for v in path.read_text().split()[:6]]
    assert first == pytest.approx([*CAMERAS[0][0], *CAMERAS[0][1]], abs=1e-6)


def test_constraints_that_override_the_poses_are_reported(tmp_path):
    scene = scenes.empty_scene()
    camera = scenes.add_camera(scene, [((0, 0, 0), (0, 0, 0))])
    camera.constraints.new("TRACK_TO").name = "Look at target"
    result = import_poses(scene, read_camera_poses(write_blenderproc(tmp_path)))
    assert result.camera == camera
    assert any("constraints (Look at target)" in note for note in result.notes)
    camera.constraints["Look at target"].enabled = False
    assert not import_poses(scene, read_camera_poses(write_blenderproc(tmp_path))).notes
