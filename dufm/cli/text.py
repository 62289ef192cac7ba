"""Every line the ``dufm`` command prints as text (the JSON output is the records' own ``to_dict``)."""

from __future__ import annotations

import sys
import time

from ..model.problem import MULTI_LABEL_LOSSES, Problem


def singular_values(s, most: int = 10) -> str:
    head = " ".join(f"{v:.6g}" for v in s[:most])
    return head + (f" ... ({len(s)} values)" if len(s) > most else "")


def loss_label(problem: Problem) -> str:
    """The loss with its parameter: ``ce``, ``mse``, ``ls(alpha=0.1)``, ``focal(gamma=2)``."""
    if problem.loss == "ls":
        return f"ls(alpha={problem.smoothing:g})"
    if problem.loss == "focal":
        return f"focal(gamma={problem.focal_gamma:g})"
    return problem.loss


def problem_line(problem: Problem) -> str:
    def one(v):
        return v[0] if len(set(v)) == 1 else list(v)

    sets = (f" labels_per_sample={problem.labels_per_sample} (N={problem.samples}: n per label set of 1..{problem.labels_per_sample} "
            f"classes)" if problem.multi_label else "")
    return (
        f"problem: K={problem.classes} n={one(problem.counts)}{sets} L={problem.depth} width={one(problem.widths)} loss={loss_label(problem)} "
        f"activation={problem.activation} lambda_H={problem.lambda_H!r} lambda_W={one(problem.lambda_W)} bias={problem.bias} "
        f"{problem.dtype} ({problem.parameter_count} parameters)"
    )


def solve_report(problem, cfg, seeds: int, wall: float, records, theory: dict, rank_tol: float) -> list[str]:
    """``dufm solve``'s text: the problem, the solver, the closed forms, and per run its stop reason, spectra and NC metrics.

    A problem with a factor's decay 0 gets no closed-form comparison (they need every lambda > 0), and one without a
    finite optimum no solution type; both get the scale-free quantities (:class:`dufm.ScaleFree`).
    """
    s_h, s_w = cfg.init_scales()
    threshold = "" if cfg.loss_threshold is None else f" loss<={cfg.loss_threshold:g}"
    if cfg.optimizer == "flow":
        method = (f"gradient flow (Kvaerno5, rtol={cfg.rtol:g} atol={cfg.atol:g}, first step {cfg.lr:g}"
                  f"{'' if cfg.max_time is None else f', flow time <= {cfg.max_time:g}'})")
    else:
        method = f"{cfg.optimizer} lr={cfg.lr:g}"
    lines = [problem_line(problem),
             f"solver:  {method} steps<={cfg.steps} tol={cfg.tol:g}{threshold} init={cfg.init} "
             f"scales H={s_h:g} W={s_w:g}; {seeds} seed(s) in one compiled program, {wall:.2f} s wall (with compilation)"]
    refs = {k: v["loss"] for k, v in theory.items() if v.get("loss") is not None}
    if problem.penalised and problem.loss in MULTI_LABEL_LOSSES:
        lines.append("closed forms: none (dufm has no constructions for the multi-label losses; docs/multilabel.md"
                     + (")" if problem.multi_label else "; with one label per sample pal is ce: --loss ce has them)"))
    elif problem.penalised:
        lines.append("closed forms: " + ", ".join(f"{k} {v:.10g}" for k, v in refs.items()))
    elif problem.finite_optimum:
        lines.append("closed forms: none (unregularised MSE: the minimum is 0, at Z = Y, reached by many factorisations)"
                     if problem.loss == "mse" else
                     "closed forms: none (unregularised label smoothing: the minimum is the entropy of the targets, where "
                     "softmax(z_i) = t_i, at finite logits reached by many factorisations)")
    else:
        what = "unregularised" if problem.unregularised else "a factor's decay is 0"
        lines.append(f"closed forms: none ({what}: the loss tends to 0 only as ||Z|| grows without bound, so there is no "
                     "finite optimum and no solution type; scale-free quantities below)")
    for rec in records:
        lines.append("")
        if rec.diverged:
            lines.append(f"seed {rec.seed}: DIVERGED at step {rec.steps} (non-finite or exploding loss); no result stored")
            continue
        if rec.status == "loss_threshold":
            stop = f"reached the loss threshold (loss <= {cfg.loss_threshold:g})"
        else:
            stop = {"converged": f"converged (|grad| <= {cfg.tol:g})", "max_steps": "hit the step limit",
                    "max_time": f"reached the flow time limit {cfg.max_time:g}" if cfg.max_time is not None else ""}[rec.status]
        steps = (f"{rec.steps} accepted steps ({rec.rejected} rejected), flow time {rec.time:.6g}" if rec.time is not None
                 else f"{rec.steps} steps")
        lines.append(f"seed {rec.seed}: {stop} after {steps}; loss {rec.loss:.15g}, |grad| {rec.grad_norm:.3e}")
        if rec.history.sharpness is not None:
            lines.append("  " + sharpness_line(rec.history.sharpness, cfg))
        a = rec.analysis
        if a.solution_type is not None:
            gaps = ", ".join(f"{k} {rec.loss - v:+.3e}" for k, v in refs.items()) if problem.penalised else ""
            lines.append(f"  solution type: {a.solution_type} (rank Z = {a.rank['Z']}, rank tol {rank_tol:g})"
                         + (f"; loss - closed form: {gaps}" if gaps else ""))
        if a.scale_free is not None:
            lines += scale_free_lines(a.scale_free, problem, rank_tol)
        lines.append("  singular values [rank]:")
        for k, s in a.singular_values.items():
            lines.append(f"    {k:9s} [{a.rank[k]:3d}] {singular_values(s)}")
        if "Z" in rec.history.sv:
            lines.append(spectral_line(rec, cfg.log_every, rank_tol))
        which = f" (the {problem.architecture.single_label_samples} single-label samples)" if a.multilabel is not None else ""
        lines.append(f"  NC metrics{which}:")
        lines.append("                   nc1   nc1_trace     nc2_etf      nc2_of         nc3")
        for k, m in a.nc.items():
            cells = " ".join(_cell(v) for v in (m.nc1, m.nc1_trace, m.nc2_etf, m.nc2_of, m.nc3))
            lines.append(f"    {k:9s} {cells}")
        if a.multilabel is not None:
            lines += multilabel_lines(a.multilabel)
    return lines


