"""Flow, occlusion and scene flow from depth and surface motion, on synthetic arrays (no bpy)."""
import numpy as np
import pytest

from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.frame_window import FrameWindow
from optical_flow_addon.core.options import BakeOptions
from optical_flow_addon.core.surface_motion import UNKNOWN, Frame, View, flow_products, occluded

H, W = 30, 40
K = np.array([[50.0, 0, 19.5], [0, 50.0, 14.5], [0, 0, 1]])


def camera(position, yaw=0.0) -> View:
    """Blender camera axes; yaw turns it about world z. Looking along world +y when yaw is 0."""
    c, s = np.cos(yaw), np.sin(yaw)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, position
    return View(K, matrix)


def frame_of(depth, view, displacement=None, moved=np.eye(4), here=np.eye(4)) -> Frame:
    """One object (number 1) everywhere: at ``here`` at this frame, ``moved`` at the partner frame of each flow."""
    names = ("forward_flow", "backward_flow")
    displacement = displacement or {name: np.zeros((H, W, 3), np.float32) for name in names}
    matrices = {name: [[np.asarray(here).tolist(), np.asarray(moved).tolist()]] for name in displacement}
    return Frame.from_passes(depth, np.ones((H, W), np.float32), displacement, view, [[1, [0, 0, 0]]], matrices)


def wall_depth(view: View, wall_y: float) -> np.ndarray:
    """Planar depth of the plane y = wall_y seen by ``view``, cast pixel by pixel (independent of the code)."""
    depth = np.empty((H, W))
    rotation, origin = view.camera_to_world[:3, :3], view.camera_to_world[:3, 3]
    for row in range(H):
        for col in range(W):
            direction = rotation @ np.array([(col - K[0, 2]) / K[0, 0], -(row - K[1, 2]) / K[1, 1], -1.0])
            depth[row, col] = (wall_y - origin[1]) / direction[1]  # the ray's z length is 1: planar depth
    return depth


def test_rigid_wall_flow_scene_flow_and_visibility_match_a_pinhole_by_hand():
    here, there = camera((0, 0, 0)), camera((0.5, 1.0, 0.2), yaw=0.05)
    depth = wall_depth(here, 10.0).astype(np.float32)
    shift = np.array([0.3, 0.0, -0.1])
    moved = np.eye(4)
    moved[:3, 3] = [0.1, 0.0, -0.1]  # the object's own move; its vertices move 0.2 along x on top of it
    vertices = np.broadcast_to([0.2, 0.0, 0.0], (H, W, 3)).astype(np.float32)
    source = frame_of(depth, here, {"forward_flow": vertices}, moved)
    target = frame_of(wall_depth(there, 10.0).astype(np.float32), there)
    arrays = flow_products(source, target, "forward_flow", False, occlusion=True, scene_flow=True)
    row, col = 7, 11
    x, y = (col - K[0, 2]) / K[0, 0] * depth[row, col], (row - K[1, 2]) / K[1, 1] * depth[row, col]
    point = np.array([x, float(depth[row, col]), -y]) + shift  # world: camera at the origin looking along +y
    local = there.camera_to_world[:3, :3].T @ (point - there.camera_to_world[:3, 3])
    expected = [K[0, 2] + K[0, 0] * local[0] / -local[2] - col, K[1, 2] - K[1, 1] * local[1] / -local[2] - row]
    np.testing.assert_allclose(arrays["forward_flow"][row, col], expected, atol=1e-4)
    # OpenCV axes: y down, z ahead
    np.testing.assert_allclose(arrays["forward_scene_flow"][row, col], [0.3, 0.1, 0.0], atol=1e-6)
    assert arrays["forward_flow_valid"].sum() > 0.5 * H * W
    assert not arrays["forward_flow_occluded"].any()  # a wall moving along itself stays visible
    blender = flow_products(source, target, "forward_flow", True, occlusion=False, scene_flow=True)
    np.testing.assert_allclose(blender["forward_flow"][..., 1], -arrays["forward_flow"][..., 1])
    np.testing.assert_allclose(blender["forward_scene_flow"][row, col], [0.3, -0.1, 0.0], atol=1e-6)
    assert "forward_flow_occluded" not in blender


