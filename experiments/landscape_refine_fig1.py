"""Newton-MR refinement of GD end points in the Garrod & Keating (2025) Fig 1 setting, checked
against the point GD itself reaches when it is run on.

Problem (Fig 1): K = 10, n = 5, d = 70, L = 2, linear CE, lambda = 2^-10 for every
parameter (P = 9 100). GD: lr 0.5, Gaussian init std 0.1, seeds 0-9, stop at |grad| <= 1e-4
(the GD end point) or at ``--max-steps`` (default 100 000; every seed stops by its tolerance
well before). Each end point is

* refined by ``critical.refine`` (tol 1e-10) in both modes: ``nearest`` (Newton-MR from the
  end point; a second attempt with 250 more iterations where the default 50 do not converge)
  and ``descent`` (L-BFGS to |grad| <= 1e-8, then Newton-MR);
* run on by GD (same lr) to |grad| <= 1e-10 or 400 000 more steps: "GD's limit", the
  independent reference for "which solution it is". GD stops at |grad| = 1e-10 up to
  |grad| / (smallest curvature) from the critical point, so the limit is also polished by
  Newton-MR (tol 1e-12; it moves by ~1e-5 at most, within the limit's Newton basin);
* compared with that limit by orbit-invariant quantities (the hidden-layer rotations
  W_l -> W_l Q change the parameters but not the singular values of any layer): the loss and
  the largest difference of any singular value of Z, H1, H2, W1, W2 ("sv diff"), against GD's
  raw limit and against the polished one;
* classified matrix-free (method "lanczos": a Ritz value below -tau with its residual certifies
  a negative eigenvalue), and the first CLASSIFY converged refined points with distinct losses
  also with exact counts (method "inertia": dense Hessian, LDL^T inertia).

Where the ``nearest`` refined point is not GD's limit, GD's continuation is traced in chunks of 1 000
steps and its closest approach to the refined point (smallest sv diff, with |grad| there) is
reported, and GD's limit is classified too.

``--max-steps 20000`` gives the study of GD cut off before its tolerance: points in transit
between critical points, not GD end points (docs/landscape.md).

    python experiments/landscape_refine_fig1.py                     # ~6 min on 2 shared CPU cores
    python experiments/landscape_refine_fig1.py --max-steps 20000   # ~10 min

Writes results/landscape/refine_fig1.json (refine_fig1_max20000.json with the cap).
"""

from __future__ import annotations

import argparse

import numpy as np
from landscape_common import Timer, save, table

from dufm import Analysis, Params, Problem, SolverConfig, analyse, critical, hessian, run_many, solve, theory

SEEDS = list(range(10))
CLASSIFY = 2  # inertia classification of the first converged, distinct end points: ~50-200 s each here (dense Hessian, P = 9100)
CONTINUE_STEPS = 400_000
TRACE_CHUNK, TRACE_CHUNKS = 1_000, 120
clock = Timer()


def sv_diff(a, b) -> float:
    """Largest difference of any singular value of any layer between two dufm.Analysis results."""
    return max(float(np.max(np.abs(np.asarray(a.singular_values[k]) - np.asarray(b.singular_values[k])))) for k in a.singular_values)


def gd_batch(params: list[Params], p: Problem, cfg: SolverConfig) -> list:
    """GD from the given points (one batch): one dufm.Run per point."""
    return run_many(Params.stack(params), p.decays, p.architecture, cfg)


