"""Every figure draws from a tiny sweep, and draws the numbers of its records: diverged runs excluded and counted,
step-limit runs drawn apart and counted, a field that did not vary refused, the other varied fields split.

(That importing dufm.plots leaves the matplotlib backend alone is checked in test_precision.py.)
"""

import copy
import itertools
from dataclasses import replace

import numpy as np
import pytest
from helpers import write_sweep
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import same_color, to_hex
from matplotlib.figure import Figure

from dufm import features, plots, theory
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
        labels = [t.get_text() for t in ax.get_legend().get_texts()][:2]
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
    assert f"{len(limited)} hit the step limit (dashed)" in fig._suptitle.get_text()
    runs = results.results()[:20]
    curves = fig.axes[0].lines[: len(runs)]
    for rec, line in zip(runs, curves):
        np.testing.assert_array_equal(line.get_ydata(), rec.history.loss)
        assert (line.get_linestyle() == "--") == (rec.status == "max_steps")


def _limited(runs):
    return [r.status == "max_steps" for r in runs]


def _series_drawn(ax):
    """What a figure over a field drew, read off its artists: series label -> (line style, colour, {x: (y, filled, ring)}).

    A series is an errorbar container; its data line puts a filled marker at the points in its markevery, and a hollow
    point is a ring of the series' colour (face "none") drawn on its own.
    """
    rings = [(line.get_color(), tuple(p)) for line in ax.lines
             if line.get_marker() == "o" and line.get_markerfacecolor() == "none" for p in line.get_xydata()]
    out = {}
    for c in ax.containers:
        line = c.lines[0]
        assert line.get_marker() == "o"
        every = line.get_markevery()
        filled = range(len(line.get_xydata())) if every is None else every
        points = {x: (y, i in filled, (line.get_color(), (x, y)) in rings) for i, (x, y) in enumerate(line.get_xydata())}
        out[c.get_label()] = (line.get_linestyle(), line.get_color(), points)
    return out


def _check_step_limit_styles(ax, want):
    """Every series of ``want`` (label -> {x: runs}) drawn as its runs' statuses say: a point filled iff none of its runs
    hit the step limit, hollow (a ring) iff some did, the line dashed iff all of the series' runs did."""
    drawn = _series_drawn(ax)
    assert drawn.keys() == want.keys()
    for label, groups in want.items():
        style, _, points = drawn[label]
        assert points.keys() == groups.keys(), label
        assert style == ("--" if all(all(_limited(runs)) for runs in groups.values()) else "-"), label
        for x, runs in groups.items():
            _, filled, ring = points[x]
            assert (filled, ring) == (not any(_limited(runs)), any(_limited(runs))), (label, x)


def _by_series(results, field, key, label):
    """Independent grouping of the finished runs by series: label(key(run)) -> {value of field: runs}."""
    out = {}
    for r in results.results():
        out.setdefault(label(key(r)), {}).setdefault(getattr(r.problem, field), []).append(r)
    return out


@pytest.mark.parametrize("name", ["rank_vs_depth", "p_dnc_vs_depth"])
def test_figures_over_a_field_draw_step_limit_runs_as_the_title_says(results, name):
    # every run of this sweep stops at the step limit: every point hollow, every series dashed
    assert all(r.status == "max_steps" for r in results.results())
    fig = plots.figure(results, name, {})
    _check_step_limit_styles(fig.axes[0], _by_series(results, "depth", lambda r: r.problem.widths[0], lambda w: f"width={w}"))
    m = len(results.results())
    assert f"{m} hit the step limit (hollow: a point with such runs; dashed: a series of only such runs)" in fig._suptitle.get_text()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "hollow: runs at the step limit" in legend and "dashed: every run at the step limit" in legend
    assert "filled: no run at the step limit" not in legend  # no point is filled: the legend names no such style


