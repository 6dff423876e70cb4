"""Which device a render device choice means, given the GPUs present (no bpy: the choice is pure)."""
import pytest

from optical_flow_addon.core.errors import FlowError
from optical_flow_addon.core.render_devices import DEVICES, choose, device_items


def test_auto_takes_the_best_gpu_present_else_the_cpu():
    assert choose("AUTO", {}) == "CPU"
    assert choose("AUTO", {"HIP": ["Radeon"], "ONEAPI": ["Arc"]}) == "HIP"
    assert choose("AUTO", {"CUDA": ["RTX 4090"], "OPTIX": ["RTX 4090"]}) == "OPTIX"
    assert choose("CPU", {"OPTIX": ["RTX 4090"]}) == "CPU" and choose("CUDA", {"CUDA": ["RTX 4090"]}) == "CUDA"


def test_a_device_asked_for_and_absent_is_refused_naming_what_is_present():
    with pytest.raises(FlowError) as refused:
        choose("CUDA", {})
    assert str(refused.value) == ("Render device CUDA: Cycles finds no CUDA device on this machine. Present: the CPU "
                                  "only, no GPU Cycles can use. Choose AUTO or CPU.")
    with pytest.raises(FlowError) as refused:
        choose("HIP", {"OPTIX": ["RTX A6000", "RTX A6000"], "CUDA": ["RTX A6000"]})
    assert str(refused.value) == ("Render device HIP: Cycles finds no HIP device on this machine. Present: OptiX "
                                  "(RTX A6000, RTX A6000), CUDA (RTX A6000), CPU. Choose one of those, AUTO or CPU.")


def test_the_panel_and_operator_offer_the_command_lines_devices_after_the_scenes_own():
    assert [item[0] for item in device_items()] == ["SCENE", *DEVICES]
