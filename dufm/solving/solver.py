"""Compiled solvers: optax optimisers inside one ``lax.while_loop`` / ``lax.scan`` program.

One run is one compiled program: an outer ``lax.while_loop`` over chunks of
``log_every`` steps, each chunk a ``lax.scan``; the loss, gradient norm, NC1
and (``spectra``) the singular values at the start of every chunk are written
into history arrays on the device. There is no Python and no host
synchronisation per step.

Every step evaluates the loss and the full gradient at the current point and
then decides, in this order:

1. ``diverged``  if the loss or the gradient norm is not finite, or the loss
   exceeds ``divergence_factor * (|initial loss| + 1)``;
2. ``converged`` if ||grad|| <= ``tol``;
3. ``loss_threshold`` if the loss <= ``loss_threshold`` (when one is given);
4. ``max_steps`` if ``steps`` updates have been applied;
5. otherwise the optimiser's update is applied.

The default ``tol`` is 1e-10 (float64) or 1e-5 (float32) for a problem whose
objective attains its minimum, and 0 for one that does not (a CE problem with
some factor's decay 0, :func:`dufm.model.problem.finite_optimum`): there the
gradient only tends to 0 as the loss does, so a gradient tolerance would be a
loss threshold in disguise. With ``tol = 0`` rule 2 fires only where the
computed gradient is exactly 0: the zero point, or a point where every CE
margin is so large that the loss and its gradient underflow to 0 in floating
point (a fixed point of the floating-point iteration: GD cannot move from
it); otherwise the step limit or the loss threshold ends the run.

(The rules are applied to a whole chunk's records at once and the stopping
chunk is recomputed up to the stop; see :func:`run`.) A run that has stopped
is frozen (its parameters and optimiser state no longer change), which is
what makes batching exact: every member of a batch follows the same
arithmetic as when it runs alone. ``steps`` reported is the number of updates
applied; a diverged run reports the step at which the non-finite (or
exploding) value was seen.

A batch of runs (seeds, lambdas, init scales) is one compiled program
(:func:`run_many`, the one batched entry point: :func:`solve`, the sweep and
the descent phase of :func:`dufm.critical.refine` all run through it): split
over the local devices (a 1-D mesh on the batch axis, ``shard_map``), and on
each device either ``vmap``-ped into batched matrix products (GPU/TPU) or run
member after member with ``lax.map`` (CPU, where unbatched products are
faster and no member waits for the slowest). The ``dufm`` command makes every
CPU core a JAX device; a script opts in with :func:`dufm.use_cpu_cores`.

:func:`run` is the pure, jittable single-run program (init/apply in the
jax-md sense: :func:`dufm.initialise` gives the start, :func:`run` the
:class:`Output`); :func:`run_many` turns a batch of outputs into host-side
:class:`Run` records; :func:`solve` draws the starts from seeds.

Optimisers are optax transformations: ``gd`` = ``optax.sgd(lr)`` (plain
full-batch gradient descent, as in the papers), ``momentum`` =
``optax.sgd(lr, momentum)`` (heavy ball), ``adam`` = ``optax.adam(lr)``,
``lbfgs`` = ``optax.lbfgs`` with its zoom line search (``lr`` is not used: the
line search picks the step).
"""

from __future__ import annotations

import contextlib
import enum
import functools
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..analysis.collapse import nc1_trace
from ..model.init import INITS, resolve_scales, starts
from ..model.objective import SPECTRA, forward, gradient_norm, labels, objective, post_activation, spectrum_matrices, spectrum_sizes
from ..model.problem import Architecture, Decays, Params, Problem, finite_optimum
from ..options import check_choice, check_fraction, check_int, check_number, option
from ..runtime import float64
from .budget import check_memory, chunk_length, history_rows
from .programs import batch_devices, batch_program, call_batch, resolve_batching