def test_nc1_curves_draw_and_name_the_trace_quotient(results):
    fig = plots.figure(results, "nc1_curves", {})
    ax = fig.axes[0]
    assert ax.get_ylabel() == "nc1_trace = Tr Σ_W / Tr Σ_B" and "nc1_trace of every layer" in fig._suptitle.get_text()
    deepest = [r for r in results.results() if r.problem.depth == 2]
    for layer in ("H1", "H2"):
        (line,) = [line for line in ax.lines if line.get_label() == layer]
        # at the end point the curve is the median of the runs' nc1_trace, which differs from their nc1
        ends = [r.analysis.nc[layer] for r in deepest]
        assert line.get_ydata()[-1] == pytest.approx(np.median([m.nc1_trace for m in ends]), rel=1e-9)
        assert line.get_ydata()[-1] != pytest.approx(np.median([m.nc1 for m in ends]), rel=1e-3)


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


@pytest.fixture(scope="module")
def unregularised(tmp_path_factory):
    """Linear CE at λ = 0 (no finite optimum), depth 1 and 2, 2 seeds, two series: 40 steps of lr 0.001 (every run stops
    at the step limit) and a loss threshold every run meets at its start (none does). The step is so small that the two
    series' numbers nearly coincide; at λ = 0 the uncentred Z keeps its initial constant per sample."""
    root = tmp_path_factory.mktemp("unregularised")
    config = dict(name="unreg", seeds=2, problem=dict(classes=4, per_class=1, width=6, loss="ce", weight_decay=0.0),
                  solver=dict(steps=40, log_every=10, lr=0.001, init_scale=0.5),
                  grid=[{"depth": [1, 2]}, {"depth": [1, 2], "loss_threshold": 10.0}])
    run_sweep(SweepConfig.from_toml(write_sweep(root, "u.toml", **config)), out=root / "out")
    res = load_results(root / "out")
    assert {r.status for r in res.results()} == {"max_steps", "loss_threshold"}
    return res


def _threshold_series(results):
    return _by_series(results, "depth", lambda r: r.solver.loss_threshold, lambda t: f"loss_threshold={t}")


@pytest.mark.parametrize("name", ["effective_rank_vs_depth", "p_full_rank_vs_depth", "rank_vs_depth"])
def test_a_series_of_step_limit_runs_is_dashed_and_hollow_the_others_solid_and_filled(unregularised, name):
    fig = plots.figure(unregularised, name, {})
    want = _threshold_series(unregularised)
    _check_step_limit_styles(fig.axes[0], want)
    assert {style for style, _, _ in _series_drawn(fig.axes[0]).values()} == {"-", "--"}
    m = sum(r.status == "max_steps" for r in unregularised.results())
    assert f"{m} hit the step limit (hollow: a point with such runs; dashed: a series of only such runs)" in fig._suptitle.get_text()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert {"filled: no run at the step limit", "hollow: runs at the step limit", "dashed: every run at the step limit"} <= set(legend)
    # a series' legend entry is its line, in its style and colour, with no marker that would say filled or hollow
    handles = {h.get_label(): h for h in fig.axes[0].get_legend().legend_handles}
    for label, (style, color, _) in _series_drawn(fig.axes[0]).items():
        assert handles[label].get_linestyle() == style and same_color(handles[label].get_color(), color)
        assert handles[label].get_marker() in ("None", None, "")


def test_a_point_with_some_step_limit_runs_is_hollow_on_a_solid_line(unregularised):
    # one run of the loss-threshold series at depth 1 made a step-limit run: that point alone turns hollow
    mixed = copy.copy(unregularised)
    seed0 = next(r for r in unregularised.results() if r.solver.loss_threshold is not None and r.problem.depth == 1)
    mixed.records = [replace(r, status="max_steps") if r is seed0 else r for r in unregularised.records]
    fig = plots.figure(mixed, "effective_rank_vs_depth", {})
    want = _threshold_series(mixed)
    _check_step_limit_styles(fig.axes[0], want)
    style, _, points = _series_drawn(fig.axes[0])["loss_threshold=10.0"]
    assert style == "-" and [(filled, ring) for _, filled, ring in points.values()] == [(False, True), (True, False)]
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert "n=2, 1 at step limit" in texts


