"""Figures of a sweep, drawn from its loaded results (:class:`~dufm.experiments.records.Results`).

``figures(results, names)`` draws each named figure and returns them by name
(``dufm plot`` saves each as ``<results>/figures/<name>.png`` and ``.pdf``).
Figure names:

* ``loss_curves``            training loss vs step, closed-form DNC / low-rank losses as reference lines
* ``logit_heatmaps``         class-mean logit matrices (K x K) of a few runs
* ``singular_values``        singular values of Z and of every layer at the end point
* ``nc1_curves``             nc1_trace (Tr Sigma_W / Tr Sigma_B) of every layer over training, median and quartiles
* ``spectral_dynamics``      sigma_i(Z) over training (log axis; runs with ``spectra`` recorded), one panel per run,
                             with the step each sigma_i switches on or dies and the numerical rank over time
* ``loss_vs_dnc``            final loss / closed-form DNC loss, one point per run
* ``sharpness_curves``       the Hessian's largest eigenvalue over training (runs with ``sharpness`` recorded), against the
                             step (the flow: against flow time), with each fixed step's stability limit 2/lr (heavy ball:
                             2(1 + momentum)/lr; Cohen et al. 2021's edge of stability)
* ``rank_vs_<field>``        mean numerical rank of Z (or ``rank_of = "min_hidden"`` / a matrix name) vs a grid field (of Z:
                             the rank of the scale-free spectrum where a run has one, CE's class-centred logits at λ = 0)
* ``p_dnc_vs_<field>``       fraction of runs ending at DNC vs a grid field, with run counts and 95 % Wilson intervals (refused for runs
                             without a solution type: a problem without a finite optimum, e.g. CE at λ = 0)
* ``effective_rank_vs_<field>`` mean effective rank of Z (Roy & Vetterli) vs a grid field: the
                             implicit low-rank bias of depth at λ = 0 (Garrod, Keating & Thrampoulidis 2026)
* ``p_full_rank_vs_<field>`` fraction of runs whose Z keeps full rank (K − 1; K for MSE without bias) vs a
                             grid field, with run counts and 95 % Wilson intervals: NC's basin where there is no solution type (the rank
                             of the scale-free spectrum where a run has one: CE's class-centred logits)
* ``normalised_sv_vs_depth`` sigma_i(Z)/||Z||_F vs depth L (log axis): Garrod & Keating Thm 3 (the scale-free
                             spectrum where a run has one)
* ``theory_ce_ratio``        closed-form low-rank / DNC loss ratio vs K for L = 1..6 (linear CE)
* ``theory_ce_region``       (K, L) where DNC is not optimal (linear CE), with Thm 1's boundary
* ``theory_srg_ratio``       L_SRG / L_DNC vs r for L in {3, 4, 5} (ReLU MSE, K = r(r-1)/2)

Diverged runs are never plotted; every run-based figure says how many were
excluded, counts the runs that hit the step limit in its title and says there
how it draws them apart: a run's curve dashed, its markers hollow; a point of
a figure over a field (a mean or a fraction over runs) hollow when some of its
runs hit the limit, its series' line dashed when all did (``nc1_curves``, a
median over runs, only counts them). It has a legend wherever it draws several
runs. A figure over a grid field needs runs that differ in that field (else
it is refused; ``normalised_sv_vs_depth`` draws a single depth too), and
draws one curve per combination of the other fields that vary (never merging
them into one point); the run counts beside its points never overlap. A sweep
with no finished runs draws no run figure (a ValueError). Options come from
the sweep config's ``[plots]`` table; without a list of figures,
:func:`default_figures` picks those that fit what the sweep varied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import theory
from ..analysis.solution import dnc_rank
from ..analysis.spectra import effective_rank, rank_mask, spectral_events
from ..experiments.config import GRID_FIELDS
from ..solving.history import stability_limit
from .theory import theory_ce_ratio, theory_ce_region, theory_srg_ratio

if TYPE_CHECKING:
    from ..experiments.records import Results, RunRecord

FIELD_LABELS = {
    "width": "width d", "depth": "depth L (number of weight matrices)", "weight_decay": "weight decay λ (log₂ axis)",
    "init_scale": "init std", "classes": "classes K", "per_class": "samples per class n", "lr": "learning rate",
}

RUN_FIGURES = ("loss_curves", "logit_heatmaps", "singular_values", "nc1_curves", "loss_vs_dnc", "normalised_sv_vs_depth",
               "spectral_dynamics", "sharpness_curves")


def _plural(k: int, what: str) -> str:
    return f"{k} {what}{'s' if k != 1 else ''}"


def _excluded(results: Results, drawn: str | None) -> str:
    """What the title says of the runs set apart: diverged ones excluded, step-limit ones counted and, in ``drawn``, how
    this figure draws them (None: it does not tell them apart); empty if there are none."""
    k = len(results.diverged)
    m = sum(_limited(r) for r in results.results())
    limit = f"{m} hit the step limit" + (f" ({drawn})" if drawn else "")
    return "; ".join(([f"{_plural(k, 'diverged run')} excluded"] if k else []) + ([limit] if m else []))


def _limited(rec: RunRecord) -> bool:
    return rec.status == "max_steps"


def _label_fields(results: Results) -> tuple[str, ...]:
    """The fields a run's label names: every grid field that varies (width always), so no two drawn runs share a label."""
    return ("width",) + tuple(f for f in varied(results) if f != "width")


