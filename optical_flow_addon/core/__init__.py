"""Pure core of the add-on: never imports ``bpy``.

Everything here works on numpy arrays and files, so it can be tested and reused
without Blender: EXR reading, vector pass → flow conversion, masks, file writers,
camera maths and pose files.
"""
