"""The ``dufm`` command line: parse, call the library, print.

    dufm solve  [problem flags] [solver flags] [--json]
    dufm theory [problem flags] [--json]

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


def _problem_flags(p):
    g = p.add_argument_group("problem (defaults: Garrod & Keating Fig 1)")
    g.add_argument("--classes", type=_integer, default=10, metavar="K", help="number of classes K >= 2 (default 10)")
    g.add_argument("--per-class", type=_int_list, default=5, metavar="n", help="samples per class n, or n_1,...,n_K (default 5)")
    g.add_argument("--width", type=_int_list, default=70, metavar="d", help="width d, or d_1,...,d_L (default 70)")
    g.add_argument("--depth", type=_integer, default=2, metavar="L", help="number of weight matrices L >= 1 (default 2)")
    g.add_argument("--loss", default="ce", help="ce | mse (default ce)")
    g.add_argument("--activation", default="linear", help="linear | relu, after W_1..W_{L-1} (default linear)")
    g.add_argument("--weight-decay", type=_number, default=2.0**-10, metavar="LAMBDA", help="one lambda for H_1 and every W_l (default 2^-10)")
    g.add_argument("--feature-decay", type=_number, default=None, metavar="LAMBDA_H", help="lambda_H (overrides --weight-decay for H_1)")
    g.add_argument("--layer-decay", type=_float_list, default=None, metavar="LAMBDA_W", help="lambda_W, or one per layer (overrides --weight-decay for W)")
    g.add_argument("--bias", default="none", help="none | free | regularised last-layer bias (default none)")
    g.add_argument("--bias-decay", type=_number, default=0.0, help="lambda_b for --bias regularised (default 0)")
    g.add_argument("--dtype", default="float64", help="float64 | float32 (default float64)")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _problem(args):
    from .problem import Problem

    return Problem(
        classes=args.classes, per_class=args.per_class, width=args.width, depth=args.depth, loss=args.loss,
        activation=args.activation, weight_decay=args.weight_decay, feature_decay=args.feature_decay,
        layer_decay=args.layer_decay, bias=args.bias, bias_decay=args.bias_decay, dtype=args.dtype,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dufm", description="Deep unconstrained features models: solve, closed forms, spectra.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="{solve,theory}")
    s = sub.add_parser("solve", help="solve a deep UFM and analyse the end point", description="Solve a deep UFM from random initialisations (one compiled program for all seeds) and report loss, gradient norm, stop reason, spectra, ranks, NC metrics and the solution type.")
    _problem_flags(s)
    g = s.add_argument_group("solver")
    g.add_argument("--optimizer", default="gd", help="gd | momentum | adam | lbfgs (default gd)")
    g.add_argument("--lr", type=_number, default=0.5, help="learning rate > 0 (default 0.5; unused by lbfgs, which line-searches)")
    g.add_argument("--momentum", type=_number, default=0.9, help="momentum in [0, 1) for --optimizer momentum (default 0.9)")
    g.add_argument("--steps", type=_integer, default=100_000, help="step limit >= 1 (default 100000)")
    g.add_argument("--tol", type=_number, default=1e-10, help="stop when the gradient norm <= tol (default 1e-10)")
    g.add_argument("--init", default="gaussian", help="gaussian | orthogonal (default gaussian)")
    g.add_argument("--init-scale", type=_number, default=0.1, help="std of the Gaussian init (default 0.1)")
    g.add_argument("--seed", type=_integer, default=0, help="first seed (default 0)")
    g.add_argument("--seeds", type=_integer, default=1, help="number of seeds M: runs seed..seed+M-1 together (default 1)")
    g.add_argument("--log-every", type=_integer, default=100, help="history interval in steps (default 100)")
    g.add_argument("--rank-tol", type=_number, default=1e-3, help="numerical rank threshold relative to the largest singular value (default 1e-3)")
    t = sub.add_parser("theory", help="closed-form DNC, low-rank and zero losses", description="Closed-form candidate solutions (DNC, Garrod-Keating low-rank, zero) with their optimal scales.")
    _problem_flags(t)
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
    )
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return {"solve": _cmd_solve, "theory": _cmd_theory}[args.command](args)
    except ValueError as e:
        print(f"dufm {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