def _run_tag(rec: RunRecord, fields) -> str:
    short = {"width": "d", "depth": "L", "weight_decay": "λ", "classes": "K", "per_class": "n", "init_scale": "init std"}
    return ", ".join([f"seed {rec.seed}"] + [f"{short.get(f, f)}={_hashable(rec.grid_value(f))}" for f in fields])


def _kind(rec: RunRecord) -> str:
    """The solution type, or for a run without one (no finite optimum) its effective rank."""
    if rec.solution_type is not None:
        return str(rec.solution_type)
    return f"eff. rank {_effective_rank(rec):.2f}"


def _effective_rank(rec: RunRecord) -> float:
    """The effective rank of Z: the record's scale-free one where it has it, else from the singular values of Z."""
    n = rec.analysis.scale_free
    return n.effective_rank if n is not None else effective_rank(rec.analysis.singular_values["Z"])


def _run_label(rec: RunRecord, fields) -> str:
    return f"{_run_tag(rec, fields)}: {_kind(rec)}" + (" (step limit)" if _limited(rec) else "")


def _first(recs: list, limit: int) -> tuple[list, str]:
    """The first ``limit`` runs, and what the title says when that leaves some out."""
    return recs[:limit], (f" (the first {limit} of {len(recs)})" if len(recs) > limit else "")


def varied(results: Results) -> dict:
    """Grid field -> its values, for the fields in which the finished runs differ (``weight_decay`` stands for the decays)."""
    out = {}
    for name in GRID_FIELDS:
        if name in ("feature_decay", "layer_decay"):
            continue
        values = {_hashable(r.grid_value(name)) for r in results.results()}
        if len(values) > 1:
            out[name] = sorted(values, key=repr)
    return out


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def _ref_losses(rec: RunRecord) -> dict:
    out = {}
    try:
        cands = theory.candidates(rec.problem)
    except ValueError:
        return out
    for name in ("dnc", "low_rank", "srg"):
        c = cands.get(name)
        if isinstance(c, theory.Candidate):
            out[name] = c.loss
            if name == "dnc" and c.lower_bound is not None:
                out["dnc_lower_bound"] = c.lower_bound
    return out


def _ranks(rec: RunRecord) -> str:
    hidden, rz = rec.analysis.hidden_rank, rec.analysis.rank["Z"]
    return f"rank Z {rz}" + (f", hidden rank {hidden}" if hidden < rz else "")


def _title(fig: Figure, results: Results, text: str, drawn: str | None = None):
    """Finish a figure: its title (the sweep's, ``text``, and on a line of its own what :func:`_excluded` says; ``drawn``:
    how the figure draws the runs that hit the step limit), then the layout, which makes room for every line of it."""
    lines = [results.config.title or results.config.name, text, _excluded(results, drawn)]
    fig.suptitle("\n".join(line for line in lines if line), fontsize=10)
    fig.tight_layout()


def _training_axes(ax, ylabel: str, legend_size: int):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=legend_size)


def loss_curves(results, opts):
    recs, shown = _first(results.results(), opts.get("max_runs", 20))
    fields = _label_fields(results)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    refs = {}
    for rec in recs:
        ax.plot(np.maximum(rec.history.step, 1), rec.history.loss, lw=1.2, ls="--" if _limited(rec) else "-",
                label=f"{_run_label(rec, fields)} ({_ranks(rec)}), {rec.loss:.6f}")
        for k, v in _ref_losses(rec).items():
            refs.setdefault((k, round(v, 12)), v)
    styles = {"dnc": ("k", "--"), "low_rank": ("tab:red", ":"), "dnc_lower_bound": ("tab:gray", "-."), "srg": ("tab:purple", ":")}
    for (name, _), v in refs.items():
        c, ls = styles[name]
        what = {"srg": "explicit SRG point loss", "dnc_lower_bound": "linear-DNC lower bound"}.get(name, f"closed-form {name.replace('_', '-')} loss")
        ax.axhline(v, color=c, ls=ls, lw=1, label=f"{what} {v:.6f}")
    _training_axes(ax, "objective (data term + regularisation)", 7)
    _title(fig, results, f"loss curves of {len(recs)} runs{shown}", "dashed")
    return fig


