"""A solver's settings: :class:`SolverConfig`, its static and traced parts in the compiled program, and :class:`Status`.

A batch of runs is one compiled program (:func:`dufm.solving.solver.run_many`):
what shapes it is the batch's :class:`ProgramKey` (optimiser, history
interval, matrix-product precision, recorded spectra), static and shared by
every run of the batch; every other number (:class:`ProgramInputs`: step size,
tolerances, limits) is an input of the program, one row per run, so a sweep
over them compiles once.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from ..model.init import INITS, resolve_scales
from ..model.objective import SPECTRA, spectrum_sizes
from ..model.problem import Architecture
from ..options import check_choice, check_fraction, check_int, check_number, option
from .budget import chunk_length, history_rows

OPTIMIZERS = ("gd", "momentum", "adam", "lbfgs", "flow", "backtracking")
PRECISIONS = ("highest", "high", "default")  # jax.default_matmul_precision names
DEFAULT_TOL = {"float64": 1e-10, "float32": 1e-5}
MAX_STEPS_LIMIT = 2**31 - 1
MAX_HISTORY = 1_000_000
MAX_SPECTRUM_VALUES = 2**24  # singular values one run's history may hold on the device (128 MiB in float64)
MAX_BATCH_PARAMETERS = 2**31


class Status(enum.StrEnum):
    """Why a run stopped (``RUNNING`` only inside the compiled program). Compares equal to its string."""

    RUNNING = "running"
    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"
    LOSS_THRESHOLD = "loss_threshold"
    MAX_TIME = "max_time"  # a status's integer code is its place here: new ones come last

    @property
    def code(self) -> int:
        """The integer the compiled program carries for this status."""
        return _STATUS_CODES.index(self)

    @classmethod
    def from_code(cls, code) -> "Status":
        return _STATUS_CODES[int(code)]


_STATUS_CODES = tuple(Status)

# the SolverConfig fields only the flow uses (rtol and atol of its error control, its time limit)
FLOW_FIELDS = ("rtol", "atol", "max_time")


@dataclass(frozen=True)
class SolverConfig:
    """How to solve: optimiser, step size, step limit, stopping tolerance, initialisation.

    ``tol`` is on the Euclidean norm of the full gradient; None (the default)
    means 1e-10 in float64 and 1e-5 in float32, and 0 for a problem without a
    finite optimum (:meth:`resolved`). ``loss_threshold`` stops a run at
    the first step whose loss (the whole objective) is <= it; None: never. ``init_scale`` is the
    standard deviation of the Gaussian initialisation (or the scale of the
    other kinds, :mod:`dufm.model.init`); ``feature_init_scale`` / ``weight_init_scale``
    replace it for H_1 / the W_l (:meth:`init_scales`). ``log_every`` is the history interval in steps;
    ``spectra`` says whose singular values the history records at that interval (:data:`dufm.model.objective.SPECTRA`).
    """

    optimizer: str = option("gd", "optax optimiser", choices=OPTIMIZERS)
    lr: float = option(0.5, "learning rate > 0 (unused by lbfgs, which line-searches; backtracking's longest step; "
                       "the flow's first step)")
    steps: int = option(100_000, "step limit >= 1")
    tol: float | None = option(None, "stop when the gradient norm <= tol (default 1e-10 in float64, 1e-5 in float32; "
                               "0, an exactly zero gradient, for a problem without a finite optimum, e.g. CE with a decay 0)")
    loss_threshold: float | None = option(None, "stop at the first step whose loss <= this (default: never)")
    init_scale: float = option(0.1, "std of the Gaussian init (scale of the orthogonal one; gain of gain; spectral's scale)")
    init: str = option("gaussian", "initialisation (docs/conventions.md)", choices=INITS)
    feature_init_scale: float | None = option(None, "scale of H_1's init (default: init_scale; 1 for pytorch, torch.randn)")
    weight_init_scale: float | None = option(None, "scale of every W_l's init (default: init_scale; 1 for pytorch, "
                                             "a gain on nn.Linear's bound)")
    momentum: float = option(0.9, "momentum in [0, 1) of the momentum optimiser")
    log_every: int = option(100, "history interval in steps")
    spectra: str = option("none", "singular values recorded in the history every log_every steps: none, those of Z "
                          "(output), or of Z and every H_l, sigma(H_l), W_l (layers)", choices=SPECTRA)
    sharpness: bool = option(False, "also record the Hessian's largest eigenvalue every log_every steps (20 Hessian-vector "
                             "products a record, warm-started)")
    divergence_factor: float = option(1e12, "diverged when the loss exceeds this factor x (|initial loss| + 1)", flag=False)
    rtol: float = option(1e-6, "flow: relative tolerance of the integrator's local error")
    atol: float = option(1e-9, "flow: absolute tolerance of the integrator's local error")
    max_time: float | None = option(None, "flow: stop at this flow time (default: no limit)")
    matmul_precision: str = option("highest", "matrix products of float32 problems: highest (full float32), high or default "
                            "(faster, fewer mantissa bits on GPU and TPU); float64 is always full", choices=PRECISIONS, old_names=("precision",))

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("lr", self.lr)
        for name in ("steps", "log_every"):
            check_int(name, getattr(self, name), 1)
        if self.steps > MAX_STEPS_LIMIT:
            raise ValueError(f"steps must be an integer <= {MAX_STEPS_LIMIT}, got {self.steps}")
        if self.steps // self.log_every > MAX_HISTORY:
            raise ValueError(f"log_every must be >= steps / {MAX_HISTORY} (the history is kept on the device), got {self.log_every}")
        if self.tol is not None:
            check_number("tol", self.tol, allow_zero=True)
        if self.loss_threshold is not None:
            check_number("loss_threshold", self.loss_threshold, allow_zero=True)
        check_number("init_scale", self.init_scale)
        check_choice("init", self.init, INITS)
        check_choice("spectra", self.spectra, SPECTRA)
        for name in ("feature_init_scale", "weight_init_scale"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name))
        check_fraction("momentum", self.momentum, closed_below=True)
        check_number("divergence_factor", self.divergence_factor)
        check_choice("matmul_precision", self.matmul_precision, PRECISIONS)
        if not isinstance(self.sharpness, bool):
            raise ValueError(f"sharpness must be true or false, got {self.sharpness!r}")
        if self.sharpness and self.optimizer in ("adam", "lbfgs"):
            # their steps are preconditioned: the Hessian's top eigenvalue does not bound them (Cohen et al. 2022 measure
            # the preconditioned sharpness instead), so a record of it would be read against the wrong threshold
            raise ValueError(f"sharpness must be off with optimizer {self.optimizer!r}, whose steps are preconditioned (the "
                             f"Hessian's largest eigenvalue does not bound them); record it with gd, momentum, backtracking or flow")
        for name in ("rtol", "atol"):
            check_number(name, getattr(self, name))
        if self.max_time is not None:
            check_number("max_time", self.max_time)
        if self.optimizer == "flow":
            for f in fields(self):
                if f.name in ("momentum",) and getattr(self, f.name) != f.default:
                    raise ValueError(f"{f.name} must be left at its default with optimizer 'flow' (gradient flow has no "
                                     f"{f.name}), got {getattr(self, f.name)!r}")
        else:
            for f in fields(self):
                if f.name in FLOW_FIELDS and getattr(self, f.name) != f.default:
                    raise ValueError(f"{f.name} is used by optimizer 'flow' only, got {f.name} = {getattr(self, f.name)!r} "
                                     f"with optimizer {self.optimizer!r}")

    def to_dict(self) -> dict:
        """The fields; ``matmul_precision`` and ``spectra`` only when not the default, the separate init scales and the loss
        threshold only when given: a run's key hashes this dict, and a field added with its default must not change it."""
        d = asdict(self)
        if d["matmul_precision"] == PRECISIONS[0]:
            del d["matmul_precision"]
        if d["spectra"] == SPECTRA[0]:
            del d["spectra"]
        for name in ("feature_init_scale", "weight_init_scale", "loss_threshold"):
            if d[name] is None:
                del d[name]
        for f in fields(self):
            if (f.name in FLOW_FIELDS or f.name == "sharpness") and d[f.name] == f.default:
                del d[f.name]
        return d

    def init_scales(self) -> tuple[float, float]:
        """(s_H, s_W), the scales of H_1 and of the W_l: :func:`dufm.model.init.resolve_scales`."""
        return resolve_scales(self.init, self.init_scale, self.feature_init_scale, self.weight_init_scale)

    def resolved(self, dtype: str, finite_optimum: bool = True) -> "SolverConfig":
        """This config with ``tol`` filled in when it is None: :data:`DEFAULT_TOL` for ``dtype``, or 0 for a
        problem without a finite optimum (:attr:`dufm.Problem.finite_optimum`; module docstring)."""
        if self.tol is not None:
            return self
        return replace(self, tol=DEFAULT_TOL[dtype] if finite_optimum else 0.0)


