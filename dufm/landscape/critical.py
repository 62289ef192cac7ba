"""Critical points of the deep UFM: Newton-MR refinement and second-order classification.

Refinement (:func:`refine`) converges to a critical point of any index —
saddles as well as minima — from a point with a small gradient, in the
spirit of Newton-MR (Roosta, Liu, Wright & Xu 2022): each step is the
minimum-norm least-squares solution of

    min_p ||H p + g||,   g = grad f(x),  H = Hessian of f at x,

computed matrix-free by LSMR (``matfree.lstsq.lsmr``, Fong & Saunders
2011) on Hessian-vector products, followed by a backtracking (Armijo) line
search on phi(x) = ||grad f(x)||^2 / 2, whose gradient is H g
(``optax.scale_by_backtracking_linesearch``). The minimum-norm step never
moves along the Hessian's null space, which at a deep-UFM critical point
holds the orbit of the symmetry W_l -> W_l Q, W_{l-1} -> Q^T W_{l-1}
(Q orthogonal): the refined point is the critical point nearest in that
sense. Near a critical point whose Hessian is non-singular apart from such
symmetric directions, the steps are Newton steps and converge quadratically.

Classification (:func:`classify`) reports the extreme eigenvalues of the
Hessian, the counts of negative / zero / positive eigenvalues with the zero
tolerance tau = ``zero_tol`` x spectral norm, the trace and Frobenius norm,
and a verdict:

* ``not critical`` — grad norm > ``grad_tol``;
* ``strict saddle`` — a negative eigenvalue (< -tau): index >= 1;
* ``local minimum`` — every eigenvalue > tau (positive definite);
* ``degenerate`` — no negative eigenvalue but a null space (second-order
  test inconclusive; at linear deep-UFM critical points the symmetry orbit
  alone gives a null space, see :func:`symmetry_dimension`).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from matfree import lstsq

from ..model.objective import gradient_norm, objective
from ..model.problem import Architecture, Decays, Params
from ..options import check_choice, check_fraction, check_int, check_number, option
from ..runtime import float64
from ..solving.solver import SolverConfig, Status, run_many
from . import hessian

METHODS = ("auto", "dense", "inertia", "lanczos")
MODES = ("nearest", "descent")  # refine: which critical point
DENSE_LIMIT = 4000  # auto: full eigendecomposition up to this many parameters
INERTIA_LIMIT = 16000  # auto: dense Hessian + LDL^T inertia up to this many (2 GiB in float64)


@dataclass(frozen=True)
class RefineConfig:
    """Options of :func:`refine` (see its docstring for the method)."""

    tol: float = option(1e-10, "gradient-norm target of the refinement")
    mode: str = option("nearest", "nearest: Newton-MR from the point, to the nearest critical point of any index; "
                       "descent: L-BFGS first, then Newton-MR, to the critical point descent from the point leads to",
                       choices=MODES)
    max_iter: int = option(50, "most Newton-MR steps")
    lsmr_tol: float = option(1e-12, "LSMR tolerance of each Newton-MR step", flag=False)
    lsmr_maxiter: int = option(300, "most LSMR iterations per Newton-MR step", flag=False)
    descent_tol: float = option(1e-8, "gradient-norm target of the L-BFGS phase (mode descent)", flag=False)
    descent_steps: int = option(10_000, "most L-BFGS steps (mode descent)")

    def __post_init__(self):
        check_choice("mode", self.mode, MODES)
        for name in ("tol", "descent_tol", "lsmr_tol"):
            check_number(name, getattr(self, name))
        for name, low in (("max_iter", 0), ("lsmr_maxiter", 1), ("descent_steps", 1)):
            check_int(name, getattr(self, name), low)


@dataclass(frozen=True)
class ClassifyConfig:
    """Options of :func:`classify` (see its docstring)."""

    method: str = option("auto", "dense | inertia | lanczos | auto (dense up to 4000 parameters, inertia up to 16000)",
                         choices=METHODS)
    zero_tol: float = option(1e-8, "an eigenvalue is zero if |lambda| <= zero_tol x spectral norm")
    grad_tol: float = option(1e-8, "critical if the gradient norm <= grad_tol")
    num_matvecs: int = option(200, "Lanczos steps for the extreme eigenvalues")
    num_samples: int = option(64, "Hutchinson probes for the trace and Frobenius norm (method lanczos)")
    seed: int = option(0, "seed of the Lanczos start and the Hutchinson probes", flag=False)
    eigenvalues: bool = option(False, "keep the whole spectrum (method dense)", flag=False)

    def __post_init__(self):
        check_choice("method", self.method, METHODS)
        check_fraction("zero_tol", self.zero_tol)
        check_number("grad_tol", self.grad_tol)
        for name, low in (("num_matvecs", 2), ("num_samples", 2), ("seed", 0)):
            check_int(name, getattr(self, name), low)


def _require_float64(arch: Architecture):
    if arch.dtype != "float64":
        raise ValueError("dtype must be float64 for Hessian probing (eigenvalue counts and Newton steps need float64)")


def _grad(params, decays, arch):
    return jax.grad(lambda p: objective(p, decays, arch))(params)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _newton_mr_step(params, decays, arch, lsmr_tol, maxiter):
    """One Newton-MR iteration; returns (params_new, |g(params_new)|, lsmr stats, step length)."""
    x, unravel = ravel_pytree(params)

    def g(x):
        return ravel_pytree(_grad(unravel(x), decays, arch))[0]

    def hv(v):
        return jax.jvp(g, (x,), (v,))[1]

    gx = g(x)
    solver = lstsq.lsmr(atol=lsmr_tol, btol=lsmr_tol, ctol=0.0, maxiter=maxiter, custom_vjp=False)
    p, stats = solver(hv, -gx)
    phi = lambda y: 0.5 * jnp.sum(g(y) ** 2)  # noqa: E731
    search = optax.scale_by_backtracking_linesearch(
        max_backtracking_steps=40, slope_rtol=1e-4, decrease_factor=0.5, increase_factor=math.inf, max_learning_rate=1.0
    )
    state = search.init(x)
    step, state = search.update(p, state, x, value=0.5 * jnp.sum(gx**2), grad=hv(gx), value_fn=phi)
    x_new = x + step
    return unravel(x_new), jnp.linalg.norm(g(x_new)), stats, state.learning_rate


class RefineStatus(enum.StrEnum):
    """How :func:`refine` stopped. Compares equal to its string."""

    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    STALLED = "stalled"
    DIVERGED = "diverged"


@dataclass(eq=False)
class Refinement:
    """Result of :func:`refine`.

    ``params`` the refined point; ``history`` the gradient norms (the start,
    then the end of the descent phase if one ran, then every Newton-MR step);
    ``step_lengths`` and ``lsmr_iterations`` of every Newton-MR step;
    ``descent_steps`` and ``descent_status`` of the L-BFGS phase
    (``mode="descent"``): ``converged`` when it met its target, ``max_steps``
    when it ran out of steps (Newton-MR then starts from where it stopped, so
    the result may be the nearest critical point rather than the one descent
    leads to) or ``diverged``; None when no descent ran.
    """

    params: Params
    status: RefineStatus
    iterations: int
    grad_norm: float
    loss: float
    history: list = field(default_factory=list)
    step_lengths: list = field(default_factory=list)
    lsmr_iterations: list = field(default_factory=list)
    mode: str = "nearest"
    descent_steps: int = 0
    descent_status: Status | None = None

    def to_dict(self) -> dict:
        """The refinement as ``dufm probe --json`` reports it."""
        return {"status": self.status, "mode": self.mode, "descent_steps": self.descent_steps,
                "descent_status": self.descent_status, "iterations": self.iterations, "grad_norm_history": list(self.history)}


def _descend(tree: Params, decays: Decays, arch: Architecture, tol: float, steps: int):
    """L-BFGS (optax, zoom line search) from ``tree`` until |grad| <= tol or ``steps``: the solver's program."""
    cfg = SolverConfig(optimizer="lbfgs", steps=steps, tol=tol, log_every=max(1, min(100, steps)))
    return run_many(Params.stack([tree]), decays, arch, cfg)[0]


