"""A sweep config: the grid of runs a sweep computes, read from TOML.

(See :mod:`dufm.experiments.sweep` for the format.)
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

from ..analysis.solution import Thresholds
from ..model.init import check_init
from ..model.problem import Problem
from ..solving.solver import SolverConfig, check_history
from ..store import run_key

PROBLEM_FIELDS = tuple(f.name for f in fields(Problem) if f.init)


SOLVER_FIELDS = tuple(f.name for f in fields(SolverConfig))


GRID_FIELDS = PROBLEM_FIELDS + SOLVER_FIELDS


TOP_KEYS = {"name", "title", "description", "seeds", "seed", "max_batch", "solve", "problem", "solver", "grid", "analysis", "plots"}


DEFAULT_MAX_BATCH = 32


NAME = re.compile(r"[A-Za-z0-9._-]+")


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


def load_config(path) -> dict:
    """Read a TOML sweep config; ``name`` defaults to the file's stem. Every problem with it names the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config must be an existing TOML file, got {str(path)!r}")
    try:
        cfg = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"config {str(path)!r} is not a text (UTF-8) TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config {str(path)!r} is not valid TOML: {e}") from None
    cfg.setdefault("name", path.stem)
    try:
        check_config(cfg)
    except ValueError as e:
        raise ValueError(f"config {str(path)!r}: {e}") from None
    return cfg


def check_name(name) -> str:
    """``name`` if it is a plain name for a results directory (no path, not '.' or '..', not empty)."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"name must be a plain name (letters, digits, '.', '_', '-'; no path), got {name!r}; "
                         "choose the directory with --out")
    return name


def check_config(config: dict) -> dict:
    """The config, if its keys and the types of its sections are a sweep config's (a ValueError naming the key)."""
    if not isinstance(config, dict):
        raise ValueError(f"a sweep config must be a table of keys, got {type(config).__name__}")
    unknown = set(config) - TOP_KEYS
    if unknown:
        raise ValueError(f"unknown sweep config key(s) {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
    check_name(config.get("name"))
    for key in ("title", "description"):
        if key in config and not isinstance(config[key], str):
            raise ValueError(f"{key} must be a string, got {config[key]!r}")
    if not isinstance(config.get("solve", True), bool):
        raise ValueError(f"solve must be true or false, got {config['solve']!r}")
    for section in ("problem", "solver", "analysis", "plots"):
        if not isinstance(config.get(section, {}), dict):
            raise ValueError(f"[{section}] must be a table, got {config[section]!r}")
    grids = config.get("grid", {})
    grids = grids if isinstance(grids, list) else [grids]
    for g in grids:
        if not isinstance(g, dict):
            raise ValueError(f"[grid] must be a table or an array of tables, got {g!r}")
        for axis, values in g.items():
            if isinstance(values, list) and not values:
                raise ValueError(f"[grid] {axis} must list at least one value, got []")
    figures = config.get("plots", {}).get("figures", [])
    if not (isinstance(figures, list) and all(isinstance(f, str) for f in figures)):
        raise ValueError(f"[plots] figures must be a list of figure names, got {figures!r}")
    thresholds(config)
    return config


def _as_list(v):
    return list(v) if isinstance(v, list) else [v]


def thresholds(config: dict) -> Thresholds:
    """The config's ``[analysis]`` thresholds (unknown keys are a ValueError)."""
    analysis = config.get("analysis", {})
    known = {f.name for f in fields(Thresholds)}
    if not isinstance(analysis, dict) or set(analysis) - known:
        bad = sorted(set(analysis) - known) if isinstance(analysis, dict) else analysis
        raise ValueError(f"unknown [analysis] key(s) {bad}; allowed: {sorted(known)}")
    return Thresholds(**analysis)


def expand(config: dict) -> list[RunSpec]:
    """Every run of a sweep config, validated (a ValueError names the offending key)."""
    check_config(config)
    for section, allowed in (("problem", PROBLEM_FIELDS), ("solver", SOLVER_FIELDS)):
        bad = set(config.get(section, {})) - set(allowed)
        if bad:
            raise ValueError(f"unknown [{section}] key(s) {sorted(bad)}; allowed: {list(allowed)}")
    if config.get("solve", True) is False:  # a theory-only config: figures from closed forms, no runs
        return []
    grids = config.get("grid", {})
    grids = grids if isinstance(grids, list) else [grids]
    for g in grids:
        bad = set(g) - set(PROBLEM_FIELDS) - set(SOLVER_FIELDS)
        if bad:
            raise ValueError(f"unknown [grid] key(s) {sorted(bad)}; allowed: problem and solver fields")
    n_seeds, first = config.get("seeds", 1), config.get("seed", 0)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {n_seeds!r}")
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        raise ValueError(f"seed must be an integer >= 0, got {first!r}")
    base_p = dict(config.get("problem", {}))
    base_s = dict(config.get("solver", {}))
    specs, seen = [], set()
    for g in grids:
        names = list(g)
        for values in itertools.product(*(_as_list(g[n]) for n in names)):
            point = dict(zip(names, values))
            pk = {**base_p, **{k: v for k, v in point.items() if k in PROBLEM_FIELDS}}
            sk = {**base_s, **{k: v for k, v in point.items() if k in SOLVER_FIELDS}}
            for k in ("per_class", "width", "layer_decay"):
                if isinstance(pk.get(k), list):
                    pk[k] = tuple(pk[k])
            problem = Problem(**pk)
            solver = SolverConfig(**sk).resolved(problem.dtype, problem.finite_optimum)
            check_init(solver.init_scales(), solver.init, problem.architecture)  # the init fits every problem of the grid
            check_history(problem.architecture, solver)  # and so does the record of its spectra
            for seed in range(first, first + n_seeds):
                spec = RunSpec(problem, solver, seed)
                if spec.key not in seen:
                    seen.add(spec.key)
                    specs.append(spec)
    return specs
