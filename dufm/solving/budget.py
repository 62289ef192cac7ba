"""What a job will take, known before it runs: memory and time estimates.

A batch of B runs of one architecture holds, per run, its starting and final
parameters (2P numbers, P = ``Architecture.parameter_count``) and its history
(:func:`history_rows` rows of the loss, gradient norm, step, L NC1 values and
the recorded singular values, if any), and, for the
runs being computed at once, the solver's working set: the carried
parameters and optimiser state twice (the chunk's start is kept for the exact
stop; state = 0, 1, 2 or 2m + 2 copies of P for gd, momentum, adam and
L-BFGS with memory m = 10), the gradient and the update (2P), and the
forward and backward activations (3 N (d_1 + ... + d_L + K)). On a CPU each
device computes one run at a time (``lax.map``); with ``vmap`` a device
computes all its runs at once. :func:`check_memory` refuses a batch whose
estimate exceeds the memory the devices have free, naming both numbers.

Time: a GD step costs 6 N sum_l d_{l+1} d_l floating-point operations
(forward and backward matrix products, d_{L+1} = K; the benchmarks'
count), and a device sustains about a third to a half of its product rate on them
(measured: 0.3 to 0.6). A step of the other optimisers costs ``STEP_WORK``
such steps: L-BFGS's line search and backtracking's trial steps evaluate the
objective about twice a step, and an accepted step of the gradient flow
solves Newton's systems of its implicit stages by GMRES, 30 to 45 cycles of
at most 10 Hessian-vector products. :func:`estimate_seconds` measures the
product rate once per process and shape, on the product of the problem's
widest layer with its features inside a compiled loop (a few tenths of a
second), and multiplies it out for every run to its step limit: an upper
bound when runs converge early. The flow's step limit bounds nothing useful
(its runs end after about a hundred accepted steps, ``FLOW_TYPICAL_STEPS``
bounds what was measured), so its estimate is quoted at that count.
"""

from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..model.objective import spectrum_sizes
from ..model.problem import Architecture
from ..runtime import float64

EFFICIENCY = 0.35  # a solver step's share of the device's product rate: 0.3-0.6 measured at widths 8-1024 (docs/performance.md)
# flow: the Kvaerno5 stages (7), the GMRES basis of a cycle (10) and Newton's iterates (4)
STATE_COPIES = {"gd": 0, "momentum": 1, "adam": 2, "lbfgs": 22, "flow": 21, "backtracking": 2}
# a step's work in GD steps: measured against the model at K = 10, n = 5, d = 30 (docs/performance.md): backtracking
# 2.2 at L = 32; an accepted step of the flow 1 800 at L = 32 and 2 700 at L = 64 (the products are small, so the
# per-product overhead grows with the depth), 750-910 in the single-run benchmark at L = 4-32
STEP_WORK = {"gd": 1.0, "momentum": 1.0, "adam": 1.0, "lbfgs": 2.0, "backtracking": 2.5, "flow": 3000.0}
FLOW_TYPICAL_STEPS = 150  # accepted steps of the flow to its gradient tolerance: 93-135 at L = 4-64 (docs/performance.md)
SLOWEST_RATE = 2e8  # FLOP/s: below any CPU core's solver rate in float64 (measured 5e9 to 3e10 here)
COMPILE_SECONDS = 3.0  # compiling one solver program on a 2-core CPU: 2-4 s at depths 2-4 (measured)


def flops_per_step(arch: Architecture) -> float:
    """6 N sum_l d_{l+1} d_l (d_{L+1} = K): the matrix products of one step, forward and backward."""
    d = list(arch.widths) + [arch.classes]
    return 6.0 * arch.samples * sum(d[l + 1] * d[l] for l in range(arch.depth))


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def chunk_length(steps: int, log_every: int) -> int:
    """Steps between two history rows: ``log_every``, or the step limit rounded up to a power of two when that is smaller."""
    return min(log_every, _pow2(steps))


