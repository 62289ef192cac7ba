"""``dufm plot``: draw the figures of a results directory into its figures/ folder (PNG and PDF)."""

from __future__ import annotations

HELP = "draw the figures of a results directory (PNG and PDF)"
DESCRIPTION = ("Draw the figures named in the sweep config's [plots] table (or --figure) into <results>/figures; "
               "for a directory written by dufm analyse --out, the feature figures.")


def add(sub):
    p = sub.add_parser("plot", help=HELP, description=DESCRIPTION)
    p.add_argument("results", help="results directory written by dufm sweep or dufm analyse --out")
    p.add_argument("--figure", action="append", default=[], help="figure to draw (repeatable; default: the config's list)")


def run(args) -> int:
    from pathlib import Path

    from .. import features, plots
    from ..experiments.records import load_results

    if features.is_feature_store(args.results):  # written by dufm analyse --out
        figures = plots.feature_figures(features.load(args.results), args.figure or None)
        out = Path(args.results) / "figures"
    else:
        results = load_results(args.results)
        figures = plots.figures(results, args.figure or None)
        out = results.path / "figures"
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory (the figures go there)")
    out.mkdir(exist_ok=True)
    for name, fig in figures.items():
        for ext in ("png", "pdf"):
            print(plots.save(fig, out / f"{name}.{ext}"))
    return 0