def logit_heatmaps(results, opts):
    recs = results.results()
    picked, seen = [], set()
    for rec in recs:  # one run per (solution type, width) first
        tag = (rec.solution_type, rec.grid_value("width"))
        if tag not in seen:
            seen.add(tag)
            picked.append(rec)
    picked = picked[: opts.get("max_runs", 4)]
    fields = _label_fields(results)
    fig = Figure(figsize=(3.6 * len(picked), 3.4))
    axes = fig.subplots(1, len(picked), squeeze=False)
    for ax, rec in zip(axes[0], picked):
        M = rec.analysis.class_mean_logits
        v = np.max(np.abs(M))
        im = ax.imshow(M, cmap="RdBu_r", vmin=-v, vmax=v)
        ax.set_title(f"{_run_tag(rec, fields)}{' (step limit)' if _limited(rec) else ''}\n{_kind(rec)}, "
                     f"{_ranks(rec)}, loss {rec.loss:.6f}", fontsize=8)
        ax.set_xlabel("class k (column = mean logit vector)")
        ax.set_ylabel("logit of class")
        fig.colorbar(im, ax=ax, fraction=0.046)
    _title(fig, results, "class-mean logit matrices", "said in the panel titles")
    return fig


def _deepest(recs):
    """Runs of the largest depth only (layers of different depths do not line up), and a note saying so."""
    depths = sorted({r.problem.depth for r in recs})
    if len(depths) <= 1:
        return recs, ""
    return [r for r in recs if r.problem.depth == depths[-1]], f" (depth L = {depths[-1]} only)"


