"""Newton-MR refinement of GD end points in the Garrod & Keating (2025) Fig 1 setting, and of a
point near a saddle.

Problem (Fig 1): K = 10, n = 5, d = 70, L = 2, linear CE, lambda = 2^-10 for every
parameter (P = 9 100). GD: lr 0.5, Gaussian init std 0.1, seeds 0-9, stop at |grad| <= 1e-4
or 20 000 steps. Every end point is refined by critical.refine (tol 1e-10), analysed before
and after (geometry.analyse: solution type, rank of Z), and compared with the closed-form
loss of its type. Every refined point is classified matrix-free (method "lanczos": the
Lanczos minimum eigenvalue with its residual certifies a negative eigenvalue), and the first
CLASSIFY converged refined points with distinct losses also with exact counts (method
"inertia": dense Hessian, LDL^T inertia). A seed whose refinement stops at the default 50
iterations gets a second attempt with 250 more. The saddle of this problem is
experiments/landscape_saddle_fig1.py.

    python experiments/landscape_refine_fig1.py   # ~4 min on 2 shared CPU cores (more under load)

Writes results/landscape/refine_fig1.json.
"""

from __future__ import annotations

import numpy as np

from dufm import Problem, SolverConfig, critical, hessian, solve, theory
from dufm.geometry import analyse
from landscape_common import Timer, save, table

SEEDS = list(range(10))
CLASSIFY = 2  # inertia classification of the first converged, distinct end points: ~50-200 s each here (dense Hessian, P = 9100)
clock = Timer()


def main():
    p = Problem(classes=10, per_class=5, width=70, depth=2, loss="ce", activation="linear", weight_decay=2.0**-10)
    arch, decays = p.architecture, p.decays
    closed = {"dnc": theory.dnc(p).loss, "low-rank": theory.low_rank(p).loss}
    cfg = SolverConfig(lr=0.5, steps=20_000, tol=1e-4, init_scale=0.1)
    runs = solve(p, cfg, seeds=SEEDS)
    t_gd = clock()
    print(f"GD of {len(SEEDS)} seeds: {t_gd:.0f} s", flush=True)
    rows = []
    for run in runs:
        t0 = clock()
        before = analyse(run.params, p)
        ref = critical.refine(run.params, decays, arch, tol=1e-10)
        first = ref
        if ref.status != "converged":  # a second attempt with a larger iteration budget
            ref = critical.refine(ref.params, decays, arch, tol=1e-10, max_iter=250)
        after = analyse(ref.params, p)
        typ = after["solution_type"]
        row = {"seed": run.seed, "gd_status": run.status, "gd_steps": run.steps, "gd_grad": run.grad_norm, "gd_loss": run.loss,
               "type_before": before["solution_type"], "rank_before": before["rank"]["Z"],
               "first_status": first.status, "first_grad": first.grad_norm,
               "refine_status": ref.status, "newton_mr_iterations": ref.iterations + (first.iterations if ref is not first else 0),
               "lsmr_iterations": sum(ref.lsmr_iterations) + (sum(first.lsmr_iterations) if ref is not first else 0),
               "refined_grad": ref.grad_norm, "refined_loss": ref.loss, "type_after": typ, "rank_after": after["rank"]["Z"],
               "closed_form": closed.get(typ), "refined_minus_closed": ref.loss - closed[typ] if typ in closed else None,
               "grad_history": (first.history + ref.history[1:]) if ref is not first else ref.history, "refine_s": clock() - t0,
               "moved": float(np.linalg.norm(hessian.flatten(ref.params) - hessian.flatten(run.params)) / np.linalg.norm(hessian.flatten(run.params)))}
        r_ = after["rank"]["Z"]
        row["stiefel"] = 2 * (r_ * 70 - r_ * (r_ + 1) // 2)
        t1 = clock()
        c = critical.classify(ref.params, decays, arch, method="lanczos", num_samples=8)
        row.update(lanczos_verdict=c["verdict"], lanczos_min=c["hessian"]["min_eigenvalue"], lanczos_residual=c["hessian"]["min_eigenvalue_residual"])
        distinct = ref.status == "converged" and all(abs(r["refined_loss"] - ref.loss) > 1e-9 for r in rows if "verdict" in r)
        if distinct and sum("verdict" in r for r in rows) < CLASSIFY:
            c = critical.classify(ref.params, decays, arch, method="inertia")
            row.update(verdict=c["verdict"], index=c["index"], nullity=c["nullity"])
        row["classify_s"] = clock() - t1
        rows.append(row)
        print(f"  seed {run.seed}: done at t = {clock():.0f} s", flush=True)
    cols = [("seed", "d"), ("gd_steps", "d"), ("gd_grad", ".2e"), ("gd_loss", ".10f"), ("type_before", "s"), ("rank_before", "d"),
            ("newton_mr_iterations", "d"), ("lsmr_iterations", "d"), ("refined_grad", ".2e"), ("refined_loss", ".13f"), ("closed_form", ".13f"),
            ("refined_minus_closed", ".1e"), ("type_after", "s"), ("rank_after", "d"), ("moved", ".1e"), ("refine_status", "s"), ("refine_s", ".0f"),
            ("lanczos_verdict", "s"), ("lanczos_min", ".2e"), ("lanczos_residual", ".0e"), ("verdict", "s"), ("index", "d"), ("nullity", "d"),
            ("stiefel", "d"), ("classify_s", ".0f")]
    table(rows, cols, "Fig 1 setting (K=10 n=5 d=70 L=2 lambda=2^-10): GD (lr 0.5, std 0.1, tol 1e-4, <= 20k steps) then Newton-MR (tol 1e-10); "
          "moved = |refined - GD| / |GD|; stiefel = 2 (r d - r(r+1)/2)")

    save("refine_fig1", {"setting": {"K": 10, "n": 5, "width": 70, "depth": 2, "lambda": 2.0**-10, "solver": cfg.to_dict(), "seeds": SEEDS},
                         "closed_form": closed, "gd_s": t_gd, "rows": rows, "runtime_s": clock()})
    print(f"total {clock():.0f} s")


if __name__ == "__main__":
    main()
