"""Instance segmentation and surface normals of everything artists build (modifier stacks, collection and
geometry-nodes instances, linked meshes, text, curves, surfaces) against the triangle ray caster over every rendered
instance's evaluated triangles: its instance under each pixel centre, and its interpolated shading normal (the
barycentric mix of the triangle's corner normals) or its true normal."""
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from flow_checks import edges  # noqa: E402
from ground_truth import pixel_rays  # noqa: E402

NORMAL_TOLERANCE = 1e-3  # radians
OPENCV_AXES = np.array([1.0, -1.0, -1.0])  # Blender's camera axes (x right, y up, z backwards) → OpenCV's


def expected_normals(triangles_at, camera, frame: int, geometric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel centre: the instance the ray caster hits (-1: none), and the unit normal there in OpenCV's camera
    axes, turned to face the camera as Cycles turns it (by the true normal): the shading normal or the true one."""
    origins, directions = pixel_rays(camera, frame)
    _, index, u, v = triangle_ground_truth.first_hits(origins, directions, triangles_at(frame))
    hit = np.maximum(index, 0)
    a, b, c = (triangles_at(frame)[hit, k] for k in range(3))
    true = np.cross(b - a, c - a)
    corners = triangles_at.normals[frame][hit]
    shading = (1 - u - v)[..., None] * corners[..., 0, :] + u[..., None] * corners[..., 1, :] + v[..., None] * corners[
        ..., 2, :]
    normal = true if geometric else shading
    facing = np.sign(-np.einsum("...k,...k->...", true, directions))[..., None]
    normal = facing * normal / np.linalg.norm(normal, axis=-1, keepdims=True)
    in_camera = normal @ camera.matrices[frame][:3, :3] * OPENCV_AXES
    instance = np.where(index >= 0, triangles_at.instances[frame][hit], -1)
    return instance, np.where(index[..., None] >= 0, in_camera, 0.0), index


def angles(baked: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The angle between unit vectors, exact for small angles too."""
    return 2 * np.arcsin(np.clip(np.linalg.norm(baked - expected, axis=-1) / 2, 0, 1))


def check_segmentation(out, triangles_at, camera, frame: int) -> tuple[int, int]:
    """Away from the ray caster's instance edges, the baked indices and the ray caster's instances correspond one to
    one, the background is 0, and the manifest names each index's object (the instancer, for instances)."""
    segmentation = np.load(out / f"segmentation_{frame:04d}.npy")
    assert segmentation.dtype == np.uint16
    instance, _, index = expected_normals(triangles_at, camera, frame, geometric=True)
    away = ~edges(instance)
    records = json.loads((out / "manifest.json").read_text())["segmentation"]["instances"]
    assert (segmentation[away & (instance < 0)] == 0).all()
    pairs = {(int(i), int(s)) for i, s in zip(instance[away & (instance >= 0)], segmentation[away & (instance >= 0)])}
    assert len({i for i, _ in pairs}) == len(pairs) == len({s for _, s in pairs}), "not one index per instance"
    owners = triangles_at.owners[frame][np.maximum(index, 0)]
    for i, s in pairs:
        record = records[str(s)]
        assert record.get("instancer", record["object"]) == owners[instance == i][0], (record, owners[instance == i][0])
    return int(away.sum()), len(pairs)


def worst_normal_angle(out, triangles_at, camera, frame: int, geometric: bool) -> float:
    normals = np.load(out / f"normals_{frame:04d}.npy")
    assert normals.dtype == np.float32 and normals.shape[-1] == 3
    instance, expected, _ = expected_normals(triangles_at, camera, frame, geometric)
    assert (normals[instance < 0] == 0).all()  # the background: zero vectors
    judged = (instance >= 0) & ~edges(instance)
    np.testing.assert_allclose(np.linalg.norm(normals[instance >= 0], axis=-1), 1, atol=1e-6)  # unit vectors
    return float(angles(normals[judged], expected[judged]).max())


def test_every_object_kind_gets_its_instance_index_and_normal_the_same_in_a_chunk(tmp_path):
    """The whole sequence with shading normals, then frame 2 alone (a chunk of the sequence) with the true normals:
    the chunk numbers the instances as the whole bake does."""
    scene, kinds = scenes.every_kind_scene(tmp_path, frames=2)
    whole, chunk = tmp_path / "whole", tmp_path / "chunk"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(whole), segmentation=True, normals=True,
                                            output_formats={"NPY", "HDF5"}) == {"FINISHED"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(chunk), segmentation=True, normals=True,
                                            geometric_normals=True, use_scene_frame_range=False, frame_start=2,
                                            frame_end=2, output_formats={"NPY"}) == {"FINISHED"}
    character = kinds["Character"].modifiers["Subdivision"]
    character.levels = character.render_levels  # the reference follows the render's geometry
    triangles_at = scenes.rendered_triangles(scene)
    camera = scenes.scene_camera(scene)
    for folder, frame, geometric in ((whole, 1, False), (whole, 2, False), (chunk, 2, True)):
        judged, instances = check_segmentation(folder, triangles_at, camera, frame)
        worst = worst_normal_angle(folder, triangles_at, camera, frame, geometric)
        print(f"{folder.name} frame {frame}: segmentation agrees on all {judged} pixels away from edges "
              f"({instances} instances), worst {'geometric' if geometric else 'shading'} normal error {worst:.1e} rad")
        assert worst < NORMAL_TOLERANCE
    np.testing.assert_array_equal(np.load(whole / "segmentation_0002.npy"), np.load(chunk / "segmentation_0002.npy"))
    records = [json.loads((folder / "manifest.json").read_text())["segmentation"] for folder in (whole, chunk)]
    assert records[0] == records[1] and "BlenderProc" in records[0]["pass_index"]
    h5py = pytest.importorskip("h5py")
    with h5py.File(whole / "1.hdf5") as file:
        np.testing.assert_array_equal(file["segmap"][()], np.load(whole / "segmentation_0001.npy"))
        np.testing.assert_array_equal(file["normals"][()], (np.load(whole / "normals_0001.npy") + 1) / 2)
