"""Floating-point precision: float64 for dufm's computations, without a process-wide switch.

JAX computes in float32 unless its 64-bit mode is on. ``import dufm`` does
not turn it on for the process; instead every public entry point that
computes (the objective, the solvers, the analysis, the Hessian tools) is
wrapped by :func:`float64`, which turns the mode on for the duration of the
call only (``jax.enable_x64``, thread-local) and restores it afterwards.
So ``dufm.solve(problem)`` returns float64 results while code outside dufm
keeps its own setting. float32 problems still run in float32: their arrays
carry that dtype explicitly.

Code that applies its own JAX transformations to dufm's pure functions
(``jax.grad(lambda p: dufm.objective(p, ...))``) traces its inputs before
dufm is entered, so for a float64 problem it must turn the mode on itself
(``jax.config.update("jax_enable_x64", True)`` in a script, or
``with jax.enable_x64(True):``); :func:`require_float64` makes a float64
problem that meets float32 arrays a ValueError, never a silent float32 result.
"""

from __future__ import annotations

import functools

import jax
import numpy as np


def float64(fn):
    """Decorator: run ``fn`` with JAX's 64-bit mode on (scoped to the call; a no-op when it is already on)."""

    @functools.wraps(fn)
    def scoped(*args, **kwargs):
        if jax.config.jax_enable_x64:
            return fn(*args, **kwargs)
        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return scoped


def require_float64(tree, dtype: str):
    """Raise a ValueError when ``dtype`` is float64 but a floating leaf of ``tree`` has fewer bits."""
    if dtype != "float64":
        return
    for leaf in jax.tree_util.tree_leaves(tree):
        dt = getattr(leaf, "dtype", None)
        if dt is not None and np.issubdtype(dt, np.floating) and np.dtype(dt).itemsize < 8:
            raise ValueError(
                f"params of a float64 problem must be float64, got {np.dtype(dt).name}: JAX's 64-bit mode was off when "
                "they were made or traced (enable it with jax.config.update('jax_enable_x64', True) or "
                "`with jax.enable_x64(True):` around your own jax.jit / jax.grad of dufm's functions)")
