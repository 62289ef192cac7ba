"""``dufm sweep``: run or resume a grid of runs into a results directory."""

from __future__ import annotations

import json
import os
import sys

from . import flags, process, text

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
    w.add_argument("--max-batch", type=flags.integer, help="most runs per compiled program (default 32)")
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

        from ..solving.budget import COMPILE_SECONDS, estimate_seconds

        seen = set()
        for batch in plan.batches:  # every run to its step limit, and a compilation for the first batch of each group
            spec = batch.specs[0]
            steps = max(s.solver.steps for s in batch.specs)
            self.costs[id(batch)] = estimate_seconds(spec.problem.architecture, steps, batch.size, jax.local_device_count()) + (
                COMPILE_SECONDS if batch.group not in seen else 0.0)
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


def config_from(args) -> dict:
    """The sweep config: the TOML file (or a bare one named by --name), with the flags applied over it."""
    from ..experiments.config import PROBLEM_FIELDS, SOLVER_FIELDS, load_config
    from ..model.problem import Problem
    from ..solving.solver import SolverConfig

    config = load_config(args.config) if args.config else {"name": "sweep"}
    if args.name is not None:
        config["name"] = args.name
    config = {**config, "problem": {**config.get("problem", {}), **flags.given(args, Problem)},
              "solver": {**config.get("solver", {}), **flags.given(args, SolverConfig)}}
    if args.grid:
        grid = {}
        for item in args.grid:
            key, sep, values = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not values:
                raise ValueError(f"grid must look like KEY=V1,V2,... , got {item!r}")
            if key not in PROBLEM_FIELDS + SOLVER_FIELDS:
                raise ValueError(f"grid key must be a problem or solver field, got {key!r}")
            grid[key] = [_grid_value(v) for v in values.split(",")]
        config["grid"] = grid
    for k in ("seeds", "seed"):
        if getattr(args, k) is not None:
            config[k] = getattr(args, k)
    return config


def run(args) -> int:
    from ..experiments.config import expand
    from ..experiments.sweep import Shard, run_sweep

    if args.backend != "ray" and args.ray_address:
        raise ValueError("--ray-address is only used with --backend ray")
    ray = (args.ray_address or os.environ.get("RAY_ADDRESS")) if args.backend == "ray" else None
    progress = _Progress(sys.stderr, ray)
    config = config_from(args)
    try:
        expand(config)  # every value of the config checked, before the store is touched
    except ValueError as e:
        if args.config and flags.explain(str(e), args) == str(e):  # not a flag's value: the file's
            raise ValueError(f"config {args.config!r}: {e}") from None
        raise
    shard = Shard.parse(args.shard) if args.shard is not None else None
    result = run_sweep(config, out=args.out, max_batch=args.max_batch, backend=args.backend, ray_address=args.ray_address,
                       progress=progress, shard=shard)
    progress.finish(result)
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0
