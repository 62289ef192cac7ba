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

import functools
from dataclasses import dataclass
from typing import Sequence

import jax
import numpy as np

from ..model.init import starts
from ..model.objective import spectrum_sizes
from ..model.problem import Architecture, Decays, Params, Problem, finite_optimum
from ..runtime import float64
from .budget import check_memory
from .config import (  # noqa: F401  (the solver's settings, re-exported: dufm.solving.solver is where users meet them)
    DEFAULT_TOL,
    MAX_BATCH_PARAMETERS,
    MAX_SPECTRUM_VALUES,
    OPTIMIZERS,
    PROGRAM_KEY_FIELDS,
    ProgramInputs,
    ProgramKey,
    SolverConfig,
    Status,
    check_history,
    check_precision,
)
from .descent import descend
from .history import History, Output, nc1_history, spectra_of  # noqa: F401
from .programs import batch_devices, batch_program, call_batch, resolve_batching


def run(params0: Params, decays: Decays, arch: Architecture, cfg: SolverConfig) -> Output:
    """Solve from ``params0``; pure and jittable with ``arch`` and ``cfg`` static (:func:`run_traced` with ``cfg``'s numbers).

    A ``cfg.tol`` of None is resolved from the decays (:meth:`SolverConfig.resolved`), which must then be concrete.
    """
    if cfg.tol is None:
        if any(isinstance(a, jax.core.Tracer) for a in decays):
            raise ValueError("tol must be given when run is traced over the decays (its default depends on them)")
        cfg = cfg.resolved(arch.dtype, finite_optimum(arch.loss, np.append(np.ravel(decays.H), np.ravel(decays.W)), arch.smoothing))
    return run_traced(params0, decays, ProgramInputs.of(cfg, arch.dtype), arch, ProgramKey.of([cfg]))


def run_traced(params0: Params, decays: Decays, inputs: ProgramInputs, arch: Architecture, key: ProgramKey) -> Output:
    """Solve from ``params0`` with the numbers ``inputs`` (traced or not); pure and jittable with ``arch``, ``key`` static:
    gradient flow (:func:`dufm.solving.flow.integrate`) or an optax optimiser's descent (:func:`dufm.solving.descent.descend`).
    The history has ``key.capacity`` rows (NaN after the run's last)."""
    if key.optimizer == "flow":
        from .flow import integrate  # diffrax takes a third of a second to import; only the flow needs it

        return integrate(params0, decays, inputs, arch, key)
    return descend(params0, decays, inputs, arch, key)


@functools.lru_cache(maxsize=64)
def _batch_program(arch: Architecture, key: ProgramKey, batching: str, devices: tuple):
    """:func:`run_traced` compiled over a batch of ``(params0, decays, inputs)`` (:func:`dufm.solving.programs.batch_program`)."""
    # lineax's linear solves (the flow's Newton) do not run inside shard_map: the flow's batch is split by device calls
    return batch_program(functools.partial(run_traced, arch=arch, key=key), batching, devices, name="solver",
                         mesh=key.optimizer != "flow")


@dataclass(frozen=True, eq=False)
class Run:
    """One finished run, as host (numpy) data. ``loss``, ``grad_norm`` and ``params`` are None for a diverged run.

    ``seed`` is the seed of its initialisation (None when :func:`run_many`
    was given the starting points without seeds), ``decays`` its weight
    decays, ``device`` the JAX device that computed it; a gradient flow's
    ``time`` reached and ``rejected`` steps (``steps`` are its accepted ones),
    None for the optimisers.
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
    time: float | None = None
    rejected: int | None = None

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
    check_precision(arch, cfg)
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
    cfgs = [c.resolved(arch.dtype, finite_optimum(arch.loss, np.append(decays.H[i], decays.W[i]), arch.smoothing)) for i, c in enumerate(cfgs)]
    size = max(B, pad_to or B)
    devices, batching = layout(arch, max(cfgs, key=lambda c: c.steps), size, batching, devices)
    devices = batch_devices(devices, size)
    inputs = ProgramInputs.stack(cfgs, arch.dtype)
    out, where = call_batch(_batch_program(arch, key, batching, devices), (params0, decays, inputs), (), size)
    out = jax.device_get(out)
    runs = []
    for i in range(B):
        status = Status.from_code(out.status[i])
        keep = ~np.isnan(out.history.step[i])
        flow = key.optimizer == "flow"
        h = History(out.history.step[i][keep].astype(int), out.history.loss[i][keep], out.history.grad_norm[i][keep],
                    out.history.nc1[i][keep], {k: out.history.sv[k][i][keep] for k in spectrum_sizes(arch, key.spectra)},
                    out.history.time[i][keep] if flow else None, out.history.sharpness[i][keep] if key.sharpness else None)
        ok = status != Status.DIVERGED
        runs.append(Run(
            seed=None if seeds is None else int(seeds[i]), status=status, steps=int(out.steps[i]),
            loss=float(out.loss[i]) if ok else None, grad_norm=float(out.grad_norm[i]) if ok else None,
            params=out.params.member(i) if ok else None, history=h, decays=Decays(*(np.asarray(a[i]) for a in decays)),
            device=where[i], time=float(out.time[i]) if flow else None, rejected=int(out.rejected[i]) if flow else None,
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
