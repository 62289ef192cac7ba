"""Spectra, numerical ranks, neural-collapse metrics and the solution type.

For a feature matrix F (d x N, columns ordered by class) with class means
M (d x K), global mean mu_G (mean over samples) and centred means
Mbar = M - mu_G 1^T:

* Sigma_W = (1/N) sum_i (f_i - m_{y_i})(f_i - m_{y_i})^T,
  Sigma_B = (1/K) Mbar Mbar^T;
* ``nc1``       = Tr(Sigma_W Sigma_B^+)/K (Papyan et al. 2020), the pseudo-inverse
  keeping the singular directions of Mbar above ``rank_tol`` (relative);
* ``nc1_trace`` = Tr Sigma_W / Tr Sigma_B (scale-free, no pseudo-inverse);
* ``cdnv``      = mean over class pairs k < k' of (Var_k + Var_k') / (2 ||mu_k - mu_k'||^2),
  Var_k = (1/n_k) sum_{i in k} ||f_i - mu_k||^2 (Galanti et al. 2022's class-distance
  normalised variance);
* ``nc2_etf``   = || G/||G||_F - S/sqrt(K-1) ||_F with G = Mbar^T Mbar, S = I - 11^T/K
  (the simplex ETF: CE, or MSE with a bias);
* ``nc2_of``    = || G0/||G0||_F - I/sqrt(K) ||_F with G0 = M^T M, *uncentred*
  means (the orthogonal frame of MSE without bias; centring an orthogonal
  frame gives a simplex, so the centred Gram could not tell them apart);
* ``nc2_equinorm``  = std_k ||mbar_k|| / mean_k ||mbar_k|| (population std; the coefficient of
  variation of the centred class-mean norms, Papyan et al. 2020 Fig 2);
* ``nc2_equiangle`` = mean over k != k' of |cos(mbar_k, mbar_k') + 1/(K-1)| (Papyan et al. 2020 Fig 3);
* ``nc3``       = ||W (I - P_M)||_F / ||W||_F for the weight matrix W that reads
  these features, P_M the projector onto the span of the class means: 0 when
  the rows of W lie in the span of the class means (Súkeník et al.'s DNC3
  generalised to d_{l+1} != K rows);
* ``nc3_duality`` (last layer only) = || W_L^T/||W_L||_F - Mbar/||Mbar||_F ||_F
  (Papyan et al.'s self-duality; uncentred M for MSE without bias);
* ``nc4``       = fraction of samples whose nearest class mean (Euclidean) is the classifier's
  prediction argmax_k (W_L f + b)_k at the layer the classifier reads (Papyan et al.'s NC4,
  as an agreement: 1 at collapse), and elsewhere the fraction whose nearest class mean is
  their label (the nearest-class-centre accuracy).

A class with one sample has Var_k = 0 and adds nothing to Sigma_W: for dufm's
own points that is the truth (a class is one column); for a real network's
features it is an unobservable variance, which :mod:`dufm.features` refuses.

Numerical rank: the number of singular values above ``rank_tol`` times the
largest (default 1e-3), and 0 when the largest is below ``zero_tol`` (1e-12).

Solution type, from the spectra of the logits without bias, Z = W_L sigma(H_L)
(centred over samples for MSE with a bias, whose constant part the bias
absorbs), and of the pre-activations H_1 ... H_L, with r_full = K for MSE
without bias and K - 1 otherwise:

* ``trivial``  if sigma_max(Z) <= trivial_tol * sqrt(N) (default 1e-4);
* ``low-rank`` if rank(Z) < r_full, or some rank(H_l) < r_full (the ReLU
  low-rank solutions of Súkeník et al. have full-rank Z but hidden layers of
  lower rank);
* ``dnc``      if rank(Z) = r_full and the nonzero singular values agree:
  sigma_r / sigma_1 >= 1 - equal_tol (default 1e-2);
* ``other``    otherwise (full rank with unequal singular values).

The solution type describes a minimiser's geometry, so it is given only for a
problem whose objective attains its minimum (:attr:`Problem.finite_optimum`):
with a factor's decay 0, CE drives ||Z|| to infinity and an end point is a
point on the way, not an optimum; its type is None. Such a problem (and the
unregularised MSE problem, whose minimisers have Z = Y at any scale of the
factors) is described by scale-free quantities instead, :class:`Normalised`
(Garrod, Keating & Thrampoulidis 2026 study GD's direction, Z/||Z||_F):

* ``singular_values`` sigma_i(Z_c)/||Z_c||_F, with Z_c the logits the data term
  sees (:func:`scale_free_logits`): for CE Z_c = (I - 11^T/K) Z, centred over
  classes (CE and its margins ignore a constant added to a sample's logits,
  and GD never moves that component of Z, a trace of the initialisation that
  at lambda = 0 does not fade), for MSE Z (centred over samples with a bias);
* ``effective_rank`` exp(-sum_i p_i log p_i), p_i = sigma_i / sum_j sigma_j
  (Roy & Vetterli 2007; 0 log 0 = 0): K - 1 for the simplex ETF, r for r equal
  singular values, between 1 and the rank otherwise;
* ``stable_rank`` ||Z_c||_F^2 / ||Z_c||_2^2 (also K - 1 for the simplex);
* ``margin`` min_i (z_{y_i,i} - max_{k != y_i} z_{k,i}) / ||Z_c||_F, the logits z
  including the bias (negative while a sample is misclassified): the margin
  of the direction Z_c/||Z_c||_F; 1/sqrt(n(K-1)) for the simplex Z = a S (x) 1_n^T;
* ``parameter_margin`` the same minimum over ||theta||^(L+1), theta = (H_1,
  W_1, ..., W_L): the normalised margin of Lyu & Li (2020) of this
  (L+1)-homogeneous model, the quantity gradient flow on CE increases once
  every sample is classified; None with a bias (the model is then not homogeneous);
* ``frobenius_norm`` ||Z_c||_F itself (it grows without bound under CE).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields, replace
from typing import NamedTuple

import numpy as np

from .objective import forward, named_matrices, post_activation
from .options import check_fraction, option
from .precision import float64
from .problem import Params, Problem


class SolutionType(enum.StrEnum):
    """The geometry of an end point (module docstring). Compares equal to its string."""

    DNC = "dnc"
    LOW_RANK = "low-rank"
    TRIVIAL = "trivial"
    OTHER = "other"


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the numerical rank and the solution type (module docstring)."""

    rank_tol: float = option(1e-3, "numerical rank threshold relative to the largest singular value")
    zero_tol: float = option(1e-12, "a matrix whose largest singular value is <= zero_tol has rank 0", flag=False)
    equal_tol: float = option(1e-2, "DNC needs sigma_r / sigma_1 >= 1 - equal_tol", flag=False)
    trivial_tol: float = option(1e-4, "trivial when sigma_max(Z) <= trivial_tol sqrt(N)", flag=False)

    def __post_init__(self):
        for f in fields(self):
            check_fraction(f.name, getattr(self, f.name))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NCMetrics:
    """The neural-collapse metrics of one feature matrix (module docstring); ``nc3``, ``nc3_duality`` None where not defined.

    ``cdnv``, ``nc2_equinorm``, ``nc2_equiangle`` and ``nc4`` are None in
    records stored before they existed (the store format did not change).
    """

    nc1: float
    nc1_trace: float
    nc2_etf: float
    nc2_of: float
    nc3: float | None = None
    nc3_duality: float | None = None
    cdnv: float | None = None
    nc2_equinorm: float | None = None
    nc2_equiangle: float | None = None
    nc4: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> "NCMetrics":
        """The metrics of :meth:`to_dict` (a stored null is a NaN)."""
        return cls(**{k: float("nan") if v is None else float(v) for k, v in d.items()})


