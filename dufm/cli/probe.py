"""``dufm probe``: the Hessian and the critical-point verdict of a closed-form point, a fresh solve or a stored run."""

from __future__ import annotations

import json
import time

from . import flags, text

HELP = "Hessian spectrum and critical-point verdict of a point"
DESCRIPTION = ("Probe a point of the landscape: a closed-form point (--point), a fresh solve (--solve) or a stored sweep run "
               "(--result). Optionally refine it to a critical point (Newton-MR), then report loss, gradient norm, Hessian "
               "extreme eigenvalues, counts of negative / zero / positive eigenvalues, trace, Frobenius norm and a verdict "
               "(local minimum, strict saddle, degenerate, not critical).")
POINTS = ("dnc", "low_rank", "zero")
REFINE = "refine_"


def add(sub):
    from ..landscape.critical import ClassifyConfig, RefineConfig
    from ..model.problem import Problem
    from ..solving.solver import SolverConfig

    pr = sub.add_parser("probe", help=HELP, description=DESCRIPTION)
    src = pr.add_argument_group("the point (one of)")
    src.add_argument("--point", metavar="NAME", help="closed-form point: dnc | low_rank | zero (with the problem flags)")
    src.add_argument("--scale", type=flags.number, help="scale of --point (default: its optimal scale); see 'critical scales' in the output")
    src.add_argument("--solve", action="store_true", help="solve the problem (solver flags, --seed) and probe the end point")
    src.add_argument("--result", metavar="DIR", help="results directory of dufm sweep; with --key (default: its only run)")
    src.add_argument("--key", help="run key in --result (see summary.csv)")
    flags.add_fields(pr.add_argument_group("problem (defaults: Garrod & Keating Fig 1)"), Problem)
    pr.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    g = pr.add_argument_group("solver (with --solve)")
    flags.add_fields(g, SolverConfig)
    g.add_argument("--seed", type=flags.integer, default=0, help="seed (default 0)")
    r = pr.add_argument_group("refinement (with --refine)")
    r.add_argument("--refine", action="store_true", help="refine to a critical point first (Newton-MR)")
    flags.add_fields(r, RefineConfig, prefix=REFINE, defaults=False)
    h = pr.add_argument_group("Hessian")
    flags.add_fields(h, ClassifyConfig)
    h.add_argument("--symmetry", action="store_true", help="also compute the dimension of the rotation-symmetry orbit (linear nets)")
    h.add_argument("--plot", metavar="PATH", help="write the eigenvalue spectrum (dense) or SLQ density (otherwise) to PATH (.png/.pdf)")


def _point(args):
    """(params, problem, description) of the point named by the probe flags."""
    from .. import theory
    from ..model.problem import Problem

    chosen = [name for name, on in (("--point", args.point is not None), ("--solve", args.solve), ("--result", args.result is not None)) if on]
    if len(chosen) != 1:
        raise ValueError(f"give exactly one of --point, --solve, --result (got {', '.join(chosen) or 'none'})")
    if args.scale is not None and args.point is None:
        raise ValueError("--scale needs --point")
    if args.key is not None and args.result is None:
        raise ValueError("--key needs --result")
    if args.result is not None:
        import warnings

        from ..experiments.records import load_results

        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            res = load_results(args.result)
        for w in said:  # the run asked for was damaged and set aside: that is the error; other news is a warning
            if args.key and f"run {args.key} moved" in str(w.message):
                raise ValueError(str(w.message))
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        keys = [r.key for r in res.results()]
        if args.key is None and len(keys) != 1:
            raise ValueError(f"--key is needed: {args.result} holds {len(keys)} finished runs (keys in its summary.csv)")
        key = keys[0] if args.key is None else args.key
        if key not in keys:
            raise ValueError(f"key must be a finished run of {args.result}; {key!r} is not")
        rec = next(r for r in res.records if r.key == key)
        return res.params(rec), rec.problem, {"source": "result", "result": str(args.result), "key": key, "stored_loss": rec.loss}
    problem = flags.build(Problem, args)
    if args.solve:
        from ..solving.solver import SolverConfig, solve

        run = solve(problem, flags.build(SolverConfig, args), [args.seed])[0]
        if run.diverged:
            raise ValueError(f"the solve diverged at step {run.steps}; nothing to probe (lower --lr)")
        return run.params, problem, {"source": "solve", "seed": args.seed, "status": run.status, "steps": run.steps}
    if args.point not in POINTS:
        raise ValueError(f"point must be one of {', '.join(POINTS)}; got {args.point!r}")
    info = {"source": "point", "point": args.point}
    if args.point != "zero":
        try:
            info["critical_scales"] = theory.reduced_loss(problem, args.point).critical_scales()
        except ValueError:
            info["critical_scales"] = None
    if args.scale is None:
        cand = {"dnc": theory.dnc, "low_rank": theory.low_rank, "zero": theory.zero}[args.point](problem)
        info.update(scale=cand.scale, closed_form_loss=cand.loss, critical=cand.critical)
        return cand.params, problem, info
    info["scale"] = args.scale
    return theory.at_scale(problem, args.point, args.scale), problem, info


def run(args) -> int:
    from ..landscape.critical import ClassifyConfig, RefineConfig, classify, refine, symmetry_dimension
    from ..plots.common import check_path
    from ..store import jsonable

    # every option is checked before anything is computed
    refine_options = flags.given(args, RefineConfig, REFINE)
    if refine_options and not args.refine:
        raise ValueError(f"--{(REFINE + next(iter(refine_options))).replace('_', '-')} needs --refine")
    refine_cfg = flags.build(RefineConfig, args, REFINE)
    classify_cfg = flags.build(ClassifyConfig, args, eigenvalues=args.plot is not None)
    if args.plot:
        check_path(args.plot)
    t0 = time.perf_counter()
    params, problem, info = _point(args)
    arch, decays = problem.architecture, problem.decays
    refinement = None
    if args.refine:
        refinement = refine(params, decays, arch, **vars(refine_cfg))
        params = refinement.params
    c = classify(params, decays, arch, **vars(classify_cfg))
    symmetry = symmetry_dimension(params, arch) if args.symmetry else None
    if args.plot:
        from .. import plots
        from ..landscape.hessian import slq_density

        slq = None if c.eigenvalues is not None else slq_density(params, decays, arch)
        title = f"{info.get('point', info['source'])}: {c.verdict}"
        plots.save(plots.hessian_spectrum(eigenvalues=c.eigenvalues, slq=slq, zero_tol=classify_cfg.zero_tol, title=title), args.plot)
    if args.json:
        out = c.to_dict()
        if symmetry is not None:
            out["symmetry_dimension"] = symmetry
        out.update(problem=problem.to_dict(), point=info, refinement=refinement and refinement.to_dict(),
                   wall_time_s=time.perf_counter() - t0)
        print(json.dumps(jsonable(out)))
        return 0
    print("\n".join(text.probe_report(problem, info, refinement, c, classify_cfg.zero_tol, symmetry, args.plot)))
    return 0