class ProgramInputs(NamedTuple):
    """The solver's numbers that are inputs of the compiled program, not part of it (a leading batch axis in a batch).

    A sweep over any of them compiles once: ``lr`` (the flow's first step), ``tol``, ``loss_threshold``
    (-inf when there is none), ``steps`` (the step limit), ``momentum``,
    ``divergence_factor``, and the flow's ``rtol``, ``atol`` and ``max_time`` (inf
    when there is none). What stays static is the :class:`ProgramKey`.
    """

    lr: Any
    tol: Any
    loss_threshold: Any
    steps: Any
    momentum: Any
    divergence_factor: Any
    rtol: Any
    atol: Any
    max_time: Any

    @classmethod
    def of(cls, cfg: SolverConfig, dtype: str | None = None) -> "ProgramInputs":
        """The numbers of ``cfg`` (``tol`` resolved for ``dtype``, default float64), as Python numbers."""
        cfg = cfg.resolved(dtype or "float64")
        threshold = -np.inf if cfg.loss_threshold is None else cfg.loss_threshold
        max_time = np.inf if cfg.max_time is None else cfg.max_time
        return cls(cfg.lr, cfg.tol, threshold, cfg.steps, cfg.momentum, cfg.divergence_factor, cfg.rtol, cfg.atol, max_time)

    @classmethod
    def stack(cls, cfgs, dtype: str) -> "ProgramInputs":
        """One row per config, as host arrays of ``dtype`` (``steps`` int32)."""
        rows = [cls.of(c, dtype) for c in cfgs]
        cols = [np.asarray([getattr(r, f) for r in rows], dtype) for f in cls._fields]
        cols[cls._fields.index("steps")] = np.asarray([r.steps for r in rows], np.int32)
        return cls(*cols)


