"""Hessian figures: the spectrum of a Hessian (``dufm probe --plot``), and curves of Hessian quantities against a
parameter (experiments/landscape_*.py)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def hessian_spectrum(eigenvalues=None, slq=None, title: str = "", bins: int = 120, zero_tol: float = 1e-8) -> Figure:
    """Eigenvalue histogram (dense spectrum) or SLQ density estimate of a Hessian, on a symlog axis.

    ``eigenvalues``: all P eigenvalues; ``slq``: ``(nodes, weights)`` from
    :func:`dufm.hessian.slq_density` (drawn as a weighted histogram of the
    Gauss nodes, i.e. the estimated fraction of eigenvalues per bin). The
    middle bin holds |lambda| <= zero_tol x max|lambda| (the numerical zeros).
    """
    if (eigenvalues is None) == (slq is None):
        raise ValueError("give exactly one of eigenvalues and slq")
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    if eigenvalues is not None:
        x, w, what = np.asarray(eigenvalues), None, f"{len(eigenvalues)} eigenvalues (dense)"
    else:
        x, w = np.ravel(slq[0]), np.ravel(slq[1]) / np.shape(slq[0])[0]
        what = f"SLQ density estimate ({np.shape(slq[0])[0]} probes x {np.shape(slq[0])[1]} nodes)"
    scale = max(np.max(np.abs(x)), 1e-300)
    tau = scale * zero_tol
    side = np.geomspace(tau, scale * (1 + 1e-9), bins // 2)
    edges = np.concatenate([-side[::-1], side])  # the middle bin is [-tau, tau]: the numerical zeros
    counts, _ = np.histogram(np.clip(x, edges[0], edges[-1]), bins=edges, weights=w)
    ax.stairs(counts, edges, fill=True, alpha=0.7)
    ax.set_xscale("symlog", linthresh=tau, linscale=0.5)
    decades = np.arange(np.ceil(np.log10(tau)), np.floor(np.log10(scale)) + 1)
    step = max(1, int(np.ceil(len(decades) / 4)))
    ticks = 10.0 ** decades[::-step][::-1]
    ax.set_xticks(np.concatenate([-ticks[::-1], [0.0], ticks]))
    ax.annotate(f"zero: |λ| ≤ {tau:.1e}", xy=(0, 1), xycoords=("data", "axes fraction"), xytext=(0, -12),
                textcoords="offset points", ha="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("Hessian eigenvalue (symlog axis)")
    ax.set_ylabel("count" if w is None else "fraction of eigenvalues")
    ax.set_title((title + "\n" if title else "") + what, fontsize=9)
    return fig


def curves_vs(x, curves: dict, xlabel: str, ylabel: str, title: str = "", logx: bool = True, symlogy: float | None = None,
              zero_line: bool = False) -> Figure:
    """A line figure of several named curves against one x axis (Hessian quantities vs lambda, width, ...)."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    for label, y in curves.items():
        ax.plot(x, y, marker="o", ms=3, label=label)
    if logx:
        ax.set_xscale("log", base=2)
    if symlogy:
        ax.set_yscale("symlog", linthresh=symlogy)
    if zero_line:
        ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
