"""Closed forms of the deep UFM and explicit parameters that realise them.

Every candidate solution comes as a :class:`Candidate`: its closed-form loss,
its optimal scale(s), and explicit parameters (H_1, W_1, ..., W_L[, b]) at the
problem's widths, so it can be fed back into :func:`dufm.objective`, the
solver or a Hessian. Conventions are docs/conventions.md's; m = L + 1 factors;
a = (lambda_H, lambda_W_1, ..., lambda_W_L); lambda_eff = (prod a)^(1/m).

Every candidate's regulariser is the representation cost of its logits, attained
by balanced factors (:mod:`dufm.theory.factors`).

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
* label smoothing and focal loss: every CE candidate below (``dnc``, ``low_rank``,
  ``circle``, the codes; linear, and the feasible ReLU DNC) with the same
  logits and the CE of its classes' logit gaps replaced by the loss at those
  gaps (:func:`_softmax_gap`): at the DNC, l(a) = g(a) + (m/2) lambda_eff (K-1)(a sqrt n)^(2/m),
  g(a) = log(1 + (K-1)e^-a) + alpha (K-1) a / K (LS) or (1 - p)^gamma (-log p),
  p = 1/(1 + (K-1)e^-a) (focal). The symmetry arguments that make a CE
  candidate critical hold for any loss of softmax(z) that treats the other
  classes alike. At L = 1 Zhou et al. 2022 show that for balanced classes
  every global minimum under these losses is the collapse ``dnc``.
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
* ``circle`` (CE, linear, K >= 3; Garrod & Keating 2025 Thm 3): class means
  equally spaced on a circle, Z = beta C (x) 1_n^T, C_jk = cos(2 pi (j-k)/K),
  l(beta) = log sum_j exp(beta (cos(2 pi j/K) - 1)) + m lambda_eff (beta K sqrt(n)/2)^(2/m);
  critical at every critical scale (:func:`circle`).
* ``softmax_code`` (CE, linear, K = 12): the icosahedron in R^3, rank 3
  (:func:`softmax_code`; the other closed-form softmax codes are the circle,
  the simplex and the pairs).
* ``rectified_simplex`` (CE, linear, K = r(r-1)/2, r >= 4): the edges of K_r
  as the vertices of the rectified (r-1)-simplex, rank r - 1
  (:func:`rectified_simplex`; K = 10: the Petersen-graph code in R^4).
* ``zero``: all factors zero (a critical point for every L), with the optimal
  bias for the class frequencies p = n/N: CE -sum p log softmax(b) (b = 0
  without a bias, log p free, a root of softmax(b) - p + lambda_b b = 0
  regularised); LS the same with p replaced by the mean target
  (1 - alpha) p + alpha/K; focal b = 0 (balanced classes only); MSE 1/2 sum p_k ||b - e_k||^2 + (lambda_b/2)||b||^2 with
  b = 0, p, p/(1+lambda_b).

Imbalanced counts: ``dnc`` is the exact MSE optimum (per-singular-value
scalar problems, :func:`_dnc_mse_counts`) and, for a linear loss of softmax(z), the local
minimum of the reduced class-mean problem below the simplex
(:func:`_dnc_ce_counts`); the other candidates need balanced classes.

Each candidate with one scale s has a :class:`ReducedLoss` h(s) = g(s) +
coef s^p (:func:`reduced_loss`). Its critical scales are found in float64 by
bracketing every sign change of h' on a fine log grid and refining with
bisection to the last bit (:func:`_bisect`); the optimum is the best local
minimum compared with the zero scale (:meth:`ReducedLoss.minimise`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from ..model.objective import labels
from ..model.problem import SOFTMAX_LOSSES, Params, Problem
from .factors import balanced_factors, decay_vector, effective_decay, embedding, geometric_mean, scaled_chain
from .reduced import class_mean_objective, class_mean_problem, class_mean_svd, lift, polish, smooth_class_means, smooth_point


@dataclass(eq=False)
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
# scalar problems


def _bisect(f, a: float, b: float) -> float:
    """The root of f in [a, b] (f(a), f(b) of opposite signs) to the last bit: bisection until the midpoint is an end.

    Not scipy.optimize.brentq: importing scipy.optimize costs about a second,
    more than every closed form of ``dufm solve`` together, and a grid bracket
    (ratio 1.008) is halved to rounding in about 45 steps, each one
    evaluation of a scalar formula (tests/test_theory.py checks against brentq).
    """
    fa = f(a)
    while True:
        m = 0.5 * (a + b)
        if m <= a or m >= b:
            return a if abs(fa) <= abs(f(b)) else b
        fm = f(m)
        if fm == 0:
            return m
        if (fm < 0) == (fa < 0):
            a, fa = m, fm
        else:
            b = m


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
        """Every critical scale s > 0, in increasing order: each sign change of h' on a log grid, refined by bisection.

        For small lambda the CE DNC has two: a small-scale maximum and the
        large-scale minimum (Garrod & Keating's large-scale branch, Thm 4).
        """
        s = np.geomspace(self.upper * 1e-14, self.upper, grid)
        d = self.derivative(s)
        out = []
        for i in np.nonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0)[0]:
            root = _bisect(self.derivative, float(s[i]), float(s[i + 1]))
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


def _require(problem: Problem, what: str, balanced: bool = True):
    problem.require_single_label(f"the {what} closed form")
    if balanced and not problem.architecture.balanced:
        raise ValueError(f"per_class must be one count (balanced classes) for the {what} closed form")
    if min(decay_vector(problem)) <= 0:
        # unregularised MSE and label smoothing do have a minimum, but on a continuum of factorisations, not at one scale
        why = ("with every decay 0 the minimum is reached by many factorisations, at no one scale" if problem.finite_optimum
               else "with a zero decay no optimum exists")
        raise ValueError(f"every weight decay must be > 0 for the {what} closed form ({why})")


def _simplex_basis(K: int) -> np.ndarray:
    """Orthonormal basis of 1^perp in R^K, shape (K, K-1)."""
    q, _ = np.linalg.qr(np.eye(K) - 1.0 / K)
    return q[:, : K - 1]


def _ce_margin(K):
    g = lambda a: np.log1p((K - 1) * np.exp(-a))  # noqa: E731
    dg = lambda a: -(K - 1) * np.exp(-a) / (1 + (K - 1) * np.exp(-a))  # noqa: E731
    return g, dg


def _softmax_gap(problem: Problem, others):
    """(g, g') in beta of the per-sample label-smoothing or focal loss when a sample's other logits lie beta * others below
    its own (others: the K - 1 gaps, < 0); vectorised in beta.

    With log S = log sum_j e^(beta o_j), c = -log p_y = log(1 + S) and nu the
    mean of o under the other classes' softmax, dc/dbeta = mu = nu (1 - p_y):

    * label smoothing: -(1 - alpha) log p_y - (alpha/K) sum_j log p_j = c - (alpha/K) beta sum_j o_j;
    * focal: (1 - p_y)^gamma c with log(1 - p_y) = log S - c, derivative
      (1 - p_y)^gamma (mu + gamma p_y c nu): no division by 1 - p_y, which
      rounds to 0 at a large margin.

    At o = (-1, ..., -1) (the DNC's gap a = beta): LS log(1 + (K-1)e^-a) + alpha (K-1) a / K,
    whose derivative alpha (K-1)/K - (1 - p_y) vanishes where p_y is the smoothed target,
    a = log(1 + K(1 - alpha)/alpha); focal -(1 - p)^gamma (gamma p c + 1 - p).
    """
    o = np.asarray(others, np.float64)
    K = problem.classes

    def parts(b):
        e = np.multiply.outer(b, o)
        top = np.max(e, axis=-1)
        w = np.exp(e - top[..., None])
        logS = top + np.log(np.sum(w, axis=-1))
        c = np.logaddexp(0.0, logS)
        nu = np.sum(o * w, axis=-1) / np.sum(w, axis=-1)
        return c, nu, logS

    if problem.loss == "ls":
        shift = problem.smoothing / K * float(np.sum(o))
        return (lambda b: parts(b)[0] - shift * b), (lambda b: _mu(*parts(b)) - shift)
    gamma = problem.focal_gamma

    def g(b):
        c, _, logS = parts(b)
        return np.exp(gamma * (logS - c)) * c

    def dg(b):
        c, nu, logS = parts(b)
        return np.exp(gamma * (logS - c)) * (_mu(c, nu, logS) + gamma * np.exp(-c) * c * nu)

    return g, dg


def _mu(c, nu, logS):
    """dc/dbeta = nu (1 - p_y), 1 - p_y = exp(log S - c) (:func:`_softmax_gap`)."""
    return nu * np.exp(logS - c)


def _margin_loss(problem: Problem):
    """(g, g') of the per-sample loss of ``problem``'s softmax loss at logits with gap a between the own class and every other."""
    K = problem.classes
    # CE keeps its own closed formulas (here, in _pair_loss and _gap_loss): _softmax_gap gives the same function, but not
    # the same last bits, and the CE numbers in docs/ are printed to every digit
    if problem.loss == "ce":
        return _ce_margin(K)
    return _softmax_gap(problem, -np.ones(K - 1))


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


def _zero_targets(problem: Problem) -> np.ndarray:
    """The mean target of the samples, p = n / N for CE and (1 - alpha) p + alpha/K for label smoothing: with every
    sample's logits equal to b, the mean CE against each sample's target is the CE against this one."""
    p = np.asarray(problem.counts, np.float64) / problem.samples
    return (1 - problem.smoothing) * p + problem.smoothing / problem.classes if problem.loss == "ls" else p


def _zero_bias(problem: Problem) -> np.ndarray:
    """The optimal bias of the all-zero factors, shape (K,): p = n / N is the class frequency vector.

    CE: softmax(b) = p when free (b = log p, centred), the root of
    softmax(b) - p + lambda_b b = 0 when regularised; label smoothing: the
    same with p replaced by the mean target (:func:`_zero_targets`); MSE:
    b = p (free), p / (1 + lambda_b) (regularised); 0 without a bias.
    Focal loss, balanced classes: b = 0, because f(q) = -(1 - q)^gamma log q is
    convex on (0, 1) for every gamma >= 0 (q^2 (1 - q)^(2 - gamma) f''(q) >=
    (1 - q)(gamma (gamma + 1) q + 1 - q) > 0), so by Jensen's inequality
    (1/K) sum_k f(softmax(b)_k) >= f(1/K), and ||b||^2 >= 0.
    """
    K = problem.classes
    if problem.bias == "none":
        return np.zeros(K)
    if problem.loss == "focal":
        if not problem.architecture.balanced:
            raise ValueError("per_class must be one count (balanced classes) for the zero point's bias under focal loss "
                             "(the optimal bias of imbalanced classes is not implemented)")
        return np.zeros(K)
    p = _zero_targets(problem)
    if problem.loss == "mse":
        return p / (1.0 + problem.bias_decay)
    if problem.bias == "free" or problem.bias_decay == 0:
        return np.log(p) - np.mean(np.log(p))
    lam = problem.bias_decay

    def parts(b):  # value, gradient and Hessian of -sum p log softmax(b) + (lam/2)||b||^2 (strictly convex; p: the targets)
        q = np.exp(b - b.max())
        q /= q.sum()
        return _zero_loss(problem, b), q - p + lam * b, np.diag(q) - np.outer(q, q) + lam * np.eye(K)

    from scipy.optimize import minimize

    res = minimize(lambda b: parts(b)[0], np.zeros(K), jac=lambda b: parts(b)[1], hess=lambda b: parts(b)[2],
                   method="trust-exact", options={"gtol": 1e-15})
    # the trust region can stop once the loss no longer resolves its predicted decrease (|grad| ~ 1e-9 for smoothed
    # targets); Newton steps on the gradient, quadratically convergent on this strictly convex problem, finish it
    b = res.x
    for _ in range(10):
        _, g, h = parts(b)
        step = np.linalg.solve(h, -g)
        if np.linalg.norm(parts(b + step)[1]) >= np.linalg.norm(g):
            break
        b = b + step
    return b


def _zero_loss(problem: Problem, b: np.ndarray) -> float:
    """The objective of the all-zero factors with bias b: CE (LS) -sum t_k log softmax(b)_k (:func:`_zero_targets`),
    focal -sum p_k (1 - q_k)^gamma log q_k with q = softmax(b), MSE 1/2 sum p_k ||b - e_k||^2; + (lambda_b/2)||b||^2."""
    p = np.asarray(problem.counts, np.float64) / problem.samples
    if problem.loss == "mse":
        data = 0.5 * (float(b @ b) - 2 * float(p @ b) + 1.0)
    else:
        logq = b - b.max() - np.log(np.sum(np.exp(b - b.max())))
        if problem.loss == "focal":
            data = -float(p @ ((1 - np.exp(logq)) ** problem.focal_gamma * logq))
        else:
            data = -float(_zero_targets(problem) @ logq)
    return data + 0.5 * problem.bias_decay * float(b @ b)


def _with_bias(params: Params, problem: Problem, value) -> Params:
    """``params`` with the bias set to ``value`` (a number for every class, or a (K,) vector), if the problem has one."""
    return params._replace(b=np.broadcast_to(np.asarray(value, np.float64), (problem.classes,)).copy()) if problem.bias != "none" else params


# ---------------------------------------------------------------------------
# candidates


def zero(problem: Problem) -> Candidate:
    """All factors zero with the optimal bias for the class counts; a critical point for every L."""
    problem.require_single_label("the zero point's closed form")
    b = _zero_bias(problem)
    d = problem.widths
    W = tuple(np.zeros((d[l + 1], d[l])) for l in range(problem.depth - 1)) + (np.zeros((problem.classes, d[-1])),)
    params = _with_bias(Params(np.zeros((d[0], problem.samples)), W), problem, b)
    return Candidate("zero", _zero_loss(problem, b), 0.0, params, critical=True, rank=0)


def dnc(problem: Problem) -> Candidate:
    """The deep-neural-collapse candidate at its optimal scale (see the module docstring).

    Imbalanced counts: MSE (no bias or free bias) is the exact optimum of
    per-singular-value scalar problems (:func:`_dnc_mse_counts`); linear CE
    the local minimum of the reduced class-mean problem that a trust-region
    Newton descent reaches from the simplex (:func:`_dnc_ce_counts`).
    """
    if not problem.architecture.balanced:
        _require(problem, "DNC", balanced=False)
        return _dnc_mse_counts(problem) if problem.loss == "mse" else _dnc_ce_counts(problem)
    _require(problem, "DNC")
    K, L = problem.classes, problem.depth
    m = L + 1
    Y = labels(problem.architecture).astype(np.float64)
    relu = problem.activation == "relu" and L >= 2
    if problem.loss in SOFTMAX_LOSSES:
        linear = _dnc_softmax(problem)
        alpha, lin_loss, _ = linear.minimise()
        if not relu:
            return Candidate("dnc", lin_loss, alpha, linear.build(alpha), critical=True, rank=K - 1 if alpha > 0 else 0)
        # feasible ReLU point: orthogonal frames through every hidden layer
        d = problem.widths
        if min(d) < K:
            raise ValueError(f"width must be >= {K} at every layer for the ReLU DNC construction, got {list(d)}")
        S = np.eye(K) - 1.0 / K
        chain = [embedding(d[0], K) @ Y] + [embedding(d[l + 1], K) @ embedding(d[l], K).T for l in range(L - 1)]
        chain.append(S @ embedding(d[-1], K).T)
        a = decay_vector(problem)
        norms = np.array([np.sum(A**2) for A in chain])
        alpha_r, loss, _ = ReducedLoss(*_margin_loss(problem), 0.5 * m * geometric_mean(a * norms), 2.0 / m, 800.0).minimise()
        params = _with_bias(scaled_chain(chain, alpha_r, problem), problem, 0.0)
        return Candidate(
            "dnc", loss, alpha_r, params, critical=True, exact=False, lower_bound=lin_loss, rank=K - 1 if alpha_r > 0 else 0,
            note=f"ReLU {problem.loss}: loss of a feasible DNC point (upper bound; lower_bound is the linear DNC loss); "
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


def _pair_loss(problem: Problem):
    """(g, g') in beta of a pair class's loss: its partner's logit 2 beta below its own, every other class's beta below."""
    K = problem.classes
    if problem.loss != "ce":
        return _softmax_gap(problem, [-2.0] + [-1.0] * (K - 2))

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
    if problem.loss not in SOFTMAX_LOSSES:
        raise ValueError("loss must be a loss of softmax(z) ('ce', 'ls' or 'focal') for the Garrod-Keating low-rank construction")
    if problem.activation == "relu" and problem.depth >= 2:
        raise ValueError("activation must be 'linear' (or depth 1) for the Garrod-Keating low-rank construction")
    K, n, L = problem.classes, problem.counts[0], problem.depth
    m = L + 1
    lam = effective_decay(problem)
    p = K // 2
    gp, dgp = _pair_loss(problem)
    gl, dgl = _margin_loss(problem)
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


def _dnc_mse_counts(problem: Problem) -> Candidate:
    """The MSE optimum (no bias or free bias) with per-class counts: one scalar problem per singular value.

    After the optimal free bias (b = p), the data term is (1/(2N))||A - T||_F^2
    with A = M D^(1/2) and T = D^(1/2) (no bias) or D^(1/2)(I - w w^T),
    w = sqrt(p) (free bias). By von Neumann's trace inequality the optimum
    shares T's singular vectors, and each singular value a_i = x_i tau_i
    minimises tau_i^2/(2N) (1 - x)^2 + (m/2) lambda_eff (x tau_i)^(2/m) over
    [0, 1] (Dang et al. 2023's per-class problems; without a bias, one per
    class). ReLU (no bias): the factors are non-negative, so the point is
    feasible and exact.
    """
    if problem.bias == "regularised":
        raise ValueError("bias must be 'none' or 'free' for the MSE DNC closed form")
    if problem.activation == "relu" and problem.depth >= 2 and problem.bias != "none":
        raise ValueError("bias must be 'none' for the ReLU MSE DNC closed form")
    K, N, m = problem.classes, problem.samples, problem.depth + 1
    root = np.sqrt(np.asarray(problem.counts, np.float64))
    if problem.bias == "none":
        U, tau, V = np.eye(K), root, np.eye(K)  # identity singular vectors keep every factor non-negative
    else:
        w = root / np.sqrt(N)
        U, tau, Vt = np.linalg.svd(root[:, None] * (np.eye(K) - np.outer(w, w)))
        U, tau, V = U[:, : K - 1], tau[: K - 1], Vt[: K - 1].T  # T w = 0: rank K - 1
    lam = effective_decay(problem)
    xs, loss = [], 0.0
    for t in tau:
        h = ReducedLoss(lambda x, t=t: t**2 / (2 * N) * (1 - x) ** 2, lambda x, t=t: -(t**2) / N * (1 - x),
                        0.5 * m * lam * t ** (2.0 / m), 2.0 / m, 1.0)
        x, value, _ = h.minimise()
        xs.append(x)
        loss += value
    a = np.asarray(xs) * tau
    keep = a > 0
    Y = labels(problem.architecture).astype(np.float64)
    params = balanced_factors(U[:, keep], a[keep], Y.T @ (V[:, keep] / root[:, None]), problem)
    params = _with_bias(params, problem, np.asarray(problem.counts, np.float64) / N)
    return Candidate("dnc", float(loss), {f"x{i}": float(x) for i, x in enumerate(xs)}, params, critical=True,
                     rank=int(keep.sum()), note="per-class counts: the exact optimum, one scalar problem per singular value of "
                     "D^(1/2) (no bias) or D^(1/2)(I - w w^T) (free bias)")


def _dnc_ce_counts(problem: Problem) -> Candidate:
    """Linear CE with per-class counts: the simplex at its best common scale, then the reduced problem's local minimum below it.

    The simplex M = alpha S keeps every class's loss log(1 + (K-1)e^-alpha),
    and its regulariser is (m/2) lambda_eff sum sigma(S D^(1/2))^(2/m) alpha^(2/m)
    (a 1-D problem, ``simplex_loss``); it is not critical when the counts
    differ. A trust-region Newton descent of the reduced class-mean problem
    at rank K - 1 from it (:func:`polish`) gives the imbalanced DNC: a local
    minimum with K - 1 unequal singular values.
    """
    cm = class_mean_problem(problem)
    K, m = problem.classes, problem.depth + 1
    S = np.eye(K) - 1.0 / K
    sv = np.linalg.svd(S * np.sqrt(np.asarray(problem.counts, np.float64)), compute_uv=False)[: K - 1]
    h = ReducedLoss(*_margin_loss(problem), 0.5 * m * effective_decay(problem) * float(np.sum(sv ** (2.0 / m))), 2.0 / m, 800.0)
    alpha, simplex_loss, _ = h.minimise()
    x, _ = polish(smooth_point(alpha * S, None, cm, K - 1), cm, K - 1)
    M, b = smooth_class_means(x, cm, K - 1)
    rank = class_mean_svd(M, cm)[1].size
    return Candidate("dnc", class_mean_objective(M, b, cm), alpha, lift(M, b, problem), critical=True, rank=rank,
                     note="per-class counts: local minimum of the reduced class-mean problem reached from the simplex "
                     "(trust-region Newton); scale and simplex_loss are the simplex's at its best common scale",
                     extra={"simplex_loss": simplex_loss})


def _gap_loss(gaps):
    """g(beta) = log sum_j exp(beta gaps_j) (the CE of every class when its logit gaps are beta gaps), and its derivative."""
    c = np.asarray(gaps, np.float64)

    def g(b):
        return np.log(np.sum(np.exp(np.multiply.outer(b, c)), axis=-1))

    def dg(b):
        e = np.exp(np.multiply.outer(b, c))
        return np.sum(c * e, axis=-1) / np.sum(e, axis=-1)

    return g, dg


def _code_ce(problem: Problem, X: np.ndarray) -> ReducedLoss:
    """Class means beta X X^T for a code X (K, r) of unit rows with X^T X = (K/r) I and a class-transitive symmetry group.

    Every class then sees the same logit gaps beta (G_0j - 1), G = X X^T, and
    Z = beta G (x) 1_n^T has r singular values beta K sqrt(n) / r, so
    l(beta) = log sum_j exp(beta (G_0j - 1)) + (m/2) lambda_eff r (beta K sqrt(n)/r)^(2/m).
    When the symmetry group also acts irreducibly on R^r, the CE gradient
    commutes with it and is a multiple of G on G's column space, so every
    critical scale is a critical point of the full objective.
    """
    K, n, m = problem.classes, problem.counts[0], problem.depth + 1
    r = X.shape[1]
    Y = labels(problem.architecture).astype(np.float64)
    Q = X / np.sqrt(K / r)  # orthonormal columns

    def build(beta):
        return _with_bias(balanced_factors(Q, np.full(r, beta * K * np.sqrt(n) / r), Y.T @ Q / np.sqrt(n), problem), problem, 0.0)

    coef = 0.5 * m * effective_decay(problem) * r * (K * np.sqrt(n) / r) ** (2.0 / m)
    gaps = (X @ X.T)[0] - 1.0  # class 0's: 0 for itself
    loss = _gap_loss(gaps) if problem.loss == "ce" else _softmax_gap(problem, gaps[1:])
    return ReducedLoss(*loss, coef, 2.0 / m, 800.0, build)


def _circle_code(K: int) -> np.ndarray:
    """The regular K-gon, (K, 2): the 2-D softmax code."""
    theta = 2 * np.pi * np.arange(K) / K
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def _icosahedron() -> np.ndarray:
    """The 12 unit vertices of the icosahedron, (12, 3): cyclic permutations of (0, +-1, +-phi), normalised."""
    phi = (1 + np.sqrt(5)) / 2
    V = np.array([v for a in (-1, 1) for b in (-phi, phi) for v in ((0, a, b), (a, b, 0), (b, 0, a))], np.float64)
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def _rectified_simplex(r: int) -> np.ndarray:
    """The C(r, 2) unit vertices of the rectified (r-1)-simplex, (C(r, 2), r - 1): e_i + e_j - (2/r) 1 in a basis of 1^perp."""
    E = incidence(r).T  # (C(r,2), r): row {i, j} is e_i + e_j
    B = _simplex_basis(r)
    X = (E - 2.0 / r) @ B
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _triangular_root(K: int) -> int:
    """r with r(r-1)/2 = K, or 0 when K is not triangular."""
    r = int(round((1 + np.sqrt(1 + 8 * K)) / 2))
    return r if r * (r - 1) // 2 == K else 0


def _circle_ce(problem: Problem) -> ReducedLoss:
    """Class means equally spaced on a circle: M = beta C, C_jk = cos(2 pi (j - k)/K) (rank 2)."""
    return _code_ce(problem, _circle_code(problem.classes))


def _require_code(problem: Problem, what: str, classes_ok: bool, classes_rule: str, r: int):
    _require(problem, what)
    if problem.loss not in SOFTMAX_LOSSES or (problem.activation == "relu" and problem.depth >= 2):
        raise ValueError(f"loss must be a loss of softmax(z) ('ce', 'ls' or 'focal') and activation 'linear' (or depth 1) "
                         f"for the {what} point")
    if not classes_ok:
        raise ValueError(f"classes must be {classes_rule} for the {what} point, got {problem.classes}")
    if min(problem.widths) < r:
        raise ValueError(f"width must be >= {r} at every layer for the {what} point, got {list(problem.widths)}")


def softmax_code(problem: Problem) -> Candidate:
    """The icosahedral softmax code (K = 12, rank 3): class means at the 12 vertices of the icosahedron, linear CE.

    The softmax codes of Jiang et al. (2024) that have closed forms are the
    regular K-gon in R^2 (:func:`circle`), the simplex (:func:`dnc`), the
    cross-polytope (GK25's pairs, :func:`low_rank`, K = 2r) and, in R^3 for
    K = 12, the icosahedron; its logit gaps are beta (-1 +- 1/sqrt 5) (five
    each) and -2 beta, its three singular values 4 beta sqrt(n). The icosahedral
    group is transitive on the vertices and irreducible on R^3, so every
    critical scale is a critical point (:func:`_code_ce`). ``dufm optimum``
    returns it as the optimum at K = 12, n = 5, lambda = 2^-10 for L = 3..7
    (docs/optima.md).
    """
    _require_code(problem, "softmax_code", problem.classes == 12, "12 (the icosahedron; the 2-D code is 'circle')", 3)
    h = _code_ce(problem, _icosahedron())
    beta, loss, _ = h.minimise()
    return Candidate("softmax_code", loss, beta, h.build(beta), critical=True, rank=3 if beta > 0 else 0,
                     note="the icosahedron in R^3", extra={"code": "icosahedron"})


def rectified_simplex(problem: Problem) -> Candidate:
    """K = C(r, 2) classes as the edges of K_r: class means at the vertices of the rectified (r-1)-simplex, linear CE, rank r - 1.

    Class {i, j} has mean direction e_i + e_j - (2/r) 1 (in 1^perp of R^r): the
    CE analogue of Súkeník et al.'s SRG construction (the same edges of K_r).
    The logit gaps are beta (cos - 1) with cos = (r - 4)/(2(r - 2)) for the
    2(r - 2) classes sharing a vertex and -2/(r - 2) for the C(r-2, 2) disjoint
    ones; the symmetric group S_r is transitive on the edges and irreducible on
    1^perp, so every critical scale is critical (:func:`_code_ce`). r = 4 is the
    octahedron (the pairs), r = 5 (K = 10) the Petersen-graph code in R^4: the
    rank-4 optimum at K = 10, L = 2 for lambda = 2^-6 and the rank-4 local
    minimum GD reaches in Fig 1 from a small init (docs/optima.md).
    """
    r = _triangular_root(problem.classes)
    _require_code(problem, "rectified_simplex", r >= 4, "r(r-1)/2 for some r >= 4 (6, 10, 15, 21, ...)", r - 1)
    h = _code_ce(problem, _rectified_simplex(r))
    beta, loss, _ = h.minimise()
    return Candidate("rectified_simplex", loss, beta, h.build(beta), critical=True, rank=r - 1 if beta > 0 else 0,
                     note=f"the edges of K_{r} as the vertices of the rectified {r - 1}-simplex", extra={"r": r})


def circle(problem: Problem) -> Candidate:
    """The rank-2 circle point (Garrod & Keating 2025, Thm 3): class means equally spaced on a circle, linear CE, K >= 3.

    Z = beta C (x) 1_n^T with C_jk = cos(2 pi (j - k)/K): logit beta for the
    own class, beta cos(2 pi j/K) for the class j steps away; singular values
    beta K sqrt(n) / 2 (twice), so
    l(beta) = log sum_j exp(beta (cos(2 pi j/K) - 1)) + m lambda_eff (beta K sqrt(n)/2)^(2/m).
    C and the CE gradient are circulant and symmetric, so they share the
    Fourier eigenvectors: every critical scale is a critical point of the
    full objective. It is the 2-D softmax code (the regular K-gon); K = 3
    gives the simplex (DNC), K = 4 the pair construction, up to relabelling.
    """
    _require_code(problem, "circle", problem.classes >= 3, ">= 3 (rank 2)", 2)
    h = _circle_ce(problem)
    beta, loss, _ = h.minimise()
    return Candidate("circle", loss, beta, h.build(beta), critical=True, rank=2 if beta > 0 else 0)


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
    r = _triangular_root(K)
    if r < 3:
        raise ValueError(f"classes must be r(r-1)/2 for some r >= 3 (3, 6, 10, 15, ...) for the SRG construction, got {K}")
    if problem.loss != "mse" or problem.activation != "relu" or L < 2 or problem.bias != "none":
        raise ValueError("the SRG construction needs loss 'mse', activation 'relu', depth >= 2 and bias 'none'")
    d = problem.widths
    if min(d[:-1]) < r or d[-1] < K:
        raise ValueError(f"width must be >= {r} at layers 1..L-1 and >= {K} at layer L for the SRG construction, got {list(d)}")
    E = incidence(r)
    Y = labels(problem.architecture).astype(np.float64)
    M = E.T @ E - 1.0
    chain = [embedding(d[0], r) @ E @ Y]
    chain += [embedding(d[l + 1], r) @ embedding(d[l], r).T for l in range(L - 2)]
    chain.append(embedding(d[-1], K) @ M @ np.linalg.pinv(E) @ embedding(d[-2], r).T)
    chain.append(embedding(d[-1], K).T)
    a = decay_vector(problem)
    m = L + 1
    norms = np.array([np.sum(A**2) for A in chain])
    coef = 0.5 * m * geometric_mean(a * norms)
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
    """Every candidate available for ``problem``: name -> Candidate, or the reason it is not available (str); a
    ValueError for a multi-label problem or loss, which has none."""
    problem.require_single_label("the closed forms")
    out = {}
    makers = [("dnc", lambda: dnc(problem)), ("low_rank", lambda: low_rank(problem)), ("zero", lambda: zero(problem))]
    # the circle and the rectified simplex are listed where they are new points: K = 3 and 4 give the simplex and the
    # pairs (circle), r = 4 the pairs (rectified simplex); with equal losses the table's "lowest" would be a coin toss
    ce = problem.loss in SOFTMAX_LOSSES  # the codes below are constructions for a loss of softmax(z)
    if ce and problem.classes >= 5:
        makers.insert(2, ("circle", lambda: circle(problem)))
    if problem.classes % 2:
        makers.insert(2, ("low_rank_two_scale", lambda: low_rank(problem, two_scale=True)))
    if ce and problem.classes == 12:
        makers.insert(-1, ("softmax_code", lambda: softmax_code(problem)))
    if ce and _triangular_root(problem.classes) >= 5:
        makers.insert(-1, ("rectified_simplex", lambda: rectified_simplex(problem)))
    if problem.loss == "mse" and problem.activation == "relu":
        makers.insert(1, ("srg", lambda: srg(problem)))
    for name, make in makers:
        try:
            out[name] = make()
        except ValueError as e:
            out[name] = str(e)
    if any(d == 0 for d in (problem.lambda_H, *problem.lambda_W)):
        # still a critical point, but never a candidate optimum: the infimum lies below it (problem.finite_optimum)
        floor = "the entropy of the smoothed targets" if problem.loss == "ls" and problem.smoothing > 0 else "0"
        what = "label smoothing" if floor != "0" else "MSE"
        out["zero"] = (f"a factor's weight decay is 0, so the loss approaches (or, for {what} without any decay, reaches) "
                       f"{floor} below the zero point, which is no minimum")
    return out


# ---------------------------------------------------------------------------
# candidates at any scale (for Hessian probing of every branch)


def _dnc_softmax(problem: Problem) -> ReducedLoss:
    """The linear DNC of a loss of softmax(z) (CE, LS, focal), Z = a S (x) 1_n^T, balanced factors; scale a = the logit gap."""
    K, n, m = problem.classes, problem.counts[0], problem.depth + 1
    Y = labels(problem.architecture).astype(np.float64)
    U = _simplex_basis(K)

    def build(alpha):
        return _with_bias(balanced_factors(U, np.full(K - 1, alpha * np.sqrt(n)), Y.T @ U / np.sqrt(n), problem), problem, 0.0)

    coef = 0.5 * m * effective_decay(problem) * (K - 1) * n ** (1.0 / m)
    return ReducedLoss(*_margin_loss(problem), coef, 2.0 / m, 800.0, build)


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
    return ReducedLoss(*_pair_loss(problem), coef, 2.0 / m, 800.0, build)


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
    softmax = problem.loss in SOFTMAX_LOSSES and linear
    if name == "dnc" and softmax:
        return _dnc_softmax(problem)
    if name == "dnc" and problem.loss == "mse" and problem.bias != "regularised" and (linear or problem.bias == "none"):
        return _dnc_mse(problem)
    if name == "low_rank" and softmax and problem.classes % 2 == 0:
        return _pairs_ce(problem)
    if name == "circle" and softmax and problem.classes >= 3:
        return _circle_ce(problem)
    if name == "softmax_code" and softmax and problem.classes == 12:
        return _code_ce(problem, _icosahedron())
    if name == "rectified_simplex" and softmax and _triangular_root(problem.classes) >= 4:
        return _code_ce(problem, _rectified_simplex(_triangular_root(problem.classes)))
    raise ValueError(
        f"point must be 'dnc' (linear, a loss of softmax(z) or MSE without a regularised bias), 'low_rank' (even K), "
        f"'circle' (K >= 3), 'softmax_code' (K = 12) or 'rectified_simplex' (K = r(r-1)/2, r >= 4), the last four linear "
        f"with a loss of softmax(z) (CE, LS, focal), "
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
