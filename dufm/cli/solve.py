"""``dufm solve``: solve a deep UFM from random initialisations and report the end points."""

from __future__ import annotations

import json
import sys
import time

from . import flags, text

HELP = "solve a deep UFM and analyse the end point"
DESCRIPTION = ("Solve a deep UFM from random initialisations (one compiled program for all seeds) and report loss, gradient "
               "norm, stop reason, spectra, ranks, NC metrics and the solution type.")


def add(sub):
    from ..analysis.solution import Thresholds
    from ..model.problem import Problem
    from ..solving.solver import SolverConfig

    p = sub.add_parser("solve", help=HELP, description=DESCRIPTION)
    flags.add_fields(p.add_argument_group("problem (defaults: Garrod & Keating Fig 1)"), Problem)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    g = p.add_argument_group("solver")
    flags.add_fields(g, SolverConfig)
    g.add_argument("--seed", type=flags.integer, default=0, help="first seed (default 0)")
    g.add_argument("--seeds", type=flags.integer, default=1, help="number of seeds M: runs seed..seed+M-1 together (default 1)")
    flags.add_fields(g, Thresholds)


def _announce(problem, cfg, runs: int):
    """Say before a long job starts how long it may take (every run to its step limit; the flow at its usual count)."""
    import jax

    from ..solving.budget import estimate_seconds, quoted_steps, seconds_at_most

    arch, devices = problem.architecture, jax.local_device_count()
    if seconds_at_most(arch, cfg.steps, runs, devices, cfg.optimizer) <= 120:
        return
    seconds = estimate_seconds(arch, cfg.steps, runs, devices, cfg.optimizer)
    usual = quoted_steps(cfg.optimizer, cfg.steps)
    if usual < cfg.steps:
        quoted = estimate_seconds(arch, usual, runs, devices, cfg.optimizer)
        if quoted > 120:
            print(f"dufm solve: estimated run time about {text.duration(quoted)} ({runs} run(s) x about "
                  f"{usual} accepted steps, as the flow takes on the deep UFM; at most {cfg.steps} steps "
                  f"would take up to {text.duration(seconds)})", file=sys.stderr)
    elif seconds > 120:
        print(f"dufm solve: estimated run time up to {text.duration(seconds)} ({runs} run(s) x at most {cfg.steps} steps; "
              "runs that converge earlier take less)", file=sys.stderr)


def run(args) -> int:
    from ..analysis.solution import Thresholds
    from ..experiments.provenance import environment, now
    from ..experiments.records import RunRecord, theory_record
    from ..model.problem import MULTI_LABEL_LOSSES, Problem
    from ..options import check_int
    from ..solving.solver import SolverConfig, layout, solve
    from ..store import jsonable

    problem = flags.build(Problem, args)
    cfg = flags.build(SolverConfig, args).resolved(problem.dtype, problem.finite_optimum)
    th = flags.build(Thresholds, args)
    # --seeds is a count here (the library takes the seeds themselves)
    seeds = range(args.seed, args.seed + check_int("seeds", args.seeds, 1))
    layout(problem.architecture, cfg, len(seeds))  # refuses what cannot fit, before announcing how long it would take
    _announce(problem, cfg, len(seeds))
    t0, start = time.perf_counter(), now()
    runs = solve(problem, cfg, seeds)
    wall = time.perf_counter() - t0
    env = environment(start, now(), sorted({r.device for r in runs}))
    records = [RunRecord.from_run(r, problem, th) for r in runs]
    # closed forms need every lambda > 0, and one label per sample and a loss they are known for
    theory = theory_record(problem) if problem.penalised and problem.loss not in MULTI_LABEL_LOSSES else {}
    if args.json:
        print(json.dumps(jsonable({"problem": problem.to_dict(), "solver": cfg.to_dict(), "wall_time_s": wall, "runs": records,
                                "theory": {k: v.get("loss") for k, v in theory.items()}, "environment": env})))
        return 0
    print("\n".join(text.solve_report(problem, cfg, len(runs), wall, records, theory, th.rank_tol)))
    return 0
