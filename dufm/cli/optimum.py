"""``dufm optimum``: the global optimum of a deep UFM (reduced K x K problem, lift, certificate)."""

from __future__ import annotations

import json

from . import flags, text

HELP = "global optimum: multi-start search of the reduced K x K problem, lifted and certified"
DESCRIPTION = ("Find the global optimum of a linear deep UFM through the reduced problem in the class-mean logits (exact for "
               "CE and MSE, any counts, depth and decays): random restarts and every known construction run by L-BFGS in one "
               "compiled program, the best minimum polished and lifted to explicit parameters at the problem's width, where its "
               "objective, gradient and Hessian are checked. ReLU: a full-problem multi-start, labelled not certified global.")


def add(sub):
    from ..model.problem import Problem
    from ..theory.optimum import OptimumConfig

    p = sub.add_parser("optimum", help=HELP, description=DESCRIPTION)
    flags.add_fields(p.add_argument_group("problem (defaults: Garrod & Keating Fig 1)"), Problem)
    flags.add_fields(p.add_argument_group("search"), OptimumConfig)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args) -> int:
    from ..model.problem import Problem
    from ..theory.optimum import OptimumConfig, optimum

    problem = flags.build(Problem, args)
    config = flags.build(OptimumConfig, args)
    result = optimum(problem, config)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print("\n".join(text.optimum_report(result)))
    return 0
