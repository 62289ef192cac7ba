"""Neural-collapse metrics of a feature matrix, from statistics accumulated over its samples.

For a feature matrix F (d x N, columns ordered by class) with class means
M (d x K), global mean mu_G (mean over samples) and centred means
Mbar = M - mu_G 1^T:

* Sigma_W = (1/N) sum_i (f_i - m_{y_i})(f_i - m_{y_i})^T,
  Sigma_B = (1/K) Mbar Mbar^T;
* ``nc1``       = Tr(Sigma_W Sigma_B^+)/K (Papyan et al. 2020), the pseudo-inverse
  keeping the singular directions of Mbar above max(``rank_tol`` sigma_1, tau) (below);
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
* ``nc2_equiangle`` = mean over k != k' of |cos(mbar_k, mbar_k') + 1/(K-1)| (Papyan et al. 2020 Fig 4);
* ``nc3``       = ||W (I - P_M)||_F / ||W||_F for the weight matrix W that reads
  these features, P_M the projector onto the span of the *uncentred* class
  means M (its singular directions above max(``rank_tol`` sigma_1(M), tau)): 0
  when the rows of W lie in the span of the class means (Súkeník et al.'s DNC3
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

Undefined metrics are None. Whether a mean, or a matrix of means, is zero is
decided against a bound on its rounding error, not against its own size: the
class sums are accumulated sample by sample (recursive summation, which errs
by at most n u sum_i |x_ij| in coordinate j, u = eps/2; Higham 2002 Sec 4.2),
and per coordinate mean_i |x_ij| <= sqrt(mean_i x_ij^2), so each computed
class mean, the global mean, each centred mean mbar_k and each difference
mu_k - mu_k' is off by at most delta = (N + K) eps max_k rho_k, with
rho_k = sqrt(Var_k + ||mu_k||^2) the root-mean-square norm of class k's
samples; M and Mbar are then off by at most tau = sqrt(K) delta in the
spectral norm (:func:`mean_floor`). The bound scales with the features, as
the rounding does: classes that share one set of samples have means equal in
exact arithmetic but computed ~ 1e-16 x the features' size apart; a threshold
relative to sigma_1(Mbar), itself rounding, counts that as rank, and an
absolute one does too once the features are large. At this floor:

* Mbar vanishes (sigma_1(Mbar) <= tau; every class mean at the global mean):
  ``nc1`` (Sigma_B^+ would be 0 and read as perfect collapse), ``nc1_trace``,
  ``nc2_etf``, ``nc2_equinorm`` and the centred ``nc3_duality`` (each divides
  by a norm of Mbar) are None;
* a centred mean vanishes (||mbar_k|| <= tau): ``nc2_equiangle`` is None (its cosines);
* two class means coincide (||mu_k - mu_k'|| <= sqrt(2) tau, which a
  vanishing Mbar implies): ``cdnv`` (the pair's term divides by their
  distance) and ``nc4`` (rounding decides which of the two is nearest) are None;
* M vanishes (sigma_1(M) <= tau): ``nc2_of`` and the uncentred
  ``nc3_duality`` are None; ``nc3`` stays defined: the span of vanishing means
  is {0} and ``nc3`` = 1, no part of W lies in it;
* W = 0: ``nc3`` and ``nc3_duality`` are None.

Where Mbar (M) is rank-deficient without vanishing, ``nc1``'s pseudo-inverse
(``nc3``'s projector) keeps the directions whose singular values exceed
max(rank_tol sigma_1, tau), the numerical rank
(:func:`dufm.analysis.spectra.numerical_rank` with floor tau).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .spectra import numerical_rank


@dataclass(frozen=True)
class NCMetrics:
    """The neural-collapse metrics of one feature matrix (module docstring); None where a metric is undefined.

    ``nc3`` and ``nc3_duality`` are also None where no weight matrix reads the
    features, and ``cdnv``, ``nc2_equinorm``, ``nc2_equiangle`` and ``nc4``
    when read from a record that lacks them (records of format 1 may).
    """

    nc1: float | None = None
    nc1_trace: float | None = None
    nc2_etf: float | None = None
    nc2_of: float | None = None
    nc3: float | None = None
    nc3_duality: float | None = None
    cdnv: float | None = None
    nc2_equinorm: float | None = None
    nc2_equiangle: float | None = None
    nc4: float | None = None

    def to_dict(self) -> dict:
        """The metrics, a None one left out unless every record has it (``nc1``, ``nc1_trace``, ``nc2_etf``, ``nc2_of``):
        so that a stored record reads back to the same document, whichever metrics its format has."""
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("nc1", "nc1_trace", "nc2_etf", "nc2_of")}

    @classmethod
    def from_dict(cls, d: dict) -> "NCMetrics":
        """The metrics of :meth:`to_dict` (a stored null is None)."""
        return cls(**{k: None if v is None else float(v) for k, v in d.items()})


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


def nc1_trace(within_trace, centred_means):
    """NC1 as a trace quotient: Tr Sigma_W / Tr Sigma_B with Tr Sigma_B = ||Mbar||_F^2 / K, from Tr Sigma_W and the
    centred class means Mbar (d, K). numpy or JAX arrays (the solver records it on the device every ``log_every``
    steps); the one definition of ``nc1_trace``."""
    return within_trace / ((centred_means**2).sum() / centred_means.shape[-1])


def mean_floor(st: FeatureStats) -> float:
    """tau = sqrt(K) (N + K) eps max_k rho_k: a bound on the rounding error of the computed class means M and centred
    means Mbar in the spectral norm (module docstring), rho_k = sqrt(Var_k + ||mu_k||^2); 0 for features that are all 0."""
    K = len(st.counts)
    rho = np.sqrt(st.class_var + np.sum(st.means**2, axis=1))
    return float(np.sqrt(K) * (st.samples + K) * np.finfo(np.float64).eps * rho.max())


def nc_from_stats(st: FeatureStats, W=None, rank_tol: float = 1e-3, centred_duality: bool = True, last: bool = False) -> NCMetrics:
    """Every NC metric of one feature matrix from its :class:`FeatureStats` (formulas and undefined cases: module docstring).

    ``W`` (r, d) is the weight matrix reading the features (``nc3``); with
    ``last`` it is the classifier (r = K; also ``nc3_duality``, and ``nc4``
    is the agreement of the nearest class mean with the classifier instead
    of with the label).
    """
    K, N = len(st.counts), st.samples
    M = st.means.T  # d x K, the layout of the formulas
    Mbar = M - st.global_mean[:, None]
    tau = mean_floor(st)
    P, D, _ = np.linalg.svd(Mbar, full_matrices=False)
    r = numerical_rank(D, rank_tol, 0.0, tau)
    norms = np.linalg.norm(Mbar, axis=0)
    iu = np.triu_indices(K, 1)
    diff2 = np.sum((M[:, :, None] - M[:, None, :]) ** 2, axis=0)[iu]
    out: dict = {"nc1": None, "nc1_trace": None, "nc2_etf": None, "nc2_equinorm": None, "nc2_equiangle": None}
    if r > 0:
        Pk = P[:, :r]
        # Tr(Sigma_W Sigma_B^+) with Sigma_B^+ = Pk diag(K / D^2) Pk^T
        out["nc1"] = float(np.sum(np.einsum("ij,ik,kj->j", Pk, st.within, Pk) * K / D[:r] ** 2) / K)
        out["nc1_trace"] = float(nc1_trace(np.trace(st.within), Mbar))
        G = Mbar.T @ Mbar
        out["nc2_etf"] = float(np.linalg.norm(G / np.linalg.norm(G) - (np.eye(K) - 1.0 / K) / np.sqrt(K - 1)))
        out["nc2_equinorm"] = float(np.std(norms) / np.mean(norms))
        if np.all(norms > tau):
            cos = G / np.outer(norms, norms)
            out["nc2_equiangle"] = float(np.mean(np.abs(cos[~np.eye(K, dtype=bool)] + 1.0 / (K - 1))))
    distinct = bool(np.all(diff2 > 2.0 * tau**2))
    out["cdnv"] = float(np.mean((st.class_var[:, None] + st.class_var[None, :])[iu] / (2.0 * diff2))) if distinct else None
    hits = st.ncc_classifier if last and st.ncc_classifier is not None else st.ncc_label
    out["nc4"] = hits / N if distinct else None
    return NCMetrics(**out, **_uncentred_metrics(M, Mbar, r > 0, tau, W, rank_tol, centred_duality, last))


def _uncentred_metrics(M, Mbar, centred_defined: bool, tau: float, W, rank_tol: float, centred_duality: bool, last: bool) -> dict:
    """``nc2_of``, ``nc3`` and ``nc3_duality`` from the class means M (d, K) and Mbar = M - mu_G (``centred_defined``: Mbar
    does not vanish; ``tau``: :func:`mean_floor`)."""
    K = M.shape[1]
    Q, R, _ = np.linalg.svd(M, full_matrices=False)
    r = numerical_rank(R, rank_tol, 0.0, tau)
    out: dict = {"nc2_of": None}
    if r > 0:
        G0 = M.T @ M
        out["nc2_of"] = float(np.linalg.norm(G0 / np.linalg.norm(G0) - np.eye(K) / np.sqrt(K)))
    if W is not None:
        W = np.asarray(W, np.float64)
        wn = np.linalg.norm(W)
        Q = Q[:, :r]
        out["nc3"] = float(np.linalg.norm(W - (W @ Q) @ Q.T) / wn) if wn > 0 else None
        if last:
            ref, defined = (Mbar, centred_defined) if centred_duality else (M, r > 0)
            out["nc3_duality"] = float(np.linalg.norm(W.T / wn - ref / np.linalg.norm(ref))) if defined and wn > 0 else None
    return out


def nc_metrics(F, counts, W=None, rank_tol: float = 1e-3, centred_duality: bool = True, last: bool = False, b=None) -> NCMetrics:
    """Every NC metric of dufm's features F (d, N), columns ordered by class; ``W`` is the weight matrix reading them,
    ``b`` the last-layer bias (``nc4`` only): :func:`nc_from_stats` of :func:`stats_of`, as for a network's features."""
    return nc_from_stats(stats_of(F, counts, W if last else None, b if last else None), W, rank_tol, centred_duality, last)
