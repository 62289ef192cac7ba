"""Shared test helpers: the tiny sweep configs the sweep, Ray and plot tests run."""

from __future__ import annotations

import json
from pathlib import Path

# a problem that solves in well under a second: K = 3, n = 2, d = 4, L = 2, MSE
TINY_PROBLEM = dict(classes=3, per_class=2, width=4, depth=2, loss="mse", weight_decay=0.002)
TINY_SOLVER = dict(steps=400, init_scale=0.3, log_every=50)


def _table(name: str, values: dict) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


def sweep_toml(name="tiny", seeds=2, max_batch=32, problem=None, solver=None, grid=None, plots=None, title=None) -> str:
    """A sweep config as TOML text: TINY_PROBLEM / TINY_SOLVER updated by ``problem`` / ``solver``.

    ``grid`` is one table (a dict) or a union of tables (a list of dicts, ``[[grid]]``).
    """
    head = {"name": name, "seeds": seeds, "max_batch": max_batch, **({"title": title} if title else {})}
    text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in head.items())
    text += _table("problem", {**TINY_PROBLEM, **(problem or {})})
    text += _table("solver", {**TINY_SOLVER, **(solver or {})})
    grids = grid if isinstance(grid, list) else [grid or {"weight_decay": [0.002, 0.004]}]
    for g in grids:
        text += ("[[grid]]\n" if isinstance(grid, list) else "[grid]\n") + "".join(f"{k} = {json.dumps(v)}\n" for k, v in g.items())
    if plots:
        text += _table("plots", plots)
    return text


def write_sweep(directory: Path, filename: str = "tiny.toml", **kw) -> Path:
    """Write :func:`sweep_toml` to ``directory/filename``; returns the path."""
    path = Path(directory) / filename
    path.write_text(sweep_toml(**kw))
    return path


def run_cli(capsys, args):
    """``dufm ARGS`` in this process: (exit status, stdout, stderr); an argparse error's SystemExit becomes its status."""
    from dufm.cli import main

    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