def closest_approach(start: Params, target: Analysis, p: Problem, lr: float) -> dict:
    """Trace GD from ``start`` in chunks; the chunk end closest (sv diff) to the analysed ``target``."""
    cfg = SolverConfig(lr=lr, steps=TRACE_CHUNK, tol=0.0, log_every=TRACE_CHUNK)
    best, x = {"sv_diff": sv_diff(analyse(start, p), target), "step": 0, "grad_norm": None}, start
    for c in range(1, TRACE_CHUNKS + 1):
        r = gd_batch([x], p, cfg)[0]
        x = r.params
        d = sv_diff(analyse(x, p), target)
        if d < best["sv_diff"]:
            best = {"sv_diff": d, "step": c * TRACE_CHUNK, "grad_norm": r.grad_norm, "loss": r.loss}
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-steps", type=int, default=100_000, help="GD step cap (default 100000)")
    args = ap.parse_args()
    p = Problem(classes=10, per_class=5, width=70, depth=2, loss="ce", activation="linear", weight_decay=2.0**-10)
    arch, decays = p.architecture, p.decays
    closed = {"dnc": theory.dnc(p).loss, "low-rank": theory.low_rank(p).loss}
    cfg = SolverConfig(lr=0.5, steps=args.max_steps, tol=1e-4, init_scale=0.1)
    runs = solve(p, cfg, seeds=SEEDS)
    t_gd = clock()
    print(f"GD of {len(SEEDS)} seeds: {t_gd:.0f} s", flush=True)
    limits = gd_batch([r.params for r in runs], p, SolverConfig(lr=cfg.lr, steps=CONTINUE_STEPS, tol=1e-10, log_every=1000))
    print(f"GD run on to 1e-10: {clock() - t_gd:.0f} s", flush=True)
    rows = []
    for run, lim in zip(runs, limits):
        t0 = clock()
        before = analyse(run.params, p)
        ref = critical.refine(run.params, decays, arch, tol=1e-10)
        first = ref
        if ref.status != "converged":  # a second attempt with a larger iteration budget
            ref = critical.refine(ref.params, decays, arch, tol=1e-10, max_iter=250)
        after = analyse(ref.params, p)
        gd_lim = analyse(lim.params, p)
        polished = critical.refine(lim.params, decays, arch, tol=1e-12)
        gd_pol = analyse(polished.params, p)
        desc = critical.refine(run.params, decays, arch, tol=1e-10, mode="descent")
        after_desc = analyse(desc.params, p)
        typ = after.solution_type
        row = {"seed": run.seed, "gd_status": run.status, "gd_steps": run.steps, "gd_grad": run.grad_norm, "gd_loss": run.loss,
               "type_before": before.solution_type, "rank_before": before.rank["Z"],
               "first_status": first.status, "first_grad": first.grad_norm,
               "refine_status": ref.status, "newton_mr_iterations": ref.iterations + (first.iterations if ref is not first else 0),
               "lsmr_iterations": sum(ref.lsmr_iterations) + (sum(first.lsmr_iterations) if ref is not first else 0),
               "refined_grad": ref.grad_norm, "refined_loss": ref.loss, "type_after": typ, "rank_after": after.rank["Z"],
               "closed_form": closed.get(typ), "refined_minus_closed": ref.loss - closed[typ] if typ in closed else None,
               "grad_history": (first.history + ref.history[1:]) if ref is not first else ref.history, "refine_s": clock() - t0,
               "moved": float(np.linalg.norm(hessian.flatten(ref.params) - hessian.flatten(run.params))
                              / np.linalg.norm(hessian.flatten(run.params))),
               "limit_steps": lim.steps, "limit_grad": lim.grad_norm, "limit_loss": lim.loss, "limit_rank": gd_lim.rank["Z"],
               "refined_minus_limit": ref.loss - lim.loss, "sv_diff_limit": sv_diff(after, gd_lim),
               "ranks_equal_limit": after.rank == gd_lim.rank,
               "polished_status": polished.status, "polished_grad": polished.grad_norm, "polish_moved_sv": sv_diff(gd_pol, gd_lim),
               "sv_diff_polished": sv_diff(after, gd_pol),
               "descent_status": desc.status, "descent_lbfgs_steps": desc.descent_steps, "descent_newton_steps": desc.iterations,
               "descent_grad": desc.grad_norm, "descent_loss": desc.loss, "descent_rank": after_desc.rank["Z"],
               "descent_minus_limit": desc.loss - lim.loss, "descent_sv_diff_limit": sv_diff(after_desc, gd_lim),
               "descent_sv_diff_polished": sv_diff(after_desc, gd_pol), "descent_ranks_equal_limit": after_desc.rank == gd_lim.rank}
        r_ = after.rank["Z"]
        row["stiefel"] = 2 * (r_ * 70 - r_ * (r_ + 1) // 2)
        t1 = clock()
        c = critical.classify(ref.params, decays, arch, method="lanczos", num_samples=8)
        row.update(lanczos_verdict=c.verdict, lanczos_min=c.hessian.min_eigenvalue, lanczos_residual=c.hessian.min_eigenvalue_residual)
        distinct = ref.status == "converged" and all(abs(r["refined_loss"] - ref.loss) > 1e-9 for r in rows if "verdict" in r)
        if distinct and sum("verdict" in r for r in rows) < CLASSIFY:
            c = critical.classify(ref.params, decays, arch, method="inertia")
            row.update(verdict=c.verdict, index=c.index, nullity=c.nullity)
        row["classify_s"] = clock() - t1
        if ref.status == "converged" and row["sv_diff_limit"] > 1e-6:  # not GD's limit: does GD pass by it?
            row["approach"] = closest_approach(run.params, after, p, cfg.lr)
            c = critical.classify(lim.params, decays, arch, method="lanczos", num_samples=8)
            row.update(limit_verdict=c.verdict, limit_min=c.hessian.min_eigenvalue, limit_residual=c.hessian.min_eigenvalue_residual)
            if desc.status == "converged":  # exact counts at the descent point (= GD's limit)
                c = critical.classify(desc.params, decays, arch, method="inertia")
                row.update(descent_verdict=c.verdict, descent_index=c.index, descent_nullity=c.nullity,
                           descent_stiefel=2 * (after_desc.rank["Z"] * 70 - after_desc.rank["Z"] * (after_desc.rank["Z"] + 1) // 2))
        rows.append(row)
        print(f"  seed {run.seed}: done at t = {clock():.0f} s", flush=True)
    cols = [("seed", "d"), ("gd_steps", "d"), ("gd_grad", ".2e"), ("gd_loss", ".10f"), ("type_before", "s"), ("rank_before", "d"),
            ("newton_mr_iterations", "d"), ("lsmr_iterations", "d"), ("refined_grad", ".2e"), ("refined_loss", ".13f"),
            ("refined_minus_closed", ".1e"), ("type_after", "s"), ("rank_after", "d"), ("moved", ".1e"), ("refine_status", "s"), ("refine_s", ".0f"),
            ("lanczos_verdict", "s"), ("lanczos_min", ".2e"), ("lanczos_residual", ".0e"), ("verdict", "s"), ("index", "d"), ("nullity", "d"),
            ("stiefel", "d"), ("classify_s", ".0f")]
    table(rows, cols, f"Fig 1 setting (K=10 n=5 d=70 L=2 lambda=2^-10): GD (lr 0.5, std 0.1, tol 1e-4, <= {args.max_steps} steps) then "
          "Newton-MR (tol 1e-10); moved = |refined - GD| / |GD|; stiefel = 2 (r d - r(r+1)/2)")
    table(rows, [("seed", "d"), ("limit_steps", "d"), ("limit_grad", ".1e"), ("limit_loss", ".13f"), ("limit_rank", "d"),
                 ("polished_grad", ".1e"), ("polish_moved_sv", ".1e"),
                 ("refined_minus_limit", ".1e"), ("sv_diff_limit", ".1e"), ("sv_diff_polished", ".1e"), ("ranks_equal_limit", "s"),
                 ("descent_status", "s"), ("descent_lbfgs_steps", "d"), ("descent_newton_steps", "d"), ("descent_grad", ".1e"),
                 ("descent_rank", "d"), ("descent_minus_limit", ".1e"), ("descent_sv_diff_limit", ".1e"), ("descent_sv_diff_polished", ".1e"),
                 ("descent_ranks_equal_limit", "s")],
          f"refined points (nearest; descent) vs GD's limit (GD run on from its end point to |grad| <= 1e-10, <= {CONTINUE_STEPS} steps; "
          "polished: that limit refined to 1e-12)")
    for row in rows:
        if "approach" in row:
            a = row["approach"]
            print(f"seed {row['seed']}: refined point is not GD's limit. GD's closest approach to it: sv diff {a['sv_diff']:.2e} "
                  f"at {a['step']} steps after the end point (|grad| {a['grad_norm']}, loss {a.get('loss')}); "
                  f"GD's limit: {row['limit_verdict']}, Lanczos min eig {row['limit_min']:.2e} (residual {row['limit_residual']:.0e}); "
                  f"descent point (inertia): {row.get('descent_verdict')}, index {row.get('descent_index')}, nullity {row.get('descent_nullity')} "
                  f"(orbit {row.get('descent_stiefel')})")
    name = "refine_fig1" if args.max_steps == 100_000 else f"refine_fig1_max{args.max_steps}"
    save(name, {"setting": {"K": 10, "n": 5, "width": 70, "depth": 2, "lambda": 2.0**-10, "solver": cfg.to_dict(), "seeds": SEEDS,
                            "continue_steps": CONTINUE_STEPS},
                "closed_form": closed, "gd_s": t_gd, "rows": rows, "runtime_s": clock()})
    print(f"total {clock():.0f} s")


if __name__ == "__main__":
    main()
