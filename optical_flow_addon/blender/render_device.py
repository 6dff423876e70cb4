"""The device Cycles renders a bake on (the images and the flow passes): the scene's own, as F12, or one chosen, set in
Cycles' preferences and the scene through a settings guard, so that all of it is restored when the bake ends.

The ``bpy`` module starts with no compute device in Cycles' preferences and none enabled: a chosen GPU kind becomes
the preferences' compute device type, its devices are ticked (the CPU's not) and the scene renders on the GPU."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import bpy

from ..core.render_devices import AS_SCENE, CPU, GPU_BEST_FIRST, choose, described
from .settings_guard import SettingsGuard


def cycles_preferences() -> bpy.types.AddonPreferences:
    return bpy.context.preferences.addons["cycles"].preferences


def gpus_present(preferences: bpy.types.AddonPreferences) -> dict[str, list[str]]:
    """The GPU kinds this Blender's Cycles was built with and finds devices of, each with its devices' names.
    Asking adds the devices found to the preferences' list (the caller restores it)."""
    import _cycles

    built = dict(zip(("CUDA", "OPTIX", "HIP", "METAL", "ONEAPI"), _cycles.get_device_types()))
    present = {}
    for kind in GPU_BEST_FIRST:
        if built.get(kind):
            names = [device[0] for device in preferences.get_device_list(kind) if device[1] == kind]
            if names:
                present[kind] = names
    return present


def scene_device(scene: bpy.types.Scene, preferences: bpy.types.AddonPreferences) -> str:
    """What F12 renders the scene on, in words, without asking Cycles for devices (which can be slow)."""
    kind = preferences.compute_device_type
    if scene.cycles.device == "GPU" and kind not in ("", "NONE"):
        names = [device.name for device in preferences.devices if device.use and device.type == kind]
        if names:
            return described(kind, names)
    return CPU


def keep_device_list(preferences: bpy.types.AddonPreferences, guard: SettingsGuard) -> None:
    """Put back, when ``guard`` restores, the preferences' device list as it is now: devices that Cycles adds to it
    while it is asked are removed again."""
    before = {(device.type, device.id) for device in preferences.devices}

    def restore() -> None:
        for index in reversed(range(len(preferences.devices))):
            device = preferences.devices[index]
            if (device.type, device.id) not in before:
                preferences.devices.remove(index)

    guard.on_restore(restore)


def use_device(scene: bpy.types.Scene, asked: str, guard: SettingsGuard) -> str:
    """Render ``scene`` on the device ``asked`` (``AS_SCENE``, ``AUTO``, ``CPU`` or a GPU kind), changing settings
    through ``guard``; returns the device in words. Refuses a GPU kind that is not present before changing anything
    that ``guard`` would not restore."""
    preferences = cycles_preferences()
    if asked == AS_SCENE:
        return scene_device(scene, preferences)
    keep_device_list(preferences, guard)
    present = gpus_present(preferences) if asked != CPU else {}
    kind = choose(asked, present)
    if kind == CPU:
        guard.set(scene.cycles, "device", "CPU")
        return CPU
    guard.set(preferences, "compute_device_type", kind)
    for device in preferences.devices:
        guard.set(device, "use", device.type == kind)
    guard.set(scene.cycles, "device", "GPU")
    return described(kind, present[kind])


def check_device(asked: str) -> None:
    """Refuse a device not present before anything is made (the command line asks first); changes nothing."""
    if asked in GPU_BEST_FIRST:
        with SettingsGuard() as guard:
            preferences = cycles_preferences()
            keep_device_list(preferences, guard)
            choose(asked, gpus_present(preferences))


@contextmanager
def render_device(scene: bpy.types.Scene, asked: str) -> Iterator[str]:
    """``use_device`` for the time of a bake: yields the device in words, and restores every setting it changed."""
    with SettingsGuard() as guard:
        yield use_device(scene, asked, guard)