@float64
def refine(params: Params, decays: Decays, arch: Architecture, **options) -> Refinement:
    """Refine ``params`` to a critical point with ||grad f|| <= ``tol`` (Newton-MR).

    ``options`` are the fields of :class:`RefineConfig`. ``mode`` says which
    critical point:

    * ``"nearest"`` (default) — Newton-MR from ``params`` itself: the critical
      point nearest in Newton's sense, of any index (minimum, saddle,
      maximum). Use it to locate and certify saddles.
    * ``"descent"`` — first L-BFGS on f (``optax.lbfgs``, a descent method
      with a zoom line search, run by :func:`dufm.run_many`) until
      ||grad f|| <= max(``tol``, min(``descent_tol``, ||grad f(params)|| / 100
      rounded down to a power of 10)) or ``descent_steps``, then Newton-MR
      from there: the critical point that descent from ``params`` leads to,
      once it is close enough for Newton to keep it (how that compares with
      GD's own limit in practice: docs/landscape.md).

    Each Newton-MR step runs at most ``lsmr_maxiter`` LSMR iterations (2 HVPs each).
    Every LSMR iterate lowers ||H p + g|| below ||g||, hence is a descent
    direction for ||grad f||^2; truncating the Krylov solve also keeps the
    step out of nearly-singular directions far from a critical point, and near
    one a truncated solve still converges quadratically (measurements:
    docs/landscape.md).

    Stops with status ``converged``, ``max_iter``, ``stalled`` (the line
    search could not reduce ||grad f|| any more: the start is too far from
    a critical point, or ``tol`` is below what the precision allows), or
    ``diverged`` (the descent phase met a non-finite or exploding loss; the
    start is returned).
    """
    cfg = RefineConfig(**options)
    _require_float64(arch)
    tree = jax.tree_util.tree_map(jnp.asarray, params)
    gnorm = float(gradient_norm(_grad(tree, decays, arch)))
    if not np.isfinite(gnorm):
        raise ValueError(f"params must give a finite gradient (the start of the refinement), got gradient norm {gnorm}")
    history, lengths, inner, status, it, descended = [gnorm], [], [], RefineStatus.MAX_ITER, 0, 0
    descent_status = None
    if cfg.mode == "descent" and gnorm > cfg.tol:
        # a start already near descent_tol still descends two decades: Newton-MR alone may jump to a nearby saddle.
        # The target is rounded down to a power of 10: it is static in the compiled L-BFGS program.
        target = max(cfg.tol, min(cfg.descent_tol, 10.0 ** math.floor(math.log10(gnorm / 100))))
        run = _descend(tree, decays, arch, target, cfg.descent_steps)
        descent_status, descended = run.status, run.steps
        if run.diverged:
            out = jax.tree_util.tree_map(np.asarray, tree)
            return Refinement(out, RefineStatus.DIVERGED, 0, gnorm, float(objective(tree, decays, arch)), history,
                              mode=cfg.mode, descent_steps=descended, descent_status=descent_status)
        tree, gnorm = jax.tree_util.tree_map(jnp.asarray, run.params), run.grad_norm  # target < gnorm: L-BFGS stepped
        history.append(gnorm)
    for it in range(1, cfg.max_iter + 1):
        if gnorm <= cfg.tol:
            it -= 1
            status = RefineStatus.CONVERGED
            break
        new, g_new, stats, lr = _newton_mr_step(tree, decays, arch, float(cfg.lsmr_tol), cfg.lsmr_maxiter)
        g_new = float(g_new)
        if not np.isfinite(g_new) or g_new >= gnorm:
            status = RefineStatus.STALLED
            it -= 1
            break
        tree, gnorm = new, g_new
        history.append(gnorm)
        lengths.append(float(lr))
        inner.append(int(stats["iteration_count"]))
    else:
        if gnorm <= cfg.tol:
            status = RefineStatus.CONVERGED
    out = jax.tree_util.tree_map(np.asarray, tree)
    return Refinement(out, status, it, gnorm, float(objective(tree, decays, arch)), history, lengths, inner, cfg.mode,
                      descended, descent_status)


