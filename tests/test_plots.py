"""Every figure draws from a tiny sweep, and draws the numbers of its records: diverged runs excluded and counted,
step-limit runs drawn apart and counted, a field that did not vary refused, the other varied fields split.

(That importing dufm.plots leaves the matplotlib backend alone is checked in test_precision.py.)
"""

import numpy as np
import pytest
from helpers import write_sweep
from matplotlib.figure import Figure

from dufm import plots, theory
from dufm.experiments.config import SweepConfig
from dufm.experiments.records import load_results
from dufm.experiments.sweep import run_sweep

FIGURES = ["loss_curves", "logit_heatmaps", "singular_values", "nc1_curves", "loss_vs_dnc", "rank_vs_depth", "p_dnc_vs_depth",
           "normalised_sv_vs_depth", "theory_ce_ratio", "theory_ce_region"]
CONFIG = dict(
    name="plots", title="tiny", seeds=2,
    problem=dict(classes=4, per_class=2, width=5, loss="ce", weight_decay=0.004),
    solver=dict(steps=300, log_every=100),
    # depth and width both vary (three shapes, not four: the figures split by the other field either way); lr 300 diverges
    grid=[{"depth": [1, 2], "lr": 0.5, "width": 5}, {"depth": 2, "lr": 0.5, "width": 6}, {"depth": 2, "lr": 300.0}],
    plots=dict(figures=FIGURES, k_max=6, max_depth=3),
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    out = run_sweep(SweepConfig.from_toml(write_sweep(root, "c.toml", **CONFIG)), out=root / "out")
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


def _by(results, field):
    """Independent grouping of the finished runs: (width, field value) -> runs."""
    groups = {}
    for r in results.results():
        groups.setdefault((r.problem.widths[0], getattr(r.problem, field)), []).append(r)
    return groups


def test_p_dnc_and_rank_figures_draw_the_records_numbers_split_by_width(results):
    groups = _by(results, "depth")
    assert {k for k, _ in groups} == {5, 6} and len(results.results()) == 6
    for name, value in (("p_dnc_vs_depth", lambda runs: sum(r.solution_type == "dnc" for r in runs) / len(runs)),
                        ("rank_vs_depth", lambda runs: np.mean([r.analysis.rank["Z"] for r in runs]))):
        fig = plots.figure(results, name, {})
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["width=5", "width=6"]  # width varied too: one series each, never merged
        drawn = {}
        if ax.containers:  # error bars: each series is a container holding its data line
            lines = {c.get_label(): c.lines[0] for c in ax.containers}
        else:
            lines = {line.get_label(): line for line in ax.lines}
        for label, line in ((label, lines[label]) for label in labels):
            for x, y in line.get_xydata():
                drawn[(int(label.split("=")[1]), int(x))] = y
        assert drawn.keys() == groups.keys()
        for key, runs in groups.items():
            assert drawn[key] == pytest.approx(value(runs), abs=1e-12), (name, key)
    texts = sorted(t.get_text().split(",")[0] for t in plots.figure(results, "p_dnc_vs_depth", {}).axes[0].texts)
    want = sorted(f"{sum(r.solution_type == 'dnc' for r in runs)}/{len(runs)}" for runs in groups.values())
    assert texts == want and any(a != b for a, b in (t.split("/") for t in want))  # a count and its complement differ


def test_step_limit_runs_are_drawn_apart_and_counted(results):
    limited = [r for r in results.results() if r.status == "max_steps"]
    assert limited  # 300 steps: some runs stop at the step limit
    fig = plots.figure(results, "loss_curves", {})
    assert f"{len(limited)} hit the step limit" in fig._suptitle.get_text()
    runs = results.results()[:20]
    curves = fig.axes[0].lines[: len(runs)]
    for rec, line in zip(runs, curves):
        np.testing.assert_array_equal(line.get_ydata(), rec.history.loss)
        assert (line.get_linestyle() == "--") == (rec.status == "max_steps")


def test_singular_values_have_a_legend_per_run_and_loss_vs_dnc_draws_the_ratios(results):
    fig = plots.figure(results, "singular_values", {})
    deepest = [r for r in results.results() if r.problem.depth == 2]
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == len(deepest)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    # every varied field is named (depth and width vary here), so no two runs share a label
    assert len(set(labels)) == len(labels) and all("L=2" in label and "d=" in label for label in labels), labels
    few = plots.figure(results, "loss_curves", {"max_runs": 2})
    assert f"the first 2 of {len(results.results())}" in few._suptitle.get_text()
    fig = plots.figure(results, "loss_vs_dnc", {})
    points = [line.get_ydata()[0] for line in fig.axes[0].lines if len(line.get_ydata()) == 1]
    want = [r.loss / theory.dnc(r.problem).loss for r in results.results()]
    np.testing.assert_allclose(points, want, rtol=1e-14)


def test_a_field_that_did_not_vary_is_refused(results):
    # lr varied in the config, but every run of lr 300 diverged: among the finished runs it did not vary
    with pytest.raises(ValueError, match=r"p_dnc_vs_lr needs runs that differ in lr, but every run has lr = 0.5; "
                                         r"fields that vary: \['depth', 'width'\]"):
        plots.figure(results, "p_dnc_vs_lr", {})
    assert plots.default_figures(results)[-4:] == ["rank_vs_width", "p_dnc_vs_width", "rank_vs_depth", "p_dnc_vs_depth"]


def test_no_finished_runs_draw_no_run_figure(tmp_path):
    out = run_sweep(SweepConfig.from_toml(write_sweep(tmp_path, "d.toml", name="d", solver={"lr": 300.0})), out=tmp_path / "d")
    assert out.status["diverged"] == 4
    res = load_results(tmp_path / "d")
    with pytest.raises(ValueError, match="has none"):
        plots.figure(res, "loss_curves", {})
    with pytest.raises(ValueError, match="nothing to draw"):
        plots.figures(res)
    assert isinstance(plots.figure(res, "theory_ce_ratio", {"k_max": 4, "max_depth": 2}), Figure)


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


def _wilson(k, n, z=1.959963984540054):
    """Wilson's score interval written out (independent of scipy): centre -+ half width."""
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
    return centre - half, centre + half


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (5, 10), (9, 10), (10, 10), (3, 7), (0, 1), (17, 40)])
def test_wilson_interval_is_the_closed_form(k, n):
    lo, hi = plots.wilson_interval(k, n)
    want = _wilson(k, n)
    assert lo == pytest.approx(max(want[0], 0.0), abs=1e-12) and hi == pytest.approx(min(want[1], 1.0), abs=1e-12)
    assert 0.0 <= lo <= k / n <= hi <= 1.0 and hi - lo > 0.05