OPTIMIZERS = ("gd", "momentum", "adam", "lbfgs")
PRECISIONS = ("highest", "high", "default")  # jax.default_matmul_precision names
DEFAULT_TOL = {"float64": 1e-10, "float32": 1e-5}
MAX_STEPS_LIMIT = 2**31 - 1
MAX_HISTORY = 1_000_000
MAX_SPECTRUM_VALUES = 2**24  # singular values one run's history may hold on the device (128 MiB in float64)
MAX_BATCH_PARAMETERS = 2**31


class Status(enum.StrEnum):
    """Why a run stopped (``RUNNING`` only inside the compiled program). Compares equal to its string."""

    RUNNING = "running"
    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"
    LOSS_THRESHOLD = "loss_threshold"  # last: a status's integer code (its place here) never changes

    @property
    def code(self) -> int:
        """The integer the compiled program carries for this status."""
        return _STATUS_CODES.index(self)

    @classmethod
    def from_code(cls, code) -> "Status":
        return _STATUS_CODES[int(code)]


_STATUS_CODES = tuple(Status)


@dataclass(frozen=True)
class SolverConfig:
    """How to solve: optimiser, step size, step limit, stopping tolerance, initialisation.

    ``tol`` is on the Euclidean norm of the full gradient; None (the default)
    means 1e-10 in float64 and 1e-5 in float32, and 0 for a problem without a
    finite optimum (:meth:`resolved`). ``loss_threshold`` stops a run at
    the first step whose loss (the whole objective) is <= it; None: never. ``init_scale`` is the
    standard deviation of the Gaussian initialisation (or the scale of the
    other kinds, :mod:`dufm.model.init`); ``feature_init_scale`` / ``weight_init_scale``
    replace it for H_1 / the W_l (:meth:`init_scales`). ``log_every`` is the history interval in steps;
    ``spectra`` says whose singular values the history records at that interval (:data:`dufm.model.objective.SPECTRA`).
    """

    optimizer: str = option("gd", "optax optimiser", choices=OPTIMIZERS)
    lr: float = option(0.5, "learning rate > 0 (unused by lbfgs, which line-searches)")
    steps: int = option(100_000, "step limit >= 1")
    tol: float | None = option(None, "stop when the gradient norm <= tol (default 1e-10 in float64, 1e-5 in float32; "
                               "0, an exactly zero gradient, for a problem without a finite optimum, e.g. CE with a decay 0)")
    loss_threshold: float | None = option(None, "stop at the first step whose loss <= this (default: never)")
    init_scale: float = option(0.1, "std of the Gaussian init (scale of the orthogonal one; gain of gain; spectral's scale)")
    init: str = option("gaussian", "initialisation (docs/conventions.md)", choices=INITS)
    feature_init_scale: float | None = option(None, "scale of H_1's init (default: init_scale; 1 for pytorch, torch.randn)")
    weight_init_scale: float | None = option(None, "scale of every W_l's init (default: init_scale; 1 for pytorch, "
                                             "a gain on nn.Linear's bound)")
    momentum: float = option(0.9, "momentum in [0, 1) of the momentum optimiser")
    log_every: int = option(100, "history interval in steps")
    spectra: str = option("none", "singular values recorded in the history every log_every steps: none, those of Z "
                          "(output), or of Z and every H_l, sigma(H_l), W_l (layers)", choices=SPECTRA)
    divergence_factor: float = option(1e12, "diverged when the loss exceeds this factor x (|initial loss| + 1)", flag=False)
    matmul_precision: str = option("highest", "matrix products of float32 problems: highest (full float32), high or default "
                            "(faster, fewer mantissa bits on GPU and TPU); float64 is always full", choices=PRECISIONS, old_names=("precision",))

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("lr", self.lr)
        for name in ("steps", "log_every"):
            check_int(name, getattr(self, name), 1)
        if self.steps > MAX_STEPS_LIMIT:
            raise ValueError(f"steps must be an integer <= {MAX_STEPS_LIMIT}, got {self.steps}")
        if self.steps // self.log_every > MAX_HISTORY:
            raise ValueError(f"log_every must be >= steps / {MAX_HISTORY} (the history is kept on the device), got {self.log_every}")
        if self.tol is not None:
            check_number("tol", self.tol, allow_zero=True)
        if self.loss_threshold is not None:
            check_number("loss_threshold", self.loss_threshold, allow_zero=True)
        check_number("init_scale", self.init_scale)
        check_choice("init", self.init, INITS)
        check_choice("spectra", self.spectra, SPECTRA)
        for name in ("feature_init_scale", "weight_init_scale"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name))
        check_fraction("momentum", self.momentum, closed_below=True)
        check_number("divergence_factor", self.divergence_factor)
        check_choice("matmul_precision", self.matmul_precision, PRECISIONS)

    def to_dict(self) -> dict:
        """The fields; ``matmul_precision`` and ``spectra`` only when not the default, the separate init scales and the loss
        threshold only when given: a run's key hashes this dict, and a field added with its default must not change it."""
        d = asdict(self)
        if d["matmul_precision"] == PRECISIONS[0]:
            del d["matmul_precision"]
        if d["spectra"] == SPECTRA[0]:
            del d["spectra"]
        for name in ("feature_init_scale", "weight_init_scale", "loss_threshold"):
            if d[name] is None:
                del d[name]
        return d

    def init_scales(self) -> tuple[float, float]:
        """(s_H, s_W), the scales of H_1 and of the W_l: :func:`dufm.model.init.resolve_scales`."""
        return resolve_scales(self.init, self.init_scale, self.feature_init_scale, self.weight_init_scale)

    def resolved(self, dtype: str, finite_optimum: bool = True) -> "SolverConfig":
        """This config with ``tol`` filled in when it is None: :data:`DEFAULT_TOL` for ``dtype``, or 0 for a
        problem without a finite optimum (:attr:`dufm.Problem.finite_optimum`; module docstring)."""
        if self.tol is not None:
            return self
        return replace(self, tol=DEFAULT_TOL[dtype] if finite_optimum else 0.0)


