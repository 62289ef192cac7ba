"""The field's way, as one process: Garrod & Keating Fig 1 solved with a PyTorch loop (float64, CPU).

    python benchmarks/torch_fig1.py [--seeds 10] [--steps 4000] [--threads N]

K = 10, n = 5, d = 70, L = 2, linear, CE, lambda = 2^-10 on every matrix,
full-batch GD with lr 0.5 (``torch.optim.SGD(weight_decay=lambda)``), one
Python iteration per step, seeds one after another; H_1 and every W_l drawn
with ``torch.randn`` times 0.1. Prints each seed's final objective. The
baseline of benchmarks/bench_process.py (whole processes) and, through
:func:`train`, of benchmarks/bench_solver.py (the same starting points as dufm).
"""

from __future__ import annotations

import argparse

import torch

K, N_PER, WIDTH, DEPTH, LR, LAMBDA, STD = 10, 5, 70, 2, 0.5, 2.0**-10, 0.1


def train(H0, W0s, classes: int, per_class: int, steps: int, lr: float = LR, lam: float = LAMBDA) -> float:
    """GD from (H0, W0s) (arrays: H (d, N), W_l (d_{l+1}, d_l)); returns the final objective, CE + lam/2 sum ||.||^2."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    H = torch.tensor(H0, requires_grad=True, device=dev, dtype=torch.float64)
    Ws = [torch.tensor(W, requires_grad=True, device=dev, dtype=torch.float64) for W in W0s]
    y = torch.arange(classes, device=dev).repeat_interleave(per_class)
    opt = torch.optim.SGD([H, *Ws], lr=lr, weight_decay=lam)
    for _ in range(steps):
        opt.zero_grad()
        Z = H
        for W in Ws:
            Z = W @ Z
        loss = torch.nn.functional.cross_entropy(Z.T, y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        Z = H
        for W in Ws:
            Z = W @ Z
        reg = sum(float((p**2).sum()) for p in [H, *Ws])
        return float(torch.nn.functional.cross_entropy(Z.T, y)) + 0.5 * lam * reg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: PyTorch's own choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for seed in range(args.seeds):
        g = torch.Generator().manual_seed(seed)
        H0 = STD * torch.randn(WIDTH, K * N_PER, generator=g, dtype=torch.float64)
        W0s = [STD * torch.randn(WIDTH, WIDTH, generator=g, dtype=torch.float64) for _ in range(DEPTH - 1)]
        W0s.append(STD * torch.randn(K, WIDTH, generator=g, dtype=torch.float64))
        print(f"seed {seed}: objective {train(H0.numpy(), [W.numpy() for W in W0s], K, N_PER, args.steps):.12g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
