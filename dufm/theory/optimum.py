"""The optimum of a deep UFM: a multi-start search of the reduced K x K problem, a lift, a certificate.

For a linear deep UFM (CE, label smoothing, MSE, and with label sets the
pick-all-label loss and BCE: losses convex in the logits; any counts n_k,
depth, decays > 0, any bias) the global minima are those of the reduced
problem (with label sets M has one column per set, docs/multilabel.md) in the class-mean
logits M (K x K) of :class:`dufm.theory.reduced.ClassMeanProblem` (derivation:
docs/optima.md):

    F(M, b) = sum_k p_k l(M[:, k] + b, k) + (m/2) lambda_eff sum_i sigma_i(M D^(1/2))^(2/m) + (lambda_b/2)||b||^2.

:func:`optimum` searches it in the collapsed balanced factorisation
A = M D^(1/2) = W diag(t)^(m-2) H (:func:`dufm.theory.reduced.smooth_objective`;
2 K r + r [+ K] variables whatever the width and depth):

1. ``restarts`` random starts (logit scales log-uniform in [min_scale,
   max_scale]) plus every known construction of
   :func:`dufm.theory.candidates` as a start, in two halves: a survey whose
   ranks run over 1..r_max (geometrically spaced when r_max exceeds the
   survey), then the rest at the rank of the lowest point the survey met and
   one above (:func:`survey_ranks`). Each runs optax's L-BFGS (zoom line
   search) in compiled, batched programs (one per rank of
   :func:`rank_buckets`), in rounds between which
   :func:`dufm.theory.reduced.prune` rebalances it and drops the singular
   values that only cost (:func:`descend`);
2. the end points grouped into distinct minima (rank and loss);
3. the best one polished by a trust-region Newton method
   (:func:`dufm.theory.reduced.polish`) to |grad| <= ``polish_tol``;
4. lifted to explicit parameters (H_1, W_1, ..., W_L[, b]) at the
   problem's widths (:func:`dufm.theory.reduced.lift`, balanced factors) and
   checked there: the objective equals the reduced loss, the gradient norm
   is <= ``certify_tol``, and the Hessian's verdict
   (:func:`dufm.critical.classify`) where it has at most ``hessian_limit``
   parameters.

Focal loss (gamma > 0) is not convex in the logits: the same search then
covers the class-collapsed features only, which full-problem multi-starts
have never undercut (docs/losses.md), and the claim says so.

ReLU (depth >= 2) has no such reduction: :func:`optimum` then runs a
full-problem multi-start (:func:`dufm.run_many`, L-BFGS, random
Gaussian starts plus the SRG and ReLU-DNC points).

What the result proves is stated apart from how it was found. The
:class:`Certificate` proves a critical point of the full problem and, where
the Hessian was computed, whether it is a local minimum modulo the
symmetries; the :class:`Search` says how many starts converged and reached
the best; :attr:`Optimum.global_claim` is :attr:`Global.PROVEN` only where a
theorem makes the best point found the global minimum (:func:`global_claim`:
L = 1, whose reduced problem is convex, and linear MSE, whose optimum is a
closed form), and :attr:`Global.BEST_FOUND` everywhere else: a multi-start
cannot prove that no lower minimum exists.
"""

from __future__ import annotations

import enum
import functools
import time
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..analysis.solution import Thresholds, analyse
from ..landscape import critical
from ..model.init import initialise
from ..model.objective import gradient_norm, objective
from ..model.problem import MULTI_LABEL_LOSSES, SOFTMAX_LOSSES, Params, Problem
from ..options import check_int, check_number, option
from ..runtime import float64
from ..solving.programs import batch_devices, batch_program, call_batch, resolve_batching
from ..solving.solver import SolverConfig, run_many
from ..store import jsonable
from . import closed_forms, reduced
from .factors import decay_vector


class Method(enum.StrEnum):
    """How the optimum was found. Compares equal to its string."""

    REDUCED = "reduced"  # linear: the exact reduction, searched and lifted
    FULL_MULTISTART = "full multi-start"  # ReLU: end points of the full problem, no reduction


class Global(enum.StrEnum):
    """Whether the optimum is the problem's global minimum. Compares equal to its string."""

    PROVEN = "proven"  # a theorem makes the critical point found the global minimum (global_claim)
    BEST_FOUND = "best found"  # the lowest minimum the search met; a lower one may exist


