"""The NC metrics, spectra and solution types of a trained network's features (:func:`analyse_features`).

:func:`analyse_features` streams every layer in chunks of rows straight out
of the zip member (compressed or not), in two passes per layer and
checkpoint (:func:`dufm.analysis.collapse.feature_stats`): float64 accumulation, memory
O(d^2 + K d + chunk d), never an N x N matrix. Per layer it reports every
metric of :mod:`dufm.analysis` (``nc1``, ``nc1_trace``, ``cdnv``,
``nc2_etf``, ``nc2_of``, ``nc2_equinorm``, ``nc2_equiangle``, ``nc3``,
``nc3_duality``, ``nc4``), the singular values and numerical rank of the
features X (N x d_l) and of the centred class means Mbar (K x d_l), and a
solution type from the class means. The rank of Mbar counts only singular
values above the bound tau on its rounding error
(:func:`dufm.analysis.collapse.mean_floor`): classes whose means coincide get
rank 0 however large their features, which no threshold relative to Mbar's
own rounding-sized singular values, or absolute in value, would give.

Solution type of a layer, from the singular values s of its centred class
means (the geometry the deep-UFM papers classify; a real network's
within-class noise makes every sample matrix full rank): ``trivial`` if
s_1 / sqrt(K) <= trivial_tol or s_1 <= tau (the class means coincide); ``low-rank`` if
rank < K - 1; ``dnc`` if rank = K - 1 and s_{K-1} / s_1 >= 1 - equal_tol;
``other`` otherwise. The network's type is that of its last layer, made
``low-rank`` when any layer's class-mean rank is below K - 1: dufm's rule for
its own points (:func:`dufm.analysis.solution.solution_type`) read off class means,
with r_full = K - 1 (a real network's biases absorb the global mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.collapse import FeatureStats, NCMetrics, feature_stats, mean_floor, nc_from_stats
from ..analysis.solution import SolutionType, Thresholds
from ..analysis.spectra import numerical_rank, singular_values
from .file import FeatureFile, read

METRICS = ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "nc2_equinorm", "nc2_equiangle", "nc3", "nc3_duality", "nc4")
CHUNK = 8192  # rows per chunk (default)


@dataclass(frozen=True, eq=False)
class LayerAnalysis:
    """One layer at one checkpoint: its NC metrics, spectra and solution type (module docstring).

    ``singular_values`` of the features X (N x d): min(N, d) values;
    ``class_mean_singular_values`` of the centred class means Mbar (K x d).
    ``classifier``: whether a classifier W was given (``nc3``, ``nc3_duality``
    are then set, and ``nc4`` compares with its prediction instead of the label).
    """

    width: int
    nc: NCMetrics
    singular_values: np.ndarray
    rank: int
    class_mean_singular_values: np.ndarray
    class_mean_rank: int
    solution_type: SolutionType
    classifier: bool

    def to_dict(self) -> dict:
        m = self.nc
        return {"width": self.width, **{k: getattr(m, k) for k in METRICS}, "nc4_reference": "classifier" if self.classifier else "labels",
                "singular_values": self.singular_values, "rank": self.rank, "class_mean_singular_values": self.class_mean_singular_values,
                "class_mean_rank": self.class_mean_rank, "solution_type": self.solution_type}

    @classmethod
    def from_dict(cls, d: dict) -> "LayerAnalysis":
        nc = NCMetrics(**{k: None if d[k] is None else float(d[k]) for k in METRICS})
        return cls(int(d["width"]), nc, np.asarray(d["singular_values"], np.float64), int(d["rank"]),
                   np.asarray(d["class_mean_singular_values"], np.float64), int(d["class_mean_rank"]), SolutionType(d["solution_type"]),
                   d["nc4_reference"] == "classifier")


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """Every layer of one checkpoint (``step``: its value, an int unless fractional; None without a checkpoint axis) and the
    network's solution type."""

    step: int | float | None
    layers: dict[str, LayerAnalysis]
    solution_type: SolutionType

    def to_dict(self) -> dict:
        d = {} if self.step is None else {"checkpoint": self.step}
        return {**d, "solution_type": self.solution_type, "layers": {k: v.to_dict() for k, v in self.layers.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Checkpoint":
        return cls(d.get("checkpoint"), {k: LayerAnalysis.from_dict(v) for k, v in d["layers"].items()}, SolutionType(d["solution_type"]))


@dataclass(frozen=True, eq=False)
class FeatureAnalysis:
    """The analysis of a feature file: one :class:`Checkpoint` per checkpoint (one without a checkpoint axis).

    ``to_dict`` (what ``dufm analyse --json`` prints): without a checkpoint
    axis ``{"source", "classes", "samples", "counts", "thresholds",
    "solution_type", "layers": {NAME: {...}}}``; with one, ``"layers"`` and
    ``"solution_type"`` move into ``"checkpoints": [{"checkpoint": step,
    "solution_type", "layers"}, ...]``.
    """

    source: str
    classes: int
    counts: tuple[int, ...]
    thresholds: Thresholds
    checkpoints: tuple[Checkpoint, ...]
    over_training: bool

    @property
    def samples(self) -> int:
        return int(sum(self.counts))

    @property
    def layers(self) -> dict[str, LayerAnalysis]:
        """The layers of the last checkpoint (the only one without a checkpoint axis)."""
        return self.checkpoints[-1].layers

    @property
    def solution_type(self) -> SolutionType:
        return self.checkpoints[-1].solution_type

    def to_dict(self) -> dict:
        head = {"source": self.source, "classes": self.classes, "samples": self.samples, "counts": list(self.counts),
                "thresholds": self.thresholds.to_dict()}
        if self.over_training:
            return {**head, "checkpoints": [c.to_dict() for c in self.checkpoints]}
        return {**head, **self.checkpoints[0].to_dict()}

    @classmethod
    def from_dict(cls, d: dict, source: str = "record") -> "FeatureAnalysis":
        """The analysis of :meth:`to_dict`; a malformed one is a ValueError naming ``source``."""
        try:
            over = "checkpoints" in d
            cps = [Checkpoint.from_dict(c) for c in d["checkpoints"]] if over else [Checkpoint.from_dict(d)]
            return cls(d["source"], int(d["classes"]), tuple(int(c) for c in d["counts"]), Thresholds(**d["thresholds"]), tuple(cps), over)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{source} is not a dufm feature analysis (damaged or of another version): {type(e).__name__}: {e}") from None


def layer_type(s, classes: int, th: Thresholds, floor: float = 0.0) -> SolutionType:
    """``trivial`` | ``low-rank`` | ``dnc`` | ``other`` from the singular values ``s`` of centred class means and the bound
    ``floor`` on their rounding error (module docstring)."""
    s = np.asarray(s)
    if s.size == 0 or s[0] / np.sqrt(classes) <= th.trivial_tol or s[0] <= floor:
        return SolutionType.TRIVIAL
    r = numerical_rank(s, th.rank_tol, th.zero_tol, floor)
    if r < classes - 1:
        return SolutionType.LOW_RANK
    if r == classes - 1 and s[r - 1] / s[0] >= 1 - th.equal_tol:
        return SolutionType.DNC
    return SolutionType.OTHER


def network_type(layers: dict[str, LayerAnalysis], classes: int) -> SolutionType:
    """The last layer's type, ``low-rank`` when some layer's class means have rank < K - 1 (module docstring)."""
    last = list(layers.values())[-1].solution_type
    if last != SolutionType.TRIVIAL and any(a.class_mean_rank < classes - 1 for a in layers.values()):
        return SolutionType.LOW_RANK
    return last


def _chunks(f: FeatureFile, name: str, e: int | None, chunk: int):
    arr, labels = f.layers[name], f.labels

    def chunks():
        for s, X in arr.blocks(e, chunk):
            X = np.asarray(X, np.float64)
            if not np.all(np.isfinite(X)):
                row = s + int(np.flatnonzero(~np.all(np.isfinite(X), axis=1))[0])
                at = "" if e is None else f" at checkpoint {e}"
                raise ValueError(f"{f.source}: layer {name!r} has non-finite features (NaN or inf){at}, first in sample {row}")
            yield X, labels[s:s + len(X)]

    return chunks


def analyse_layer(f: FeatureFile, name: str, e: int | None = None, th: Thresholds = Thresholds(), chunk: int = CHUNK) -> LayerAnalysis:
    """One layer of a :class:`FeatureFile` at checkpoint ``e`` (None without a checkpoint axis), streamed in ``chunk`` rows."""
    W = f.weights.get(name)
    b = f.biases.get(name)
    if e is not None:
        W = None if W is None else W[e]
        b = None if b is None else b[e]
    st: FeatureStats = feature_stats(_chunks(f, name, e, chunk), f.classes, W, b)
    nc = nc_from_stats(st, W, th.rank_tol, centred_duality=True, last=W is not None)
    sv = singular_values(st.r)
    msv = singular_values(st.means - st.global_mean)
    tau = mean_floor(st)
    return LayerAnalysis(f.width(name), nc, sv, numerical_rank(sv, th.rank_tol, th.zero_tol), msv,
                         numerical_rank(msv, th.rank_tol, th.zero_tol, tau), layer_type(msv, f.classes, th, tau), W is not None)


def analyse_features(source, thresholds: Thresholds = Thresholds(), chunk: int = CHUNK) -> FeatureAnalysis:
    """NC metrics, spectra and solution types of every layer (and checkpoint) of a feature file (module docstring).

    ``source``: a path to an ``.npz`` or a mapping name -> array (the same
    names); ``chunk``: rows per chunk (memory O(chunk d)). Bad input is a
    ValueError naming the file and the array.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    f = read(source)
    cps = []
    for e in ([None] if f.epochs is None else range(f.epochs)):
        layers = {name: analyse_layer(f, name, e, thresholds, int(chunk)) for name in f.layers}
        step = None if e is None else f.checkpoints[e].item()
        cps.append(Checkpoint(step, layers, network_type(layers, f.classes)))
    return FeatureAnalysis(f.source, f.classes, tuple(int(c) for c in f.counts), thresholds, tuple(cps), f.epochs is not None)


