"""A trained network's head next to the deep UFM with the same K, depth and lambda (docs/real_networks.md).

Data (downloads nothing): a Gaussian mixture in R^20, K = 6 classes, n = 50 training samples per class,
class centres i.i.d. N(0, 1.5^2 I), unit isotropic noise (seed 0).
Network: a ReLU backbone 20 -> 64 -> 32 (with biases; its output is the head's input features H1),
then a linear head of L = 3 bias-free weight matrices W1 (32 x 32), W2 (32 x 32), W3 (6 x 32):
the deep UFM's architecture with its free features H1 replaced by a trained backbone.
Objective: mean cross-entropy + (lambda/2) ||theta||^2 over every weight and bias, lambda = 0.003,
full-batch Adam (optax, lr 1e-3, 20 000 steps, then 20 000 steps at lr 1e-4), float64, seeds 0, 1, 2.
Features of every layer are saved with one call (dufm.features.save, 11 checkpoints over training),
analysed with ``dufm analyse`` (the library call it makes), and set next to dufm.solve on the deep UFM
Problem(classes=6, per_class=50, width=32, depth=3, weight_decay=0.003): GD lr 0.5, init std 0.1,
at most 100 000 steps, seeds 0-4.

    python experiments/real_network_mixture.py          # about 2.5 min on 2 CPU cores

Writes docs/figures/real_network_*.png and docs/figures/real_network.json (every number quoted in the docs)
and the feature files and their stored analyses under results/real_network/ (dufm plot results/real_network/analyses).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import dufm
from dufm import features, plots
from dufm.store import jsonable

ROOT = Path(__file__).resolve().parents[1]
FIGS = ROOT / "docs" / "figures"
OUT = ROOT / "results" / "real_network"  # ignored by git
K, N_PER, DIM, HIDDEN, WIDTH, DEPTH, LAM = 6, 50, 20, 64, 32, 3, 0.003
STEPS, CHECKPOINTS = 40_000, 11


def data(seed=0):
    rng = np.random.default_rng(seed)
    centres = 1.5 * rng.normal(size=(K, DIM))
    y = rng.permutation(np.repeat(np.arange(K), N_PER))  # any order: dufm analyse takes labels as they come
    return centres[y] + rng.normal(size=(len(y), DIM)), y


def init(key):
    sizes = [(HIDDEN, DIM), (WIDTH, HIDDEN)]
    keys = jax.random.split(key, 5)
    backbone = [(jax.random.normal(k, s) * np.sqrt(2.0 / s[1]), jnp.zeros(s[0])) for k, s in zip(keys[:2], sizes)]
    head = [jax.random.normal(k, s) * np.sqrt(1.0 / s[1]) for k, s in zip(keys[2:], [(WIDTH, WIDTH), (WIDTH, WIDTH), (K, WIDTH)])]
    return {"backbone": backbone, "head": head}


def layers(theta, x):
    """Every layer's features, samples as rows: the backbone's hidden layer, H1 (backbone output), H2, H3, and the logits Z."""
    (A1, a1), (A2, a2) = theta["backbone"]
    W1, W2, W3 = theta["head"]
    b1 = jax.nn.relu(x @ A1.T + a1)
    H1 = jax.nn.relu(b1 @ A2.T + a2)
    H2 = H1 @ W1.T
    H3 = H2 @ W2.T
    return {"backbone": b1, "H1": H1, "H2": H2, "H3": H3, "Z": H3 @ W3.T}


def loss(theta, x, y):
    z = layers(theta, x)["Z"]
    ce = -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(len(y)), y])
    return ce + 0.5 * LAM * sum(jnp.sum(p**2) for p in jax.tree_util.tree_leaves(theta))


def train(seed, x, y):
    theta = init(jax.random.PRNGKey(seed))
    every = STEPS // (CHECKPOINTS - 1)
    half = STEPS // 2
    opt = optax.chain(optax.adam(optax.piecewise_constant_schedule(1e-3, {half: 0.1})))
    state = opt.init(theta)

    @jax.jit
    def chunk(theta, state):
        def step(carry, _):
            theta, state = carry
            value, g = jax.value_and_grad(loss)(theta, x, y)
            upd, state = opt.update(g, state, theta)
            return (optax.apply_updates(theta, upd), state), value
        (theta, state), values = jax.lax.scan(step, (theta, state), None, length=every)
        return theta, state, values[-1]

    snaps, steps = [layers(theta, x)], [0]
    for i in range(1, CHECKPOINTS):
        theta, state, value = chunk(theta, state)
        snaps.append(layers(theta, x))
        steps.append(i * every)
    g = jax.grad(loss)(theta, x, y)
    gnorm = float(jnp.sqrt(sum(jnp.sum(v**2) for v in jax.tree_util.tree_leaves(g))))
    stacked = {k: np.stack([np.asarray(s[k]) for s in snaps]) for k in snaps[0]}
    return theta, stacked, steps, float(loss(theta, x, y)), gnorm


def summary(a) -> dict:
    return {name: {"class_mean_rank": la.class_mean_rank, "rank": la.rank, "type": str(la.solution_type),
                   "class_mean_sv": [float(v) for v in la.class_mean_singular_values],
                   **{m: getattr(la.nc, m) for m in ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_equinorm", "nc2_equiangle",
                                                    "nc3_duality", "nc4")}}
            for name, la in a.layers.items()}


def main():
    t0 = time.perf_counter()
    jax.config.update("jax_enable_x64", True)  # this script owns its process
    OUT.mkdir(parents=True, exist_ok=True)
    FIGS.mkdir(parents=True, exist_ok=True)
    x, y = data()
    report = {"setting": {"K": K, "n": N_PER, "input_dim": DIM, "width": WIDTH, "depth": DEPTH, "lambda": LAM, "steps": STEPS},
              "network": [], "deep_ufm": []}
    nets = []
    for seed in range(3):
        theta, stacked, steps, value, gnorm = train(seed, jnp.asarray(x), jnp.asarray(y))
        path = features.save(OUT / f"network_seed{seed}.npz", y, stacked, weights={"H3": np.asarray(theta["head"][2])},
                             checkpoints=steps)  # the one call that saves every layer's features
        # the command a user runs; its JSON is the analysis
        out = subprocess.run([sys.executable, "-m", "dufm", "analyse", str(path), "--json", "--out", str(OUT / "analyses")],
                             capture_output=True, text=True, check=True).stdout
        a = features.FeatureAnalysis.from_dict(json.loads(out))
        nets.append(a)
        acc = float(np.mean(np.argmax(stacked["Z"][-1], axis=1) == y))
        report["network"].append({"seed": seed, "loss": value, "grad_norm": gnorm, "train_accuracy": acc, "type": str(a.solution_type),
                                  "layers": summary(a)})
        print(f"network seed {seed}: loss {value:.6f} |grad| {gnorm:.1e} train acc {acc:.3f}; type {a.solution_type}; class-mean ranks "
              + ", ".join(f"{k} {v.class_mean_rank}" for k, v in a.layers.items()), flush=True)

    problem = dufm.Problem(classes=K, per_class=N_PER, width=WIDTH, depth=DEPTH, weight_decay=LAM)
    cands = dufm.theory.candidates(problem)
    report["theory"] = {k: c.loss for k, c in cands.items() if isinstance(c, dufm.theory.Candidate)}
    ufms = []
    for run in dufm.solve(problem, dufm.SolverConfig(), seeds=range(5)):
        path = features.export(run.params, problem, OUT / f"deep_ufm_seed{run.seed}.npz")
        a = features.analyse_features(path)
        ufms.append(a)
        report["deep_ufm"].append({"seed": run.seed, "status": str(run.status), "steps": run.steps, "loss": run.loss,
                                   "type": str(a.solution_type), "layers": summary(a)})
        print(f"deep UFM seed {run.seed}: {run.status} after {run.steps} steps, loss {run.loss:.6f}; type {a.solution_type}; class-mean "
              "ranks " + ", ".join(f"{k} {v.class_mean_rank}" for k, v in a.layers.items()), flush=True)
    print("closed forms: " + ", ".join(f"{k} {v:.6f}" for k, v in report["theory"].items()))

    figs = {"real_network_metrics_vs_layer": plots.features_metrics_vs_layer([nets[0], ufms[0]]),
            "real_network_spectra": plots.features_spectra([nets[0]]),
            "real_network_deep_ufm_spectra": plots.features_spectra([ufms[0]]),
            "real_network_over_training": plots.features_metrics_vs_checkpoint([nets[0]])}
    for name, fig in figs.items():
        print(plots.save(fig, FIGS / f"{name}.png"))
    report["wall_time_s"] = time.perf_counter() - t0
    (FIGS / "real_network.json").write_text(json.dumps(jsonable(report), indent=1) + "\n")
    print(f"done in {report['wall_time_s']:.0f} s")


if __name__ == "__main__":
    main()
