"""Helpers shared by the experiments/landscape_*.py scripts (not part of the library).

* :func:`probe` — dense Hessian of a point, its full spectrum, the counts
  negative / zero / positive with the library's zero tolerance
  (tau = zero_tol x spectral norm, as :func:`dufm.critical.classify`), the
  dimension of the rotation-symmetry orbit, and the spectrum of the Hessian
  restricted to the orthogonal complement of the symmetry tangents
  ("mod symmetry").
* :func:`table` — print rows as an aligned text table.
* :func:`save` — write a JSON record under results/landscape/.

Importing this module turns on JAX's 64-bit mode for the process (``import dufm`` does
not): the landscape scripts apply JAX transformations of their own (``jax.grad``,
``jax.jvp``) to float64 points.

Run the scripts from the repository root: ``python experiments/landscape_thm4.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np

from dufm import critical, hessian
from dufm.model.objective import gradient_norm, objective
from dufm.store import jsonable

jax.config.update("jax_enable_x64", True)  # the scripts' own jax.grad / jax.jvp of float64 points

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "landscape"
FIGURES = ROOT / "docs" / "figures"
ZERO_TOL = 1e-8  # eigenvalue counts as zero when |lambda| <= ZERO_TOL x spectral norm (classify's default)


def symmetry_basis(params, arch, rank_tol: float = 1e-8):
    """(dim, Q): numerical rank of the symmetry tangents and an orthonormal basis (P, P - dim) of their complement."""
    T = critical.symmetry_tangents(params, arch)
    P = hessian.flatten(params).size
    if T.size == 0:
        return 0, np.eye(P)
    _, s, Vt = np.linalg.svd(T, full_matrices=True)
    dim = int(np.sum(s > rank_tol * s[0])) if s[0] > 0 else 0
    return dim, Vt[dim:].T


def probe(params, problem, symmetry: bool = True, zero_tol: float = ZERO_TOL) -> dict:
    """Dense second-order description of ``params`` (P up to a few thousand)."""
    arch, decays = problem.architecture, problem.decays
    grad = jax.grad(lambda p: objective(p, decays, arch))(params)
    H = hessian.hessian_matrix(params, decays, arch)
    w = np.linalg.eigvalsh(H)
    spec = max(abs(w[0]), abs(w[-1]))
    tau = zero_tol * spec
    out = {
        "parameters": int(w.size),
        "loss": float(objective(params, decays, arch)),
        "grad_norm": float(gradient_norm(grad)),
        "min_eigenvalue": float(w[0]),
        "max_eigenvalue": float(w[-1]),
        "spectral_norm": float(spec),
        "frobenius_norm": float(np.sqrt(np.sum(w**2))),
        "negative": int(np.sum(w < -tau)),
        "zero": int(np.sum(np.abs(w) <= tau)),
        "positive": int(np.sum(w > tau)),
        "zero_tolerance": float(tau),
        "eigenvalues": w,
    }
    if symmetry:
        dim, Q = symmetry_basis(params, arch)
        wp = np.linalg.eigvalsh(Q.T @ H @ Q)
        out.update(
            symmetry_dimension=dim,
            min_eigenvalue_mod_symmetry=float(wp[0]),
            negative_mod_symmetry=int(np.sum(wp < -tau)),
            zero_mod_symmetry=int(np.sum(np.abs(wp) <= tau)),
            # how far the symmetry tangents are from being null vectors (0 at a critical point)
            symmetry_residual=float(np.linalg.norm(H - (H @ Q) @ Q.T) / max(np.linalg.norm(H), 1e-300)) if dim else 0.0,
        )
    return out


def verdict(rec: dict, grad_tol: float = 1e-8) -> str:
    """The classify verdict from a :func:`probe` record."""
    if not rec["grad_norm"] <= grad_tol:
        return "not critical"
    if rec["negative"] > 0:
        return "strict saddle"
    if rec["zero"] == 0:
        return "local minimum"
    return "degenerate"


def fmt(v, spec: str = ".4g") -> str:
    if v is None:
        return "-"
    if isinstance(v, (float, np.floating)):
        return format(float(v), spec)
    return str(v)


def table(rows: list[dict], cols: list[tuple[str, str]] | list[str], title: str = "") -> str:
    """Print (and return) ``rows`` as an aligned table; ``cols`` are keys or (key, format) pairs."""
    cols = [(c, ".4g") if isinstance(c, str) else c for c in cols]
    cells = [[k for k, _ in cols]] + [[fmt(r.get(k), f) for k, f in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    text = (title + "\n" if title else "") + "\n".join(lines)
    print(text, flush=True)
    return text


def save(name: str, record: dict) -> Path:
    """Write ``record`` (plain-ified) to results/landscape/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(jsonable(record), indent=1))
    print("wrote", path.relative_to(ROOT), flush=True)
    return path


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