def singular_values(results, opts):
    recs, note = _deepest(results.results())
    recs, shown = _first(recs, opts.get("max_runs", 10))
    fields = _label_fields(results)
    names = list(recs[0].analysis.singular_values) if recs else []
    cols = min(4, max(1, len(names)))
    rows = -(-len(names) // cols) if names else 1
    fig = Figure(figsize=(3.3 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names):
        for i, rec in enumerate(recs):
            s = np.asarray(rec.analysis.singular_values[name])[:30]
            ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s, 1e-18), "o--" if _limited(rec) else "o-", ms=2.5, lw=0.8, alpha=0.7,
                        color=f"C{i % 10}", mfc="none" if _limited(rec) else None, label=_run_label(rec, fields))
        lo, hi = ax.get_ylim()
        if hi / lo < 10:  # equal singular values: show a decade rather than rounding noise
            ax.set_ylim(lo / 3, hi * 3)
        ax.set_title(name.replace("sigma_H", "σ(H") + (")" if name.startswith("sigma_H") else ""), fontsize=9)
        ax.set_xlabel("index i")
        ax.set_ylabel("σ_i")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if len(recs) > 1:
        fig.legend(*axes.flat[0].get_legend_handles_labels(), fontsize=7, loc="lower center", ncol=min(3, len(recs)),
                   bbox_to_anchor=(0.5, -0.02 - 0.035 * ((len(recs) + 2) // 3)))
    tol = recs[0].analysis.thresholds.rank_tol if recs else ""
    _title(fig, results, f"singular values at the end point, {len(recs)} runs{shown}{note} (rank threshold {tol} × σ_1)",
           "dashed, hollow")
    return fig


def nc1_curves(results, opts):
    recs, note = _deepest(results.results())
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    if recs:
        steps = max((r.history.step for r in recs), key=len)
        T = len(steps)
        # a stopped run is frozen, so its last value holds for the rest of the axis
        H = np.stack([np.concatenate([h, np.repeat(h[-1:], T - len(h), 0)]) for h in (r.history.nc1 for r in recs)])
        relu = recs[0].problem.activation == "relu"
        for l in range(H.shape[2]):
            q25, med, q75 = np.percentile(H[:, :, l], [25, 50, 75], axis=0)
            label = "H1" if l == 0 else (f"σ(H{l + 1})" if relu else f"H{l + 1}")
            ax.plot(np.maximum(steps, 1), med, label=label)
            ax.fill_between(np.maximum(steps, 1), q25, q75, alpha=0.2)
    _training_axes(ax, "nc1_trace = Tr Σ_W / Tr Σ_B", 8)
    _title(fig, results, f"nc1_trace of every layer's input features over training, median and quartiles of {len(recs)} runs{note}")
    return fig


def sharpness_curves(results, opts):
    recs = [r for r in results.results() if r.history.sharpness is not None]
    if not recs:
        raise ValueError(f"figure sharpness_curves draws runs that recorded the sharpness (sharpness = true), and {results.path} has none")
    recs, shown = _first(recs, opts.get("max_runs", 20))
    fields = _label_fields(results)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    limits = {}
    for rec in recs:
        timed = rec.history.time is not None
        # a log axis: the flow's record at time 0 is left out (its first step's time is the axis' start), a step 0 drawn at 1
        keep = rec.history.time > 0 if timed else np.ones(len(rec.history.step), bool)
        x = rec.history.time[keep] if timed else np.maximum(rec.history.step, 1)
        line = ax.plot(x, rec.history.sharpness[keep], lw=1.2,
                       ls="--" if _limited(rec) else "-", label=f"{_run_label(rec, fields)}, {rec.history.sharpness[-1]:.4g} at the end")[0]
        limit = stability_limit(rec.solver.optimizer, rec.lr_used, rec.solver.momentum) if rec.solver is not None else None
        if limit is not None and round(limit, 12) not in limits:
            limits[round(limit, 12)] = limit
            ax.axhline(limit, color=line.get_color(), ls=":", lw=1, label=f"stability limit of lr {rec.lr_used:g}: {limit:.4g}")
    _training_axes(ax, "sharpness (largest Hessian eigenvalue)", 7)
    ax.set_xlabel("flow time" if all(r.history.time is not None for r in recs) else "optimiser step (the flow: flow time)")
    _title(fig, results, f"sharpness over training, {len(recs)} runs{shown}", "dashed")
    return fig


def spectral_dynamics(results, opts):
    """sigma_i(step) of one recorded matrix (``matrix``, default Z) for the first ``max_runs`` (4) runs that recorded it.

    Markers: where sigma_i switches on (a triangle up) or dies (down), relative to rank_tol sigma_1 (dotted), as
    :func:`dufm.analysis.spectra.spectral_events` dates them; grey steps (right axis): the numerical rank at each record.
    ``log_steps = true`` draws the steps on a log axis; ``seeds = [...]`` draws only the runs of those seeds.
    """
    which = opts.get("matrix", "Z")
    seeds = opts.get("seeds")
    recs = [r for r in results.results() if which in r.history.sv and (seeds is None or r.seed in seeds)]
    if not recs:
        raise ValueError(f"figure spectral_dynamics needs runs that recorded the singular values of {which} (solver spectra = "
                         f"{'output or layers' if which == 'Z' else 'layers'}){'' if seeds is None else f' of seeds {seeds}'}, "
                         f"and {results.path} has none")
    recs, shown = _first(recs, opts.get("max_runs", 4))
    fields = _label_fields(results)
    fig = Figure(figsize=(7.6, 3.4 * len(recs)))
    for ax, rec in zip(fig.subplots(len(recs), 1, squeeze=False)[:, 0], recs):
        sv, steps, th = rec.history.sv[which], rec.history.step, rec.analysis.thresholds
        x = np.maximum(steps, 1) if opts.get("log_steps") else steps
        on, off = spectral_events(sv, th.rank_tol, th.zero_tol)
        for i in range(sv.shape[1]):
            color = f"C{i % 10}"
            event = (f": on at step {steps[on[i]]}" if on[i] >= 0 else "") + (f": dies at step {steps[off[i]]}" if off[i] >= 0 else "")
            ax.plot(x, sv[:, i], color=color, lw=1, ls="--" if _limited(rec) else "-", label=f"σ_{i + 1}{event}")
            for rows, marker in ((on, "^"), (off, "v")):
                if rows[i] >= 0:
                    ax.plot(x[rows[i]], sv[rows[i], i], marker, color=color, ms=7, mec="k", mew=0.6)
        ax.plot(x, th.rank_tol * sv[:, 0], "k:", lw=0.8, label=f"{th.rank_tol:g} σ_1 (rank threshold)")
        ax.set_yscale("log", nonpositive="mask")
        if opts.get("log_steps"):
            ax.set_xscale("log")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel(f"σ_i({which})")
        rank = ax.twinx()
        rank.step(x, rank_mask(sv, th.rank_tol, th.zero_tol).sum(axis=1), where="post", color="0.5", lw=2, alpha=0.35)
        rank.set_ylabel("numerical rank", color="0.4")
        rank.set_ylim(-0.3, sv.shape[1] + 0.3)
        ax.set_title(f"{_run_label(rec, fields)}, {_ranks(rec)}, loss {rec.loss:.6f}", fontsize=8)
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.13, 0.5))
    _title(fig, results, f"singular values of {which} over training, {len(recs)} runs{shown} (▲ switches on, ▼ dies)", "dashed")
    return fig


def loss_vs_dnc(results, opts):
    recs = results.results()
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    ratios = [(rec.loss / _ref_losses(rec)["dnc"], rec) for rec in recs if "dnc" in _ref_losses(rec)]
    for i, (q, rec) in enumerate(ratios):
        color = "tab:blue" if rec.solution_type == "dnc" else "tab:red"
        ax.plot(i, q, "o", color=color, mfc="none" if _limited(rec) else color)
        ax.annotate(_ranks(rec), (i, q), fontsize=6, xytext=(2, 3), textcoords="offset points")
    for color, mfc, label in (("tab:blue", "tab:blue", "ends at DNC"), ("tab:red", "tab:red", "ends elsewhere"),
                              ("k", "none", "hollow: hit the step limit")):
        ax.plot([], [], "o", color=color, mfc=mfc, label=label)
    ax.axhline(1.0, color="k", ls="--", lw=1, label="closed-form DNC loss")
    below = sum(q < 1 for q, _ in ratios)
    ax.set_xlabel("run")
    ax.set_ylabel("final loss / DNC loss")
    ax.legend(fontsize=8)
    _title(fig, results, f"{below} of {len(ratios)} runs end below the DNC loss (red: not DNC)", "hollow")
    return fig


def _series(results: Results, field: str, name: str, one_value: bool = False) -> dict:
    """The runs of a figure over ``field``, one series per combination of the other fields that vary: label -> {x: runs}.

    A field that did not vary is refused, unless ``one_value``; fields that
    vary only along with ``field`` (one value per value of ``field``) do not
    split the series.
    """
    var = varied(results)
    if field not in var and not one_value:
        values = {repr(_hashable(r.grid_value(field))) for r in results.results()} if field in GRID_FIELDS else set()
        said = f"every run has {field} = {values.pop()}" if len(values) == 1 else f"{field!r} is not a grid field"
        raise ValueError(f"figure {name} needs runs that differ in {field}, but {said}; fields that vary: {sorted(var) or 'none'}")
    recs = results.results()
    n = len({_hashable(r.grid_value(field)) for r in recs})
    others = [o for o in var if o != field and len({(_hashable(r.grid_value(field)), _hashable(r.grid_value(o))) for r in recs}) > n]
    series: dict = {}
    for rec in recs:
        label = ", ".join(f"{o}={_hashable(rec.grid_value(o))}" for o in others)
        series.setdefault(label, {}).setdefault(_hashable(rec.grid_value(field)), []).append(rec)
    return {label: dict(sorted(xs.items())) for label, xs in sorted(series.items())}


def _field_axis(ax, field: str, series: dict):
    """The x axis of a figure over ``field`` drawing ``series`` (label -> {x: runs}): log₂ for the weight decay, integer
    ticks for a field of integers, and room on the right for the count labels of the last point, a column per series."""
    if field == "weight_decay":
        ax.set_xscale("log", base=2)
    elif all(isinstance(x, (int, np.integer)) for groups in series.values() for x in groups):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.05 + 0.025 * len(series))
    ax.set_xlabel(FIELD_LABELS.get(field, field))


