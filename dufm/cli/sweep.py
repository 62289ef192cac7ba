"""``dufm sweep``: run or resume a grid of runs into a results directory."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING

from . import flags, process, text

if TYPE_CHECKING:
    from ..experiments.config import SweepConfig

HELP = "run (or resume) a grid of runs into a results directory"
DESCRIPTION = ("Run or resume a sweep: a TOML config (see experiments/) or flags. Runs of the same shape are batched into one "
               "compiled program; every finished run is stored at once, and stored runs are skipped.")


def add(sub):
    from ..model.problem import Problem
    from ..solving.solver import SolverConfig

    w = sub.add_parser("sweep", help=HELP, description=DESCRIPTION)
    w.add_argument("config", nargs="?", help="sweep config (TOML); without it, the sweep is built from the flags")
    w.add_argument("--out", help="results directory (default results/<name>)")
    w.add_argument("--name", help="sweep name, a plain name: results go to results/<name> (default: the config's, or 'sweep')")
    w.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a grid axis over any problem or solver field, e.g. width=20,50,70 (repeatable; replaces the config's grid)")
    w.add_argument("--seeds", type=flags.integer, help="seeds per grid point")
    w.add_argument("--seed", type=flags.integer, help="first seed")
    w.add_argument("--max-batch", type=flags.integer, help="most runs per compiled program (default: the config's, or 32)")
    w.add_argument("--on-divergence", choices=("stop", "halve"), help="a diverging gd / momentum / adam run: stored as "
                   "diverged (stop, the default) or run again from its start with half the step (halve)")
    w.add_argument("--max-halvings", type=flags.integer, help="the most halvings of a diverging run's step (default 6)")
    w.add_argument("--json", action="store_true", help="print the outcome (counts by status, path) as JSON")
    w.add_argument("--shard", metavar="I/N", help="run share I of N of the grid, alongside the other shards' processes "
                   "writing into the same results directory (a SLURM job array: docs/cli.md)")
    w.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: batches run in this process on its JAX devices (default); ray: every batch is a Ray task")
    w.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address for --backend ray (default: $RAY_ADDRESS; "
                   "'local' starts Ray on this machine)")
    flags.add_fields(w.add_argument_group("problem (override the config)"), Problem, defaults=False)
    flags.add_fields(w.add_argument_group("solver (override the config)"), SolverConfig, defaults=False)


class _Progress(text.Progress):
    """The sweep's progress, with an ETA from the time estimate of every batch (:func:`dufm.solving.budget.estimate_seconds`)."""

    def __init__(self, stream, ray):
        super().__init__(stream, ray, cost=lambda batch: self.costs[id(batch)])
        self.costs = {}

    def start(self, plan, path):
        import jax

        from ..solving.budget import COMPILE_SECONDS, estimate_seconds, quoted_steps

        seen = set()
        for batch in plan.batches:  # every run to its step limit (the flow at its usual count), and a compilation for
            spec = batch.specs[0]  # the first batch of each group
            steps = quoted_steps(spec.solver.optimizer, max(s.solver.steps for s in batch.specs))
            self.costs[id(batch)] = estimate_seconds(spec.problem.architecture, steps, batch.size, jax.local_device_count(),
                                                     spec.solver.optimizer) + (COMPILE_SECONDS if batch.group not in seen else 0.0)
            seen.add(batch.group)
        super().start(plan, path)

    def advance(self, batch):
        super().advance(batch)
        process.check_interrupt()  # an interrupt that arrived while the batch was committed stops the sweep here


def _grid_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _grid(items) -> dict | None:
    """The grid of the --grid flags (one axis each), or None without any."""
    from ..experiments.config import GRID_FIELDS

    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not values:
            raise ValueError(f"grid must look like KEY=V1,V2,... , got {item!r}")
        if key not in GRID_FIELDS:
            raise ValueError(f"grid key must be a problem or solver field, got {key!r}")
        grid[key] = [_grid_value(v) for v in values.split(",")]
    return grid or None


def config_from(args) -> SweepConfig:
    """The sweep's :class:`~dufm.experiments.config.SweepConfig`: the TOML file (or a bare config named 'sweep'), with
    the flags over it. An error in a --grid value names --grid; one of another flag names the field, which
    :func:`flags.explain` turns into the flag; one in the file names the file."""
    from ..experiments.config import GridPointError, SweepConfig
    from ..model.problem import Problem
    from ..solving.solver import SolverConfig

    grid = _grid(args.grid)
    overrides = dict(name=args.name, seeds=args.seeds, seed=args.seed, max_batch=args.max_batch, on_divergence=args.on_divergence,
                     max_halvings=args.max_halvings,
                     problem=flags.given(args, Problem), solver=flags.given(args, SolverConfig), grid=grid)
    try:
        if args.config:
            return SweepConfig.from_toml(args.config, **overrides)
        return SweepConfig.from_dict({"name": "sweep"}, **overrides)
    except GridPointError as e:
        m = re.match(r"([a-z_]+) must ", str(e))
        if grid and m and m.group(1) in e.point:  # the value of a --grid axis
            raise ValueError(f"--grid: {e}") from None
        raise


def run(args) -> int:
    from ..experiments.sweep import Shard, run_sweep

    if args.backend != "ray" and args.ray_address:
        raise ValueError("--ray-address is only used with --backend ray")
    ray = (args.ray_address or os.environ.get("RAY_ADDRESS")) if args.backend == "ray" else None
    progress = _Progress(sys.stderr, ray)
    config = config_from(args)  # every value checked, before the store is touched
    shard = Shard.parse(args.shard) if args.shard is not None else None
    result = run_sweep(config, out=args.out, backend=args.backend, ray_address=args.ray_address, progress=progress, shard=shard)
    progress.finish(result)
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0
