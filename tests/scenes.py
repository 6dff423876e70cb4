"""Small Blender scenes for render tests, and their description for the ground truth."""
from __future__ import annotations

import math

import bpy
import numpy as np

import optical_flow_addon
from ground_truth import Camera, Shape

WIDTH, HEIGHT = 64, 48


def see_through_material(name: str) -> bpy.types.Material:
    """A material with alpha 0: invisible in Cycles."""
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    material.node_tree.nodes["Principled BSDF"].inputs["Alpha"].default_value = 0.0
    return material


def empty_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if not hasattr(bpy.types.Scene, "optical_flow"):
        optical_flow_addon.register()
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    return scene


def add_camera(scene, poses: list[tuple], lens: float = 35.0, first_frame: int = 1) -> bpy.types.Object:
    """Keyframe a camera with (location, euler XYZ) poses, one per frame."""
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = lens
    scene.collection.objects.link(camera)
    scene.camera = camera
    for frame, (location, rotation) in enumerate(poses, start=first_frame):
        camera.location, camera.rotation_euler = location, rotation
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_start, scene.frame_end = first_frame, first_frame + len(poses) - 1
    return camera


def add_box(location, rotation=(0, 0, 0), scale=(1, 1, 1), keys: dict | None = None) -> bpy.types.Object:
    """A cube spanning [-1, 1]^3 in local space; ``keys`` maps frame -> (location, rotation)."""
    bpy.ops.mesh.primitive_cube_add(size=2, location=location, rotation=rotation, scale=scale)
    box = bpy.context.object
    for frame, (loc, rot) in (keys or {}).items():
        box.location, box.rotation_euler = loc, rot
        box.keyframe_insert("location", frame=frame)
        box.keyframe_insert("rotation_euler", frame=frame)
    return box


def add_plane(size, location=(0, 0, 0), rotation=(0, 0, 0)) -> bpy.types.Object:
    bpy.ops.mesh.primitive_plane_add(size=size, location=location, rotation=rotation)
    return bpy.context.object


def half_extent(obj) -> tuple[float, float, float]:
    """Local half size from the mesh itself: a cube gives (1, 1, 1), a plane (h, h, 0)."""
    coordinates = np.array([v.co for v in obj.data.vertices])
    return tuple(float(x) for x in np.abs(coordinates).max(axis=0))


def describe(scene, objects) -> tuple[list[Shape], Camera]:
    """Read each object's and the camera's world matrix at every frame of the range."""
    frames = range(scene.frame_start, scene.frame_end + 1)
    matrices = {obj.name: {} for obj in [*objects, scene.camera]}
    for frame in frames:
        scene.frame_set(frame)
        for obj in matrices:
            matrices[obj][frame] = np.array(bpy.data.objects[obj].matrix_world)
    shapes = [Shape(matrices[obj.name], half_extent(obj)) for obj in objects]
    camera = scene.camera
    return shapes, Camera.default_sensor(matrices[camera.name], camera.data.lens, WIDTH, HEIGHT)


def camera_motion_scene() -> tuple[bpy.types.Scene, list]:
    """Floor, a box and a tilted box; the camera translates and rotates every frame."""
    scene = empty_scene()
    objects = [add_plane(60), add_box((0, 0, 1)), add_box((2.5, 1.5, 0.8), (0.3, 0.2, 0.7), (0.6, 1.2, 0.8))]
    add_camera(scene, [
        ((0, -10, 4), (1.3, 0, 0)),
        ((0.4, -9.5, 4.2), (1.28, 0.02, 0.05)),
        ((1.2, -9.8, 3.8), (1.25, -0.03, 0.12)),
        ((1.5, -9.0, 4.5), (1.32, 0.0, 0.08)),
        ((0.8, -8.7, 4.1), (1.27, 0.05, -0.04)),
    ])
    return scene, objects


def moving_object_scene() -> tuple[bpy.types.Scene, list]:
    """A box that translates and spins in front of a still camera, background behind it."""
    scene = empty_scene()
    objects = [add_box((0, 0, 0), keys={
        1: ((0, 0, 0), (0.2, 0.1, 0)),
        2: ((0.6, 0.2, 0.3), (0.3, 0.25, 0.2)),
        3: ((1.0, -0.3, 0.5), (0.45, 0.3, 0.5)),
    })]
    add_camera(scene, [((0, -9, 0), (math.pi / 2, 0, 0))] * 3)
    return scene, objects
