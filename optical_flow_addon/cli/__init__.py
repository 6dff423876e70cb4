"""Command line: ``python -m optical_flow_addon bake|demo`` with the ``bpy`` module, ``vis`` without it.

The modules, each importing only those below it:

- ``command``: ``main`` (the parser's arguments to a run, every way it ends as one line and an exit status);
- ``parser``: the flags; ``vis``: the flow picture (no ``bpy``);
- ``single``: one bake in this process and what it prints; ``scene``: loading and preparing its scene;
- ``scale_out``: many scenes and chunks (the coordinator), ``tasks``: its tasks and their bake processes,
  ``chunk_process``: a chunk's bake process (``python -m optical_flow_addon.cli.chunk_process``);
- ``names``: sequence names and the chunks' working folders; ``shared``: the progress report, the stop request and
  the exit, which the single bake and the scale-out both use.
"""
from .command import console, main

__all__ = ["console", "main"]


