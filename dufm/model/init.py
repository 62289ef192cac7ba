"""Initialisations of the parameters: a registry, seeded with ``jax.random``.

Each kind draws H_1 (d_1 x N) and W_l (d_{l+1} x d_l, W_L: K x d_L) from one
key with a feature scale s_H (for H_1) and a weight scale s_W (for every W_l);
fan_in of W_l is its input width d_l. The bias, when present, starts at zero.

``gaussian``    H_1 ~ N(0, s_H^2), W_l ~ N(0, s_W^2), entrywise i.i.d. (the papers' "init scale" is this std).
``orthogonal``  H_1 = s_H Q_0, W_l = s_W Q_l, each Q (semi-)orthogonal (``jax.nn.initializers.orthogonal``).
``pytorch``     torch.nn.Linear's default for every W_l: ``kaiming_uniform_(W, a=sqrt(5))`` =
                U(-g/sqrt(fan_in), g/sqrt(fan_in)) with gain g = s_W (PyTorch: g = 1); H_1 ~ N(0, s_H^2)
                (``torch.randn``: s_H = 1). Both scales default to 1, not to ``init_scale``.
``gain``        gain-matched Gaussian: W_l ~ N(0, (s_W / sqrt(fan_in))^2); H_1 ~ N(0, s_H^2).
``spectral``    aligned, balanced factors (see :func:`_spectral`): only the singular values move under GD.
``balanced``    for depth: every factor (s_H s_W^L)^(1/(L+1)) times a (semi-)orthogonal matrix, so the factors are
                balanced and the end-to-end map Z has singular values s_H s_W^L at every depth (orthonormal rows
                of H_1 and of every W_l with d_{l+1} <= d_l); both scales default to 1.

:func:`initialise` draws one point from a key; :func:`starts` draws a batch
from seeds as one compiled program per (architecture, kind), the scales being
inputs of that program (drawing op by op compiles every random primitive for
every shape, seconds on a CPU). To add a kind: write its draw function and add
one :class:`Init` to :data:`REGISTRY`.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..runtime import float64
from .objective import labels, shapes
from .problem import Architecture, Params

# (key, arch, feature scale, weight scale) -> [H_1, W_1, ..., W_L]; the scales are traced scalars of arch's dtype
DrawFn = Callable[[jax.Array, Architecture, jax.Array, jax.Array], list]


class Init(NamedTuple):
    """One kind of initialisation: its draw, the scale used when none is given, and what it needs of the shapes."""

    draw: DrawFn
    default_scale: float | None  # the scale when feature/weight_init_scale is None; None: the config's init_scale
    misfit: Callable[[Architecture], str | None] = lambda arch: None  # why the kind cannot be built for arch, or None


def _matrices(arch: Architecture) -> list:
    shp = shapes(arch)
    return [shp.H, *shp.W]


def _barrier(x):
    # keeps XLA from fusing the scale's product into the draw: the same bits as drawing op by op
    return jax.lax.optimization_barrier(x)


def _gaussian(key, arch, feature, weight) -> list:
    """Entries i.i.d. N(0, s^2): s = ``feature`` for H_1, ``weight`` for every W_l."""
    mats = _matrices(arch)
    keys = jax.random.split(key, len(mats))
    return [s * _barrier(jax.random.normal(k, m.shape, m.dtype)) for s, k, m in zip([feature] + [weight] * (len(mats) - 1), keys, mats)]


def _orthogonal(key, arch, feature, weight) -> list:
    """s times a (semi-)orthogonal matrix (orthonormal rows or columns, whichever are fewer)."""
    mats = _matrices(arch)
    keys = jax.random.split(key, len(mats))
    orth = jax.nn.initializers.orthogonal(scale=1.0)
    return [s * orth(k, m.shape, m.dtype) for s, k, m in zip([feature] + [weight] * (len(mats) - 1), keys, mats)]


def _pytorch(key, arch, feature, weight) -> list:
    """H_1 ~ N(0, s_H^2); W_l ~ U(-b, b), b = s_W / sqrt(fan_in) (torch.nn.Linear.reset_parameters, s_W = 1).

    ``kaiming_uniform_(W, a=sqrt(5))`` draws U(-bound, bound) with bound = gain * sqrt(3 / fan_in) and
    gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), so bound = 1 / sqrt(fan_in): PyTorch >= 0.4.1, pytorch/pytorch
    torch/nn/modules/linear.py (commit f2889c83; pytorch/pytorch#57109) and torch/nn/init.py (commit 0014856d).
    """
    mats = _matrices(arch)
    keys = jax.random.split(key, len(mats))
    out = [feature * _barrier(jax.random.normal(keys[0], mats[0].shape, mats[0].dtype))]
    for k, m in zip(keys[1:], mats[1:]):
        bound = weight * (1.0 / math.sqrt(m.shape[1]))
        out.append(bound * _barrier(jax.random.uniform(k, m.shape, m.dtype, -1.0, 1.0)))
    return out


def _gain(key, arch, feature, weight) -> list:
    """H_1 ~ N(0, s_H^2); W_l ~ N(0, (g / sqrt(fan_in))^2) with g = s_W (He/LeCun-style gain matching)."""
    mats = _matrices(arch)
    keys = jax.random.split(key, len(mats))
    out = [feature * _barrier(jax.random.normal(keys[0], mats[0].shape, mats[0].dtype))]
    for k, m in zip(keys[1:], mats[1:]):
        out.append((weight * (1.0 / math.sqrt(m.shape[1]))) * _barrier(jax.random.normal(k, m.shape, m.dtype)))
    return out


def hadamard(k: int) -> np.ndarray:
    """The Sylvester-Hadamard matrix of order ``k`` (a power of two) divided by sqrt(k): orthogonal, entries +-1/sqrt(k)."""
    h = np.ones((1, 1))
    while h.shape[0] < k:
        h = np.block([[h, h], [h, -h]])
    return h / math.sqrt(k)


def class_basis(arch: Architecture) -> np.ndarray:
    """E (K x N): the class-indicator rows normalised, E_{k,i} = [y_i = k] / sqrt(n_k); E E^T = I_K."""
    return np.asarray(labels(arch), np.float64) / np.sqrt(np.asarray(arch.counts, np.float64))[:, None]


def _is_power_of_two(k: int) -> bool:
    return k >= 1 and k & (k - 1) == 0


def label_basis(arch: Architecture) -> np.ndarray:
    """Q (K x K), the basis of the logits' singular vectors: Sylvester-Hadamard / sqrt(K) when K is a power of two, else I_K."""
    return hadamard(arch.classes) if _is_power_of_two(arch.classes) else np.eye(arch.classes)


def _spectral_misfit(arch: Architecture) -> str | None:
    if arch.multi_label:
        # E's rows would overlap (a sample of a set carries several labels), so the factors would not share a basis
        return f"one label per sample (labels_per_sample 1; its class basis E needs orthogonal label rows), got {arch.labels_per_sample}"
    if min(arch.widths) < arch.classes:
        return f"every width >= classes ({arch.classes}) to hold the {arch.classes} aligned modes, got widths {arch.widths}"
    if arch.loss != "mse" and not _is_power_of_two(arch.classes):
        # the softmax losses' gradient is a function of softmax(Z) (LS: minus the constant targets; focal: times a
        # scalar of p_y that is the same for every sample of such a Z), diagonal in the Hadamard basis only
        return f"classes a power of two for the {arch.loss} loss (the Hadamard basis), got {arch.classes}"
    return None


def _spectral(key, arch, feature, weight) -> list:
    """Aligned, balanced factors with K modes (GKT 2026 "spectral initialisation"; the Hadamard init of arXiv 2512.04006).

    With B_l (d_l x K) random orthonormal frames (l = 1..L), B_{L+1} = Q (:func:`label_basis`),
    E the class basis (:func:`class_basis`) and sigma (K,) i.i.d. U(0, 1), one per mode, shared by every factor:

        H_1 = s_H B_1 diag(sigma) Q^T E,     W_l = s_W B_{l+1} diag(sigma) B_l^T,

    so Z = W_L ... W_1 H_1 = s_H s_W^L Q diag(sigma^{L+1}) Q^T E: consecutive factors share singular vectors,
    H_1's right singular vectors span the class indicators, and with s_H = s_W the factors are balanced
    (W_{l+1}^T W_{l+1} = W_l W_l^T, W_1^T W_1 = H_1 H_1^T).
    """
    mats = _matrices(arch)
    dt = mats[0].dtype
    K, L = arch.classes, arch.depth
    keys = jax.random.split(key, L + 1)
    orth = jax.nn.initializers.orthogonal(scale=1.0)
    frames = [orth(k, (d, K), dt) for k, d in zip(keys[:L], arch.widths)] + [jnp.asarray(label_basis(arch), dt)]
    sigma = jax.random.uniform(keys[L], (K,), dt)
    right = jnp.asarray(label_basis(arch).T @ class_basis(arch), dt)  # Q^T E, K x N
    H = feature * _barrier((frames[0] * sigma) @ right)
    W = [weight * _barrier((frames[l + 1] * sigma) @ frames[l].T) for l in range(L)]
    return [H, *W]


def _balanced(key, arch, feature, weight) -> list:
    """Every factor c Q, c = (s_H s_W^L)^(1/(L+1)), Q (semi-)orthogonal: unit-gain factors of equal scale, whose product
    has the scale s_H s_W^L whatever the depth (a fixed scale per factor makes the logits' scale s^(L+1): 0 or overflow at
    depth; the field's default init has ||H_1|| much larger than every ||W_l||, which depth collapses to rank 1)."""
    mats = _matrices(arch)
    keys = jax.random.split(key, len(mats))
    c = jnp.exp((jnp.log(feature) + arch.depth * jnp.log(weight)) / (arch.depth + 1))
    orth = jax.nn.initializers.orthogonal(scale=1.0)
    return [c * orth(k, m.shape, m.dtype) for k, m in zip(keys, mats)]


REGISTRY: dict[str, Init] = {
    "gaussian": Init(_gaussian, None),
    "orthogonal": Init(_orthogonal, None),
    "pytorch": Init(_pytorch, 1.0),
    "gain": Init(_gain, None),
    "spectral": Init(_spectral, None, _spectral_misfit),
    "balanced": Init(_balanced, 1.0),
}
INITS = tuple(REGISTRY)


def _check_scale(name: str, scale) -> None:
    if isinstance(scale, (bool, np.bool_)) or not (isinstance(scale, (int, float, np.integer, np.floating)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {scale!r}")


def resolve_scales(kind: str, init_scale: float, feature: float | None = None, weight: float | None = None) -> tuple[float, float]:
    """(s_H, s_W): the given feature / weight scale, else the kind's default (1 for ``pytorch``), else ``init_scale``."""
    check_init(init_scale, kind)
    fallback = REGISTRY[kind].default_scale or init_scale
    return (float(fallback if feature is None else feature), float(fallback if weight is None else weight))


def _pair(scale) -> tuple:
    """``scale`` as (s_H, s_W): a number is both."""
    return tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)


def check_init(scale, kind: str, arch: Architecture | None = None) -> None:
    """A ValueError naming ``init``, ``init_scale``, ``feature_init_scale`` or ``weight_init_scale`` when invalid.

    ``scale``: one number, or a pair (s_H, s_W); each finite and > 0. ``arch``: also check that ``kind`` fits it.
    """
    if kind not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}; got {kind!r}")
    if isinstance(scale, (tuple, list)):
        if len(scale) != 2:
            raise ValueError(f"init_scale must be a number or a pair (feature, weight), got {scale!r}")
        _check_scale("feature_init_scale", scale[0])
        _check_scale("weight_init_scale", scale[1])
    else:
        _check_scale("init_scale", scale)
    if arch is not None:
        why = REGISTRY[kind].misfit(arch)
        if why:
            raise ValueError(f"init must fit the problem: {kind} needs {why}")


def draw(key, arch: Architecture, scale, kind: str = "gaussian") -> Params:
    """The point of :func:`initialise` without the checks: pure and jittable, the scales may be traced.

    ``scale``: one scale for H_1 and every W_l, or a pair (s_H, s_W).
    """
    feature, weight = _pair(scale)
    out = REGISTRY[kind].draw(key, arch, feature, weight)
    shp = shapes(arch)
    b = None if shp.b is None else jnp.zeros(shp.b.shape, shp.b.dtype)
    return Params(out[0], tuple(out[1:]), b)


@functools.lru_cache(maxsize=32)
def _draw_program(arch: Architecture, kind: str):
    return jax.jit(lambda key, scale: draw(key, arch, (scale[0].astype(arch.dtype), scale[1].astype(arch.dtype)), kind))


@float64
def initialise(key, arch: Architecture, scale, kind: str = "gaussian") -> Params:
    """Parameters for ``arch`` drawn from ``key``; see the module docstring. One compiled program per (arch, kind).

    ``scale``: a number (s_H = s_W) or a pair (s_H, s_W).
    """
    check_init(scale, kind, arch)
    return _draw_program(arch, kind)(key, jnp.asarray(_pair(scale), jnp.float64))


# the kinds that draw orthogonal matrices (a QR factorisation each)
QR_KINDS = ("orthogonal", "spectral", "balanced")


@functools.lru_cache(maxsize=32)
def _starts_program(arch: Architecture, kind: str):
    def one(seed, scale):
        return draw(jax.random.PRNGKey(seed), arch, (scale[0].astype(arch.dtype), scale[1].astype(arch.dtype)), kind)

    if kind in QR_KINDS:
        # one member at a time: vmapped, each layer's QR is a batched LAPACK call that waits on XLA's CPU thread pool for
        # its share of the batch, and several layers' calls, run at once, can hold every thread of that pool while
        # waiting (with 18 seeds of depth 8 on two cores the program never ends); unbatched QRs do not wait on the pool
        return jax.jit(lambda seeds, scales: jax.lax.map(lambda member: one(*member), (seeds, scales)))
    return jax.jit(jax.vmap(one))


@float64
def starts(arch: Architecture, seeds, scales, kind: str = "gaussian") -> Params:
    """One point per seed, ``initialise(PRNGKey(seed), arch, scale, kind)`` each, with a leading batch axis.

    ``scales``: one number or pair (s_H, s_W) for all, or a list with one per seed, each a number or a pair.
    """
    seeds = [int(s) for s in seeds]
    scales = list(scales) if isinstance(scales, (list, np.ndarray)) else [scales] * len(seeds)
    if len(scales) != len(seeds):
        raise ValueError(f"init_scale must give one scale per seed ({len(seeds)}) or one for all, got {len(scales)}")
    for s in scales:
        check_init(s, kind, arch)
    pairs = jnp.asarray([_pair(s) for s in scales], jnp.float64).reshape(len(seeds), 2)
    return _starts_program(arch, kind)(jnp.asarray(seeds, jnp.int64), pairs)
