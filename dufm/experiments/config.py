"""A sweep config: the grid of runs a sweep computes, typed and validated once (:class:`SweepConfig`).

A :class:`SweepConfig` comes from a TOML file (:meth:`SweepConfig.from_toml`,
the format is in :mod:`dufm.experiments.sweep`), from its plain-dict form (a
results directory's manifest, :meth:`SweepConfig.from_dict`), or from Python.
It is checked when built, every grid point included, and lists its runs
(:meth:`SweepConfig.runs`, each a :class:`RunSpec`) once.
"""

from __future__ import annotations

import itertools
import re
import tomllib
import warnings
from dataclasses import MISSING, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from ..analysis.solution import Thresholds
from ..model.init import check_init
from ..model.problem import Problem
from ..options import check_int, renamed
from ..solving.solver import SolverConfig, check_history, check_precision
from ..store import run_key

PROBLEM_FIELDS = tuple(f.name for f in fields(Problem) if f.init)


SOLVER_FIELDS = tuple(f.name for f in fields(SolverConfig))


GRID_FIELDS = PROBLEM_FIELDS + SOLVER_FIELDS


# the Problem fields that take one value or a tuple of them (TOML and JSON give the tuple as a list)
TUPLE_FIELDS = ("per_class", "width", "layer_decay")


TOP_KEYS = ("name", "title", "description", "seeds", "seed", "max_batch", "solve", "on_divergence", "max_halvings", "problem", "solver",
            "grid", "analysis", "plots")
ON_DIVERGENCE = ("stop", "halve")


DEFAULT_MAX_BATCH = 32


NAME = re.compile(r"[A-Za-z0-9._-]+")


# the grid of a config without one: a single point, the base problem and solver
NO_GRID = (MappingProxyType({}),)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its problem, solver config, seed, and store key (a hash of the three)."""

    problem: Problem
    solver: SolverConfig
    seed: int

    @property
    def config(self) -> dict:
        return {"problem": self.problem.to_dict(), "solver": self.solver.to_dict(), "seed": self.seed}

    @cached_property
    def key(self) -> str:
        return run_key(self.config)


def _frozen(value):
    """``value`` with every list (or tuple) as a tuple and every table as a read-only mapping, all the way down."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value


def _plain(value):
    """The JSON form of a :func:`_frozen` value: lists and dicts."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _is_default(f, value) -> bool:
    """Whether ``value`` is field ``f``'s default, of the default's type too (``1`` is not ``1.0``: a run's key hashes
    the value as written); a field without a default has none."""
    if f.default is MISSING and f.default_factory is MISSING:
        return False
    default = f.default_factory() if f.default is MISSING else f.default
    return type(value) is type(default) and value == default


def _given(obj) -> dict:
    """The init fields of dataclass ``obj`` that are not their defaults, as plain values."""
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj) if f.init and not _is_default(f, getattr(obj, f.name))}


def check_name(name) -> str:
    """``name`` if it is a plain name for a results directory (no path, not '.' or '..', not empty)."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"name must be a plain name (letters, digits, '.', '_', '-'; no path), got {name!r}; "
                         "choose the directory with --out")
    return name


def _table(config: Mapping, key: str) -> dict:
    """Section ``key`` of a config (empty if absent), if it is a table."""
    value = config.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"[{key}] must be a table, got {value!r}")
    return dict(value)


def _known(section: str, table: Mapping, allowed: Sequence[str]) -> Mapping:
    """``table`` if all its keys are in ``allowed`` (a ValueError naming the others and the section)."""
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(f"unknown [{section}] key(s) {unknown}; allowed: {list(allowed)}")
    return table


def _problem(table: Mapping) -> Problem:
    """The Problem of a ``[problem]`` table (lists of the tuple-valued fields as tuples)."""
    _known("problem", table, PROBLEM_FIELDS)
    return Problem(**{k: _frozen(v) if k in TUPLE_FIELDS else v for k, v in table.items()})


def _solver(table: Mapping) -> SolverConfig:
    return SolverConfig(**_known("solver", renamed(SolverConfig, table), SOLVER_FIELDS))


def _thresholds(table: Mapping) -> Thresholds:
    known = sorted(f.name for f in fields(Thresholds))
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(f"unknown [analysis] key(s) {unknown}; allowed: {known}")
    return Thresholds(**table)