def test_effective_rank_figure_ticks_depths_as_integers_and_draws_k_minus_1_inside(unregularised):
    fig = plots.figure(unregularised, "effective_rank_vs_depth", {})
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    lo, hi = ax.get_xlim()
    assert all(float(t).is_integer() for t in ax.get_xticks() if lo <= t <= hi)
    (ref,) = [line for line in ax.lines if line.get_label() == "K − 1 = 3 (simplex / NC)"]
    lo, hi = ax.get_ylim()
    assert lo < ref.get_ydata()[0] < hi - 0.02 * (hi - lo)  # inside the frame, not drawn on it
    # the title's last line is what it says of the step-limit runs
    m = sum(r.status == "max_steps" for r in unregularised.results())
    assert fig._suptitle.get_text().split("\n")[-1].startswith(f"{m} hit the step limit (hollow")


def test_count_labels_of_close_series_do_not_overlap(unregularised):
    want = _threshold_series(unregularised)

    def said(name, runs):  # a point's label: its runs (p_full_rank: full-rank runs / runs), and how many hit the step limit
        m = sum(_limited(runs))
        full = sum(_centred_rank(unregularised, r) == r.problem.classes - 1 for r in runs)
        return (f"{full}/{len(runs)}" if name.startswith("p_") else f"n={len(runs)}") + (f", {m} at step limit" if m else "")

    for name in ("effective_rank_vs_depth", "rank_vs_depth", "p_full_rank_vs_depth"):
        fig = plots.figure(unregularised, name, {})
        ax = fig.axes[0]
        colors = {label: color for label, (_, color, _) in _series_drawn(ax).items()}
        # one label per series and x, in the series' colour
        assert sorted((to_hex(t.get_color()), t.get_text()) for t in ax.texts) == sorted(
            (to_hex(colors[label]), said(name, runs)) for label, groups in want.items() for runs in groups.values())
        canvas = FigureCanvasAgg(fig)
        canvas.draw()  # where the labels stand in the drawn figure (the axes' limits are settled by drawing)
        renderer = canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert all(b.width > 2 and b.height > 2 for b in boxes)  # every label is drawn (one left out has a unit box)
        for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
            assert not a.overlaps(b), (name, ax.texts[i].get_text(), ax.texts[j].get_text())


def _centred_rank(results, rec):
    """The rank of the class-centred logits (I − 11ᵀ/K) Z of a run's stored point (linear model: Z = W_L … W_1 H_1), at
    the run's rank threshold: the rank the loss sees, computed from the parameters."""
    params = results.params(rec)
    Z = params.H
    for W in params.W:
        Z = W @ Z
    s = np.linalg.svd(Z - Z.mean(axis=0), compute_uv=False)
    return int(np.sum(s > rec.analysis.thresholds.rank_tol * s[0]))


def test_rank_at_lambda_0_is_the_rank_of_the_centred_logits(unregularised):
    recs = unregularised.results()
    centred = {r.key: _centred_rank(unregularised, r) for r in recs}
    assert any(centred[r.key] != r.analysis.rank["Z"] for r in recs)  # the uncentred Z has another rank: the check can fail
    fig = plots.figure(unregularised, "rank_vs_depth", {})
    drawn = _series_drawn(fig.axes[0])
    for label, groups in _threshold_series(unregularised).items():
        for depth, runs in groups.items():
            assert drawn[label][2][depth][0] == pytest.approx(np.mean([centred[r.key] for r in runs]), abs=1e-12)
    assert "rank of Z (CE at λ = 0: class-centred)" in fig._suptitle.get_text()


def _spectrum(rec):
    """σ_i(Z)/‖Z‖_F from the record's singular values of Z (a regularised run: no scale-free spectrum)."""
    s = np.asarray(rec.analysis.singular_values["Z"])[: rec.problem.classes]
    return s / np.linalg.norm(rec.analysis.singular_values["Z"])


