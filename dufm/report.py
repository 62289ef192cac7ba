"""Plain-data (JSON-able) records of runs and closed forms, shared by the CLI and scripts."""

from __future__ import annotations

import math

import numpy as np

from . import theory
from .geometry import Thresholds, analyse
from .problem import Problem
from .solve import Run


def plain(x):
    """Recursively turn numpy arrays/scalars into lists/floats, NaN and inf into None."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def run_record(run: Run, problem: Problem, th: Thresholds = Thresholds()) -> dict:
    """Everything known about one finished run, as plain data.

    A diverged run carries its status and the step of divergence only: no
    loss, spectra or metrics are reported for it.
    """
    rec = {"seed": run.seed, "status": run.status, "steps": run.steps}
    rec["lambda_H"] = float(run.decays.H)
    rec["lambda_W"] = [float(v) for v in np.atleast_1d(run.decays.W)]
    if run.diverged:
        rec.update({"loss": None, "grad_norm": None, "diverged_at_step": run.steps})
    else:
        a = analyse(run.params, problem, th)
        rec.update(
            {
                "loss": run.loss,
                "grad_norm": run.grad_norm,
                "solution_type": a["solution_type"],
                "rank": a["rank"],
                "singular_values": a["singular_values"],
                "nc": a["nc"],
                "class_mean_logits": a["class_mean_logits"],
                "thresholds": a["thresholds"],
            }
        )
    rec["history"] = {"step": run.history_step, "loss": run.history_loss, "grad_norm": run.history_grad_norm, "nc1_trace": run.history_nc1}
    return plain(rec)


def theory_record(problem: Problem) -> dict:
    """The closed-form candidates of ``problem``: name -> {loss, scale, ...} or {loss: None, reason}."""
    out = {}
    for name, c in theory.candidates(problem).items():
        out[name] = {"loss": None, "scale": None, "reason": c} if isinstance(c, str) else c.to_dict()
    return plain(out)
