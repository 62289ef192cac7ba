"""Figures drawn from closed forms alone (a sweep config with ``solve = false``): where the low-rank
constructions beat DNC (Garrod & Keating 2025 Thm 1; Súkeník et al. 2024 Fig 3)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import theory
from ..model.problem import Problem


def _ce_pair(K, L, n, lam):
    p = Problem(classes=K, per_class=n, width=max(K, 2), depth=L, weight_decay=lam)
    return theory.dnc(p).loss, theory.low_rank(p).loss


def theory_ce_ratio(results, opts):
    n, lam = opts.get("per_class", 5), opts.get("weight_decay", 2.0**-10)
    Ks = list(range(opts.get("k_min", 2), opts.get("k_max", 30) + 1))
    curves = {f"L = {L}": [lr / d for d, lr in (_ce_pair(K, L, n, lam) for K in Ks)] for L in range(1, opts.get("max_depth", 6) + 1)}
    return _ratio_figure(Ks, curves, "classes K (odd K: single-scale construction)", "ℓ_low-rank / ℓ_DNC (closed forms)",
                         f"linear CE deep UFM, n = {n}, λ = {lam:g}: low-rank beats DNC below the dashed line")


def _ratio_figure(xs, curves: dict, xlabel: str, ylabel: str, title: str):
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for label, ys in curves.items():
        ax.plot(xs, ys, "o-", ms=3, label=label)
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def theory_ce_region(results, opts):
    n, lam = opts.get("per_class", 5), opts.get("weight_decay", 2.0**-10)
    Ks = np.arange(2, opts.get("k_max", 20) + 1)
    Ls = np.arange(1, opts.get("max_depth", 8) + 1)
    # K = 2: the pair construction *is* the simplex, so the two losses agree; count only a clear win
    pairs = {(K, L): _ce_pair(K, L, n, lam) for K in Ks for L in Ls}
    grid = np.array([[pairs[K, L][1] < pairs[K, L][0] * (1 - 1e-9) for K in Ks] for L in Ls])
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    ax.imshow(grid, origin="lower", cmap="Reds", vmin=0, vmax=1.6, extent=(Ks[0] - 0.5, Ks[-1] + 0.5, Ls[0] - 0.5, Ls[-1] + 0.5), aspect="auto")
    # Thm 1: DNC not optimal for K >= 4, L >= 3 or K >= 6, L = 2
    bx = [3.5, 3.5, 5.5, 5.5, Ks[-1] + 0.5]
    by = [Ls[-1] + 0.5, 2.5, 2.5, 1.5, 1.5]
    ax.plot(bx, by, "k-", lw=2, label="Thm 1 boundary (K ≥ 4, L ≥ 3 or K ≥ 6, L = 2)")
    ax.set_xlabel("classes K")
    ax.set_ylabel("depth L")
    ax.set_xticks(Ks[::2])
    ax.set_yticks(Ls)
    ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"linear CE, n = {n}, λ = {lam:g}: red = low-rank construction below DNC (closed forms)", fontsize=10)
    return fig


def theory_srg_ratio(results, opts):
    n, lam = opts.get("per_class", 5), opts.get("weight_decay", 0.004)
    rs = list(range(3, opts.get("r_max", 12) + 1))
    curves = {}
    for L in opts.get("depths", [3, 4, 5]):
        ratio = []
        for r in rs:
            K = r * (r - 1) // 2
            p = Problem(classes=K, per_class=n, width=K, depth=L, weight_decay=lam, loss="mse", activation="relu")
            ratio.append(theory.srg(p).loss / theory.dnc(p).loss)
        curves[f"L = {L}"] = ratio
    return _ratio_figure(rs, curves, "r (K = r(r-1)/2 classes)", "L_SRG / L_DNC (explicit SRG point / closed-form DNC)",
                         f"ReLU MSE deep UFM, n = {n}, λ = {lam:g} (all layers): the SRG point beats DNC below the dashed line")
