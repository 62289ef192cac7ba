"""Shared test helpers: the suite's canonical problems, the tiny sweep configs the sweep, Ray and plot tests run; comparing
results computed elsewhere.

A solver program is compiled for a problem's shapes, loss, activation, bias, dtype and depth, the optimiser, the history
layout (``log_every`` and the step limit's octave) and the batch size (:class:`dufm.solving.solver.ProgramKey`); the
decays, learning rate, tolerance, loss threshold and step limit are its inputs. Compiling is most of what a test of a
small problem waits for, so the tests share a few problems and vary numbers, not shapes, where the shape is not the
point of the test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

# Garrod & Keating's Fig 1: K = 10, n = 5, d = 70, L = 2, CE, lambda = 2^-10 (dufm.Problem's defaults)
FIG1 = dict(classes=10, per_class=5, width=70, depth=2, weight_decay=2**-10)
# K = 4, n = 3, d = 6: every closed form exists (K even), and a GD solve converges in thousands of steps
SMALL = dict(classes=4, per_class=3, width=6)

# a problem that solves in well under a second: K = 3, n = 2, d = 4, L = 2, MSE
TINY_PROBLEM = dict(classes=3, per_class=2, width=4, depth=2, loss="mse", weight_decay=0.002)
TINY_SOLVER = dict(steps=400, init_scale=0.3, log_every=50)
# the same as command-line flags: `dufm solve` of up to four seeds runs the tiny sweep's programs
TINY_FLAGS = ["--classes", "3", "--per-class", "2", "--width", "4", "--depth", "2", "--loss", "mse", "--weight-decay", "0.002"]
TINY_SOLVER_FLAGS = ["--steps", "400", "--init-scale", "0.3", "--log-every", "50"]


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


# Results computed on another machine (a fixture) agree with this machine's to this tolerance, not bit for bit: XLA's
# floating point is reproducible on one machine, not across instruction sets.
ELSEWHERE_RTOL = 1e-12


def assert_arrays_close(a, b, rtol: float = ELSEWHERE_RTOL, what: str = "array"):
    """Equal shapes, NaN where the other has NaN, and max|a - b| <= rtol x max|a| (tolerance relative to the array's
    scale: a singular value at the rounding floor of a spectrum may differ by more than rtol of itself)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype.kind == b.dtype.kind, (what, a.shape, b.shape)
    if a.dtype.kind not in "fc":
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    assert np.array_equal(np.isnan(a), np.isnan(b)), what
    finite = np.isfinite(a)
    scale = float(np.max(np.abs(a[finite]))) if finite.any() else 0.0
    np.testing.assert_array_equal(a[~finite & ~np.isnan(a)], b[~finite & ~np.isnan(a)], err_msg=what)
    assert np.all(np.abs(a[finite] - b[finite]) <= rtol * max(scale, 1e-300)), (what, float(np.max(np.abs(a[finite] - b[finite]))), scale)


def assert_documents_close(a, b, rtol: float = ELSEWHERE_RTOL, path: str = ""):
    """JSON documents equal but for their numbers, which agree as :func:`assert_arrays_close` says (a list of numbers
    as one array; a scalar relative to max(|a|, 1): metrics are O(1) quantities that are 0 at collapse)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(set(a) ^ set(b)) if isinstance(b, dict) else b)
        for k in a:
            assert_documents_close(a[k], b[k], rtol, f"{path}/{k}")
    elif isinstance(a, list) and a and all(isinstance(v, (int, float)) or v is None for v in _flat(a)):
        assert isinstance(b, list), path
        assert_arrays_close(np.array(a, dtype=float), np.array(b, dtype=float), rtol, path)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_documents_close(x, y, rtol, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and not isinstance(a, bool):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= rtol * max(abs(a), 1.0), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _flat(x):
    for v in x:
        if isinstance(v, list):
            yield from _flat(v)
        else:
            yield v


# ---------------------------------------------------------------------------
# an independent implementation of a linear deep UFM's objective (numpy, the chain rule written out), for the loss tests


def assert_rel(got, want, rtol, what):
    """Equal shapes and max|got - want| <= rtol x max|want|."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert err <= rtol, (what, err)