def test_normalised_sv_vs_depth_splits_the_other_varied_fields(results):
    ax = plots.figure(results, "normalised_sv_vs_depth", {}).axes[0]
    marker = {h.get_label(): h.get_marker() for h in ax.get_legend().legend_handles if h.get_label().startswith("width=")}
    assert marker.keys() == {"width=5", "width=6"} and len(set(marker.values())) == 2
    for (width, depth), runs in _by(results, "depth").items():
        want = np.mean([_spectrum(r) for r in runs], axis=0)
        for i, v in enumerate(want):
            lines = [line for line in ax.lines if line.get_marker() == marker[f"width={width}"] and line.get_linestyle() == "-"
                     and same_color(line.get_color(), f"C{i}")]
            assert len(lines) == 1, (width, i)
            xy = dict(lines[0].get_xydata())
            assert xy.keys() == {d for w, d in _by(results, "depth") if w == width}
            assert xy[depth] == pytest.approx(max(v, 1e-17), rel=1e-12)
            # every run hit the step limit: no filled marker, a ring at every depth
            assert list(lines[0].get_markevery()) == []
            rings = [line for line in ax.lines if line.get_linestyle() == "None" and line.get_marker() == marker[f"width={width}"]
                     and same_color(line.get_color(), f"C{i}") and line.get_markerfacecolor() == "none"]
            assert len(rings) == 1 and (depth, pytest.approx(max(v, 1e-17), rel=1e-12)) in [tuple(p) for p in rings[0].get_xydata()]
    assert "hollow: a depth's mean with such runs" in ax.figure._suptitle.get_text()


def test_normalised_sv_vs_depth_draws_a_single_depth(recorded):
    # every run has one depth (the others of a depth sweep may all have diverged): drawn, not refused
    runs = recorded.results()
    assert len({r.problem.depth for r in runs}) == 1
    ax = plots.figure(recorded, "normalised_sv_vs_depth", {}).axes[0]
    FigureCanvasAgg(ax.figure).draw()
    lo, hi = ax.get_xlim()
    assert [t for t in ax.get_xticks() if lo <= t <= hi] == [runs[0].problem.depth]  # depths are integers: no tick between
    want = np.mean([_spectrum(r) for r in runs], axis=0)
    for i, v in enumerate(want):
        (line,) = [line for line in ax.lines if line.get_linestyle() == "-" and same_color(line.get_color(), f"C{i}")]
        assert line.get_xydata().tolist() == [[runs[0].problem.depth, pytest.approx(max(v, 1e-17), rel=1e-12)]]


@pytest.fixture(scope="module")
def network():
    """A feature analysis of three layers over three checkpoints, K = 4: the class means of every layer have rank
    K − 1 = 3 throughout (a constant rank, which an autoscaled axis ticks at fractions), and a classifier reads h2."""
    rng = np.random.default_rng(0)
    K, n, d = 4, 6, 5
    y = np.repeat(np.arange(K), n)
    centres = 3.0 * rng.normal(size=(K, d))
    h1 = np.stack([centres[y] + s * rng.normal(size=(len(y), d)) for s in (1.0, 0.5, 0.2)])
    mix = rng.normal(size=(2, d, d))
    layers = {"h1": h1, "h2": np.tanh(h1 @ mix[0]), "z": np.tanh(h1 @ mix[0]) @ mix[1]}
    return features.analyse_features({"labels": y, **layers, "W_h2": rng.normal(size=(K, d)), "checkpoints": np.array([0, 10, 20])})


def _finite_points(lines):
    return {(float(x), float(y)) for line in lines for x, y in line.get_xydata() if np.isfinite(y)}


def _legend_colors(ax) -> dict:
    return {h.get_label(): h.get_color() for h in ax.get_legend().legend_handles}


def _drawn_in(ax, color):
    """The data lines of one colour (legend entries, which have no data, left out)."""
    return [line for line in ax.lines if len(line.get_xdata()) and same_color(line.get_color(), color)]


def _check_rank_axis(ax, ranks: dict, classes: int):
    """Integer ticks; ``ranks`` (x -> rank) drawn; the K − 1 line labelled with its value and drawn above every data line."""
    FigureCanvasAgg(ax.figure).draw()
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    (ref,) = [line for line in ax.lines if line.get_label() == f"K − 1 = {classes - 1}"]
    assert set(ref.get_ydata()) == {classes - 1}
    data = [line for line in ax.lines if len(line.get_xdata()) and line is not ref]
    assert _finite_points(data) == {(float(x), float(r)) for x, r in ranks.items()}
    assert all(ref.get_zorder() > line.get_zorder() for line in data)


