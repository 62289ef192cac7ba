"""Spectra of the model's matrices: singular values, numerical ranks, their events over training, and the
scale-free quantities of the logits.

Numerical rank: the number of singular values above ``rank_tol`` times the
largest (default 1e-3), and 0 when the largest is below ``zero_tol`` (1e-12); where a bound on the
rounding error of the matrix is known (class means: :func:`dufm.analysis.collapse.mean_floor`), singular
values at or below it do not count either.

Scale-free quantities (:class:`ScaleFree`) describe a point by its direction, not its scale: for a problem
without a finite optimum (CE with a factor's decay 0 drives ||Z|| to infinity) and for the unregularised
MSE problem (whose minimisers have Z = Y at any scale of the factors); Garrod, Keating & Thrampoulidis 2026
study GD's direction, Z/||Z||_F:

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
  with label sets, min_i (min_{k in S_i} z_{k,i} - max_{j not in S_i} z_{j,i}) (:func:`label_set_margins`);
* ``parameter_margin`` the same minimum over ||theta||^(L+1), theta = (H_1,
  W_1, ..., W_L): the normalised margin of Lyu & Li (2020) of this
  (L+1)-homogeneous model, the quantity gradient flow on CE increases once
  every sample is classified; None with a bias (the model is then not homogeneous);
* ``frobenius_norm`` ||Z_c||_F itself (it grows without bound under CE).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from ..model.problem import SOFTMAX_LOSSES, Params, Problem
from ..options import check_fraction


@dataclass(frozen=True, eq=False)
class ScaleFree:
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
    def from_dict(cls, d: dict) -> "ScaleFree":
        pm = d.get("parameter_margin")
        return cls(np.asarray(d["singular_values"], np.float64), float(d["effective_rank"]), float(d["stable_rank"]),
                   float(d["margin"]), None if pm is None else float(pm), float(d["frobenius_norm"]))


def singular_values(x) -> np.ndarray:
    """Singular values of a matrix, descending, float64."""
    return np.linalg.svd(np.asarray(x, np.float64), compute_uv=False)


def numerical_rank(s, rank_tol: float = 1e-3, zero_tol: float = 1e-12, floor: float = 0.0) -> int:
    """Number of singular values s_i > max(rank_tol * s_1, floor) (0 if s_1 <= max(zero_tol, floor)).

    ``floor`` is a bound on the rounding error of the matrix's entries in the spectral norm: a singular value at or
    below it is not told apart from zero by the arithmetic that computed the matrix (however large the matrix's
    scale, which ``zero_tol`` is not relative to).
    """
    s = np.asarray(s)
    if s.size == 0 or s[0] <= max(zero_tol, floor):
        return 0
    return int(np.sum(s > max(rank_tol * s[0], floor)))


class SpectralEvents(NamedTuple):
    """Where each singular value of a recorded trajectory switches on or dies (:func:`spectral_events`): row indices, -1 for none.

    ``on`` (r,): the first row of the final stretch in which sigma_i counts for
    the numerical rank, if it did not count at some earlier row; ``off`` (r,):
    the first row of the final stretch in which it does not count, if it did
    at some earlier row. At most one of the two is set for each i.
    """

    on: np.ndarray
    off: np.ndarray


def rank_mask(sv, rank_tol: float = 1e-3, zero_tol: float = 1e-12) -> np.ndarray:
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
    counts = rank_mask(sv, rank_tol, zero_tol)
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


def label_set_margins(logits, Y) -> np.ndarray:
    """min_{k in S_i} z_{k,i} - max_{j not in S_i} z_{j,i} for every sample i whose set S_i is not every class (that
    sample has no other class): ``logits`` (K, N), ``Y`` (K, N) the label indicators. With one label per sample it is
    :func:`margins`."""
    Z, inside = np.asarray(logits, np.float64), np.asarray(Y) > 0
    keep = ~np.all(inside, axis=0)
    return (np.where(inside, Z, np.inf).min(axis=0) - np.where(inside, -np.inf, Z).max(axis=0))[keep]


def scale_free_logits(Z, problem: Problem) -> np.ndarray:
    """The part of the logits Z (K, N; without bias) the data term sees, whose scale-free quantities are reported.

    CE, LS, focal and pick-all-label (losses of softmax(z)): Z_c = (I - 11^T/K) Z, centred over classes: the loss and every margin are
    unchanged by adding a constant to a column's logits, and GD never moves that component (the gradient in Z has
    columns summing to 0, so 1^T W_L keeps its initial value), so at lambda = 0 it is an imprint of the
    initialisation, not of training. MSE and BCE: Z, centred over samples with a bias (which absorbs the constant
    part), as the solution type reads it.
    """
    Z = np.asarray(Z, np.float64)
    if problem.loss in SOFTMAX_LOSSES:
        return Z - Z.mean(axis=0, keepdims=True)
    return Z - Z.mean(axis=1, keepdims=True) if problem.bias != "none" else Z


def scale_free_quantities(Z, params: Params, problem: Problem, bias=None) -> ScaleFree:
    """The :class:`Normalised` quantities of logits ``Z`` (K, N; without bias): the spectrum of
    :func:`scale_free_logits`, the margins of Z + b 1^T (``bias``) over its Frobenius norm and over ||theta||^(L+1)
    (``params`` the factors)."""
    X = scale_free_logits(Z, problem)
    s = singular_values(X)
    fro = float(np.sqrt(np.sum(s**2)))
    logits = np.asarray(Z, np.float64) + (0.0 if bias is None else np.asarray(bias, np.float64)[:, None])
    if problem.multi_label:  # a sample's margin: its lowest label against the highest other class
        from ..model.objective import labels

        gamma = float(np.min(label_set_margins(logits, labels(problem.architecture))))
    else:
        gamma = float(np.min(margins(logits, problem.counts)))
    pmargin = None
    if bias is None:
        theta2 = float(np.sum(np.asarray(params.H, np.float64) ** 2) + sum(np.sum(np.asarray(w, np.float64) ** 2) for w in params.W))
        pmargin = gamma / theta2 ** ((len(params.W) + 1) / 2) if theta2 > 0 else float("nan")
    if fro == 0:
        return ScaleFree(np.full(len(s), np.nan), 0.0, 0.0, float("nan"), pmargin, 0.0)
    return ScaleFree(s / fro, effective_rank(s), stable_rank(s), gamma / fro, pmargin, fro)
