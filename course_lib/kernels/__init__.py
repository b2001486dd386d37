"""Compute kernels, one module per backend, each exposing the same function names.

Kernels take plain arrays and numbers (no param dicts, no caches) and assume their inputs were
validated by course_lib.layers. numpy_kernels is the specification the others must match.
"""