def test_a_scene_a_kilometre_from_the_world_origin_gives_the_same_flow_and_scene_flow():
    """Positions cancel in float64 before the per-pixel float32 maths (float32 steps are 6e-5 m at 1 km)."""
    away = np.eye(4)
    away[:3, 3] = [1000.0, -1000.0, 300.0]
    here, there = camera((0, 0, 0)), camera((0.5, 1.0, 0.2), yaw=0.05)
    depth, target_depth = wall_depth(here, 10.0).astype(np.float32), wall_depth(there, 10.0).astype(np.float32)
    moved = np.eye(4)
    moved[:3, 3] = [0.1, 0.0, -0.1]
    vertices = {"forward_flow": np.broadcast_to([0.2, 0.0, 0.1], (H, W, 3)).astype(np.float32)}
    results = []
    for shift in (np.eye(4), away):
        source = frame_of(depth, View(K, shift @ here.camera_to_world), vertices, shift @ moved, shift)
        target = frame_of(target_depth, View(K, shift @ there.camera_to_world), here=shift, moved=shift)
        results.append(flow_products(source, target, "forward_flow", False, occlusion=True, scene_flow=True))
    near, far = results
    assert near["forward_flow_valid"].sum() > 0.5 * H * W
    np.testing.assert_array_equal(far["forward_flow_valid"], near["forward_flow_valid"])
    np.testing.assert_array_equal(far["forward_flow_occluded"], near["forward_flow_occluded"])
    np.testing.assert_allclose(far["forward_flow"], near["forward_flow"], atol=1e-5)
    np.testing.assert_allclose(far["forward_scene_flow"], near["forward_scene_flow"], atol=1e-6)


def test_unknown_motion_and_background_are_invalid_zero_and_never_occluded():
    view = camera((0, 0, 0))
    depth = wall_depth(view, 5.0).astype(np.float32)
    depth[:, :5] = 1e10  # sky
    displacement = np.zeros((H, W, 3), np.float32)
    displacement[10:20, 10:20] = UNKNOWN  # a mesh whose topology changes
    source = frame_of(depth, view, {"backward_flow": displacement})
    source.objects[25:, 30:] = 0  # a surface without motion passes (not a mesh)
    arrays = flow_products(source, frame_of(depth, view), "backward_flow", False, occlusion=True, scene_flow=True)
    invalid = ~arrays["backward_flow_valid"]
    assert invalid[:, :5].all() and invalid[10:20, 10:20].all() and invalid[25:, 30:].all()
    assert invalid.sum() == 5 * H + 100 + 5 * 10
    assert not arrays["backward_flow"][invalid].any() and not arrays["backward_scene_flow"][invalid].any()
    assert not arrays["backward_flow_occluded"].any()
    sky = np.full((H, W), 1e10, np.float32)
    arrays = flow_products(frame_of(sky, view), frame_of(depth, view), "forward_flow", False,
                           occlusion=True, scene_flow=True)
    assert not any(array.any() for array in arrays.values())  # nothing but sky: nothing valid, no error


def sphere_depth(centre_depth: float, radius: float, centre_px=(20.0, 15.0)) -> np.ndarray:
    """Planar depth of a sphere straight ahead (nearest hit per pixel ray), inf where missed."""
    rows, cols = np.indices((H, W), dtype=float)
    d = np.stack([(cols - centre_px[0]) / 50.0, -(rows - centre_px[1]) / 50.0, -np.ones((H, W))], axis=-1)
    centre = np.array([0, 0, -centre_depth])
    b = d @ centre
    a = (d * d).sum(-1)
    disc = b * b - a * (centre @ centre - radius ** 2)
    t = (b - np.sqrt(np.maximum(disc, 0))) / a
    return np.where(disc > 0, t, np.inf)  # t along d, whose z length is 1: planar depth


def test_occlusion_behind_a_square_in_front_of_a_wall_between_pixel_centres():
    target = np.full((H, W), 10.0, np.float32)
    target[10:20, 10:20] = 5.0
    spots = np.array([[15.2, 15.7], [30.3, 5.5], [15.0, 15.0], [10.9, 12.0], [9.6, 12.0]])  # x, y
    depth = np.array([10.0, 10.0, 4.0, 10.0, 10.0])
    # behind the square; beside it; in front of it; just inside its left edge (x = 10); just outside it
    assert occluded(spots, depth, target).tolist() == [True, False, False, True, False]