def _cell(v) -> str:
    return f"{v:11.3e}" if v is not None else f"{'-':>11s}"


def multilabel_lines(metrics: dict) -> list[str]:
    """The multi-label collapse metrics (:class:`dufm.analysis.multilabel.MultiLabelMetrics`) of every feature matrix,
    one row per multiplicity m >= 2."""
    lines = ["  multi-label collapse (Li et al. 2023): h_S = c_m x mean of its labels' single-label means; tag_average "
             "(distance to that) and within (variability about h_S) relative to the single-label Tr Sigma_B:",
             "                m         c_m tag_average      within"]
    for k, rows in metrics.items():
        for r in rows:
            scale = f"{r.scale:11.6g}" if r.scale is not None else f"{'-':>11s}"
            lines.append(f"    {k:9s} {r.m:3d} {scale} {_cell(r.tag_average)} {_cell(r.within)}")
    return lines


def spectral_line(rec, log_every: int, rank_tol: float) -> str:
    """When each singular value of Z switched on or died over the run (:func:`dufm.analysis.spectra.spectral_events`)."""
    from ..analysis.spectra import spectral_events

    steps = rec.history.step
    on, off = spectral_events(rec.history.sv["Z"], rank_tol, rec.analysis.thresholds.zero_tol)
    said = [f"σ_{i + 1} on at {steps[r]}" for i, r in enumerate(on) if r >= 0]
    said += [f"σ_{i + 1} dies at {steps[r]}" for i, r in enumerate(off) if r >= 0]
    return (f"  spectra recorded every {log_every} steps ({', '.join(rec.history.sv)}; {len(steps)} records); Z: "
            + ("; ".join(said) or "no singular value switches on or dies"))


