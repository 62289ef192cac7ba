"""dufm: deep unconstrained features models of neural collapse, in JAX.

``import dufm`` changes no process-wide state: JAX's 64-bit mode is turned on
for the duration of each dufm call (:mod:`dufm.precision`), the CPU device
count is left alone (:func:`dufm.devices.use_cpu_cores` opts in), and no
matplotlib backend is chosen (:mod:`dufm.plots` returns Figure objects). It
also imports nothing heavy: each name below is loaded on first use, so the
command line and scripts pay only for what they touch.

The flat namespace re-exports each step's entry point: the problem
(:class:`Problem`, :class:`Params`), the objective, initialisation, the
solver (:func:`solve`, :func:`run_many`), the analysis (:func:`analyse`),
sweeps and their results (:func:`run_sweep`, :func:`load_results`), the
global optimum (:func:`optimum`), a trained network's features
(:func:`analyse_features`; :mod:`dufm.features` reads, saves and exports
feature files). The
closed forms, Hessians and critical points are the modules
:mod:`dufm.theory`, :mod:`dufm.hessian` and :mod:`dufm.critical`.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

from .version import __version__  # noqa: F401  (re-exported)

_SUBMODULES = ("critical", "features", "hessian", "theory")
# name -> the module that defines it
_WHERE = {
    "Architecture": "problem", "Decays": "problem", "Params": "problem", "Problem": "problem",
    "data_loss": "objective", "forward": "objective", "objective": "objective", "regulariser": "objective",
    "initialise": "init",
    "SolverConfig": "solve", "Status": "solve", "History": "solve", "Output": "solve", "Run": "solve", "run": "solve",
    "run_many": "solve", "solve": "solve",
    "Analysis": "geometry", "Normalised": "geometry", "SolutionType": "geometry", "Thresholds": "geometry", "analyse": "geometry",
    "RunRecord": "records", "Results": "records", "load_results": "records",
    "SweepResult": "sweep", "run_sweep": "sweep",
    "use_cpu_cores": "devices", "use_compilation_cache": "cache",
    "Optimum": "optimum", "OptimumConfig": "optimum", "optimum": "optimum",
    "FeatureAnalysis": "features", "analyse_features": "features",
}
__all__ = list(_WHERE) + list(_SUBMODULES)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _WHERE:
        raise AttributeError(f"module 'dufm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package's module type: ``dufm.solve`` and ``dufm.objective`` stay the functions.

    They share their names with their modules, and the import system binds a
    submodule to its parent's attribute when it is first imported (by
    ``from dufm.solve import ...`` anywhere), which would hide the function.
    """

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in _WHERE:
            return  # the module stays reachable as sys.modules["dufm." + name]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from . import critical, features, hessian, theory  # noqa: F401
    from .cache import use_compilation_cache  # noqa: F401
    from .devices import use_cpu_cores  # noqa: F401
    from .features import FeatureAnalysis, analyse_features  # noqa: F401
    from .geometry import Analysis, Normalised, SolutionType, Thresholds, analyse  # noqa: F401
    from .init import initialise  # noqa: F401
    from .objective import data_loss, forward, objective, regulariser  # noqa: F401
    from .optimum import Optimum, OptimumConfig, optimum  # noqa: F401
    from .problem import Architecture, Decays, Params, Problem  # noqa: F401
    from .records import Results, RunRecord, load_results  # noqa: F401
    from .solve import History, Output, Run, SolverConfig, Status, run, run_many, solve  # noqa: F401
    from .sweep import SweepResult, run_sweep  # noqa: F401
