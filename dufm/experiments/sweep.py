"""Sweeps: plan a grid of runs, execute it in batched compiled programs, commit every batch to the store.

A sweep config (:class:`~dufm.experiments.config.SweepConfig`) in TOML, or
the same keys in a dict or from CLI flags::

    name = "garrod2025_fig2"          # results go to results/<name> by default (default: the file's stem)
    title = "P(DNC) vs width"
    seeds = 10                        # seeds seed .. seed+seeds-1 at every grid point
    seed = 0
    max_batch = 32                    # most runs in one compiled, batched program
    [problem]                         # the base problem: dufm.Problem fields (defaults: Problem's)
    classes = 10
    [solver]                          # the base solver: dufm.SolverConfig fields
    lr = 0.5
    [grid]                            # Cartesian product of lists (any problem/solver field)
    width = [20, 50, 70]
    [analysis]                        # dufm.Thresholds fields
    rank_tol = 1e-3
    [plots]                           # which figures `dufm plot` draws, with options
    figures = ["p_dnc_vs_width", "rank_vs_width"]

``[problem]`` and ``[solver]`` are a valid problem and solver config on
their own; every grid point replaces the fields it names. A grid axis given
one value (``width = 70``) has that value; a per-layer or per-class value is a
list in the list (``width = [[10, 20]]``). ``[[grid]]`` (an array of tables)
gives a union of Cartesian products. ``solve = false`` makes a theory-only
config (closed-form figures, no runs). The config is checked whole, every
grid point included, before anything runs.

Three steps, each with one entry point:

* **plan** (pure): the config's runs (:meth:`SweepConfig.runs
  <dufm.experiments.config.SweepConfig.runs>`, each a :class:`RunSpec`), then
  :func:`plan` the ones not yet stored: runs whose architecture and solver
  settings agree form a group, a group runs as one compiled program over
  seeds, weight decays and init scales, in :class:`Batch` es of at most
  ``max_batch`` (every batch of a group padded to one size, so a group
  compiles once);
* **execute**: :func:`execute` yields each batch with its computed records,
  run here (``local``) or as Ray tasks (``ray``);
* **commit**: the store's :class:`~dufm.store.Writer` stores every finished
  batch at once and owns the manifest and ``summary.csv``.

:func:`run_sweep` composes them; re-running a sweep skips stored runs, and a
changed grid runs only the new ones.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, NamedTuple, Protocol

from ..analysis.solution import Thresholds
from ..model.init import starts
from ..model.problem import Decays, Params
from ..solving.solver import PROGRAM_KEY_FIELDS, run_many
from ..store import Store
from .config import DEFAULT_MAX_BATCH, RunSpec, SweepConfig
from .provenance import environment, now
from .records import RunRecord, RunSchema, run_arrays

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Batch:
    """Runs that execute as one compiled program, padded to ``size`` members; group ``group`` of ``groups``.

    ``halvings``: a run of a fixed-step optimiser that diverges is run again from the same start with half the step,
    up to this many times (:data:`HALVED`).
    """

    specs: tuple[RunSpec, ...]
    size: int
    group: int
    groups: int
    halvings: int = 0


# the optimisers whose step is lr: a diverged run of one of them may be run again with half the step
HALVED = ("gd", "momentum", "adam")


@dataclass(frozen=True)
class Plan:
    """What a sweep will do: ``total`` runs in its grid, ``stored`` of them already done, the rest in ``batches``."""

    total: int
    stored: int
    batches: tuple[Batch, ...]

    @property
    def todo(self) -> int:
        return self.total - self.stored


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`run_sweep`: runs in the grid, run now, skipped (stored), counts by status, directory."""

    total: int
    ran: int
    skipped: int
    status: dict
    path: str

    def to_dict(self) -> dict:
        return {"total": self.total, "ran": self.ran, "skipped": self.skipped, "path": self.path, "status": dict(self.status)}


class Progress(Protocol):
    """What :func:`run_sweep` reports as it goes (the CLI prints it)."""

    def start(self, plan: Plan, path: Path) -> None: ...

    def advance(self, batch: Batch) -> None: ...


