"""Sweeps: grids of runs, grouped by shape, run as batched compiled programs, stored as they finish.

A sweep config (TOML, or the same dict built from CLI flags)::

    name = "garrod2025_fig2"          # results go to results/<name> by default
    title = "P(DNC) vs width"
    seeds = 10                        # seeds seed .. seed+seeds-1 at every grid point
    seed = 0
    max_batch = 32                    # most runs in one compiled, vmapped program
    [problem]                         # dufm.Problem fields (defaults: the CLI's)
    classes = 10
    [solver]                          # dufm.SolverConfig fields
    lr = 0.5
    [grid]                            # Cartesian product of lists (any problem/solver field)
    width = [20, 50, 70]
    [analysis]
    rank_tol = 1e-3
    [plots]                           # which figures `dufm plot` draws, with options
    figures = ["p_dnc_vs_width", "rank_vs_width"]

``solve = false`` makes a theory-only config (closed-form figures, no runs).

``[[grid]]`` (an array of tables) gives a union of Cartesian products.

Runs whose architecture (shapes and modelling choices) and solver settings
agree form a group; a group runs as one compiled, ``vmap``-ped program over
seeds, weight decays and init scales, in batches of at most ``max_batch``
(the last batch padded to the same size, so a group compiles once). Every
finished batch is stored at once (:mod:`dufm.store`); re-running a sweep skips
stored runs, and a changed grid runs only the new ones.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .geometry import Thresholds
from .init import initialise
from .problem import Decays, Problem
from .report import run_record
from .solve import SolverConfig, _split
from .solve import run_batch as _run_programs
from .store import Store, run_key

PROBLEM_FIELDS = ("classes", "per_class", "width", "depth", "loss", "activation", "weight_decay", "feature_decay",
                  "layer_decay", "bias", "bias_decay", "dtype")
SOLVER_FIELDS = tuple(f.name for f in fields(SolverConfig))
PROBLEM_DEFAULTS = dict(classes=10, per_class=5, width=70, depth=2, loss="ce", activation="linear", weight_decay=2.0**-10)
TOP_KEYS = {"name", "title", "description", "seeds", "seed", "max_batch", "solve", "problem", "solver", "grid", "analysis", "plots"}
SUMMARY_COLUMNS = ["key", "seed", "classes", "per_class", "width", "depth", "loss_type", "activation", "lambda_H", "lambda_W",
                   "optimizer", "lr", "max_steps", "tol", "init_scale", "status", "steps", "loss", "grad_norm", "solution_type", "rank_Z"]


@dataclass
class RunSpec:
    """One run of a sweep: its problem, solver config, seed and store key."""

    problem: Problem
    solver: SolverConfig
    seed: int
    key: str

    @property
    def config(self) -> dict:
        return {"problem": self.problem.to_dict(), "solver": self.solver.to_dict(), "seed": self.seed}


def load_config(path) -> dict:
    """Read a TOML sweep config; ``name`` defaults to the file's stem."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config must be an existing TOML file, got {str(path)!r}")
    try:
        cfg = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config {str(path)!r} is not valid TOML: {e}") from None
    cfg.setdefault("name", path.stem)
    return cfg


def _as_list(v):
    return list(v) if isinstance(v, list) else [v]


def expand(config: dict) -> list[RunSpec]:
    """Every run of a sweep config, validated (a ValueError names the offending key)."""
    unknown = set(config) - TOP_KEYS
    if unknown:
        raise ValueError(f"unknown sweep config key(s) {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
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
    base_p = {**PROBLEM_DEFAULTS, **config.get("problem", {})}
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
            solver = SolverConfig(**sk).resolved(problem.dtype)
            for seed in range(first, first + n_seeds):
                spec = RunSpec(problem, solver, seed, "")
                spec.key = run_key(spec.config)
                if spec.key not in seen:
                    seen.add(spec.key)
                    specs.append(spec)
    return specs


def _group_key(spec: RunSpec):
    # init and init_scale only shape the starting point, which is a batched input
    return spec.problem.architecture, replace(spec.solver, init_scale=1.0, init="gaussian")


def group(specs: list[RunSpec]) -> list[list[RunSpec]]:
    """Runs that can share one compiled program, in first-seen order."""
    groups: dict = {}
    for s in specs:
        groups.setdefault(_group_key(s), []).append(s)
    return list(groups.values())


def batches(runs: list, max_batch: int) -> list[list]:
    """Split evenly into ceil(n / max_batch) batches."""
    nb = math.ceil(len(runs) / max_batch)
    size = math.ceil(len(runs) / nb)
    return [runs[i : i + size] for i in range(0, len(runs), size)]


def _initial(spec: RunSpec):
    return initialise(jax.random.PRNGKey(spec.seed), spec.problem.architecture, spec.solver.init_scale, spec.solver.init)


def run_batch(batch: list[RunSpec], size: int, batching: str = "auto", devices=None) -> list:
    """Run one batch (padded to ``size``) as one compiled program; returns a Run per spec.

    The program is sharded over ``devices`` (default: all local devices), see
    :func:`dufm.solve.run_batch`.
    """
    padded = batch + [batch[-1]] * (size - len(batch))
    params0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[_initial(s) for s in padded])
    decays = Decays(*(np.stack(a) for a in zip(*[s.problem.decays for s in padded])))
    arch, cfg = _group_key(batch[0])
    out = _run_programs(params0, decays, arch, cfg, batching, devices)
    return _split(out, [s.seed for s in padded], decays)[: len(batch)]


