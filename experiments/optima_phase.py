"""Phase diagrams of the global optimum of the linear CE deep UFM (dufm.optimum), and the Thm 3 depth plot.

Six studies, every point the best minimum dufm.optimum finds of the reduced K x K problem
(docs/optima.md), with n = 5 samples per class:

* ``kl``     — rank and type of the optimum over (K, L), K = 2..12, L = 1..8, lambda = 2^-10 (all
               factors), with the boundary of Garrod & Keating's Thm 1 (DNC not optimal for
               K >= 4, L >= 3 or K >= 6, L = 2);
* ``lambda`` — the same over (L, log2 lambda) at K = 10, L = 1..10, log2 lambda = -14..-4;
* ``losses`` — the ``kl`` study (K = 2..12, L = 1..6) under label smoothing alpha = 0.05, 0.1, 0.2 and focal
               loss gamma = 1, 2 (alpha = 0 and gamma = 0 are CE: ``kl``), a figure per loss and the boundary
               of the DNC region (the smallest L at which DNC is not optimal, per K) for each;
* ``large``  — the best minimum over (K, L) for K = 12 … 100, L = 1 … 4 (16 restarts each), with how many starts settled
               and whether starts still descending ended below it (the search at that K is then not done);
* ``width``  — the optimum over (K, d) for K = 3..12 and every width d = 1..K (rank Z <= d), L = 1, 2, 3,
               lambda = 2^-10: where each known code (the K-gon at d = 2, the icosahedron, ...) is the optimum;
* ``thm3``   — normalised singular values sigma_i / ||Z||_F of the optimum vs L for lambda_L = 0.02 / L^2
               (Garrod & Keating Thm 3), L = 1..64.

The type names the construction of dufm.theory whose loss the optimum equals (to 1e-9
relative): dnc, low_rank (the pair construction), circle, softmax_code (the icosahedron, K = 12),
rectified_simplex (K = r(r-1)/2), zero; otherwise "other".

    python experiments/optima_phase.py [kl] [lambda] [thm3] [width] [losses] [large] [--plot-only]

Writes docs/figures/optima_<study>.json and docs/figures/optima_<study>.png (the figures are
redrawn from the JSON with --plot-only; ``losses`` draws docs/figures/optima_losses_<loss>.png). About 16 min in all
on 2 shared CPU cores (kl 6.4 min, lambda 1 min, thm3 35 s, large 5.6 min); ``width`` about 15 min and ``losses``
about an hour (57 and 80 min measured, sharing the cores).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import dufm

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
N_PER = 5
RESTARTS = 32
TYPES = ["zero", "dnc", "low_rank", "circle", "softmax_code", "rectified_simplex", "other"]
COLOURS = ["#bbbbbb", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e"]
LABELS = {"low_rank": "pairs (GK25)", "softmax_code": "icosahedron", "rectified_simplex": "rectified simplex"}


LARGE_K = (12, 16, 20, 25, 30, 40, 50, 70, 100)
LOSSES = {"ls0.05": dict(loss="ls", smoothing=0.05), "ls0.1": dict(loss="ls", smoothing=0.1), "ls0.2": dict(loss="ls", smoothing=0.2),
          "focal1": dict(loss="focal", focal_gamma=1.0), "focal2": dict(loss="focal", focal_gamma=2.0)}
LOSS_TITLES = {"ce": "CE", "ls0.05": "label smoothing α=0.05", "ls0.1": "label smoothing α=0.1", "ls0.2": "label smoothing α=0.2",
               "focal1": "focal γ=1", "focal2": "focal γ=2"}


def point(K: int, L: int, lam: float, width: int | None = None, restarts: int = RESTARTS, **loss) -> dict:
    """The optimum of the linear problem (K, n = 5, L, lambda, width K unless given; CE unless ``loss`` says), its type and
    the candidates' losses."""
    p = dufm.Problem(classes=K, per_class=N_PER, width=width or K, depth=L, weight_decay=lam, **loss)
    o = dufm.optimum(p, restarts=restarts, hessian_limit=0)
    known = {k: c.loss for k, c in o.candidates.items() if not isinstance(c, str)}
    kind = next((k for k in TYPES[:-1] if k in known and abs(known[k] - o.loss) <= 1e-9 * abs(o.loss)), "other")
    s = np.asarray(o.singular_values)
    return {"K": K, "L": L, "lambda": lam, "d": width or K, "loss": o.loss, "rank": o.rank, "type": kind, "candidates": known,
            "normalised_sv": (s / np.linalg.norm(s)).tolist() if s.size else [], "grad_norm": o.certificate.grad_norm,
            "gap": o.certificate.gap, "minima": [(m.loss, m.rank, m.count) for m in o.distinct_minima[:6]], "wall_s": o.wall_time_s,
            "search": o.search._asdict(),
            "lowest_unsettled": None if o.lowest_unsettled is None else [o.lowest_unsettled.loss, o.lowest_unsettled.rank]}