@dataclass(frozen=True, eq=False)
class Normalised:
    """Scale-free quantities of the logits Z (module docstring): a problem without a finite optimum, or unregularised."""

    singular_values: np.ndarray
    effective_rank: float
    stable_rank: float
    margin: float
    parameter_margin: float | None
    frobenius_norm: float

    def rank(self, rank_tol: float = 1e-3) -> int:
        """The numerical rank of the scale-free logits: singular values above ``rank_tol`` times the largest."""
        return numerical_rank(self.singular_values, rank_tol, 0.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Normalised":
        pm = d.get("parameter_margin")
        return cls(np.asarray(d["singular_values"], np.float64), float(d["effective_rank"]), float(d["stable_rank"]),
                   float(d["margin"]), None if pm is None else float(pm), float(d["frobenius_norm"]))


@dataclass(frozen=True, eq=False)
class Analysis:
    """Spectra, ranks, NC metrics and solution type of a parameter point (:func:`analyse`).

    ``singular_values`` and ``rank`` are keyed by ``Z`` (logits without bias),
    ``H1`` ... ``HL`` (pre-activations), ``sigma_H2`` ... (post-activations,
    ReLU only), ``W1`` ... ``WL``; ``nc`` by the feature matrices;
    ``class_mean_logits`` (K x K, column k = mean logit vector of class k).
    ``solution_type`` is None for a problem without a finite optimum, and
    ``normalised`` (:class:`Normalised`) is given for such a problem and for
    an unregularised one (None otherwise, and in records stored before it).
    """

    singular_values: dict[str, np.ndarray]
    rank: dict[str, int]
    nc: dict[str, NCMetrics]
    class_mean_logits: np.ndarray
    solution_type: SolutionType | None
    thresholds: Thresholds
    normalised: Normalised | None = None

    @property
    def hidden_rank(self) -> int:
        """The smallest rank of the pre-activations H_1 ... H_L."""
        return min(v for k, v in self.rank.items() if k.startswith("H"))

    def to_dict(self) -> dict:
        d = {
            "solution_type": None if self.solution_type is None else str(self.solution_type),
            "rank": dict(self.rank),
            "singular_values": dict(self.singular_values),
            "nc": {k: m.to_dict() for k, m in self.nc.items()},
            "class_mean_logits": self.class_mean_logits,
            "thresholds": self.thresholds.to_dict(),
        }
        if self.normalised is not None:  # absent otherwise: the records of regularised runs stay what they were
            d["normalised"] = self.normalised.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Analysis":
        return cls(
            singular_values={k: np.asarray(v, np.float64) for k, v in d["singular_values"].items()},
            rank={k: int(v) for k, v in d["rank"].items()},
            nc={k: NCMetrics.from_dict(m) for k, m in d["nc"].items()},
            class_mean_logits=np.asarray(d["class_mean_logits"], np.float64),
            solution_type=None if d["solution_type"] is None else SolutionType(d["solution_type"]),
            thresholds=Thresholds(**d["thresholds"]),
            normalised=Normalised.from_dict(d["normalised"]) if d.get("normalised") is not None else None,
        )


def singular_values(x) -> np.ndarray:
    """Singular values of a matrix, descending, float64."""
    return np.linalg.svd(np.asarray(x, np.float64), compute_uv=False)


def numerical_rank(s, rank_tol: float = 1e-3, zero_tol: float = 1e-12) -> int:
    """Number of singular values s_i > rank_tol * s_1 (0 if s_1 <= zero_tol)."""
    s = np.asarray(s)
    if s.size == 0 or s[0] <= zero_tol:
        return 0
    return int(np.sum(s > rank_tol * s[0]))


class SpectralEvents(NamedTuple):
    """Where each singular value of a recorded trajectory switches on or dies (:func:`spectral_events`): row indices, -1 for none.

    ``on`` (r,): the first row of the final stretch in which sigma_i counts for
    the numerical rank, if it did not count at some earlier row; ``off`` (r,):
    the first row of the final stretch in which it does not count, if it did
    at some earlier row. At most one of the two is set for each i.
    """

    on: np.ndarray
    off: np.ndarray


def counting(sv, rank_tol: float = 1e-3, zero_tol: float = 1e-12) -> np.ndarray:
    """Which sigma_i count for the numerical rank at each row of ``sv`` (T, r), descending rows: (T, r) booleans.

    sigma_i counts when sigma_i > rank_tol * sigma_1 and sigma_1 > zero_tol, so a row's count is its
    :func:`numerical_rank`.
    """
    sv = np.asarray(sv, np.float64)
    top = sv[:, :1]
    return (top > zero_tol) & (sv > rank_tol * top)


def spectral_events(sv, rank_tol: float = 1e-3, zero_tol: float = 1e-12) -> SpectralEvents:
    """When each sigma_i of a trajectory ``sv`` (T, r) (one row per record, descending) switches on or dies.

    sigma_i counts at row t as :func:`counting` says (the number that count at a row is its
    :func:`numerical_rank`). A value that flickers across the threshold is dated by its last crossing:
    "switches on" means it rises above and stays there to the last row, "dies" that it falls below and stays.
    """
    sv = np.asarray(sv, np.float64)
    if sv.ndim != 2 or sv.shape[0] < 1:
        raise ValueError(f"sv must be a (T, r) array of singular values, one row per record, got shape {sv.shape}")
    if not np.all(np.isfinite(sv)):
        raise ValueError("sv must be finite (a diverged run's record has non-finite rows)")
    check_fraction("rank_tol", rank_tol)
    counts = counting(sv, rank_tol, zero_tol)
    changed = counts != counts[-1]  # rows whose state differs from the final one
    last = sv.shape[0] - 1 - np.argmax(changed[::-1], axis=0)  # the last such row of each column
    event = np.where(changed.any(axis=0), last + 1, -1)
    return SpectralEvents(np.where(counts[-1], event, -1), np.where(counts[-1], -1, event))


def effective_rank(s) -> float:
    """exp(-sum_i p_i log p_i) with p_i = s_i / sum_j s_j (Roy & Vetterli 2007), 0 log 0 = 0; 0 for no or zero ``s``."""
    s = np.asarray(s, np.float64)
    total = s.sum()
    if s.size == 0 or total <= 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def stable_rank(s) -> float:
    """||X||_F^2 / ||X||_2^2 = sum_i s_i^2 / max_i s_i^2 from the singular values ``s``; 0 for no or zero ``s``."""
    s = np.asarray(s, np.float64)
    if s.size == 0 or s.max() <= 0:
        return 0.0
    return float(np.sum(s**2) / s.max() ** 2)


def margins(logits, counts) -> np.ndarray:
    """z_{y_i,i} - max_{k != y_i} z_{k,i} for every sample i: ``logits`` (K, N), columns ordered by class (``counts``)."""
    Z = np.asarray(logits, np.float64)
    y = np.repeat(np.arange(len(counts)), counts)
    cols = np.arange(Z.shape[1])
    own = Z[y, cols]
    others = Z.copy()
    others[y, cols] = -np.inf
    return own - others.max(axis=0)


def scale_free_logits(Z, problem: Problem) -> np.ndarray:
    """The part of the logits Z (K, N; without bias) the data term sees, whose scale-free quantities are reported.

    CE: Z_c = (I - 11^T/K) Z, centred over classes: the loss and every margin are unchanged by adding a constant to
    a column's logits, and GD never moves that component (the CE gradient in Z has columns summing to 0, so 1^T W_L
    keeps its initial value), so at lambda = 0 it is an imprint of the initialisation, not of training. MSE: Z, centred
    over samples with a bias (which absorbs the constant part), as the solution type reads it.
    """
    Z = np.asarray(Z, np.float64)
    if problem.loss == "ce":
        return Z - Z.mean(axis=0, keepdims=True)
    return Z - Z.mean(axis=1, keepdims=True) if problem.bias != "none" else Z


def normalised(Z, params: Params, problem: Problem, bias=None) -> Normalised:
    """The :class:`Normalised` quantities of logits ``Z`` (K, N; without bias): the spectrum of
    :func:`scale_free_logits`, the margins of Z + b 1^T (``bias``) over its Frobenius norm and over ||theta||^(L+1)
    (``params`` the factors)."""
    X = scale_free_logits(Z, problem)
    s = singular_values(X)
    fro = float(np.sqrt(np.sum(s**2)))
    logits = np.asarray(Z, np.float64) + (0.0 if bias is None else np.asarray(bias, np.float64)[:, None])
    gamma = float(np.min(margins(logits, problem.counts)))
    pmargin = None
    if bias is None:
        theta2 = float(np.sum(np.asarray(params.H, np.float64) ** 2) + sum(np.sum(np.asarray(w, np.float64) ** 2) for w in params.W))
        pmargin = gamma / theta2 ** ((len(params.W) + 1) / 2) if theta2 > 0 else float("nan")
    if fro == 0:
        return Normalised(np.full(len(s), np.nan), 0.0, 0.0, float("nan"), pmargin, 0.0)
    return Normalised(s / fro, effective_rank(s), stable_rank(s), gamma / fro, pmargin, fro)


def class_means(F, counts) -> np.ndarray:
    """Class means M, shape (d, K), of features F (d, N) with columns ordered by class."""
    F = np.asarray(F, np.float64)
    y = np.repeat(np.arange(len(counts)), counts)
    sums = np.zeros((F.shape[0], len(counts)))
    np.add.at(sums.T, y, F.T)
    return sums / np.asarray(counts)[None, :]


class FeatureStats(NamedTuple):
    """What every NC metric needs of one feature matrix, accumulated over samples in float64 (:func:`feature_stats`).

    Samples are rows here (X of shape (N, d), labels y in 0..K-1, any order),
    as in the neural-collapse libraries; dufm's own (d, N) matrices are
    transposed on the way in.

    * ``counts`` (K,) n_k;  ``means`` (K, d) class means mu_k;  ``global_mean`` (d,) mu_G (mean over samples);
    * ``within`` (d, d) Sigma_W = (1/N) sum_i (x_i - mu_{y_i})(x_i - mu_{y_i})^T;
    * ``class_var`` (K,) Var_k = (1/n_k) sum_{i in k} ||x_i - mu_k||^2 (Galanti et al.'s variance);
    * ``r`` the triangular factor of X (X = QR, accumulated chunk by chunk: TSQR), whose singular values are X's;
    * ``ncc_label`` samples whose nearest class mean (Euclidean) is their label;
    * ``ncc_classifier`` samples whose nearest class mean is the classifier's argmax_k (W x + b)_k (None without W).
    """

    counts: np.ndarray
    means: np.ndarray
    global_mean: np.ndarray
    within: np.ndarray
    class_var: np.ndarray
    r: np.ndarray
    ncc_label: int
    ncc_classifier: int | None

    @property
    def samples(self) -> int:
        return int(self.counts.sum())


def _nearest_mean(X, means, mean_sq) -> np.ndarray:
    """argmin_k ||x_i - mu_k||^2 for each row of X (ties: the lowest k), via ||mu_k||^2 - 2 x.mu_k (no N x N matrix)."""
    return np.argmin(mean_sq[None, :] - 2.0 * (X @ means.T), axis=1)


def feature_stats(chunks, classes: int, W=None, b=None) -> FeatureStats:
    """:class:`FeatureStats` of features streamed as chunks: two passes, float64 accumulation, memory O(d^2 + K d + chunk d).

    ``chunks()`` returns a fresh iterable of ``(X, y)`` pieces (X (c, d), y
    (c,) integers in 0..classes-1) covering the samples once; it is called
    twice: pass 1 accumulates counts, class sums and the TSQR factor, pass 2
    the within-class scatter about the finished class means (no cancellation
    of a one-pass second moment) and the nearest-class-mean agreements.
    ``W`` (K, d) and ``b`` (K,) are the classifier reading these features.
    """
    K = classes
    counts = np.zeros(K, np.int64)
    sums = r = None
    for X, y in chunks():
        X = np.asarray(X, np.float64)
        if sums is None:
            sums = np.zeros((K, X.shape[1]))
            r = np.zeros((0, X.shape[1]))
        counts += np.bincount(y, minlength=K)
        np.add.at(sums, y, X)
        r = np.linalg.qr(np.vstack([r, X]), mode="r")
    N = int(counts.sum())
    means = sums / np.maximum(counts, 1)[:, None]
    d = means.shape[1]
    within = np.zeros((d, d))
    class_var = np.zeros(K)
    mean_sq = np.sum(means**2, axis=1)
    Wt = None if W is None else np.asarray(W, np.float64).T
    bb = 0.0 if b is None else np.asarray(b, np.float64)
    hits_label, hits_w = 0, (None if W is None else 0)
    for X, y in chunks():
        X = np.asarray(X, np.float64)
        E = X - means[y]
        within += E.T @ E
        np.add.at(class_var, y, np.sum(E**2, axis=1))
        near = _nearest_mean(X, means, mean_sq)
        hits_label += int(np.sum(near == y))
        if Wt is not None:
            hits_w += int(np.sum(near == np.argmax(X @ Wt + bb, axis=1)))
    return FeatureStats(counts, means, sums.sum(axis=0) / N, within / N, class_var / np.maximum(counts, 1), r, hits_label, hits_w)


def stats_of(F, counts, W=None, b=None) -> FeatureStats:
    """:func:`feature_stats` of dufm's own features F (d, N), columns ordered by class (``counts``), in one chunk."""
    F = np.asarray(F, np.float64)
    y = np.repeat(np.arange(len(counts)), counts)
    return feature_stats(lambda: [(F.T, y)], len(counts), W, b)


def _norm(x):
    n = np.linalg.norm(x)
    return x / n if n > 0 else x * np.nan


def nc_from_stats(st: FeatureStats, W=None, rank_tol: float = 1e-3, centred_duality: bool = True, last: bool = False) -> NCMetrics:
    """Every NC metric of one feature matrix from its :class:`FeatureStats` (formulas: module docstring).

    ``W`` (r, d) is the weight matrix reading the features (``nc3``); with
    ``last`` it is the classifier (r = K; also ``nc3_duality``, and ``nc4``
    is the agreement of the nearest class mean with the classifier instead
    of with the label).
    """
    K, N = len(st.counts), st.samples
    M = st.means.T  # d x K, the layout of the formulas
    Mbar = M - st.global_mean[:, None]
    trW = float(np.trace(st.within))
    trB = np.sum(Mbar**2) / K
    P, D, _ = np.linalg.svd(Mbar, full_matrices=False)
    keep = D > rank_tol * D[0] if D.size and D[0] > 0 else np.zeros_like(D, bool)
    if keep.any():
        Pk = P[:, keep]
        # Tr(Sigma_W Sigma_B^+) with Sigma_B^+ = Pk diag(K / D^2) Pk^T
        nc1 = float(np.sum(np.einsum("ij,ik,kj->j", Pk, st.within, Pk) * K / D[keep] ** 2) / K)
    else:
        nc1 = float("nan")
    G = Mbar.T @ Mbar
    norms = np.linalg.norm(Mbar, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = G / np.outer(norms, norms)
        off = ~np.eye(K, dtype=bool)
        diff2 = np.sum((M[:, :, None] - M[:, None, :]) ** 2, axis=0)
        iu = np.triu_indices(K, 1)
        cdnv = np.mean((st.class_var[:, None] + st.class_var[None, :])[iu] / (2.0 * diff2[iu]))
        equinorm = np.std(norms) / np.mean(norms)
    out = {
        "nc1": nc1,
        "nc1_trace": float(trW / trB) if trB > 0 else float("nan"),
        **_mean_metrics(M, Mbar, G, W, rank_tol, centred_duality, last),
        "cdnv": float(cdnv),
        "nc2_equinorm": float(equinorm),
        "nc2_equiangle": float(np.mean(np.abs(cos[off] + 1.0 / (K - 1)))),
        "nc4": (st.ncc_classifier if last and st.ncc_classifier is not None else st.ncc_label) / N,
    }
    return NCMetrics(**out)


def _mean_metrics(M, Mbar, G, W, rank_tol: float, centred_duality: bool, last: bool) -> dict:
    """NC2 (ETF and orthogonal-frame errors) and NC3 from the class means M (d, K), Mbar = M - mu_G and G = Mbar^T Mbar."""
    K = M.shape[1]
    out = {
        "nc2_etf": float(np.linalg.norm(_norm(G) - (np.eye(K) - 1.0 / K) / np.sqrt(K - 1))),
        "nc2_of": float(np.linalg.norm(_norm(M.T @ M) - np.eye(K) / np.sqrt(K))),
    }
    if W is not None:
        W = np.asarray(W, np.float64)
        Q, R, _ = np.linalg.svd(M, full_matrices=False)
        Q = Q[:, R > rank_tol * R[0]] if R.size and R[0] > 0 else Q[:, :0]
        resid = W - (W @ Q) @ Q.T
        wn = np.linalg.norm(W)
        out["nc3"] = float(np.linalg.norm(resid) / wn) if wn > 0 else float("nan")
        if last:
            ref = Mbar if centred_duality else M
            out["nc3_duality"] = float(np.linalg.norm(_norm(W.T) - _norm(ref)))
    return out


def _direct(F, counts, W, rank_tol: float, centred_duality: bool, last: bool) -> dict:
    """NC1, NC2 and NC3 of dufm's features F (d, N) computed from F itself, as dufm has since its first store.

    :func:`nc_from_stats` gives the same numbers to ~1e-15 relative; these keep a re-run's record equal, bit for
    bit, to the record stored before the streamed statistics existed (tests/test_store.py).
    """
    F = np.asarray(F, np.float64)
    K, N = len(counts), F.shape[1]
    y = np.repeat(np.arange(K), counts)
    M = class_means(F, counts)
    muG = F.mean(axis=1, keepdims=True)
    Mbar = M - muG
    E = F - M[:, y]
    trW = np.sum(E**2) / N
    trB = np.sum(Mbar**2) / K
    P, D, _ = np.linalg.svd(Mbar, full_matrices=False)
    keep = D > rank_tol * D[0] if D.size and D[0] > 0 else np.zeros_like(D, bool)
    if keep.any():
        proj = E.T @ P[:, keep]  # N x r
        nc1 = float(np.sum(np.sum(proj**2, axis=0) / N / (D[keep] ** 2 / K)) / K)
    else:
        nc1 = float("nan")
    return {
        "nc1": nc1,
        "nc1_trace": float(trW / trB) if trB > 0 else float("nan"),
        **_mean_metrics(M, Mbar, Mbar.T @ Mbar, W, rank_tol, centred_duality, last),
    }


def nc_metrics(F, counts, W=None, rank_tol: float = 1e-3, centred_duality: bool = True, last: bool = False, b=None) -> NCMetrics:
    """Every NC metric of dufm's features F (d, N), columns ordered by class; ``W`` is the weight matrix reading them,
    ``b`` the last-layer bias (``nc4`` only); see the module docstring and :func:`nc_from_stats`.

    The metrics dufm stored before CDNV, the NC2 shape metrics and NC4 were added come from F directly
    (:func:`_direct`), the added ones from the streamed statistics.
    """
    st = stats_of(F, counts, W if last else None, b if last else None)
    return replace(nc_from_stats(st, W, rank_tol, centred_duality, last), **_direct(F, counts, W, rank_tol, centred_duality, last))


def full_rank(problem: Problem) -> int:
    """r_full, the rank of the logits at DNC (module docstring): K for MSE without bias, K - 1 otherwise."""
    return problem.classes if (problem.loss == "mse" and problem.bias == "none") else problem.classes - 1


def solution_type(sZ, problem: Problem, th: Thresholds = Thresholds(), hidden_ranks=()) -> SolutionType | None:
    """``dnc`` | ``low-rank`` | ``trivial`` | ``other`` from the singular values of Z (module docstring); None for a
    problem without a finite optimum."""
    if not problem.finite_optimum:
        return None
    sZ = np.asarray(sZ)
    if sZ.size == 0 or sZ[0] <= th.trivial_tol * np.sqrt(problem.samples):
        return SolutionType.TRIVIAL
    full = full_rank(problem)
    r = numerical_rank(sZ, th.rank_tol, th.zero_tol)
    if r < full or any(h < full for h in hidden_ranks):
        return SolutionType.LOW_RANK
    if r == full and sZ[r - 1] / sZ[0] >= 1 - th.equal_tol:
        return SolutionType.DNC
    return SolutionType.OTHER


@float64
def analyse(params: Params, problem: Problem, th: Thresholds = Thresholds()) -> Analysis:
    """Spectra, ranks, NC metrics per layer and the solution type of a parameter point (see :class:`Analysis`)."""
    arch = replace(problem.architecture, bias="none", dtype="float64")
    host = Params(np.asarray(params.H, np.float64), tuple(np.asarray(w, np.float64) for w in params.W))
    Z, H = forward(host, arch)
    Z, H = np.asarray(Z), [np.asarray(h) for h in H]
    post = [np.asarray(h) for h in post_activation(H, arch)]
    relu = problem.activation == "relu"
    # the names and order the solver's spectra record uses too (History.sv)
    mats = named_matrices(Z, H, host.W, arch, "layers")
    sv = {k: singular_values(v) for k, v in mats.items()}
    ranks = {k: numerical_rank(s, th.rank_tol, th.zero_tol) for k, s in sv.items()}
    centred = not (problem.loss == "mse" and problem.bias == "none")
    counts = problem.counts
    L = problem.depth
    bias = None if params.b is None else np.asarray(params.b, np.float64)  # nc4: the classifier's prediction includes it
    nc = {}
    for l in range(1, L + 1):
        W = host.W[l - 1]
        if relu and l > 1:
            nc[f"H{l}"] = nc_metrics(H[l - 1], counts, None, th.rank_tol)
            nc[f"sigma_H{l}"] = nc_metrics(post[l - 1], counts, W, th.rank_tol, centred, last=l == L, b=bias)
        else:
            nc[f"H{l}"] = nc_metrics(H[l - 1], counts, W, th.rank_tol, centred, last=l == L, b=bias)
    nc["Z"] = nc_metrics(Z, counts, None, th.rank_tol)
    sZ = sv["Z"]
    if problem.loss == "mse" and problem.bias != "none":
        sZ = singular_values(Z - Z.mean(axis=1, keepdims=True))
    hidden = [ranks[f"H{l}"] for l in range(1, L + 1)]
    scale_free = None
    if problem.unregularised or not problem.finite_optimum:
        scale_free = normalised(Z, host, problem, bias)
    return Analysis(sv, ranks, nc, class_means(Z, counts), solution_type(sZ, problem, th, hidden), th, scale_free)
