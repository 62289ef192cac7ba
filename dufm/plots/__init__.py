"""Figures as matplotlib :class:`~matplotlib.figure.Figure` objects, by family.

* a sweep's figures (:mod:`.sweeps`): :func:`figures` draws the figures a
  sweep config names (or those that fit what it varied) from loaded results;
  the closed-form figures of a theory-only config come from :mod:`.theory`;
* a Hessian's spectrum and curves of Hessian quantities (:mod:`.hessian`);
* a trained network's feature analyses (:mod:`.features`): :func:`feature_figures`;
* :func:`save` writes any of them as PNG or PDF.

Figures are built as bare :class:`~matplotlib.figure.Figure` objects, never
through :mod:`matplotlib.pyplot`: importing this package chooses no backend
and registers nothing process-wide, so it is safe inside notebooks and other
programs, and a figure is freed once it is no longer referenced.
"""

from .common import check_path, save
from .features import FEATURE_FIGURES, feature_figures, features_metrics_vs_checkpoint, features_metrics_vs_layer, features_spectra
from .hessian import curves_vs, hessian_spectrum
from .sweeps import (
    FIGURES,
    PREFIXES,
    RUN_FIGURES,
    default_figures,
    effective_rank_vs,
    figure,
    figures,
    logit_heatmaps,
    loss_curves,
    loss_vs_dnc,
    nc1_curves,
    normalised_sv_vs_depth,
    p_dnc_vs,
    p_full_rank_vs,
    rank_vs,
    singular_values,
    spectral_dynamics,
    varied,
    wilson_interval,
)
from .theory import theory_ce_ratio, theory_ce_region, theory_srg_ratio

__all__ = [
    "FEATURE_FIGURES", "FIGURES", "PREFIXES", "RUN_FIGURES",
    "check_path", "curves_vs", "default_figures", "effective_rank_vs", "feature_figures", "features_metrics_vs_checkpoint",
    "features_metrics_vs_layer", "features_spectra", "figure", "figures", "hessian_spectrum", "logit_heatmaps", "loss_curves",
    "loss_vs_dnc", "nc1_curves", "normalised_sv_vs_depth", "p_dnc_vs", "p_full_rank_vs", "rank_vs", "save", "singular_values",
    "spectral_dynamics", "theory_ce_ratio", "theory_ce_region", "theory_srg_ratio", "varied", "wilson_interval",
]