@dataclass(frozen=True)
class OptimumConfig:
    """Effort and tolerances of :func:`optimum` (see the module docstring)."""

    restarts: int = option(64, "random restarts (ranks 1..r_max in turn, log-uniform scales); the known constructions are added as starts")
    seed: int = option(0, "seed of the random starts")
    steps: int = option(2000, "most L-BFGS steps per start")
    tol: float = option(1e-8, "L-BFGS gradient-norm target per start (the best minimum is then polished to polish_tol)")
    polish_tol: float = option(1e-12, "gradient-norm target of the trust-region Newton polish of the best minimum")
    certify_tol: float = option(1e-9, "the lifted optimum is critical when its full gradient norm is <= certify_tol")
    hessian_limit: int = option(16000, "Hessian verdict (dufm.critical.classify) of the lifted optimum up to this many parameters; 0: never")
    max_rank: int = option(0, "cap on rank Z; 0: min(K, widths). A cap r gives the best point of rank <= r")
    min_scale: float = option(0.3, "smallest logit scale of a random start", flag=False)
    max_scale: float = option(30.0, "largest logit scale of a random start", flag=False)
    settle_tol: float = option(1e-7, "a start whose gradient norm ends <= settle_tol counts towards a minimum", flag=False)
    distinct_tol: float = option(1e-8, "minima of one rank whose losses differ by <= distinct_tol (relative) are one", flag=False)
    rank_tol: float = option(1e-9, "singular values <= rank_tol x the largest are zero (and dropped before the lift)", flag=False)
    max_hours: float = option(2.0, "refuse a search whose estimated time (every start to its step limit) exceeds this")

    def __post_init__(self):
        check_int("restarts", self.restarts, 1)
        check_int("seed", self.seed, 0)
        check_int("steps", self.steps, 1)
        check_int("hessian_limit", self.hessian_limit, 0)
        check_int("max_rank", self.max_rank, 0)
        for name in ("tol", "polish_tol", "certify_tol", "min_scale", "max_scale", "settle_tol", "distinct_tol", "rank_tol",
                     "max_hours"):
            check_number(name, getattr(self, name))
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale must be <= max_scale, got {self.min_scale} > {self.max_scale}")

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["max_hours"] == OptimumConfig.max_hours:  # a budget, not a setting of the search: stored results stay as they were
            del d["max_hours"]
        return d


@dataclass(frozen=True)
class Minimum:
    """A distinct local minimum found by the search: ``loss``, ``rank`` of Z, ``count`` of starts that reached it.

    ``singular_values`` of Z (largest first); ``start`` names the first
    start that reached it (``random`` or a construction of dufm.theory).
    """

    loss: float
    rank: int
    count: int
    singular_values: tuple[float, ...]
    start: str

    def to_dict(self) -> dict:
        return {"loss": self.loss, "rank": self.rank, "count": self.count, "singular_values": list(self.singular_values),
                "start": self.start}


@dataclass(frozen=True)
class Certificate:
    """The lifted optimum checked on the full problem at its widths.

    ``objective`` at the explicit parameters and its difference ``gap`` from
    the reduced loss; ``grad_norm`` of the full objective against ``tol``;
    ``classification`` (:class:`dufm.critical.Classification`) when the
    Hessian was computed, else ``hessian_note`` says why not;
    ``symmetry_dimension`` (:func:`symmetry_dimension`, linear models): the
    null directions of the symmetries, which every such critical point has;
    index 0 and nullity equal to it make a local minimum modulo symmetry.
    """

    objective: float
    gap: float
    grad_norm: float
    tol: float
    classification: critical.Classification | None = None
    symmetry_dimension: int | None = None
    hessian_note: str = ""

    @property
    def critical(self) -> bool:
        return self.grad_norm <= self.tol

    @property
    def local_minimum(self) -> bool | None:
        """A local minimum modulo the symmetries: critical, Hessian index 0 and nullity = the symmetry dimension (every
        null direction a symmetry's). None when not checked (:attr:`local_minimum_note` says why)."""
        c = self.classification
        if c is None or self.symmetry_dimension is None:
            return None
        return self.critical and c.index == 0 and c.nullity == self.symmetry_dimension

    @property
    def local_minimum_note(self) -> str:
        """Why :attr:`local_minimum` is what it is, in words."""
        c = self.classification
        if c is None:
            return f"not checked: {self.hessian_note}"
        if self.symmetry_dimension is None:
            return "not checked: the symmetry dimension of this point is not known"
        if not self.critical:
            return f"no: not a critical point (|grad| {self.grad_norm:.2e} > {self.tol:g})"
        if c.index:
            return f"no: {c.index} negative Hessian eigenvalue(s)"
        if c.nullity != self.symmetry_dimension:
            return (f"undecided: {c.nullity} null directions, the symmetries explain {self.symmetry_dimension} (the second "
                    "order test cannot decide along the others)")
        return "yes: index 0, and every null direction is a symmetry's"

    def to_dict(self) -> dict:
        c = self.classification
        return {"objective": self.objective, "gap": self.gap, "grad_norm": self.grad_norm, "tol": self.tol, "critical": self.critical,
                "verdict": None if c is None else c.verdict, "index": None if c is None else c.index,
                "nullity": None if c is None else c.nullity, "hessian": None if c is None else c.hessian.to_dict(),
                "symmetry_dimension": self.symmetry_dimension, "hessian_note": self.hessian_note,
                "local_minimum_modulo_symmetry": self.local_minimum, "local_minimum_note": self.local_minimum_note}


class Search(NamedTuple):
    """How the search went: ``starts`` (``restarts`` random ones and the constructions), how many ``converged`` (gradient
    norm <= settle_tol), how many of those ``reached_best``, and the number of ``distinct_minima`` among them."""

    starts: int
    restarts: int
    converged: int
    reached_best: int
    distinct_minima: int
    below_best: int  # starts that did not converge yet ended below the best minimum: the search is not done
    rank_cap: int  # the most rank Z can have in the search (min(K, widths), or max_rank)
    rank_cap_by: str | None  # what caps it below K: "width", "max_rank", or None
    focus_rank: int | None = None  # the survey's lowest point's rank, where the other random starts went (and one above)