def _transformation(name: str, inputs: "ProgramInputs") -> optax.GradientTransformation:
    """The optax transformation ``name`` with the (possibly traced) numbers of ``inputs``."""
    if name == "gd":
        return optax.sgd(inputs.lr)
    if name == "momentum":
        return optax.sgd(inputs.lr, momentum=inputs.momentum)
    if name == "adam":
        return optax.adam(inputs.lr)
    return optax.lbfgs()


class ProgramInputs(NamedTuple):
    """The solver's numbers that are inputs of the compiled program, not part of it (a leading batch axis in a batch).

    A sweep over any of them compiles once: ``lr``, ``tol``, ``loss_threshold``
    (-inf when there is none), ``steps`` (the step limit), ``momentum``,
    ``divergence_factor``. What stays static is the :class:`ProgramKey`.
    """

    lr: Any
    tol: Any
    loss_threshold: Any
    steps: Any
    momentum: Any
    divergence_factor: Any

    @classmethod
    def of(cls, cfg: SolverConfig, dtype: str | None = None) -> "ProgramInputs":
        """The numbers of ``cfg`` (``tol`` resolved for ``dtype``, default float64), as Python numbers."""
        cfg = cfg.resolved(dtype or "float64")
        threshold = -np.inf if cfg.loss_threshold is None else cfg.loss_threshold
        return cls(cfg.lr, cfg.tol, threshold, cfg.steps, cfg.momentum, cfg.divergence_factor)

    @classmethod
    def stack(cls, cfgs, dtype: str) -> "ProgramInputs":
        """One row per config, as host arrays of ``dtype`` (``steps`` int32)."""
        rows = [cls.of(c, dtype) for c in cfgs]
        cols = [np.asarray([getattr(r, f) for r in rows], dtype) for f in cls._fields]
        cols[cls._fields.index("steps")] = np.asarray([r.steps for r in rows], np.int32)
        return cls(*cols)


