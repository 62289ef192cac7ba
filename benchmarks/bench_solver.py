"""Throughput of dufm's solver against a PyTorch loop and a naive JAX loop (float64, fixed step counts).

    python benchmarks/bench_solver.py            # about 2-3 minutes on a 2-core CPU
    python benchmarks/bench_solver.py --quick    # a quarter of the steps (a smoke test)

Three implementations of the same problem, run side by side in one process:

* ``dufm``: :func:`dufm.run_many` — all seeds in one compiled program,
  split over the JAX devices (the script calls :func:`dufm.use_cpu_cores`
  first: one device per CPU core, or ``DUFM_CPU_DEVICES=n``, ``1`` for one);
  ``dufm 1dev`` is the same on one device. Its time includes copying the
  results to the host and building the :class:`dufm.Run` records
  (``run_many`` returns host data: the time is what a caller waits for, not
  the device program alone).
* ``torch``: written the way the public neural-collapse repos do it: tensors
  with ``requires_grad``, ``torch.optim.SGD`` (weight decay through the
  optimiser), a Python loop per step, seeds one after another, float64.
  PyTorch's default thread count and one thread are both tried for a few
  steps and the faster is used (on a busy 2-core machine OpenMP's spinning
  threads can be 50x slower than one thread).
* ``naive-jax``: a jitted ``value_and_grad`` + GD step called from a Python
  for-loop, seeds one after another.

Every implementation starts from dufm's initial parameters (copied into torch)
and does exactly ``steps`` GD updates (``tol = 0``: no early stop); the final
losses are compared (relative difference, must be <= 1e-10).

Throughput is seed-steps per second, compile time excluded (reported apart:
first call minus a timed call). FLOPs per seed-step (linear deep UFM, no
bias, K classes, N samples, widths d_1..d_L, d_{L+1} := K) are counted
analytically from the matrix products only:

    forward  Z = W_L ... W_1 H_1:           2 N sum_{l=1}^{L} d_{l+1} d_l
    backward dW_l = dH_{l+1} H_l^T and dH_l = W_l^T dH_{l+1}: twice that
    total                                    6 N sum_{l=1}^{L} d_{l+1} d_l

(elementwise work — softmax, regulariser, update — is O(parameters) and not
counted). The achieved GFLOP/s is set against a 2048 x 2048 float64 matmul
measured in the same run (jax.numpy, and torch's).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import dufm
from dufm import SolverConfig, run_many
from dufm.model.objective import objective
from dufm.runtime import cpu_cores_from_env
from dufm.solving import budget
from dufm.solving.solver import initial_params

jax.config.update("jax_enable_x64", True)  # float64 for this script's own JAX work (matmul, naive-jax loop)

try:
    import torch
    from torch_fig1 import train  # the PyTorch loop, shared with bench_process.py (this script's folder is on sys.path)
except ImportError:  # benchmark-only extra: pip install -e ".[bench]"
    torch = None
TORCH_DEFAULT_THREADS = torch.get_num_threads() if torch is not None else 0

LAMBDA = 2.0**-10
LR = 0.5
# name, width, seeds, steps (Garrod & Keating Fig 1: K=10, n=5, L=2, CE, lambda=2^-10, lr 0.5, init std 0.1)
PROBLEMS = [
    ("fig1 d=70", 70, 1, 4000),
    ("fig1 d=70", 70, 10, 1000),
    ("wide d=256", 256, 10, 200),
    ("wide d=1024", 1024, 10, 20),
]


def flops_per_step(problem: dufm.Problem) -> float:
    """6 N sum_l d_{l+1} d_l (d_{L+1} = K): forward + backward matrix products of one GD step (dufm.solving.budget's count)."""
    return budget.flops_per_step(problem.architecture)


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def matmul_gflops(repeat: int = 3, n: int = 2048) -> dict:
    rates = {}
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)))
    mm = jax.jit(lambda x, y: x @ y)
    mm(a, a).block_until_ready()
    t, _ = best_time(lambda: mm(a, a).block_until_ready(), repeat)
    rates["jax"] = 2 * n**3 / t / 1e9
    if torch is not None:
        b = torch.from_numpy(np.array(a)).to(torch_device())
        sync = torch.cuda.synchronize if b.is_cuda else (lambda: None)
        b @ b
        t, _ = best_time(lambda: (b @ b, sync()), repeat)
        rates["torch"] = 2 * n**3 / t / 1e9
    return rates


def bench_dufm(problem, params0, steps, repeat, devices):
    """(compile s, run s, final losses) of one compiled program for all seeds (run s includes the copy to the host)."""
    cfg = SolverConfig(lr=LR, steps=steps, tol=0.0, log_every=min(100, steps))
    call = lambda: run_many(params0, problem.decays, problem.architecture, cfg, devices=devices)  # noqa: E731
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    t, runs = best_time(call, repeat)
    return max(first - t, 0.0), t, np.array([np.nan if r.loss is None else r.loss for r in runs])


def bench_naive_jax(problem, params0, steps, repeat):
    arch, dec = problem.architecture, problem.decays
    f = lambda p: objective(p, dec, arch)  # noqa: E731

    @jax.jit
    def step(p):
        g = jax.grad(f)(p)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g)

    S = jax.tree_util.tree_leaves(params0)[0].shape[0]
    seeds = [jax.tree_util.tree_map(lambda a: a[i], params0) for i in range(S)]
    t0 = time.perf_counter()
    jax.block_until_ready(step(seeds[0]))
    compile_s = time.perf_counter() - t0

    def go():
        finals = []
        for p in seeds:
            for _ in range(steps):
                p = step(p)
            finals.append(jax.block_until_ready(p))
        return finals

    t, finals = best_time(go, repeat)
    return compile_s, t, np.array([float(jax.jit(f)(p)) for p in finals])