@dataclass(frozen=True)
class Optimum:
    """The best point :func:`optimum` found, the landscape it saw, and its certificate.

    ``loss`` is the reduced loss F(M, b) (``method`` reduced) or the full
    objective (full multi-start); ``rank`` and ``singular_values`` are those
    of Z = M Y; ``grad_norm`` the gradient norm where it was polished (the
    smooth reduced problem, or the full problem); ``class_means`` M (K x K)
    and ``bias``; ``params`` the explicit parameters at the problem's widths;
    ``distinct_minima`` every distinct minimum, best first; ``unsettled`` the
    starts that ended above ``settle_tol``, and ``lowest_unsettled`` the lowest
    of them where it lies below ``loss`` (the search has not converged to
    the lowest point it saw; None otherwise); ``candidates`` the known
    constructions (name -> :class:`dufm.theory.Candidate`, or why it is not
    available).
    """

    problem: Problem
    method: Method
    global_claim: Global
    global_reason: str
    loss: float
    rank: int
    singular_values: tuple[float, ...]
    grad_norm: float
    restarts: int
    starts: int
    unsettled: int
    distinct_minima: tuple[Minimum, ...]
    candidates: dict
    class_means: np.ndarray
    bias: np.ndarray | None
    params: Params
    certificate: Certificate
    config: OptimumConfig
    wall_time_s: float
    lowest_unsettled: Minimum | None = None
    below_best: int = 0
    focus_rank: int | None = None  # the rank the second half of the random starts went to (and one above); None: none did

    @property
    def start(self) -> str:
        """The start that reached the optimum first."""
        return self.distinct_minima[0].start

    @property
    def search(self) -> Search:
        converged = self.starts - self.unsettled
        return Search(self.starts, self.restarts, converged, self.distinct_minima[0].count if converged else 0,
                      len(self.distinct_minima), self.below_best, *rank_cap(self.problem, self.config.max_rank),
                      self.focus_rank)

    def to_dict(self) -> dict:
        """The ``dufm optimum --json`` record."""
        cands = {k: ({"loss": None, "reason": c} if isinstance(c, str) else {"loss": c.loss, "rank": c.rank, "critical": c.critical,
                                                                             "exact": c.exact})
                 for k, c in self.candidates.items()}
        return jsonable({
            "problem": self.problem.to_dict(), "method": self.method, "global": self.global_claim,
            "global_reason": self.global_reason, "search": self.search._asdict(),
            "loss": self.loss, "rank": self.rank, "singular_values": list(self.singular_values), "grad_norm": self.grad_norm,
            "restarts": self.restarts, "starts": self.starts, "unsettled": self.unsettled, "start": self.start,
            "distinct_minima": [m.to_dict() for m in self.distinct_minima], "candidates": cands,
            "lowest_unsettled": None if self.lowest_unsettled is None else self.lowest_unsettled.to_dict(),
            "class_means": self.class_means, "bias": self.bias, "certificate": self.certificate.to_dict(),
            "config": self.config.to_dict(), "wall_time_s": self.wall_time_s,
        })


# ---------------------------------------------------------------------------
# what a search will take, known before it runs

CONSTRUCTIONS = 16  # at most this many constructions join the random starts (those of the balanced problem included)
LBFGS_COPIES = 26  # L-BFGS with memory 10: 2 x 10 history vectors, the iterate, gradient, direction and the line search's
PROCESS_BYTES = 5 * 10**8  # the Python process with JAX, its compiled programs and the constructions' code (measured 0.4-0.5 GB)
LOGIT_COPIES = 8  # K x K arrays of one evaluation of the reduced objective and its gradient (A, logits, softmax, ...)


class Estimate(NamedTuple):
    """Peak memory (bytes) and time (seconds, every start to its step limit: an upper bound) of :func:`optimum`.

    Memory, in float64 numbers: the starts and end points (3 S n, S starts of
    n = 2 K r + r [+ K] variables at the rank cap r), for each member computed
    at once (one per device on CPU) L-BFGS's state and one evaluation's
    K x K arrays (26 n + 8 K^2), and the constructions' explicit parameters
    and the logits of one of them (16 P + 3 K N); the polish (a dense Hessian and its factor, 3 n^2, up to
    ``reduced.DENSE_POLISH`` variables, and one batch of its columns, ``reduced.HESSIAN_BATCH_NUMBERS`` x 8) and the certificate (the lifted point
    and its gradient, 4 P + 3 N (sum d + K); a dense or LDL^T Hessian and its
    factor, 4 P^2, up to ``hessian_limit`` parameters), and the process itself
    (``PROCESS_BYTES``) come after the search and take the
    larger share. Time: 6 (2 K^2 r + 30 K^2) + 60 n FLOPs per L-BFGS step (two
    evaluations with their gradients: the product W diag(t) H and the K x K
    softmax) at the device's measured product rate
    (:func:`dufm.solving.budget.estimate_seconds`'s), S / devices starts each on accelerators; on CPU all S
    in turn (CPU devices share the cores the rate was measured on).
    ReLU: the full problem's own estimates (:mod:`dufm.solving.budget`).
    """

    memory: int
    seconds: float
    starts: int
    rank: int