def test_feature_rank_axes_have_integer_ticks_and_k_minus_1_above_the_data(network):
    assert {la.class_mean_rank for cp in network.checkpoints for la in cp.layers.values()} == {network.classes - 1}
    names = list(network.layers)
    ax = plots.features_metrics_vs_layer([network]).axes[1]
    _check_rank_axis(ax, {i: la.class_mean_rank for i, la in enumerate(network.layers.values())}, network.classes)
    ax = plots.features_metrics_vs_checkpoint([network]).axes[1]
    _check_rank_axis(ax, {cp.step: cp.layers[n].class_mean_rank for cp in network.checkpoints for n in names}, network.classes)
    ax = plots.features_spectra([network]).axes[0]
    (ref,) = [line for line in ax.lines if line.get_label() == f"i = K − 1 = {network.classes - 1}"]
    assert all(ref.get_zorder() > line.get_zorder() for line in ax.lines if line.get_label() in names)


def test_feature_nc4_is_two_labelled_series_by_what_it_is_measured_against(network):
    ax = plots.features_metrics_vs_layer([network]).axes[2]
    colors = _legend_colors(ax)
    by_label = colors["NC4 vs the label (nearest-class-mean accuracy)"]
    by_classifier = colors["NC4 vs the classifier's prediction"]
    assert not same_color(by_label, by_classifier)
    layers = list(network.layers.values())
    assert {la.classifier for la in layers} == {False, True}  # both kinds are drawn
    for color, classifier in ((by_label, False), (by_classifier, True)):
        assert _finite_points(_drawn_in(ax, color)) == {(float(i), la.nc.nc4) for i, la in enumerate(layers) if la.classifier == classifier}


def test_feature_metrics_draw_nc3_and_its_duality(network):
    ax = plots.features_metrics_vs_layer([network]).axes[0]
    colors = _legend_colors(ax)
    for metric in ("nc1", "nc1_trace", "nc3", "nc3_duality"):
        want = {(float(i), max(getattr(la.nc, metric), 1e-16)) for i, la in enumerate(network.layers.values())
                if getattr(la.nc, metric) is not None}
        assert want and _finite_points(_drawn_in(ax, colors[metric])) == want, metric
    assert network.layers["h1"].nc.nc3 is None  # no classifier reads h1: nc3 drawn at h2 only


def test_feature_over_training_draws_nc1_trace_and_says_so(network):
    fig = plots.features_metrics_vs_checkpoint([network])
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("nc1_trace = Tr Σ_W / Tr Σ_B") and "nc1_trace" in fig._suptitle.get_text()
    for name in network.layers:
        (line,) = [line for line in ax.lines if line.get_label() == name]
        np.testing.assert_array_equal(line.get_xdata(), [cp.step for cp in network.checkpoints])
        np.testing.assert_array_equal(line.get_ydata(), [cp.layers[name].nc.nc1_trace for cp in network.checkpoints])


def _with_metrics(a, layer: str, checkpoint: int, **values):
    """``a`` with some NC metrics of one layer at one checkpoint replaced (None: not reported; NaN: not computable)."""
    cps = list(a.checkpoints)
    la = cps[checkpoint].layers[layer]
    cps[checkpoint] = replace(cps[checkpoint], layers={**cps[checkpoint].layers, layer: replace(la, nc=replace(la.nc, **values))})
    return replace(a, checkpoints=tuple(cps))


def test_feature_figures_leave_out_missing_metrics(network):
    gaps = _with_metrics(network, "h2", -1, nc1=None, cdnv=float("nan"), nc4=None, nc3=float("nan"))
    gaps = _with_metrics(gaps, "h1", 0, nc1_trace=None)
    figs = plots.feature_figures([gaps])
    ax1, _, ax3 = figs["features_metrics_vs_layer"].axes
    colors = _legend_colors(ax1)
    for metric in ("nc1", "cdnv"):
        assert _finite_points(_drawn_in(ax1, colors[metric])) == {(0.0, max(getattr(network.layers["h1"].nc, metric), 1e-16)),
                                                                    (2.0, max(getattr(network.layers["z"].nc, metric), 1e-16))}
    assert "nc3" not in colors  # its one value is gone: nothing drawn, nothing in the legend
    assert "NC4 vs the classifier's prediction" not in _legend_colors(ax3)  # its one value is gone too
    (h1,) = [line for line in figs["features_metrics_vs_checkpoint"].axes[0].lines if line.get_label() == "h1"]
    assert np.isnan(h1.get_ydata()[0]) and np.isfinite(h1.get_ydata()[1:]).all()
