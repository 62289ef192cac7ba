"""dufm: deep unconstrained features models of neural collapse, in JAX.

Importing dufm turns on JAX's 64-bit mode (``jax_enable_x64``): float64 is the
default precision for analysis; float32 problems still run in float32.
"""

import jax

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
