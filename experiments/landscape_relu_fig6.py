"""Second-order probe of the ReLU case of Garrod & Keating (2025) Fig 6.

Problem (Fig 6): ReLU CE, K = 10, n = 5, L = 3, d = 70, lambda = 2^-9 for every parameter
(P = 14 000). Two kinds of points:

1. the feasible DNC point theory.dnc(p) (every post-activation class-mean matrix a
   non-negative orthogonal frame; its loss is an upper bound on the best ReLU-DNC point).
   It sits on ReLU kinks: many pre-activations are exactly 0. Autodiff takes ReLU'(0) = 0
   (and ReLU'' = 0), so the Hessian it returns is that of the smooth piece on which those
   units are off; moving a zero pre-activation up raises the loss to first order, moving
   it down leaves the piece unchanged. classify(method="inertia") gives the exact counts
   of that Hessian. The script then splits its null space: the O(d) orbit of the first
   hidden space (no activation between H_1 and W_1, so that rotation symmetry survives)
   and "kink directions" (checked with dense eigendecompositions at d = 12, 20, 30).
2. GD end points of the Fig 6 setting (GD lr 0.5, init std 0.1, 20 000 steps, seeds 0-1),
   refined by critical.refine and classified matrix-free (method "lanczos": a Ritz value
   below -tau with its residual certifies a negative eigenvalue), with the smallest
   |pre-activation| (distance to the nearest kink).

    python experiments/landscape_relu_fig6.py     # ~70 s on 2 shared CPU cores

Writes results/landscape/relu_fig6.json.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from landscape_common import Timer, save, table

from dufm import Problem, SolverConfig, analyse, critical, hessian, solve, theory
from dufm.model.objective import forward

SEEDS = [0, 1]
clock = Timer()


def pre_activations(params, arch):
    """H_2 ... H_L (the pre-activations that go through ReLU), flattened and concatenated."""
    _, H = forward(params, arch)
    return jnp.concatenate([jnp.ravel(h) for h in H[1:]])


def main():
    p = Problem(classes=10, per_class=5, width=70, depth=3, loss="ce", activation="relu", weight_decay=2.0**-9)
    arch, decays = p.architecture, p.decays
    cand = theory.dnc(p)
    out = {"setting": p.to_dict(), "dnc_loss_upper_bound": cand.loss, "linear_dnc_lower_bound": cand.lower_bound}

    # --- 1. the feasible DNC point ------------------------------------------------------------
    x = jax.tree_util.tree_map(jnp.asarray, cand.params)
    h = np.asarray(pre_activations(x, arch))
    kinks = h == 0.0
    c = critical.classify(x, decays, arch, method="inertia")
    hs = c.hessian
    t_classify = clock()
    dnc = {"loss": c.loss, "closed_form": cand.loss, "grad_norm": c.grad_norm, "verdict": c.verdict, "index": c.index,
           "nullity": c.nullity, "positive": hs.positive, "min_eigenvalue": hs.min_eigenvalue, "max_eigenvalue": hs.max_eigenvalue,
           "zero_tolerance": hs.zero_tolerance, "pre_activations": int(h.size), "exactly_zero": int(kinks.sum()),
           "negative_pre_activations": int(np.sum(h < 0)), "classify_s": t_classify}
    table([dnc], [("loss", ".10f"), ("closed_form", ".10f"), ("grad_norm", ".1e"), ("min_eigenvalue", ".4e"), ("max_eigenvalue", ".4e"),
                  ("index", "d"), ("nullity", "d"), ("positive", "d"), ("verdict", "s"), ("pre_activations", "d"), ("exactly_zero", "d"),
                  ("negative_pre_activations", "d"), ("classify_s", ".0f")],
          f"feasible ReLU-DNC point of Fig 6 (K=10 n=5 L=3 d=70 lambda=2^-9, P={p.parameter_count}); linear-DNC lower bound {cand.lower_bound:.10f}")

    # --- what the null space is made of -----------------------------------------------------------
    # sigma never acts on H_1, so the first hidden space (between H_1 and W_1) keeps the linear O(d) symmetry
    # H_1 -> Q H_1, W_1 -> W_1 Q^T: an orbit of dimension r d - r(r+1)/2 with r = rank H_1 = K.
    # (the tangents are taken from the linear architecture of the same shapes, first space only: what
    # critical.symmetry_tangents returns for the ReLU architecture.) At d = 70 the check is matrix-free (HVPs).
    K, d = p.classes, p.widths[0]
    lin = Problem(classes=K, per_class=5, width=d, depth=3, loss="ce", activation="linear", weight_decay=2.0**-9)
    T1 = critical.symmetry_tangents(cand.params, lin.architecture)[: d * (d - 1) // 2]
    s = np.linalg.svd(T1, compute_uv=False)
    rank1 = int(np.sum(s > 1e-8 * s[0]))
    rng = np.random.default_rng(0)
    combos = rng.standard_normal((8, T1.shape[0])) @ T1
    hv = max(float(np.linalg.norm(hessian.flatten(hessian.hvp(x, hessian.unflatten_like(x, t), decays, arch))) / np.linalg.norm(t)) for t in combos)
    dnc.update(first_space_orbit=rank1, orbit_formula=K * d - K * (K + 1) // 2, max_rel_Hv_on_orbit=hv / hs.spectral_norm,
               nullity_minus_orbit=dnc["nullity"] - rank1)
    print(f"  first hidden space O({d}) orbit: tangent rank {rank1} (K d - K(K+1)/2 = {K * d - K * (K + 1) // 2}); "
          f"max |H t| / (|t| |H|) over 8 random tangents {hv / hs.spectral_norm:.1e}; nullity - orbit = {dnc['nullity'] - rank1} "
          f"(K(K-1)/2 = {K * (K - 1) // 2})", flush=True)
    small = []
    for dw in (12, 20, 30):
        q = Problem(classes=K, per_class=5, width=dw, depth=3, loss="ce", activation="relu", weight_decay=2.0**-9)
        xq = theory.dnc(q).params
        Hq = hessian.hessian_matrix(xq, q.decays, q.architecture)
        w, V = np.linalg.eigh(Hq)
        N0 = V[:, np.abs(w) <= 1e-8 * np.max(np.abs(w))]
        lq = Problem(classes=K, per_class=5, width=dw, depth=3, loss="ce", activation="linear", weight_decay=2.0**-9)
        Tq = critical.symmetry_tangents(xq, lq.architecture)[: dw * (dw - 1) // 2]
        _, sq, Vt = np.linalg.svd(Tq, full_matrices=False)
        rq = int(np.sum(sq > 1e-8 * sq[0]))
        B = Vt[:rq].T
        R = N0 - B @ (B.T @ N0)
        u, s2, _ = np.linalg.svd(R, full_matrices=False)
        E = u[:, s2 > 1e-6]  # null directions outside the orbit
        nH, nW1 = xq.H.size, dw * dw
        # each such direction: dH_1 constant within classes, and the first-order change of H_2 = W_1 H_1 only on entries that are 0
        _, Hs = forward(jax.tree_util.tree_map(jnp.asarray, xq), q.architecture)
        H2 = np.asarray(Hs[1])
        worst_within, worst_active = 0.0, 0.0
        for j in range(E.shape[1]):
            dH = E[:nH, j].reshape(xq.H.shape)
            dW1 = E[nH : nH + nW1, j].reshape(dw, dw)
            M = dH.reshape(dw, K, 5).mean(-1)
            worst_within = max(worst_within, np.linalg.norm(dH - np.repeat(M, 5, axis=1)) / np.linalg.norm(dH))
            dH2 = xq.W[0] @ dH + dW1 @ xq.H
            worst_active = max(worst_active, np.linalg.norm(dH2[H2 > 0]) / np.linalg.norm(dH2))
        small.append({"width": dw, "parameters": q.parameter_count, "nullity": int(N0.shape[1]),
                      "negative": int(np.sum(w < -1e-8 * np.max(np.abs(w)))),
                      "first_space_orbit": rq, "K d - K(K+1)/2": K * dw - K * (K + 1) // 2, "outside_orbit": int(E.shape[1]),
                      "K(K-1)/2": K * (K - 1) // 2, "max_within_class": worst_within, "max_dH2_on_active": worst_active,
                      "energy_in_H1_W1": float(np.sum(E[: nH + nW1] ** 2) / E.shape[1])})
    table(small, [("width", "d"), ("parameters", "d"), ("negative", "d"), ("nullity", "d"), ("first_space_orbit", "d"), ("K d - K(K+1)/2", "d"),
                  ("outside_orbit", "d"), ("K(K-1)/2", "d"), ("energy_in_H1_W1", ".3f"), ("max_within_class", ".1e"), ("max_dH2_on_active", ".1e")],
          f"feasible ReLU-DNC point at small widths (dense eigh): the null space = first-space orbit + kink directions (t = {clock():.0f} s); "
          "kink directions live in (H_1, W_1) and move H_2 only on its zero (kinked) entries")
    dnc["small_widths"] = small
    out["dnc"] = dnc

    # --- 2. GD end points, refined ---------------------------------------------------------------
    cfg = SolverConfig(lr=0.5, steps=20_000, tol=1e-10, init_scale=0.1)
    runs = solve(p, cfg, seeds=SEEDS)
    print(f"GD of {len(SEEDS)} seeds: done at t = {clock():.0f} s", flush=True)
    rows = []
    for run in runs:
        t0 = clock()
        ref = critical.refine(run.params, decays, arch, tol=1e-10)
        pts = {"GD": run.params, "refined": ref.params}
        row = {"seed": run.seed, "gd_steps": run.steps, "gd_grad": run.grad_norm, "gd_loss": run.loss, "refine_status": ref.status,
               "iterations": ref.iterations, "refined_grad": ref.grad_norm, "refined_loss": ref.loss, "grad_history": ref.history}
        for tag, q in pts.items():
            a = analyse(q, p)
            hq = np.abs(np.asarray(pre_activations(jax.tree_util.tree_map(jnp.asarray, q), arch)))
            row[f"{tag}_rank_Z"] = a.rank["Z"]
            row[f"{tag}_hidden_ranks"] = [a.rank[f"H{l}"] for l in range(1, 4)]
            row[f"{tag}_min_abs_preact"] = float(hq.min())
            row[f"{tag}_preact_below_1e-6"] = int(np.sum(hq < 1e-6 * hq.max()))
        cl = critical.classify(ref.params, decays, arch, method="lanczos", num_samples=8)
        row.update(verdict=cl.verdict, lanczos_min=cl.hessian.min_eigenvalue, lanczos_residual=cl.hessian.min_eigenvalue_residual,
                   lanczos_max=cl.hessian.max_eigenvalue, below_linear_dnc=ref.loss < cand.lower_bound, seconds=clock() - t0)
        rows.append(row)
        print(f"  seed {run.seed}: done at t = {clock():.0f} s", flush=True)
    table(rows, [("seed", "d"), ("gd_steps", "d"), ("gd_grad", ".2e"), ("gd_loss", ".8f"), ("GD_rank_Z", "d"), ("GD_min_abs_preact", ".1e"),
                 ("iterations", "d"), ("refine_status", "s"), ("refined_grad", ".2e"), ("refined_loss", ".10f"), ("refined_rank_Z", "d"),
                 ("refined_hidden_ranks", "s"), ("refined_min_abs_preact", ".1e"), ("refined_preact_below_1e-6", "d"), ("below_linear_dnc", "s"),
                 ("lanczos_min", ".3e"), ("lanczos_residual", ".0e"), ("verdict", "s"), ("seconds", ".0f")],
          "GD end points (lr 0.5, std 0.1, 20 000 steps), refined by Newton-MR (tol 1e-10), classified by Lanczos (200 matvecs)")
    out["gd"] = rows
    out["runtime_s"] = clock()
    save("relu_fig6", out)
    print(f"total {clock():.0f} s")


if __name__ == "__main__":
    main()
