"""Garrod & Keating's Thm 3 end to end: gradient flow and backtracking GD at L = 1 ... 64.

Problem: linear CE, K = 10, n = 5, d = 30, lambda_L = 0.02 / L^2 on every factor (Thm 3's lambda = o(1/L)),
float64. Two solvers that do not diverge at any depth:

* ``flow``: gradient flow (optimizer = "flow", rtol 1e-6, atol 1e-9) to ||grad|| <= 1e-10, at most 2 000
  accepted steps;
* ``backtracking``: GD with an Armijo line search, 20 000 steps (tol 1e-10); the line search sets the step, 10 only bounds it (a bound of 0.1, as
  fixed-step GD would use, keeps it below what the problem allows at small L: the sharpness is 0.06 at L = 1);

from two starts: ``balanced`` (orthogonal factors scaled to an end-to-end gain of 1 at every depth, the depth init)
and ``pytorch`` (nn.Linear's default for every W_l, torch.randn for H_1: what the deep-UFM papers' PyTorch code
draws), each with the Hessian's top eigenvalue recorded along the run. For each run: the number of
sigma_i(Z_c)/||Z_c||_F above 1e-3, the end loss over the best minimum (docs/figures/optima_thm3.json, from
``dufm optimum``), the end point's sharpness.

    python experiments/depth_thm3.py [--seeds 5] [--depths 1 2 4 8 16 32 64] [--only flow/balanced ...]

Results go to docs/figures/depth_thm3/, one file per (depth, solver, init), so an interrupted run
resumes where it stopped; figures: normalised singular values, rank, loss / optimum and sharpness vs L.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import dufm

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures" / "depth_thm3"
OPTIMA = ROOT / "docs" / "figures" / "optima_thm3.json"
NEGLIGIBLE = 1e-3
SOLVERS = {
    "flow": dict(optimizer="flow", lr=1e-3, steps=2000, tol=1e-10, log_every=10),
    "backtracking": dict(optimizer="backtracking", lr=10.0, steps=20_000, tol=1e-10, log_every=500),
}
INITS = {"balanced": dict(init="balanced"), "pytorch": dict(init="pytorch")}


def problem_at(depth: int) -> dufm.Problem:
    return dufm.Problem(classes=10, per_class=5, width=30, depth=depth, weight_decay=0.02 / depth**2)


def measure(depth: int, solver: str, init: str, seeds: int, steps: int | None = None) -> dict:
    problem = problem_at(depth)
    cfg = dufm.SolverConfig(**{**SOLVERS[solver], **({"steps": steps} if steps else {})}, **INITS[init], sharpness=True)
    t = time.perf_counter()
    runs = dufm.solve(problem, cfg, seeds=range(seeds))
    wall = time.perf_counter() - t
    rows = []
    for r in runs:
        row = dict(seed=r.seed, status=str(r.status), steps=r.steps, rejected=r.rejected, flow_time=r.time, loss=r.loss,
                   grad_norm=r.grad_norm)
        if r.status != "diverged":
            a = dufm.analyse(r.params, problem)
            s = np.asarray(a.scale_free.singular_values if a.scale_free is not None else a.singular_values["Z"])
            s = s / np.linalg.norm(s)
            row.update(normalised_sv=s.tolist(), non_negligible=int((s > NEGLIGIBLE).sum()), rank=a.rank["Z"],
                       sharpness=float(r.history.sharpness[-1]), max_sharpness=float(np.nanmax(r.history.sharpness)))
        rows.append(row)
    return dict(depth=depth, solver=solver, init=init, weight_decay=problem.weight_decay, steps=cfg.steps, wall_s=wall, runs=rows)


def cell_path(depth: int, solver: str, init: str) -> Path:
    return OUT / f"L{depth}_{solver}_{init}.json"


def load() -> dict:
    """Every stored (depth, solver, init) cell: one file each, so that processes running different pairs do not race."""
    return {"cells": [json.loads(p.read_text()) for p in sorted(OUT.glob("L*_*_*.json"))]}


def save(cell: dict):
    OUT.mkdir(parents=True, exist_ok=True)
    path = cell_path(cell["depth"], cell["solver"], cell["init"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cell, indent=1))
    tmp.replace(path)


def optima() -> dict[int, float]:
    return {row["L"]: row["loss"] for row in json.loads(OPTIMA.read_text())["rows"]}


def draw(results: dict):
    from matplotlib.figure import Figure

    best = optima()
    series = {}
    for cell in results["cells"]:
        series.setdefault((cell["solver"], cell["init"]), []).append(cell)
    fig = Figure(figsize=(12, 8.5))
    axes = fig.subplots(2, 2)
    for index, ((solver, init), cells) in enumerate(sorted(series.items())):
        cells = sorted(cells, key=lambda c: c["depth"])
        label = f"{solver}, {init} init"
        colour = f"C{index}"
        style = dict(marker="o" if solver == "flow" else "s", ls="-" if init == "balanced" else "--", capsize=3, color=colour)
        Ls, nn, ratio, sharp, stopped, zero = [], [], [], [], [], []
        for c in cells:
            done = [r for r in c["runs"] if r["status"] != "diverged"]
            if not done:
                continue
            Ls.append(c["depth"])
            # at Z = 0 (rank 0: the zero point) the normalised spectrum is rounding noise, not a count
            nn.append([r["non_negligible"] for r in done if r.get("rank") != 0] or [np.nan])
            ratio.append([r["loss"] / best[c["depth"]] for r in done])
            sharp.append([r["sharpness"] for r in done])
            stopped.append(all(r["status"] == "max_steps" for r in done))
            zero.append(all(r.get("rank") == 0 for r in done))
        for ax, values in ((axes[0, 0], nn), (axes[0, 1], ratio), (axes[1, 0], sharp)):
            means = [np.mean(v) for v in values]
            ax.errorbar(Ls, means, yerr=[np.std(v) for v in values], label=label, **style)
            # hollow: every run of the cell at its step limit (not converged)
            ax.plot([L for L, s in zip(Ls, stopped) if s], [m for m, s in zip(means, stopped) if s], style["marker"], ms=7,
                    mfc="white", mec=colour, mew=1.5, zorder=5)
        z = [L for L, flag in zip(Ls, zero) if flag]
        if z:
            axes[0, 0].plot(z, [0] * len(z), "x", ms=9, mew=2, color=colour)
            for L in z:
                axes[0, 0].annotate("Z = 0", (L, 0), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7,
                                    color=colour)
        for c in cells:  # the scatter of seeds, so that a mean of 2 and 4 is not read as 3
            for r in c["runs"]:
                if r["status"] != "diverged" and r.get("rank") != 0:
                    axes[0, 0].plot(c["depth"], r["non_negligible"], ".", color="k", alpha=0.3, ms=4)
    optimum = sorted((row["L"], int((np.asarray(row["normalised_sv"]) > NEGLIGIBLE).sum()))
                     for row in json.loads(OPTIMA.read_text())["rows"])
    axes[0, 0].plot(*zip(*optimum), "k-", lw=2, alpha=0.4, label="the optimum (dufm optimum's best minimum)")
    axes[0, 0].axhline(2, color="k", ls=":", lw=1, label="Thm 3: two")
    axes[0, 0].set_ylabel(f"σ_i(Z_c)/‖Z_c‖_F > {NEGLIGIBLE:g} (mean ± std; dots: seeds; x: Z = 0)")
    axes[0, 1].axhline(1, color="k", ls=":", lw=1)
    axes[0, 1].set_ylabel("end loss / dufm optimum's best minimum")
    axes[0, 1].set_yscale("log")
    axes[1, 0].set_ylabel("sharpness at the end point (largest Hessian eigenvalue)")
    axes[1, 0].set_yscale("log")
    # the optimum's normalised spectrum next to the mean of the flow's end points from the depth init
    flow = sorted((c for c in results["cells"] if c["solver"] == "flow" and c["init"] == "balanced"), key=lambda c: c["depth"])
    ax = axes[1, 1]
    if flow:
        S = np.array([np.mean([r["normalised_sv"][:9] for r in c["runs"] if r["status"] != "diverged"], axis=0) for c in flow])
        for i in range(S.shape[1]):
            ax.semilogy([c["depth"] for c in flow], np.maximum(S[:, i], 1e-17), "o-", ms=3, label=f"σ_{i + 1}")
        ax.axhline(NEGLIGIBLE, color="k", ls=":", lw=1)
        ax.set_ylabel("σ_i(Z_c)/‖Z_c‖_F, flow from the balanced init (mean)")
        ax.legend(fontsize=6, ncol=3)
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("depth L")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("GK25 Thm 3 (linear CE, K = 10, n = 5, d = 30, λ = 0.02/L²): gradient flow and backtracking GD; "
                 "hollow: every run at its step limit", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "thm3_vs_depth.png", dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--only", nargs="+", help="solver/init pairs to run, e.g. flow/balanced")
    ap.add_argument("--draw", action="store_true", help="only draw the figure from the stored results")
    ap.add_argument("--steps", type=int, help="cap the step limit (the flow's accepted steps) below the solver's, for a cell "
                    "whose runs cannot finish in the time at hand; the cell records the cap")
    args = ap.parse_args(argv)
    if not args.draw:
        dufm.use_cpu_cores()
        pairs = args.only or [f"{s}/{i}" for s in SOLVERS for i in INITS]
        for depth in args.depths:
            for pair in pairs:
                solver, init = pair.split("/")
                path = cell_path(depth, solver, init)
                if path.exists() and len(json.loads(path.read_text())["runs"]) >= args.seeds:
                    continue
                cell = measure(depth, solver, init, args.seeds, args.steps)
                save(cell)
                runs = cell["runs"]
                print(f"L={depth:>2} {solver:>12} {init:>8}: " + ", ".join(
                    f"{r['status']} {r['steps']} loss {r['loss']:.6g} nn {r.get('non_negligible')} sharp {r.get('sharpness', float('nan')):.3g}"
                    if r["loss"] is not None else f"{r['status']} at step {r['steps']}" for r in runs) + f" [{cell['wall_s']:.0f} s]",
                    flush=True)
    draw(load())


if __name__ == "__main__":
    main()
