"""Initialisations of the parameters, seeded with ``jax.random``.

``gaussian``: every entry of H_1 and W_l i.i.d. N(0, scale^2) (the papers'
"init scale" is this standard deviation). ``orthogonal``: each matrix is
``scale`` times a (semi-)orthogonal matrix (``jax.nn.initializers.orthogonal``).
The bias, when present, starts at zero.

:func:`initialise` draws one point from a key; :func:`starts` draws a batch
from seeds as one compiled program per (architecture, kind), the scales being
inputs of that program (drawing op by op compiles every random primitive for
every shape, seconds on a CPU).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .objective import shapes
from .precision import float64
from .problem import Architecture, Params

INITS = ("gaussian", "orthogonal")


def check_init(scale, kind: str):
    """A ValueError naming ``init`` or ``init_scale`` when they are not a known kind and a finite number > 0."""
    if kind not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {kind!r}")
    if isinstance(scale, bool) or not (isinstance(scale, (int, float, np.floating)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"init_scale must be a finite number > 0, got {scale!r}")


def draw(key, arch: Architecture, scale, kind: str = "gaussian") -> Params:
    """The point of :func:`initialise` without the checks: pure and jittable, ``scale`` may be traced."""
    shp = shapes(arch)
    mats = [shp.H, *shp.W]
    keys = jax.random.split(key, len(mats))
    if kind == "gaussian":
        # the barrier keeps XLA from fusing the product into the draw: the same bits as drawing op by op
        out = [scale * jax.lax.optimization_barrier(jax.random.normal(k, s.shape, s.dtype)) for k, s in zip(keys, mats)]
    else:
        orth = jax.nn.initializers.orthogonal(scale=1.0)
        out = [scale * orth(k, s.shape, s.dtype) for k, s in zip(keys, mats)]
    b = None if shp.b is None else jnp.zeros(shp.b.shape, shp.b.dtype)
    return Params(out[0], tuple(out[1:]), b)


@functools.lru_cache(maxsize=32)
def _draw_program(arch: Architecture, kind: str):
    return jax.jit(lambda key, scale: draw(key, arch, scale.astype(arch.dtype), kind))


@float64
def initialise(key, arch: Architecture, scale: float, kind: str = "gaussian") -> Params:
    """Parameters for ``arch`` drawn from ``key``; see the module docstring. One compiled program per (arch, kind)."""
    check_init(scale, kind)
    return _draw_program(arch, kind)(key, jnp.asarray(scale, jnp.float64))


@functools.lru_cache(maxsize=32)
def _starts_program(arch: Architecture, kind: str):
    def one(seed, scale):
        return draw(jax.random.PRNGKey(seed), arch, scale.astype(arch.dtype), kind)

    return jax.jit(jax.vmap(one))


@float64
def starts(arch: Architecture, seeds, scales, kind: str = "gaussian") -> Params:
    """One point per seed, ``initialise(PRNGKey(seed), arch, scale, kind)`` each, with a leading batch axis.

    ``scales``: one per seed, or one for all.
    """
    seeds = [int(s) for s in seeds]
    scales = list(scales) if np.ndim(scales) else [scales] * len(seeds)
    if len(scales) != len(seeds):
        raise ValueError(f"init_scale must give one scale per seed ({len(seeds)}) or one for all, got {len(scales)}")
    for s in scales:
        check_init(s, kind)
    return _starts_program(arch, kind)(jnp.asarray(seeds, jnp.int64), jnp.asarray(scales, jnp.float64))