def sharpness_line(values, cfg) -> str:
    """The recorded sharpness (the Hessian's largest eigenvalue) at the end and at its largest, against the stability limit
    of a fixed step (:func:`dufm.solving.history.stability_limit`)."""
    from ..solving.history import stability_limit

    text = f"sharpness (largest Hessian eigenvalue): {values[-1]:.6g} at the end, {max(values):.6g} at most"
    edge = stability_limit(cfg.optimizer, cfg.lr, cfg.momentum)
    if edge is not None:
        name = "2/lr" if cfg.optimizer == "gd" else "2(1+momentum)/lr"
        above = int((values > edge).sum())
        text += (f"; {name} = {edge:.6g}: " + (f"above it at {above} of {len(values)} records (the edge of stability, "
                                                "Cohen et al. 2021)" if above else "below it at every record (the step is stable)"))
    return text


def scale_free_lines(n, problem, rank_tol: float) -> list[str]:
    """The scale-free quantities of an end point (:class:`dufm.ScaleFree`), two lines; Z_c is the part of Z
    the data term sees (CE: centred over classes; MSE with a bias: over samples)."""
    from ..analysis.solution import dnc_rank

    z = "Z" if (problem.loss == "mse" and problem.bias == "none") else "Z_c"
    what = {"Z": "", "Z_c": " (Z_c = Z centred over samples)" if problem.loss == "mse" else " (Z_c = Z centred over classes)"}[z]
    pm = "" if n.parameter_margin is None else f", margin / ||theta||^{problem.depth + 1} {n.parameter_margin:.6g}"
    return [f"  scale-free{what}: ||{z}||_F {n.frobenius_norm:.6g}; effective rank {n.effective_rank:.4f} "
            f"(NC: {dnc_rank(problem)}), stable rank {n.stable_rank:.4f}, rank {z} = {n.rank(rank_tol)} (rank tol {rank_tol:g}); "
            f"margin / ||{z}||_F {n.margin:.6g}{pm}",
            f"  sigma_i({z}) / ||{z}||_F: {singular_values(n.singular_values)}"]


def analyse_report(a) -> list[str]:
    """``dufm analyse``'s text: per checkpoint, each layer's metrics, ranks and verdict, then its spectra."""
    th = a.thresholds
    lines = [f"features: {a.source}: K={a.classes} classes, N={a.samples} samples (per class {_counts(a.counts)}), "
             f"{len(a.layers)} layers" + (f", {len(a.checkpoints)} checkpoints" if a.over_training else ""),
             f"rank: singular values > {th.rank_tol:g} x the largest (class means: and above their rounding error); layer type from "
             f"the centred class means: dnc if rank = K-1 = {a.classes - 1} and s_(K-1)/s_1 >= {1 - th.equal_tol:g}, low-rank below K-1, "
             f"trivial if s_1/sqrt(K) <= {th.trivial_tol:g} or the class means coincide to rounding",
             "nc4: agreement of the nearest class mean with the classifier (c) where W_<layer> is given, else with the label (l)",
             "-: undefined (e.g. class means that coincide to rounding; docs/real_networks.md), and nc3, nc3_dual without W_<layer>"]
    names = ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "equinorm", "equiangle", "nc3", "nc3_dual")
    head = f"  {'layer':12s} {'d':>5s} {'rank':>5s} {'mrank':>5s} " + " ".join(f"{n:>10s}" for n in names) + f" {'nc4':>8s}  type"
    for cp in a.checkpoints:
        lines.append("")
        step = "" if cp.step is None else f"checkpoint {cp.step if isinstance(cp.step, int) else format(cp.step, 'g')}: "
        lines.append(f"{step}network: {cp.solution_type}")
        lines.append(head)
        for name, la in cp.layers.items():
            m = la.nc
            values = (m.nc1, m.nc1_trace, m.cdnv, m.nc2_etf, m.nc2_of, m.nc2_equinorm, m.nc2_equiangle, m.nc3, m.nc3_duality)
            cells = " ".join(f"{v:10.3e}" if v is not None else f"{'-':>10s}" for v in values)
            nc4 = f"{m.nc4:7.4f}" if m.nc4 is not None else f"{'-':>7s}"
            lines.append(f"  {name[:12]:12s} {la.width:5d} {la.rank:5d} {la.class_mean_rank:5d} {cells} {nc4}"
                         f"{'c' if la.classifier else 'l'}  {la.solution_type}")
    lines.append("")
    lines.append("singular values (last checkpoint) [rank]: features X (N x d), class means Mbar (K x d)")
    for name, la in a.layers.items():
        lines.append(f"  {name[:12]:12s} X    [{la.rank:4d}] {singular_values(la.singular_values)}")
        lines.append(f"  {'':12s} Mbar [{la.class_mean_rank:4d}] {singular_values(la.class_mean_singular_values)}")
    return lines


