"""Neural-collapse metrics of multi-label features (Li et al. 2023, "Neural collapse in multi-label learning with
pick-all-label loss", arXiv 2310.15903).

Li et al.'s multi-label collapse (M-lab NC) of features whose samples carry label sets S, |S| = m its multiplicity:
the features of each label set collapse to their mean h_S; the single-label means h_k = h_{{k}} form a simplex ETF; and
the mean of a set of multiplicity m >= 2 is a scaled average of its labels' single-label means, h_S = c_m (1/m)
sum_{k in S} h_k, with one scale c_m per multiplicity (their "tag-wise average" property). The within-class
variability and the ETF of the single-label samples are dufm's NC metrics of those samples
(:func:`dufm.analysis.collapse.nc_metrics`). This module measures the rest, per multiplicity m >= 2, relative to the
spread of the single-label means, Tr Sigma_B = (1/K) sum_k ||h_k - g||^2, g = (1/K) sum_k h_k (the ``nc1_trace``
denominator of the single-label samples):

* ``scale`` c_m = sum_S <x_S, a_S> / sum_S ||a_S||^2, the least-squares scale, with x_S = h_S - g and
  a_S = (1/m) sum_{k in S} (h_k - g) (sums over the C(K, m) sets of multiplicity m);
* ``tag_average`` = min_c mean_S ||x_S - c a_S||^2 / Tr Sigma_B, attained at c = c_m: 0 exactly when every mean of
  multiplicity m is the same multiple of its labels' average;
* ``within`` = Tr Sigma_W^(m) / Tr Sigma_B, Sigma_W^(m) = (1/N_m) sum_{|S_i| = m} (h_i - h_{S_i})(h_i - h_{S_i})^T over
  the N_m samples of multiplicity m: their variability about their set's mean (the ``nc1_trace`` of those samples
  against the single-label spread).

The means are centred at g, so the metrics do not change when a constant is added to every feature (as ``nc2_etf``);
at the pick-all-label optimum g = 0 and they are Li et al.'s uncentred relation. Centring makes a_S = 0 for the full
set S = {0, ..., K-1} (m = K): its relation says h_S = g, for any c; there ``scale`` is None and ``tag_average`` is
||h_S - g||^2 / Tr Sigma_B. The quotient by Tr Sigma_B (rather than by sum_S ||x_S||^2) keeps that case and a
collapse of the multi-label means onto g defined.

Undefined values are None: every metric when the single-label means coincide (Tr Sigma_B at the rounding bound of
the means, :func:`dufm.analysis.collapse.mean_floor`: the trivial point), ``scale`` when the averages a_S vanish to
within that bound.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..model.problem import label_sets
from .collapse import mean_floor, stats_of


class MultiLabelMetrics(NamedTuple):
    """The multi-label collapse metrics of one multiplicity ``m`` >= 2 of one feature matrix (module docstring)."""

    m: int
    scale: float | None
    tag_average: float | None
    within: float | None

    def to_dict(self) -> dict:
        return self._asdict()

    @classmethod
    def from_dict(cls, d: dict) -> "MultiLabelMetrics":
        return cls(int(d["m"]), *(None if d[k] is None else float(d[k]) for k in ("scale", "tag_average", "within")))


def set_means(F, classes: int, labels_per_sample: int, per_set: int) -> tuple[tuple[tuple[int, ...], ...], np.ndarray]:
    """(the label sets, their means (d, G)) of features F (d, N) whose columns are ``per_set`` samples of each set, the
    sets in the order of :func:`dufm.model.problem.label_sets`."""
    F = np.asarray(F, np.float64)
    sets = label_sets(classes, labels_per_sample)
    if F.shape[1] != per_set * len(sets):
        raise ValueError(f"features must have {per_set} x {len(sets)} columns (n per label set), got {F.shape[1]}")
    return sets, F.reshape(F.shape[0], len(sets), per_set).mean(axis=2)


def multilabel_metrics(F, classes: int, labels_per_sample: int, per_set: int) -> tuple[MultiLabelMetrics, ...]:
    """One :class:`MultiLabelMetrics` per multiplicity m = 2 .. M of features F (d, N) (module docstring).

    The columns of F are ``per_set`` samples of each label set, the sets in the order of
    :func:`dufm.model.problem.label_sets` (the K single-label blocks first), as in a multi-label
    :class:`~dufm.Problem`'s features.
    """
    F = np.asarray(F, np.float64)
    K = classes
    sets, means = set_means(F, K, labels_per_sample, per_set)
    single = means[:, :K]
    g = single.mean(axis=1)
    spread = float(np.sum((single - g[:, None]) ** 2)) / K  # Tr Sigma_B of the single-label means
    # the rounding bound of the single-label means (and so of g, the centred means and their averages)
    tau = mean_floor(stats_of(F[:, : K * per_set], (per_set,) * K))
    defined = np.sqrt(K * spread) > tau
    size = np.array([len(s) for s in sets])
    out = []
    for m in range(2, labels_per_sample + 1):
        idx = np.flatnonzero(size == m)
        if not defined:
            out.append(MultiLabelMetrics(m, None, None, None))
            continue
        x = means[:, idx] - g[:, None]
        a = np.stack([single[:, list(sets[j])].mean(axis=1) - g for j in idx], axis=1)
        aa = float(np.sum(a * a))
        scale = float(np.sum(x * a)) / aa if np.sqrt(aa) > np.sqrt(len(idx)) * tau else None
        residual = x - (0.0 if scale is None else scale) * a
        cols = (idx[:, None] * per_set + np.arange(per_set)[None, :]).ravel()
        within = np.sum((F[:, cols] - np.repeat(means[:, idx], per_set, axis=1)) ** 2) / len(cols)
        out.append(MultiLabelMetrics(m, scale, float(np.sum(residual**2)) / len(idx) / spread, float(within) / spread))
    return tuple(out)
