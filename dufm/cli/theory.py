"""``dufm theory``: the closed-form candidates of a problem."""

from __future__ import annotations

import json

from . import flags, text

HELP = "closed-form DNC, low-rank and zero losses"
DESCRIPTION = "Closed-form candidate solutions (DNC, Garrod-Keating low-rank, zero) with their optimal scales."


def add(sub):
    from ..model.problem import Problem

    p = sub.add_parser("theory", help=HELP, description=DESCRIPTION)
    flags.add_fields(p.add_argument_group("problem (defaults: Garrod & Keating Fig 1)"), Problem)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args) -> int:
    from ..experiments.records import theory_record
    from ..model.problem import Problem
    from ..store import jsonable

    problem = flags.build(Problem, args)
    rec = theory_record(problem)
    if args.json:
        print(json.dumps(jsonable({"problem": problem.to_dict(), **rec})))
    else:
        print("\n".join(text.theory_report(problem, rec)))
    return 0