def _counts(counts) -> str:
    return str(counts[0]) if len(set(counts)) == 1 else f"{min(counts)}..{max(counts)}"


def theory_report(problem, rec: dict) -> list[str]:
    """``dufm theory``'s table of candidates, and which is lowest."""
    lines = [problem_line(problem), f"{'candidate':20s} {'loss':>20s} {'scale':>28s} {'rank':>5s} {'critical':>9s}"]
    for name, c in rec.items():
        if c["loss"] is None:
            lines.append(f"{name:20s} {'n/a':>20s}   ({c['reason']})")
            continue
        sc = c["scale"]
        sc = ", ".join(f"{k}={v:.10g}" for k, v in sc.items()) if isinstance(sc, dict) else f"{sc:.12g}"
        lines.append(f"{name:20s} {c['loss']:20.15g} {sc:>28s} {c['rank']:5d} {'yes' if c['critical'] else 'no':>9s}")
        if c.get("lower_bound") is not None:
            lines.append(f"{'':20s} lower bound {c['lower_bound']:.15g} (linear DNC); {c.get('note', '')}")
        elif c.get("note"):
            lines.append(f"{'':20s} note: {c['note']}")
    avail = {k: v["loss"] for k, v in rec.items() if v["loss"] is not None}
    if not avail:
        lines.append("lowest: none (no closed form applies to this problem)")
        return lines
    best = min(avail, key=avail.get)
    line = f"lowest: {best}" + (" (of the closed forms available here)" if len(avail) < len(rec) else "")
    if "dnc" in avail and best != "dnc":
        line += f" (below dnc by {avail['dnc'] - avail[best]:.6g}, {100 * (avail['dnc'] - avail[best]) / avail['dnc']:.3g}%)"
    lines.append(line)
    return lines


def probe_report(problem, info: dict, refinement, c, zero_tol: float, symmetry: int | None, plot: str | None) -> list[str]:
    """``dufm probe``'s text: the point, the refinement, the Hessian summary and the verdict."""
    h = c.hessian
    lines = [problem_line(problem)]
    src = info["source"]
    if src == "point":
        desc = f"{info['point']} at scale {info['scale']:.10g}"
        desc += f" (closed-form loss {info['closed_form_loss']:.15g})" if "closed_form_loss" in info else ""
    elif src == "solve":
        desc = f"end point of a solve, seed {info['seed']}: {info['status']} after {info['steps']} steps"
    else:
        desc = f"stored run {info['key']} of {info['result']}"
    lines.append("point:   " + desc)
    if info.get("critical_scales"):
        lines.append("         critical scales of its reduced loss: "
                     + ", ".join(f"{s.scale:.6g} ({s.kind}, loss {s.loss:.10g})" for s in info["critical_scales"]))
    if refinement:
        hist = refinement.history
        if refinement.status == "diverged":
            lines.append(f"refine:  diverged: L-BFGS met a non-finite or exploding loss at step {refinement.descent_steps}; "
                         "the unrefined point is probed below")
        else:
            lbfgs = ""
            if refinement.descent_status is not None:
                cut = " (step limit: descent did not reach its target)" if refinement.descent_status == "max_steps" else ""
                lbfgs = f"{refinement.descent_steps} L-BFGS steps{cut}, then "
            lines.append(f"refine:  {refinement.status} after {lbfgs}{refinement.iterations} Newton-MR steps, "
                         f"|grad| {hist[0]:.3e} -> {hist[-1]:.3e}")
    lines.append(f"loss {c.loss:.15g}, |grad| {c.grad_norm:.3e}")
    res = f" (Lanczos residual {h.min_eigenvalue_residual:.1e})" if h.min_eigenvalue_residual is not None else ""
    lines.append(f"Hessian ({h.method}, {h.parameters} parameters; zero means |lambda| <= {h.zero_tolerance:.2e} = "
                 f"{zero_tol:g} x spectral norm):")
    lines.append(f"  min eigenvalue {h.min_eigenvalue:.6e}{res}, max {h.max_eigenvalue:.6e}")
    counts = "unknown (matrix-free)" if h.negative is None else f"{h.negative} / {h.zero} / {h.positive}"
    est = " (Hutchinson estimates)" if h.method == "lanczos" else ""
    lines.append(f"  negative / zero / positive: {counts}; trace {h.trace:.6g}, Frobenius norm {h.frobenius_norm:.6g}{est}")
    if symmetry is not None:
        lines.append(f"  rotation-symmetry orbit dimension {symmetry} (null directions every linear critical point has)")
    lines.append(f"verdict: {c.verdict}")
    if plot:
        lines.append(f"spectrum written to {plot}")
    return lines


