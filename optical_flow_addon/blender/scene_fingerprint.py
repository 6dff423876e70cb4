"""A fingerprint of the scene and its animation over a bake's sequence, recorded in the manifest, so that a resumed
bake can tell that the frames it keeps are of the scene it bakes (another .blend, or a camera key moved since).

It hashes, frame by frame, what decides the flow: the scene camera (its pose, lens and type) and every object of the
scene (name, type, render visibility, world matrix), and the evaluated vertices of each mesh, at the first frame and,
for meshes that can deform (modifiers, shape keys, animated mesh data), at every frame. Materials, lights and the
world are not hashed: they change the images, not the flow. Values are rounded to 1e-5, so that the fingerprint
does not hang on the last bits of a float. It costs a frame change per frame of the sequence.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace

import bpy
import numpy as np

from ..core.options import BakeOptions
from .camera import LENS_SETTINGS
from .surface_motion import point_vectors

DECIMALS = 5


def may_deform(obj: bpy.types.Object) -> bool:
    """Whether a mesh object's evaluated vertices can differ from frame to frame."""
    return obj.type == "MESH" and bool(len(obj.modifiers) or obj.data.shape_keys or obj.data.animation_data)


def scene_fingerprint(scene: bpy.types.Scene, first: int, last: int) -> str:
    """The fingerprint of frames ``first``–``last``; the scene is left on the frame it was on."""
    digest = hashlib.sha256()

    def add(*values: object) -> None:
        digest.update(repr(values).encode())

    def add_array(array: object) -> None:
        digest.update(np.round(np.asarray(array, np.float64), DECIMALS).tobytes())

    frame, subframe = scene.frame_current, scene.frame_subframe
    objects = sorted(scene.objects, key=lambda obj: obj.name)
    deforming = {obj.name for obj in objects if may_deform(obj)}
    try:
        for number in range(first, last + 1):
            scene.frame_set(number)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            camera = scene.camera
            add(number, camera.name, camera.data.type, camera.data.ortho_scale,
                *(getattr(camera.data, name) for name in LENS_SETTINGS))
            add_array(camera.matrix_world)
            for obj in objects:
                add(obj.name, obj.type, obj.hide_render)
                add_array(obj.evaluated_get(depsgraph).matrix_world)
                if obj.type == "MESH" and (number == first or obj.name in deforming):
                    add_array(point_vectors(obj.evaluated_get(depsgraph).data, "position"))
    finally:
        scene.frame_set(frame, subframe=subframe)
    return digest.hexdigest()[:32]


def with_scene_fingerprint(scene: bpy.types.Scene, options: BakeOptions) -> BakeOptions:
    """``options`` with the fingerprint of the scene over their sequence (the whole range, so that chunks agree)."""
    return replace(options, scene_fingerprint=scene_fingerprint(scene, options.sequence_start, options.sequence_end))