def _axis(name: str, values) -> tuple:
    """The values of grid axis ``name``: a list of them, or one value."""
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if not values:
        raise ValueError(f"[grid] {name} must list at least one value, got []")
    return tuple(_frozen(v) for v in values)


def _grid_table(table) -> Mapping[str, tuple]:
    if not isinstance(table, Mapping):
        raise ValueError(f"[grid] must be a table or an array of tables, got {table!r}")
    table = renamed(SolverConfig, table)
    unknown = sorted(set(table) - set(GRID_FIELDS))
    if unknown:
        raise ValueError(f"unknown [grid] key(s) {unknown}; allowed: problem and solver fields")
    return MappingProxyType({name: _axis(name, values) for name, values in table.items()})


def _grid(grid) -> tuple[Mapping[str, tuple], ...]:
    """A grid as a tuple of tables field -> values: from one table, or from a sequence of them (a union)."""
    tables = [grid] if isinstance(grid, Mapping) else grid
    if not isinstance(tables, (list, tuple)):
        raise ValueError(f"[grid] must be a table or an array of tables, got {grid!r}")
    return tuple(_grid_table(t) for t in tables)


def grid_points(grid: Sequence[Mapping[str, tuple]]):
    """Every point of a grid (field -> value), table by table, each table's Cartesian product in its axes' order."""
    for table in grid:
        names = list(table)
        for values in itertools.product(*(table[n] for n in names)):
            yield dict(zip(names, values))


class GridPointError(ValueError):
    """A grid point that makes no valid run: the library's message (naming the field), and the point (field -> value)."""

    def __init__(self, message: str, point: Mapping):
        super().__init__(message)
        self.point = dict(point)


