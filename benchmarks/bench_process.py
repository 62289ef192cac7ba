"""What a user waits for: whole ``dufm`` processes, cold and warm compilation cache, beside their floors and PyTorch.

    python benchmarks/bench_process.py [--repeat 3] [--quick]
    python benchmarks/bench_process.py --many 1000 [--peak-gflops P]     # the GPU path: 1 000 seeds in one program

Every figure is the wall time of a new process (``subprocess.run``), the
median of ``--repeat`` runs: ``python -c "import jax"`` and the same plus one
tiny computation (the floors any JAX program pays), ``dufm --help``,
``dufm theory``, ``dufm solve`` with its defaults (Garrod & Keating Fig 1, one
seed, to convergence), ``dufm solve --steps 1 --seeds 10``,
``dufm solve --seeds 10 --steps 4000 --tol 0``, the Fig 2 width sweep
(experiments/garrod2025_fig2_width.toml, 7 widths x 10 seeds, with its step
limit cut to ``--sweep-steps``), and benchmarks/torch_fig1.py (the same ten
runs as a PyTorch loop, float64). "cold" runs against an empty compilation
cache (a new ``DUFM_CACHE_DIR`` each time), "warm" against one that a run of
the same command has filled.

Then, in this process, the steady state of 10 Fig 1 seeds (4000 GD steps,
``run_many``): on one CPU device and on all (the core-scaling ratio), and
against the roofline of the step's own matrix products — the six products of
one GD step (forward W_l H_l, backward dW_l and dH_l; Fig 1 shapes, float64)
timed alone inside one compiled loop, one seed after another as ``run_many``
runs them on a CPU device.

Targets: solve --steps 1 --seeds 10 (warm) <= 2x the floor with a
computation; --help <= 0.5x ``import jax``; solve --seeds 10 --steps 4000
(warm) >= 4x faster than the PyTorch process; >= 1.7x from one device to
two; >= 70 % of the products' roofline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable


def wall(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return dt


def measure(name: str, cmd, repeat: int, cache: bool, scratch: Path) -> dict:
    """Median cold and warm wall times of ``cmd`` (a list, or a function of a fresh output directory)."""
    make = cmd if callable(cmd) else (lambda out: cmd)
    base = {k: v for k, v in os.environ.items() if k not in ("DUFM_CACHE_DIR", "DUFM_COMPILATION_CACHE")}
    cold, warm = [], []
    for i in range(repeat if cache else 0):
        cache_dir = scratch / f"cache-{name}-{i}"
        cold.append(wall(make(scratch / f"out-{name}-c{i}"), {**base, "DUFM_CACHE_DIR": str(cache_dir)}))
    shared = scratch / f"cache-{name}-warm"
    wall(make(scratch / f"out-{name}-fill"), {**base, "DUFM_CACHE_DIR": str(shared)})
    for i in range(repeat):
        warm.append(wall(make(scratch / f"out-{name}-w{i}"), {**base, "DUFM_CACHE_DIR": str(shared)}))
    return {"cold": statistics.median(cold) if cold else None, "warm": statistics.median(warm)}


def steady_state(seeds: int, steps: int, repeat: int) -> dict:
    """Seed-steps/s of 10 Fig 1 seeds on one device and on all, and the step's products alone (module docstring)."""
    import dufm

    dufm.use_cpu_cores()
    import jax
    import jax.numpy as jnp
    from bench_solver import best_time  # this script's folder is on sys.path

    from dufm import SolverConfig, run_many
    from dufm.solving.solver import initial_params

    jax.config.update("jax_enable_x64", True)
    problem = dufm.Problem()
    cfg = SolverConfig(steps=steps, tol=0.0)
    params0 = initial_params(problem, range(seeds), cfg)
    out = {}
    for label, devices in (("1 device", jax.devices()[:1]), (f"{jax.device_count()} devices", jax.devices())):
        run_many(params0, problem.decays, problem.architecture, cfg, devices=devices)  # compile
        best, _ = best_time(lambda: run_many(params0, problem.decays, problem.architecture, cfg, devices=devices), repeat)
        out[label] = seeds * steps / best

    d, N, K = problem.widths[0], problem.samples, problem.classes
    rng = jnp.ones
    W1, W2, H = 0.01 * rng((d, d)), 0.01 * rng((K, d)), rng((d, N))

    @jax.jit
    def products(W1, W2, H):
        def body(i, c):
            W1, W2, H = c
            H2 = W1 @ H              # forward
            Z = W2 @ H2
            dW2 = Z @ H2.T           # backward: dZ (here Z) times the layer's input
            dH2 = W2.T @ Z
            dW1 = dH2 @ H.T
            dH = W1.T @ dH2
            # a dependent, bounded carry keeps every product inside the loop
            return W1 + 1e-30 * dW1, W2 + 1e-30 * dW2, H + 1e-30 * dH
        return jax.lax.fori_loop(0, steps, body, (W1, W2, H))

    jax.block_until_ready(products(W1, W2, H))
    t, _ = best_time(lambda: jax.block_until_ready(products(W1, W2, H)), repeat)
    out["products alone, 1 device"] = steps / t
    return out