def _scale_free_rank(rec: RunRecord) -> int:
    """The numerical rank of the record's scale-free spectrum (for CE the class-centred logits) where it has one,
    else of Z, at the record's rank threshold."""
    n = rec.analysis.scale_free
    return rec.analysis.rank["Z"] if n is None else n.rank(rec.analysis.thresholds.rank_tol)


def _scale_free_note(recs) -> str:
    """What a figure of Z says of the runs whose scale-free logits it reads (:func:`_scale_free_rank`): which centring."""
    free = [r for r in recs if r.analysis.scale_free is not None]
    softmax = sorted({r.problem.loss.upper() for r in free if r.problem.loss != "mse"})
    notes = ([f"{'/'.join(softmax)} at λ = 0: class-centred"] if softmax else []) + (
        ["unregularised MSE with a bias: centred over samples"] if any(r.problem.loss == "mse" and r.problem.bias != "none" for r in free)
        else [])
    return f" ({'; '.join(notes)})" if notes else ""


def _rank_of(rec: RunRecord, which: str) -> int:
    """The rank a rank figure draws. Of Z, the scale-free rank where the run has one, as every other figure of such a run
    reads it: at CE with λ = 0 the uncentred Z keeps its initial mean over classes of each sample (GD never moves it), which
    can add a rank the logits the loss sees do not have."""
    if which == "min_hidden":
        return rec.analysis.hidden_rank
    return _scale_free_rank(rec) if which == "Z" else rec.analysis.rank[which]


def _limit_note(runs) -> str:
    m = sum(_limited(r) for r in runs)
    return f", {m} at step limit" if m else ""


def _step_limit_style(groups: dict) -> tuple[list[bool], bool]:
    """How a series {x: runs} draws the runs that hit the step limit: which of its points are hollow (some run of the
    point hit it), and whether its line is dashed (every run of the series did)."""
    hollow = [any(_limited(r) for r in runs) for runs in groups.values()]
    return hollow, all(_limited(r) for runs in groups.values() for r in runs)


def _draw_series(ax, groups: dict, ys, yerr, label: str) -> tuple[str, list[bool], bool]:
    """One series of a figure over a field: ys ± yerr at its x values, filled points where no run of the point hit the
    step limit and hollow ones where some did, on a line dashed when every run of the series did (:func:`_step_limit_style`).
    Returns (colour, which points are hollow, whether the line is dashed)."""
    xs = list(groups)
    hollow, dashed = _step_limit_style(groups)
    # a series of step-limit runs lies above the others: where two series draw the same numbers, both stay visible
    bars = ax.errorbar(xs, ys, yerr=yerr, fmt="o--" if dashed else "o-", capsize=3, label=label or None, zorder=2.5 if dashed else 2,
                       markevery=[i for i, h in enumerate(hollow) if not h])
    color = bars.lines[0].get_color()
    held = [i for i, h in enumerate(hollow) if h]
    if held:  # larger than a filled point, so a filled point of another series under it shows inside the ring
        ax.plot([xs[i] for i in held], [ys[i] for i in held], "o", ls="none", color=color, mfc="none", ms=8, mew=1.5, zorder=3)
    return color, hollow, dashed


