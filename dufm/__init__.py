"""dufm: deep unconstrained features models of neural collapse, in JAX.

``import dufm`` changes no process-wide state: JAX's 64-bit mode is turned on
for the duration of each dufm call (:mod:`dufm.precision`), the CPU device
count is left alone (:func:`dufm.devices.use_cpu_cores` opts in), and no
matplotlib backend is chosen (:mod:`dufm.plots` returns Figure objects).

The flat namespace re-exports each step's entry point: the problem
(:class:`Problem`, :class:`Params`), the objective, initialisation, the
solver (:func:`solve`, :func:`run_many`), the analysis (:func:`analyse`),
sweeps and their results (:func:`run_sweep`, :func:`load_results`). The
closed forms, Hessians and critical points are the modules
:mod:`dufm.theory`, :mod:`dufm.hessian` and :mod:`dufm.critical`.
"""

from . import critical, hessian, theory
from .devices import use_cpu_cores
from .geometry import Analysis, SolutionType, Thresholds, analyse
from .init import initialise
from .objective import data_loss, forward, objective, regulariser
from .problem import Architecture, Decays, Params, Problem
from .records import Results, RunRecord, load_results
from .solve import History, Output, Run, SolverConfig, Status, run, run_many, solve
from .sweep import SweepResult, run_sweep

__all__ = [
    "Architecture", "Decays", "Params", "Problem",
    "data_loss", "forward", "objective", "regulariser",
    "initialise",
    "SolverConfig", "Status", "History", "Output", "Run", "run", "run_many", "solve",
    "Analysis", "SolutionType", "Thresholds", "analyse",
    "RunRecord", "Results", "load_results", "SweepResult", "run_sweep",
    "use_cpu_cores", "critical", "hessian", "theory",
]
__version__ = "0.1.0"
