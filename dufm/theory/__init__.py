"""Closed forms of the deep UFM, the reduced class-mean problem, and the global optimum.

* :mod:`.factors` — the representation cost of a logit matrix and the
  balanced factors that attain it;
* :mod:`.closed_forms` — the known candidates (DNC, the low-rank pairs,
  circle, softmax codes, SRG, zero) as :class:`Candidate` s with closed-form
  losses, optimal scales and explicit parameters (:func:`candidates`);
* :mod:`.reduced` — the K x K problem in the class-mean logits a linear deep
  UFM reduces to (:func:`class_mean_problem`, :func:`polish`, :func:`lift`);
* :mod:`.optimum` — its multi-start search, lift and certificate
  (:func:`dufm.optimum`, not re-exported here).

This package re-exports the first three modules' public names:
``from dufm import theory; theory.dnc(problem)``.
"""

from .closed_forms import (  # noqa: F401
    Candidate,
    CriticalScale,
    ReducedLoss,
    at_scale,
    candidates,
    circle,
    dnc,
    incidence,
    low_rank,
    mse_ufm_scale,
    rectified_simplex,
    reduced_loss,
    softmax_code,
    srg,
    zero,
    zhu_margin,
)
from .factors import (  # noqa: F401
    balanced_factors,
    decay_vector,
    effective_decay,
    embedding,
    geometric_mean,
    representation_cost,
    scaled_chain,
    schatten_cost,
)
from .reduced import (  # noqa: F401
    ClassMeanProblem,
    Pruned,
    class_mean_data,
    class_mean_objective,
    class_mean_problem,
    class_mean_svd,
    class_means,
    factor_svd,
    lift,
    polish,
    prune,
    resize,
    smooth_class_means,
    smooth_gradient_norm,
    smooth_objective,
    smooth_point,
    split,
)

__all__ = [
    "decay_vector", "geometric_mean", "effective_decay", "representation_cost", "schatten_cost", "embedding",
    "balanced_factors", "scaled_chain", "Candidate", "CriticalScale", "ReducedLoss", "zhu_margin", "mse_ufm_scale",
    "zero", "dnc", "low_rank", "softmax_code", "rectified_simplex", "circle", "incidence", "srg", "candidates",
    "reduced_loss", "at_scale", "ClassMeanProblem", "class_mean_problem", "split", "class_mean_data",
    "smooth_objective", "smooth_class_means", "class_mean_svd", "class_mean_objective", "smooth_point", "lift",
    "class_means", "polish", "factor_svd", "resize", "Pruned", "prune", "smooth_gradient_norm",
]
