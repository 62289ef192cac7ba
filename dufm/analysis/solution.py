"""The analysis of a point: spectra, ranks and NC metrics of every layer, and its solution type (:func:`analyse`).

Solution type, from the spectra of the logits without bias, Z = W_L sigma(H_L)
(centred over samples for MSE or BCE with a bias, whose constant part the bias
absorbs), and of the pre-activations H_1 ... H_L, with r_full = K for MSE
(and BCE) without bias and K - 1 otherwise:

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
factors) is described by its scale-free quantities instead
(:class:`~dufm.analysis.spectra.ScaleFree`, the direction Z/||Z||_F).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..model.objective import forward, named_matrices, post_activation
from ..model.problem import SOFTMAX_LOSSES, Params, Problem
from ..options import check_fraction, option
from ..runtime import float64
from .collapse import NCMetrics, class_means, nc_metrics
from .multilabel import MultiLabelMetrics, multilabel_metrics
from .spectra import ScaleFree, numerical_rank, scale_free_quantities, singular_values


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

    With label sets (``labels_per_sample`` >= 2) ``nc`` and
    ``class_mean_logits`` are those of the single-label samples (Li et al.
    2023's NC1 and ETF), and ``multilabel`` holds, per feature matrix, the
    :class:`~dufm.analysis.multilabel.MultiLabelMetrics` of each multiplicity
    m >= 2 (None for one label per sample).
    """

    singular_values: dict[str, np.ndarray]
    rank: dict[str, int]
    nc: dict[str, NCMetrics]
    class_mean_logits: np.ndarray
    solution_type: SolutionType | None
    thresholds: Thresholds
    scale_free: ScaleFree | None = None
    multilabel: dict[str, tuple[MultiLabelMetrics, ...]] | None = None

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
        if self.scale_free is not None:  # a regularised run has none, and its record no such key
            d["normalised"] = self.scale_free.to_dict()
        if self.multilabel is not None:  # a single-label run has none, and its record no such key
            d["multilabel"] = {k: [m.to_dict() for m in v] for k, v in self.multilabel.items()}
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
            scale_free=ScaleFree.from_dict(d["normalised"]) if d.get("normalised") is not None else None,
            multilabel=({k: tuple(MultiLabelMetrics.from_dict(m) for m in v) for k, v in d["multilabel"].items()}
                        if d.get("multilabel") is not None else None),
        )


def dnc_rank(problem: Problem) -> int:
    """r_full, the rank of the logits at DNC (module docstring): K for a loss that reads the logits' constant part
    (MSE, BCE: not a loss of softmax(z)) without bias, K - 1 otherwise."""
    return problem.classes if (problem.loss not in SOFTMAX_LOSSES and problem.bias == "none") else problem.classes - 1


def solution_type(sZ, problem: Problem, th: Thresholds = Thresholds(), hidden_ranks=()) -> SolutionType | None:
    """``dnc`` | ``low-rank`` | ``trivial`` | ``other`` from the singular values of Z (module docstring); None for a
    problem without a finite optimum."""
    if not problem.finite_optimum:
        return None
    sZ = np.asarray(sZ)
    if sZ.size == 0 or sZ[0] <= th.trivial_tol * np.sqrt(problem.samples):
        return SolutionType.TRIVIAL
    full = dnc_rank(problem)
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
    centred = not (problem.loss not in SOFTMAX_LOSSES and problem.bias == "none")
    counts = problem.counts
    L = problem.depth
    bias = None if params.b is None else np.asarray(params.b, np.float64)  # nc4: the classifier's prediction includes it
    Ns = problem.architecture.single_label_samples  # NC metrics of the samples with one label: all of them for M = 1
    nc, features = {}, {}
    for l in range(1, L + 1):
        W = host.W[l - 1]
        if relu and l > 1:
            nc[f"H{l}"] = nc_metrics(H[l - 1][:, :Ns], counts, None, th.rank_tol)
            nc[f"sigma_H{l}"] = nc_metrics(post[l - 1][:, :Ns], counts, W, th.rank_tol, centred, last=l == L, b=bias)
            features.update({f"H{l}": H[l - 1], f"sigma_H{l}": post[l - 1]})
        else:
            nc[f"H{l}"] = nc_metrics(H[l - 1][:, :Ns], counts, W, th.rank_tol, centred, last=l == L, b=bias)
            features[f"H{l}"] = H[l - 1]
    nc["Z"] = nc_metrics(Z[:, :Ns], counts, None, th.rank_tol)
    features["Z"] = Z
    multilabel = None
    if problem.multi_label:
        multilabel = {k: multilabel_metrics(F, problem.classes, problem.labels_per_sample, counts[0]) for k, F in features.items()}
    sZ = sv["Z"]
    if problem.loss not in SOFTMAX_LOSSES and problem.bias != "none":
        sZ = singular_values(Z - Z.mean(axis=1, keepdims=True))
    hidden = [ranks[f"H{l}"] for l in range(1, L + 1)]
    scale_free = None
    if problem.unregularised or not problem.finite_optimum:
        scale_free = scale_free_quantities(Z, host, problem, bias)
    return Analysis(sv, ranks, nc, class_means(Z[:, :Ns], counts), solution_type(sZ, problem, th, hidden), th, scale_free,
                    multilabel)