def _arrays(run, record) -> dict:
    arrays = {
        "history_step": run.history_step, "history_loss": run.history_loss,
        "history_grad_norm": run.history_grad_norm, "history_nc1": run.history_nc1,
    }
    if run.params is not None:
        arrays["H"] = run.params["H"]
        for l, W in enumerate(run.params["W"], start=1):
            arrays[f"W{l}"] = W
        if "b" in run.params:
            arrays["b"] = run.params["b"]
        for k, s in record["singular_values"].items():
            arrays[f"sv_{k}"] = np.asarray(s)
        arrays["class_mean_logits"] = np.asarray(record["class_mean_logits"])
    return arrays


def summary_row(rec: dict) -> dict:
    p, s = rec["config"]["problem"], rec["config"]["solver"]
    uniq = lambda v: v[0] if len(set(v)) == 1 else v  # noqa: E731
    return {
        "key": rec["key"], "seed": rec["seed"], "classes": p["classes"], "per_class": uniq(p["per_class"]),
        "width": uniq(p["width"]), "depth": p["depth"], "loss_type": p["loss"], "activation": p["activation"],
        "lambda_H": p["lambda_H"], "lambda_W": uniq(p["lambda_W"]), "optimizer": s["optimizer"], "lr": s["lr"],
        "max_steps": s["steps"], "tol": s["tol"], "init_scale": s["init_scale"], "status": rec["status"],
        "steps": rec["steps"], "loss": rec.get("loss"), "grad_norm": rec.get("grad_norm"),
        "solution_type": rec.get("solution_type"), "rank_Z": (rec.get("rank") or {}).get("Z"),
    }


def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Runs done / total with elapsed time and ETA, on stderr (one line per update when not a TTY)."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def update(self, n: int, note: str = ""):
        self.done += n
        el = time.perf_counter() - self.t0
        eta = el / self.done * (self.total - self.done) if self.done else float("nan")
        width = 30
        fill = int(width * self.done / max(self.total, 1))
        line = (f"[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} runs "
                f"{100 * self.done / max(self.total, 1):3.0f}% | {_fmt_time(el)} elapsed | ETA {_fmt_time(eta) if self.done else '?'} {note}")
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        if self.tty and self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


BACKENDS = ("local", "ray")


def compute_batch(batch: list[RunSpec], size: int, th: Thresholds, devices=None) -> list[tuple[str, dict, dict]]:
    """Run one batch and analyse it: ``(key, record, arrays)`` per spec, ready for :meth:`Store.put`.

    Pure computation, no disk: the same function runs in this process (local
    backend) or in a Ray task.
    """
    out = []
    for spec, run in zip(batch, run_batch(batch, size, devices=devices)):
        rec = run_record(run, spec.problem, th)
        rec.update({"key": spec.key, "config": spec.config})
        out.append((spec.key, rec, _arrays(run, rec)))
    return out


def _local_results(work, th):
    """Yield each batch's results in order, computed in this process."""
    for batch, size in work:
        yield batch, compute_batch(batch, size, th)


