"""Closed forms of the deep UFM and explicit parameters that realise them.

Every candidate solution comes as a :class:`Candidate`: its closed-form loss,
its optimal scale(s), and explicit parameters (H_1, W_1, ..., W_L[, b]) at the
problem's widths, so it can be fed back into :func:`dufm.objective`, the
solver or a Hessian. Conventions are docs/conventions.md's; m = L + 1 factors;
a = (lambda_H, lambda_W_1, ..., lambda_W_L); lambda_eff = (prod a)^(1/m).

Representation cost (weighted Schatten quasi-norm):
    min { sum_l (a_l/2)||F_l||_F^2 : F_L ... F_0 = Z } = (m/2) lambda_eff sum_i sigma_i(Z)^(2/m),
attained by the balanced factors F_l = c_l Q_{l+1} Sigma^(1/m) Q_l^T with
c_l^2 = lambda_eff / a_l (:func:`balanced_factors`).

Candidates (balanced classes, every lambda > 0):

* ``dnc`` (CE, linear): Z = alpha S (x) 1_n^T, S = I - 11^T/K,
  l(alpha) = log(1 + (K-1)e^-alpha) + (m/2) lambda_eff (K-1)(alpha sqrt n)^(2/m)
  (Súkeník et al. 2023; Garrod & Keating 2025 eq. for l_DNC). L = 1 is Zhu et
  al. 2021: alpha* = log((K-1)(1-c)/c), c = sqrt(lambda_H lambda_W n)(K-1).
* ``dnc`` (CE, ReLU, L >= 2): ReLU cannot carry the rank K-1 simplex through a
  hidden layer, so the loss reported is that of a feasible construction (an
  upper bound: every post-activation class-mean matrix a non-negative
  orthogonal frame, Z = alpha S Y through the chain [Y, I, ..., I, S]), with
  the linear DNC loss as ``lower_bound`` (the bound Garrod & Keating compare
  against). Its gradient vanishes at the optimal alpha with the convention
  ReLU'(0) = 0 that autodiff uses; the point sits on ReLU kinks (the
  off-class entries of every hidden pre-activation are exactly 0, and moving
  them up raises the loss to first order while moving them down changes
  nothing), so it is critical in that (Clarke) sense.
* ``dnc`` (MSE, no bias; linear or ReLU): Z = x I (x) 1_n^T,
  L(x) = 1/2 (1-x)^2 + (K m/2) Lambda x^(2/m), Lambda = (n prod a)^(1/m)
  (Súkeník et al. 2023); all factors are non-negative, so the same point is
  feasible and exact for ReLU. With a free bias (linear): b = 1/K, Z = x S Y,
  L(x) = (K-1)/(2K) (1-x)^2 + (m/2) lambda_eff (K-1) n^(1/m) x^(2/m).
  L = 1 (Zhou et al. 2022): x* = 1 - K Lambda.
* ``low_rank`` (CE, linear; Garrod & Keating 2025): K = 2p,
  Z = beta (I_p (x) [[1,-1],[-1,1]]) (x) 1_n^T,
  l(beta) = log(1 + e^-2beta + (K-2)e^-beta) + (m/2) lambda_eff (K/2)(2 beta sqrt n)^(2/m).
  Odd K = 2p + 1 adds one class with a lone diagonal entry beta. Neither odd-K
  point is critical: (i) with one shared scale, the lone class's singular value
  beta sqrt n and the pairs' 2 beta sqrt n would need different scales;
  ``low_rank_two_scale`` gives the lone entry its own optimal scale gamma,
  which fixes that, but (ii) the CE gradient puts softmax mass on the lone
  class's logit for every pair sample, a direction (the all-ones vector over
  pair samples) outside the row space of Z, because 1_K is not orthogonal to
  the lone direction e_K. (For even K every column of Z sums to zero and that
  component is annihilated.) Both are exact loss values of explicit points,
  hence upper bounds on the best low-rank critical point.
* ``zero``: all factors zero (a critical point for every L), with the optimal
  bias: CE log K; MSE 1/2 [(1-b)^2 + (K-1)b^2] + (lambda_b K/2) b^2 with
  b = 0 (none), 1/K (free), 1/(K(1+lambda_b)) (regularised).

Each candidate with one scale s has a :class:`ReducedLoss` h(s) = g(s) +
coef s^p (:func:`reduced_loss`). Its critical scales are found in float64 by
bracketing every sign change of h' on a fine log grid and refining with
Brent's method (``scipy.optimize.brentq``); the optimum is the best local
minimum compared with the zero scale (:meth:`ReducedLoss.minimise`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
from scipy.optimize import brentq

from .objective import labels
from .problem import Params, Problem


@dataclass
class Candidate:
    """A candidate solution: closed-form ``loss``, optimal ``scale``, explicit ``params``.

    ``critical``: whether the point is a critical point of the objective;
    ``exact``: whether ``loss`` is the exact optimum of its class (False for the
    ReLU-CE DNC upper bound); ``lower_bound``: a lower bound where one is known.
    """

    name: str
    loss: float
    scale: float | dict
    params: Params
    critical: bool
    exact: bool = True
    lower_bound: float | None = None
    rank: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"loss": self.loss, "scale": self.scale, "critical": self.critical, "exact": self.exact, "rank": self.rank}
        if self.lower_bound is not None:
            d["lower_bound"] = self.lower_bound
        if self.note:
            d["note"] = self.note
        d.update(self.extra)
        return d


# ---------------------------------------------------------------------------
# representation cost and balanced factors


def decay_vector(problem: Problem) -> np.ndarray:
    """a = (lambda_H, lambda_W_1, ..., lambda_W_L)."""
    return np.array([problem.lambda_H, *problem.lambda_W], dtype=np.float64)


def _geomean(x) -> float:
    """(prod x)^(1/len(x)) in logs, so that deep products of small decays do not underflow."""
    x = np.asarray(x, np.float64)
    return 0.0 if np.any(x == 0) else float(np.exp(np.mean(np.log(x))))


def effective_decay(problem: Problem) -> float:
    """lambda_eff = (lambda_H prod_l lambda_W_l)^(1/(L+1))."""
    return _geomean(decay_vector(problem))


def representation_cost(singular_values, decays) -> float:
    """min sum_l (a_l/2)||F_l||^2 over F_{m-1}...F_0 = Z: (m/2)(prod a)^(1/m) sum sigma^(2/m)."""
    a = np.asarray(decays, dtype=np.float64)
    m = a.size
    s = np.asarray(singular_values, dtype=np.float64)
    return float(0.5 * m * _geomean(a) * np.sum(s ** (2.0 / m)))


def schatten_cost(Z, decays) -> float:
    """:func:`representation_cost` of a matrix Z."""
    return representation_cost(np.linalg.svd(np.asarray(Z, np.float64), compute_uv=False), decays)


def _embed(d: int, r: int) -> np.ndarray:
    return np.eye(d, r)


def balanced_factors(U, s, V, problem: Problem) -> Params:
    """Parameters whose product is U diag(s) V^T with minimal weighted norm.

    U (K, r), s (r,), V (N, r) with orthonormal columns; each width must be >= r.
    H_1 = c_0 E_1 S^(1/m) V^T, W_l = c_l E_{l+1} S^(1/m) E_l^T, W_L = c_L U S^(1/m) E_L^T
    with E_l the first r columns of I_{d_l} and c_l^2 = lambda_eff / a_l. With
    U, V >= 0 every factor is non-negative (so ReLU acts as the identity).
    """
    a = decay_vector(problem)
    m = a.size
    c = np.sqrt(_geomean(a) / a)
    r = len(s)
    d = problem.widths
    if min(d) < r:
        raise ValueError(f"width must be >= {r} at every layer for this construction, got {list(d)}")
    root = np.diag(np.asarray(s, np.float64) ** (1.0 / m))
    H = c[0] * _embed(d[0], r) @ root @ V.T
    W = [c[l + 1] * _embed(d[l + 1], r) @ root @ _embed(d[l], r).T for l in range(problem.depth - 1)]
    W.append(c[-1] * U @ root @ _embed(d[-1], r).T)
    return Params(H, tuple(W))


def scaled_chain(factors, scale: float, problem: Problem) -> Params:
    """Scale the chain A_0, ..., A_L (product P) to product ``scale`` * P at minimal weighted norm.

    t_l^2 = scale^(2/m) (prod_j a_j ||A_j||^2)^(1/m) / (a_l ||A_l||^2); the cost is
    (m/2)(prod_j a_j ||A_j||^2)^(1/m) scale^(2/m).
    """
    a = decay_vector(problem)
    m = a.size
    norms = np.array([np.sum(A**2) for A in factors])
    t = np.sqrt(scale ** (2.0 / m) * _geomean(a * norms) / (a * norms))
    F = [ti * A for ti, A in zip(t, factors)]
    return Params(F[0], tuple(F[1:]))


# ---------------------------------------------------------------------------
# scalar problems


class CriticalScale(NamedTuple):
    """A critical scale of a :class:`ReducedLoss`: ``scale``, ``loss`` there, and ``kind`` 'minimum' or 'maximum'."""

    scale: float
    loss: float
    kind: str


@dataclass(frozen=True)
class ReducedLoss:
    """A candidate's loss along its scale: h(s) = g(s) + coef s^power for s in [0, upper].

    ``g`` is the data term at scale s and ``dg`` its derivative; ``coef``
    s^``power`` is the minimal regulariser of the candidate's logits at that
    scale (power = 2/m); ``build(s)``, where available, returns the explicit
    parameters at scale s (:func:`reduced_loss`).
    """

    g: Callable[[float], float]
    dg: Callable[[float], float]
    coef: float
    power: float
    upper: float
    build: Callable[[float], Params] | None = None

    def __post_init__(self):
        if not (np.isfinite(self.coef) and self.coef > 0):
            raise ValueError(f"the regularisation coefficient must be finite and > 0, got {self.coef!r} "
                             "(weight decays too small for this depth?)")

    def __call__(self, s):
        return self.g(s) + self.coef * s**self.power

    def derivative(self, s):
        return self.dg(s) + self.coef * self.power * s ** (self.power - 1)

    def critical_scales(self, grid: int = 4000) -> list[CriticalScale]:
        """Every critical scale s > 0, in increasing order: each sign change of h' on a log grid refined by brentq.

        For small lambda the CE DNC has two: a small-scale maximum and the
        large-scale minimum (Garrod & Keating's large-scale branch, Thm 4).
        """
        s = np.geomspace(self.upper * 1e-14, self.upper, grid)
        d = self.derivative(s)
        out = []
        for i in np.nonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0)[0]:
            root = brentq(self.derivative, s[i], s[i + 1], xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
            out.append(CriticalScale(float(root), float(self(root)), "minimum" if d[i] < 0 else "maximum"))
        return out

    def minimise(self, grid: int = 4000) -> CriticalScale:
        """The minimum of h over [0, upper]: the best local minimum, compared with s = 0 (ties go to 0)."""
        best = CriticalScale(0.0, float(self.g(0.0)), "minimum")
        for c in self.critical_scales(grid):
            if c.kind == "minimum" and c.loss < best.loss:
                best = c
        if self.derivative(self.upper) < 0 and self(self.upper) < best.loss:
            raise ValueError("the optimal scale lies beyond the search range; is every weight decay > 0?")
        return best


def _require(problem: Problem, what: str):
    if not problem.architecture.balanced:
        raise ValueError(f"per_class must be one count (balanced classes) for the {what} closed form")
    if min(decay_vector(problem)) <= 0:
        raise ValueError(f"every weight decay must be > 0 for the {what} closed form (with a zero decay no optimum exists)")


def _simplex_basis(K: int) -> np.ndarray:
    """Orthonormal basis of 1^perp in R^K, shape (K, K-1)."""
    q, _ = np.linalg.qr(np.eye(K) - 1.0 / K)
    return q[:, : K - 1]


def _ce_margin(K):
    g = lambda a: np.log1p((K - 1) * np.exp(-a))  # noqa: E731
    dg = lambda a: -(K - 1) * np.exp(-a) / (1 + (K - 1) * np.exp(-a))  # noqa: E731
    return g, dg


def zhu_margin(problem: Problem) -> float:
    """Classical (L = 1) CE optimum margin alpha* = log((K-1)(1-c)/c), c = sqrt(lambda_H lambda_W n)(K-1); 0 if c >= (K-1)/K."""
    if problem.depth != 1 or problem.loss != "ce":
        raise ValueError("depth must be 1 and loss 'ce' for the Zhu et al. closed form")
    _require(problem, "Zhu et al.")
    K, n = problem.classes, problem.counts[0]
    c = np.sqrt(problem.lambda_H * problem.lambda_W[0] * n) * (K - 1)
    arg = (K - 1) * (1 - c) / c
    return float(np.log(arg)) if arg > 1 else 0.0


def mse_ufm_scale(problem: Problem) -> float:
    """Classical (L = 1) MSE optimum x* = max(0, 1 - K Lambda), Lambda = sqrt(n lambda_H lambda_W) (no bias or free bias)."""
    if problem.depth != 1 or problem.loss != "mse" or problem.bias == "regularised":
        raise ValueError("depth must be 1, loss 'mse' and bias 'none' or 'free' for the classical MSE closed form")
    _require(problem, "classical MSE")
    Lam = np.sqrt(problem.counts[0] * problem.lambda_H * problem.lambda_W[0])
    return float(max(0.0, 1.0 - problem.classes * Lam))


def _zero_bias(problem: Problem) -> float:
    K = problem.classes
    if problem.loss == "ce" or problem.bias == "none":
        return 0.0
    if problem.bias == "free":
        return 1.0 / K
    return 1.0 / (K * (1.0 + problem.bias_decay))


def _with_bias(params: Params, problem: Problem, value: float) -> Params:
    return params._replace(b=np.full(problem.classes, value)) if problem.bias != "none" else params


# ---------------------------------------------------------------------------
# candidates


def zero(problem: Problem) -> Candidate:
    """All factors zero, optimal bias; a critical point for every L."""
    K = problem.classes
    b = _zero_bias(problem)
    if problem.loss == "ce":
        loss = float(np.log(K))
    else:
        loss = 0.5 * ((1 - b) ** 2 + (K - 1) * b**2) + 0.5 * problem.bias_decay * K * b**2
    d = problem.widths
    W = tuple(np.zeros((d[l + 1], d[l])) for l in range(problem.depth - 1)) + (np.zeros((K, d[-1])),)
    params = _with_bias(Params(np.zeros((d[0], problem.samples)), W), problem, b)
    return Candidate("zero", loss, 0.0, params, critical=True, rank=0)


def dnc(problem: Problem) -> Candidate:
    """The deep-neural-collapse candidate at its optimal scale (see the module docstring)."""
    _require(problem, "DNC")
    K, L = problem.classes, problem.depth
    m = L + 1
    Y = labels(problem.architecture).astype(np.float64)
    relu = problem.activation == "relu" and L >= 2
    if problem.loss == "ce":
        linear = _dnc_ce(problem)
        alpha, lin_loss, _ = linear.minimise()
        if not relu:
            return Candidate("dnc", lin_loss, alpha, linear.build(alpha), critical=True, rank=K - 1 if alpha > 0 else 0)
        # feasible ReLU point: orthogonal frames through every hidden layer
        d = problem.widths
        if min(d) < K:
            raise ValueError(f"width must be >= {K} at every layer for the ReLU DNC construction, got {list(d)}")
        S = np.eye(K) - 1.0 / K
        chain = [_embed(d[0], K) @ Y] + [_embed(d[l + 1], K) @ _embed(d[l], K).T for l in range(L - 1)]
        chain.append(S @ _embed(d[-1], K).T)
        a = decay_vector(problem)
        norms = np.array([np.sum(A**2) for A in chain])
        alpha_r, loss, _ = ReducedLoss(*_ce_margin(K), 0.5 * m * _geomean(a * norms), 2.0 / m, 800.0).minimise()
        params = _with_bias(scaled_chain(chain, alpha_r, problem), problem, 0.0)
        return Candidate(
            "dnc", loss, alpha_r, params, critical=True, exact=False, lower_bound=lin_loss, rank=K - 1 if alpha_r > 0 else 0,
            note="ReLU CE: loss of a feasible DNC point (upper bound; lower_bound is the linear DNC loss); "
            "its gradient vanishes with ReLU'(0) = 0, and it sits on ReLU kinks (exact zero pre-activations)",
            extra={"linear_scale": alpha},
        )
    # MSE
    if problem.bias == "regularised":
        raise ValueError("bias must be 'none' or 'free' for the MSE DNC closed form")
    if relu and problem.bias != "none":
        raise ValueError("bias must be 'none' for the ReLU MSE DNC closed form")
    r = K if problem.bias == "none" else K - 1
    h = _dnc_mse(problem)
    x, loss, _ = h.minimise()
    return Candidate("dnc", loss, x, h.build(x), critical=True, rank=r if x > 0 else 0)


def _pair_loss(K):
    def g(b):
        return np.log(1 + np.exp(-2 * b) + (K - 2) * np.exp(-b))

    def dg(b):
        return (-2 * np.exp(-2 * b) - (K - 2) * np.exp(-b)) / (1 + np.exp(-2 * b) + (K - 2) * np.exp(-b))

    return g, dg


def _low_rank_svd(K: int, n: int, beta: float, gamma: float):
    """SVD of Z = blockdiag(beta B, ..., beta B[, gamma]) Y, B = [[1,-1],[-1,1]] (columns by class)."""
    p = K // 2
    cols, svals = [], []
    for j in range(p):
        u = np.zeros(K)
        u[2 * j], u[2 * j + 1] = 1 / np.sqrt(2), -1 / np.sqrt(2)
        cols.append(u)
        svals.append(2 * beta * np.sqrt(n))
    if K % 2:
        u = np.zeros(K)
        u[-1] = 1.0
        cols.append(u)
        svals.append(gamma * np.sqrt(n))
    U = np.stack(cols, axis=1)
    return U, np.array(svals)


def low_rank(problem: Problem, two_scale: bool = False) -> Candidate:
    """Garrod & Keating's low-rank construction (CE, linear) at its optimal scale(s).

    K even: one scale beta, a critical point. K odd: ``two_scale=False`` is
    the single-scale point (lone diagonal entry beta; not critical),
    ``two_scale=True`` gives the lone class its own optimal scale gamma (lower
    loss, still not critical; see the module docstring).
    """
    _require(problem, "low-rank")
    if problem.loss != "ce":
        raise ValueError("loss must be 'ce' for the Garrod-Keating low-rank construction")
    if problem.activation == "relu" and problem.depth >= 2:
        raise ValueError("activation must be 'linear' (or depth 1) for the Garrod-Keating low-rank construction")
    K, n, L = problem.classes, problem.counts[0], problem.depth
    m = L + 1
    lam = effective_decay(problem)
    p = K // 2
    gp, dgp = _pair_loss(K)
    gl, dgl = _ce_margin(K)
    w_pair, w_lone = 2 * p / K, (K % 2) / K
    Y = labels(problem.architecture).astype(np.float64)

    def build(beta, gamma, name, loss, scale, critical, note=""):
        U, s = _low_rank_svd(K, n, beta, gamma)
        keep = s > 0
        U, s = U[:, keep], s[keep]
        params = balanced_factors(U, s, Y.T @ U / np.linalg.norm(Y.T @ U, axis=0), problem)
        params = _with_bias(params, problem, 0.0)
        return Candidate(name, loss, scale, params, critical=critical, rank=int(keep.sum()), note=note)

    if K % 2 == 0:
        beta, loss, _ = _pairs_ce(problem).minimise()
        return build(beta, 0.0, "low_rank", loss, beta, critical=True)
    if two_scale:
        coef_p = 0.5 * m * lam * p * (2 * np.sqrt(n)) ** (2.0 / m)
        coef_l = 0.5 * m * lam * np.sqrt(n) ** (2.0 / m)
        gpw = lambda b: w_pair * gp(b)  # noqa: E731
        dgpw = lambda b: w_pair * dgp(b)  # noqa: E731
        glw = lambda c: w_lone * gl(c)  # noqa: E731
        dglw = lambda c: w_lone * dgl(c)  # noqa: E731
        beta, lp, _ = ReducedLoss(gpw, dgpw, coef_p, 2.0 / m, 800.0).minimise()
        gamma, ll, _ = ReducedLoss(glw, dglw, coef_l, 2.0 / m, 800.0).minimise()
        return build(
            beta, gamma, "low_rank_two_scale", lp + ll, {"beta": beta, "gamma": gamma}, critical=False,
            note=(
                "odd K, own scale for the lone class: not a critical point "
                "(softmax mass on the lone logit of pair samples lies outside the row space of Z)"
            ),
        )
    g = lambda b: w_pair * gp(b) + w_lone * gl(b)  # noqa: E731
    dg = lambda b: w_pair * dgp(b) + w_lone * dgl(b)  # noqa: E731
    coef = 0.5 * m * lam * (p * (2 * np.sqrt(n)) ** (2.0 / m) + np.sqrt(n) ** (2.0 / m))
    beta, loss, _ = ReducedLoss(g, dg, coef, 2.0 / m, 800.0).minimise()
    return build(
        beta, beta, "low_rank", loss, beta, critical=False,
        note="odd K with one shared scale: not a critical point (the lone class needs its own scale; see low_rank_two_scale)",
    )


def incidence(r: int) -> np.ndarray:
    """Vertex-edge incidence matrix E (r x C(r,2)) of the complete graph K_r, edges in lexicographic order."""
    edges = [(i, j) for i in range(r) for j in range(i + 1, r)]
    E = np.zeros((r, len(edges)))
    for k, (i, j) in enumerate(edges):
        E[i, k] = E[j, k] = 1.0
    return E


def srg(problem: Problem) -> Candidate:
    """A strongly-regular-graph (SRG) low-rank point for ReLU MSE (after Súkeník et al. 2024).

    K = C(r, 2) classes are the edges of K_r, E its r x K incidence matrix.
    The class means of H_1 and of every hidden layer before the last are E
    (non-negative, rank r, so ReLU leaves them unchanged); W_{L-1} maps them
    to the pre-activation class means EᵀE - J (1 on the diagonal, 0 for edges
    sharing a vertex, -1 for disjoint edges; rank r, or r - 1 for r = 4),
    whose ReLU is the orthogonal frame I_K; W_L = I. With the chain
    [E Y, I_r, ..., (EᵀE - J) E^+, I_K] scaled by :func:`scaled_chain`,
    L(x) = 1/2 (1 - x)^2 + (m/2)(prod_l a_l ||A_l||^2)^(1/m) x^(2/m).
    This is one explicit feasible SRG point (an upper bound on the best
    point of that shape); Súkeník et al. do not print their L_SRG formula, so
    dufm cannot check that it is the same construction. MSE, ReLU, L >= 2,
    no bias.
    """
    _require(problem, "SRG")
    K, L = problem.classes, problem.depth
    r = int(round((1 + np.sqrt(1 + 8 * K)) / 2))
    if r * (r - 1) // 2 != K or r < 3:
        raise ValueError(f"classes must be r(r-1)/2 for some r >= 3 (3, 6, 10, 15, ...) for the SRG construction, got {K}")
    if problem.loss != "mse" or problem.activation != "relu" or L < 2 or problem.bias != "none":
        raise ValueError("the SRG construction needs loss 'mse', activation 'relu', depth >= 2 and bias 'none'")
    d = problem.widths
    if min(d[:-1]) < r or d[-1] < K:
        raise ValueError(f"width must be >= {r} at layers 1..L-1 and >= {K} at layer L for the SRG construction, got {list(d)}")
    E = incidence(r)
    Y = labels(problem.architecture).astype(np.float64)
    M = E.T @ E - 1.0
    chain = [_embed(d[0], r) @ E @ Y]
    chain += [_embed(d[l + 1], r) @ _embed(d[l], r).T for l in range(L - 2)]
    chain.append(_embed(d[-1], K) @ M @ np.linalg.pinv(E) @ _embed(d[-2], r).T)
    chain.append(_embed(d[-1], K).T)
    a = decay_vector(problem)
    m = L + 1
    norms = np.array([np.sum(A**2) for A in chain])
    coef = 0.5 * m * _geomean(a * norms)
    g = lambda x: 0.5 * (1 - x) ** 2  # noqa: E731
    dg = lambda x: -(1 - x)  # noqa: E731
    x, loss, _ = ReducedLoss(g, dg, coef, 2.0 / m, 1.0).minimise()
    params = scaled_chain(chain, x, problem)
    return Candidate(
        "srg", loss, x, params, critical=False, rank=K if x > 0 else 0,
        note="explicit SRG point (upper bound); hidden class means of rank r become rank K after the last ReLU",
        extra={"r": r},
    )


def candidates(problem: Problem) -> dict:
    """Every candidate available for ``problem``: name -> Candidate, or the reason it is not available (str)."""
    out = {}
    makers = [("dnc", lambda: dnc(problem)), ("low_rank", lambda: low_rank(problem)), ("zero", lambda: zero(problem))]
    if problem.classes % 2:
        makers.insert(2, ("low_rank_two_scale", lambda: low_rank(problem, two_scale=True)))
    if problem.loss == "mse" and problem.activation == "relu":
        makers.insert(1, ("srg", lambda: srg(problem)))
    for name, make in makers:
        try:
            out[name] = make()
        except ValueError as e:
            out[name] = str(e)
    return out


# ---------------------------------------------------------------------------
# candidates at any scale (for Hessian probing of every branch)


def _dnc_ce(problem: Problem) -> ReducedLoss:
    """The linear CE DNC, Z = alpha S (x) 1_n^T, balanced factors."""
    K, n, m = problem.classes, problem.counts[0], problem.depth + 1
    Y = labels(problem.architecture).astype(np.float64)
    U = _simplex_basis(K)

    def build(alpha):
        return _with_bias(balanced_factors(U, np.full(K - 1, alpha * np.sqrt(n)), Y.T @ U / np.sqrt(n), problem), problem, 0.0)

    coef = 0.5 * m * effective_decay(problem) * (K - 1) * n ** (1.0 / m)
    return ReducedLoss(*_ce_margin(K), coef, 2.0 / m, 800.0, build)


def _dnc_mse(problem: Problem) -> ReducedLoss:
    """The MSE DNC: Z = x I (x) 1_n^T without a bias, Z = x S (x) 1_n^T and b = 1/K with a free one."""
    K, n, m = problem.classes, problem.counts[0], problem.depth + 1
    Y = labels(problem.architecture).astype(np.float64)
    if problem.bias == "none":
        c, r, U, V = 1.0, K, np.eye(K), Y.T / np.sqrt(n)
    else:
        c, r = (K - 1) / K, K - 1
        U = _simplex_basis(K)
        V = Y.T @ U / np.sqrt(n)

    def build(x):
        return _with_bias(balanced_factors(U, np.full(r, x * np.sqrt(n)), V, problem), problem, 1.0 / K)

    coef = 0.5 * m * effective_decay(problem) * r * n ** (1.0 / m)
    return ReducedLoss(lambda x: 0.5 * c * (1 - x) ** 2, lambda x: -c * (1 - x), coef, 2.0 / m, 1.0, build)


def _pairs_ce(problem: Problem) -> ReducedLoss:
    """Garrod & Keating's pair construction, even K."""
    K, n, m = problem.classes, problem.counts[0], problem.depth + 1
    Y = labels(problem.architecture).astype(np.float64)

    def build(beta):
        U, s = _low_rank_svd(K, n, beta, 0.0)
        return _with_bias(balanced_factors(U, s, Y.T @ U / np.linalg.norm(Y.T @ U, axis=0), problem), problem, 0.0)

    coef = 0.5 * m * effective_decay(problem) * (K // 2) * (2 * np.sqrt(n)) ** (2.0 / m)
    return ReducedLoss(*_pair_loss(K), coef, 2.0 / m, 800.0, build)


def reduced_loss(problem: Problem, name: str) -> ReducedLoss:
    """The one-scale reduced loss of candidate ``name`` ('dnc' or 'low_rank'), with explicit parameters at any scale.

    Available for the linear-CE DNC, the MSE DNC (no bias or free bias) and
    the even-K low-rank point: the candidates whose every critical scale is a
    critical point of the full objective (the gradient of the data term at
    the candidate's Z is a multiple of Z by symmetry, so stationarity in s is
    stationarity in all parameters; balanced factors make the regulariser
    stationary too).
    """
    _require(problem, name)
    linear = problem.activation == "linear" or problem.depth == 1
    if name == "dnc" and problem.loss == "ce" and linear:
        return _dnc_ce(problem)
    if name == "dnc" and problem.loss == "mse" and problem.bias != "regularised" and (linear or problem.bias == "none"):
        return _dnc_mse(problem)
    if name == "low_rank" and problem.loss == "ce" and linear and problem.classes % 2 == 0:
        return _pairs_ce(problem)
    raise ValueError(
        f"point must be 'dnc' (linear CE, or MSE without a regularised bias) or 'low_rank' (linear CE, even K) "
        f"for a point at a given scale; got {name!r} for this problem"
    )


def at_scale(problem: Problem, name: str, scale: float) -> Params:
    """Explicit parameters of candidate ``name`` ('dnc', 'low_rank', 'zero') at the given scale.

    The scale is the DNC margin alpha (CE), the MSE fraction x, or the
    low-rank beta, as in :func:`dnc` / :func:`low_rank`. A point at a scale
    that is not a critical scale (:meth:`ReducedLoss.critical_scales`) is not
    a critical point.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)) or not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    if name == "zero":
        return zero(problem).params
    return reduced_loss(problem, name).build(float(scale))
