"""Occlusion masks, frame gaps and scene flow against the triangle ray caster, on real Cycles renders."""
import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from flow_checks import check_frame  # noqa: E402
from optical_flow_addon.blender import bake  # noqa: E402
from optical_flow_addon.blender.surface_motion import ATTRIBUTES, OBJECT_ATTRIBUTE  # noqa: E402
from optical_flow_addon.core.flow_files import FORMATS  # noqa: E402
from ground_truth import pixel_rays  # noqa: E402

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


def test_objects_whose_topology_changes_move_with_their_object_named_and_the_scene_keeps_no_trace(tmp_path):
    """A sphere whose pole rings are welded from frame 3 on (a topology change between frames) moves with its object
    alone between those frames, as Cycles' Vector pass has it, and the manifest names it (at larger frame gaps it is
    unknown: test_bake_every_object_kind.py). A remeshed box (its vertex count is not the mesh's) keeps one topology,
    so it has exact flow."""
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
    assert manifest["unknown_objects"] == {} and manifest["topology_changes"] == {}
    assert manifest["transform_objects"] == {decimated.name: [2, 3]}  # 2 → 3 and 3 → 2; 3 and 4 are welded alike
    camera = scenes.scene_camera(scene)
    for name, other, frame in (("forward_flow", 2, 1), ("forward_flow", 3, 2), ("backward_flow", 2, 3),
                               ("backward_flow", 3, 4)):
        parts = [scenes.world_triangles(scene, [obj])(frame) for obj in [*objects, remeshed, decimated]]
        _, index, _, _ = triangle_ground_truth.first_hits(*pixel_rays(camera, frame), np.concatenate(parts))
        starts = np.cumsum([0, *map(len, parts)])
        on_remeshed = (index >= starts[-3]) & (index < starts[-2])
        on_decimated = index >= starts[-2]
        valid = np.load(out / f"{name}_valid_{frame:04d}.npy")
        assert on_remeshed.sum() > 20 and valid[on_remeshed].mean() > 0.9
        assert on_decimated.sum() > 20
        assert valid[on_decimated].mean() > 0.9, (name, frame)
        assert not np.load(out / f"{name}_occluded_{frame:04d}.npy")[~valid].any()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for obj in scene.objects:  # the bake's modifiers, attributes, helpers and passes are gone again
        if obj.type == "MESH":
            assert not [a.name for a in obj.evaluated_get(depsgraph).data.attributes if a.name.startswith("optical")]
            assert not [m.name for m in obj.modifiers if m.name.startswith("Optical")]
    assert len(bpy.context.view_layer.aovs) == 0 and not [m for m in bpy.data.materials if m.name.startswith("Optical")]
    assert not [d.name for d in [*bpy.data.node_groups, *bpy.data.objects, *bpy.data.meshes] if "Optical" in d.name]


def test_only_meshes_that_can_deform_carry_displacement_attributes(tmp_path, monkeypatch):
    """Cycles copies a moving object's mesh again every frame, attributes included: a rigid mesh evaluates to one
    carrying only its object's number (the displacement passes read zero on it, as the accuracy tests above check)."""
    scene, objects = scenes.deforming_scene()
    render, carried = bake.render_frame, []

    def render_and_look(scene, frame, path, guard):
        depsgraph = bpy.context.evaluated_depsgraph_get()
        carried.append({obj.name: sorted(a.name for a in obj.evaluated_get(depsgraph).data.attributes
                                         if a.name.startswith("optical_flow")) for obj in objects})
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
    with pytest.raises(RuntimeError, match="asks for a frame gap above 1, which needs .* materials Veil keep "
                                           "their own"):
        bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "gap"), frame_gap=2)
    assert bpy.ops.optical_flow.render_flow(output_dir=str(tmp_path / "flow")) == {"FINISHED"}
    names = sorted(p.name for p in (tmp_path / "flow").iterdir())
    assert "forward_flow_0001.npy" in names and not [n for n in names if "occluded" in n]
    manifest = json.loads((tmp_path / "flow" / "manifest.json").read_text())
    assert manifest["method"] == "vector pass" and not manifest["occlusion"]
