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

import math
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from matfree import lstsq

from . import hessian
from .objective import gradient_norm, objective
from .problem import Architecture, Decays
from .solve import STATUS, SolverConfig, _run_single

METHODS = ("auto", "dense", "inertia", "lanczos")
MODES = ("nearest", "descent")  # refine: which critical point
DENSE_LIMIT = 4000  # auto: full eigendecomposition up to this many parameters
INERTIA_LIMIT = 16000  # auto: dense Hessian + LDL^T inertia up to this many (2 GiB in float64)


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


@dataclass
class Refinement:
    """Result of :func:`refine`: the refined ``params``, the gradient-norm history (start first,
    then the end of the descent phase if one ran, then every Newton-MR step), the
    accepted step lengths and the LSMR iterations of every Newton-MR step, and the L-BFGS steps
    and stop reason of the descent phase (``mode="descent"``: ``descent_status`` is
    ``converged`` when it met its target, ``max_steps`` when it ran out of steps — Newton-MR
    then starts from where it stopped, so the result may be the nearest critical point rather
    than the one descent leads to — or ``diverged``; None when no descent ran)."""

    params: dict
    status: str  # converged | max_iter | stalled | diverged
    iterations: int
    grad_norm: float
    loss: float
    history: list = field(default_factory=list)
    step_lengths: list = field(default_factory=list)
    lsmr_iterations: list = field(default_factory=list)
    mode: str = "nearest"
    descent_steps: int = 0
    descent_status: str | None = None


def _descend(tree, decays, arch, tol, steps):
    """L-BFGS (optax, zoom line search) from ``tree`` until |grad| <= tol or ``steps``: solve.run's program."""
    cfg = SolverConfig(optimizer="lbfgs", steps=steps, tol=tol, log_every=max(1, min(100, steps)))
    out = _run_single(tree, decays, arch, cfg)
    return out["params"], STATUS[int(out["status"])], int(out["steps"]), float(out["grad_norm"])


