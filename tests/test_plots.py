"""Every figure draws from a tiny sweep; diverged runs are excluded and counted in the title.

(That importing dufm.plots leaves the matplotlib backend alone is checked in test_precision.py.)
"""

import numpy as np
import pytest
from matplotlib.figure import Figure

from dufm import plots
from dufm.records import load_results
from dufm.sweep import load_config, run_sweep
from helpers import write_sweep

FIGURES = ["loss_curves", "logit_heatmaps", "singular_values", "nc1_curves", "loss_vs_dnc", "rank_vs_depth", "p_dnc_vs_depth",
           "normalised_sv_vs_depth", "theory_ce_ratio", "theory_ce_region"]
CONFIG = dict(
    name="plots", title="tiny", seeds=2,
    problem=dict(classes=4, per_class=2, width=5, loss="ce", weight_decay=0.004),
    solver=dict(steps=300, log_every=100),
    grid=[{"depth": [1, 2], "lr": 0.5}, {"depth": 2, "lr": 300.0}],  # lr 300 diverges
    plots=dict(figures=FIGURES, k_max=6, max_depth=3),
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    out = run_sweep(load_config(write_sweep(root, "c.toml", **CONFIG)), out=root / "out")
    assert out.status["diverged"] == 2
    return load_results(root / "out")


def test_all_figures_written(results, tmp_path):
    figs = plots.figures(results)
    assert all(isinstance(f, Figure) for f in figs.values())
    paths = [plots.save(fig, tmp_path / f"{name}.{ext}") for name, fig in figs.items() for ext in ("png", "pdf")]
    assert len(paths) == 20
    for p in paths:
        assert p.stat().st_size > 5000, p


def test_mixed_depths_show_the_deepest(results):
    for name in ("singular_values", "nc1_curves"):
        fig = plots.figure(results, name, {})
        assert "depth L = 2 only" in fig._suptitle.get_text()


@pytest.mark.parametrize("name", ["loss_curves", "singular_values", "rank_vs_depth", "p_dnc_vs_depth", "nc1_curves"])
def test_run_figures_exclude_diverged_runs_and_say_so(results, name):
    fig = plots.figure(results, name, {})
    assert "2 diverged runs excluded" in fig._suptitle.get_text()


def test_rank_vs_counts_only_results(results):
    fig = plots.figure(results, "p_dnc_vs_depth", {})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["2/2", "2/2"] or all(t.endswith("/2") for t in texts)


def test_unknown_figure():
    with pytest.raises(ValueError, match="figure"):
        plots.figure(None, "pie_chart", {})


def test_save_needs_png_or_pdf(tmp_path):
    fig = plots.curves_vs([1, 2, 4], {"a": [1.0, 2.0, 3.0]}, "x", "y")
    with pytest.raises(ValueError, match=r"\.png or \.pdf.*x\.svg"):
        plots.save(fig, tmp_path / "x.svg")
    assert not (tmp_path / "x.svg").exists()


def test_hessian_spectrum_dense_or_slq():
    rng = np.random.default_rng(0)
    eigenvalues = np.concatenate([rng.normal(size=40), np.zeros(10), -rng.exponential(1e-3, size=5)])
    assert isinstance(plots.hessian_spectrum(eigenvalues=eigenvalues, title="dense"), Figure)
    nodes = rng.normal(size=(3, 8))
    weights = rng.random((3, 8))
    weights /= weights.sum(1, keepdims=True)
    fig = plots.hessian_spectrum(slq=(nodes, weights))
    assert isinstance(fig, Figure)
    assert "3 probes x 8 nodes" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="exactly one"):
        plots.hessian_spectrum(eigenvalues=eigenvalues, slq=(nodes, weights))
    with pytest.raises(ValueError, match="exactly one"):
        plots.hessian_spectrum()