def thm1(K: int, L: int) -> bool:
    """Garrod & Keating Thm 1: DNC is not globally optimal here."""
    return (K >= 4 and L >= 3) or (K >= 6 and L == 2)


def run(study: str) -> dict:
    t0 = time.perf_counter()
    if study == "kl":
        rows = [point(K, L, 2.0**-10) for K in range(2, 13) for L in range(1, 9)]
    elif study == "lambda":
        rows = [point(10, L, 2.0**e) for L in range(1, 11) for e in range(-14, -3)]
    elif study == "large":
        rows = [point(K, L, 2.0**-10, restarts=16) for K in LARGE_K for L in (1, 2, 3, 4)]
    elif study == "width":
        rows = [point(K, L, 2.0**-10, width=d) for L in (1, 2, 3) for K in range(3, 13) for d in range(1, K + 1)]
    elif study == "losses":
        rows = [dict(point(K, L, 2.0**-10, **kw), setting=name) for name, kw in LOSSES.items() for K in range(2, 13)
                for L in range(1, 7)]
    else:
        rows = [point(10, L, 0.02 / L**2) for L in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64)]
    for r in rows:
        print(f"{study}: K={r['K']:2d} L={r['L']:2d} log2 lambda={np.log2(r['lambda']):7.2f} rank {r['rank']:2d} {r['type']:8s} "
              f"loss {r['loss']:.10g} |grad| {r['grad_norm']:.1e} ({r['wall_s']:.1f} s)", flush=True)
    out = {"study": study, "n": N_PER, "restarts": RESTARTS, "rows": rows, "runtime_s": time.perf_counter() - t0}
    (FIGURES / f"optima_{study}.json").write_text(json.dumps(out, indent=1))
    return out


def grid_figure(rows, xkey, ykey, xlabel, ylabel, title, boundary=None) -> Figure:
    fig = Figure(figsize=(7.6, 5.0))
    draw_grid(fig.add_subplot(), rows, xkey, ykey, xlabel, ylabel, title, boundary, legend=True)
    fig.tight_layout()
    return fig


def draw_grid(ax, rows, xkey, ykey, xlabel, ylabel, title, boundary=None, legend=False):
    """Cells coloured by the optimum's type and labelled with its rank; cells without a row stay blank."""
    xs = sorted({r[xkey] for r in rows})
    ys = sorted({r[ykey] for r in rows})
    T = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        i, j = ys.index(r[ykey]), xs.index(r[xkey])
        T[i, j] = TYPES.index(r["type"])
    ax.imshow(T, origin="lower", cmap=ListedColormap(COLOURS), vmin=-0.5, vmax=len(TYPES) - 0.5, aspect="auto")
    for r in rows:
        ax.text(xs.index(r[xkey]), ys.index(r[ykey]), str(r["rank"]), ha="center", va="center", fontsize=8, color="k")
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if boundary is not None:
        boundary(ax, xs, ys)
    if legend:
        handles = [ax.plot([], [], "s", color=c, ms=9, label=LABELS.get(t, t))[0] for t, c in zip(TYPES, COLOURS)]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="optimum (number: rank Z)",
                  title_fontsize=7)
    ax.set_title(title, fontsize=9)


def thm1_boundary(ax, Ks, Ls):
    """Outline the cells of Thm 1's region (DNC not optimal) in black."""
    for i, L in enumerate(Ls):
        for j, K in enumerate(Ks):
            if thm1(K, L):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=0.6, ec="k", hatch="//", alpha=0.35))