def _step_limit_key(drawn: list) -> tuple[str | None, list]:
    """What the title of a figure over a field says of its step-limit runs, and the legend entries that show it, for the
    styles its series were drawn in (``drawn``: per series, which points are hollow and whether the line is dashed, as
    :func:`_draw_series` returns them); an entry only for a style some point or line has."""
    from matplotlib.lines import Line2D

    hollow = any(h for points, _ in drawn for h in points)
    filled = any(not h for points, _ in drawn for h in points)
    dashed = any(d for _, d in drawn)
    said, handles = [], []
    if hollow:
        said.append("hollow: a point with such runs")
        if filled:
            handles.append(Line2D([], [], marker="o", ls="none", color="0.3", label="filled: no run at the step limit"))
        handles.append(Line2D([], [], marker="o", ls="none", color="0.3", mfc="none", ms=8, mew=1.5, label="hollow: runs at the step limit"))
    if dashed:
        said.append("dashed: a series of only such runs")
        handles.append(Line2D([], [], ls="--", color="0.3", label="dashed: every run at the step limit"))
    return "; ".join(said) or None, handles


def _legend(ax, extra: list):
    """The axes' legend: its labelled artists, then ``extra`` entries (how step-limit runs are drawn); none if empty.
    Beside the axes: inside, it would hide points or their count labels. A series (:func:`_draw_series`) is shown by its
    line alone, in its colour and style: its points are filled or hollow one by one, which ``extra`` explains."""
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    own = [Line2D([], [], color=h.lines[0].get_color(), ls=h.lines[0].get_linestyle(), label=h.get_label())
           if isinstance(h, ErrorbarContainer) else h for h in ax.get_legend_handles_labels()[0]]
    if own or extra:
        ax.legend(handles=own + extra, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))


def _count_labels(ax, series: list, middle: float, fontsize: float):
    """Write each point's label upright beside it, in its series' colour; ``series``: per series (colour, {x: (y, text)}).

    The labels of one x stand side by side in series order, running from the points at that x away from ``middle`` (into
    the emptier half of the axis): upright, they take little room along x, so neither the labels of one x nor those of
    close x values overlap, whatever the numbers.
    """
    at: dict = {}
    for color, points in series:
        for x, (y, text) in points.items():
            at.setdefault(x, []).append((y, text, color))
    step = 1.5 * fontsize  # between columns, in points: more than upright text of this size is wide
    for x, labels in at.items():
        ys = [y for y, _, _ in labels]
        down = (max(ys) + min(ys)) / 2 >= middle
        for i, (_, text, color) in enumerate(labels):
            ax.annotate(text, (x, min(ys) if down else max(ys)), xytext=(4 + step * i, -4 if down else 4), textcoords="offset points",
                        rotation=90, ha="left", va="top" if down else "bottom", fontsize=fontsize, color=color)


def _mean_vs(results, field: str, name: str, value):
    """The mean ± std over runs of ``value(run)`` vs ``field``, one series per combination of the other varied fields,
    with run counts; returns (figure, axes, what the title says of the step-limit runs, their legend entries)."""
    series = _series(results, field, name)
    fig = Figure(figsize=(8.4, 4.0))
    ax = fig.subplots()
    labels, spans, drawn = [], [], []
    for label, groups in series.items():
        vals = [np.array([value(r) for r in runs], np.float64) for runs in groups.values()]
        ys, errs = [v.mean() for v in vals], [v.std() for v in vals]
        color, *style = _draw_series(ax, groups, ys, errs, label)
        drawn.append(style)
        labels.append((color, {x: (y, f"n={len(runs)}{_limit_note(runs)}") for (x, runs), y in zip(groups.items(), ys)}))
        spans += [y - e for y, e in zip(ys, errs)] + [y + e for y, e in zip(ys, errs)]
    _count_labels(ax, labels, (min(spans) + max(spans)) / 2, 6)
    _field_axis(ax, field, series)
    return (fig, ax, *_step_limit_key(drawn))


