"""The reduced problem in the class-mean logits of a linear deep UFM (docs/optima.md).

A linear deep UFM's global minima are those of a K x K problem in the
class-mean logits M (:class:`ClassMeanProblem`); :func:`smooth_objective` is
its smooth collapsed factorisation, :func:`polish` a local minimiser,
:func:`lift` the explicit parameters of a class-mean matrix at the problem's
widths. :mod:`dufm.theory.optimum` searches it globally.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..model.objective import binary_cross_entropy, labels, pick_all_label_loss, set_indicators, softmax_loss
from ..model.problem import Params, Problem, label_set_count
from ..runtime import float64
from .factors import balanced_factors, decay_vector, effective_decay, representation_cost


class ClassMeanProblem(NamedTuple):
    """The K x K problem a linear deep UFM reduces to at its global minima (docs/optima.md).

    With features equal within each class, Z = M Y for the class-mean logits M
    (K x K, column k = logits of class k) and, with D = diag(n_k) and
    A = M D^(1/2) (so that sigma(Z) = sigma(A)),

        F(M, b) = sum_k p_k l(M[:, k] + b, k) + (m/2) lambda_eff sum_i sigma_i(A)^(2/m) + (lambda_b/2)||b||^2,

    p_k = n_k / N, l the per-sample loss (CE, label smoothing, focal or MSE;
    with label sets (``labels_per_sample`` >= 2) M is K x (number of sets),
    one column per set S with p_S = n / N, and l pick-all-label or BCE).
    For a loss convex in the logits (CE, label smoothing, MSE, pick-all-label,
    BCE) its global minima are the deep UFM's; for focal loss (gamma > 0, not convex) it is the
    deep UFM restricted to collapsed features (docs/losses.md). ``max_rank`` = min(K, widths)
    caps rank A (a width below K limits the rank of Z). Hashable: the
    compiled programs of :mod:`dufm.theory.optimum` are specialised on it.
    """

    classes: int
    counts: tuple[int, ...]
    factors: int  # m = L + 1
    loss: str
    bias: str
    decay: float  # lambda_eff
    bias_decay: float
    max_rank: int
    smoothing: float = 0.0
    focal_gamma: float = 0.0
    labels_per_sample: int = 1

    @property
    def columns(self) -> int:
        """The columns of M: one per class, or with label sets (labels_per_sample >= 2) one per label set."""
        return len(self.counts)

    def set_labels(self) -> np.ndarray:
        """The label indicators of the columns, (K, columns): the identity, or [k in S] for the label sets S."""
        return set_indicators(self.classes, self.labels_per_sample)

    @property
    def weights(self):
        """p = n / N (a JAX array when the counts are traced: see :meth:`values` and :meth:`shape`)."""
        import jax.numpy as jnp

        n = jnp.asarray(self.counts, jnp.float64)
        return n / jnp.sum(n)

    def values(self) -> tuple:
        """(counts, decay, bias_decay) as arrays: the numbers a compiled program takes as arguments."""
        return np.asarray(self.counts, np.float64), np.float64(self.decay), np.float64(self.bias_decay)

    def shape(self) -> ClassMeanProblem:
        """This problem with its numbers zeroed: the static key a compiled program is specialised on."""
        return self._replace(counts=(0,) * self.columns, decay=0.0, bias_decay=0.0)

    def with_values(self, counts, decay, bias_decay) -> ClassMeanProblem:
        """This problem (shape) with the given (possibly traced) numbers."""
        return self._replace(counts=counts, decay=decay, bias_decay=bias_decay)

    def size(self, rank: int) -> int:
        """Length of the flat smooth parameter vector x = (W, tau, H[, b]) of :func:`smooth_objective` at ``rank``."""
        return (self.classes + self.columns) * rank + rank + (self.classes if self.bias != "none" else 0)


def class_mean_problem(problem: Problem) -> ClassMeanProblem:
    """The reduced problem of a linear ``problem`` (any counts, bias and decays > 0); ValueError otherwise."""
    if problem.activation == "relu" and problem.depth >= 2:
        raise ValueError("activation must be 'linear' (or depth 1) for the reduced class-mean problem: "
                         "with ReLU the minimal regulariser of a logit matrix has no closed form")
    if min(decay_vector(problem)) <= 0:
        raise ValueError("every weight decay must be > 0 for the reduced class-mean problem (with a zero decay no optimum exists)")
    counts = problem.counts if not problem.multi_label else (problem.counts[0],) * label_set_count(problem.classes, problem.labels_per_sample)
    return ClassMeanProblem(problem.classes, counts, problem.depth + 1, problem.loss, problem.bias,
                            effective_decay(problem), float(problem.bias_decay), min(problem.classes, *problem.widths),
                            float(problem.smoothing), float(problem.focal_gamma), problem.labels_per_sample)


def _groups(problem: Problem) -> np.ndarray:
    """Which column of M each sample belongs to, one-hot (columns, N): the labels Y, or with label sets the set of each
    sample (n samples per set, in the order of :func:`dufm.model.problem.label_sets`)."""
    if not problem.multi_label:
        return labels(problem.architecture).astype(np.float64)
    return np.repeat(np.eye(label_set_count(problem.classes, problem.labels_per_sample)), problem.counts[0], axis=1)


def split(x, cm: ClassMeanProblem, rank: int):
    """(W (K, r), tau (r,), H (r, K), b (K,) or None) from the flat vector x of length ``cm.size(rank)``."""
    K, S, r = cm.classes, cm.columns, rank
    W = x[: K * r].reshape(K, r)
    t = x[K * r : K * r + r]
    H = x[K * r + r : (K + S) * r + r].reshape(r, S)
    b = x[(K + S) * r + r :] if cm.bias != "none" else None
    return W, t, H, b


def class_mean_data(M, b, cm: ClassMeanProblem):
    """sum_k p_k l(M[:, k] + b, k): the data term of the reduced problem (JAX or numpy arrays)."""
    import jax.numpy as jnp

    p = jnp.asarray(cm.weights)
    Zc = M if b is None else M + b[:, None]
    if cm.loss == "pal":
        return pick_all_label_loss(Zc, cm.set_labels(), weights=p)
    if cm.loss == "bce":
        return binary_cross_entropy(Zc, cm.set_labels(), weights=p)
    if cm.loss != "mse":
        return softmax_loss(Zc, np.arange(cm.classes), cm.loss, cm.smoothing, cm.focal_gamma, weights=p)
    return 0.5 * jnp.sum(p * jnp.sum((Zc - jnp.eye(cm.classes)) ** 2, axis=0))


def smooth_objective(x, cm: ClassMeanProblem, rank: int):
    """The reduced problem in the collapsed balanced factorisation A = W diag(t)^(m-2) H (pure, jittable).

    x = (W (K, r), tau (r,), H (r, K)[, b (K,)]) flat (:func:`split`), t = tau / (m - 2)
    (:func:`_t_scale`); value
    data(A D^(-1/2), b) + (lambda_eff/2)(||W||^2 + ||H||^2 + (m-2)||t||^2) + (lambda_b/2)||b||^2.
    Every interior factor of a balanced factorisation can be rotated to the
    same diagonal matrix, so the minimum over (W, t, H) of the regulariser at
    fixed A is (m/2) lambda_eff sum sigma(A)^(2/m): the global minima agree
    with F's, L enters only as an exponent, and a zero singular value is an
    ordinary (smooth) point (docs/optima.md).
    """
    import jax
    import jax.numpy as jnp

    m = cm.factors
    W, tau, H, b = split(x, cm, rank)
    c = _t_scale(m)
    A = (W * jax.lax.integer_pow(c * tau, m - 2)) @ H
    M = A / jnp.sqrt(jnp.asarray(cm.counts, A.dtype))
    reg = 0.5 * cm.decay * (jnp.sum(W**2) + jnp.sum(H**2) + (m - 2) * c**2 * jnp.sum(tau**2))
    if b is not None:
        reg = reg + 0.5 * cm.bias_decay * jnp.sum(b**2)
    return class_mean_data(M, b, cm) + reg


def _t_scale(m: int) -> float:
    """t = tau / (m - 2): the stored tau moves sigma as much per unit as an entry of W or H does (conditioning at large m)."""
    return 1.0 / max(m - 2, 1)


def smooth_class_means(x, cm: ClassMeanProblem, rank: int):
    """(M, b): the class-mean logits (K, K) and the bias (or None) of the flat point x."""
    W, tau, H, b = (np.asarray(v) if v is not None else None for v in split(np.asarray(x), cm, rank))
    A = (W * (_t_scale(cm.factors) * tau) ** (cm.factors - 2)) @ H
    return A / np.sqrt(np.asarray(cm.counts, np.float64)), b


def class_mean_svd(M, cm: ClassMeanProblem, rank_tol: float = 1e-9):
    """(U (K, r), s (r,), V (columns, r)) of A = M D^(1/2), singular values <= rank_tol x the largest (or <= 1e-12) dropped."""
    A = np.asarray(M, np.float64) * np.sqrt(np.asarray(cm.counts, np.float64))
    U, s, Vt = np.linalg.svd(A)
    keep = s > max(rank_tol * s[0], 1e-12)  # 1e-12: the absolute zero of dufm.analysis (rank 0 below it)
    return U[:, : s.size][:, keep], s[keep], Vt[: s.size][keep].T


@functools.lru_cache(maxsize=32)
def _data_program(shape: ClassMeanProblem):
    import jax

    return jax.jit(lambda M, b, *values: class_mean_data(M, b, shape.with_values(*values)))


@float64
def class_mean_objective(M, b, cm: ClassMeanProblem, rank_tol: float = 1e-9) -> float:
    """F(M, b) exactly (float64), with the singular values of A below rank_tol x the largest taken as 0."""
    return _svd_objective(M, class_mean_svd(M, cm, rank_tol)[1], b, cm)


def _svd_objective(M, s, b, cm: ClassMeanProblem) -> float:
    """F(M, b) from M and the singular values s of A = M D^(1/2) (those kept)."""
    value = float(_data_program(cm.shape())(np.asarray(M, np.float64), None if b is None else np.asarray(b, np.float64), *cm.values()))
    value += representation_cost(s, [cm.decay] * cm.factors) if s.size else 0.0
    if b is not None:
        value += 0.5 * cm.bias_decay * float(np.sum(np.asarray(b) ** 2))
    return value


def smooth_point(M, b, cm: ClassMeanProblem, rank: int, rank_tol: float = 1e-9) -> np.ndarray:
    """The flat balanced point (W, tau, H[, b]) of :func:`smooth_objective` at ``rank`` whose class means are M.

    W = U S^(1/m), t = s^(1/m), H = S^(1/m) V^T from the SVD of A = M D^(1/2),
    zero-padded to ``rank`` columns; its smooth objective equals
    :func:`class_mean_objective` (balanced factors attain the minimum).
    """
    return _balanced_point(*class_mean_svd(M, cm, rank_tol), b, cm, rank)


def _balanced_point(U, s, V, b, cm: ClassMeanProblem, rank: int) -> np.ndarray:
    k = min(len(s), rank)
    root = s[:k] ** (1.0 / cm.factors)
    K = cm.classes
    W, t, H = np.zeros((K, rank)), np.zeros(rank), np.zeros((rank, cm.columns))
    W[:, :k], t[:k], H[:k] = U[:, :k] * root, root / _t_scale(cm.factors), (V[:, :k] * root).T
    parts = [W.ravel(), t, H.ravel()]
    if cm.bias != "none":
        parts.append(np.zeros(K) if b is None else np.asarray(b, np.float64))
    return np.concatenate(parts)


def factor_svd(x, cm: ClassMeanProblem, rank: int):
    """(U (K, r), s (r,), V (columns, r), b) of A = W diag(t)^(m-2) H at the flat point x, from the factors.

    QR of W and H^T and the SVD of the r x r core: O(K r^2), no K x K
    decomposition (what makes pruning cheap at K = 1 000).
    """
    W, tau, H, b = (np.asarray(v) if v is not None else None for v in split(np.asarray(x, np.float64), cm, rank))
    Q1, R1 = np.linalg.qr(W)
    Q2, R2 = np.linalg.qr(H.T)
    u, s, vt = np.linalg.svd((R1 * (_t_scale(cm.factors) * tau) ** (cm.factors - 2)) @ R2.T)
    return Q1 @ u, s, Q2 @ vt.T, b


def resize(x, cm: ClassMeanProblem, rank: int, new_rank: int) -> np.ndarray:
    """The balanced flat point at ``new_rank`` with the class means of x (at ``rank``); new_rank >= rank A."""
    U, s, V, b = factor_svd(x, cm, rank)
    return _balanced_point(U, s[s > 0], V, b, cm, new_rank)


class Pruned(NamedTuple):
    """A point after :func:`prune`: the flat balanced point ``x``, its objective ``loss`` and the ``singular_values`` of A
    (the nonzero ones, largest first)."""

    x: np.ndarray
    loss: float
    singular_values: np.ndarray


@float64
def prune(x, cm: ClassMeanProblem, rank: int, rank_tol: float = 1e-9, ratio: float = 1e-2) -> Pruned:
    """x rebalanced, and its smallest singular values below ``ratio`` x the largest set to zero one at a time while that
    does not raise F (``ratio`` 0: only those <= ``rank_tol`` x the largest, which are zero).

    For m >= 3 a singular value on its way to zero decays like the
    regulariser's gradient, lambda_eff sigma^(1/m), in each factor: slowly, and
    the gradient norm stays near lambda_eff sigma^(1/m) long after the data
    no longer need the direction. Its penalty (m/2) lambda_eff sigma^(2/m) falls
    faster than the data term's change (first order in sigma), so once it is
    small, dropping it lowers F; the rule drops it only when it does. The
    balanced factors of the same A have the least regulariser, so the result
    is never above x (docs/optima.md).
    """
    U, s, V, b = factor_svd(x, cm, rank)
    k = int(np.sum(s > max(rank_tol * (s[0] if s.size else 0.0), 1e-12)))
    root_n = np.sqrt(np.asarray(cm.counts, np.float64))

    def value(k):
        M = (U[:, :k] * s[:k]) @ V[:, :k].T / root_n
        return _svd_objective(M, s[:k], b, cm)

    loss = value(k)
    while k > 0 and s[k - 1] <= ratio * s[0]:
        lower = value(k - 1)
        if lower > loss:
            break
        k, loss = k - 1, lower
    return Pruned(_balanced_point(U[:, :k], s[:k], V[:, :k], b, cm, rank), loss, s[:k].copy())


def lift(M, b, problem: Problem, rank_tol: float = 1e-9) -> Params:
    """Explicit parameters of ``problem`` (its widths) whose class-mean logits are M, at minimal regulariser.

    H_1 = G D^(-1/2) Y for the balanced factors of A = M D^(1/2) = U S V^T:
    :func:`balanced_factors` with right factor Y^T D^(-1/2) V (orthonormal
    columns), so sigma(Z) = sigma(A) and the objective equals F(M, b); Y is
    the samples' column of M (:func:`_groups`: the labels, or the label sets).
    """
    cm = class_mean_problem(problem)
    U, s, V = class_mean_svd(M, cm, rank_tol)
    params = balanced_factors(U, s, _groups(problem).T @ (V / np.sqrt(np.asarray(cm.counts, np.float64))[:, None]), problem)
    return params._replace(b=None if b is None else np.asarray(b, np.float64))


def class_means(params: Params, problem: Problem):
    """(M, b): the class-mean (or label-set-mean) logits of explicit parameters (logits without bias) and their bias."""
    from ..model.objective import forward

    Z, _ = forward(params, problem.architecture)
    Z = np.asarray(Z, np.float64)
    b = None if params.b is None else np.asarray(params.b, np.float64)
    if b is not None:
        Z = Z - b[:, None]
    G = _groups(problem)
    return Z @ G.T / G.sum(axis=1), b


DENSE_POLISH = 4000  # variables: above this the polish uses Hessian-vector products (memory linear in the variables)


HESSIAN_BATCH_NUMBERS = 2**22  # entries of the K x columns arrays one batch of the dense Hessian's columns carries (32 MB)


@functools.lru_cache(maxsize=32)
def _smooth_derivatives(shape: ClassMeanProblem, rank: int):
    """Jitted value, gradient, Hessian and Hessian-vector product of :func:`smooth_objective` in
    (x, counts, decay, bias_decay), once per shape and rank.

    The dense Hessian is built column by column from Hessian-vector products,
    ``lax.map`` over batches of unit vectors: ``jax.hessian`` carries all n
    tangents through every K x K array at once (n K^2 numbers: 1.2 GB at
    K = 100, rank 9), a batch only B K^2 (B K^2 <= :data:`HESSIAN_BATCH_NUMBERS`).
    """
    import jax
    import jax.numpy as jnp

    def f(x, *values):
        return smooth_objective(x, shape.with_values(*values), rank)

    grad = jax.grad(f)

    def hvp(x, p, *values):
        return jax.jvp(lambda y: grad(y, *values), (x,), (p,))[1]

    n = shape.size(rank)
    batch = max(1, min(n, HESSIAN_BATCH_NUMBERS // (shape.classes * shape.columns)))

    def hessian(x, *values):
        return jax.lax.map(lambda e: hvp(x, e, *values), jnp.eye(n, dtype=x.dtype), batch_size=batch)

    return jax.jit(f), jax.jit(grad), jax.jit(hessian), jax.jit(hvp)


@float64
def smooth_gradient_norm(x, cm: ClassMeanProblem, rank: int) -> float:
    """|grad| of :func:`smooth_objective` at the flat point x (the jitted gradient of :func:`polish`)."""
    return float(np.linalg.norm(_smooth_derivatives(cm.shape(), rank)[1](x, *cm.values())))


@float64
def polish(x0, cm: ClassMeanProblem, rank: int, tol: float = 1e-12, max_iter: int = 500):
    """A local minimum of :func:`smooth_objective` near x0: (x, gradient norm).

    ``scipy.optimize.minimize``'s trust-region Newton methods with the exact
    JAX derivatives, which descend (they never stop at a saddle with a
    negative eigenvalue in reach) and converge quadratically: up to
    :data:`DENSE_POLISH` variables (2 K r + r [+ K]) ``trust-exact`` with the
    dense Hessian (Moré-Sorensen subproblem); above, ``trust-ncg`` with
    Hessian-vector products (Steihaug's truncated conjugate gradients), whose
    memory is linear in the variables (``trust-krylov`` overflows in its
    subproblem once |grad| ~ 1e-7 here: the symmetries make the Hessian singular). Minimum-norm Newton steps on the gradient norm
    (dense least squares, or MINRES from zero, which stays in the Hessian's
    range) finish where the trust region can no longer resolve a decrease of
    the loss.
    """
    from scipy.optimize import minimize
    from scipy.sparse.linalg import LinearOperator, minres

    f, g, h, hvp = _smooth_derivatives(cm.shape(), rank)
    v = cm.values()
    n = cm.size(rank)
    dense = n <= DENSE_POLISH
    second = dict(hess=lambda x: np.asarray(h(x, *v))) if dense else dict(hessp=lambda x, p: np.asarray(hvp(x, p, *v)))
    res = minimize(lambda x: float(f(x, *v)), np.asarray(x0, np.float64), jac=lambda x: np.asarray(g(x, *v)),
                   method="trust-exact" if dense else "trust-ncg", options={"gtol": tol, "maxiter": max_iter}, **second)
    x, gx = res.x, np.asarray(g(res.x, *v))

    def newton_step(x, gx):
        if dense:
            return np.linalg.lstsq(np.asarray(h(x, *v)), -gx, rcond=1e-12)[0]
        op = LinearOperator((n, n), matvec=lambda p: np.asarray(hvp(x, np.asarray(p, np.float64).ravel(), *v)), dtype=np.float64)
        return minres(op, -gx, rtol=1e-12, maxiter=10 * n)[0]

    # the trust region stops once the loss can no longer resolve the model's predicted decrease (|grad| ~ 1e-11);
    # minimum-norm Newton steps on the gradient (the Hessian is singular along the symmetries) finish the job
    for _ in range(20):
        if np.linalg.norm(gx) <= tol:
            break
        step = newton_step(x, gx)
        for t in 0.5 ** np.arange(8):
            g_new = np.asarray(g(x + t * step, *v))
            if np.linalg.norm(g_new) < np.linalg.norm(gx):
                x, gx = x + t * step, g_new
                break
        else:
            break
    return x, float(np.linalg.norm(gx))