def torch_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_run(problem, p0: dufm.Params, steps: int) -> float:
    """One seed, the public repos' way (torch_fig1.train: a Python loop of SGD steps); returns the final objective."""
    return train(np.asarray(p0.H), [np.asarray(W) for W in p0.W], problem.classes, problem.counts[0], steps, LR, LAMBDA)


def torch_threads(problem, p0) -> tuple[int, dict]:
    """PyTorch's faster thread count (default or 1) on this machine now, from a short trial."""
    trial = {}
    for n in sorted({TORCH_DEFAULT_THREADS, 1}, reverse=True):
        torch.set_num_threads(n)
        torch_run(problem, p0, 5)
        t0 = time.perf_counter()
        torch_run(problem, p0, 50)
        trial[n] = 50 / (time.perf_counter() - t0)
    return max(trial, key=trial.get), trial


def bench_torch(problem, params0, steps, repeat, threads):
    torch.set_num_threads(threads)
    S = jax.tree_util.tree_leaves(params0)[0].shape[0]
    seeds = [params0.member(i) for i in range(S)]
    t, losses = best_time(lambda: [torch_run(problem, p, steps) for p in seeds], repeat)
    return 0.0, t, np.array(losses)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a quarter of the steps")
    ap.add_argument("--repeat", type=int, default=2, help="timed repetitions per measurement; the best is kept (default 2)")
    args = ap.parse_args(argv)
    dufm.use_cpu_cores(cpu_cores_from_env())  # before any JAX computation: one CPU device per core (DUFM_CPU_DEVICES=n)
    devices = jax.local_devices()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print(f"jax {jax.__version__} on {len(devices)} {devices[0].platform} device(s); "
          f"torch {torch.__version__ + ' on ' + torch_device() if torch else 'NOT INSTALLED'}; python {platform.python_version()}; float64")
    if torch is None:
        print("PyTorch is missing: the torch rows are skipped. Install the benchmark extra: pip install -e \".[bench]\" "
              "(torch==2.13.0; on a CPU-only machine use the CPU wheel index to avoid the CUDA download)")
    mm = matmul_gflops(args.repeat + 1)
    print("2048x2048 float64 matmul: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in mm.items()))
    peak = max(mm.values())
    rows, checks, summary = [], [], []
    for name, width, S, steps in PROBLEMS:
        steps = max(steps // 4, 4) if args.quick else steps
        problem = dufm.Problem(classes=10, per_class=5, width=width, depth=2, loss="ce", weight_decay=LAMBDA)
        params0 = initial_params(problem, range(S), SolverConfig(init_scale=0.1))
        fl = flops_per_step(problem)
        res = {"dufm": bench_dufm(problem, params0, steps, args.repeat, None)}
        if len(devices) > 1:
            res["dufm 1dev"] = bench_dufm(problem, params0, steps, args.repeat, devices[:1])
        res["naive-jax"] = bench_naive_jax(problem, params0, steps, args.repeat)
        note = ""
        if torch is not None:
            threads, trial = torch_threads(problem, params0.member(0))
            note = f"torch threads {threads} (trial steps/s: " + ", ".join(f"{k}: {v:.0f}" for k, v in trial.items()) + ")"
            res["torch"] = bench_torch(problem, params0, steps, args.repeat, threads)
        ref = res["dufm"][2]
        for impl, (comp, t, losses) in res.items():
            rate = S * steps / t
            rel = float(np.max(np.abs(losses - ref) / np.abs(ref)))
            rows.append((name, S, steps, impl, t, rate, rate * fl / 1e9, comp, rel))
            checks.append(rel <= 1e-10)
        rate = {k: S * steps / v[1] for k, v in res.items()}
        summary.append((name, S, rate, rate["dufm"] * fl / 1e9 / peak, note))
    print()
    print(f"{'problem':12s} {'seeds':>5s} {'steps':>6s} {'impl':10s} {'wall s':>8s} {'seed-steps/s':>13s} {'GFLOP/s':>8s} "
          f"{'compile s':>9s} {'loss rel.diff':>13s}")
    for name, S, steps, impl, t, rate, gf, comp, rel in rows:
        print(f"{name:12s} {S:5d} {steps:6d} {impl:10s} {t:8.3f} {rate:13.0f} {gf:8.2f} {comp:9.2f} {rel:13.1e}")
    print()
    print(f"final losses agree across implementations to <= 1e-10 relative: {'yes' if all(checks) else 'NO'}")
    print("ratios (seed-steps/s) and targets:")
    for name, S, rate, frac, note in summary:
        parts = [f"dufm/naive-jax {rate['dufm'] / rate['naive-jax']:6.1f}x"]
        if "torch" in rate:
            parts.insert(0, f"dufm/torch {rate['dufm'] / rate['torch']:6.1f}x")
        parts.append(f"dufm at {100 * frac:4.0f}% of the matmul rate")
        target = ""
        if name.startswith("fig1") and "torch" in rate:
            want = 10 if S > 1 else 5
            target = f"target dufm/torch >= {want}x: {'met' if rate['dufm'] / rate['torch'] >= want else 'NOT met'}"
        elif name.startswith("wide"):
            target = f"target >= 50% of matmul: {'met' if frac >= 0.5 else 'NOT met'}"
        print(f"  {name:12s} {S:2d} seed(s): " + ", ".join(parts) + f"; {target}" + (f"; {note}" if note else ""))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