@float64
def estimate(problem: Problem, cfg: OptimumConfig, devices: int | None = None) -> Estimate:
    """What :func:`optimum` will take (:class:`Estimate`), from arithmetic on the sizes and one measured product rate."""
    from ..solving import budget

    devices = jax.local_device_count() if devices is None else devices
    arch = problem.architecture
    P, N, K = arch.parameter_count, arch.samples, problem.classes
    starts = cfg.restarts + CONSTRUCTIONS
    if problem.activation == "relu" and problem.depth >= 2:
        memory = budget.memory_bytes(arch, "lbfgs", cfg.steps, min(100, cfg.steps), starts, devices)
        return Estimate(memory, budget.estimate_seconds(arch, cfg.steps, starts, devices, "lbfgs"), starts, min(K, *arch.widths))
    r = rank_cap(problem, cfg.max_rank)[0]
    cm = reduced.class_mean_problem(problem)
    n = cm.size(r)
    hessian = 4 * P * P if P <= cfg.hessian_limit else 0
    # the polish: dense (the Hessian, its factor, and one batch of Hessian-vector products) at any rank whose point has
    # <= DENSE_POLISH variables, matrix-free above
    dense = min(n, reduced.DENSE_POLISH)
    batch = min(reduced.HESSIAN_BATCH_NUMBERS, dense * K * cm.columns)
    polish = 3 * dense * dense + LOGIT_COPIES * batch if cm.size(1) <= reduced.DENSE_POLISH else 0
    after = max(polish, LBFGS_COPIES * n, 4 * P + 3 * N * (sum(arch.widths) + K) + hessian)
    numbers = 3 * starts * n + devices * (LBFGS_COPIES * n + LOGIT_COPIES * K * K) + CONSTRUCTIONS * P + 3 * K * N + after
    rate = budget.product_rate(min(K, 1024), min(K, 1024), "float64", jax.default_backend()) * budget.EFFICIENCY
    per_step = 6.0 * (2.0 * K * K * r + 30.0 * K * K) + 60.0 * n
    # CPU devices share the cores the measured rate already uses: only accelerators run their shares side by side
    parallel = devices if jax.default_backend() != "cpu" else 1
    seconds = (-(-starts // parallel) * cfg.steps * per_step + cfg.restarts * 10.0 * K**3 + P**3 / 3 * (hessian > 0)) / rate
    return Estimate(PROCESS_BYTES + 8 * numbers, seconds, starts, r)


def check_budget(problem: Problem, cfg: OptimumConfig, devices: int | None = None) -> Estimate:
    """The search's :class:`Estimate`, once ``problem`` is one :func:`optimum` can search (float64, every decay > 0); a
    ValueError naming the field, or with the estimate and the flags to change when the search cannot fit the memory free
    on this machine or would take longer than ``cfg.max_hours``."""
    from ..solving import budget

    if problem.dtype != "float64":
        raise ValueError("dtype must be float64 for the optimum search (the certificate needs float64)")
    if min(decay_vector(problem)) <= 0:
        raise ValueError(f"every weight decay must be > 0 for the optimum search (with a zero decay no optimum exists), "
                         f"got lambda_H = {problem.lambda_H}, lambda_W = {problem.lambda_W}")
    if problem.activation == "relu" and problem.depth >= 2 and cfg.max_rank:
        raise ValueError(f"max_rank must be 0 for ReLU (the full-problem multi-start has no rank cap), got {cfg.max_rank}")
    est = estimate(problem, cfg, devices)
    what = (f"up to {est.starts} starts x at most {cfg.steps} L-BFGS steps at rank <= {est.rank}, K = {problem.classes}, "
            f"{problem.parameter_count} parameters")
    free = budget.available_memory(jax.local_devices()[0])
    if free is not None and est.memory > free:
        raise ValueError(f"the search is too large for this machine: about {budget.gigabytes(est.memory)} ({what}), "
                         f"{budget.gigabytes(free)} free; lower --classes, --width, --restarts or --max-rank")
    if est.seconds > 3600 * cfg.max_hours:
        raise ValueError(f"max_hours must be >= the estimated time of this search, {est.seconds / 3600:.3g} h ({what}), "
                         f"got {cfg.max_hours:g}: raise --max-hours, or lower --restarts, --steps or --max-rank")
    return est


# ---------------------------------------------------------------------------
# the reduced search


ROUND_STEPS = 250  # L-BFGS steps between two prunes (reduced.prune) of every start still descending
PER_DEVICE = 4  # members of one call of the search program per device: one compiled shape per rank, whatever the starts


@functools.lru_cache(maxsize=32)
def _lbfgs_program(shape: reduced.ClassMeanProblem, rank: int, batching: str, devices: tuple):
    """Compiled (starts (B, P), step limits (B,); tol, counts, decay, bias_decay) -> (x, value, grad norm, steps): optax
    L-BFGS from every start (:func:`dufm.solving.programs.batch_program`).

    One program per problem shape (K, depth, loss, bias), rank and layout: the
    tolerance, the step limits, the counts and the decays are inputs, so a
    sweep over lambda or a change of effort compiles once. Each member stops at
    |grad| <= tol or after its own step limit (0: a padding member, one
    gradient). On CPU ``lax.map`` is 5x faster
    here than ``vmap``: a vmapped ``while_loop`` runs every member until the
    slowest stops (docs/optima.md). Split over several devices by one call per
    device, not ``shard_map``: under ``shard_map`` XLA's CPU backend kept a
    K x K buffer of every L-BFGS step of every member until the program ended
    (K = 100: 130 MB a start at 2 000 steps, 8.5 GB for 67 starts; 0.5 GB per call).
    """
    opt = optax.lbfgs()

    def one(x0, steps, tol, *values):
        f = functools.partial(reduced.smooth_objective, cm=shape.with_values(*values), rank=rank)
        value_and_grad = optax.value_and_grad_from_state(f)

        def more(carry):
            _, _, k, g = carry
            return (k < steps) & (g > tol)

        def step(carry):
            x, state, k, _ = carry
            value, grad = value_and_grad(x, state=state)
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
            # the zoom line search stores the gradient at the new point in the state
            return optax.apply_updates(x, updates), state, k + 1, optax.tree_utils.tree_norm(optax.tree_utils.tree_get(state, "grad"))

        g0 = jnp.linalg.norm(jax.grad(f)(x0))
        x, _, k, g = jax.lax.while_loop(more, step, (x0, opt.init(x0), jnp.zeros((), steps.dtype), g0))
        return x, f(x), g, k

    return batch_program(one, batching, devices, shared=4, name="lbfgs_search", mesh=False)


def search(x0: np.ndarray, cm: reduced.ClassMeanProblem, rank: int, tol: float, steps, batching: str = "auto",
           size: int | None = None):
    """L-BFGS from every row of ``x0`` (B, P) in one compiled program over the local devices: (x, value, grad norm, steps)
    on the host. ``steps``: one limit, or one per start; ``size``: pad the batch to this many members (0-step padding, so
    that calls with fewer starts reuse the program)."""
    B = len(x0)
    size = max(B, size or B)
    devices = batch_devices(jax.local_devices(), size)
    batching = resolve_batching(batching, devices[0].platform)
    program = _lbfgs_program(cm.shape(), rank, batching, devices)
    D = len(devices)
    size = -(-size // D) * D
    share = size // D
    # member j at place (j mod D) x share + j div D: the devices' shares hold equally many real starts
    place = np.array([(j % D) * share + j // D for j in range(B)], dtype=np.int64)
    xs = np.repeat(np.asarray(x0[:1], np.float64), size, axis=0)
    xs[place] = x0
    limits = np.zeros(size, np.int64)
    limits[place] = np.broadcast_to(np.asarray(steps, np.int64), (B,))
    out, _ = call_batch(program, (jnp.asarray(xs), jnp.asarray(limits)), (np.float64(tol), *cm.values()), size)
    return tuple(np.asarray(a)[place] for a in jax.device_get(out))


def rank_buckets(cap: int) -> list[int]:
    """The ranks the search compiles programs for: 16, 64, 256, ... below ``cap``, and ``cap``. (An evaluation costs
    about 2 K^2 r + 30 K^2 operations: below r = 16 the K x K softmax dominates, and a program per rank would cost more
    to compile than it saves.)"""
    return sorted({4**i for i in range(2, 8) if 4**i < cap} | {cap})


def survey_ranks(cap: int, count: int) -> list[int]:
    """The ranks of ``count`` survey starts: every rank 1..cap in turn when cap <= count, else ``count`` ranks spaced
    geometrically from 1 to ``cap`` (the low ranks, where the optimum of a large K lies at depth, closer together)."""
    if cap <= count:
        return [1 + i % cap for i in range(count)]
    return [int(r) for r in np.rint(np.geomspace(1, cap, count))]


def random_starts(cm: reduced.ClassMeanProblem, ranks, seed: int, low: float, high: float, rank: int | None = None) -> np.ndarray:
    """One balanced start per entry of ``ranks`` (len(ranks), P at ``rank``, default max(ranks)): start i has rank ranks[i]
    and logit scale log-uniform in [low, high].

    A = scale * U_k diag(u) V_k^T with U, V the singular vectors of a Gaussian
    K x columns matrix (columns: the classes, or the label sets) and u uniform in [0.5, 1]. (For L >= 2 a zero singular value
    is a strict local minimum of the factorised problem in its own
    directions, so a start of rank k explores the ranks <= k.)
    """
    rng = np.random.default_rng(seed)
    ranks = [int(r) for r in ranks]
    rank = rank or max(ranks)
    K = cm.classes
    out = []
    for k in ranks:
        U, _, Vt = np.linalg.svd(rng.normal(size=(K, cm.columns)))
        scale = np.exp(rng.uniform(np.log(low), np.log(high)))
        A = (U[:, :k] * (scale * rng.uniform(0.5, 1.0, k))) @ Vt[:k]
        out.append(reduced.smooth_point(A / np.sqrt(np.asarray(cm.counts, np.float64)), None, cm, rank))
    return np.stack(out)


class Descent(NamedTuple):
    """Where :func:`descend` left each start: the flat point ``x`` at its program's ``rank``, ``loss``, ``singular_values``
    of A, gradient norm ``grad_norm`` and L-BFGS ``steps``."""

    x: np.ndarray
    rank: int
    loss: float
    singular_values: np.ndarray
    grad_norm: float
    steps: int


def descend(starts: list[np.ndarray], cm: reduced.ClassMeanProblem, cap: int, cfg: OptimumConfig) -> list[Descent]:
    """Every start (a flat point at rank ``cap``) to a minimum.

    Each start runs in the program of the smallest :func:`rank_buckets` rank
    that holds it (zero-padded: a zero direction stays exactly zero), in
    rounds of :data:`ROUND_STEPS` L-BFGS steps; after each round
    :func:`dufm.theory.reduced.prune` rebalances it and drops the singular
    values that only cost. A start stops at |grad| <= ``cfg.tol`` or after
    ``cfg.steps`` steps in all.
    """
    buckets = rank_buckets(cap)
    state = []
    for x in starts:
        p = reduced.prune(x, cm, cap, cfg.rank_tol, ratio=0.0)
        home = next(b for b in buckets if b >= max(1, p.singular_values.size))
        x = reduced.resize(p.x, cm, cap, home)
        state.append(Descent(x, home, p.loss, p.singular_values, reduced.smooth_gradient_norm(x, cm, home), 0))
    size = PER_DEVICE * jax.local_device_count()
    idle = set()  # starts the program left where they were (its gradient norm at or below tol): done
    while True:
        active = [i for i, d in enumerate(state) if d.grad_norm > cfg.tol and d.steps < cfg.steps and i not in idle]
        if not active:
            return state
        for b in buckets:
            members = [i for i in active if state[i].rank == b]
            for c in range(0, len(members), size):
                chunk = members[c:c + size]
                limit = [min(ROUND_STEPS, cfg.steps - state[i].steps) for i in chunk]
                x, _, _, k = search(np.stack([state[i].x for i in chunk]), cm, b, cfg.tol, limit, size=size)
                for i, xi, ki in zip(chunk, x, k):
                    if ki == 0:
                        idle.add(i)
                    p = reduced.prune(xi, cm, b, cfg.rank_tol)
                    state[i] = Descent(p.x, b, p.loss, p.singular_values, reduced.smooth_gradient_norm(p.x, cm, b), state[i].steps + int(ki))


def construction_starts(problem: Problem, cm: reduced.ClassMeanProblem, rank: int, candidates: dict) -> tuple[list[str], list[np.ndarray]]:
    """(names, starts) from every available construction (and, for imbalanced counts, those of the balanced problem)."""
    pool = dict(candidates)
    if not problem.architecture.balanced:
        balanced = replace(problem, per_class=max(1, round(problem.samples / problem.classes)))
        pool.update({f"{k} (balanced)": c for k, c in closed_forms.candidates(balanced).items() if k not in ("zero",)})
        reference = balanced
    else:
        reference = problem
    names, starts = [], []
    for name, c in pool.items():
        if isinstance(c, str) or name == "zero":
            continue
        M, b = reduced.class_means(c.params, problem if "(balanced)" not in name else reference)
        names.append(name)
        starts.append(reduced.smooth_point(M, b if cm.bias != "none" else None, cm, rank))
    return names, starts


def group_minima(losses, ranks, svals, names, settled, distinct_tol: float) -> list[Minimum]:
    """Distinct minima of the settled starts, best first: equal rank and losses within distinct_tol (relative) are one."""
    order = sorted((i for i in range(len(losses)) if settled[i]), key=lambda i: losses[i])
    groups: list[list[int]] = []
    for i in order:
        for g in groups:
            j = g[0]
            if ranks[j] == ranks[i] and abs(losses[i] - losses[j]) <= distinct_tol * max(1.0, abs(losses[j])):
                g.append(i)
                break
        else:
            groups.append([i])
    return [Minimum(float(losses[g[0]]), int(ranks[g[0]]), len(g), tuple(float(s) for s in svals[g[0]]),
                    next((names[i] for i in sorted(g) if names[i] != "random"), "random")) for g in groups]


_value_and_grad = jax.jit(jax.value_and_grad(objective), static_argnums=2)


def certify(params: Params, problem: Problem, loss: float, tol: float, hessian_limit: int, rank: int | None = None) -> Certificate:
    """Objective, its gap from ``loss``, gradient norm (critical when <= tol) and, up to ``hessian_limit`` parameters, Hessian verdict.

    ``rank``: of a balanced linear point, for :func:`symmetry_dimension` (the nullity a local minimum modulo symmetry has).
    """
    arch, decays = problem.architecture, problem.decays
    tree = jax.tree_util.tree_map(jnp.asarray, params)
    value, grad = _value_and_grad(tree, decays, arch)
    value, gnorm = float(value), float(gradient_norm(grad))
    P = problem.parameter_count
    if P > hessian_limit:
        return Certificate(value, value - loss, gnorm, tol, hessian_note=f"no Hessian: {P} parameters > hessian_limit {hessian_limit}")
    c = critical.classify(tree, decays, arch, grad_tol=tol)
    return Certificate(value, value - loss, gnorm, tol, c, symmetry_dimension(problem, rank) if rank is not None else None)


def rank_cap(problem: Problem, max_rank: int = 0) -> tuple[int, str | None]:
    """The most rank Z can have in the search, and what caps it below K: ``"width"`` (a width d_l < K), ``"max_rank"``, or
    None (no cap: rank K is allowed)."""
    K, d = problem.classes, min(problem.widths)
    cap = min(K, d) if max_rank == 0 else min(max_rank, K, d)
    if cap >= K:
        return cap, None
    return cap, "max_rank" if max_rank and max_rank < min(K, d) else "width"


def global_claim(problem: Problem, loss: float, cert: Certificate, candidates: dict, cap: int | None = None) -> tuple[Global, str]:
    """:attr:`Global.PROVEN` with the theorem that makes it so, or :attr:`Global.BEST_FOUND` with why not.

    Proven needs the lifted point critical on the full problem, and one of:

    * L = 1 (two factors): the reduced problem's regulariser is lambda_eff times
      the nuclear norm of M D^(1/2), convex, as is the loss in the logits (CE,
      label smoothing, MSE, pick-all-label, BCE; not focal loss with gamma > 0), so
      its critical point is a global minimum (and the reduction is exact:
      docs/optima.md);
    * linear MSE with no bias or a free bias: the global minimum is the closed
      form ``dnc`` (von Neumann's trace inequality reduces it to scalar problems
      solved exactly; :func:`dufm.theory.dnc`), and the loss found equals it to
      1e-10 (relative).

    Neither holds where ``cap`` (the rank the search allows, :func:`rank_cap`) is
    below K: rank Z <= cap < K is not a convex set, and the closed forms use
    every rank they need.
    """
    if not cert.critical:
        return Global.BEST_FOUND, f"the lifted point is not critical on the full problem (|grad| {cert.grad_norm:.2e})"
    if cap is not None and cap < problem.classes:
        return Global.BEST_FOUND, (f"rank Z is capped at {cap} < K = {problem.classes}: the lowest minimum of rank <= {cap} a "
                                   "multi-start found (a rank cap is not a convex constraint)")
    if problem.loss == "focal" and problem.focal_gamma > 0:
        return Global.BEST_FOUND, ("focal loss (gamma > 0) is not convex in the logits: the search covers class-collapsed "
                                   "features only, and full-problem multi-starts have not gone below it (docs/losses.md)")
    if problem.depth == 1:
        return Global.PROVEN, "L = 1: the reduced problem is convex (a loss convex in the logits + the nuclear norm)"
    closed = candidates.get("dnc")
    if problem.loss == "mse" and problem.bias != "regularised" and not isinstance(closed, str) and closed is not None:
        if abs(loss - closed.loss) <= 1e-10 * abs(closed.loss):
            return Global.PROVEN, "linear MSE: equal to the closed-form global minimum (per-singular-value scalar problems)"
        return Global.BEST_FOUND, f"linear MSE, but {loss:.15g} differs from the closed-form minimum {closed.loss:.15g}"
    return Global.BEST_FOUND, ("the lowest minimum of a multi-start of the reduced problem: its landscape (depth >= 2, "
                               "non-convex) may hold a lower minimum no start reached")


def symmetry_dimension(problem: Problem, rank: int) -> int:
    """Null directions every balanced rank-r critical point of a linear deep UFM has: sum_l (r d_l - r(r+1)/2), (+1).

    Each hidden space R^{d_l} (l = 1..L) carries the orbit of O(d_l) through
    rank-r balanced factors, a Stiefel manifold V_r(R^{d_l}) of dimension
    r d_l - r(r+1)/2 (docs/landscape.md; equal to
    :func:`dufm.critical.symmetry_dimension` where that is computed, tested);
    a loss of softmax(z) (CE, LS, focal) with a free bias adds the shift b -> b + c 1.
    """
    orbit = sum(rank * d - rank * (rank + 1) // 2 for d in problem.widths)
    return orbit + int(problem.loss in SOFTMAX_LOSSES and problem.bias == "free")


def _reduced(problem: Problem, cfg: OptimumConfig, candidates: dict, t0: float) -> Optimum:
    cm = reduced.class_mean_problem(problem)
    cap = rank_cap(problem, cfg.max_rank)[0]
    names, built = construction_starts(problem, cm, cap, candidates)
    # a survey over the ranks, then the rest of the starts at the rank of the lowest point the survey met and one above
    # (a start of rank k explores the ranks <= k): where the low ranks win, most starts go there (docs/optima.md)
    first = survey_ranks(cap, -(-cfg.restarts // 2))
    ends = descend(list(random_starts(cm, first, cfg.seed, cfg.min_scale, cfg.max_scale, cap)) + built, cm, cap, cfg)
    focus = max(1, min(ends, key=lambda d: d.loss).singular_values.size)
    second = [min(cap, focus + i % 2) for i in range(cfg.restarts - len(first))]
    if second:
        ends += descend(list(random_starts(cm, second, (cfg.seed, 1), cfg.min_scale, cfg.max_scale, cap)), cm, cap, cfg)
    names = ["random"] * len(first) + names + ["random"] * len(second)
    losses = [d.loss for d in ends]
    ranks = [d.singular_values.size for d in ends]
    svals = [d.singular_values for d in ends]
    settled = np.array([d.grad_norm <= cfg.settle_tol for d in ends])
    minima = group_minima(losses, ranks, svals, names, settled, cfg.distinct_tol)
    if not minima:
        raise ValueError(f"no start settled (gradient norm <= {cfg.settle_tol:g}) within {cfg.steps} L-BFGS steps; raise steps")
    # polish the best start of the best minimum at its own rank
    best = ends[min((i for i in range(len(ends)) if settled[i]), key=lambda i: losses[i])]
    r = max(best.singular_values.size, 1)
    xp, gp = reduced.polish(reduced.resize(best.x, cm, best.rank, r), cm, r, cfg.polish_tol)
    M, b = reduced.smooth_class_means(xp, cm, r)
    loss = reduced.class_mean_objective(M, b, cm, cfg.rank_tol)
    s = reduced.class_mean_svd(M, cm, cfg.rank_tol)[1]
    minima[0] = Minimum(loss, s.size, minima[0].count, tuple(float(v) for v in s), minima[0].start)
    params = reduced.lift(M, b, problem, cfg.rank_tol)
    cert = certify(params, problem, loss, cfg.certify_tol, cfg.hessian_limit, s.size)
    claim, reason = global_claim(problem, loss, cert, candidates, cap)
    below = [i for i in range(len(ends)) if not settled[i] and losses[i] < loss]
    low = min(below, key=lambda i: losses[i]) if below else None
    lowest = None if low is None else Minimum(float(losses[low]), int(ranks[low]), 1, tuple(float(v) for v in svals[low]), names[low])
    return Optimum(problem, Method.REDUCED, claim, reason, loss, s.size, tuple(float(v) for v in s), gp, cfg.restarts, len(ends),
                   int(np.sum(~settled)), tuple(minima), candidates, M, b, params, cert, cfg, time.perf_counter() - t0,
                   lowest, len(below), focus if second else None)


def _full(problem: Problem, cfg: OptimumConfig, candidates: dict, t0: float) -> Optimum:
    arch = problem.architecture
    rng = np.random.default_rng(cfg.seed)
    scales = np.exp(rng.uniform(np.log(0.05), np.log(1.0), cfg.restarts))  # Gaussian init std, log-uniform
    keys = jax.random.split(jax.random.PRNGKey(cfg.seed), cfg.restarts)
    starts = [jax.tree_util.tree_map(np.asarray, initialise(k, arch, float(s))) for k, s in zip(keys, scales)]
    names = ["random"] * cfg.restarts
    for name, c in candidates.items():
        if not isinstance(c, str) and name != "zero":
            starts.append(c.params)
            names.append(name)
    solver = SolverConfig(optimizer="lbfgs", steps=cfg.steps, tol=cfg.tol, log_every=min(100, cfg.steps))
    runs = run_many(Params.stack(starts), problem.decays, arch, solver)
    if all(r.diverged for r in runs):
        raise ValueError("every start diverged (a non-finite or exploding loss); nothing to report")
    th = Thresholds(rank_tol=cfg.rank_tol)
    losses = [r.loss if not r.diverged else np.inf for r in runs]
    analyses = [analyse(r.params, problem, th) if not r.diverged else None for r in runs]
    ranks = [a.rank["Z"] if a else 0 for a in analyses]
    svals = [np.asarray(a.singular_values["Z"]) if a else np.zeros(0) for a in analyses]
    settled = np.array([(not r.diverged) and r.grad_norm <= cfg.settle_tol for r in runs])
    # ReLU kinks slow L-BFGS: every end point that did not diverge is listed (``unsettled`` counts those above settle_tol)
    minima = group_minima(losses, ranks, svals, names, [not r.diverged for r in runs], cfg.distinct_tol)
    best = min((i for i, r in enumerate(runs) if not r.diverged), key=lambda i: losses[i])
    run = runs[best]
    M, b = reduced.class_means(run.params, problem)
    cert = certify(run.params, problem, run.loss, cfg.certify_tol, 0)
    cert = replace(cert, hessian_note="ReLU: no Hessian at ReLU kinks (the pre-activations of a collapsed point are exactly 0)")
    reason = "ReLU has no reduction to the class means: the lowest end point of a full-problem multi-start"
    return Optimum(problem, Method.FULL_MULTISTART, Global.BEST_FOUND, reason, run.loss, ranks[best],
                   tuple(float(v) for v in svals[best]), run.grad_norm,
                   cfg.restarts, len(runs), int(np.sum(~settled)), tuple(minima), candidates, M, b, run.params, cert, cfg,
                   time.perf_counter() - t0)


@float64
def optimum(problem: Problem, config: OptimumConfig | None = None, **options) -> Optimum:
    """The lowest minimum of ``problem`` a multi-start finds, with what is proven of it (module docstring).

    ``config`` or ``options`` (the fields of :class:`OptimumConfig`) set the
    effort. Needs float64 and every weight decay > 0 (ValueError otherwise).
    """
    cfg = config if config is not None else OptimumConfig(**options)
    if config is not None and options:
        cfg = OptimumConfig(**{**config.to_dict(), **options})
    check_budget(problem, cfg)  # before the constructions, whose K x K and K x N arrays alone may not fit
    t0 = time.perf_counter()
    # dufm has no constructions for label sets or their losses: the search then starts from random points only
    candidates = {} if problem.multi_label or problem.loss in MULTI_LABEL_LOSSES else closed_forms.candidates(problem)
    if problem.activation == "relu" and problem.depth >= 2:
        return _full(problem, cfg, candidates, t0)
    return _reduced(problem, cfg, candidates, t0)