def rank_vs(results, opts, field):
    which = opts.get("rank_of", "Z")
    fig, ax, said, key = _mean_vs(results, field, f"rank_vs_{field}", lambda r: _rank_of(r, which))
    note = _scale_free_note(results.results()) if which == "Z" else ""
    what = "smallest rank of the hidden layers H_l" if which == "min_hidden" else f"rank of {which}{note}"
    ax.set_ylabel(f"{'min hidden rank' if which == 'min_hidden' else f'rank of {which}'}, mean ± std")
    _legend(ax, key)
    tol = results.results()[0].analysis.thresholds.rank_tol
    _title(fig, results, f"{what} vs {field} (rank: σ_i > {tol} σ_1)", said)
    return fig


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (low, high) for a binomial proportion successes / trials (Wilson 1927).

    With z the two-sided normal quantile of ``confidence`` and p = k / n:
    (k + z^2/2 -+ z sqrt(k (n - k) / n + z^2 / 4)) / (n + z^2); it stays in
    [0, 1] and is not empty at k = 0 or k = n, unlike the Wald interval.
    Computed by ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
    """
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _fraction_vs(results, field: str, name: str, hit, ylabel: str, title: str) -> Figure:
    """The fraction of runs for which ``hit(run)`` holds vs ``field``, with run counts and 95 % Wilson intervals."""
    series = _series(results, field, name)
    fig = Figure(figsize=(8.4, 4.0))
    ax = fig.subplots()
    labels, drawn = [], []
    for label, groups in series.items():
        k = [sum(bool(hit(r)) for r in runs) for runs in groups.values()]
        n = [len(runs) for runs in groups.values()]
        p = np.array([a / b for a, b in zip(k, n)])
        lo, hi = np.array([wilson_interval(a, b) for a, b in zip(k, n)]).T
        color, *style = _draw_series(ax, groups, p, [p - lo, hi - p], label)
        drawn.append(style)
        labels.append((color, {x: (a / b, f"{a}/{b}{_limit_note(runs)}") for (x, runs), a, b in zip(groups.items(), k, n)}))
    _count_labels(ax, labels, 0.5, 7)
    _field_axis(ax, field, series)
    ax.set_ylim(-0.05, 1.1)
    ax.set_ylabel(ylabel)
    said, key = _step_limit_key(drawn)
    _legend(ax, key)
    _title(fig, results, title, said)
    return fig


def p_dnc_vs(results, opts, field):
    untyped = [r for r in results.results() if r.solution_type is None]
    if untyped:
        raise ValueError(f"figure p_dnc_vs_{field} counts runs by solution type, and {_plural(len(untyped), 'run')} of "
                         f"{results.path} have none (a factor's decay is 0: no finite optimum, e.g. CE at λ = 0); "
                         f"draw effective_rank_vs_{field} or p_full_rank_vs_{field} instead")
    return _fraction_vs(results, field, f"p_dnc_vs_{field}", lambda r: r.solution_type == "dnc",
                        "P(DNC): fraction of runs ending at DNC",
                        f"P(DNC) vs {field} (bars: 95 % Wilson intervals; labels: DNC runs / runs)")


def effective_rank_vs(results, opts, field):
    fig, ax, said, key = _mean_vs(results, field, f"effective_rank_vs_{field}", _effective_rank)
    for k in sorted({r.problem.classes for r in results.results()}):
        ax.axhline(k - 1, color="k", ls=":", lw=1, label=f"K − 1 = {k - 1} (simplex / NC)")
    ax.autoscale_view()  # axhline rescales only a view it lies outside; at its edge K − 1 would be drawn on the frame
    ax.set_ylabel("effective rank of Z, mean ± std over runs")
    _legend(ax, key)
    _title(fig, results, f"effective rank exp(H(σ/Σσ)) of Z (CE at λ = 0: class-centred) vs {field}", said)
    return fig


def p_full_rank_vs(results, opts, field):
    tol = results.results()[0].analysis.thresholds.rank_tol
    return _fraction_vs(results, field, f"p_full_rank_vs_{field}", lambda r: _scale_free_rank(r) >= dnc_rank(r.problem),
                        "fraction of runs with rank Z = K − 1 (full)",
                        f"runs ending with Z of full rank vs {field} (σ_i > {tol} σ_1; CE: class-centred Z; "
                        "bars: 95 % Wilson intervals; labels: full-rank runs / runs)")


def _normalised_spectrum(rec: RunRecord) -> np.ndarray:
    """σ_i/‖σ‖: the record's scale-free spectrum (CE: class-centred Z) where it has one, else that of Z."""
    if rec.analysis.scale_free is not None:
        return np.asarray(rec.analysis.scale_free.singular_values)
    s = np.asarray(rec.analysis.singular_values["Z"])
    return s / np.linalg.norm(s)


def _mean_spectra(groups: dict) -> np.ndarray:
    """The mean over runs of the first K normalised singular values, one row per x of ``groups`` ({x: runs}); a row
    shorter than the longest (fewer classes) is padded with NaN."""
    rows = [np.mean([_normalised_spectrum(r)[: r.problem.classes] for r in runs], axis=0) for runs in groups.values()]
    out = np.full((len(rows), max(len(s) for s in rows)), np.nan)
    for t, s in enumerate(rows):
        out[t, : len(s)] = s
    return out


_SERIES_MARKERS = ("o", "s", "^", "D", "v", "P")