def _group_key(spec: RunSpec):
    # the starting point and the solver's numbers (lr, tol, steps, ...) are batched inputs of the program: runs that
    # differ only in them share one
    return (spec.problem.architecture, *(getattr(spec.solver, name) for name in PROGRAM_KEY_FIELDS))


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


def plan(specs: list[RunSpec], stored=frozenset(), max_batch: int = DEFAULT_MAX_BATCH, halvings: int = 0) -> Plan:
    """The batches that run the specs whose keys are not in ``stored`` (pure); ``halvings``: :class:`Batch`'s."""
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
    todo = [s for s in specs if s.key not in stored]
    groups = group(todo)
    work = []
    for gi, g in enumerate(groups, start=1):
        bs = batches(g, max_batch)
        work += [Batch(tuple(b), len(bs[0]), gi, len(groups), halvings) for b in bs]
    return Plan(len(specs), len(specs) - len(todo), tuple(work))


def solve_batch(batch: Batch, th: Thresholds, devices=None) -> list[tuple[str, dict, dict]]:
    """Run one batch and analyse it: ``(key, record, arrays)`` per spec, ready for :meth:`dufm.store.Writer.commit`.

    Pure computation, no disk: the same function runs in this process (local
    backend) or in a Ray task. The program is sharded over ``devices``
    (default: all local devices), see :func:`dufm.run_many`.
    """
    specs = batch.specs
    points = [None] * len(specs)
    for kind in dict.fromkeys(s.solver.init for s in specs):  # one program draws every start of a kind
        which = [i for i, s in enumerate(specs) if s.solver.init == kind]
        drawn = starts(specs[0].problem.architecture, [specs[i].seed for i in which],
                       [specs[i].solver.init_scales() for i in which], kind)
        for j, i in enumerate(which):
            points[i] = drawn.member(j)
    params0 = Params.stack(points)
    decays = Decays.stack([s.problem.decays for s in specs])
    start = now()
    arch, seeds = specs[0].problem.architecture, [s.seed for s in specs]
    runs = run_many(params0, decays, arch, [s.solver for s in specs], seeds=seeds, pad_to=batch.size, devices=devices)
    halved = [0] * len(specs)
    for _ in range(batch.halvings):  # the diverged runs again, from their starts, with half the step (the same program)
        again = [i for i, r in enumerate(runs) if r.diverged and specs[i].solver.optimizer in HALVED]
        if not again:
            break
        for i in again:
            halved[i] += 1
        cfgs = [replace(specs[i].solver, lr=specs[i].solver.lr / 2 ** halved[i]) for i in again]
        redone = run_many(Params.stack([points[i] for i in again]), Decays.stack([specs[i].problem.decays for i in again]), arch,
                          cfgs, seeds=[seeds[i] for i in again], pad_to=batch.size, devices=devices)
        for i, r in zip(again, redone):
            runs[i] = r
    env = environment(start, now(), sorted({r.device for r in runs}))
    out = []
    for spec, run, h in zip(specs, runs, halved):
        rec = RunRecord.from_run(run, spec.problem, th, key=spec.key, solver=spec.solver, environment=env, halvings=h)
        # the recorded spectra go into the .npz only: the JSON record stays small
        out.append((spec.key, rec.to_dict(spectra=False), run_arrays(run, rec.analysis)))
    return out


def _local_results(work, th) -> Iterator:
    """Yield each batch's results in order, computed in this process."""
    for batch in work:
        yield batch, solve_batch(batch, th)


