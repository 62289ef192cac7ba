"""GD against gradient flow from the same start: does a larger step bias GD towards a lower rank?

For each start, gradient flow (optimizer = "flow", ||grad|| <= 1e-10) gives the end point of the step-size-zero
limit; fixed-step GD runs from the same start at a grid of learning rates, and its end point is then carried to a
critical point by the flow (from GD's last iterate, to ||grad|| <= 1e-10), so that a basin is compared with a basin
and not a point still moving through the slow phase with one. A GD end point is "the flow's" when its loss equals the
flow's to 1e-8 (relative). Reported: the end loss, the number of sigma_i(Z_c)/||Z_c||_F above 1e-3, GD's own steps and
status (diverged runs are said, with their step).

Problems (linear CE, K = 10, n = 5, float64):

* Garrod & Keating's Fig 1: d = 70, L = 2, lambda = 2^-10, Gaussian init std 0.1, seeds 0-4, GD to ||grad|| <= 1e-10
  (at most 800 000 steps), lr 4 ... 0.0625, and seed 4 at lr 1/32;
* Thm 3's setting at L = 4, 8, 16: d = 30, lambda = 0.02 / L^2, the balanced init, seeds 0-2, GD for 20 000 steps,
  lr 0.8 ... 0.025.

    python experiments/gd_vs_flow.py [--only fig1 L4 ...]

Writes docs/figures/gd_vs_flow/<problem>.json (a study run again keeps its stored rows and runs only the pairs it
lacks) and gd_vs_flow.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import dufm
from dufm import Params, SolverConfig, run_many
from dufm.solving.solver import initial_params

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "gd_vs_flow"
NEGLIGIBLE = 1e-3
SAME = 1e-8
FLOW = dict(optimizer="flow", lr=1e-3, steps=3000, tol=1e-10, log_every=100)


def thm3(depth):
    return dufm.Problem(classes=10, per_class=5, width=30, depth=depth, weight_decay=0.02 / depth**2)


SETTINGS = {
    # seed 4 also at lr 1/32, where its end point first equals the flow's (2.7 million steps, one batch of its own)
    "fig1": dict(problem=dufm.Problem(), init=dict(init="gaussian", init_scale=0.1), seeds=range(5),
                 lrs=[4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625], gd=dict(steps=800_000, tol=1e-10, log_every=1000),
                 extra=[(0.03125, 4, dict(steps=6_000_000, log_every=10_000))]),
    **{f"L{d}": dict(problem=thm3(d), init=dict(init="balanced"), seeds=range(3), lrs=[0.8, 0.4, 0.2, 0.1, 0.05, 0.025],
                     gd=dict(steps=20_000, tol=1e-10, log_every=1000)) for d in (4, 8, 16)},
}


def describe(params, problem) -> dict:
    a = dufm.analyse(params, problem)
    s = np.asarray(a.scale_free.singular_values if a.scale_free is not None else a.singular_values["Z"])
    s = s / np.linalg.norm(s)
    return dict(non_negligible=int((s > NEGLIGIBLE).sum()), rank=a.rank["Z"], solution_type=str(a.solution_type))


def flow_from(params: Params, problem: dufm.Problem):
    """The flow from each member of ``params`` (stacked), one batch."""
    return run_many(params, problem.decays, problem.architecture, SolverConfig(**FLOW))


def gd_batch(problem, pairs, gd: dict, init: dict, start_cfg) -> list:
    """Fixed-step GD from each (lr, seed) start, one batch (lr is an input of the compiled program)."""
    seeds = [seed for _, seed in pairs]
    cfgs = [SolverConfig(lr=lr, **gd, **init) for lr, _ in pairs]
    return run_many(initial_params(problem, seeds, start_cfg), problem.decays, problem.architecture, cfgs, seeds=seeds)


def study(name: str, done: dict | None) -> dict:
    """The flow from each start and GD at every (lr, seed) of the setting; ``done``: a stored study whose rows are kept
    (only the pairs it lacks are run)."""
    s = SETTINGS[name]
    problem, seeds, lrs = s["problem"], list(s["seeds"]), s["lrs"]
    t0 = time.perf_counter()
    start_cfg = SolverConfig(**s["init"])
    if done is None:
        flows = flow_from(initial_params(problem, seeds, start_cfg), problem)
        flow_rows = [dict(seed=seed, status=str(f.status), steps=f.steps, rejected=f.rejected, loss=f.loss, time=f.time,
                          **describe(f.params, problem)) for seed, f in zip(seeds, flows)]
    else:
        flow_rows = done["flow"]
    rows = list(done["runs"]) if done else []
    have = {(r["lr"], r["seed"]) for r in rows}
    batches = [([(lr, seed) for lr in lrs for seed in seeds], s["gd"])] + [([(lr, seed)], {**s["gd"], **gd}) for lr, seed, gd in s.get("extra", [])]
    for pairs, gd in batches:
        pairs = [pair for pair in pairs if pair not in have]
        if not pairs:
            continue
        gds = gd_batch(problem, pairs, gd, s["init"], start_cfg)
        moving = [i for i, r in enumerate(gds) if r.status == "max_steps"]
        polished = dict(zip(moving, flow_from(Params.stack([gds[i].params for i in moving]), problem))) if moving else {}
        for i, ((lr, seed), g) in enumerate(zip(pairs, gds)):
            f = flow_rows[seeds.index(seed)]
            row = dict(lr=lr, seed=seed, gd_status=str(g.status), gd_steps=g.steps, gd_loss=g.loss)
            if g.status != "diverged":
                end = polished.get(i, g)
                row.update(end_status=str(end.status), end_loss=end.loss, polished=i in polished, **describe(end.params, problem),
                           same_as_flow=bool(abs(end.loss - f["loss"]) <= SAME * f["loss"]))
            rows.append(row)
    return dict(name=name, problem=problem.to_dict(), init=s["init"], gd=s["gd"], flow=flow_rows, runs=rows,
                wall_s=time.perf_counter() - t0 + (done["wall_s"] if done else 0.0))


def draw():
    from matplotlib.figure import Figure

    studies = [json.loads((OUT / f"{name}.json").read_text()) for name in SETTINGS if (OUT / f"{name}.json").exists()]
    fig = Figure(figsize=(4.2 * len(studies), 7.5))
    axes = fig.subplots(2, len(studies), squeeze=False)
    for k, st in enumerate(studies):
        top, bottom = axes[0, k], axes[1, k]
        seeds = [f["seed"] for f in st["flow"]]
        for j, f in enumerate(st["flow"]):
            rows = sorted((r for r in st["runs"] if r["seed"] == f["seed"]), key=lambda r: r["lr"])
            done = [r for r in rows if "end_loss" in r]
            x = [r["lr"] * (1 + 0.04 * (j - len(seeds) / 2)) for r in done]  # seeds side by side
            line = top.plot(x, [r["non_negligible"] for r in done], "o-", ms=4, label=f"seed {f['seed']}")[0]
            top.axhline(f["non_negligible"] + 0.05 * (j - len(seeds) / 2), color=line.get_color(), ls=":", lw=1)
            bottom.semilogy([r["lr"] for r in done], [max(abs(r["end_loss"] / f["loss"] - 1), 1e-17) for r in done], "o-", ms=4,
                            color=line.get_color())
            for r in rows:
                if "end_loss" not in r:
                    top.plot(r["lr"], 0, "x", color=line.get_color())
        p = st["problem"]
        width = p["width"][0] if isinstance(p["width"], list) else p["width"]
        top.set_title(f"{st['name']}: L = {p['depth']}, d = {width}, λ = {p['lambda_H']:.3g}", fontsize=9)
        bottom.axhline(SAME, color="k", ls=":", lw=1, label=f"the flow's basin: below {SAME:g}")
        bottom.legend(fontsize=6)
        top.set_ylabel(f"σ_i(Z_c)/‖Z_c‖_F > {NEGLIGIBLE:g} (dotted: the flow's; x: diverged)", fontsize=7)
        bottom.set_ylabel("|end loss / flow's end loss − 1| (floor 1e-17)", fontsize=8)
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("GD learning rate")
        top.legend(fontsize=6)
    fig.suptitle("GD's end point (carried to a critical point by the flow) against the flow's, from the same start", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "gd_vs_flow.png", dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(SETTINGS))
    ap.add_argument("--draw", action="store_true", help="only draw the figure from the stored results")
    args = ap.parse_args(argv)
    if not args.draw:
        dufm.use_cpu_cores()
        OUT.mkdir(parents=True, exist_ok=True)
        for name in args.only or list(SETTINGS):
            path = OUT / f"{name}.json"
            st = study(name, json.loads(path.read_text()) if path.exists() else None)
            (OUT / f"{name}.json").write_text(json.dumps(st, indent=1))
            print(f"{name} ({st['wall_s']:.0f} s): flow " + ", ".join(f"seed {f['seed']} {f['loss']:.10g} nn {f['non_negligible']}"
                                                                  for f in st["flow"]), flush=True)
            for r in st["runs"]:
                print(f"  lr {r['lr']:<7g} seed {r['seed']}: GD {r['gd_status']} after {r['gd_steps']}" + (
                    f", end {r['end_loss']:.10g} nn {r['non_negligible']}{' (polished)' if r['polished'] else ''}"
                    f"{' = flow' if r['same_as_flow'] else ''}" if "end_loss" in r else ""), flush=True)
    draw()


if __name__ == "__main__":
    main()
