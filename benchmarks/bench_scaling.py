"""How the solver's cost grows with width d, depth L, samples N and seeds S (float64, fixed step counts).

    python benchmarks/bench_scaling.py [--out docs/figures/performance_scaling.png]

Around the Garrod & Keating Fig 1 problem (K = 10, n = 5 so N = 50, d = 70,
L = 2, linear, CE, lambda = 2^-10; GD with lr 0.1, see measure()), one quantity is varied at a
time; every point runs a fixed number of GD steps (tol = 0) with
:func:`dufm.run_many` on all local devices (the script calls
:func:`dufm.use_cpu_cores` first: one JAX CPU device per core, or
``DUFM_CPU_DEVICES=n``), compile time excluded; the time includes copying the
results to the host (``run_many`` returns host data: the time is what a caller
waits for, not the device program alone).
Prints seconds per seed-step and the achieved GFLOP/s (6 N sum_l d_{l+1} d_l
FLOPs per seed-step, d_{L+1} = K; see bench_solver.py) and plots the time per
seed-step against each quantity with the FLOP model's prediction at the
measured 2048 x 2048 matmul rate for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import jax
import numpy as np

import dufm
from dufm import SolverConfig, run_many
from dufm.runtime import cpu_cores_from_env
from dufm.solving.solver import initial_params

sys.path.insert(0, str(Path(__file__).parent))
from bench_solver import best_time, cpu_model, flops_per_step, matmul_gflops  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 for the matmul reference rate (this script's own JAX work)

BASE = dict(width=70, depth=2, per_class=5, seeds=1)
AXES = {
    "width": [16, 32, 70, 128, 256, 512, 1024],
    "depth": [1, 2, 3, 4, 6, 8],
    "per_class": [2, 5, 10, 20, 50, 100],
    "seeds": [1, 2, 4, 8, 16, 32],
}
LABELS = {"width": "width d", "depth": "depth L", "per_class": "samples N = 10 n", "seeds": "seeds S (one program)"}


def measure(width, depth, per_class, seeds, budget_s=0.4) -> dict:
    problem = dufm.Problem(classes=10, per_class=per_class, width=width, depth=depth, weight_decay=2.0**-10)
    fl = flops_per_step(problem)
    # the same step count for every S (so a run's fixed costs are amortised alike), ~budget_s for one seed
    steps = int(np.clip(budget_s * 2e10 / fl, 20, 5000)) // 10 * 10
    # lr 0.1, not 0.5: at depth 8 (init std 0.1) GD with 0.5 diverges; the cost of a step does not depend on lr
    cfg = SolverConfig(lr=0.1, steps=steps, tol=0.0, log_every=min(100, steps))
    p0 = initial_params(problem, range(seeds), cfg)
    call = lambda: run_many(p0, problem.decays, problem.architecture, cfg)  # noqa: E731
    first, runs = best_time(call, 1)  # with compilation
    done = np.array([r.steps for r in runs])
    if not np.all(done == steps):  # a run that diverged stops early: its throughput would be meaningless
        raise RuntimeError(f"width={width} depth={depth} per_class={per_class}: runs stopped at steps {done.tolist()}, "
                           f"status {[str(r.status) for r in runs]}")
    best, _ = best_time(call, 2)
    per = best / (steps * seeds)
    return {"steps": steps, "s_per_seed_step": per, "gflops": fl / per / 1e9, "flops": fl, "compile_s": max(first - best, 0)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "figures" / "performance_scaling.png"))
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure from the .json written next to it")
    args = ap.parse_args(argv)
    data = Path(args.out).with_suffix(".json")
    if args.plot_only:
        saved = json.loads(data.read_text())
        plot(saved["results"], saved["peak"], saved["title"], args.out)
        return 0
    dufm.use_cpu_cores(cpu_cores_from_env())  # before any JAX computation: one CPU device per core (DUFM_CPU_DEVICES=n)
    peak = matmul_gflops(3)["jax"]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; jax {jax.__version__} on {len(jax.local_devices())} "
          f"{jax.local_devices()[0].platform} device(s); load average {os.getloadavg()[0]:.2f}; "
          f"2048x2048 float64 matmul {peak:.1f} GFLOP/s")
    results = {}
    print(f"{'axis':10s} {'value':>6s} {'steps':>6s} {'us/seed-step':>13s} {'GFLOP/s':>8s} {'MFLOP/step':>10s} {'compile s':>9s}")
    for axis, values in AXES.items():
        results[axis] = []
        for v in values:
            r = measure(**{**BASE, axis: v})
            results[axis].append(r)
            print(f"{axis:10s} {v:6d} {r['steps']:6d} {1e6 * r['s_per_seed_step']:13.1f} {r['gflops']:8.2f} "
                  f"{r['flops'] / 1e6:10.3f} {r['compile_s']:9.2f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    title = (f"dufm GD step cost around Fig 1 (K=10, n=5, d=70, L=2), float64, {cpu_model()}, "
             f"{len(jax.local_devices())} JAX CPU devices")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps({"title": title, "peak": peak, "results": results}, indent=1))
    plot(results, peak, title, args.out)
    return 0


def plot(results: dict, peak: float, title: str, out: str):
    """Time per seed-step against each varied quantity (log-log), with the FLOP model at ``peak`` GFLOP/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    for ax, (axis, values) in zip(axes, AXES.items()):
        x = np.array(values) * (10 if axis == "per_class" else 1)
        y = np.array([1e6 * r["s_per_seed_step"] for r in results[axis]])
        model = np.array([1e6 * r["flops"] / (peak * 1e9) for r in results[axis]])
        ax.loglog(x, y, "o-", label="dufm (measured)")
        ax.loglog(x, model, "--", color="grey", label="FLOPs / matmul rate")
        ax.set_xticks(x, [str(int(v)) for v in x])
        ax.minorticks_off()
        ax.set_ylim(min(model.min(), y.min()) / 1.5, max(model.max(), y.max()) * 1.5)
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel(LABELS[axis])
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("µs per seed-step")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
