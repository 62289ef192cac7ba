"""Every figure draws from a tiny sweep; diverged runs are excluded and counted in the title."""

import pytest

from dufm import plots
from dufm.sweep import load_config, load_results, run_sweep

CONFIG = """
name = "plots"
title = "tiny"
seeds = 2
[problem]
classes = 4
per_class = 2
width = 5
loss = "ce"
weight_decay = 0.004
[solver]
steps = 300
init_scale = 0.3
[[grid]]
depth = [1, 2]
lr = 0.5
[[grid]]
depth = 2
lr = 300.0
[plots]
figures = ["loss_curves", "logit_heatmaps", "singular_values", "nc1_curves", "loss_vs_dnc", "rank_vs_depth",
           "p_dnc_vs_depth", "normalised_sv_vs_depth", "theory_ce_ratio", "theory_ce_region"]
k_max = 6
max_depth = 3
"""


class Quiet:
    def write(self, s):
        pass

    def flush(self):
        pass


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    (root / "c.toml").write_text(CONFIG)
    out = run_sweep(load_config(root / "c.toml"), out=root / "out", stream=Quiet())
    assert out["status"]["diverged"] == 2
    return load_results(root / "out")


def test_all_figures_written(results):
    paths = plots.plot_results(results)
    assert len(paths) == 20
    for p in paths:
        assert p.stat().st_size > 5000, p


def test_mixed_depths_show_the_deepest(results):
    for name in ("singular_values", "nc1_curves"):
        fig = plots.figure(results, name, {})
        assert "depth L = 2 only" in fig._suptitle.get_text()
        plots.plt.close(fig)


@pytest.mark.parametrize("name", ["loss_curves", "singular_values", "rank_vs_depth", "p_dnc_vs_depth", "nc1_curves"])
def test_run_figures_exclude_diverged_runs_and_say_so(results, name):
    fig = plots.figure(results, name, {})
    assert "2 diverged runs excluded" in fig._suptitle.get_text()
    plots.plt.close(fig)


def test_rank_vs_counts_only_results(results):
    fig = plots.figure(results, "p_dnc_vs_depth", {})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["2/2", "2/2"] or all(t.endswith("/2") for t in texts)
    plots.plt.close(fig)


def test_unknown_figure():
    with pytest.raises(ValueError, match="figure"):
        plots.figure(None, "pie_chart", {})
