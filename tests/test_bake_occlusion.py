"""Occlusion masks, frame gaps and scene flow against the triangle ray caster, on real Cycles renders."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
import triangle_ground_truth  # noqa: E402
from ground_truth import OFFSETS, compare_candidates  # noqa: E402

TOLERANCE_PX = 0.001
TOLERANCE_M = 1e-4


def edges(labels: np.ndarray) -> np.ndarray:
    """Pixels with both labels in their 3×3 neighbourhood."""
    padded = np.pad(labels, 1, mode="edge")
    windows = np.stack([padded[1 + dy:1 + dy + labels.shape[0], 1 + dx:1 + dx + labels.shape[1]]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return windows.any(axis=0) & ~windows.all(axis=0)


def check_frame(out, triangles_at, camera, frame, name, other, scene_flow):
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
    if scene_flow is not None:
        baked = np.load(out / f"{name.replace('_flow', '_scene_flow')}_{frame:04d}.npy")
        best = np.full(hit.shape, np.inf)
        for k, (index, _, _, motion) in enumerate(results):
            expected = triangle_ground_truth.camera_axes_motion(camera, frame, motion) * [1, -1, -1]
            usable = np.ones_like(hit) if k == 0 else index != centre
            best = np.where(usable, np.minimum(best, np.abs(baked - expected).max(axis=-1)), best)
        assert best[valid].max() < TOLERANCE_M, f"{name} {frame}: worst scene flow error {best[valid].max():.2e} m"
    return agree.sum(), agree.size, agree[away].sum(), away.sum(), truth[judged].sum()


@pytest.mark.parametrize("gap", [1, 3])
def test_occlusion_flow_and_scene_flow_match_the_ray_caster(tmp_path, gap):
    scene, objects = scenes.occlusion_scene()
    triangles_at = scenes.world_triangles(scene, objects)
    camera = scenes.scene_camera(scene)
    out = tmp_path / "flow"
    assert bpy.ops.optical_flow.render_flow(output_dir=str(out), frame_gap=gap, scene_flow=True) == {"FINISHED"}
    totals = np.zeros(5, int)
    for frame in range(1, 7):
        for name, other in (("forward_flow", frame + gap), ("backward_flow", frame - gap)):
            if other not in camera.matrices:
                assert not (out / f"{name}_{frame:04d}.npy").exists()
                continue
            totals += check_frame(out, triangles_at, camera, frame, name, other, scene_flow=True)
    agree, judged, agree_away, away, occluded = totals
    print(f"gap {gap}: occlusion agrees on {agree}/{judged} valid pixels, {agree_away}/{away} away from edges; "
          f"{occluded} occluded")
    assert occluded > 0.02 * judged  # the scene really hides things
    assert agree_away >= 0.998 * away
    assert agree >= 0.99 * judged
