"""Garrod & Keating (2025) Thm 5: the dimension of the null space of the Hessian (nullity) at
the DNC and at the low-rank critical point, against the width d.

Problem: K = 10, n = 5, linear CE, lambda = 2^-10 (all parameters); L = 2 for
d = 10, 15, ..., 40, and L = 1, 3 for d = 10, 20, 30. Both points sit at the large-scale
minimum of their reduced loss (theory.reduced_loss(p, name).critical_scales() /
theory.at_scale): DNC of rank r = K - 1 = 9 and the low-rank point of rank r = K/2 = 5.
For each the dense Hessian gives the nullity (|eigenvalue| <= 1e-8 x spectral norm) and
critical.symmetry_dimension the dimension of the rotation-symmetry orbit; they are compared
with

* the paper's counts: (K-1)(d-K+1) for DNC, r d - C(r) for the low-rank point (C(r) read
  both as r(r+1)/2 and as r(r-1)/2);
* the orbit count: L (r d - r(r+1)/2) — L hidden layer spaces, each contributing the
  dimension of the Stiefel manifold V_r(R^d) (orbit of O(d) through rank-r balanced factors).

    python experiments/landscape_thm5.py          # ~2.5 min on 2 shared CPU cores (4 min under load)

Writes results/landscape/thm5.json and docs/figures/landscape_thm5.png.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from landscape_common import FIGURES, Timer, probe, save, table, verdict  # noqa: E402

from dufm import Problem, critical, theory  # noqa: E402

K, N_PER, LAM = 10, 5, 2.0**-10
RUNS = [(2, d) for d in (10, 15, 20, 25, 30, 35, 40)] + [(1, d) for d in (10, 20, 30)] + [(3, d) for d in (10, 20, 30)]
clock = Timer()


def main():
    rows = []
    for L, d in RUNS:
        p = Problem(classes=K, per_class=N_PER, width=d, depth=L, loss="ce", activation="linear", weight_decay=LAM)
        for name, r in (("dnc", K - 1), ("low_rank", K // 2)):
            c = [c for c in theory.reduced_loss(p, name).critical_scales() if c.kind == "minimum"][-1]
            params = theory.at_scale(p, name, c.scale)
            rec = probe(params, p, symmetry=False)
            w = rec.pop("eigenvalues")
            a = np.sort(np.abs(w))
            row = {
                "L": L, "d": d, "point": name, "r": r, "parameters": rec["parameters"], "grad_norm": rec["grad_norm"],
                "negative": rec["negative"], "nullity": rec["zero"], "verdict": verdict(rec),
                "symmetry_dimension": critical.symmetry_dimension(params, p.architecture),
                "stiefel_L": L * (r * d - r * (r + 1) // 2),
                "paper_dnc": (K - 1) * (d - K + 1) if name == "dnc" else None,
                "rd_minus_r(r+1)/2": r * d - r * (r + 1) // 2,
                "rd_minus_r(r-1)/2": r * d - r * (r - 1) // 2,
                "grassmann_r(d-r)": r * (d - r),
                "gap": a[rec["zero"]] / rec["spectral_norm"],  # smallest nonzero |eigenvalue| / spectral norm
                "zero_level": a[rec["zero"] - 1] / rec["spectral_norm"] if rec["zero"] else 0.0,
            }
            rows.append(row)
    cols = [("L", "d"), ("d", "d"), ("point", "s"), ("r", "d"), ("parameters", "d"), ("negative", "d"), ("nullity", "d"),
            ("symmetry_dimension", "d"), ("stiefel_L", "d"), ("paper_dnc", "d"), ("rd_minus_r(r+1)/2", "d"), ("rd_minus_r(r-1)/2", "d"),
            ("grassmann_r(d-r)", "d"), ("zero_level", ".1e"), ("gap", ".1e"), ("verdict", "s")]
    table(rows, cols, f"nullity of the Hessian vs width, K={K} n={N_PER} lambda=2^-10 (t = {clock():.0f} s); "
          "stiefel_L = L (r d - r(r+1)/2); zero_level / gap = largest zero / smallest nonzero |eigenvalue| over the spectral norm")

    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    rl = {name: [r for r in rows if r["L"] == 2 and r["point"] == name] for name in ("dnc", "low_rank")}
    d = np.array([r["d"] for r in rl["dnc"]])
    ax.plot(d, [r["nullity"] for r in rl["dnc"]], "o", ms=7, color="tab:blue", label="DNC (r=9): measured nullity")
    ax.plot(d, [r["symmetry_dimension"] for r in rl["dnc"]], "x", ms=7, color="k", label="measured symmetry-orbit dimension")
    ax.plot(d, 2 * (9 * d - 45), "-", color="tab:blue", lw=1, label="solid: L(rd − r(r+1)/2), L=2 hidden spaces × Stiefel dim")
    ax.plot(d, 9 * (d - 9), "--", color="tab:blue", lw=1, label="paper DNC: (K−1)(d−K+1) = r(d−r)")
    ax.plot(d, [r["nullity"] for r in rl["low_rank"]], "s", ms=7, color="tab:red", label="low-rank (r=5): measured nullity")
    ax.plot(d, [r["symmetry_dimension"] for r in rl["low_rank"]], "x", ms=7, color="k")
    ax.plot(d, 2 * (5 * d - 15), "-", color="tab:red", lw=1)
    ax.plot(d, 5 * d - 15, ":", color="tab:red", lw=1.2, label="paper low-rank rd − r(r+1)/2")
    ax.plot(d, 5 * d - 10, "-.", color="tab:red", lw=1, label="paper low-rank rd − r(r−1)/2")
    ax.set_xlabel("width d")
    ax.set_ylabel("dimension")
    ax.set_title(f"Hessian null space at the two critical points, linear CE, L=2, K={K}, n={N_PER}, λ=2^-10", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(FIGURES / "landscape_thm5.png", dpi=130)
    plt.close(fig)
    save("thm5", {"setting": {"K": K, "n": N_PER, "lambda": LAM}, "rows": rows, "runtime_s": clock()})
    print(f"total {clock():.0f} s")


if __name__ == "__main__":
    main()