def many_seeds(seeds: int, steps: int, peak_gflops: float | None) -> None:
    """``seeds`` Fig 1 runs in one program (vmap, sharded over every device), float32 (highest precision) and float64."""
    import dufm

    dufm.use_cpu_cores()
    import jax
    from bench_solver import best_time  # this script's folder is on sys.path

    from dufm import SolverConfig, run_many
    from dufm.solving.budget import flops_per_step
    from dufm.solving.solver import initial_params

    print(f"\n{seeds} Fig 1 seeds x {steps} GD steps in one program (vmap over seeds, sharded over "
          f"{jax.device_count()} {jax.devices()[0].platform} device(s): {jax.devices()[0].device_kind})")
    for dtype in ("float32", "float64"):
        problem = dufm.Problem(dtype=dtype)
        cfg = SolverConfig(steps=steps, tol=0.0)  # precision "highest", the default
        params0 = initial_params(problem, range(seeds), cfg)
        t_first, _ = best_time(lambda: run_many(params0, problem.decays, problem.architecture, cfg, batching="vmap"), 1)
        t, _ = best_time(lambda: run_many(params0, problem.decays, problem.architecture, cfg, batching="vmap"), 1)
        rate = seeds * steps / t
        gflops = rate * flops_per_step(problem.architecture) / 1e9
        peak = f", {100 * gflops / peak_gflops:.1f} % of {peak_gflops:g} GFLOP/s" if peak_gflops else ""
        print(f"  {dtype}: {t:.2f} s ({t_first:.2f} s with compilation), {rate:,.0f} seed-steps/s, {gflops:.1f} GFLOP/s{peak}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is kept (default 3)")
    ap.add_argument("--sweep-steps", type=int, default=2000, help="step limit of the Fig 2 width sweep (default 2000)")
    ap.add_argument("--quick", action="store_true", help="one run per figure, no sweep, no cold runs")
    ap.add_argument("--many", type=int, metavar="SEEDS", help="only the GPU-path figure: SEEDS Fig 1 runs in one program")
    ap.add_argument("--many-steps", type=int, default=4000, help="steps of each run with --many (default 4000)")
    ap.add_argument("--peak-gflops", type=float, help="the device's peak rate, to print the fraction reached with --many")
    args = ap.parse_args(argv)
    if args.many:
        many_seeds(args.many, args.many_steps, args.peak_gflops)
        return 0
    repeat = 1 if args.quick else args.repeat
    dufm = [PY, "-m", "dufm"]
    try:
        import torch  # noqa: F401
        has_torch = True
    except ImportError:
        has_torch = False
    cases = [
        ("import jax", [PY, "-c", "import jax"], False),
        ("import jax + zeros(1)", [PY, "-c", "import jax; jax.numpy.zeros(1).block_until_ready()"], False),
        ("dufm --help", [*dufm, "--help"], False),
        ("dufm theory", [*dufm, "theory"], True),
        ("dufm solve", [*dufm, "solve"], True),
        ("dufm solve --steps 1 --seeds 10", [*dufm, "solve", "--steps", "1", "--seeds", "10"], True),
        ("dufm solve --seeds 10 --steps 4000", [*dufm, "solve", "--seeds", "10", "--steps", "4000", "--tol", "0"], True),
    ]
    if not args.quick:
        sweep = str(ROOT / "experiments" / "garrod2025_fig2_width.toml")
        cases.append((f"Fig 2 width sweep ({args.sweep_steps} steps)",
                      lambda out: [*dufm, "sweep", sweep, "--steps", str(args.sweep_steps), "--out", str(out)], True))
    if has_torch:  # PyTorch's default thread count, and one thread (faster for these small products on some machines)
        cases.append(("PyTorch loop, 10 seeds x 4000 steps", [PY, str(HERE / "torch_fig1.py")], False))
        cases.append(("PyTorch loop, same, 1 thread", [PY, str(HERE / "torch_fig1.py"), "--threads", "1"], False))
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
    scratch = Path(tempfile.mkdtemp(prefix="dufm-bench-"))
    try:
        res = {}
        print(f"\n{'whole process (median of ' + str(repeat) + ')':<46} {'cold s':>8} {'warm s':>8}")
        for name, cmd, cache in cases:
            r = measure(name.split(" (")[0].replace(" ", "_"), cmd, repeat, cache and not args.quick, scratch)
            res[name] = r
            cold = "" if r["cold"] is None else f"{r['cold']:.2f}"
            print(f"{name:<46} {cold:>8} {r['warm']:8.2f}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    steady = steady_state(10, 4000, repeat=max(2, repeat))
    print("\nsteady state, 10 Fig 1 seeds x 4000 GD steps (run_many, compile excluded)")
    for k, v in steady.items():
        print(f"  {k:<28} {v:10.0f} {'steps/s' if 'products' in k else 'seed-steps/s'}")

    floor, imp = res["import jax + zeros(1)"]["warm"], res["import jax"]["warm"]
    one = res["dufm solve --steps 1 --seeds 10"]["warm"]
    help_ = res["dufm --help"]["warm"]
    dev = [v for k, v in steady.items() if k.endswith("devices")][0]
    print("\nratios and targets:")
    print(f"  solve --steps 1 --seeds 10 (warm) / floor      {one / floor:5.2f}x   target <= 2     "
          f"{'met' if one <= 2 * floor else 'NOT met'}")
    print(f"  dufm --help / import jax                        {help_ / imp:5.2f}x   target <= 0.5   "
          f"{'met' if help_ <= 0.5 * imp else 'NOT met'}")
    if has_torch:
        torch_best = min(res["PyTorch loop, 10 seeds x 4000 steps"]["warm"], res["PyTorch loop, same, 1 thread"]["warm"])
        ratio = torch_best / res["dufm solve --seeds 10 --steps 4000"]["warm"]
        print(f"  faster PyTorch process / dufm solve --seeds 10 --steps 4000 (warm)  {ratio:5.2f}x   target >= 4  "
              f"{'met' if ratio >= 4 else 'NOT met'}")
    else:
        print("  PyTorch: not installed (pip install torch==2.13.0, the CPU build), no ratio")
    scale = dev / steady["1 device"]
    print(f"  all devices / one device (10 seeds)             {scale:5.2f}x   target >= 1.7   {'met' if scale >= 1.7 else 'NOT met'}")
    roof = steady["1 device"] / steady["products alone, 1 device"]
    print(f"  step / its products alone (one device)          {100 * roof:5.1f} %  target >= 70 %  "
          f"{'met' if roof >= 0.7 else 'NOT met'}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