def normalised_sv_vs_depth(results, opts):
    """The mean normalised σ_i of Z vs depth: one colour per σ_i, one marker per combination of the other varied fields
    (split as every figure over a field is), hollow where a depth's mean includes runs that hit the step limit."""
    from matplotlib.lines import Line2D

    # one depth is drawn too: the deep end of a depth sweep may be all that did not diverge
    series = _series(results, "depth", "normalised_sv_vs_depth", one_value=True)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    marks, hollow_any, width = [], False, 0
    for j, (label, groups) in enumerate(series.items()):
        marker = _SERIES_MARKERS[j % len(_SERIES_MARKERS)]
        Ls = list(groups)
        S = _mean_spectra(groups)
        hollow, _ = _step_limit_style(groups)
        held = [t for t, h in enumerate(hollow) if h]
        hollow_any, width = hollow_any or bool(held), max(width, S.shape[1])
        for i in range(S.shape[1]):
            y = np.maximum(S[:, i], 1e-17)
            ax.semilogy(Ls, y, "-", marker=marker, ms=3, color=f"C{i % 10}", markevery=[t for t, h in enumerate(hollow) if not h])
            if held:
                ax.plot([Ls[t] for t in held], y[held], marker, ls="none", color=f"C{i % 10}", mfc="none", ms=5, zorder=3)
        marks.append(Line2D([], [], marker=marker, ms=4, color="0.3", label=label))
    ax.axhline(float(opts.get("negligible", 1e-3)), color="k", ls=":", lw=1, label="negligible threshold")
    handles = [Line2D([], [], color=f"C{i % 10}", label=f"σ_{i + 1}") for i in range(width)]
    handles += (marks if len(series) > 1 else []) + ax.get_legend_handles_labels()[0]
    if hollow_any:
        handles.append(Line2D([], [], marker="o", ls="none", color="0.3", mfc="none", ms=5, label="hollow: runs at the step limit"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one depth is one integer in view
    ax.set_xlabel("depth L (number of weight matrices)")
    ax.set_ylabel("σ_i(Z) / ‖Z‖_F (mean over seeds)")
    ax.legend(handles=handles, fontsize=6, ncol=2)
    _title(fig, results, "normalised singular values of Z vs depth (Garrod & Keating Thm 3)",
           "hollow: a depth's mean with such runs" if hollow_any else None)
    return fig


FIGURES = {
    "loss_curves": loss_curves, "logit_heatmaps": logit_heatmaps, "singular_values": singular_values,
    "nc1_curves": nc1_curves, "loss_vs_dnc": loss_vs_dnc, "normalised_sv_vs_depth": normalised_sv_vs_depth,
    "spectral_dynamics": spectral_dynamics, "sharpness_curves": sharpness_curves,
    "theory_ce_ratio": theory_ce_ratio, "theory_ce_region": theory_ce_region, "theory_srg_ratio": theory_srg_ratio,
}


# the figures over a grid field, by the prefix of their name
PREFIXES = {"effective_rank_vs_": effective_rank_vs, "p_full_rank_vs_": p_full_rank_vs, "rank_vs_": rank_vs,
            "p_dnc_vs_": p_dnc_vs}


def figure(results: Results | None, name: str, opts: dict) -> Figure:
    """Draw one named figure (see the module docstring) with options ``opts``."""
    run_based = name in RUN_FIGURES or name.startswith(tuple(PREFIXES))
    if run_based and results is not None and not results.results():
        raise ValueError(f"figure {name} draws finished runs, and {results.path} has none "
                         f"({_plural(len(results.diverged), 'diverged run')})")
    for prefix, fn in PREFIXES.items():
        if name.startswith(prefix):
            return fn(results, opts, name[len(prefix):])
    if name not in FIGURES:
        raise ValueError(f"figure must be one of {sorted(FIGURES) + [p + '<field>' for p in PREFIXES]}, got {name!r}")
    return FIGURES[name](results, opts)


def default_figures(results: Results) -> list[str]:
    """The figures that fit a sweep: its runs' curves and spectra (over training too, if recorded), and the rank and P(DNC)
    over every field it varied (for runs without a solution type, the effective rank and the fraction of full-rank runs
    instead of P(DNC))."""
    recs = results.results()
    if not recs:
        return []
    names = ["loss_curves", "singular_values", "nc1_curves", "logit_heatmaps"]
    if any("Z" in r.history.sv for r in recs):
        names.append("spectral_dynamics")
    if any(r.history.sharpness is not None for r in recs):
        names.append("sharpness_curves")
    if any("dnc" in _ref_losses(r) for r in recs[:1]):
        names.append("loss_vs_dnc")
    typed = all(r.solution_type is not None for r in recs)
    for field in varied(results):
        names += [f"rank_vs_{field}"] + ([f"p_dnc_vs_{field}"] if typed else [f"effective_rank_vs_{field}", f"p_full_rank_vs_{field}"])
    return names


def figures(results: Results, names=None) -> dict[str, Figure]:
    """Draw ``names`` (default: the config's ``[plots] figures``, else :func:`default_figures`); returns name -> Figure.

    The ``[plots]`` table's other keys (the config's ``plots.options``) are the figures' options.
    """
    spec = results.config.plots
    opts = dict(spec.options)
    names = names or spec.figures or default_figures(results)
    if not names:
        raise ValueError(f"there is nothing to draw in {results.path}: it holds no finished run and its config lists no figure")
    return {name: figure(results, name, opts) for name in names}


