"""Occlusion masks, frame gaps and scene flow against the triangle ray caster, on real Cycles renders."""
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from optical_flow_addon.blender import bake  # noqa: E402
from optical_flow_addon.blender.surface_motion import ATTRIBUTES, OBJECT_ATTRIBUTE  # noqa: E402
from optical_flow_addon.core.flow_files import FORMATS  # noqa: E402
from ground_truth import OFFSETS, compare_candidates, pixel_rays  # noqa: E402

TOLERANCE_PX = 0.001
TOLERANCE_M = 1e-4


def edges(labels: np.ndarray) -> np.ndarray:
    """Pixels with both labels in their 3×3 neighbourhood."""
    padded = np.pad(labels, 1, mode="edge")
    windows = np.stack([padded[1 + dy:1 + dy + labels.shape[0], 1 + dx:1 + dx + labels.shape[1]]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return windows.any(axis=0) & ~windows.all(axis=0)


def check_frame(out, triangles_at, camera, frame, name, other):
    flow = np.load(out / f"{name}_{frame:04d}.npy")
    valid = np.load(out / f"{name}_valid_{frame:04d}.npy")
    occluded = np.load(out / f"{name}_occluded_{frame:04d}.npy")
    results = [triangle_ground_truth.surface_motion(triangles_at, camera, frame, other, offset, with_occlusion=k == 0)
               for k, offset in enumerate(OFFSETS)]
    centre = results[0][0]
    candidates = [(f, index >= 0, index != centre) for index, f, _, _ in results]
    error, mask_mismatches, (_, hit, _) = compare_candidates(flow, valid, candidates)
    assert mask_mismatches == 0, f"{name} {frame}: {mask_mismatches} pixels with a wrong validity mask"
    assert error < TOLERANCE_PX, f"{name} {frame}: worst flow error {error:.5f} px"
    assert not occluded[~valid].any()
    truth = results[0][2]
    judged = valid & hit
    agree = (occluded == truth)[judged]
    away = ~edges(truth)[judged]
    baked = np.load(out / f"{name.replace('_flow', '_scene_flow')}_{frame:04d}.npy")
    best = np.full(hit.shape, np.inf)
    for k, (index, _, _, motion) in enumerate(results):
        expected = triangle_ground_truth.camera_axes_motion(camera, frame, motion) * [1, -1, -1]
        usable = np.ones_like(hit) if k == 0 else index != centre
        best = np.where(usable, np.minimum(best, np.abs(baked - expected).max(axis=-1)), best)
    scene_error = best[valid].max()
    assert scene_error < TOLERANCE_M, f"{name} {frame}: worst scene flow error {scene_error:.2e} m"
    return np.array([agree.sum(), agree.size, agree[away].sum(), away.sum(), truth[judged].sum()]), error, scene_error


@pytest.mark.parametrize("gap", [1, 3])
def test_occlusion_flow_and_scene_flow_match_the_ray_caster(tmp_path, gap):
    scene, objects = scenes.occlusion_scene()
    triangles_at = scenes.world_triangles(scene, objects)
    camera = scenes.scene_camera(scene)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), frame_gap=gap, scene_flow=True) == {"FINISHED"}
    totals, worst, worst_scene = np.zeros(5, int), 0.0, 0.0
    for frame in range(1, 7):
        for name, other in (("forward_flow", frame + gap), ("backward_flow", frame - gap)):
            if other not in camera.matrices:
                assert not (out / f"{name}_{frame:04d}.npy").exists()
                continue
            counts, error, scene_error = check_frame(out, triangles_at, camera, frame, name, other)
            totals, worst, worst_scene = totals + counts, max(worst, error), max(worst_scene, scene_error)
    agree, judged, agree_away, away, occluded = totals
    print(f"gap {gap}: occlusion agrees on {agree}/{judged} valid pixels, {agree_away}/{away} away from edges; "
          f"{occluded} occluded; worst flow error {worst:.5f} px, scene flow {worst_scene:.1e} m")
    assert occluded > 0.02 * judged  # the scene really hides things
    assert agree_away >= 0.998 * away
    assert agree >= 0.99 * judged