def test_points_on_a_slanted_plane_and_a_sphere_between_pixel_centres_are_visible():
    slanted = 1.0 / (0.1 + 0.004 * np.arange(W))[None, :].repeat(H, 0)  # 1/depth is linear on a plane
    spots = np.stack(np.meshgrid(np.linspace(1.2, 38.8, 17), np.linspace(1.2, 28.8, 13)), axis=-1).reshape(-1, 2)
    truth = 1.0 / (0.1 + 0.004 * (spots[..., 0] - 0.5))
    assert not occluded(spots, truth, slanted).any()
    assert occluded(spots, truth * 1.05, slanted).all()  # 5 % behind the plane: hidden by it
    sphere = sphere_depth(8.0, 3.0)
    front = np.isfinite(sphere)
    inside = np.argwhere(front[1:-1, 1:-1] & front[2:, 2:] & front[:-2, :-2] & front[2:, :-2] & front[:-2, 2:]) + 1
    spots = inside[:, ::-1] + 0.5 + 0.37  # x, y between the centres
    fine = sphere_depth(8.0, 3.0, centre_px=(20.0 - 0.37, 15.0 - 0.37))  # the sphere's depth at those spots
    on_sphere = fine[inside[:, 0], inside[:, 1]]
    assert not occluded(spots, on_sphere, sphere).any()
    assert occluded(spots, on_sphere + 2.0, sphere).all()  # the back of the sphere: self-occlusion


def test_frames_wait_for_their_partners_and_are_forgotten_once_passed(tmp_path):
    options = BakeOptions(tmp_path, 3, 6, 1, 8, frame_gap=2, formats=frozenset({"NPY"}), occlusion=False)
    assert options.partners(options.frames) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert options.flows_at(7) == ("backward_flow",) and options.flows_at(2) == ("forward_flow",)
    view = camera((0, 0, 0))
    depth = wall_depth(view, 5.0).astype(np.float32)
    window = FrameWindow(options)
    done = {frame: [f for f, _, _ in window.add(frame, {"left": frame_of(depth, view)}, {}, None,
                                                 frame in options.frames)]
            for frame in options.partners(options.frames)}
    assert done == {1: [], 2: [], 3: [], 4: [], 5: [3], 6: [4], 7: [5], 8: [6]}
    assert sorted(window.frames) == [7, 8]
    assert np.load(tmp_path / "forward_flow_0006.npy").shape == (H, W, 2)
    assert np.abs(np.load(tmp_path / "backward_flow_0003.npy")).max() < 1e-9  # still wall, still camera


@pytest.mark.parametrize("gap", [0, -1, 1.5, True, 7])
def test_frame_gap_must_be_a_whole_number_inside_the_range(tmp_path, gap):
    with pytest.raises(FlowError, match="Frame gap"):
        BakeOptions(tmp_path, 1, 6, frame_gap=gap)


def test_overview_shows_the_occlusion_masks_next_to_the_validity_masks():
    from optical_flow_addon.core.formats.picture import overview

    occluded = np.zeros((H, W), bool)
    occluded[5:10, 5:10] = True
    arrays = {"forward_flow": np.ones((H, W, 2), np.float32), "forward_flow_valid": np.ones((H, W), bool),
              "forward_flow_occluded": occluded}
    picture, _, labels, _ = overview(arrays)
    assert labels == ["forward flow", "forward flow mask", "forward flow occluded", "colour wheel"]
    assert picture.shape[1] > 3 * W


