"""Figures of a trained network's feature analyses (``dufm analyse --out DIR``; ``dufm plot DIR``).

A metric an analysis does not have (None: e.g. ``nc3`` of a layer no classifier reads) or could not compute (NaN) is
left out of the drawing, never drawn as a number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

FEATURE_FIGURES = ("features_metrics_vs_layer", "features_spectra", "features_metrics_vs_checkpoint")


_FEATURE_METRICS = ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_equinorm", "nc2_equiangle", "nc3", "nc3_duality")

# NC4 is measured against the classifier's prediction at the layer a classifier reads, against the label elsewhere
# (dufm.analysis.collapse): two quantities, drawn as two series
_NC4 = {False: ("k", "NC4 vs the label (nearest-class-mean accuracy)"), True: ("tab:orange", "NC4 vs the classifier's prediction")}

_ABOVE_DATA = 3  # zorder of reference lines: data lines are at 2, and a reference the data sit on must stay visible


def _value(v) -> float:
    """A metric as a float; NaN (which matplotlib leaves out) where it is missing (None) or not finite."""
    return np.nan if v is None or not np.isfinite(v) else float(v)


def _positive(v):
    v = _value(v)
    return v if v > 0 else np.nan


def _source(a) -> str:
    return Path(a.source).name


def _rank_axis(ax, classes: int, label: str):
    """An axis of class-mean ranks: integer ticks from 0 to K − 1 (the largest such a rank can be), with K − 1 drawn
    above the data and labelled."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(-0.4, classes - 0.6)
    ax.axhline(classes - 1, color="tab:red", ls=":", lw=1.2, zorder=_ABOVE_DATA, label=f"K − 1 = {classes - 1}")
    ax.set_ylabel(label)


def features_metrics_vs_layer(analyses) -> Figure:
    """NC metrics (log axis), class-mean rank and NC4 of every layer at the last checkpoint of each analysis.

    Layers are matched by name (the union in file order), colours are metrics, line styles analyses;
    values below 1e-16 (collapsed to rounding, or exactly 0) are drawn at 1e-16. NC4 is two series: agreement of the
    nearest class mean with the label, and at a layer a classifier reads with the classifier's prediction.
    """
    fig = Figure(figsize=(11.0, 4.0))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    styles = ("o-", "s--", "^:", "d-.")
    names: list[str] = []
    for a in analyses:
        names += [n for n in a.layers if n not in names]
    pos = {n: i for i, n in enumerate(names)}
    floor = 1e-16
    drawn_metrics, references = set(), set()
    for j, a in enumerate(analyses):
        x = [pos[n] for n in a.layers]
        st = styles[j % 4]
        for i, m in enumerate(_FEATURE_METRICS):
            vals = np.array([_value(getattr(la.nc, m)) for la in a.layers.values()])
            if np.isfinite(vals).any():
                ax1.semilogy(x, np.maximum(vals, floor), st, color=f"C{i}", ms=4)
                drawn_metrics.add(m)
        ax2.plot(x, [la.class_mean_rank for la in a.layers.values()], st, color="k", ms=5)
        for ref, (color, _) in _NC4.items():
            # NaN at the other reference's layers: a line joins neighbouring layers of one reference only
            vals = [_value(la.nc.nc4) if la.classifier == ref else np.nan for la in a.layers.values()]
            if np.isfinite(vals).any():
                ax3.plot(x, vals, st, color=color, ms=5)
                references.add(ref)
    for i, m in enumerate(_FEATURE_METRICS):
        if m in drawn_metrics:
            ax1.plot([], [], "-", color=f"C{i}", label=m)
    for ref, (color, label) in _NC4.items():
        if ref in references:
            ax3.plot([], [], "-", color=color, label=label)
    for j, a in enumerate(analyses):
        for ax in (ax1, ax2, ax3):
            ax.plot([], [], styles[j % 4], color="gray", label=f"{_source(a)} ({a.solution_type})")
    _rank_axis(ax2, analyses[0].classes, f"class-mean rank (σ_i > {analyses[0].thresholds.rank_tol:g} σ_1)")
    for ax in (ax1, ax2, ax3):
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
        ax.set_xlabel("layer")
        ax.legend(fontsize=6)
    ax1.set_ylabel(f"metric (log axis; 0 at collapse, drawn at {floor:g})")
    ax3.set_ylabel("NC4: nearest-class-mean agreement")
    ax3.set_ylim(-0.02, 1.02)
    fig.suptitle(f"NC metrics by layer (last checkpoint), K = {analyses[0].classes}", fontsize=10)
    fig.tight_layout()
    return fig