def _ray_results(work, th, address: str):
    """Yield each batch's results as its Ray task finishes (any order).

    Every batch is one Ray task with one CPU; in the worker, JAX gets one
    device (``DUFM_CPU_DEVICES=1``), so Ray's scheduler, not JAX, spreads the
    batches over the cores and machines. The tasks only compute and return
    plain data; this process writes the store (see :func:`run_sweep`).
    """
    try:
        import ray
    except ImportError:
        raise ValueError("backend 'ray' needs Ray: pip install -e \".[ray]\"") from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, log_to_driver=False)  # "local" starts a new local instance
        except (ConnectionError, RuntimeError) as e:
            raise ValueError(f"cannot connect to Ray at {address!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    try:
        task = ray.remote(num_cpus=1, runtime_env={"env_vars": {"DUFM_CPU_DEVICES": "1"}})(compute_batch)
        pending = {task.remote(batch, size, th): batch for batch, size in work}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(done[0]), ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _ray_address(address: str | None) -> str:
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ValueError("backend 'ray' needs an address: --ray-address ADDR (or RAY_ADDRESS) of a running Ray cluster, "
                         "or 'local' to start Ray on this machine")
    return address


def run_sweep(config: dict, out=None, max_batch: int | None = None, stream=None, backend: str = "local",
              ray_address: str | None = None) -> dict:
    """Run (or resume) a sweep; returns {"total", "ran", "skipped", "status": {...}, "path"}.

    Stored runs are skipped; each finished batch is stored at once, so an
    interruption loses at most the batches in flight.

    ``backend="local"`` runs the batches one after another in this process
    (each split over the local JAX devices). ``backend="ray"`` runs every batch
    as a Ray task on the cluster at ``ray_address`` (default: the
    ``RAY_ADDRESS`` environment variable; ``"local"`` starts Ray here). Either
    way this process alone writes the results store, as each batch arrives:
    workers need no access to its disk, the directory lock and the atomic
    writes stay with one writer, and a run is stored iff its record exists,
    so resuming works the same with both backends. The results are those of
    the local backend (each run is computed by the same program).
    """
    stream = stream or sys.stderr
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "ray":
        ray_address = _ray_address(ray_address)
    specs = expand(config)
    th = Thresholds(**config.get("analysis", {}))
    max_batch = max_batch or config.get("max_batch", 32)
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
    store = Store(out or Path("results") / config["name"])
    with store.lock():
        store.create()
        manifest = store.manifest()
        runs = dict(manifest.get("runs", {}))
        runs.update({s.key: s.config for s in specs})
        store.write_manifest({"name": config["name"], "config": config, "runs": runs, "grid": [s.key for s in specs]})
        stored = store.stored_keys()
        # the summary rows of every stored run, read once and kept up to date as runs finish
        rows = {k: summary_row(store.record(k)) for k in stored}
        todo = [s for s in specs if s.key not in stored]
        result = {"total": len(specs), "ran": len(todo), "skipped": len(specs) - len(todo), "path": str(store.root)}
        if not todo:
            store.write_summary([rows[k] for k in sorted(rows)], SUMMARY_COLUMNS)
            stream.write(f"nothing to do: all {len(specs)} runs of this grid are already stored in {store.root}\n")
            result["status"] = _status_counts(rows, [s.key for s in specs])
            return result
        stream.write(f"{len(todo)} runs to do ({len(specs) - len(todo)} of {len(specs)} already stored) in {store.root}"
                     f"{' (Ray at ' + ray_address + ')' if backend == 'ray' else ''}\n")
        groups = group(todo)
        gindex = {id(spec): gi for gi, g in enumerate(groups, start=1) for spec in g}
        work = []
        for g in groups:
            bs = batches(g, max_batch)
            work += [(b, len(bs[0])) for b in bs]  # every batch of a group padded to one size: one compilation
        results = _local_results(work, th) if backend == "local" else _ray_results(work, th, ray_address)
        progress = Progress(len(todo), stream)
        for batch, computed in results:
            for key, rec, arrays in computed:
                store.put(key, rec, arrays)
                rows[key] = summary_row(rec)
            store.write_summary([rows[k] for k in sorted(rows)], SUMMARY_COLUMNS)
            p = batch[0].problem
            progress.update(len(batch), f"| group {gindex[id(batch[0])]}/{len(groups)} (L={p.depth}, d={p.widths[0]}, K={p.classes})")
        result["status"] = _status_counts(rows, [s.key for s in specs])
        c = result["status"]
        stream.write(f"done: {len(specs)} runs in {store.root}: {c['converged']} converged, {c['max_steps']} hit the step limit, "
                     f"{c['diverged']} diverged (summary.csv)\n")
        return result


def _status_counts(rows: dict, keys) -> dict:
    counts = {"converged": 0, "max_steps": 0, "diverged": 0}
    for k in keys:
        counts[rows[k]["status"]] += 1
    return counts


class Results:
    """A loaded sweep: ``records`` (list of dicts, one per stored run), ``config``, and lazy arrays.

    By default only the runs of the latest config's grid are loaded (runs of an
    earlier, changed grid stay on disk); ``every_run=True`` loads all stored runs.
    """

    def __init__(self, path, every_run: bool = False):
        self.store = Store(path)
        if not (self.store.root / "manifest.json").exists():
            raise ValueError(f"path must be a dufm results directory (with manifest.json), got {str(path)!r}")
        manifest = self.store.manifest()
        self.config = manifest.get("config", {})
        stored = self.store.stored_keys()
        keys = stored if every_run or "grid" not in manifest else [k for k in manifest["grid"] if k in stored]
        self.records = [self.store.record(k) for k in sorted(keys)]

    def __len__(self):
        return len(self.records)

    def arrays(self, record_or_key) -> dict:
        """The ``.npz`` arrays of a run (final parameters, spectra, history)."""
        key = record_or_key["key"] if isinstance(record_or_key, dict) else record_or_key
        return self.store.arrays(key)

    def table(self) -> dict:
        """Summary columns as numpy arrays (one entry per stored run)."""
        rows = [summary_row(r) for r in self.records]
        return {c: np.array([r[c] for r in rows], dtype=object) for c in SUMMARY_COLUMNS}

    def results(self) -> list[dict]:
        """Records of the runs that did not diverge."""
        return [r for r in self.records if r["status"] != "diverged"]

    @property
    def diverged(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "diverged"]


def load_results(path, every_run: bool = False) -> Results:
    """Load a sweep directory written by :func:`run_sweep` / ``dufm sweep`` (see :class:`Results`)."""
    return Results(path, every_run)
