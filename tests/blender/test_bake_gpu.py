"""A bake on the GPU gives the CPU's flow, masks and occlusion: the surface-motion passes are exact on every device.
Skipped where Cycles finds no GPU (the development machines); run it once where one is."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from optical_flow_addon.blender.bake import bake_flow  # noqa: E402
from optical_flow_addon.blender.render_device import check_device  # noqa: E402
from optical_flow_addon.core.errors import FlowError  # noqa: E402
from optical_flow_addon.core.options import BakeOptions  # noqa: E402
from optical_flow_addon.core.render_devices import GPU_BEST_FIRST, LABELS  # noqa: E402

FLOW_TOLERANCE = 1e-3  # px


def gpus_here() -> list[str]:
    present = []
    for kind in GPU_BEST_FIRST:
        try:
            check_device(kind)
            present.append(kind)
        except FlowError:
            pass
    return present


def edges(*masks: np.ndarray) -> np.ndarray:
    """Pixels with a neighbour (of 8) on the other side of a mask's border, in any of ``masks``."""
    edge = np.zeros(masks[0].shape, bool)
    for mask in masks:
        padded = np.pad(mask, 1, mode="edge")
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                edge |= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]] != mask
    return edge


def test_a_gpu_bake_matches_the_cpu_bake_of_the_same_scene(tmp_path):
    kinds = gpus_here()
    if not kinds:
        pytest.skip("Cycles finds no GPU here (CUDA, OptiX, HIP, Metal, oneAPI): the GPU bake is compared with the "
                    "CPU's only on a machine with one")
    scene, _ = scenes.occlusion_scene()
    frames = {}
    for device in ("CPU", *kinds):
        folder = tmp_path / device
        options = BakeOptions(output_dir=folder, frame_start=scene.frame_start, frame_end=scene.frame_end,
                              formats=frozenset({"NPY"}))
        for progress in bake_flow(scene, options, device=device):
            assert progress.device.startswith(LABELS.get(device, "CPU"))
        frames[device] = folder
    for kind in kinds:
        compared = 0
        for path in sorted(frames["CPU"].glob("*_flow_[0-9]*.npy")):
            name = path.name.replace("_flow_", "_flow_{}_")
            cpu = {part: np.load(frames["CPU"] / name.format(part)) for part in ("valid", "occluded")}
            gpu = {part: np.load(frames[kind] / name.format(part)) for part in ("valid", "occluded")}
            cpu_flow, gpu_flow = np.load(path), np.load(frames[kind] / path.name)
            inside = ~edges(cpu["valid"], cpu["occluded"], gpu["valid"], gpu["occluded"])
            assert inside.mean() > 0.7, f"{path.name}: too few pixels away from edges to compare"
            for part in ("valid", "occluded"):
                assert np.array_equal(cpu[part][inside], gpu[part][inside]), f"{kind} {part} of {path.name}"
            both = inside & cpu["valid"] & gpu["valid"]
            assert np.abs(cpu_flow[both] - gpu_flow[both]).max() <= FLOW_TOLERANCE, f"{kind} flow of {path.name}"
            compared += 1
        assert compared == 10  # forward flow of frames 1-5, backward of 2-6
