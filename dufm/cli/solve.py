"""``dufm solve``: solve a deep UFM from random initialisations and report the end points."""

from __future__ import annotations

import json
import time

from . import flags, text

HELP = "solve a deep UFM and analyse the end point"
DESCRIPTION = ("Solve a deep UFM from random initialisations (one compiled program for all seeds) and report loss, gradient "
               "norm, stop reason, spectra, ranks, NC metrics and the solution type.")


def add(sub):
    from ..geometry import Thresholds
    from ..problem import Problem
    from ..solve import SolverConfig

    p = sub.add_parser("solve", help=HELP, description=DESCRIPTION)
    flags.add_fields(p.add_argument_group("problem (defaults: Garrod & Keating Fig 1)"), Problem)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    g = p.add_argument_group("solver")
    flags.add_fields(g, SolverConfig)
    g.add_argument("--seed", type=flags.integer, default=0, help="first seed (default 0)")
    g.add_argument("--seeds", type=flags.integer, default=1, help="number of seeds M: runs seed..seed+M-1 together (default 1)")
    flags.add_fields(g, Thresholds)


def run(args) -> int:
    from ..geometry import Thresholds
    from ..options import check_int
    from ..problem import Problem
    from ..records import RunRecord, theory_record
    from ..solve import SolverConfig, solve
    from ..store import plain

    problem = flags.build(Problem, args)
    cfg = flags.build(SolverConfig, args).resolved(problem.dtype)
    th = flags.build(Thresholds, args)
    t0 = time.perf_counter()
    # --seeds is a count here (the library takes the seeds themselves)
    runs = solve(problem, cfg, range(args.seed, args.seed + check_int("seeds", args.seeds, 1)))
    wall = time.perf_counter() - t0
    records = [RunRecord.from_run(r, problem, th) for r in runs]
    theory = theory_record(problem)
    if args.json:
        print(json.dumps(plain({"problem": problem.to_dict(), "solver": cfg.to_dict(), "wall_time_s": wall, "runs": records,
                                "theory": {k: v.get("loss") for k, v in theory.items()}})))
        return 0
    print("\n".join(text.solve_report(problem, cfg, len(runs), wall, records, theory, th.rank_tol)))
    return 0