def _ray_results(work, th, address: str) -> Iterator:
    """Yield each batch's results as its Ray task finishes (any order).

    Every batch is one Ray task with one CPU; a worker process has one JAX
    CPU device (dufm changes no device setting on import), so Ray's
    scheduler, not JAX, spreads the batches over the cores and machines. The
    tasks only compute and return plain data; this process commits them.
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
        task = ray.remote(num_cpus=1)(solve_batch)
        pending = {task.remote(batch, th): batch for batch in work}
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


def execute(work, th: Thresholds, backend: str = "local", ray_address: str | None = None) -> Iterator:
    """Yield ``(batch, [(key, record, arrays), ...])`` for every batch of ``work`` as it finishes.

    ``local`` runs the batches one after another in this process (each split
    over the local JAX devices); ``ray`` runs every batch as a Ray task on the
    cluster at ``ray_address`` (``"local"`` starts Ray here). Each run is
    computed by the same program either way.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "local":
        return _local_results(work, th)
    return _ray_results(work, th, _ray_address(ray_address))


class Shard(NamedTuple):
    """Share ``index`` (1 to ``count``) of a sweep: the runs whose key, read as a hexadecimal number, is index - 1 mod count.

    The share depends on the run's key alone, so N processes started at any
    time (a SLURM job array) split the grid without talking to each other and
    a rerun of a shard takes the same runs; keys are content hashes, so the
    shares are about equal.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text) -> "Shard":
        """``"I/N"``, 1 <= I <= N."""
        i, _, n = str(text).partition("/")
        if not (i.strip().isdigit() and n.strip().isdigit() and 1 <= int(i) <= int(n)):
            raise ValueError(f"shard must be I/N with 1 <= I <= N (share I of N), got {text!r}")
        return cls(int(i), int(n))

    def owns(self, key: str) -> bool:
        return int(key, 16) % self.count == self.index - 1


def run_sweep(config: SweepConfig | dict, out=None, max_batch: int | None = None, backend: str = "local",
              ray_address: str | None = None, progress: Progress | None = None, shard: Shard | None = None) -> SweepResult:
    """Run (or resume) a sweep: plan, execute, commit (module docstring).

    ``config`` is a :class:`SweepConfig` (a dict is read by
    :meth:`SweepConfig.from_dict`); ``max_batch``, if given, replaces its
    ``max_batch``. Its :meth:`~SweepConfig.to_dict` form is the manifest's
    ``config``.

    Stored runs are skipped; each finished batch is committed at once, so an
    interruption loses at most the batches in flight. With either backend
    this process alone writes the results store, as each batch arrives:
    workers need no access to its disk, the directory lock and the atomic
    writes stay with one writer, and a run is stored iff its record exists,
    so resuming works the same with both backends. ``progress`` hears of the
    plan and of every finished batch.

    ``shard`` runs only that share of the grid's runs (:class:`Shard`), as
    one of several processes writing into the same store at once: each
    commits its own runs, the manifest and ``summary.csv`` are updated under
    a shared lock (:meth:`dufm.store.Store.writer`), and the result counts the
    share. A whole sweep and shards never write one store at the same time.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "ray":
        ray_address = _ray_address(ray_address)
    # checked whole, its name among it, before anything touches the disk
    config = config if isinstance(config, SweepConfig) else SweepConfig.from_dict(config)
    specs = config.runs()
    max_batch = config.max_batch if max_batch is None else max_batch
    plan(specs[:0], max_batch=max_batch)  # validates max_batch before the store is touched
    mine = specs if shard is None else [s for s in specs if shard.owns(s.key)]
    store = Store(out or Path("results") / config.name)
    with store.writer(config.name, config.to_dict(), {s.key: s.config for s in specs}, RunSchema(), environment().to_dict(),
                      shared=shard is not None) as writer:
        work = plan(mine, writer.stored, max_batch, config.max_halvings if config.on_divergence == "halve" else 0)
        if progress:
            progress.start(work, store.root)
        for batch, computed in execute(work.batches, config.analysis, backend, ray_address):
            writer.commit(computed)
            if progress:
                progress.advance(batch)
        counts = {"converged": 0, "max_steps": 0, "diverged": 0}  # and loss_threshold, where a run stopped there
        for s in mine:
            status = writer.rows[s.key]["status"]
            counts[status] = counts.get(status, 0) + 1
        return SweepResult(work.total, work.todo, work.stored, counts, str(store.root))