def refine(params, decays: Decays, arch: Architecture, tol: float = 1e-10, max_iter: int = 50,
           lsmr_tol: float = 1e-12, lsmr_maxiter: int = 300, mode: str = "nearest",
           descent_tol: float = 1e-8, descent_steps: int = 10_000) -> Refinement:
    """Refine ``params`` to a critical point with ||grad f|| <= ``tol`` (Newton-MR).

    ``mode`` says which critical point:

    * ``"nearest"`` (default) — Newton-MR from ``params`` itself: the critical
      point nearest in Newton's sense, of any index (minimum, saddle,
      maximum). Use it to locate and certify saddles.
    * ``"descent"`` — first L-BFGS on f (``optax.lbfgs``, a descent method
      with a zoom line search) until ||grad f|| <= max(``tol``,
      min(``descent_tol``, ||grad f(params)|| / 100 rounded down to a power
      of 10)) or ``descent_steps``,
      then Newton-MR from there: the critical point that descent from
      ``params`` leads to, once it is close enough for Newton to keep it.
      From the 20 GD points of the Fig 1 study (docs/landscape.md) this was
      GD's own limit every time, also where GD had stopped on the plateau of
      a saddle it later leaves and ``"nearest"`` returns that saddle. (An
      observation, not a theorem: L-BFGS does not follow GD's path.)

    Each Newton-MR step runs at most ``lsmr_maxiter`` LSMR iterations (2 HVPs each).
    Every LSMR iterate lowers ||H p + g|| below ||g||, hence is a descent
    direction for ||grad f||^2; truncating the Krylov solve also keeps the
    step out of nearly-singular directions far from a critical point (from
    points of the Fig 1 problem at |grad| = 1e-3, 300 iterations
    converge in 3-8 steps where 3 000 stall), and near the critical point 300
    already give quadratic convergence there (measured: 1.0e-4, 2.6e-6,
    1.5e-9, 8.7e-16).

    Stops with status ``converged``, ``max_iter``, ``stalled`` (the line
    search could not reduce ||grad f|| any more: the start is too far from
    a critical point, or ``tol`` is below what the precision allows), or
    ``diverged`` (the descent phase met a non-finite or exploding loss; the
    start is returned). ``lsmr_iterations`` records the inner iterations of
    each Newton-MR step.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    for name, value in (("tol", tol), ("descent_tol", descent_tol)):
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    for name, value, low in (("max_iter", max_iter, 0), ("lsmr_maxiter", lsmr_maxiter, 1), ("descent_steps", descent_steps, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    tree = jax.tree_util.tree_map(jnp.asarray, params)
    gnorm = float(gradient_norm(_grad(tree, decays, arch)))
    if not np.isfinite(gnorm):
        raise ValueError(f"params must give a finite gradient (the start of the refinement), got gradient norm {gnorm}")
    history, lengths, inner, status, it, descended = [gnorm], [], [], "max_iter", 0, 0
    descent_status = None
    if mode == "descent" and gnorm > tol:
        # a start already near descent_tol still descends two decades: Newton-MR alone may jump to a nearby saddle.
        # The target is rounded down to a power of 10: it is static in the compiled L-BFGS program.
        target = max(tol, min(descent_tol, 10.0 ** math.floor(math.log10(gnorm / 100))))
        new, descent_status, descended, g_new = _descend(tree, decays, arch, target, descent_steps)
        if descent_status == "diverged":
            out = jax.tree_util.tree_map(np.asarray, tree)
            return Refinement(out, "diverged", 0, gnorm, float(objective(tree, decays, arch)), history, mode=mode,
                              descent_steps=descended, descent_status=descent_status)
        tree, gnorm = new, g_new  # target < gnorm, so L-BFGS took at least one step
        history.append(gnorm)
    for it in range(1, max_iter + 1):
        if gnorm <= tol:
            it -= 1
            status = "converged"
            break
        new, g_new, stats, lr = _newton_mr_step(tree, decays, arch, float(lsmr_tol), lsmr_maxiter)
        g_new = float(g_new)
        if not np.isfinite(g_new) or g_new >= gnorm:
            status = "stalled"
            it -= 1
            break
        tree, gnorm = new, g_new
        history.append(gnorm)
        lengths.append(float(lr))
        inner.append(int(stats["iteration_count"]))
    else:
        if gnorm <= tol:
            status = "converged"
    out = jax.tree_util.tree_map(np.asarray, tree)
    return Refinement(out, status, it, gnorm, float(objective(tree, decays, arch)), history, lengths, inner, mode, descended, descent_status)


# ---------------------------------------------------------------------------
# classification


def _verdict(grad_norm, grad_tol, negative, zero, min_eig, tau):
    if not grad_norm <= grad_tol:
        return "not critical"
    if (negative is not None and negative > 0) or min_eig < -tau:
        return "strict saddle"
    if (zero is None and min_eig > tau) or zero == 0:
        return "local minimum"
    return "degenerate"


def classify(params, decays: Decays, arch: Architecture, method: str = "auto", zero_tol: float = 1e-8,
             grad_tol: float = 1e-8, num_matvecs: int = 200, num_samples: int = 64, seed: int = 0,
             eigenvalues: bool = False) -> dict:
    """Second-order description of ``params``: the ``dufm probe --json`` record.

    Returns ``{"loss", "grad_norm", "hessian": {"min_eigenvalue",
    "max_eigenvalue", "negative", "zero", "positive", "frobenius_norm",
    "trace", "spectral_norm", "zero_tolerance", "method", ...}, "verdict"}``.
    An eigenvalue counts as zero when |lambda| <= tau = zero_tol * spectral
    norm. ``method``:

    * ``dense`` — full float64 eigendecomposition of the dense Hessian (exact
      counts; P^3 cost; ``eigenvalues=True`` adds the whole spectrum);
    * ``inertia`` — dense Hessian, extreme eigenvalues by Lanczos on it, counts
      by LDL^T inertia (exact; a third of the cost), exact trace and norm;
    * ``lanczos`` — matrix-free: Lanczos extremes, Hutchinson trace and
      Frobenius norm (estimates with standard errors); counts unknown (None)
      except that a Ritz value below -tau certifies a negative eigenvalue;
    * ``auto`` — dense up to 4 000 parameters, inertia up to 16 000, else lanczos.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not (isinstance(zero_tol, (int, float)) and 0 < zero_tol < 1):
        raise ValueError(f"zero_tol must be a number in (0, 1), got {zero_tol!r}")
    tree = jax.tree_util.tree_map(jnp.asarray, params)
    P = ravel_pytree(tree)[0].size
    if method == "auto":
        method = "dense" if P <= DENSE_LIMIT else "inertia" if P <= INERTIA_LIMIT else "lanczos"
    loss = float(objective(tree, decays, arch))
    gnorm = float(gradient_norm(_grad(tree, decays, arch)))
    h = {"method": method, "parameters": int(P)}
    if method == "dense":
        H = hessian.hessian_matrix(tree, decays, arch)
        w = np.linalg.eigvalsh(H)
        tau = zero_tol * max(abs(w[0]), abs(w[-1]))
        h.update(min_eigenvalue=float(w[0]), max_eigenvalue=float(w[-1]), negative=int(np.sum(w < -tau)),
                 zero=int(np.sum(np.abs(w) <= tau)), positive=int(np.sum(w > tau)),
                 frobenius_norm=float(np.sqrt(np.sum(w**2))), trace=float(np.sum(w)))
        if eigenvalues:
            h["eigenvalues"] = w
    else:
        lz = hessian.lanczos_extremes(tree, decays, arch, num_matvecs=num_matvecs, seed=seed)
        tau = zero_tol * max(abs(lz["min"]), abs(lz["max"]))
        h.update(min_eigenvalue=lz["min"], max_eigenvalue=lz["max"], min_eigenvalue_residual=lz["min_residual"],
                 max_eigenvalue_residual=lz["max_residual"], num_matvecs=lz["num_matvecs"])
        if method == "inertia":
            H = hessian.hessian_matrix(tree, decays, arch)
            neg, zero, pos = hessian.inertia(H, tau)
            h.update(negative=neg, zero=zero, positive=pos, frobenius_norm=float(np.linalg.norm(H)), trace=float(np.trace(H)))
        else:
            est = hessian.hutchinson(tree, decays, arch, num_samples=num_samples, seed=seed)
            h.update(negative=None, zero=None, positive=None, frobenius_norm=est["frobenius_norm"], trace=est["trace"],
                     frobenius_norm_stderr=est["frobenius_norm_stderr"], trace_stderr=est["trace_stderr"],
                     num_samples=est["num_samples"])
    h["spectral_norm"] = max(abs(h["min_eigenvalue"]), abs(h["max_eigenvalue"]))
    h["zero_tolerance"] = tau
    h["zero_tol"] = zero_tol
    verdict = _verdict(gnorm, grad_tol, h["negative"], h["zero"], h["min_eigenvalue"], tau)
    return {"loss": loss, "grad_norm": gnorm, "grad_tol": grad_tol, "hessian": h, "verdict": verdict,
            "index": h["negative"], "nullity": h["zero"]}