def check_history(arch: Architecture, cfg: SolverConfig):
    """A ValueError naming ``log_every`` (or ``spectra``) when the singular values ``cfg`` records would exceed
    :data:`MAX_SPECTRUM_VALUES` on the device."""
    per_row = sum(spectrum_sizes(arch, cfg.spectra).values())
    if not per_row or history_rows(cfg.steps, cfg.log_every) * per_row <= MAX_SPECTRUM_VALUES:
        return
    rows = 1 << ((MAX_SPECTRUM_VALUES // per_row).bit_length() - 1)  # the most rows (a power of two) that fit
    if rows < 2:
        raise ValueError(f"spectra must be 'output' or 'none' for this problem: {cfg.spectra!r} records {per_row} singular "
                         f"values at a time, and a record keeps two rows at least (at most {MAX_SPECTRUM_VALUES} values)")
    least = -(-cfg.steps // (rows - 1))  # rows - 1 chunks and the final point
    raise ValueError(f"log_every must be >= {least} to record spectra = {cfg.spectra!r} of this problem over {cfg.steps} "
                     f"steps ({per_row} singular values a record, at most {MAX_SPECTRUM_VALUES} kept on the device), "
                     f"got {cfg.log_every}")


# the SolverConfig fields that shape the compiled program (its ProgramKey): the runs of one batch must share them
PROGRAM_KEY_FIELDS = ("optimizer", "log_every", "matmul_precision", "spectra")


class ProgramKey(NamedTuple):
    """The static part of a batch's solver settings: the compiled program is specialised (and cached) on it; the rest of a
    :class:`SolverConfig` is :class:`ProgramInputs`.

    ``optimizer`` (a different computation), ``chunk`` (the length of the
    inner ``lax.scan``: ``log_every``, or the step limit rounded up to a power
    of two when that is smaller), ``capacity`` (rows of the history array on
    the device: one per chunk and the final point, rounded up to a power of
    two so that step limits of one octave share a program) and ``matmul_precision``
    of float32 products, ``spectra`` (the singular values recorded). A
    batch's program comes from its largest step limit; every member stops at
    its own.
    """

    optimizer: str
    chunk: int
    capacity: int
    matmul_precision: str
    spectra: str

    @classmethod
    def of(cls, cfgs) -> "ProgramKey":
        cfgs = list(cfgs)
        first = cfgs[0]
        for c in cfgs[1:]:
            for name in PROGRAM_KEY_FIELDS:
                if getattr(c, name) != getattr(first, name):
                    raise ValueError(f"the runs of one batch must share {name} (it shapes the compiled program), got "
                                     f"{getattr(first, name)!r} and {getattr(c, name)!r}")
        steps = max(c.steps for c in cfgs)
        return cls(first.optimizer, chunk_length(steps, first.log_every), history_rows(steps, first.log_every), first.matmul_precision,
                   first.spectra)


def nc1_history(params: Params, arch: Architecture):
    """:func:`dufm.analysis.collapse.nc1_trace` of sigma(H_l) for l = 1..L, shape (L,) (on device, jittable)."""
    _, H = forward(params, arch)
    Y = jnp.asarray(labels(arch))
    counts = jnp.asarray(arch.counts, Y.dtype)
    out = []
    for F in post_activation(H, arch):
        M = (F @ Y.T) / counts
        within = jnp.sum((F - M @ Y) ** 2) / arch.samples
        out.append(nc1_trace(within, M - jnp.mean(F, axis=1, keepdims=True)))
    return jnp.stack(out)


def spectra_of(params: Params, arch: Architecture, which: str) -> dict:
    """Name -> singular values (descending) of each matrix ``which`` records (:func:`dufm.model.objective.spectrum_matrices`); jittable."""
    return {k: jnp.linalg.svd(m, compute_uv=False) for k, m in spectrum_matrices(params, arch, which).items()}


class History(NamedTuple):
    """The trajectory, one entry per ``log_every`` steps plus the final point.

    ``step`` (T,), ``loss`` (T,), ``grad_norm`` (T,) and ``nc1`` (T, L):
    :func:`nc1_history` of every layer's input features; ``sv``: name -> (T, r)
    singular values of the matrices ``SolverConfig.spectra`` records (names
    and order of :func:`dufm.analyse`, r = min of the matrix's
    shape; empty when none are recorded). Inside :class:`Output` the arrays
    are NaN-padded to the longest possible run; in :class:`Run` the padding
    is dropped and ``step`` is an integer array.
    """

    step: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    nc1: jax.Array
    sv: dict = {}  # never mutated: a shared empty default is safe


class Output(NamedTuple):
    """What the compiled program returns (arrays; a leading batch axis in a batch).

    ``params`` at the final point, ``status`` the integer code of a
    :class:`Status`, ``steps`` the updates applied (or the step of
    divergence), ``loss`` and ``grad_norm`` at the final point, ``history``.
    """

    params: Params
    status: jax.Array
    steps: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    history: History


def _where(pred, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), new, old)


def run(params0: Params, decays: Decays, arch: Architecture, cfg: SolverConfig) -> Output:
    """Solve from ``params0``; pure and jittable with ``arch`` and ``cfg`` static (:func:`run_traced` with ``cfg``'s numbers).

    A ``cfg.tol`` of None is resolved from the decays (:meth:`SolverConfig.resolved`), which must then be concrete.
    """
    if cfg.tol is None:
        if any(isinstance(a, jax.core.Tracer) for a in decays):
            raise ValueError("tol must be given when run is traced over the decays (its default depends on them)")
        cfg = cfg.resolved(arch.dtype, finite_optimum(arch.loss, np.append(np.ravel(decays.H), np.ravel(decays.W))))
    return run_traced(params0, decays, ProgramInputs.of(cfg, arch.dtype), arch, ProgramKey.of([cfg]))


def run_traced(params0: Params, decays: Decays, inputs: ProgramInputs, arch: Architecture, key: ProgramKey) -> Output:
    """Solve from ``params0`` with the numbers ``inputs`` (traced or not); pure and jittable with ``arch``, ``key`` static.

    The history has ``key.capacity`` rows (NaN after the run's last).

    Each chunk of ``log_every`` steps first runs as a plain ``lax.scan`` of
    unconditional updates that records the loss and gradient norm seen at
    every step; the stop rules are then applied to those records at once. If
    one of them fires at chunk step k, the chunk is recomputed from its start
    with exactly k updates. This gives the same end point, step count and
    status as checking (and freezing) at every step, without a per-step
    select over the whole parameter and optimiser-state tree (which costs a
    full extra pass over memory per step for wide problems); the recomputation
    happens once per run, at most ``log_every`` extra steps.
    """
    # the products' precision is fixed when the program is traced; float64 products are always full
    with jax.default_matmul_precision(key.matmul_precision) if arch.dtype == "float32" else contextlib.nullcontext():
        f = lambda p: objective(p, decays, arch)  # noqa: E731
        opt = _transformation(key.optimizer, inputs)
        lbfgs = key.optimizer == "lbfgs"
        value_and_grad = optax.value_and_grad_from_state(f) if lbfgs else jax.value_and_grad(f)
        state0 = opt.init(params0)
        loss0 = f(params0)
        dtype = loss0.dtype
        limit = jnp.asarray(inputs.divergence_factor, dtype) * (jnp.abs(loss0) + 1.0)
        tol, steps = jnp.asarray(inputs.tol, dtype), jnp.asarray(inputs.steps, jnp.int32)
        threshold = jnp.asarray(inputs.loss_threshold, dtype)
        chunk_len = key.chunk
        n_chunks = (steps + chunk_len - 1) // chunk_len
        RUNNING, CONVERGED, MAX_STEPS, DIVERGED, REACHED = (s.code for s in (Status.RUNNING, Status.CONVERGED, Status.MAX_STEPS,
                                                                              Status.DIVERGED, Status.LOSS_THRESHOLD))

        def evaluate(params, state):
            value, grad = value_and_grad(params, state=state) if lbfgs else value_and_grad(params)
            return value, grad, gradient_norm(grad)

        def decide(status, value, gnorm, t):
            """Stop rule (module docstring); elementwise, so it also takes a chunk's records at once."""
            bad = ~jnp.isfinite(value) | ~jnp.isfinite(gnorm) | (value > limit)
            new = jnp.where(bad, DIVERGED, jnp.where(gnorm <= tol, CONVERGED, jnp.where(
                value <= threshold, REACHED, jnp.where(t >= steps, MAX_STEPS, RUNNING))))
            return jnp.where(status == RUNNING, new, status)

        def step(ps, _):
            """One unconditional optimiser update; also returns the loss and gradient norm it started from."""
            params, state = ps
            value, grad, gnorm = evaluate(params, state)
            if lbfgs:
                updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)
            else:
                updates, state = opt.update(grad, state, params)
            return (optax.apply_updates(params, updates), state), (value, gnorm)

        def chunk(loop):
            c, (params, state, t0, status), hist, hnc, hsv = loop
            running = status == RUNNING
            nc1 = nc1_history(params, arch)
            sv = spectra_of(params, arch, key.spectra)
            fast, (values, gnorms) = jax.lax.scan(step, (params, state), None, length=chunk_len)
            codes = decide(jnp.asarray(RUNNING, status.dtype), values, gnorms, t0 + jnp.arange(chunk_len, dtype=t0.dtype))
            stopped = codes != RUNNING
            stop = jnp.any(stopped)
            k = jnp.argmax(stopped).astype(t0.dtype)  # first step at which a rule fired (0 if none did)
            redo = lambda: jax.lax.fori_loop(0, k, lambda i, ps: step(ps, None)[0], (params, state))  # noqa: E731
            new = jax.lax.cond(stop, redo, lambda: fast)
            # a member that had already stopped (possible under vmap) keeps its carry
            new_params, new_state = _where(running, new, (params, state))
            t = jnp.where(running, t0 + jnp.where(stop, k, chunk_len), t0)
            status = jnp.where(running & stop, codes[k], status)
            rec = jnp.where(running, jnp.stack([t0.astype(dtype), values[0], gnorms[0]]), jnp.nan)
            hsv = {name: h.at[c].set(jnp.where(running, sv[name], jnp.nan)) for name, h in hsv.items()}
            return c + 1, (new_params, new_state, t, status), hist.at[c].set(rec), hnc.at[c].set(jnp.where(running, nc1, jnp.nan)), hsv

        def more(loop):
            c, carry = loop[:2]
            return (c < n_chunks) & (carry[3] == RUNNING)

        hist = jnp.full((key.capacity, 3), jnp.nan, dtype)
        hnc = jnp.full((key.capacity, arch.depth), jnp.nan, dtype)
        hsv = {k: jnp.full((key.capacity, r), jnp.nan, dtype) for k, r in spectrum_sizes(arch, key.spectra).items()}
        carry = (params0, state0, jnp.asarray(0, jnp.int32), jnp.asarray(RUNNING, jnp.int32))
        c, (params, state, t, status), hist, hnc, hsv = jax.lax.while_loop(more, chunk, (0, carry, hist, hnc, hsv))
        value, _, gnorm = evaluate(params, state)
        status = decide(status, value, gnorm, jnp.maximum(t, steps))
        # a stop seen at the first step of a chunk was already recorded there: overwrite, do not repeat
        last = jnp.where((c > 0) & (hist[jnp.maximum(c - 1, 0), 0] == t), c - 1, c)
        hist = hist.at[last].set(jnp.stack([t.astype(dtype), value, gnorm]))
        hnc = hnc.at[last].set(nc1_history(params, arch))
        sv = spectra_of(params, arch, key.spectra)
        hsv = {name: h.at[last].set(sv[name]) for name, h in hsv.items()}
        return Output(params, status, t, value, gnorm, History(hist[:, 0], hist[:, 1], hist[:, 2], hnc, hsv))


@functools.lru_cache(maxsize=64)
def _batch_program(arch: Architecture, key: ProgramKey, batching: str, devices: tuple):
    """:func:`run_traced` compiled over a batch of ``(params0, decays, inputs)`` (:func:`dufm.solving.programs.batch_program`)."""
    return batch_program(functools.partial(run_traced, arch=arch, key=key), batching, devices, name="solver")


@dataclass(frozen=True, eq=False)
class Run:
    """One finished run, as host (numpy) data. ``loss``, ``grad_norm`` and ``params`` are None for a diverged run.

    ``seed`` is the seed of its initialisation (None when :func:`run_many`
    was given the starting points without seeds), ``decays`` its weight
    decays, ``device`` the JAX device that computed it.
    """

    seed: int | None
    status: Status
    steps: int
    loss: float | None
    grad_norm: float | None
    params: Params | None
    history: History
    decays: Decays
    device: str = ""

    @property
    def diverged(self) -> bool:
        return self.status == Status.DIVERGED


def layout(arch: Architecture, cfg: SolverConfig, size: int, batching: str = "auto", devices=None):
    """The devices and batching a batch of ``size`` runs uses, once it is known to fit them (a ValueError if not).

    Checks the batch's size against the solver's limits and its memory
    estimate against what the devices have free (:func:`dufm.solving.budget.check_memory`).
    """
    devices = list(devices) if devices is not None else jax.local_devices()
    batching = resolve_batching(batching, devices[0].platform)
    if size * arch.parameter_count > MAX_BATCH_PARAMETERS:
        raise ValueError(f"runs x parameters must be <= {MAX_BATCH_PARAMETERS}, got {size} x {arch.parameter_count}")
    check_history(arch, cfg)
    check_memory(arch, cfg.optimizer, cfg.steps, cfg.log_every, size, batching, devices, cfg.spectra)
    return devices, batching


@float64
def run_many(params0: Params, decays: Decays, arch: Architecture, cfg: SolverConfig | Sequence[SolverConfig], *, seeds=None,
             pad_to: int | None = None, batching: str = "auto", devices=None) -> list[Run]:
    """Run a batch of solves from the starting points ``params0`` as one compiled program; one :class:`Run` each.

    ``params0`` carries a leading batch axis B on every leaf; ``decays`` too
    (one row per run), or is unbatched (every run gets the same). ``seeds``
    (B labels) are recorded in the runs. ``pad_to`` pads the batch (with
    copies of its last member, dropped from the result) so that batches of
    one group share a compiled program. The batch is split evenly over
    ``devices`` (default: every local device of the default backend) with a
    1-D mesh on the batch axis, padded to a multiple of the device count;
    ``batching`` says how each device runs its members (see
    :func:`dufm.solving.programs.resolve_batching`). Each member's result is that of
    :func:`run` alone (up to the last bits of float arithmetic, whatever the
    number of devices).

    ``cfg`` is one :class:`SolverConfig` for every run, or one per run: their
    numbers (:class:`ProgramInputs`: lr, tol, loss threshold, steps, momentum, divergence factor) are
    inputs of the program and may differ; what shapes it (:class:`ProgramKey`:
    optimiser, ``log_every``, matrix-product precision, spectra) must not. The initialisation fields are
    not used (the starts are given).
    """
    B = int(np.shape(params0.H)[0])
    cfgs = [cfg] * B if isinstance(cfg, SolverConfig) else list(cfg)
    if len(cfgs) != B or not all(isinstance(c, SolverConfig) for c in cfgs):
        raise ValueError(f"cfg must be one SolverConfig or one per run ({B}), got {len(cfgs)} item(s)")
    key = ProgramKey.of(cfgs)
    if seeds is not None and len(seeds) != B:
        raise ValueError(f"seeds must give one seed per run ({B}), got {len(seeds)}")
    if np.ndim(decays.H) == 0:
        decays = decays.broadcast(B)
    decays = Decays(*(np.asarray(a, arch.dtype) for a in decays)).check_batch(B, arch.depth, arch.bias)
    # a run's default tolerance depends on its own decays (module docstring)
    cfgs = [c.resolved(arch.dtype, finite_optimum(arch.loss, np.append(decays.H[i], decays.W[i]))) for i, c in enumerate(cfgs)]
    size = max(B, pad_to or B)
    devices, batching = layout(arch, max(cfgs, key=lambda c: c.steps), size, batching, devices)
    devices = batch_devices(devices, size)
    inputs = ProgramInputs.stack(cfgs, arch.dtype)
    out, where = call_batch(_batch_program(arch, key, batching, devices), (params0, decays, inputs), (), size, devices)
    out = jax.device_get(out)
    runs = []
    for i in range(B):
        status = Status.from_code(out.status[i])
        keep = ~np.isnan(out.history.step[i])
        h = History(out.history.step[i][keep].astype(int), out.history.loss[i][keep], out.history.grad_norm[i][keep],
                    out.history.nc1[i][keep], {k: out.history.sv[k][i][keep] for k in spectrum_sizes(arch, key.spectra)})
        ok = status != Status.DIVERGED
        runs.append(Run(
            seed=None if seeds is None else int(seeds[i]), status=status, steps=int(out.steps[i]),
            loss=float(out.loss[i]) if ok else None, grad_norm=float(out.grad_norm[i]) if ok else None,
            params=out.params.member(i) if ok else None, history=h, decays=Decays(*(np.asarray(a[i]) for a in decays)),
            device=where[i],
        ))
    return runs


def initial_params(problem: Problem, seeds, cfg: SolverConfig) -> Params:
    """Batched initial parameters, one per seed (leading axis = seeds): :func:`dufm.model.init.starts`."""
    return starts(problem.architecture, seeds, [cfg.init_scales()] * len(seeds), cfg.init)


def check_seeds(seeds) -> list[int]:
    """``seeds`` as a list of ints, each in [0, 2^32); at least one."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    if min(seeds) < 0 or max(seeds) >= 2**32:
        raise ValueError(f"seed must be an integer in [0, 2^32), got {min(seeds) if min(seeds) < 0 else max(seeds)}")
    return seeds


@float64
def solve(problem: Problem, cfg: SolverConfig | None = None, seeds=(0,), decays: Decays | None = None,
          batching: str = "auto", devices=None) -> list[Run]:
    """Solve ``problem`` from random initialisations, one run per seed, all in one compiled program.

    ``decays`` optionally gives per-run weight decays (a :class:`Decays`
    whose arrays have a leading axis of len(seeds)); by default every run
    uses the problem's. ``batching`` and ``devices`` lay the batch out
    (:func:`run_many`; the result does not depend on them beyond the last
    bits of float arithmetic). Returns one :class:`Run` per seed, in order.
    """
    cfg = cfg or SolverConfig()  # run_many resolves a default tol from each run's decays
    seeds = check_seeds(seeds)
    layout(problem.architecture, cfg, len(seeds), batching, devices)  # before any memory is spent on the starts
    params0 = initial_params(problem, seeds, cfg)
    return run_many(params0, problem.decays if decays is None else decays, problem.architecture, cfg, seeds=seeds,
                    batching=batching, devices=devices)
