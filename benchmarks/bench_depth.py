"""Gradient flow against fixed-step GD at depth: steps, linear-solve work and wall time to the same end point.

    python benchmarks/bench_depth.py [--depths 4 16 32] [--gd-steps 20000] [--json out.json]

The setting of Garrod & Keating's Thm 3 (linear CE, K = 10, n = 5, d = 30,
lambda = 0.02 / L^2 on every factor), orthogonal init scale 1, seed 0, float64.
For each depth L:

* **flow**: ``optimizer = "flow"`` to ||grad|| <= 1e-10 (rtol 1e-6, atol 1e-9):
  accepted and rejected steps, the flow time reached, the GMRES cycles of
  its Newton solves (each cycle is at most 10 Hessian-vector products;
  counted on the host through :func:`dufm.solving.flow.linear_solver`), and
  the wall time with and without compilation.
* **GD**: fixed step ``lr`` (0.1, halved until it does not diverge), for
  ``--gd-steps`` steps from the same start: its seconds per step and its end
  loss. The steps GD needs to bring ||grad|| to the flow's tolerance 1e-10 are
  extrapolated from its measured rate over the last half of the run (||grad||
  decays as exp(-r t) once only the slow directions are left; r is the slope of
  log ||grad||), and converted to wall time at its measured speed.

Prints one table; the ratio column is GD's (extrapolated) wall time over the
flow's. Two cores: both use every core (``dufm.use_cpu_cores``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import lineax as lx
import numpy as np

import dufm
from dufm import SolverConfig, run_many
from dufm.solving import flow
from dufm.solving.solver import initial_params

CYCLES: list[int] = []


class CountingGMRES(lx.GMRES):
    """lineax's GMRES that reports each solve's restart cycles to the host (``stats["num_steps"]``)."""

    def compute(self, state, vector, options):
        solution, result, stats = super().compute(state, vector, options)
        jax.debug.callback(lambda n: CYCLES.append(int(n)), stats["num_steps"])
        return solution, result, stats


def counting_linear_solver(inputs):
    s = flow.GMRES_TOL
    return CountingGMRES(rtol=s * inputs.rtol, atol=s * inputs.atol, restart=flow.GMRES_RESTART, max_steps=flow.GMRES_CYCLES)


def problem_at(depth: int) -> dufm.Problem:
    return dufm.Problem(classes=10, per_class=5, width=30, depth=depth, weight_decay=0.02 / depth**2)


def timed(call):
    t = time.perf_counter()
    out = call()
    return time.perf_counter() - t, out


def run_flow(problem: dufm.Problem) -> dict:
    cfg = SolverConfig(optimizer="flow", lr=1e-3, steps=20_000, tol=1e-10, init="orthogonal", init_scale=1.0, log_every=10)
    p0 = initial_params(problem, [0], cfg)
    call = lambda: run_many(p0, problem.decays, problem.architecture, cfg)[0]  # noqa: E731
    first, _ = timed(call)  # compiles (counting solver: same program as the plain one, plus a host callback)
    CYCLES.clear()
    wall, run = timed(call)
    return dict(status=str(run.status), loss=run.loss, grad_norm=run.grad_norm, accepted=run.steps, rejected=run.rejected,
                time=run.time, solves=len(CYCLES), cycles=int(np.sum(CYCLES)), wall_s=wall, compile_s=first - wall)


def run_gd(problem: dufm.Problem, steps: int, target: float) -> dict:
    """GD from the flow's start; ``target``: the flow's end loss (GD's gap to it is reported)."""
    lr = 0.1
    while True:
        cfg = SolverConfig(lr=lr, steps=steps, tol=1e-10, init="orthogonal", init_scale=1.0, log_every=max(1, steps // 200))
        p0 = initial_params(problem, [0], cfg)
        call = lambda: run_many(p0, problem.decays, problem.architecture, cfg)[0]  # noqa: E731
        first, run = timed(call)
        if run.status != "diverged" or lr < 1e-4:
            break
        lr /= 2
    wall, run = timed(call)
    out = dict(lr=lr, status=str(run.status), steps=run.steps, loss=run.loss, grad_norm=run.grad_norm, s_per_step=wall / max(run.steps, 1))
    if run.status == "diverged":
        return out
    g = np.asarray(run.history.grad_norm)
    t = np.asarray(run.history.step, float)
    half = (t >= t[-1] / 2) & (g > 0)
    if run.status == "converged" or half.sum() < 3:
        out.update(steps_needed=run.steps, extrapolated=False)
        return out
    rate = -np.polyfit(t[half], np.log(g[half]), 1)[0]  # per step
    need = run.steps + (np.log(g[-1] / 1e-10) / rate if rate > 0 else np.inf)
    out.update(steps_needed=float(need), extrapolated=True, rate=float(rate), loss_gap=run.loss - target)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[4, 16, 32])
    ap.add_argument("--gd-steps", type=int, default=20_000)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    dufm.use_cpu_cores()
    flow.linear_solver = counting_linear_solver  # the flow module reads it when it builds its solver
    rows = []
    print(f"{'L':>3} {'lambda':>10} | {'flow: status':>12} {'loss':>12} {'accepted':>8} {'rejected':>8} {'solves':>7} "
          f"{'cycles':>7} {'flow time':>10} {'wall s':>7} | {'GD: lr':>7} {'loss':>12} {'s/step':>9} "
          f"{'steps needed':>13} {'wall s':>9} | {'GD / flow':>9}")
    for depth in args.depths:
        problem = problem_at(depth)
        f = run_flow(problem)
        g = run_gd(problem, args.gd_steps, f["loss"])
        g_wall = g.get("steps_needed", np.nan) * g["s_per_step"]
        rows.append(dict(depth=depth, weight_decay=problem.weight_decay, flow=f, gd=g, gd_wall_s=g_wall))
        needed = f"{g.get('steps_needed', float('nan')):.3g}" + ("*" if g.get("extrapolated") else "")
        print(f"{depth:>3} {problem.weight_decay:>10.4g} | {f['status']:>12} {f['loss']:>12.8f} {f['accepted']:>8} {f['rejected']:>8} "
              f"{f['solves']:>7} {f['cycles']:>7} {f['time']:>10.4g} {f['wall_s']:>7.1f} | {g['lr']:>7.4g} {g['loss']:>12.8f} "
              f"{g['s_per_step']:>9.3g} {needed:>13} {g_wall:>9.3g} | {g_wall / f['wall_s']:>9.3g}", flush=True)
    print("* extrapolated from the rate at which GD's ||grad|| fell over the last half of its run (module docstring); "
          "GMRES cycles are at most 10 Hessian-vector products each; wall s excludes compilation")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