def random_params(problem, seed):
    """Parameters of ``problem`` with every entry N(0, 0.7^2) (a bias N(0, 1)), from numpy's generator."""
    import dufm

    rng = np.random.default_rng(seed)
    d, K = problem.widths, problem.classes
    W = tuple(rng.normal(scale=0.7, size=(d[l + 1], d[l])) for l in range(problem.depth - 1)) + (rng.normal(scale=0.7, size=(K, d[-1])),)
    b = rng.normal(size=K) if problem.bias != "none" else None
    return dufm.Params(rng.normal(scale=0.7, size=(d[0], problem.samples)), W, b)


def np_objective_and_grad(params, problem, loss_and_grad):
    """The full objective of a linear deep UFM and its gradient in (H, W_1, ..., W_L, b) by the chain rule;
    ``loss_and_grad(Z)`` gives the data term and its gradient in the logits Z (K, N)."""
    H, Ws = np.asarray(params.H), [np.asarray(w) for w in params.W]
    acts = [H]
    for W in Ws:
        acts.append(W @ acts[-1])
    Z = acts[-1] + (0.0 if params.b is None else np.asarray(params.b)[:, None])
    value, G = loss_and_grad(Z)
    value += 0.5 * problem.lambda_H * np.sum(H**2) + sum(0.5 * lw * np.sum(W**2) for lw, W in zip(problem.lambda_W, Ws))
    grads_W, back = [], G
    for l in range(len(Ws) - 1, -1, -1):
        grads_W.insert(0, back @ acts[l].T + problem.lambda_W[l] * Ws[l])
        back = Ws[l].T @ back
    out = {"H": back + problem.lambda_H * H, "W": grads_W}
    if params.b is not None:
        b = np.asarray(params.b)
        value += 0.5 * problem.bias_decay * np.sum(b**2)
        out["b"] = G.sum(axis=1) + problem.bias_decay * b
    return value, out


def assert_objective_matches(problem, params, loss_and_grad, rtol: float = 1e-12):
    """dufm's objective of ``problem`` at ``params`` and its gradient (JAX) equal :func:`np_objective_and_grad`'s to rtol."""
    import jax

    from dufm.model.objective import objective

    want, want_grad = np_objective_and_grad(params, problem, loss_and_grad)
    f = lambda q: objective(q, problem.decays, problem.architecture)  # noqa: E731
    assert_rel(float(f(params)), want, rtol, "objective")
    g = jax.grad(f)(params)
    assert_rel(g.H, want_grad["H"], rtol, "dH")
    for l, (a, b) in enumerate(zip(g.W, want_grad["W"]), start=1):
        assert_rel(a, b, rtol, f"dW{l}")
    if params.b is not None:
        assert_rel(g.b, want_grad["b"], rtol, "db")
    else:
        assert g.b is None


def full_multistart(problem, seeds=6, steps=2000):
    """Lowest loss of L-BFGS on the full problem from Gaussian starts of std 0.1 ... 1 (run_many, one program): what a
    search of the reduced problem must never be above."""
    import jax

    import dufm
    from dufm.solving.solver import SolverConfig, run_many

    arch = problem.architecture
    scales = np.geomspace(0.1, 1.0, seeds)
    starts = [dufm.initialise(jax.random.PRNGKey(s), arch, float(c)) for s, c in enumerate(scales)]
    cfg = SolverConfig(optimizer="lbfgs", steps=steps, tol=1e-10, log_every=500)
    runs = run_many(dufm.Params.stack([jax.tree_util.tree_map(np.asarray, p) for p in starts]), problem.decays, arch, cfg)
    return min(r.loss for r in runs if not r.diverged)
