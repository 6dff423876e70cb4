"""A small textured scene built from nothing, with BlenderProc's five example camera poses."""
from __future__ import annotations

import bpy

# BlenderProc's optical-flow example camera_positions: x y z rx ry rz (Euler XYZ radians).
DEMO_POSES = """\
0 -10 4 1.3 0 0    # initial position
0 -12 4 1.3 0 0    # moving away from object
2 -12 4 1.3 0 0    # moving to the right
2 -12 6 1.3 0 0    # moving upwards
1 -11 5 1.3 0 0    # combined motion (left, towards the object and down)
"""


DEMO_SAMPLES = 16  # enough for a clean picture at the demo's size, quick on a laptop's processor


def checker_material(name: str, scale: float) -> bpy.types.Material:
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):  # 5.0 materials always use nodes
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = scale
    links.new(checker.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    return material


def build_demo_scene(width: int = 320, height: int = 240) -> bpy.types.Scene:
    """Empty the file, then add a floor, three objects (one of them moving), a light and a camera."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = width, height
    bpy.ops.mesh.primitive_plane_add(size=30)
    bpy.context.object.data.materials.append(checker_material("Floor", 20))
    bpy.ops.mesh.primitive_cube_add(size=2, location=(0, 0, 1), rotation=(0, 0, 0.4))
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1, location=(-2.5, 1, 1))
    bpy.ops.mesh.primitive_torus_add(location=(2.5, 1, 1), rotation=(1.2, 0, 0))
    mover = bpy.context.object
    for frame, z in ((0, 1.0), (4, 3.0)):
        mover.location.z = z
        mover.keyframe_insert("location", frame=frame)
    for obj in scene.objects:
        if not obj.data.materials:
            obj.data.materials.append(checker_material(f"{obj.name} Checker", 6))
    bpy.ops.object.light_add(type="SUN", location=(0, 0, 10), rotation=(0.4, 0.2, 0))
    scene.render.engine = "CYCLES"
    scene.cycles.samples = DEMO_SAMPLES
    scene.world = bpy.data.worlds.new("Sky")
    if bpy.app.version < (5, 0, 0):
        scene.world.use_nodes = True
    scene.world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.45, 0.6, 0.85, 1.0)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    return scene