def test_instances_sharing_an_object_number_are_told_apart_by_their_rendered_location():
    """Two instances of one geometry (number 3) and an object without a number (0), each moving its own way: every
    pixel takes its own instance's motion; a location no row lists, or a number no row lists, stays unknown."""
    numbers = np.zeros((H, W), np.float32)
    locations = np.zeros((H, W, 3), np.float32)
    numbers[:, :10], locations[:, :10] = 3, [1.5, -0.0, 2.0]  # −0 as a render may write it
    numbers[:, 10:20], locations[:, 10:20] = 3, [-1.5, 0.0, 2.0]
    numbers[:, 20:30], locations[:, 20:30] = 0, [0.25, 0.5, 0.75]  # no number: the location alone
    numbers[:, 30:35], locations[:, 30:35] = 3, [9.0, 9.0, 9.0]  # an instance the list does not hold
    numbers[:, 35:] = 7  # a number the list does not hold
    instances = [[3, [-1.5, 0.0, 2.0]], [3, [1.5, 0.0, 2.0]], [0, [0.25, 0.5, 0.75]], [5, [0, 0, 0]]]
    shifts = [0.1, 0.2, 0.3, 0.4]
    matrices = {"forward_flow": [[np.eye(4).tolist(), translation(shift).tolist()] for shift in shifts]}
    depth = np.full((H, W), 10.0, np.float32)
    view = camera((0, 0, 0))
    displacement = {"forward_flow": np.zeros((H, W, 3), np.float32)}
    source = Frame.from_passes(depth, numbers, displacement, view, instances, matrices, locations)
    np.testing.assert_array_equal(source.objects[0], [2] * 10 + [1] * 10 + [3] * 10 + [0] * 10)
    arrays = flow_products(source, source, "forward_flow", False, occlusion=False, scene_flow=True)
    moved = arrays["forward_scene_flow"][H // 2, ::10, 0]
    np.testing.assert_allclose(moved, [0.2, 0.1, 0.3, 0], atol=1e-6)
    assert not arrays["forward_flow_valid"][:, 30:].any()
    # Without the location pass, instances of a shared number and numberless geometry stay unknown.
    blind = Frame.from_passes(depth, numbers, displacement, view, instances, matrices)
    assert not blind.objects.any()


def test_an_instance_gone_at_the_partner_frame_is_unknown_for_that_flow_only():
    instances = [[1, [0, 0, 0]]]
    matrices = {"forward_flow": [[np.eye(4).tolist(), None]], "backward_flow": [[np.eye(4).tolist(),
                                                                                  np.eye(4).tolist()]]}
    displacement = {name: np.zeros((H, W, 3), np.float32) for name in matrices}
    depth = np.full((H, W), 10.0, np.float32)
    source = Frame.from_passes(depth, np.ones((H, W), np.float32), displacement, camera((0, 0, 0)), instances,
                               matrices)
    assert not flow_products(source, source, "forward_flow", False, False, False)["forward_flow_valid"].any()
    assert flow_products(source, source, "backward_flow", False, False, False)["backward_flow_valid"].all()


def translation(shift: float) -> np.ndarray:
    matrix = np.eye(4)
    matrix[0, 3] = shift
    return matrix


def test_instances_moving_as_the_vector_pass_has_them_take_its_flow_valid_but_not_known_visible():
    """Rows whose motion is Cycles' Vector pass's (a linked object's moving points): their pixels take its flow, valid
    where it lands in the image, occluded (their depth at the partner frame is unknown); other rows keep theirs."""
    numbers = np.ones((H, W), np.float32)
    numbers[:, W // 2:] = 2
    instances = [[1, [0, 0, 0]], [2, [0, 0, 0]]]
    matrices = {name: [[np.eye(4).tolist(), translation(0.1).tolist()], [np.eye(4).tolist(), None]]
                for name in ("forward_flow", "backward_flow")}
    vector = np.zeros((H, W, 4), np.float32)
    vector[..., 0], vector[..., 1], vector[..., 2], vector[..., 3] = 0.25, -0.5, -0.25, 0.25  # backward x, y; forward
    vector[:, -1, 2] = -3.0  # the last column lands outside the image
    depth = np.full((H, W), 10.0, np.float32)
    displacement = {name: np.zeros((H, W, 3), np.float32) for name in matrices}
    source = Frame.from_passes(depth, numbers, displacement, camera((0, 0, 0)), instances, matrices,
                               vector=vector, vector_rows={"forward_flow": [2], "backward_flow": [2]})
    ahead = flow_products(source, source, "forward_flow", False, occlusion=True, scene_flow=False)
    half = np.s_[:, W // 2:-1]
    np.testing.assert_array_equal(ahead["forward_flow"][half], np.broadcast_to([0.25, 0.25], (H, W // 2 - 1, 2)))
    assert ahead["forward_flow_valid"][half].all() and ahead["forward_flow_occluded"][half].all()
    assert not ahead["forward_flow_valid"][:, -1].any()
    np.testing.assert_allclose(ahead["forward_flow"][:, : W // 2 - 5, 0], 0.5, atol=1e-4)  # row 1: 0.1 m at 10 m
    assert not ahead["forward_flow_occluded"][:, : W // 2].any()
    back = flow_products(source, source, "backward_flow", True, occlusion=False, scene_flow=False)
    np.testing.assert_array_equal(back["backward_flow"][half], np.broadcast_to([0.25, -0.5], (H, W // 2 - 1, 2)))
