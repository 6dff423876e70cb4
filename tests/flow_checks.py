"""A baked frame's flow, masks and scene flow against the triangle ray caster (tests/triangle_ground_truth.py)."""
import numpy as np

import triangle_ground_truth
from ground_truth import OFFSETS, compare_candidates

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


# The formats that read back every value as baked; .flo and KITTI's PNG give invalid flow as 0, KITTI's in 1/64 px.
EXACT = ("NPY", "NPZ", "PFM", "EXR", "HDF5", "HDF5_SEQUENCE")


def assert_same_flow(fmt, back, npy):
    """What a format reads back equals the .npy bake: exactly, or as the format stores it."""
    assert sorted(back) == sorted(npy), fmt
    for name in ("forward_flow", "backward_flow"):
        if name not in npy:
            continue
        valid = npy[f"{name}_valid"]
        np.testing.assert_array_equal(back[f"{name}_valid"], valid, err_msg=fmt)
        if fmt in EXACT:
            np.testing.assert_array_equal(back[name], npy[name], err_msg=fmt)
        else:
            tolerance = 1 / 128 if fmt == "KITTI" else 0
            assert np.abs(back[name][valid] - npy[name][valid]).max() <= tolerance, fmt
            assert np.all(back[name][~valid] == 0), fmt
