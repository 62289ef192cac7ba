"""GD's end points against the optimum (dufm.optimum's best minimum): Garrod & Keating Fig 1.

Problem: linear CE, K = 10, n = 5, L = 2, lambda = 2^-10, width 70; full-batch GD, lr 0.5, Gaussian
init of std 0.1 and 0.01, seeds 0-4, at most 100 000 steps, stop at |grad| <= 1e-10 (the settings of
experiments/README.md). Each end point is matched to the distinct minimum of the reduced problem
whose loss it equals (to 1e-6 relative): GD stops at local minima that dufm optimum lists.

    python experiments/optima_gd.py          # about 3 min on 2 CPU cores

Writes docs/figures/optima_gd_fig1.json. (The Thm 3 rows of docs/optima.md take GD's end points
from docs/reproduction.md.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import dufm

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "optima_gd_fig1.json"


def main():
    dufm.use_cpu_cores()
    t0 = time.perf_counter()
    problem = dufm.Problem()  # Garrod & Keating Fig 1
    o = dufm.optimum(problem, hessian_limit=0)
    minima = [(m.loss, m.rank) for m in o.distinct_minima]
    rows = []
    for std in (0.1, 0.01):
        runs = dufm.solve(problem, dufm.SolverConfig(init_scale=std), seeds=range(5))
        for r in runs:
            a = dufm.analyse(r.params, problem)
            match = next((i for i, (loss, rank) in enumerate(minima) if abs(loss - r.loss) <= 1e-6 * loss and rank == a.rank["Z"]), None)
            rows.append({"init_std": std, "seed": r.seed, "status": str(r.status), "steps": r.steps, "loss": r.loss, "rank": a.rank["Z"],
                         "gap": r.loss - o.loss, "reduced_minimum": match})
            print(f"std {std:g} seed {r.seed}: {r.status} after {r.steps} steps, loss {r.loss:.12g} rank {a.rank['Z']} "
                  f"gap {r.loss - o.loss:+.3e}; distinct minimum #{match}", flush=True)
    out = {"optimum": {"loss": o.loss, "rank": o.rank}, "distinct_minima": minima, "rows": rows, "runtime_s": time.perf_counter() - t0}
    OUT.write_text(json.dumps(out, indent=1))
    print(f"optimum {o.loss:.15g} rank {o.rank}; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
