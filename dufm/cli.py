"""The ``dufm`` command line: parse, call the library, print.

    dufm solve  [problem flags] [solver flags] [--json]
    dufm theory [problem flags] [--json]
    dufm sweep  CONFIG | --grid KEY=V1,V2 ... ;  dufm plot DIR
    dufm probe  (--point dnc|low_rank|zero [--scale S] | --solve | --result DIR [--key KEY]) [--refine] [--json]

Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2, no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _int_list(text: str):
    parts = [_integer(t) for t in text.split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


def _float_list(text: str):
    parts = [_number(t) for t in text.split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


PROBLEM_FLAGS = [
    # (flag, type, default, metavar, help)
    ("--classes", "_integer", 10, "K", "number of classes K >= 2 (default 10)"),
    ("--per-class", "_int_list", 5, "n", "samples per class n, or n_1,...,n_K (default 5)"),
    ("--width", "_int_list", 70, "d", "width d, or d_1,...,d_L (default 70)"),
    ("--depth", "_integer", 2, "L", "number of weight matrices L >= 1 (default 2)"),
    ("--loss", None, "ce", None, "ce | mse (default ce)"),
    ("--activation", None, "linear", None, "linear | relu, after W_1..W_{L-1} (default linear)"),
    ("--weight-decay", "_number", 2.0**-10, "LAMBDA", "one lambda for H_1 and every W_l (default 2^-10)"),
    ("--feature-decay", "_number", None, "LAMBDA_H", "lambda_H (overrides --weight-decay for H_1)"),
    ("--layer-decay", "_float_list", None, "LAMBDA_W", "lambda_W, or one per layer (overrides --weight-decay for W)"),
    ("--bias", None, "none", None, "none | free | regularised last-layer bias (default none)"),
    ("--bias-decay", "_number", 0.0, None, "lambda_b for --bias regularised (default 0)"),
    ("--dtype", None, "float64", None, "float64 | float32 (default float64)"),
]
SOLVER_FLAGS = [
    ("--optimizer", None, "gd", None, "gd | momentum | adam | lbfgs (default gd)"),
    ("--lr", "_number", 0.5, None, "learning rate > 0 (default 0.5; unused by lbfgs, which line-searches)"),
    ("--momentum", "_number", 0.9, None, "momentum in [0, 1) for --optimizer momentum (default 0.9)"),
    ("--steps", "_integer", 100_000, None, "step limit >= 1 (default 100000)"),
    ("--tol", "_number", None, None, "stop when the gradient norm <= tol (default 1e-10 in float64, 1e-5 in float32)"),
    ("--init", None, "gaussian", None, "gaussian | orthogonal (default gaussian)"),
    ("--init-scale", "_number", 0.1, None, "std of the Gaussian init (default 0.1)"),
    ("--log-every", "_integer", 100, None, "history interval in steps (default 100)"),
]


def _add_flags(group, table, defaults=True):
    for flag, typ, default, metavar, text in table:
        kw = {"help": text, "default": default if defaults else argparse.SUPPRESS}
        if typ:
            kw["type"] = globals()[typ]
        if metavar:
            kw["metavar"] = metavar
        group.add_argument(flag, **kw)


def _problem_flags(p, defaults=True):
    _add_flags(p.add_argument_group("problem (defaults: Garrod & Keating Fig 1)"), PROBLEM_FLAGS, defaults)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _problem(args):
    from .problem import Problem

    return Problem(
        classes=args.classes, per_class=args.per_class, width=args.width, depth=args.depth, loss=args.loss,
        activation=args.activation, weight_decay=args.weight_decay, feature_decay=args.feature_decay,
        layer_decay=args.layer_decay, bias=args.bias, bias_decay=args.bias_decay, dtype=args.dtype,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dufm", description="Deep unconstrained features models: solve, closed forms, spectra.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="{solve,theory,sweep,plot,probe}")
    s = sub.add_parser("solve", help="solve a deep UFM and analyse the end point", description="Solve a deep UFM from random initialisations (one compiled program for all seeds) and report loss, gradient norm, stop reason, spectra, ranks, NC metrics and the solution type.")
    _problem_flags(s)
    g = s.add_argument_group("solver")
    _add_flags(g, SOLVER_FLAGS)
    g.add_argument("--seed", type=_integer, default=0, help="first seed (default 0)")
    g.add_argument("--seeds", type=_integer, default=1, help="number of seeds M: runs seed..seed+M-1 together (default 1)")
    g.add_argument("--rank-tol", type=_number, default=1e-3, help="numerical rank threshold relative to the largest singular value (default 1e-3)")
    t = sub.add_parser("theory", help="closed-form DNC, low-rank and zero losses", description="Closed-form candidate solutions (DNC, Garrod-Keating low-rank, zero) with their optimal scales.")
    _problem_flags(t)
    w = sub.add_parser("sweep", help="run (or resume) a grid of runs into a results directory",
                       description="Run or resume a sweep: a TOML config (see experiments/) or flags. Runs of the same shape are "
                       "batched into one compiled program; every finished run is stored at once, and stored runs are skipped.")
    w.add_argument("config", nargs="?", help="sweep config (TOML); without it, the sweep is built from the flags")
    w.add_argument("--out", help="results directory (default results/<name>)")
    w.add_argument("--name", help="sweep name when no config is given (default 'sweep')")
    w.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a grid axis over any problem or solver field, e.g. width=20,50,70 (repeatable; replaces the config's grid)")
    w.add_argument("--seeds", type=_integer, help="seeds per grid point")
    w.add_argument("--seed", type=_integer, help="first seed")
    w.add_argument("--max-batch", type=_integer, help="most runs per compiled program (default 32)")
    w.add_argument("--json", action="store_true", help="print the outcome (counts by status, path) as JSON")
    w.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: batches run in this process on its JAX devices (default); ray: every batch is a Ray task")
    w.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address for --backend ray (default: $RAY_ADDRESS; "
                   "'local' starts Ray on this machine)")
    _add_flags(w.add_argument_group("problem (override the config)"), PROBLEM_FLAGS, defaults=False)
    _add_flags(w.add_argument_group("solver (override the config)"), SOLVER_FLAGS, defaults=False)
    pl = sub.add_parser("plot", help="draw the figures of a results directory (PNG and PDF)",
                        description="Draw the figures named in the sweep config's [plots] table (or --figure) into <results>/figures.")
    pl.add_argument("results", help="results directory written by dufm sweep")
    pl.add_argument("--figure", action="append", default=[], help="figure to draw (repeatable; default: the config's list)")
    pr = sub.add_parser("probe", help="Hessian spectrum and critical-point verdict of a point",
                        description="Probe a point of the landscape: a closed-form point (--point), a fresh solve (--solve) or a "
                        "stored sweep run (--result). Optionally refine it to a critical point (Newton-MR), then report loss, "
                        "gradient norm, Hessian extreme eigenvalues, counts of negative / zero / positive eigenvalues, trace, "
                        "Frobenius norm and a verdict (local minimum, strict saddle, degenerate, not critical).")
    src = pr.add_argument_group("the point (one of)")
    src.add_argument("--point", metavar="NAME", help="closed-form point: dnc | low_rank | zero (with the problem flags)")
    src.add_argument("--scale", type=_number, help="scale of --point (default: its optimal scale); see 'critical scales' in the output")
    src.add_argument("--solve", action="store_true", help="solve the problem (solver flags, --seed) and probe the end point")
    src.add_argument("--result", metavar="DIR", help="results directory of dufm sweep; with --key (default: its only run)")
    src.add_argument("--key", help="run key in --result (see summary.csv)")
    _problem_flags(pr)
    g = pr.add_argument_group("solver (with --solve)")
    _add_flags(g, SOLVER_FLAGS)
    g.add_argument("--seed", type=_integer, default=0, help="seed (default 0)")
    h = pr.add_argument_group("refinement and Hessian")
    h.add_argument("--refine", action="store_true", help="refine to a critical point by Newton-MR first")
    h.add_argument("--refine-tol", type=_number, default=1e-10, help="gradient-norm target of --refine (default 1e-10)")
    h.add_argument("--refine-mode", help="with --refine: nearest (default): Newton-MR from the point, to the nearest critical "
                   "point of any index; descent: L-BFGS first, then Newton-MR, to the critical point descent from the point leads to "
                   "(GD's own limit in every Fig 1 case measured)")
    h.add_argument("--method", default="auto", help="dense | inertia | lanczos | auto (default auto: dense <= 4000 parameters, inertia <= 16000)")
    h.add_argument("--zero-tol", type=_number, default=1e-8, help="an eigenvalue is zero if |lambda| <= zero_tol x spectral norm (default 1e-8)")
    h.add_argument("--grad-tol", type=_number, default=1e-8, help="critical if the gradient norm <= grad_tol (default 1e-8)")
    h.add_argument("--num-matvecs", type=_integer, default=200, help="Lanczos steps for the extreme eigenvalues (default 200)")
    h.add_argument("--symmetry", action="store_true", help="also compute the dimension of the rotation-symmetry orbit (linear nets)")
    h.add_argument("--plot", metavar="PATH", help="write the eigenvalue spectrum (dense) or SLQ density (otherwise) to PATH (.png/.pdf)")
    return parser


def _fmt_sv(s, most=10):
    head = " ".join(f"{v:.6g}" for v in s[:most])
    return head + (f" ... ({len(s)} values)" if len(s) > most else "")


def _describe_problem(pd: dict) -> str:
    lw = pd["lambda_W"]
    lw = lw[0] if len(set(lw)) == 1 else lw
    return (
        f"K={pd['classes']} n={pd['per_class'][0] if len(set(pd['per_class'])) == 1 else pd['per_class']} L={pd['depth']} "
        f"width={pd['width'][0] if len(set(pd['width'])) == 1 else pd['width']} loss={pd['loss']} activation={pd['activation']} "
        f"lambda_H={pd['lambda_H']!r} lambda_W={lw} bias={pd['bias']} {pd['dtype']} ({pd['parameters']} parameters)"
    )


def _cmd_solve(args) -> int:
    from .geometry import Thresholds
    from .report import plain, run_record, theory_record
    from .solve import SolverConfig, solve

    problem = _problem(args)
    cfg = SolverConfig(
        optimizer=args.optimizer, lr=args.lr, steps=args.steps, tol=args.tol, init_scale=args.init_scale,
        init=args.init, momentum=args.momentum, log_every=args.log_every,
    ).resolved(problem.dtype)
    if args.seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {args.seeds}")
    if not (math.isfinite(args.rank_tol) and 0 < args.rank_tol < 1):
        raise ValueError(f"rank_tol must be a number in (0, 1), got {args.rank_tol}")
    th = Thresholds(rank_tol=args.rank_tol)
    seeds = list(range(args.seed, args.seed + args.seeds))
    t0 = time.perf_counter()
    runs = solve(problem, cfg, seeds)
    wall = time.perf_counter() - t0
    records = [run_record(r, problem, th) for r in runs]
    theo = theory_record(problem)
    if args.json:
        out = {"problem": problem.to_dict(), "solver": cfg.to_dict(), "wall_time_s": wall, "runs": records,
               "theory": {k: v.get("loss") for k, v in theo.items()}}
        print(json.dumps(plain(out)))
        return 0
    print("problem:", _describe_problem(problem.to_dict()))
    print(f"solver:  {cfg.optimizer} lr={cfg.lr:g} steps<={cfg.steps} tol={cfg.tol:g} init={cfg.init} scale={cfg.init_scale:g}; "
          f"{len(seeds)} seed(s) in one compiled program, {wall:.2f} s wall (with compilation)")
    refs = {k: v["loss"] for k, v in theo.items() if v.get("loss") is not None}
    print("closed forms: " + ", ".join(f"{k} {v:.10g}" for k, v in refs.items()))
    for rec in records:
        print()
        if rec["status"] == "diverged":
            print(f"seed {rec['seed']}: DIVERGED at step {rec['diverged_at_step']} (non-finite or exploding loss); no result stored")
            continue
        stop = {"converged": f"converged (|grad| <= {cfg.tol:g})", "max_steps": "hit the step limit"}[rec["status"]]
        print(f"seed {rec['seed']}: {stop} after {rec['steps']} steps; loss {rec['loss']:.15g}, |grad| {rec['grad_norm']:.3e}")
        gaps = ", ".join(f"{k} {rec['loss'] - v:+.3e}" for k, v in refs.items())
        print(f"  solution type: {rec['solution_type']} (rank Z = {rec['rank']['Z']}, rank tol {th.rank_tol:g}); loss - closed form: {gaps}")
        print("  singular values [rank]:")
        for k, s in rec["singular_values"].items():
            print(f"    {k:9s} [{rec['rank'][k]:3d}] {_fmt_sv(s)}")
        print("  NC metrics:        nc1   nc1_trace     nc2_etf      nc2_of         nc3")
        for k, m in rec["nc"].items():
            cells = " ".join(f"{m.get(c):11.3e}" if m.get(c) is not None else f"{'-':>11s}" for c in ("nc1", "nc1_trace", "nc2_etf", "nc2_of", "nc3"))
            print(f"    {k:9s} {cells}")
    return 0


def _cmd_theory(args) -> int:
    from .report import plain, theory_record

    problem = _problem(args)
    rec = theory_record(problem)
    if args.json:
        print(json.dumps(plain({"problem": problem.to_dict(), **rec})))
        return 0
    print("problem:", _describe_problem(problem.to_dict()))
    print(f"{'candidate':20s} {'loss':>20s} {'scale':>28s} {'rank':>5s} {'critical':>9s}")
    for name, c in rec.items():
        if c["loss"] is None:
            print(f"{name:20s} {'n/a':>20s}   ({c['reason']})")
            continue
        sc = c["scale"]
        sc = ", ".join(f"{k}={v:.10g}" for k, v in sc.items()) if isinstance(sc, dict) else f"{sc:.12g}"
        print(f"{name:20s} {c['loss']:20.15g} {sc:>28s} {c['rank']:5d} {'yes' if c['critical'] else 'no':>9s}")
        if c.get("lower_bound") is not None:
            print(f"{'':20s} lower bound {c['lower_bound']:.15g} (linear DNC); {c.get('note', '')}")
        elif c.get("note"):
            print(f"{'':20s} note: {c['note']}")
    avail = {k: v["loss"] for k, v in rec.items() if v["loss"] is not None}
    best = min(avail, key=avail.get)
    line = f"lowest: {best}"
    if "dnc" in avail and best != "dnc":
        line += f" (below dnc by {avail['dnc'] - avail[best]:.6g}, {100 * (avail['dnc'] - avail[best]) / avail['dnc']:.3g}%)"
    print(line)
    return 0


def _grid_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _cmd_sweep(args) -> int:
    from .sweep import PROBLEM_FIELDS, SOLVER_FIELDS, load_config, run_sweep

    config = load_config(args.config) if args.config else {"name": args.name or "sweep"}
    config = {**config, "problem": dict(config.get("problem", {})), "solver": dict(config.get("solver", {}))}
    given = vars(args)
    for k in PROBLEM_FIELDS:
        if k in given:
            config["problem"][k] = given[k]
    for k in SOLVER_FIELDS:
        if k in given:
            config["solver"][k] = given[k]
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
        if given.get(k) is not None:
            config[k] = given[k]
    try:
        if args.backend != "ray" and args.ray_address:
            raise ValueError("--ray-address is only used with --backend ray")
        result = run_sweep(config, out=args.out, max_batch=args.max_batch, backend=args.backend, ray_address=args.ray_address)
    except KeyboardInterrupt:
        print("dufm sweep: interrupted; every finished run is stored, run the same command again to resume", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result))
    return 0


def _cmd_plot(args) -> int:
    from .plots import plot_results
    from .sweep import load_results

    results = load_results(args.results)
    for path in plot_results(results, args.figure or None):
        print(path)
    return 0


def _probe_point(args):
    """(params, problem, description) of the point named by the probe flags."""
    from . import theory
    from .problem import Problem

    chosen = [name for name, on in (("--point", args.point is not None), ("--solve", args.solve), ("--result", args.result is not None)) if on]
    if len(chosen) != 1:
        raise ValueError(f"give exactly one of --point, --solve, --result (got {', '.join(chosen) or 'none'})")
    if args.scale is not None and args.point is None:
        raise ValueError("--scale needs --point")
    if args.key is not None and args.result is None:
        raise ValueError("--key needs --result")
    if args.result is not None:
        from .sweep import load_results

        res = load_results(args.result)
        keys = [r["key"] for r in res.records if r.get("loss") is not None]
        if args.key is None and len(keys) != 1:
            raise ValueError(f"--key is needed: {args.result} holds {len(keys)} finished runs (keys in its summary.csv)")
        key = args.key or keys[0]
        if key not in keys:
            raise ValueError(f"key must be a finished run of {args.result}; {key!r} is not")
        rec = next(r for r in res.records if r["key"] == key)
        problem = Problem.from_dict(rec["config"]["problem"])
        a = res.arrays(key)
        params = {"H": a["H"], "W": tuple(a[f"W{l}"] for l in range(1, problem.depth + 1))}
        if "b" in a:
            params["b"] = a["b"]
        return params, problem, {"source": "result", "result": str(args.result), "key": key, "stored_loss": rec["loss"]}
    problem = _problem(args)
    if args.solve:
        from .solve import SolverConfig, solve

        cfg = SolverConfig(optimizer=args.optimizer, lr=args.lr, steps=args.steps, tol=args.tol, init_scale=args.init_scale,
                           init=args.init, momentum=args.momentum, log_every=args.log_every).resolved(problem.dtype)
        run = solve(problem, cfg, [args.seed])[0]
        if run.diverged:
            raise ValueError(f"the solve diverged at step {run.steps}; nothing to probe (lower --lr)")
        return run.params, problem, {"source": "solve", "seed": args.seed, "status": run.status, "steps": run.steps}
    names = ("dnc", "low_rank", "zero")
    if args.point not in names:
        raise ValueError(f"point must be one of {', '.join(names)}; got {args.point!r}")
    info = {"source": "point", "point": args.point}
    if args.point != "zero":
        try:
            info["critical_scales"] = theory.critical_scales(problem, args.point)
        except ValueError:
            info["critical_scales"] = None
    if args.scale is None:
        cand = {"dnc": theory.dnc, "low_rank": theory.low_rank, "zero": theory.zero}[args.point](problem)
        info.update(scale=cand.scale, closed_form_loss=cand.loss, critical=cand.critical)
        return cand.params, problem, info
    info["scale"] = args.scale
    return theory.at_scale(problem, args.point, args.scale), problem, info


def _cmd_probe(args) -> int:
    from .critical import METHODS, MODES, classify, refine, symmetry_dimension
    from .report import plain

    if args.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {args.method!r}")
    if args.refine_mode is not None and not args.refine:
        raise ValueError("--refine-mode needs --refine")
    mode = args.refine_mode or "nearest"
    if mode not in MODES:
        raise ValueError(f"refine_mode must be one of {', '.join(MODES)}; got {mode!r}")
    for name in ("refine_tol", "grad_tol"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a number > 0, got {v}")
    if not 0 < args.zero_tol < 1:
        raise ValueError(f"zero_tol must be a number in (0, 1), got {args.zero_tol}")
    if args.num_matvecs < 2:
        raise ValueError(f"num_matvecs must be an integer >= 2, got {args.num_matvecs}")
    if args.plot and not args.plot.lower().endswith((".png", ".pdf")):
        raise ValueError(f"plot path must end in .png or .pdf, got {args.plot!r}")
    t0 = time.perf_counter()
    params, problem, info = _probe_point(args)
    if problem.dtype != "float64":
        raise ValueError("dtype must be float64 for Hessian probing (eigenvalue counts need float64)")
    arch, decays = problem.architecture, problem.decays
    refinement = None
    if args.refine:
        r = refine(params, decays, arch, tol=args.refine_tol, mode=mode)
        params = r.params
        refinement = {"status": r.status, "mode": r.mode, "descent_steps": r.descent_steps, "descent_status": r.descent_status,
                      "iterations": r.iterations, "grad_norm_history": r.history}
    out = classify(params, decays, arch, method=args.method, zero_tol=args.zero_tol, grad_tol=args.grad_tol,
                   num_matvecs=args.num_matvecs, eigenvalues=args.plot is not None)
    eigs = out["hessian"].pop("eigenvalues", None)
    if args.symmetry:
        out["symmetry_dimension"] = symmetry_dimension(params, arch)
    if args.plot:
        from .hessian import slq_density
        from .plots import hessian_spectrum

        slq = None if eigs is not None else slq_density(params, decays, arch)
        hessian_spectrum(args.plot, eigenvalues=eigs, slq=slq, zero_tol=args.zero_tol, title=f"{info.get('point', info['source'])}: {out['verdict']}")
    out.update(problem=problem.to_dict(), point=info, refinement=refinement, wall_time_s=time.perf_counter() - t0)
    if args.json:
        print(json.dumps(plain(out)))
        return 0
    h = out["hessian"]
    print("problem:", _describe_problem(problem.to_dict()))
    desc = {"point": lambda: f"{info['point']} at scale {info['scale']:.10g}"
            + (f" (closed-form loss {info['closed_form_loss']:.15g})" if "closed_form_loss" in info else ""),
            "solve": lambda: f"end point of a solve, seed {info['seed']}: {info['status']} after {info['steps']} steps",
            "result": lambda: f"stored run {info['key']} of {info['result']}"}[info["source"]]()
    print("point:  ", desc)
    if info.get("critical_scales"):
        print("         critical scales of its reduced loss: "
              + ", ".join(f"{c['scale']:.6g} ({c['kind']}, loss {c['loss']:.10g})" for c in info["critical_scales"]))
    if refinement:
        hist = refinement["grad_norm_history"]
        if refinement["status"] == "diverged":
            print(f"refine:  diverged: L-BFGS met a non-finite or exploding loss at step {refinement['descent_steps']}; "
                  "the unrefined point is probed below")
        else:
            lbfgs = ""
            if refinement["descent_status"] is not None:
                cut = " (step limit: descent did not reach its target)" if refinement["descent_status"] == "max_steps" else ""
                lbfgs = f"{refinement['descent_steps']} L-BFGS steps{cut}, then "
            print(f"refine:  {refinement['status']} after {lbfgs}{refinement['iterations']} Newton-MR steps, "
                  f"|grad| {hist[0]:.3e} -> {hist[-1]:.3e}")
    print(f"loss {out['loss']:.15g}, |grad| {out['grad_norm']:.3e}")
    res = f" (Lanczos residual {h['min_eigenvalue_residual']:.1e})" if "min_eigenvalue_residual" in h else ""
    print(f"Hessian ({h['method']}, {h['parameters']} parameters; zero means |lambda| <= {h['zero_tolerance']:.2e} = {args.zero_tol:g} x spectral norm):")
    print(f"  min eigenvalue {h['min_eigenvalue']:.6e}{res}, max {h['max_eigenvalue']:.6e}")
    counts = "unknown (matrix-free)" if h["negative"] is None else f"{h['negative']} / {h['zero']} / {h['positive']}"
    est = " (Hutchinson estimates)" if h["method"] == "lanczos" else ""
    print(f"  negative / zero / positive: {counts}; trace {h['trace']:.6g}, Frobenius norm {h['frobenius_norm']:.6g}{est}")
    if "symmetry_dimension" in out:
        print(f"  rotation-symmetry orbit dimension {out['symmetry_dimension']} (null directions every linear critical point has)")
    print("verdict:", out["verdict"])
    if args.plot:
        print("spectrum written to", args.plot)
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"solve": _cmd_solve, "theory": _cmd_theory, "sweep": _cmd_sweep, "plot": _cmd_plot, "probe": _cmd_probe}
    try:
        return commands[args.command](args)
    except ValueError as e:
        print(f"dufm {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (MemoryError, OverflowError) as e:
        print(f"dufm {args.command}: error: the problem is too large for this machine ({type(e).__name__}: {e})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
