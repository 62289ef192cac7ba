"""Garrod & Keating (2025) Thm 4: for small lambda the DNC critical point on the large-scale
branch has no negative Hessian eigenvalue (linear CE, L >= 2). With L = 1 (Zhu et al. 2021)
for contrast, and the other critical points of the DNC family: the small-scale branch (the
maximum of the reduced loss) and the origin.

Problem: K = 10, n = 5, width d = 20 (dense Hessians of P = 1200 / 1600 / 2000 parameters
for L = 1 / 2 / 3), linear CE, one lambda for everything. For every lambda = 2^e on the grid
and every depth the script builds the DNC point at each critical scale of its reduced loss
(theory.reduced_loss(p, "dnc").critical_scales() / theory.at_scale), the dense Hessian, its
spectrum, and the spectrum restricted to the orthogonal complement of the rotation-symmetry
tangents ("mod symmetry").
It bisects (in log2 lambda) for the lambda at which the smallest eigenvalue mod symmetry of
the large-scale DNC point changes sign, and for the largest lambda at which the large-scale
critical scale exists.

    python experiments/landscape_thm4.py          # ~3 min on 2 shared CPU cores

Writes results/landscape/thm4.json, docs/figures/landscape_thm4.png and
docs/figures/landscape_thm4_spectrum.png.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from landscape_common import FIGURES, Timer, probe, save, symmetry_basis, table, verdict  # noqa: E402

from dufm import Problem, hessian, plots, theory  # noqa: E402
from dufm.model.objective import forward

K, N_PER, WIDTH = 10, 5, 20
DEPTHS = (1, 2, 3)
EXPONENTS = list(range(-20, -3))  # lambda = 2^-20 ... 2^-4
clock = Timer()


def problem(L, lam, width=WIDTH, classes=K):
    return Problem(classes=classes, per_class=N_PER, width=width, depth=L, loss="ce", activation="linear", weight_decay=lam)


def branches(p):
    """(large-scale minimum, small-scale maximum) critical scales of the DNC reduced loss (None where absent)."""
    cs = theory.reduced_loss(p, "dnc").critical_scales()
    big = [c for c in cs if c.kind == "minimum"]
    small = [c for c in cs if c.kind == "maximum"]
    return (big[-1] if big else None), (small[0] if small else None)


def probe_dnc(L, lam, which="large", width=WIDTH, classes=K):
    p = problem(L, lam, width, classes)
    big, small = branches(p)
    c = big if which == "large" else small
    if c is None:
        return None
    rec = probe(theory.at_scale(p, "dnc", c.scale), p)
    rec.update(L=L, lam=lam, log2_lam=float(np.log2(lam)), scale=c.scale, reduced_loss=c.loss, width=width, classes=classes,
               verdict=verdict(rec), min_mod_sym_over_lam=rec["min_eigenvalue_mod_symmetry"] / lam)
    rec.pop("eigenvalues")
    return rec


def bisect(f, lo, hi, iters):
    """Root of the sign change of f on [lo, hi] (f(lo) and f(hi) of opposite signs), by bisection."""
    flo = f(lo)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        if np.sign(fm) == np.sign(flo):
            lo, flo = mid, fm
        else:
            hi = mid
    return lo, hi


def has_large_branch(L, log2_lam):
    return 1.0 if branches(problem(L, 2.0**log2_lam))[0] is not None else -1.0


def main():
    out = {"setting": {"K": K, "n": N_PER, "width": WIDTH, "loss": "ce", "activation": "linear", "zero_tol": 1e-8}}

    # --- 1. the large-scale DNC branch over the lambda grid -------------------------------
    rows = []
    for L in DEPTHS:
        for e in EXPONENTS:
            rec = probe_dnc(L, 2.0**e)
            if rec is not None:
                rows.append(rec)
    cols = [("L", "d"), ("log2_lam", ".0f"), ("scale", ".5g"), ("loss", ".6g"), ("grad_norm", ".1e"), ("min_eigenvalue", ".3e"),
            ("min_eigenvalue_mod_symmetry", ".4e"), ("min_mod_sym_over_lam", ".4f"), ("negative", "d"), ("zero", "d"),
            ("positive", "d"), ("symmetry_dimension", "d"), ("verdict", "s")]
    table(rows, cols, f"large-scale DNC critical point, K={K} n={N_PER} d={WIDTH} (t = {clock():.0f} s)")
    out["large_branch"] = rows

    # --- 2. where the branch ends, where its min eigenvalue (mod symmetry) changes sign ------
    ends, crossings = [], []
    for L in DEPTHS:
        have = [r["log2_lam"] for r in rows if r["L"] == L]
        lo, hi = bisect(lambda x, L=L: has_large_branch(L, x), max(have), max(have) + 1.0, 30)
        ends.append({"L": L, "log2_lam_max": lo, "lam_max": 2.0**lo})
        rl = [r for r in rows if r["L"] == L]
        for a, b in zip(rl, rl[1:]):
            if a["min_eigenvalue_mod_symmetry"] > 0 >= b["min_eigenvalue_mod_symmetry"]:
                f = lambda x, L=L: probe_dnc(L, 2.0**x)["min_eigenvalue_mod_symmetry"]  # noqa: E731
                xlo, xhi = bisect(f, a["log2_lam"], b["log2_lam"], 12)
                crossings.append({"L": L, "log2_lam_star": 0.5 * (xlo + xhi), "lam_star": 2.0 ** (0.5 * (xlo + xhi)),
                                  "bracket_log2": [xlo, xhi]})
        if not any(c["L"] == L for c in crossings):
            crossings.append({"L": L, "log2_lam_star": None, "lam_star": None, "bracket_log2": None})
    if 1 in DEPTHS:
        ends[0]["closed_form_L1"] = 1.0 / (K * np.sqrt(N_PER))  # Zhu et al.: a critical margin exists iff lambda < 1/(K sqrt n)
    for e, c in zip(ends, crossings):
        e.update({k: v for k, v in c.items() if k != "L"})
    table(ends, [("L", "d"), ("log2_lam_max", ".5f"), ("lam_max", ".6g"), ("log2_lam_star", ".4f"), ("lam_star", ".5g")],
          f"largest lambda with a large-scale DNC critical point; lambda* where its min eigenvalue mod symmetry crosses 0 (t = {clock():.0f} s)")
    out["branch_end_and_sign_change"] = ends

    # near the end of each branch (where the reduced loss is flat along the scale)
    near = []
    for e in ends:
        for frac in (0.9, 0.99):
            rec = probe_dnc(e["L"], frac * e["lam_max"])
            if rec is not None:
                rec["fraction_of_lam_max"] = frac
                near.append(rec)
    table(near, [("L", "d"), ("fraction_of_lam_max", ".2f"), ("lam", ".5g"), ("scale", ".4g"), ("min_eigenvalue_mod_symmetry", ".3e"),
                 ("negative", "d"), ("zero", "d"), ("symmetry_dimension", "d"), ("verdict", "s")], "near the end of the large-scale branch")
    out["near_branch_end"] = near

    # --- 3. the negative directions: multiplicity and the class-mean logits they move ------
    neg = []
    for L, e_, k in ((2, -5, 10), (3, -6, 10), (3, -5, 8), (3, -4, 6)):  # each past its lambda* (K = 4 has none below its branch end)
        p = problem(L, 2.0**e_, classes=k)
        params = theory.at_scale(p, "dnc", branches(p)[0].scale)
        H = hessian.hessian_matrix(params, p.decays, p.architecture)
        _, Q = symmetry_basis(params, p.architecture)
        w, V = np.linalg.eigh(Q.T @ H @ Q)
        m = int(np.sum(w < -1e-8 * np.max(np.abs(w))))
        x, unravel = ravel_pytree(jax.tree_util.tree_map(jnp.asarray, params))
        Zof = lambda v: forward(unravel(v), p.architecture)[0]  # noqa: E731
        worst = {"within_class": 0.0, "row_col_sums": 0.0, "asymmetry": 0.0, "diagonal": 0.0}
        for j in range(m):
            dZ = np.asarray(jax.jvp(Zof, (x,), (jnp.asarray(Q @ V[:, j]),))[1])
            M = dZ.reshape(k, k, N_PER).mean(-1)  # class-mean logit change, column = class
            s = np.linalg.norm(M)
            worst["within_class"] = max(worst["within_class"], np.linalg.norm(dZ - np.repeat(M, N_PER, axis=1)) / s)
            worst["row_col_sums"] = max(worst["row_col_sums"], (np.linalg.norm(M.sum(0)) + np.linalg.norm(M.sum(1))) / s)
            worst["asymmetry"] = max(worst["asymmetry"], np.linalg.norm(M - M.T) / s)
            worst["diagonal"] = max(worst["diagonal"], np.linalg.norm(np.diag(M)) / s)
        neg.append({"L": L, "log2_lam": e_, "K": k, "negative_mod_symmetry": m, "K(K-3)/2": k * (k - 3) // 2,
                    "min_eigenvalue": float(w[0]), **{f"max_rel_{a}": b for a, b in worst.items()}})
    table(neg, [("L", "d"), ("log2_lam", "d"), ("K", "d"), ("negative_mod_symmetry", "d"), ("K(K-3)/2", "d"), ("min_eigenvalue", ".3e"),
                ("max_rel_within_class", ".1e"), ("max_rel_row_col_sums", ".1e"), ("max_rel_asymmetry", ".1e"), ("max_rel_diagonal", ".1e")],
          f"negative eigenvectors (mod symmetry) past lambda*: first-order change of the class-mean logits (t = {clock():.0f} s)")
    out["negative_directions"] = neg

    # --- 4. the width does not matter (L = 3) -----------------------------------------------
    wid = []
    for e_ in (-10, -6):
        for d in (10, 20, 30):
            wid.append(probe_dnc(3, 2.0**e_, width=d))
    table(wid, [("width", "d"), ("log2_lam", ".0f"), ("parameters", "d"), ("min_eigenvalue_mod_symmetry", ".6e"), ("negative", "d"),
                ("zero", "d"), ("symmetry_dimension", "d")], f"L = 3: the same numbers at other widths (t = {clock():.0f} s)")
    out["width_check"] = wid

    # --- 5. the small-scale branch (maximum of the reduced loss) and the origin -------------
    small = []
    for L in (2, 3):
        for e_ in (-14, -10, -8, -6):
            rec = probe_dnc(L, 2.0**e_, which="small")
            if rec is not None:
                small.append(rec)
    table(small, [("L", "d"), ("log2_lam", ".0f"), ("scale", ".4e"), ("loss", ".6f"), ("grad_norm", ".1e"), ("min_eigenvalue", ".3e"),
                  ("negative", "d"), ("zero", "d"), ("symmetry_dimension", "d"), ("verdict", "s")],
          "small-scale DNC critical point (the maximum of the reduced loss; not resolved below the grid's smallest scale 8e-12)")
    out["small_branch"] = small

    origin = []
    for L in DEPTHS:
        for e_ in (-10, -4):
            lam = 2.0**e_
            p = problem(L, lam)
            rec = probe(theory.zero(p).params, p, symmetry=False)
            w = rec.pop("eigenvalues")
            rec.update(L=L, lam=lam, log2_lam=e_, verdict=verdict(rec), distinct_eigenvalues=sorted({round(float(v), 10) for v in w}))
            if L == 1:
                rec["zhu_prediction"] = {"lam - 1/(K sqrt n)": lam - 1 / (K * np.sqrt(N_PER)), "lam + 1/(K sqrt n)": lam + 1 / (K * np.sqrt(N_PER)),
                                         "multiplicity (K-1) d": (K - 1) * WIDTH}
            origin.append(rec)
    table(origin, [("L", "d"), ("log2_lam", ".0f"), ("loss", ".6f"), ("min_eigenvalue", ".6e"), ("max_eigenvalue", ".6e"), ("negative", "d"),
                   ("zero", "d"), ("positive", "d"), ("verdict", "s")], "the origin (all factors zero)")
    for r in origin:
        print(f"  L={r['L']} log2 lambda={r['log2_lam']}: distinct eigenvalues {r['distinct_eigenvalues'][:6]}")
    print(f"  L=1 prediction: lambda -+ 1/(K sqrt n) = {-1 / (K * np.sqrt(N_PER)) + 2**-10:.6e}, {1 / (K * np.sqrt(N_PER)) + 2**-10:.6e} "
          f"(each (K-1) d = {(K - 1) * WIDTH} times) at lambda = 2^-10")
    out["origin"] = origin

    # --- figures ------------------------------------------------------------------------------
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    colors = {1: "tab:blue", 2: "tab:orange", 3: "tab:green"}
    for L in DEPTHS:
        rl = [r for r in rows if r["L"] == L] + [r for r in near if r["L"] == L]
        rl.sort(key=lambda r: r["lam"])
        ax.plot([r["lam"] for r in rl], [r["min_eigenvalue_mod_symmetry"] for r in rl], "o-", ms=3, color=colors[L], label=f"L = {L}")
        e = next(x for x in ends if x["L"] == L)
        ax.axvline(e["lam_max"], color=colors[L], ls=":", lw=1)
        if e["lam_star"]:
            ax.axvline(e["lam_star"], color=colors[L], ls="--", lw=1)
    lam_grid = np.array([2.0**e for e in EXPONENTS])
    ax.plot(lam_grid, lam_grid, color="gray", lw=0.8, ls="-.", label="λ (reference)")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1e-7)
    ax.set_xlabel("weight decay λ (all parameters)")
    ax.set_ylabel("smallest Hessian eigenvalue mod symmetry")
    ax.set_title(f"large-scale DNC critical point, linear CE, K={K}, n={N_PER}, d={WIDTH}\n"
                 "dashed: λ* (sign change); dotted: end of the branch", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(FIGURES / "landscape_thm4.png", dpi=130)
    plt.close(fig)

    p = problem(3, 2.0**-6)
    w = probe(theory.at_scale(p, "dnc", branches(p)[0].scale), p, symmetry=False)["eigenvalues"]
    plots.save(plots.hessian_spectrum(eigenvalues=w, zero_tol=1e-8,
                                      title=f"Hessian at the large-scale DNC point, L=3, λ=2^-6 (> λ*), K={K}, n={N_PER}, d={WIDTH}: "
                                      f"{int(np.sum(w < -1e-8 * np.max(np.abs(w))))} negative"),
               FIGURES / "landscape_thm4_spectrum.png")
    out["runtime_s"] = clock()
    save("thm4", out)
    print(f"total {clock():.0f} s")


if __name__ == "__main__":
    main()