def test_unmappable_objects_are_unknown_named_and_the_scene_keeps_no_trace(tmp_path):
    """A remeshed box (its vertex count is not the mesh's) and a sphere whose pole rings are welded from
    frame 3 on (a topology change between frames) are invalid where they show; the manifest names them."""
    scene, objects = scenes.deforming_scene()
    remeshed = scenes.add_box((-0.5, -3, -2), scale=(0.5, 0.5, 0.5))
    remeshed.modifiers.new("Remesh", "REMESH")
    bpy.ops.mesh.primitive_uv_sphere_add(segments=16, ring_count=8, radius=0.6, location=(1.5, -3, 1.2))
    decimated = bpy.context.object
    weld = decimated.modifiers.new("Weld", "WELD")
    weld.mode = "CONNECTED"
    for frame, distance in ((1, 0.0), (2, 0.0), (3, 0.1)):  # the rings next to the poles have 0.09 long edges
        weld.merge_threshold = distance
        weld.keyframe_insert("merge_threshold", frame=frame)
    scene.frame_set(1)
    out = tmp_path / "flow"
    formats = {"NPY", "NPZ", "HDF5", "HDF5_SEQUENCE"}
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), frame_gap=1, scene_flow=True,
                                            output_formats=formats) == {"FINISHED"}
    for frame in (1, 2, 4):  # every format holds the masks and the scene flow with the .npy numbers
        npy = FORMATS["NPY"].read(out, frame)
        assert {"forward_flow_occluded", "forward_scene_flow"} & set(npy) or frame == 4
        for fmt in formats:
            held = FORMATS[fmt].read(out, frame)
            assert sorted(held) == sorted(npy), fmt
            for name, array in npy.items():
                np.testing.assert_array_equal(held[name], array, err_msg=f"{fmt} {name}")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["frame_gap"] == 1 and manifest["method"] == "surface motion"
    assert manifest["unknown_objects"] == {remeshed.name: "its modifiers change the number of vertices"}
    assert manifest["topology_changes"] == {decimated.name: [2, 3, 4]}  # 2 → 3, 3 → 2 and 3 → 4, 4 → 3
    camera = scenes.scene_camera(scene)
    for name, other, frame in (("forward_flow", 2, 1), ("forward_flow", 3, 2), ("backward_flow", 2, 3)):
        parts = [scenes.world_triangles(scene, [obj])(frame) for obj in [*objects, remeshed, decimated]]
        _, index, _, _ = triangle_ground_truth.first_hits(*pixel_rays(camera, frame), np.concatenate(parts))
        starts = np.cumsum([0, *map(len, parts)])
        on_remeshed = (index >= starts[-3]) & (index < starts[-2])
        on_decimated = index >= starts[-2]
        valid = np.load(out / f"{name}_valid_{frame:04d}.npy")
        assert on_remeshed.sum() > 20 and not valid[on_remeshed].any()
        assert on_decimated.sum() > 20
        assert valid[on_decimated].any() == ((frame, other) == (1, 2)), (name, frame)
        assert not np.load(out / f"{name}_occluded_{frame:04d}.npy")[~valid].any()
    for obj in scene.objects:  # the bake's attributes and passes are gone again
        if obj.type == "MESH":
            assert not [a.name for a in obj.data.attributes if a.name.startswith("optical_flow")]
    assert len(bpy.context.view_layer.aovs) == 0 and not [m for m in bpy.data.materials if m.name.startswith("Optical")]


def test_only_meshes_that_can_deform_carry_displacement_attributes(tmp_path, monkeypatch):
    """Cycles copies a moving object's mesh again every frame, attributes included: a rigid mesh carries only its
    object's number (the displacement passes read zero on it, as the accuracy tests above check)."""
    scene, objects = scenes.deforming_scene()
    render, carried = bake.render_frame, []

    def render_and_look(scene, frame, path, guard):
        carried.append({obj.name: sorted(a.name for a in obj.data.attributes if a.name.startswith("optical_flow"))
                        for obj in objects})
        return render(scene, frame, path, guard)

    monkeypatch.setattr(bake, "render_frame", render_and_look)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path)) == {"FINISHED"}
    wall, box, sphere, cylinder = (obj.name for obj in objects)
    assert len(carried) == 4
    for attributes in carried:
        assert attributes[wall] == attributes[box] == [OBJECT_ATTRIBUTE]
        assert attributes[sphere] == attributes[cylinder] == sorted([OBJECT_ATTRIBUTE, *ATTRIBUTES.values()])


def test_own_shading_falls_back_to_the_vector_pass_without_occlusion_and_refuses_a_gap(tmp_path):
    scene, _ = scenes.moving_object_scene()
    veil = scenes.add_plane(1, location=(5, -5, 5))
    veil.data.materials.append(scenes.see_through_material("Veil"))
    with pytest.raises(RuntimeError, match="frame gap above 1 and scene flow need .* materials Veil keep their own"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "gap"), frame_gap=2)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "flow")) == {"FINISHED"}
    names = sorted(p.name for p in (tmp_path / "flow").iterdir())
    assert "forward_flow_0001.npy" in names and not [n for n in names if "occluded" in n]
    manifest = json.loads((tmp_path / "flow" / "manifest.json").read_text())
    assert manifest["method"] == "vector pass" and not manifest["occlusion"]