@dataclass(frozen=True)
class PlotSpec:
    """What ``dufm plot`` draws of a sweep: the config's ``[plots]`` table."""

    figures: tuple[str, ...] = ()
    """The figures to draw (:mod:`dufm.plots.sweeps`); none: those :func:`dufm.plots.default_figures` picks."""
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The table's other keys: options of the figures (``max_runs``, ``rank_of``, ``seeds``, ...)."""

    def __post_init__(self):
        figures = self.figures
        if not (isinstance(figures, (list, tuple)) and all(isinstance(f, str) for f in figures)):
            raise ValueError(f"[plots] figures must be a list of figure names, got {figures!r}")
        if not isinstance(self.options, Mapping) or "figures" in self.options:
            raise ValueError(f"[plots] options must be a table of options other than figures, got {self.options!r}")
        object.__setattr__(self, "figures", tuple(figures))
        object.__setattr__(self, "options", _frozen(self.options))

    @classmethod
    def from_dict(cls, table: Mapping) -> "PlotSpec":
        """The spec of a ``[plots]`` table."""
        options = {k: v for k, v in table.items() if k != "figures"}
        return cls(table.get("figures", ()), options)

    def to_dict(self) -> dict:
        """The ``[plots]`` table (empty for the default spec)."""
        return {**({"figures": list(self.figures)} if self.figures else {}), **_plain(self.options)}


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: a grid of problems and solver configs, each solved from ``seeds`` seeds, and how to analyse and draw it.

    Built from TOML (:meth:`from_toml`), from its plain form (:meth:`from_dict`,
    what a results directory's manifest holds), or directly; checked when
    built, every grid point included (a ValueError names the field, or the
    key and its section). Its runs are :meth:`runs`.
    """

    name: str
    """The sweep's name, a plain name: its results go to ``results/<name>`` by default."""
    title: str = ""
    """The figures' title (default: the name)."""
    description: str = ""
    """What the sweep shows, for people."""
    seeds: int = 1
    """The number of seeds per grid point: seeds ``seed`` .. ``seed + seeds - 1``."""
    seed: int = 0
    """The first seed."""
    max_batch: int = DEFAULT_MAX_BATCH
    """The most runs in one compiled, batched program."""
    solve: bool = True
    """False for a theory-only config: its figures come from closed forms, it has no runs."""
    on_divergence: str = "stop"
    """What a run of a fixed-step optimiser (gd, momentum, adam) that diverges does: ``stop`` (stored as diverged, with
    its step) or ``halve`` (run again from the same start with half the step, up to ``max_halvings`` times; the record
    says the step it used). Its key stays that of its config."""
    max_halvings: int = 6
    """The most halvings of a diverging run's step (``on_divergence = "halve"``)."""
    problem: Problem = field(default_factory=Problem)
    """The base problem (``[problem]``): every grid point replaces some of its fields."""
    solver: SolverConfig = field(default_factory=SolverConfig)
    """The base solver config (``[solver]``); a run's is resolved for its problem (:meth:`SolverConfig.resolved`)."""
    grid: tuple[Mapping[str, tuple], ...] = NO_GRID
    """A union of Cartesian products: tables field -> values over any problem or solver fields (``[grid]`` is
    one table, ``[[grid]]`` several). Built from one table or a sequence of them; a value given alone is one value."""
    analysis: Thresholds = field(default_factory=Thresholds)
    """The thresholds every run's end point is analysed with (``[analysis]``)."""
    plots: PlotSpec = field(default_factory=PlotSpec)
    """The figures ``dufm plot`` draws, and their options (``[plots]``)."""

    def __post_init__(self):
        check_name(self.name)
        for key in ("title", "description"):
            if not isinstance(getattr(self, key), str):
                raise ValueError(f"{key} must be a string, got {getattr(self, key)!r}")
        check_int("seeds", self.seeds, 1)
        check_int("seed", self.seed, 0)
        check_int("max_batch", self.max_batch, 1)
        check_int("max_halvings", self.max_halvings, 1)
        if self.on_divergence not in ON_DIVERGENCE:
            raise ValueError(f"on_divergence must be one of {', '.join(ON_DIVERGENCE)}; got {self.on_divergence!r}")
        if not isinstance(self.solve, bool):
            raise ValueError(f"solve must be true or false, got {self.solve!r}")
        for key, cls in (("problem", Problem), ("solver", SolverConfig), ("analysis", Thresholds), ("plots", PlotSpec)):
            if not isinstance(getattr(self, key), cls):
                raise ValueError(f"{key} must be a {cls.__name__}, got {getattr(self, key)!r}")
        object.__setattr__(self, "grid", _grid(self.grid))
        self.runs()  # every grid point is a valid run, checked here once

    @classmethod
    def from_dict(cls, config: Mapping, *, name: str | None = None, seeds: int | None = None, seed: int | None = None,
                  max_batch: int | None = None, problem: Mapping | None = None, solver: Mapping | None = None,
                  grid=None, on_divergence: str | None = None, max_halvings: int | None = None) -> "SweepConfig":
        """The config of a plain dict: the keys of the TOML format, or :meth:`to_dict`'s (a manifest's ``config``).

        The keyword arguments override it, as the ``dufm sweep`` flags do: ``name``, ``seeds``, ``seed``,
        ``max_batch`` replace its values, ``problem`` / ``solver`` fields are set over its tables, ``grid``
        replaces its grid; None leaves it. An unknown key is a ValueError naming it with its section.
        """
        if not isinstance(config, Mapping):
            raise ValueError(f"a sweep config must be a table of keys, got {type(config).__name__}")
        unknown = sorted(set(config) - set(TOP_KEYS))
        if unknown:
            raise ValueError(f"unknown sweep config key(s) {unknown}; allowed: {sorted(TOP_KEYS)}")
        tables = {key: _table(config, key) for key in ("problem", "solver", "analysis", "plots")}
        scalars = {k: config[k] for k in ("name", "title", "description", "seeds", "seed", "max_batch", "solve", "on_divergence",
                                           "max_halvings") if k in config}
        scalars.update({k: v for k, v in (("name", name), ("seeds", seeds), ("seed", seed), ("max_batch", max_batch),
                                          ("on_divergence", on_divergence), ("max_halvings", max_halvings)) if v is not None})
        return cls(**scalars, problem=_problem({**tables["problem"], **(problem or {})}),
                   solver=_solver({**tables["solver"], **(solver or {})}),
                   grid=config.get("grid", NO_GRID) if grid is None else grid, analysis=_thresholds(tables["analysis"]),
                   plots=PlotSpec.from_dict(tables["plots"]))

    @classmethod
    def from_toml(cls, path, **overrides) -> "SweepConfig":
        """The config of a TOML file (the format: :mod:`dufm.experiments.sweep`); ``name`` defaults to the file's stem.

        ``overrides`` are :meth:`from_dict`'s. A problem with the file is a
        ValueError that names it (``config 'PATH': ...``); one caused by an
        override's value names the field alone (``seeds must be ...``), so
        that the caller can name its source (the CLI names the flag).
        """
        path = Path(path)
        config = read_toml(path)
        try:
            return cls.from_dict({"name": path.stem, **config}, **overrides)
        except ValueError as e:
            if _caused_by_overrides(e, overrides):
                raise
            raise ValueError(f"config {str(path)!r}: {e}") from None

    def to_dict(self) -> dict:
        """The plain (JSON and TOML) form: the name and every field that is not its default, tables as dicts.

        Only what was given is written, so ``SweepConfig.from_dict(c.to_dict()) == c``.
        """
        d = {k: v for k, v in _given(self).items() if k not in ("problem", "solver", "grid", "analysis", "plots")}
        for key in ("problem", "solver", "analysis"):
            table = _given(getattr(self, key))
            if table:
                d[key] = table
        if self.grid != NO_GRID:
            d["grid"] = _plain(self.grid[0] if len(self.grid) == 1 else self.grid)
        plots = self.plots.to_dict()
        if plots:
            d["plots"] = plots
        return d

    def runs(self) -> tuple[RunSpec, ...]:
        """Every run of the sweep, in grid order, each once: a grid point's problem and solver (resolved for the
        problem) with every seed; none for a theory-only config. A ValueError names the field of a point that is
        no valid run."""
        return self._runs

    @cached_property
    def _runs(self) -> tuple[RunSpec, ...]:
        if not self.solve:
            return ()
        specs, seen = [], set()
        for point in grid_points(self.grid):
            try:
                problem, solver = self._point(point)
            except ValueError as e:
                raise GridPointError(str(e), point) from None
            for seed in range(self.seed, self.seed + self.seeds):
                spec = RunSpec(problem, solver, seed)
                if spec.key not in seen:
                    seen.add(spec.key)
                    specs.append(spec)
        return tuple(specs)

    def _point(self, point: Mapping) -> tuple[Problem, SolverConfig]:
        """The problem and resolved solver config of a grid point, checked to make a run."""
        changes = {k: v for k, v in point.items() if k in PROBLEM_FIELDS}
        problem = replace(self.problem, **changes) if changes else self.problem
        solver = replace(self.solver, **{k: v for k, v in point.items() if k in SOLVER_FIELDS})
        solver = solver.resolved(problem.dtype, problem.finite_optimum)
        check_init(solver.init_scales(), solver.init, problem.architecture)  # the init fits every problem of the grid
        check_precision(problem.architecture, solver)
        check_history(problem.architecture, solver)  # and so does the record of its spectra
        return problem, solver


def _caused_by_overrides(error: ValueError, overrides: Mapping) -> bool:
    """Whether a config error names (``FIELD must ...``) a field whose value an override gave: a grid point's field of an
    override grid, or another field an override set."""
    m = re.match(r"([a-z_]+) must ", str(error))
    if not m:
        return False
    named = m.group(1)
    if isinstance(error, GridPointError) and named in error.point:  # the value is the grid's
        return overrides.get("grid") is not None
    given = {k for k in ("name", "seeds", "seed", "max_batch", "on_divergence", "max_halvings") if overrides.get(k) is not None}
    return named in given | set(overrides.get("problem") or {}) | set(overrides.get("solver") or {})


def read_toml(path) -> dict:
    """The tables of a TOML file; a ValueError naming the file if it is missing, not text or not TOML."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config must be an existing TOML file, got {str(path)!r}")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"config {str(path)!r} is not a text (UTF-8) TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config {str(path)!r} is not valid TOML: {e}") from None


def load_config(path) -> SweepConfig:
    """:meth:`SweepConfig.from_toml` (this name goes in the next release)."""
    warnings.warn("load_config(path) is SweepConfig.from_toml(path); load_config goes in the next release", DeprecationWarning,
                  stacklevel=2)
    return SweepConfig.from_toml(path)


def expand(config: SweepConfig | Mapping) -> list[RunSpec]:
    """The runs of a :class:`SweepConfig` (or of its plain form): :meth:`SweepConfig.runs` (this name goes in the next
    release)."""
    warnings.warn("expand(config) is SweepConfig.runs(); expand goes in the next release", DeprecationWarning, stacklevel=2)
    return list((config if isinstance(config, SweepConfig) else SweepConfig.from_dict(config)).runs())
