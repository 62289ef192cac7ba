"""Initialisations of the parameters, seeded with ``jax.random``.

``gaussian``: every entry of H_1 and W_l i.i.d. N(0, scale^2) (the papers'
"init scale" is this standard deviation). ``orthogonal``: each matrix is
``scale`` times a (semi-)orthogonal matrix (``jax.nn.initializers.orthogonal``).
The bias, when present, starts at zero.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .objective import shapes
from .precision import float64
from .problem import Architecture, Params

INITS = ("gaussian", "orthogonal")


@float64
def initialise(key, arch: Architecture, scale: float, kind: str = "gaussian") -> Params:
    """Parameters for ``arch`` drawn from ``key``; see the module docstring."""
    if kind not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {kind!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"init_scale must be a finite number > 0, got {scale!r}")
    shp = shapes(arch)
    mats = [shp.H, *shp.W]
    keys = jax.random.split(key, len(mats))
    if kind == "gaussian":
        draw = [scale * jax.random.normal(k, s.shape, s.dtype) for k, s in zip(keys, mats)]
    else:
        orth = jax.nn.initializers.orthogonal(scale=scale)
        draw = [orth(k, s.shape, s.dtype) for k, s in zip(keys, mats)]
    b = None if shp.b is None else jnp.zeros(shp.b.shape, shp.b.dtype)
    return Params(draw[0], tuple(draw[1:]), b)