def history_rows(steps: int, log_every: int) -> int:
    """Rows of a run's history array on the device: one per chunk (:func:`chunk_length`) and the final point, rounded
    up to a power of two so that step limits of one octave share a compiled program (:class:`dufm.solving.solver.ProgramKey`)."""
    return _pow2(-(-steps // chunk_length(steps, log_every)) + 1)


def history_values(arch: Architecture, spectra: str = "none") -> int:
    """Numbers in one history row: step, loss, gradient norm, L NC1 values and the singular values ``spectra`` records."""
    return 3 + arch.depth + sum(spectrum_sizes(arch, spectra).values())


def memory_bytes(arch: Architecture, optimizer: str, steps: int, log_every: int, runs: int, concurrent: int,
                 spectra: str = "none") -> int:
    """Bytes a batch of ``runs`` needs, ``concurrent`` of them computed at once (module docstring)."""
    item = np.dtype(arch.dtype).itemsize
    P = arch.parameter_count
    history = history_rows(steps, log_every) * history_values(arch, spectra)
    per_run = 2 * P + history
    working = (2 * (1 + STATE_COPIES[optimizer]) + 2) * P + 3 * arch.samples * (sum(arch.widths) + arch.classes)
    return int(item * (runs * per_run + concurrent * working))


def available_memory(device) -> int | None:
    """Bytes free for computing on ``device`` (the host's available memory for a CPU), or None if unknown."""
    if device.platform != "cpu":
        stats = getattr(device, "memory_stats", lambda: None)() or {}
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0) if "bytes_limit" in stats else None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def check_memory(arch: Architecture, optimizer: str, steps: int, log_every: int, runs: int, batching: str, devices,
                 spectra: str = "none") -> int:
    """The batch's memory estimate in bytes; a ValueError naming it when the devices cannot hold it."""
    devices = list(devices)
    n = min(len(devices), runs)
    per_device = -(-runs // n)
    concurrent = per_device if batching == "vmap" else 1
    if devices[0].platform == "cpu":  # the CPU devices share the host's memory
        need = memory_bytes(arch, optimizer, steps, log_every, runs, n * concurrent, spectra)
    else:
        need = memory_bytes(arch, optimizer, steps, log_every, per_device, concurrent, spectra)
    free = available_memory(devices[0])
    if free is not None and need > free:
        raise ValueError(
            f"the problem is too large for this machine: about {gigabytes(need)} for {runs} run(s) of "
            f"{arch.parameter_count} parameters ({arch.dtype}, {optimizer}), {gigabytes(free)} free"
            f"{' on the host' if devices[0].platform == 'cpu' else ' per device'}; use a smaller width or fewer seeds")
    return need


@functools.lru_cache(maxsize=16)
def product_rate(d: int, n: int, dtype: str, platform: str) -> float:
    """FLOP/s of a (d x d) @ (d x n) product repeated inside one compiled loop on the default device (best of 3)."""
    reps = max(4, int(4e8 / (2.0 * d * d * n)))
    w = jnp.eye(d, dtype=dtype)  # the identity keeps the iterate bounded; XLA cannot know that it is one
    loop = jax.jit(lambda w, h: jax.lax.fori_loop(0, reps, lambda i, y: w @ y, h))
    h = jnp.ones((d, n), dtype)
    loop(w, h).block_until_ready()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        loop(w, h).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2.0 * d * d * n * reps / best


def quoted_steps(optimizer: str, steps: int) -> int:
    """The steps an estimate is quoted at: the step limit, or for the flow at most :data:`FLOW_TYPICAL_STEPS`."""
    return min(steps, FLOW_TYPICAL_STEPS) if optimizer == "flow" else steps


def seconds_at_most(arch: Architecture, steps: int, runs: int, devices: int = 1, optimizer: str = "gd") -> float:
    """A bound on :func:`estimate_seconds` that measures nothing: the work at ``SLOWEST_RATE`` FLOP/s per device.

    A job this bound calls short needs no estimate (measuring the rate costs
    more than such a job).
    """
    per_device = -(-runs // max(1, min(devices, runs)))
    return per_device * steps * STEP_WORK[optimizer] * flops_per_step(arch) / SLOWEST_RATE


@float64
def estimate_seconds(arch: Architecture, steps: int, runs: int, devices: int = 1, optimizer: str = "gd") -> float:
    """Seconds for ``runs`` runs of ``steps`` steps of ``optimizer`` spread over ``devices`` devices (module docstring)."""
    rate = product_rate(min(max(arch.widths), 1024), min(arch.samples, 4096), arch.dtype, jax.default_backend()) * EFFICIENCY
    per_device = -(-runs // max(1, min(devices, runs)))
    return per_device * steps * STEP_WORK[optimizer] * flops_per_step(arch) / rate
