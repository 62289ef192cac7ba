"""``dufm optimum``: the optimum of a deep UFM (reduced K x K problem, lift, certificate) and what is proven of it."""

from __future__ import annotations

import json
import sys

from . import flags, text

HELP = "optimum: multi-start search of the reduced K x K problem, lifted and checked; says what is proven"
DESCRIPTION = ("Search for the global optimum of a linear deep UFM through the reduced problem in the class-mean logits (exact for "
               "CE and MSE, any counts, depth and decays): random restarts and every known construction run by L-BFGS in one "
               "compiled program, the best minimum polished and lifted to explicit parameters at the problem's width, where its "
               "objective, gradient and Hessian are checked. Global optimality is claimed only where a theorem proves it (L = 1, "
               "linear MSE); elsewhere the result is the best found. ReLU: a full-problem multi-start.")


def add(sub):
    from ..model.problem import Problem
    from ..theory.optimum import OptimumConfig

    p = sub.add_parser("optimum", help=HELP, description=DESCRIPTION)
    flags.add_fields(p.add_argument_group("problem (defaults: Garrod & Keating Fig 1)"), Problem)
    flags.add_fields(p.add_argument_group("search"), OptimumConfig)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args) -> int:
    from ..model.problem import Problem
    from ..theory.optimum import OptimumConfig, check_budget, optimum

    problem = flags.build(Problem, args)
    config = flags.build(OptimumConfig, args)
    est = check_budget(problem, config)
    if est.seconds > 120:
        print(f"dufm optimum: estimated run time up to {text.duration(est.seconds)}, peak memory about {est.memory / 1e9:.2g} GB "
              f"(up to {est.starts} starts x at most {config.steps} L-BFGS steps; starts that converge earlier take less)",
              file=sys.stderr)
    result = optimum(problem, config)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print("\n".join(text.optimum_report(result)))
    return 0
