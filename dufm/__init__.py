"""dufm: deep unconstrained features models of neural collapse, in JAX.

The public API is this namespace (``__all__``) and five public modules:

* the problem (:class:`Problem`, :class:`Params`), the objective and the
  initialisations (:mod:`dufm.model`);
* the solver (:class:`SolverConfig`, :func:`solve`, :func:`run_many`)
  (:mod:`dufm.solving`);
* the analysis of a point (:func:`analyse`) (:mod:`dufm.analysis`);
* the global optimum (:func:`optimum`) and the closed forms
  (:mod:`dufm.theory`);
* sweeps and their results (:class:`SweepConfig`, :func:`run_sweep`,
  :func:`load_results`) (:mod:`dufm.experiments`) and their figures
  (:mod:`dufm.plots`);
* a trained network's features (:func:`analyse_features`; :mod:`dufm.features`
  reads, saves and exports feature files);
* Hessians and critical points: :mod:`dufm.hessian`, :mod:`dufm.critical`
  (the modules of :mod:`dufm.landscape`).

Everything else is implementation: module paths inside the packages may move.

``import dufm`` changes no process-wide state: JAX's 64-bit mode is turned on
for the duration of each dufm call (:func:`dufm.runtime.float64`), the CPU
device count is left alone (:func:`use_cpu_cores` opts in), and no matplotlib
backend is chosen (:mod:`dufm.plots` returns Figure objects). It also imports
nothing heavy: each name is loaded on first use (PEP 562), so the command line
and scripts pay only for what they touch.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

from .version import __version__

# name -> the module that defines it
_EXPORTS = {
    "Architecture": "model.problem", "Decays": "model.problem", "Params": "model.problem", "Problem": "model.problem",
    "data_loss": "model.objective", "forward": "model.objective", "objective": "model.objective", "regulariser": "model.objective",
    "initialise": "model.init",
    "SolverConfig": "solving.solver", "Status": "solving.solver", "History": "solving.solver", "Output": "solving.solver",
    "Run": "solving.solver", "run": "solving.solver", "run_many": "solving.solver", "solve": "solving.solver",
    "Analysis": "analysis.solution", "SolutionType": "analysis.solution", "Thresholds": "analysis.solution",
    "analyse": "analysis.solution", "ScaleFree": "analysis.spectra", "MultiLabelMetrics": "analysis.multilabel",
    "Optimum": "theory.optimum", "OptimumConfig": "theory.optimum", "optimum": "theory.optimum",
    "RunRecord": "experiments.records", "Results": "experiments.records", "load_results": "experiments.records",
    "SweepConfig": "experiments.config", "SweepResult": "experiments.sweep", "run_sweep": "experiments.sweep",
    "FeatureAnalysis": "features.analysis", "analyse_features": "features.analysis",
    "use_cpu_cores": "runtime", "use_compilation_cache": "runtime",
}
# the public modules, by the name they have here
_MODULES = {"theory": "theory", "features": "features", "plots": "plots", "hessian": "landscape.hessian",
            "critical": "landscape.critical"}
# names kept for one release after a rename: old -> new
_RENAMED = {"Normalised": "ScaleFree"}

__all__ = ["__version__", *_EXPORTS, *_MODULES]


def __getattr__(name: str):
    if name in _RENAMED:
        warnings.warn(f"dufm.{name} is now dufm.{_RENAMED[name]}; the old name goes in the next release", DeprecationWarning,
                      stacklevel=2)
        return __getattr__(_RENAMED[name])
    if name in _MODULES:
        value = importlib.import_module(f".{_MODULES[name]}", __name__)
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'dufm' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from . import features, plots, theory  # noqa: F401
    from .analysis.multilabel import MultiLabelMetrics  # noqa: F401
    from .analysis.solution import Analysis, SolutionType, Thresholds, analyse  # noqa: F401
    from .analysis.spectra import ScaleFree  # noqa: F401
    from .experiments.config import SweepConfig  # noqa: F401
    from .experiments.records import Results, RunRecord, load_results  # noqa: F401
    from .experiments.sweep import SweepResult, run_sweep  # noqa: F401
    from .features.analysis import FeatureAnalysis, analyse_features  # noqa: F401
    from .landscape import critical, hessian  # noqa: F401
    from .model.init import initialise  # noqa: F401
    from .model.objective import data_loss, forward, objective, regulariser  # noqa: F401
    from .model.problem import Architecture, Decays, Params, Problem  # noqa: F401
    from .runtime import use_compilation_cache, use_cpu_cores  # noqa: F401
    from .solving.solver import History, Output, Run, SolverConfig, Status, run, run_many, solve  # noqa: F401
    from .theory.optimum import Optimum, OptimumConfig, optimum  # noqa: F401
