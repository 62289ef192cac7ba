"""dufm: deep unconstrained features models of neural collapse, in JAX.

Importing dufm turns on JAX's 64-bit mode (``jax_enable_x64``): float64 is the
default precision for analysis; float32 problems still run in float32.

Importing dufm before jax also makes every CPU core a JAX device (XLA flag
``--xla_force_host_platform_device_count``), so that a batch of runs is split
over the cores (one device per core, each running its members one after
another; see :func:`dufm.solve.run_batch`). ``DUFM_CPU_DEVICES=n`` sets the
count (``1`` turns this off); an ``XLA_FLAGS`` that already sets it wins, and
nothing changes if jax was imported first. GPU/TPU devices are not affected.
"""

import os
import sys


def _cpu_device_flag(environ=os.environ) -> str | None:
    """The XLA_FLAGS value that gives one JAX CPU device per core, or None to leave XLA_FLAGS alone."""
    flags = environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return None
    want = environ.get("DUFM_CPU_DEVICES", "")
    n = int(want) if want.strip().isdigit() else len(os.sched_getaffinity(0))
    return None if n <= 1 else f"{flags} --xla_force_host_platform_device_count={n}".strip()


if (_flag := _cpu_device_flag()) is not None:
    os.environ["XLA_FLAGS"] = _flag

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from .problem import Architecture, Decays, Problem  # noqa: E402
from .objective import data_loss, forward, objective, regulariser  # noqa: E402
from .init import initialise  # noqa: E402
from .solve import Run, SolverConfig, solve  # noqa: E402
from .sweep import load_results, run_sweep  # noqa: E402

__all__ = [
    "Architecture", "Decays", "Problem", "data_loss", "forward", "objective", "regulariser",
    "initialise", "Run", "SolverConfig", "solve", "load_results", "run_sweep",
]
__version__ = "0.1.0"