# ---------------------------------------------------------------------------
# symmetries


def symmetry_tangents(params, arch: Architecture) -> np.ndarray:
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
    factors = [tree["H"], *tree["W"]]
    spaces = 2 if arch.activation == "relu" else len(factors)
    rows = []
    for l in range(1, spaces):
        d = factors[l].shape[1]
        for i in range(d):
            for j in range(i + 1, d):
                zero = jax.tree_util.tree_map(np.zeros_like, tree)
                F = [zero["H"], *zero["W"]]
                # F_l A has columns i, j: (F_l A)[:, j] = F_l[:, i], (F_l A)[:, i] = -F_l[:, j]
                F[l][:, j] += factors[l][:, i]
                F[l][:, i] -= factors[l][:, j]
                # -A F_{l-1}: row i is -F_{l-1}[j], row j is +F_{l-1}[i]
                F[l - 1][i, :] -= factors[l - 1][j, :]
                F[l - 1][j, :] += factors[l - 1][i, :]
                t = {"H": F[0], "W": tuple(F[1:])}
                if "b" in tree:
                    t["b"] = zero["b"]
                rows.append(hessian.flatten(t))
    return np.array(rows)


def symmetry_dimension(params, arch: Architecture, rank_tol: float = 1e-8) -> int:
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
