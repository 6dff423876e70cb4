"""The devices a bake can render on, and which one a choice means: the one list the command line, the operator and the
panel offer (the Blender side, which asks Cycles what is present, is blender/render_device.py)."""
from __future__ import annotations

from .errors import FlowError

AS_SCENE = "SCENE"  # the scene's device and the preferences' devices, as F12 renders (the panel's default)
AUTO = "AUTO"  # the best device present (the command line's default)
CPU = "CPU"
GPU_BEST_FIRST = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")
DEVICES = (AUTO, CPU, "CUDA", "OPTIX", "HIP", "METAL", "ONEAPI")  # as the command line spells them
LABELS = {AS_SCENE: "As F12", AUTO: "Auto", CPU: "CPU", "CUDA": "CUDA", "OPTIX": "OptiX", "HIP": "HIP",
          "METAL": "Metal", "ONEAPI": "oneAPI"}
DESCRIPTIONS = {AS_SCENE: "The scene's device and the devices ticked in Preferences › System, as F12 renders",
                AUTO: "The best device present: OptiX, then CUDA, HIP, Metal, oneAPI, else the CPU",
                CPU: "The processor"}


def device_items() -> list[tuple[str, str, str]]:
    """The choices as a Blender enum's items: the scene's own device first (the default), then ``DEVICES``."""
    return [(name, LABELS[name], DESCRIPTIONS.get(name, f"{LABELS[name]} GPUs only (the CPU does not join them)"))
            for name in (AS_SCENE, *DEVICES)]


def described(kind: str, names: list[str]) -> str:
    """``OptiX (NVIDIA H100, NVIDIA H100)``, or ``CPU``."""
    return f"{LABELS[kind]} ({', '.join(names)})" if kind != CPU and names else LABELS.get(kind, kind)


def choose(asked: str, present: dict[str, list[str]]) -> str:
    """The device kind to render on for ``asked`` (``AUTO``, ``CPU`` or a GPU kind), given the GPUs ``present``
    (kind: device names, for the kinds Cycles finds devices of). A GPU kind not present is refused, naming what is."""
    if asked == AUTO:
        return next((kind for kind in GPU_BEST_FIRST if present.get(kind)), CPU)
    if asked == CPU or present.get(asked):
        return asked
    if asked not in DEVICES:
        raise FlowError(f"Render device {asked!r} is not one of {', '.join(DEVICES)}.")
    there = [described(kind, present[kind]) for kind in GPU_BEST_FIRST if present.get(kind)]
    raise FlowError(f"Render device {asked}: Cycles finds no {LABELS[asked]} device on this machine. Present: "
                    f"{', '.join([*there, 'CPU']) if there else 'the CPU only, no GPU Cycles can use'}. "
                    f"Choose {'one of those, ' if there else ''}AUTO or CPU.")
