"""What a run records as it goes: the history of loss, gradient norm, NC1 and spectra, and the program's output.

Every ``log_every`` steps the compiled program writes one row into arrays on
the device (no host synchronisation): the step (and, for the flow, the flow
time), loss, gradient norm, :func:`nc1_history` of every layer and, when the
config asks, the singular values :func:`spectra_of` names.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from matfree import decomp

from ..analysis.collapse import nc1_trace
from ..model.objective import forward, objective, post_activation, single_labels, spectrum_matrices, spectrum_sizes
from ..model.problem import Architecture, Decays, Params

SHARPNESS_MATVECS = 20  # Hessian-vector products a sharpness record costs


def nc1_history(params: Params, arch: Architecture):
    """:func:`dufm.analysis.collapse.nc1_trace` of sigma(H_l) for l = 1..L, shape (L,) (on device, jittable); with label
    sets, of the single-label samples (the first sum n_k columns), as :func:`dufm.analyse` reports NC1."""
    _, H = forward(params, arch)
    Y = jnp.asarray(single_labels(arch))
    counts = jnp.asarray(arch.counts, Y.dtype)
    out = []
    for F in post_activation(H, arch):
        if arch.multi_label:
            F = F[:, : arch.single_label_samples]
        M = (F @ Y.T) / counts
        within = jnp.sum((F - M @ Y) ** 2) / arch.single_label_samples
        out.append(nc1_trace(within, M - jnp.mean(F, axis=1, keepdims=True)))
    return jnp.stack(out)


def spectra_of(params: Params, arch: Architecture, which: str) -> dict:
    """Name -> singular values (descending) of each matrix ``which`` records (:func:`dufm.model.objective.spectrum_matrices`); jittable."""
    return {k: jnp.linalg.svd(m, compute_uv=False) for k, m in spectrum_matrices(params, arch, which).items()}


def sharpness(params: Params, direction, decays: Decays, arch: Architecture):
    """The sharpness, the Hessian's largest eigenvalue at ``params``, and its Ritz vector (flat, (P,)): Lanczos with full
    reorthogonalisation (matfree), :data:`SHARPNESS_MATVECS` Hessian-vector products started from ``direction`` (the
    last record's Ritz vector, so that each record starts warm); jittable. Compared with 2 / lr, the step of GD, it
    says whether GD runs at the edge of stability (Cohen et al. 2021)."""
    flat, unravel = ravel_pytree(params)
    gradient = lambda x: ravel_pytree(jax.grad(lambda p: objective(p, decays, arch))(unravel(x)))[0]  # noqa: E731
    k = min(SHARPNESS_MATVECS, flat.size)
    Q, T, *_ = decomp.tridiag_sym(k, materialize=True, custom_vjp=False)(
        lambda v: jax.jvp(gradient, (flat,), (v,))[1], direction / jnp.linalg.norm(direction))
    # Lanczos breaks down when the Krylov space is exhausted before k products (a Hessian with few distinct
    # eigenvalues: lambda I at the zero point of a deep model, nearly so from PyTorch's init at L = 32); past that step
    # T and Q hold a normalised rounding error (or NaN), so only the leading block before the first vanishing
    # off-diagonal is kept, and the rest is filled below every Ritz value of that block
    finite = lambda x: jnp.where(jnp.isfinite(x), jnp.abs(x), 0.0)  # noqa: E731
    beta = jnp.abs(jnp.diagonal(T, 1))
    size = jnp.max(finite(jnp.diagonal(T))) + jnp.max(finite(beta))
    kept = 1 + jnp.sum(jnp.cumprod(beta > 1e-12 * size))
    inside = jnp.arange(k) < kept
    floor = T[0, 0] - 1.0 - jnp.abs(T[0, 0]) - size  # the Rayleigh quotient of the start lies within the block's Ritz values
    T = jnp.where(inside[:, None] & inside[None, :], T, 0.0) + jnp.diag(jnp.where(inside, 0.0, floor))
    theta, S = jnp.linalg.eigh(T)
    return theta[-1], jnp.where(inside, S[:, -1], 0.0) @ jnp.where(inside[:, None], Q, 0.0)


def stability_limit(optimizer: str, lr: float, momentum: float) -> float | None:
    """The largest sharpness at which a fixed step ``lr`` is stable on a quadratic of that curvature h: lr h < 2 for GD
    (the edge of stability, Cohen et al. 2021), lr h < 2 (1 + momentum) for heavy ball; None for the optimisers whose
    step is not fixed (adam, lbfgs, backtracking, flow)."""
    if optimizer == "gd":
        return 2 / lr
    if optimizer == "momentum":
        return 2 * (1 + momentum) / lr
    return None


def first_direction(params: Params):
    """The start of the first sharpness record: a fixed random direction (Lanczos misses the top eigenvalue only from a
    start orthogonal to its eigenvector)."""
    flat = ravel_pytree(params)[0]
    return jax.random.normal(jax.random.PRNGKey(0), flat.shape, flat.dtype)


class Recorder(NamedTuple):
    """The history while a run goes, on the device: ``key.capacity`` NaN rows that :func:`write` fills.

    ``rows`` (capacity, 3): step, loss, gradient norm; ``nc1`` (capacity, L);
    ``sv``: name -> (capacity, r); ``time`` (capacity,) the flow's, else None;
    ``sharpness`` (capacity,) and ``direction`` (P,), where the next record's
    Lanczos starts, when the config records the sharpness, else None.
    """

    rows: jax.Array
    nc1: jax.Array
    sv: dict
    time: Any
    sharpness: Any
    direction: Any


def recorder(params0: Params, arch: Architecture, key, dtype, timed: bool) -> Recorder:
    """An empty :class:`Recorder` for a run from ``params0`` (``key``: the program's static key; ``timed``: the flow)."""
    def empty(*shape):
        return jnp.full((key.capacity, *shape), jnp.nan, dtype)

    return Recorder(empty(3), empty(arch.depth), {k: empty(r) for k, r in spectrum_sizes(arch, key.spectra).items()},
                    empty() if timed else None, empty() if key.sharpness else None,
                    first_direction(params0) if key.sharpness else None)


def write(rec: Recorder, row, params: Params, step, value, gnorm, decays: Decays, arch: Architecture, key, time=None,
          keep=True) -> Recorder:
    """``rec`` with row ``row`` recording ``params`` at ``step`` (and flow ``time``): its loss ``value``, gradient norm
    ``gnorm``, NC1, spectra and sharpness; where ``keep`` is false (a batch member that has stopped) the row stays NaN
    and the sharpness's next start is unchanged. Jittable."""
    def put(a, x):
        return a.at[row].set(jnp.where(keep, x, jnp.nan))

    sv = spectra_of(params, arch, key.spectra)
    rec = rec._replace(rows=put(rec.rows, jnp.stack([step.astype(value.dtype), value, gnorm])), nc1=put(rec.nc1, nc1_history(params, arch)),
                       sv={name: put(a, sv[name]) for name, a in rec.sv.items()})
    if rec.time is not None:
        rec = rec._replace(time=put(rec.time, time))
    if rec.sharpness is not None:
        top, ritz = sharpness(params, rec.direction, decays, arch)
        rec = rec._replace(sharpness=put(rec.sharpness, top), direction=jnp.where(keep, ritz, rec.direction))
    return rec


def history_of(rec: Recorder) -> History:
    """The :class:`History` of a finished :class:`Recorder` (NaN rows for a flow time or sharpness not recorded)."""
    none = jnp.full(rec.rows.shape[:1], jnp.nan, rec.rows.dtype)
    return History(rec.rows[:, 0], rec.rows[:, 1], rec.rows[:, 2], rec.nc1, rec.sv, none if rec.time is None else rec.time,
                   none if rec.sharpness is None else rec.sharpness)


class History(NamedTuple):
    """The trajectory, one entry per ``log_every`` steps (accepted steps of the flow) plus the final point.

    ``step`` (T,), ``loss`` (T,), ``grad_norm`` (T,) and ``nc1`` (T, L):
    :func:`nc1_history` of every layer's input features; ``sv``: name -> (T, r)
    singular values of the matrices ``SolverConfig.spectra`` records (names
    and order of :func:`dufm.analyse`, r = min of the matrix's
    shape; empty when none are recorded); ``time`` (T,) the flow time of each
    record (gradient flow; None for the optimisers, whose step is their clock);
    ``sharpness`` (T,) the Hessian's largest eigenvalue (:func:`sharpness`;
    None unless the config records it).
    Inside :class:`Output` the arrays are NaN-padded to the longest possible
    run; in :class:`~dufm.solving.solver.Run` the padding is dropped and
    ``step`` is an integer array.
    """

    step: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    nc1: jax.Array
    sv: dict = {}  # never mutated: a shared empty default is safe
    time: Any = None
    sharpness: Any = None


class Output(NamedTuple):
    """What the compiled program returns (arrays; a leading batch axis in a batch).

    ``params`` at the final point, ``status`` the integer code of a
    :class:`~dufm.solving.config.Status`, ``steps`` the updates applied (the
    flow's accepted steps; or the step of divergence), ``loss`` and
    ``grad_norm`` at the final point, ``history``; the flow's ``time`` reached
    and ``rejected`` steps (NaN and 0 for the optimisers).
    """

    params: Params
    status: jax.Array
    steps: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    history: History
    time: jax.Array
    rejected: jax.Array
