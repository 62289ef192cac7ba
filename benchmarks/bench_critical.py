"""Time to a certified critical point (|grad| <= 1e-10, float64) on the Garrod & Keating Fig 1 problem.

    python benchmarks/bench_critical.py [--seeds 3]

Side by side, per seed: plain GD (lr 0.5) to 1e-10; L-BFGS (optax, zoom line
search) to 1e-10; GD to 1e-4 then Newton-MR (dufm.critical.refine); L-BFGS to
1e-4 then Newton-MR. Wall times are warm (every compiled program is run once
before timing; compile times are printed separately) and include the
final analysis-free result transfer. Prints the end loss, solution type and
the speed-up over plain GD.
"""

from __future__ import annotations

import argparse
import time

from dufm import Problem, SolverConfig, analyse, solve, theory
from dufm.landscape.critical import refine

PROBLEM = Problem(classes=10, per_class=5, width=70, depth=2, weight_decay=2.0**-10)


def _solve(cfg, seed):
    return solve(PROBLEM, cfg, [seed])[0]


def path_solver(cfg):
    def run(seed):
        r = _solve(cfg, seed)
        return r.params, r.grad_norm, r.loss, f"{r.steps} steps"

    return run


def path_polish(cfg):
    def run(seed):
        r = _solve(cfg, seed)
        ref = refine(r.params, PROBLEM.decays, PROBLEM.architecture, tol=1e-10)
        return ref.params, ref.grad_norm, ref.loss, f"{r.steps} steps + {ref.iterations} Newton-MR"

    return run


PATHS = {
    "GD to 1e-10 (plain)": path_solver(SolverConfig(optimizer="gd", lr=0.5, steps=200_000, tol=1e-10)),
    "L-BFGS to 1e-10": path_solver(SolverConfig(optimizer="lbfgs", steps=20_000, tol=1e-10)),
    "GD to 1e-4 + Newton-MR": path_polish(SolverConfig(optimizer="gd", lr=0.5, steps=200_000, tol=1e-4)),
    "L-BFGS to 1e-4 + Newton-MR": path_polish(SolverConfig(optimizer="lbfgs", steps=20_000, tol=1e-4)),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    refs = {"dnc": theory.dnc(PROBLEM).loss, "low-rank": theory.low_rank(PROBLEM).loss}
    print(f"problem: K=10 n=5 d=70 L=2 CE lambda=2^-10 ({PROBLEM.parameter_count} parameters), float64, "
          f"jax {__import__('jax').__version__} on {__import__('jax').devices()[0].platform}")
    print(f"closed forms: DNC {refs['dnc']:.16g}, low-rank {refs['low-rank']:.16g}\n")
    compile_s = {}
    for name, run in PATHS.items():  # compile (and warm) every program once
        t = time.perf_counter()
        run(0)
        compile_s[name] = time.perf_counter() - t
    rows = []
    for seed in range(args.seeds):
        for name, run in PATHS.items():
            t = time.perf_counter()
            params, g, loss, what = run(seed)
            wall = time.perf_counter() - t
            kind = analyse(params, PROBLEM).solution_type
            rows.append((seed, name, wall, g, loss, kind, what))
    print(f"{'seed':>4}  {'path':28s} {'wall s':>8} {'|grad|':>9} {'loss':>20} {'type':>9} {'vs GD':>7}  work")
    for seed in range(args.seeds):
        base = next(r[2] for r in rows if r[0] == seed and r[1].startswith("GD to 1e-10"))
        for s, name, wall, g, loss, kind, what in (r for r in rows if r[0] == seed):
            print(f"{s:>4}  {name:28s} {wall:8.3f} {g:9.1e} {loss:20.16f} {kind:>9} {base / wall:6.1f}x  {what}")
    print("\nfirst call of each path (compilation + run, seed 0): " + ", ".join(f"{k} {v:.1f} s" for k, v in compile_s.items()))


if __name__ == "__main__":
    main()
