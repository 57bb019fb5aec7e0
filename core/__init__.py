"""The ground floor every other package stands on: the project's vocabulary and file helpers.

Errors and option checks, the task vocabulary and participant groups, visit order, the iBUG-68
landmark index sets, atomic file writing, path scrubbing, formula-safe tables and the clip writer.
Nothing here imports another package of the project (docs/architecture.md, "Layers").
"""