def test_p_dnc_error_bars_are_the_wilson_intervals_of_the_counts(results):
    groups = _by(results, "depth")
    ax = plots.figure(results, "p_dnc_vs_depth", {}).axes[0]
    bars = {}
    for c in ax.containers:
        width = int(c.get_label().split("=")[1])
        for (x0, lo), (x1, hi) in c.lines[2][0].get_segments():
            bars[(width, int(x0))] = (lo, hi)
    assert bars.keys() == groups.keys()
    for key, runs in groups.items():
        k = sum(r.solution_type == "dnc" for r in runs)
        np.testing.assert_allclose(bars[key], _wilson(k, len(runs)), rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A tiny sweep with the singular values of Z recorded every 10 steps: 2 seeds that finish, 2 that diverge."""
    root = tmp_path_factory.mktemp("spectra")
    config = dict(name="spectra", seeds=2, problem=dict(classes=4, per_class=2, width=5, loss="ce", weight_decay=0.004),
                  solver=dict(steps=300, log_every=10, init_scale=0.05, spectra="output"), grid={"lr": [0.5, 300.0]})
    out = run_sweep(SweepConfig.from_toml(write_sweep(root, "s.toml", **config)), out=root / "out")
    assert out.status["diverged"] == 2
    return load_results(root / "out")


def test_spectral_dynamics_draws_the_recorded_spectra_and_their_events(recorded, results):
    from dufm.analysis.spectra import spectral_events

    runs = recorded.results()
    fig = plots.figure(recorded, "spectral_dynamics", {})
    assert "2 diverged runs excluded" in fig._suptitle.get_text()
    axes = [ax for ax in fig.axes if ax.get_ylabel() == "σ_i(Z)"]
    assert len(axes) == len(runs) == 2 and all(ax.get_yscale() == "log" for ax in axes)
    events = 0
    for ax, rec in zip(axes, runs):
        sv, steps = rec.history.sv["Z"], rec.history.step
        curves = [line for line in ax.lines if line.get_label().startswith("σ_")]
        assert len(curves) == 4
        for i, line in enumerate(curves):
            np.testing.assert_array_equal(line.get_xdata(), steps)
            np.testing.assert_array_equal(line.get_ydata(), sv[:, i])
        on, off = spectral_events(sv, rec.analysis.thresholds.rank_tol)
        marks = {(line.get_marker(), float(line.get_xdata()[0]), float(line.get_ydata()[0]))
                 for line in ax.lines if line.get_marker() in ("^", "v")}
        want = {(m, float(steps[r[i]]), float(sv[r[i], i])) for m, r in (("^", on), ("v", off)) for i in range(4) if r[i] >= 0}
        assert marks == want
        events += len(want)
    assert events > 0  # from init std 0.05 the small singular values die: the markers are exercised
    assert plots.default_figures(recorded)[:5] == ["loss_curves", "singular_values", "nc1_curves", "logit_heatmaps",
                                                   "spectral_dynamics"]
    one = plots.figure(recorded, "spectral_dynamics", {"seeds": [1], "log_steps": True})
    assert len([ax for ax in one.axes if ax.get_ylabel() == "σ_i(Z)"]) == 1 and one.axes[0].get_xscale() == "log"
    # a store without recorded spectra: not a default figure, and refused by name
    assert "spectral_dynamics" not in plots.default_figures(results)
    with pytest.raises(ValueError, match="spectral_dynamics needs runs that recorded the singular values of Z"):
        plots.figure(results, "spectral_dynamics", {})
    with pytest.raises(ValueError, match="of H1 .solver spectra = layers"):
        plots.figure(recorded, "spectral_dynamics", {"matrix": "H1"})