def check_precision(arch: Architecture, cfg: SolverConfig):
    """A ValueError naming ``matmul_precision`` when it asks for fewer mantissa bits in a float64 problem, where it has no
    effect (JAX's precision settings choose among float32 and bfloat16 passes; float64 products are always full)."""
    if arch.dtype == "float64" and cfg.matmul_precision != PRECISIONS[0]:
        raise ValueError(f"matmul_precision must be {PRECISIONS[0]!r} for a float64 problem (it only changes float32 "
                         f"matrix products; use it with dtype 'float32'), got {cfg.matmul_precision!r}")


def check_history(arch: Architecture, cfg: SolverConfig):
    """A ValueError naming ``log_every`` (or ``spectra``) when the singular values ``cfg`` records would exceed
    :data:`MAX_SPECTRUM_VALUES` on the device."""
    per_row = sum(spectrum_sizes(arch, cfg.spectra).values())
    if not per_row or history_rows(cfg.steps, cfg.log_every) * per_row <= MAX_SPECTRUM_VALUES:
        return
    rows = 1 << ((MAX_SPECTRUM_VALUES // per_row).bit_length() - 1)  # the most rows (a power of two) that fit
    if rows < 2:
        raise ValueError(f"spectra must be 'output' or 'none' for this problem: {cfg.spectra!r} records {per_row} singular "
                         f"values at a time, and a record keeps two rows at least (at most {MAX_SPECTRUM_VALUES} values)")
    least = -(-cfg.steps // (rows - 1))  # rows - 1 chunks and the final point
    raise ValueError(f"log_every must be >= {least} to record spectra = {cfg.spectra!r} of this problem over {cfg.steps} "
                     f"steps ({per_row} singular values a record, at most {MAX_SPECTRUM_VALUES} kept on the device), "
                     f"got {cfg.log_every}")


# the SolverConfig fields that shape the compiled program (its ProgramKey): the runs of one batch must share them
PROGRAM_KEY_FIELDS = ("optimizer", "log_every", "matmul_precision", "spectra", "sharpness")


class ProgramKey(NamedTuple):
    """The static part of a batch's solver settings: the compiled program is specialised (and cached) on it; the rest of a
    :class:`SolverConfig` is :class:`ProgramInputs`.

    ``optimizer`` (a different computation), ``chunk`` (the length of the
    inner ``lax.scan``: ``log_every``, or the step limit rounded up to a power
    of two when that is smaller), ``capacity`` (rows of the history array on
    the device: one per chunk and the final point, rounded up to a power of
    two so that step limits of one octave share a program) and ``matmul_precision``
    of float32 products, ``spectra`` (the singular values recorded). A
    batch's program comes from its largest step limit; every member stops at
    its own.
    """

    optimizer: str
    chunk: int
    capacity: int
    matmul_precision: str
    spectra: str
    sharpness: bool

    @classmethod
    def of(cls, cfgs) -> "ProgramKey":
        cfgs = list(cfgs)
        first = cfgs[0]
        for c in cfgs[1:]:
            for name in PROGRAM_KEY_FIELDS:
                if getattr(c, name) != getattr(first, name):
                    raise ValueError(f"the runs of one batch must share {name} (it shapes the compiled program), got "
                                     f"{getattr(first, name)!r} and {getattr(c, name)!r}")
        steps = max(c.steps for c in cfgs)
        return cls(first.optimizer, chunk_length(steps, first.log_every), history_rows(steps, first.log_every), first.matmul_precision,
                   first.spectra, first.sharpness)