def features_spectra(analyses) -> Figure:
    """Normalised singular values s_i/s_1 of every layer's centred class means and features (last checkpoint, first analysis)."""
    a = analyses[0]
    fig = Figure(figsize=(10.0, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for name, la in a.layers.items():
        for ax, s in ((ax1, la.class_mean_singular_values), (ax2, la.singular_values)):
            s = np.asarray(s)
            if s.size and s[0] > 0:
                ax.semilogy(np.arange(1, s.size + 1), np.maximum(s / s[0], 1e-17), "o-", ms=3, label=name)
    ax1.axvline(a.classes - 1, color="tab:gray", ls="--", lw=1, zorder=_ABOVE_DATA, label=f"i = K − 1 = {a.classes - 1}")
    tol = a.thresholds.rank_tol
    for ax, what in ((ax1, "centred class means Mbar (K × d)"), (ax2, "features X (N × d)")):
        ax.axhline(tol, color="k", ls=":", lw=1, zorder=_ABOVE_DATA, label=f"rank threshold {tol:g}")
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i / σ_1")
        ax.set_title(what, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{_source(a)}: singular values per layer (last checkpoint); K = {a.classes}", fontsize=10)
    fig.tight_layout()
    return fig


def features_metrics_vs_checkpoint(analyses) -> Figure:
    """``nc1_trace`` (Tr Σ_W / Tr Σ_B) and class-mean rank of every layer over checkpoints (first analysis with a checkpoint axis)."""
    over = [a for a in analyses if a.over_training]
    if not over:
        raise ValueError("figure features_metrics_vs_checkpoint needs features with a checkpoint axis (E, N, d); these have none")
    a = over[0]
    steps = [c.step for c in a.checkpoints]
    fig = Figure(figsize=(10.0, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for name in a.layers:
        ax1.semilogy(steps, [_positive(c.layers[name].nc.nc1_trace) for c in a.checkpoints], "o-", ms=3, label=name)
        ax2.plot(steps, [c.layers[name].class_mean_rank for c in a.checkpoints], "o-", ms=3, label=name)
    ax1.set_ylabel("nc1_trace = Tr Σ_W / Tr Σ_B (log axis)")
    _rank_axis(ax2, a.classes, "rank of centred class means")
    for ax in (ax1, ax2):
        ax.set_xlabel("checkpoint")
        ax.legend(fontsize=7)
    fig.suptitle(f"{_source(a)}: nc1_trace and class-mean rank over training", fontsize=10)
    fig.tight_layout()
    return fig


def feature_figures(analyses, names=None) -> dict[str, Figure]:
    """Draw the feature figures ``names`` (default: all that fit) of a list of :class:`~dufm.features.FeatureAnalysis`."""
    if not analyses:
        raise ValueError("there is no feature analysis to draw")
    fns = {"features_metrics_vs_layer": features_metrics_vs_layer, "features_spectra": features_spectra,
           "features_metrics_vs_checkpoint": features_metrics_vs_checkpoint}
    if names is None:
        names = [n for n in FEATURE_FIGURES if n != "features_metrics_vs_checkpoint" or any(a.over_training for a in analyses)]
    for n in names:
        if n not in fns:
            raise ValueError(f"figure must be one of {list(FEATURE_FIGURES)} for a feature analysis, got {n!r}")
    return {n: fns[n](analyses) for n in names}
