"""Typed records of runs (what ``dufm solve --json`` prints and the results store holds), and loading a results directory.

A :class:`RunRecord` is everything known about one finished run: its status,
loss, history and, unless it diverged, the :class:`~dufm.Analysis` of
its end point; a stored one also carries its key, problem and solver. It
round-trips through the store's JSON (:meth:`RunRecord.to_dict`,
:meth:`RunRecord.from_dict`); the run's arrays (final parameters, spectra,
history, and the recorded spectra of a run that recorded them) sit beside it
in ``.npz`` form (:func:`run_arrays`), and a stored record's recorded spectra
are read from there (:func:`load_run`).
:func:`load_results` reads a directory written by :func:`dufm.run_sweep`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from .. import theory
from ..analysis.solution import Analysis, SolutionType, Thresholds, analyse
from ..model.objective import spectrum_sizes
from ..model.problem import Params, Problem
from ..options import renamed
from ..solving.solver import History, Run, SolverConfig, Status
from ..store import Store, jsonable
from .config import SweepConfig
from .provenance import Environment

SUMMARY_COLUMNS = ("key", "seed", "classes", "per_class", "width", "depth", "loss_type", "activation", "lambda_H", "lambda_W",
                   "optimizer", "lr", "max_steps", "tol", "init_scale", "status", "steps", "loss", "grad_norm", "solution_type",
                   "rank_Z")


# the problem and solver fields SUMMARY_COLUMNS already shows (loss as loss_type, the decays as lambda_H / lambda_W, steps as
# max_steps); every other field of a run's config goes into its summary row as it is
SHOWN_FIELDS = ("classes", "per_class", "width", "depth", "loss", "activation", "weight_decay", "feature_decay", "layer_decay",
                "optimizer", "lr", "steps", "tol", "init_scale")
NORMALISED_COLUMNS = ("effective_rank", "stable_rank", "margin")

# The version of a run record's JSON (``record_format``; a record without one is format 1). Format 2 computes every NC
# metric from the streamed statistics of :func:`dufm.analysis.collapse.nc_from_stats`; format 1 computed nc1, nc1_trace,
# nc2_etf, nc2_of, nc3 and nc3_duality from the feature matrix directly: the same formulas, rounded differently (the two
# agree to 1e-12, tests/test_store.py). Records of both formats load; a run is never recomputed because of its format.
RECORD_FORMAT = 2


def _uniq(values):
    """One value if all agree, else the tuple."""
    values = tuple(values)
    return values[0] if len(set(values)) == 1 else values


@dataclass(frozen=True, eq=False)
class RunRecord:
    """One finished run as plain, typed data. ``loss``, ``grad_norm`` and ``analysis`` are None for a diverged run.

    ``key`` and ``solver`` are set for a stored sweep run, whose JSON then
    carries them with the problem (``dufm solve --json`` states the problem
    and solver once for all its runs instead). ``record_format`` is the version
    of the JSON it was read from or is written as (:data:`RECORD_FORMAT`). A
    gradient flow's record has its flow ``time`` and ``rejected`` steps (JSON
    ``flow_time``, ``rejected_steps``; ``steps`` are its accepted ones), None
    for the optimisers.
    """

    seed: int | None
    status: Status
    steps: int
    lambda_H: float
    lambda_W: tuple[float, ...]
    loss: float | None
    grad_norm: float | None
    analysis: Analysis | None
    history: History
    key: str | None = None
    problem: Problem | None = None
    solver: SolverConfig | None = None
    environment: Environment | None = None
    record_format: int = RECORD_FORMAT
    time: float | None = None
    rejected: int | None = None
    halvings: int = 0

    @classmethod
    def from_run(cls, run: Run, problem: Problem, thresholds: Thresholds = Thresholds(), *, key: str | None = None,
                 solver: SolverConfig | None = None, environment: Environment | None = None, halvings: int = 0) -> "RunRecord":
        """The record of ``run``, analysing its end point (no analysis for a diverged run); ``halvings``: how often the
        step of ``solver`` was halved to get it (a sweep's ``on_divergence = "halve"``)."""
        analysis = None if run.diverged else analyse(run.params, problem, thresholds)
        return cls(run.seed, run.status, run.steps, float(run.decays.H), tuple(float(v) for v in np.atleast_1d(run.decays.W)),
                   run.loss, run.grad_norm, analysis, run.history, key, problem, solver, environment, time=run.time,
                   rejected=run.rejected, halvings=halvings)

    @property
    def diverged(self) -> bool:
        return self.status == Status.DIVERGED

    @property
    def lr_used(self) -> float | None:
        """The step the run used: its solver's lr, halved ``halvings`` times (None without a solver)."""
        return None if self.solver is None else self.solver.lr / 2**self.halvings

    @property
    def solution_type(self) -> SolutionType | None:
        return None if self.analysis is None else self.analysis.solution_type

    @property
    def config(self) -> dict:
        """The run config hashed into its key: problem, solver, seed."""
        return {"problem": self.problem.to_dict(), "solver": self.solver.to_dict(), "seed": self.seed}

    def grid_value(self, name: str):
        """The value of a grid field (any problem or solver field) for this run; per-layer values as one number when equal."""
        p = self.problem
        if name in ("weight_decay", "feature_decay", "layer_decay"):
            every = {"weight_decay": (p.lambda_H, *p.lambda_W), "feature_decay": (p.lambda_H,), "layer_decay": p.lambda_W}[name]
            return p.lambda_H if name == "weight_decay" and len(set(every)) == 1 else _uniq(every)
        if name in ("width", "per_class"):
            return _uniq(p.widths if name == "width" else p.counts)
        if hasattr(p, name):
            return getattr(p, name)
        return getattr(self.solver, name)

    def to_dict(self, spectra: bool = True) -> dict:
        """The JSON document (the store's ``runs/<key>.json``; the ``dufm solve --json`` run).

        The recorded spectra (``history.sv``, when there are any) are in the history as ``sv``; ``spectra=False``
        leaves them out (the store keeps them in the run's ``.npz`` only, :func:`run_arrays`).
        """
        d = {"seed": self.seed, "status": self.status, "steps": self.steps, "lambda_H": self.lambda_H, "lambda_W": list(self.lambda_W)}
        if self.diverged:
            d.update({"loss": None, "grad_norm": None, "diverged_at_step": self.steps})
        else:
            d.update({"loss": self.loss, "grad_norm": self.grad_norm, **self.analysis.to_dict()})
        if self.time is not None:  # gradient flow: steps are its accepted steps
            d.update({"flow_time": self.time, "rejected_steps": self.rejected})
        if self.halvings:  # run again with a shorter step after diverging: the step it used
            d.update({"halvings": self.halvings, "lr_used": self.lr_used})
        h = self.history
        d["history"] = {"step": h.step, "loss": h.loss, "grad_norm": h.grad_norm, "nc1_trace": h.nc1}
        if h.time is not None:
            d["history"]["time"] = h.time
        if h.sharpness is not None:
            d["history"]["sharpness"] = h.sharpness
        if spectra and h.sv:
            d["history"]["sv"] = dict(h.sv)
        if self.key is not None:
            d.update({"key": self.key, "config": self.config})
        if self.environment is not None:
            d["environment"] = self.environment.to_dict()
        if self.record_format != 1:  # a format-1 record has no key: it round-trips unchanged
            d["record_format"] = self.record_format
        return jsonable(d)

    @classmethod
    def from_dict(cls, d: dict, source: str = "record") -> "RunRecord":
        """The record of :meth:`to_dict`; a malformed one is a ValueError naming ``source``."""
        try:
            status = Status(d["status"])
            h = d["history"]
            sv = {k: np.array(v, float) for k, v in h.get("sv", {}).items()}
            history = History(np.asarray(h["step"], int), np.array(h["loss"], float), np.array(h["grad_norm"], float),
                              np.array(h["nc1_trace"], float), sv, np.array(h["time"], float) if "time" in h else None,
                              np.array(h["sharpness"], float) if "sharpness" in h else None)
            analysis = None if status == Status.DIVERGED else Analysis.from_dict(d)
            config = d.get("config")
            problem = Problem.from_dict(config["problem"]) if config else None
            solver = SolverConfig(**renamed(SolverConfig, config["solver"])) if config else None
            env = Environment.from_dict(d["environment"]) if "environment" in d else None  # provenance is optional
            return cls(d["seed"], status, int(d["steps"]), float(d["lambda_H"]), tuple(float(v) for v in d["lambda_W"]),
                       d["loss"], d["grad_norm"], analysis, history, d.get("key"), problem, solver, env, int(d.get("record_format", 1)),
                       d.get("flow_time"), d.get("rejected_steps"), int(d.get("halvings", 0)))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{source} is not a dufm run record (damaged or of another version): {type(e).__name__}: {e}") from None

    def summary_row(self) -> dict:
        """Its row of ``summary.csv`` (:data:`SUMMARY_COLUMNS`)."""
        p, s = self.problem, self.solver
        return {
            "key": self.key, "seed": self.seed, "classes": p.classes, "per_class": _uniq(p.counts), "width": _uniq(p.widths),
            "depth": p.depth, "loss_type": p.loss, "activation": p.activation, "lambda_H": p.lambda_H, "lambda_W": _uniq(p.lambda_W),
            "optimizer": s.optimizer, "lr": s.lr, "max_steps": s.steps, "tol": s.tol, "init_scale": s.init_scale,
            "status": str(self.status), "steps": self.steps, "loss": self.loss, "grad_norm": self.grad_norm,
            "solution_type": None if self.solution_type is None else str(self.solution_type),
            "rank_Z": None if self.analysis is None else self.analysis.rank["Z"],
            # every other field of the run's config; summary.csv shows those that differ between the grid's runs
            **{f.name: getattr(c, f.name) for c in (p, s) for f in fields(c) if f.init and f.name not in SHOWN_FIELDS},
        }


def summary_row(record: dict) -> dict:
    """The ``summary.csv`` row of a stored record's JSON document."""
    return RunRecord.from_dict(record, f"record {record.get('key')!r}" if isinstance(record, dict) else "record").summary_row()


def _agree(got, want) -> bool:
    return got is not None and np.shape(got) == np.shape(want) and np.array_equal(got, want, equal_nan=True)


def check_arrays(rec: RunRecord, arrays: dict, source: str):
    """A ValueError naming ``source`` unless the arrays are those of ``rec``: its history (with one (T, r) array
    ``history_sv_<name>`` per matrix its solver's ``spectra`` records, equal to the record's own if it has them), and
    (finished runs) parameters of the problem's shapes and the singular values it reports."""
    h = rec.history
    for name, want in (("history_time", h.time), ("history_sharpness", h.sharpness)):  # a flow's time; a recorded sharpness
        if (name in arrays) != (want is not None) or (want is not None and not _agree(arrays[name], want)):
            raise ValueError(f"{source} does not match its record ({name})")
    for name, want in (("history_step", h.step), ("history_loss", h.loss), ("history_grad_norm", h.grad_norm), ("history_nc1", h.nc1)):
        if not _agree(arrays.get(name), want):
            raise ValueError(f"{source} does not match its record ({name})")
    sizes = spectrum_sizes(rec.problem.architecture, rec.solver.spectra) if rec.problem and rec.solver else {}
    recorded = sorted(k for k in arrays if k.startswith("history_sv_"))
    if recorded != sorted(f"history_sv_{k}" for k in sizes):
        raise ValueError(f"{source} does not match its record (recorded spectra {recorded}, the solver's {sorted(sizes)})")
    for k, r in sizes.items():
        got = arrays[f"history_sv_{k}"]
        if np.shape(got) != (len(h.step), r) or (h.sv and not _agree(got, h.sv.get(k))):
            raise ValueError(f"{source} does not match its record (history_sv_{k})")
    if rec.diverged:
        return
    params = Params.from_arrays(arrays, source)
    want = [(rec.problem.widths[0], rec.problem.samples)]
    want += [(rec.problem.widths[l + 1], rec.problem.widths[l]) for l in range(rec.problem.depth - 1)]
    want += [(rec.problem.classes, rec.problem.widths[-1])]
    got = [np.shape(params.H), *(np.shape(w) for w in params.W)]
    if got != want or (params.b is None) != (rec.problem.bias == "none"):
        raise ValueError(f"{source} does not match its record (parameter shapes {got}, the problem's {want})")
    for k, s in rec.analysis.singular_values.items():
        if not _agree(arrays.get(f"sv_{k}"), s):
            raise ValueError(f"{source} does not match its record (sv_{k})")


def load_run(store: Store, key: str) -> RunRecord:
    """Stored run ``key``, its record checked against its arrays; a ValueError naming the file if either is damaged."""
    path = store.runs_dir / f"{key}.json"
    rec = RunRecord.from_dict(store.record(key), str(path))
    if rec.key != key or rec.problem is None or rec.solver is None:
        raise ValueError(f"{path} is not the record of run {key} (damaged?)")
    arrays = store.arrays(key)
    check_arrays(rec, arrays, str(store.runs_dir / f"{key}.npz"))
    sv = {k: arrays[f"history_sv_{k}"] for k in spectrum_sizes(rec.problem.architecture, rec.solver.spectra)}
    return replace(rec, history=rec.history._replace(sv=sv)) if sv else rec


class RunSchema:
    """The results store's :class:`~dufm.store.Format` for runs: a stored run is valid if :func:`load_run` accepts it."""

    columns = SUMMARY_COLUMNS

    def check(self, store: Store, key: str) -> dict:
        return load_run(store, key).summary_row()

    def row(self, record: dict) -> dict:
        return summary_row(record)


def run_arrays(run: Run, analysis: Analysis | None) -> dict[str, np.ndarray]:
    """The arrays stored beside a run's record: history (``history_sv_<name>`` (T, r): the recorded spectra, if any),
    and (unless it diverged) parameters, spectra, class-mean logits."""
    h = run.history
    arrays = {"history_step": h.step, "history_loss": h.loss, "history_grad_norm": h.grad_norm, "history_nc1": h.nc1}
    if h.time is not None:
        arrays["history_time"] = np.asarray(h.time)
    if h.sharpness is not None:
        arrays["history_sharpness"] = np.asarray(h.sharpness)
    arrays.update({f"history_sv_{k}": np.asarray(s) for k, s in h.sv.items()})
    if run.params is not None:
        arrays.update(run.params.to_arrays())
        arrays.update({f"sv_{k}": np.asarray(s) for k, s in analysis.singular_values.items()})
        arrays["class_mean_logits"] = np.asarray(analysis.class_mean_logits)
    return arrays


def theory_record(problem: Problem) -> dict:
    """The closed-form candidates of ``problem``: name -> {loss, scale, ...} or {loss: None, scale: None, reason}."""
    out = {}
    for name, c in theory.candidates(problem).items():
        out[name] = {"loss": None, "scale": None, "reason": c} if isinstance(c, str) else c.to_dict()
    return jsonable(out)


class Results:
    """A loaded results directory: ``records`` (a :class:`RunRecord` per stored run, by key), ``config`` (the
    :class:`~dufm.experiments.config.SweepConfig` of its latest sweep), lazy arrays.

    By default only the runs of the latest config's grid are loaded (runs of an
    earlier, changed grid stay on disk); ``every_run=True`` loads all stored runs.
    Every run's record is checked against its arrays; a damaged run is moved
    into the store's ``damaged/`` folder with a :class:`~dufm.store.StoreWarning`.
    """

    def __init__(self, path, every_run: bool = False):
        self.store = Store(path)
        if not self.store.exists:
            raise ValueError(f"path must be a dufm results directory (with manifest.json), got {str(path)!r}")
        manifest = self.store.manifest()
        config = manifest.get("config", {})
        if config.get("kind") == "features":  # its records are no runs: loading them as runs would set them aside as damaged
            raise ValueError(f"{path} holds feature analyses (dufm analyse --out), not sweep runs: load it with dufm.features.load")
        try:
            self.config = SweepConfig.from_dict({"name": manifest.get("name"), **config})
        except ValueError as e:
            raise ValueError(f"{self.store.root / 'manifest.json'}: its sweep config: {e}") from None
        keys = self.store.stored_keys() if every_run or "grid" not in manifest else manifest["grid"]
        self.records = list(self.store.healthy(keys, load_run).values())  # damaged runs are set aside, with a warning

    @property
    def path(self) -> Path:
        return self.store.root

    def __len__(self):
        return len(self.records)

    def arrays(self, record: RunRecord | str) -> dict:
        """The ``.npz`` arrays of a run (final parameters, spectra, history; ``history_sv_<name>`` when it recorded spectra)."""
        return self.store.arrays(record if isinstance(record, str) else record.key)

    def params(self, record: RunRecord | str) -> Params:
        """The final parameters of a finished run."""
        key = record if isinstance(record, str) else record.key
        return Params.from_arrays(self.arrays(key), f"run {key} of {self.store.root}")

    def table(self) -> dict:
        """Summary columns as numpy arrays (one entry per loaded run)."""
        rows = [r.summary_row() for r in self.records]
        return {c: np.array([r[c] for r in rows], dtype=object) for c in SUMMARY_COLUMNS}

    def to_pandas(self, long: bool = False):
        """The loaded runs as a ``pandas.DataFrame`` (pandas is an optional extra: ``pip install -e ".[pandas]"``).

        Wide (default): one row per run, the :data:`SUMMARY_COLUMNS` (config
        fields; ``loss`` is the final objective, ``loss_type`` the data term)
        and ``hidden_rank``, ``bias``, ``dtype``, ``smoothing``, ``focal_gamma``, ``init``, ``host``, ``start``, and for runs without a finite
        optimum (or unregularised) the scale-free ``effective_rank``, ``stable_rank`` and ``margin``
        (:class:`~dufm.ScaleFree`; None elsewhere).
        ``long=True``: one row per run x matrix x metric (``layer``,
        ``metric``, ``value``): every NC metric of every feature matrix and
        the numerical rank and largest singular value of every matrix, with
        the run's config columns; diverged runs have no rows.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ValueError('to_pandas needs pandas: pip install -e ".[pandas]"') from None
        wide = []
        for r in self.records:
            row = r.summary_row()
            row.update(hidden_rank=None if r.analysis is None else r.analysis.hidden_rank, bias=r.problem.bias, dtype=r.problem.dtype,
                       init=r.solver.init, host=r.environment.host if r.environment else None,
                       start=r.environment.start if r.environment else None)
            norm = None if r.analysis is None else r.analysis.scale_free
            row.update({k: None if norm is None else getattr(norm, k) for k in NORMALISED_COLUMNS})
            wide.append(row)
        if not long:
            return pd.DataFrame(wide, columns=list(SUMMARY_COLUMNS) + ["hidden_rank", "bias", "dtype", "smoothing", "focal_gamma",
                                                                       "init", "host", "start", *NORMALISED_COLUMNS])
        config = [c for c in SUMMARY_COLUMNS if c not in ("status", "steps", "loss", "grad_norm", "solution_type", "rank_Z")]
        rows = []
        for r, w in zip(self.records, wide):
            if r.analysis is None:
                continue
            base = {c: w[c] for c in config}
            for layer, m in r.analysis.nc.items():
                rows += [{**base, "layer": layer, "metric": k, "value": v} for k, v in m.to_dict().items()]
            for layer, rank in r.analysis.rank.items():
                rows.append({**base, "layer": layer, "metric": "rank", "value": float(rank)})
                sv = r.analysis.singular_values[layer]
                rows.append({**base, "layer": layer, "metric": "sigma_max", "value": float(sv[0]) if len(sv) else 0.0})
        return pd.DataFrame(rows, columns=config + ["layer", "metric", "value"])

    def results(self) -> list[RunRecord]:
        """Records of the runs that did not diverge."""
        return [r for r in self.records if not r.diverged]

    @property
    def diverged(self) -> list[RunRecord]:
        return [r for r in self.records if r.diverged]


def load_results(path, every_run: bool = False) -> Results:
    """Load a sweep directory written by :func:`dufm.run_sweep` / ``dufm sweep`` (see :class:`Results`)."""
    return Results(path, every_run)
