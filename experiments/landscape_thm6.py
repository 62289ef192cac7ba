"""Garrod & Keating (2025) Thm 6: Hessian norms at the DNC and at the low-rank critical point
as lambda -> 0, and their ratio.

Problem: K = 10 (even, so the low-rank point of rank K/2 is a critical point), n = 5,
width d = 20, linear CE, L = 2 and L = 3, one lambda for everything, lambda = 2^-40, 2^-36, 2^-32, 2^-28 and 2^-24 ... 2^-6.
At each lambda both points sit at the large-scale minimum of their reduced loss
(theory.reduced_loss(p, name).critical_scales() / theory.at_scale); the dense Hessian gives
the spectral norm (largest |eigenvalue|), the Frobenius norm and the trace.

    python experiments/landscape_thm6.py          # ~1 min on 2 shared CPU cores (4 min under load)

Writes results/landscape/thm6.json and docs/figures/landscape_thm6.png.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from landscape_common import FIGURES, Timer, probe, save, table  # noqa: E402

from dufm import Problem, theory  # noqa: E402

K, N_PER, WIDTH = 10, 5, 20
DEPTHS = (2, 3)
EXPONENTS = [-40, -36, -32, -28] + list(range(-24, -5, 1))
clock = Timer()


def large_scale(p, name):
    mins = [c for c in theory.reduced_loss(p, name).critical_scales() if c.kind == "minimum"]
    return mins[-1] if mins else None


def main():
    rows = []
    for L in DEPTHS:
        for e in EXPONENTS:
            lam = 2.0**e
            p = Problem(classes=K, per_class=N_PER, width=WIDTH, depth=L, loss="ce", activation="linear", weight_decay=lam)
            row = {"L": L, "log2_lam": e, "lam": lam}
            for name, tag in (("dnc", "dnc"), ("low_rank", "lr")):
                c = large_scale(p, name)
                if c is None:
                    row[f"{tag}_scale"] = None
                    continue
                rec = probe(theory.at_scale(p, name, c.scale), p, symmetry=False)
                w = rec.pop("eigenvalues")
                # the rotation-symmetry null space has L (r d - r(r+1)/2) dimensions (r = rank of Z; see landscape_thm5.py):
                # how small are the computed eigenvalues of that cluster, and how big is the next one?
                r = K - 1 if name == "dnc" else K // 2
                sym = L * (r * WIDTH - r * (r + 1) // 2)
                a = np.sort(np.abs(w))
                row.update({f"{tag}_null_cluster": a[sym - 1] / rec["spectral_norm"], f"{tag}_next": a[sym] / rec["spectral_norm"]})
                row.update({f"{tag}_scale": c.scale, f"{tag}_loss": rec["loss"], f"{tag}_grad": rec["grad_norm"],
                            f"{tag}_spec": rec["spectral_norm"], f"{tag}_frob": rec["frobenius_norm"], f"{tag}_trace": float(np.sum(w)),
                            f"{tag}_neg": rec["negative"], f"{tag}_zero": rec["zero"]})
            if row.get("lr_scale") and row.get("dnc_scale"):
                row["spec_ratio"] = row["dnc_spec"] / row["lr_spec"]
                row["frob_ratio"] = row["dnc_frob"] / row["lr_frob"]
                row["trace_ratio"] = row["dnc_trace"] / row["lr_trace"]
                row["dnc_spec_over_lam"] = row["dnc_spec"] / lam
                row["lr_spec_over_lam"] = row["lr_spec"] / lam
            rows.append(row)
    cols = [("L", "d"), ("log2_lam", "d"), ("dnc_scale", ".4g"), ("lr_scale", ".4g"), ("dnc_loss", ".5g"), ("lr_loss", ".5g"),
            ("dnc_spec", ".4e"), ("lr_spec", ".4e"), ("spec_ratio", ".5f"), ("dnc_frob", ".4e"), ("lr_frob", ".4e"), ("frob_ratio", ".5f"),
            ("trace_ratio", ".5f"), ("dnc_neg", "d"), ("lr_neg", "d")]
    table(rows, cols, f"Hessian norms at the large-scale DNC and low-rank critical points, K={K} n={N_PER} d={WIDTH} (t = {clock():.0f} s)")
    table(rows, [("L", "d"), ("log2_lam", "d"), ("dnc_spec_over_lam", ".5f"), ("lr_spec_over_lam", ".5f"),
                 ("dnc_grad", ".1e"), ("lr_grad", ".1e"), ("dnc_zero", "d"), ("lr_zero", "d"), ("dnc_null_cluster", ".1e"), ("dnc_next", ".1e"),
                 ("lr_null_cluster", ".1e"), ("lr_next", ".1e")],
          "spectral norms in units of lambda; counts with zero_tol 1e-8; *_null_cluster = largest |eigenvalue| / spectral norm among the "
          "L(r d - r(r+1)/2) smallest (the symmetry null space), *_next = the next one")

    # the ratios drift like 1/alpha (alpha ~ log 1/lambda): extrapolate with c0 + c1/alpha + c2/alpha^2 over lambda <= 2^-12
    limits = []
    for L in DEPTHS:
        rl = [r for r in rows if r["L"] == L and r.get("spec_ratio") and r["log2_lam"] <= -12]
        x = 1.0 / np.array([r["dnc_scale"] for r in rl])
        A = np.stack([np.ones_like(x), x, x**2], axis=1)
        lim = {"L": L, "points": len(rl)}
        for key in ("spec_ratio", "frob_ratio", "trace_ratio"):
            y = np.array([r[key] for r in rl])
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            lim[f"{key}_limit"] = float(coef[0])
            lim[f"{key}_fit_residual"] = float(np.max(np.abs(A @ coef - y)))
        limits.append(lim)
    table(limits, [("L", "d"), ("points", "d"), ("spec_ratio_limit", ".5f"), ("spec_ratio_fit_residual", ".1e"), ("frob_ratio_limit", ".5f"),
                   ("frob_ratio_fit_residual", ".1e"), ("trace_ratio_limit", ".5f"), ("trace_ratio_fit_residual", ".1e")],
          "lambda -> 0 limits of the ratios, fit c0 + c1/alpha + c2/alpha^2 (alpha = DNC margin) over lambda <= 2^-12")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for L, ls in zip(DEPTHS, ("-", "--")):
        rl = [r for r in rows if r["L"] == L and r.get("spec_ratio")]
        lam = [r["lam"] for r in rl]
        ax.plot(lam, [r["dnc_spec"] / r["lam"] for r in rl], "o" + ls, ms=3, color="tab:blue", label=f"DNC spectral, L={L}")
        ax.plot(lam, [r["lr_spec"] / r["lam"] for r in rl], "s" + ls, ms=3, color="tab:red", label=f"low-rank spectral, L={L}")
        ax.plot(lam, [r["dnc_frob"] / r["lam"] for r in rl], "o" + ls, ms=3, color="tab:cyan", label=f"DNC Frobenius, L={L}")
        ax.plot(lam, [r["lr_frob"] / r["lam"] for r in rl], "s" + ls, ms=3, color="tab:orange", label=f"low-rank Frobenius, L={L}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("weight decay λ")
    ax.set_ylabel("Hessian norm / λ")
    ax.set_title("Hessian norms at the two critical points, in units of λ", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    ax = axes[1]
    for L, ls in zip(DEPTHS, ("-", "--")):
        rl = [r for r in rows if r["L"] == L and r.get("spec_ratio")]
        lam = [r["lam"] for r in rl]
        ax.plot(lam, [r["spec_ratio"] for r in rl], "o" + ls, ms=3, color="tab:purple", label=f"spectral ratio DNC / low-rank, L={L}")
        ax.plot(lam, [r["frob_ratio"] for r in rl], "s" + ls, ms=3, color="tab:green", label=f"Frobenius ratio DNC / low-rank, L={L}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("weight decay λ")
    ax.set_ylabel("ratio")
    ax.set_title("ratio of the norms (DNC / low-rank)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle(f"Thm 6: Hessian norms as λ → 0, linear CE, K={K}, n={N_PER}, d={WIDTH}", fontsize=10)
    fig.tight_layout()
    fig.savefig(FIGURES / "landscape_thm6.png", dpi=130)
    plt.close(fig)
    save("thm6", {"setting": {"K": K, "n": N_PER, "width": WIDTH, "depths": DEPTHS}, "rows": rows, "limits": limits, "runtime_s": clock()})
    print(f"total {clock():.0f} s")


if __name__ == "__main__":
    main()