# ---------------------------------------------------------------------------
# classification


@dataclass(frozen=True, eq=False)
class HessianSummary:
    """What :func:`classify` knows of the Hessian.

    ``negative`` / ``zero`` / ``positive`` are the eigenvalue counts with the
    zero tolerance ``zero_tolerance`` = ``zero_tol`` x ``spectral_norm`` (None
    for the matrix-free method). ``ritz`` holds the Lanczos extremes with the
    residuals that bound their distance from true eigenvalues (methods
    ``inertia`` and ``lanczos``), ``estimate`` Hutchinson's trace and
    Frobenius norm with their standard errors (method ``lanczos``).
    """

    method: str
    parameters: int
    min_eigenvalue: float
    max_eigenvalue: float
    negative: int | None
    zero: int | None
    positive: int | None
    frobenius_norm: float
    trace: float
    spectral_norm: float
    zero_tolerance: float
    zero_tol: float
    ritz: hessian.RitzExtremes | None = None
    estimate: hessian.TraceEstimate | None = None

    @property
    def min_eigenvalue_residual(self) -> float | None:
        return None if self.ritz is None else self.ritz.min_residual

    @property
    def trace_stderr(self) -> float | None:
        return None if self.estimate is None else self.estimate.trace_stderr

    def to_dict(self) -> dict:
        """The flat ``hessian`` record of ``dufm probe --json``."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("ritz", "estimate")}
        if self.ritz is not None:
            r = self.ritz
            d.update(min_eigenvalue_residual=r.min_residual, max_eigenvalue_residual=r.max_residual, num_matvecs=r.num_matvecs)
        if self.estimate is not None:
            e = self.estimate
            d.update(frobenius_norm_stderr=e.frobenius_norm_stderr, trace_stderr=e.trace_stderr, num_samples=e.num_samples)
        return d


@dataclass(frozen=True, eq=False)
class Classification:
    """Second-order description of a point (:func:`classify`); ``eigenvalues`` only when asked for (dense)."""

    loss: float
    grad_norm: float
    grad_tol: float
    hessian: HessianSummary
    verdict: Verdict
    eigenvalues: np.ndarray | None = None

    @property
    def index(self) -> int | None:
        """Number of negative eigenvalues (None when not counted)."""
        return self.hessian.negative

    @property
    def nullity(self) -> int | None:
        """Number of zero eigenvalues (None when not counted)."""
        return self.hessian.zero

    def to_dict(self) -> dict:
        """The ``dufm probe --json`` record (without the spectrum)."""
        return {"loss": self.loss, "grad_norm": self.grad_norm, "grad_tol": self.grad_tol, "hessian": self.hessian.to_dict(),
                "verdict": self.verdict, "index": self.index, "nullity": self.nullity}


class Verdict(enum.StrEnum):
    """The second-order verdict of :func:`classify` (module docstring). Compares equal to its string."""

    LOCAL_MINIMUM = "local minimum"
    STRICT_SADDLE = "strict saddle"
    DEGENERATE = "degenerate"
    NOT_CRITICAL = "not critical"


def _verdict(grad_norm, grad_tol, negative, zero, min_eig, tau) -> Verdict:
    if not grad_norm <= grad_tol:
        return Verdict.NOT_CRITICAL
    if (negative is not None and negative > 0) or min_eig < -tau:
        return Verdict.STRICT_SADDLE
    if (zero is None and min_eig > tau) or zero == 0:
        return Verdict.LOCAL_MINIMUM
    return Verdict.DEGENERATE


@float64
def classify(params: Params, decays: Decays, arch: Architecture, **options) -> Classification:
    """Second-order description of ``params``: loss, gradient norm, Hessian summary and verdict.

    ``options`` are the fields of :class:`ClassifyConfig`. An eigenvalue
    counts as zero when |lambda| <= tau = zero_tol * spectral norm. ``method``:

    * ``dense`` — full float64 eigendecomposition of the dense Hessian (exact
      counts; P^3 cost; ``eigenvalues=True`` keeps the whole spectrum);
    * ``inertia`` — dense Hessian, extreme eigenvalues by Lanczos on it, counts
      by LDL^T inertia (exact; a third of the cost), exact trace and norm;
    * ``lanczos`` — matrix-free: Lanczos extremes, Hutchinson trace and
      Frobenius norm (estimates with standard errors); counts unknown (None)
      except that a Ritz value below -tau certifies a negative eigenvalue;
    * ``auto`` — dense up to 4 000 parameters, inertia up to 16 000, else lanczos.
    """
    cfg = ClassifyConfig(**options)
    _require_float64(arch)
    tree = jax.tree_util.tree_map(jnp.asarray, params)
    P = ravel_pytree(tree)[0].size
    method = cfg.method
    if method == "auto":
        method = "dense" if P <= DENSE_LIMIT else "inertia" if P <= INERTIA_LIMIT else "lanczos"
    loss = float(objective(tree, decays, arch))
    gnorm = float(gradient_norm(_grad(tree, decays, arch)))
    w, ritz, est = None, None, None
    if method == "dense":
        H = hessian.hessian_matrix(tree, decays, arch)
        w = np.linalg.eigvalsh(H)
        lo, hi = float(w[0]), float(w[-1])
        tau = cfg.zero_tol * max(abs(lo), abs(hi))
        counts = int(np.sum(w < -tau)), int(np.sum(np.abs(w) <= tau)), int(np.sum(w > tau))
        fro, trace = float(np.sqrt(np.sum(w**2))), float(np.sum(w))
    else:
        ritz = hessian.lanczos_extremes(tree, decays, arch, num_matvecs=cfg.num_matvecs, seed=cfg.seed)
        lo, hi = ritz.min, ritz.max
        tau = cfg.zero_tol * max(abs(lo), abs(hi))
        if method == "inertia":
            H = hessian.hessian_matrix(tree, decays, arch)
            counts = hessian.inertia(H, tau)
            fro, trace = float(np.linalg.norm(H)), float(np.trace(H))
        else:
            est = hessian.hutchinson(tree, decays, arch, num_samples=cfg.num_samples, seed=cfg.seed)
            counts, fro, trace = (None, None, None), est.frobenius_norm, est.trace
    h = HessianSummary(method, int(P), lo, hi, *counts, fro, trace, max(abs(lo), abs(hi)), tau, cfg.zero_tol, ritz, est)
    verdict = _verdict(gnorm, cfg.grad_tol, h.negative, h.zero, lo, tau)
    return Classification(loss, gnorm, cfg.grad_tol, h, verdict, w if cfg.eigenvalues and method == "dense" else None)


# ---------------------------------------------------------------------------
# symmetries

@float64
def symmetry_tangents(params: Params, arch: Architecture) -> np.ndarray:
    """Tangent vectors (rows, flat) of the orbit of ``params`` under the hidden-layer rotations.

    For every layer space R^{d_l} between factors F_{l-1} (H_1 or W_{l-1})
    and F_l = W_l, and every skew generator A = e_i e_j^T - e_j e_i^T, the
    curve F_l -> F_l exp(tA), F_{l-1} -> exp(-tA) F_{l-1} leaves the
    objective of a linear deep UFM unchanged (the product and every
    Frobenius norm are invariant), so its tangent (F_l A, -A F_{l-1}) is a
    null vector of the Hessian at any critical point. ReLU networks have no
    such symmetry in the spaces after a ReLU, but the first hidden space
    (between H_1 and W_1, where no activation sits) keeps it, so for ReLU
    only that space's generators are returned.
    """
    tree = jax.tree_util.tree_map(np.asarray, params)
    factors = [tree.H, *tree.W]
    spaces = 2 if arch.activation == "relu" else len(factors)
    rows = []
    for l in range(1, spaces):
        d = factors[l].shape[1]
        for i in range(d):
            for j in range(i + 1, d):
                zero = jax.tree_util.tree_map(np.zeros_like, tree)
                F = [zero.H, *zero.W]
                # F_l A has columns i, j: (F_l A)[:, j] = F_l[:, i], (F_l A)[:, i] = -F_l[:, j]
                F[l][:, j] += factors[l][:, i]
                F[l][:, i] -= factors[l][:, j]
                # -A F_{l-1}: row i is -F_{l-1}[j], row j is +F_{l-1}[i]
                F[l - 1][i, :] -= factors[l - 1][j, :]
                F[l - 1][j, :] += factors[l - 1][i, :]
                rows.append(hessian.flatten(Params(F[0], tuple(F[1:]), zero.b)))
    return np.array(rows)


@float64
def symmetry_dimension(params: Params, arch: Architecture, rank_tol: float = 1e-8) -> int:
    """Dimension of the rotation-symmetry orbit through ``params`` (numerical rank of its tangents).

    The rank is counted relative to the largest singular value of the
    tangent matrix (threshold ``rank_tol``). For balanced factors of rank r
    in a layer space of width d the orbit contributes r d - r(r+1)/2
    (the dimension of the Stiefel manifold V_r(R^d)) per hidden layer space.
    """
    T = symmetry_tangents(params, arch)
    if T.size == 0:
        return 0
    s = np.linalg.svd(T, compute_uv=False)
    return int(np.sum(s > rank_tol * s[0])) if s[0] > 0 else 0