def thm3_figure(rows) -> Figure:
    fig = Figure(figsize=(7.2, 4.6))
    ax = fig.add_subplot()
    Ls = [r["L"] for r in rows]
    width = max(len(r["normalised_sv"]) for r in rows)
    for i in range(width):
        v = [r["normalised_sv"][i] if i < len(r["normalised_sv"]) else 0.0 for r in rows]  # beyond the rank: exactly 0
        ax.plot(Ls, v, "o-", ms=3.5, lw=1, label=f"σ{i + 1}/‖Z‖_F")
    for r in rows:
        ax.annotate(str(r["rank"]), (r["L"], 1.02), ha="center", fontsize=7, annotation_clip=False)
    ax.set_xscale("log", base=2)
    ax.set_xticks(Ls, [str(L) for L in Ls])
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("depth L (number above: rank of the optimum)")
    ax.set_ylabel("normalised singular value of Z at the optimum")
    ax.set_title("Thm 3 at the optimum: linear CE, K=10, n=5, λ_L = 0.02/L² (dufm optimum)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def boundary_table(settings: dict) -> str:
    """Markdown: per K, the smallest L (of 1..6) whose optimum is not DNC, for each loss setting; '—' if DNC throughout."""
    Ks = sorted({r["K"] for rows in settings.values() for r in rows})
    lines = ["| K | " + " | ".join(LOSS_TITLES[s] for s in settings) + " |", "|---|" + "---|" * len(settings)]
    for K in Ks:
        cells = []
        for rows in settings.values():
            off = sorted(r["L"] for r in rows if r["K"] == K and r["type"] != "dnc" and r["L"] <= 6)
            cells.append(str(off[0]) if off else "—")
        lines.append(f"| {K} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(study: str, data: dict):
    rows = data["rows"]
    if study == "losses":
        ce = [r for r in json.loads((FIGURES / "optima_kl.json").read_text())["rows"] if r["L"] <= 6]
        settings = {"ce": ce} | {name: [r for r in rows if r["setting"] == name] for name in LOSSES}
        for name in LOSSES:
            fig = grid_figure(settings[name], "K", "L", "classes K", "depth L",
                              f"{LOSS_TITLES[name]}: optimum over (K, L), n=5, λ=2^-10; hatched: Thm 1's CE region",
                              thm1_boundary)
            fig.savefig(FIGURES / f"optima_losses_{name}.png", dpi=130)
        print(boundary_table(settings))
        return
    if study == "large":
        fig = grid_figure(rows, "K", "L", "classes K", "depth L",
                          "Best converged minimum, linear CE, n=5, λ=2^-10 (16 restarts, ≤ 2000 L-BFGS steps);\n"
                          "?r: a start still descending ended below it, at rank r (the search is not done)")
        ax = fig.axes[0]
        Ks = sorted({r["K"] for r in rows})
        for r in rows:
            if r["search"]["below_best"]:
                ax.text(Ks.index(r["K"]) + 0.05, [1, 2, 3, 4].index(r["L"]) + 0.22, f"?{r['lowest_unsettled'][1]}", fontsize=8,
                        color="k", weight="bold")
    elif study == "width":
        fig = Figure(figsize=(13.5, 4.8))
        axes = fig.subplots(1, 3)
        for i, L in enumerate((1, 2, 3)):
            draw_grid(axes[i], [r for r in rows if r["L"] == L], "K", "d", "classes K", "width d (every layer)",
                      f"L = {L}", legend=i == 2)
        fig.suptitle("Optimum of linear CE over (K, width d ≤ K), n=5, λ=2^-10: rank Z ≤ d (number: rank of the optimum)",
                     fontsize=10)
        fig.tight_layout()
    elif study == "kl":
        fig = grid_figure(rows, "K", "L", "classes K", "depth L",
                          "Optimum of linear CE over (K, L), n=5, λ=2^-10; hatched: Thm 1 says DNC is not optimal", thm1_boundary)
    elif study == "lambda":
        for r in rows:
            r["log2 lambda"] = float(np.log2(r["lambda"]))
        fig = grid_figure(rows, "log2 lambda", "L", "log2 λ (all factors)", "depth L", "Optimum of linear CE over (L, λ), K=10, n=5")
    else:
        fig = thm3_figure(rows)
    fig.savefig(FIGURES / f"optima_{study}.png", dpi=130)


def main(argv):
    studies = [a for a in argv if not a.startswith("--")] or ["kl", "lambda", "thm3", "width", "losses"]
    dufm.use_cpu_cores()
    for study in studies:
        data = json.loads((FIGURES / f"optima_{study}.json").read_text()) if "--plot-only" in argv else run(study)
        plot(study, data)
        print(f"{study}: {len(data['rows'])} points, {data['runtime_s']:.0f} s; docs/figures/optima_{study}.png")


if __name__ == "__main__":
    main(sys.argv[1:])
