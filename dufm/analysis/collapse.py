"""Neural-collapse metrics of a feature matrix, from statistics accumulated over its samples.

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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class NCMetrics:
    """The neural-collapse metrics of one feature matrix (module docstring); ``nc3``, ``nc3_duality`` None where not defined.

    ``cdnv``, ``nc2_equinorm``, ``nc2_equiangle`` and ``nc4`` are None when
    read from a record that lacks them (records of format 1 may).
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
        "nc1_trace": float(nc1_trace(np.trace(st.within), Mbar)) if trB > 0 else float("nan"),
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


def nc_metrics(F, counts, W=None, rank_tol: float = 1e-3, centred_duality: bool = True, last: bool = False, b=None) -> NCMetrics:
    """Every NC metric of dufm's features F (d, N), columns ordered by class; ``W`` is the weight matrix reading them,
    ``b`` the last-layer bias (``nc4`` only): :func:`nc_from_stats` of :func:`stats_of`, as for a network's features."""
    return nc_from_stats(stats_of(F, counts, W if last else None, b if last else None), W, rank_tol, centred_duality, last)