def duration(seconds: float) -> str:
    """A duration for people: 45 s, 12 min, 3.4 h, 2.1 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """A sweep's progress on stderr: its plan, then runs done / total with elapsed time and ETA per finished batch
    (rewritten in place on a terminal, one line per batch otherwise).

    ``cost(batch)`` estimates a batch's seconds (default: its run count). The
    ETA is the elapsed time scaled by the estimated cost still to come over
    the estimated cost done, so batches of different sizes weigh what they
    cost; a sweep whose estimate exceeds two minutes says so before it starts.
    """

    def __init__(self, stream=None, ray_address: str | None = None, cost=None):
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.ray = ray_address
        self.cost = cost or (lambda batch: float(len(batch.specs)))
        self.total = self.done = 0
        self.cost_total = self.cost_done = 0.0
        self.t0 = time.perf_counter()

    def _write(self, text: str):
        self.stream.write(text)
        self.stream.flush()

    def start(self, plan, path):
        self.total, self.done, self.t0 = plan.todo, 0, time.perf_counter()
        self.cost_total, self.cost_done = sum(self.cost(b) for b in plan.batches), 0.0
        if not plan.todo:
            self._write(f"nothing to do: all {plan.total} runs of this grid are already stored in {path}\n")
            return
        ray = f" (Ray at {self.ray})" if self.ray else ""
        self._write(f"{plan.todo} runs to do ({plan.stored} of {plan.total} already stored) in {path}{ray}\n")
        if self.cost_total > 120:
            self._write(f"estimated run time: up to {duration(self.cost_total)} (every run to its step limit; "
                        "runs that converge earlier take less)\n")

    def advance(self, batch):
        self.done += len(batch.specs)
        self.cost_done += self.cost(batch)
        el = time.perf_counter() - self.t0
        eta = el * (self.cost_total - self.cost_done) / self.cost_done if self.cost_done > 0 else float("nan")
        width = 30
        fill = int(width * self.done / max(self.total, 1))
        p = batch.specs[0].problem
        note = f"| group {batch.group}/{batch.groups} (L={p.depth}, d={p.widths[0]}, K={p.classes})"
        line = (f"[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} runs "
                f"{100 * self.done / max(self.total, 1):3.0f}% | {_duration(el)} elapsed | ETA {_duration(eta) if self.done else '?'} {note}")
        self._write(("\r" + line) if self.tty else line + "\n")
        if self.tty and self.done >= self.total:
            self._write("\n")

    def finish(self, result):
        if result.ran:
            c = result.status
            reached = f"{c['loss_threshold']} reached the loss threshold, " if c.get("loss_threshold") else ""
            self._write(f"done: {result.total} runs in {result.path}: {c['converged']} converged, {reached}{c['max_steps']} hit the step limit, "
                        f"{c['diverged']} diverged (summary.csv)\n")


def optimum_report(o) -> list[str]:
    """``dufm optimum``'s text: the search, the optimum, its certificate, the distinct minima and the known constructions."""
    cfg, cert = o.config, o.certificate
    lines = [problem_line(o.problem)]
    if o.method == "reduced":
        focal = o.problem.loss == "focal" and o.problem.focal_gamma > 0
        scope = ("class-collapsed features only: focal loss is not convex in the logits" if focal
                 else "exact for linear models")
        means = (f"K x {o.class_means.shape[1]} problem in the label-set-mean logits" if o.problem.multi_label
                 else "K x K problem in the class-mean logits")
        focus = "" if o.focus_rank is None else f", the second half at rank {o.focus_rank} (the survey's best) and one above"
        lines.append(f"search:  reduced {means} ({scope}); {o.restarts} random restarts (a survey of the ranks{focus}) "
                     f"+ {o.starts - o.restarts} constructions, L-BFGS to |grad| <= {cfg.tol:g} (at most {cfg.steps} steps); "
                     f"{o.unsettled} start(s) ended above {cfg.settle_tol:g}; {o.wall_time_s:.1f} s")
    else:
        lines.append(f"search:  {o.restarts} random Gaussian starts + {o.starts - o.restarts} constructions, L-BFGS on the full "
                     f"problem to |grad| <= {cfg.tol:g} (at most {cfg.steps} steps); {o.unsettled} start(s) ended above "
                     f"{cfg.settle_tol:g}; {o.wall_time_s:.1f} s")
    sr = o.search
    lines.append(f"         {sr.converged} of {sr.starts} starts converged, {sr.reached_best} reached the best, "
                 f"{sr.distinct_minima} distinct minima")
    if sr.rank_cap_by is not None:
        why = f"--max-rank {cfg.max_rank}" if sr.rank_cap_by == "max_rank" else f"the width {min(o.problem.widths)}"
        lines.append(f"         searched rank Z <= {sr.rank_cap} only ({why} caps it below K = {o.problem.classes})")
    if o.lowest_unsettled is not None:
        low = o.lowest_unsettled
        lines.append(f"WARNING: {sr.below_best} start(s) that did not converge ended below the best minimum, the lowest at "
                     f"loss {low.loss:.15g} (rank {low.rank}): the search has not converged; raise --steps")
    where = "reduced problem, trust-region Newton" if o.method == "reduced" else "full problem"
    lines.append(f"optimum: loss {o.loss:.15g}, rank Z = {o.rank} (singular values <= {cfg.rank_tol:g} x the largest are zero), "
                 f"|grad| {o.grad_norm:.2e} ({where}); first reached from: {o.start}")
    lines.append(f"  singular values of Z: {singular_values(o.singular_values)}")
    c = cert.classification
    widths = o.problem.widths
    shown = widths[0] if len(set(widths)) == 1 else list(widths)
    lines.append(f"certificate (explicit parameters at width {shown}, {o.problem.parameter_count} parameters): "
                 f"objective {cert.objective:.15g} (objective - loss {cert.gap:+.1e}), |grad| {cert.grad_norm:.2e} "
                 f"({'critical' if cert.critical else 'NOT critical'}: tol {cert.tol:g})")
    if c is None:
        lines.append(f"  Hessian: {cert.hessian_note}")
    else:
        sym = ""
        if cert.symmetry_dimension is not None:
            same = "= " if c.nullity == cert.symmetry_dimension else "!= "
            sym = f" {same}symmetry dimension {cert.symmetry_dimension}"
        lines.append(f"  Hessian ({c.hessian.method}): {c.verdict}; negative / zero / positive {c.index} / {c.nullity}{sym} / "
                     f"{c.hessian.positive}; min eigenvalue {c.hessian.min_eigenvalue:.3e}")
    lines.append(f"  local minimum modulo the symmetries: {cert.local_minimum_note}")
    if o.global_claim == "proven":
        lines.append(f"global: proven ({o.global_reason})")
    else:
        lines.append(f"global: not proven, the best found ({o.global_reason})")
    what = "distinct minima" if o.method == "reduced" else "distinct end points (settled or not)"
    lines.append(f"{what} ({len(o.distinct_minima)}; loss, rank, starts that reached it, first start):")
    for m in o.distinct_minima[:12]:
        lines.append(f"  {m.loss:20.15g} {m.rank:4d} {m.count:5d}  {m.start}")
    if len(o.distinct_minima) > 12:
        lines.append(f"  ... {len(o.distinct_minima) - 12} more (--json lists all)")
    lines.append("known constructions (dufm theory):" if o.candidates else
                 "known constructions: none (dufm has none for label sets or their losses; docs/multilabel.md)")
    for name, cand in o.candidates.items():
        if isinstance(cand, str):
            lines.append(f"  {name:20s} {'n/a':>20s}")
            continue
        bound = "" if cand.exact else " (upper bound)"
        lines.append(f"  {name:20s} {cand.loss:20.15g} rank {cand.rank}{bound}; optimum - {name} = {o.loss - cand.loss:+.3e}")
    return lines
