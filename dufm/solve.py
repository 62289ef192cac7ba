"""Compiled solvers: optax optimisers inside one ``lax.while_loop`` / ``lax.scan`` program.

One run is one compiled program: an outer ``lax.while_loop`` over chunks of
``log_every`` steps, each chunk a ``lax.scan``; the loss and gradient norm at
the start of every chunk are written into a history array on the device.
There is no Python and no host synchronisation per step.

Every step evaluates the loss and the full gradient at the current point and
then decides, in this order:

1. ``diverged``  if the loss or the gradient norm is not finite, or the loss
   exceeds ``divergence_factor * (|initial loss| + 1)``;
2. ``converged`` if ||grad|| <= ``tol``;
3. ``max_steps`` if ``steps`` updates have been applied;
4. otherwise the optimiser's update is applied.

(The rules are applied to a whole chunk's records at once and the stopping
chunk is recomputed up to the stop; see :func:`run`.) A run that has stopped
is frozen (its parameters and optimiser state no longer change), which is
what makes batching exact: every member of a batch follows the same
arithmetic as when it runs alone. ``steps`` reported is the number of updates
applied; a diverged run reports the step at which the non-finite (or
exploding) value was seen.

A batch of runs (seeds, lambdas, init scales) is one compiled program
(:func:`run_batch`): split over the local devices (a 1-D mesh on the batch
axis, ``shard_map``), and on each device either ``vmap``-ped into batched
matrix products (GPU/TPU) or run member after member with ``lax.map``
(CPU, where unbatched products are faster and no member waits for the
slowest). ``dufm`` makes every CPU core a JAX device (see ``dufm/__init__.py``).

Optimisers are optax transformations: ``gd`` = ``optax.sgd(lr)`` (plain
full-batch gradient descent, as in the papers), ``momentum`` =
``optax.sgd(lr, momentum)`` (heavy ball), ``adam`` = ``optax.adam(lr)``,
``lbfgs`` = ``optax.lbfgs`` with its zoom line search (``lr`` is not used: the
line search picks the step).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .init import INITS, initialise
from .objective import forward, gradient_norm, labels, objective, post_activation
from .problem import Architecture, Decays, Problem

OPTIMIZERS = ("gd", "momentum", "adam", "lbfgs")
DEFAULT_TOL = {"float64": 1e-10, "float32": 1e-5}
MAX_STEPS_LIMIT = 2**31 - 1
MAX_HISTORY = 1_000_000
MAX_BATCH_PARAMETERS = 2**31
RUNNING, CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2, 3
STATUS = {CONVERGED: "converged", MAX_STEPS: "max_steps", DIVERGED: "diverged", RUNNING: "running"}


def _positive(name, value, allow_zero=False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")


@dataclass(frozen=True)
class SolverConfig:
    """How to solve: optimiser, step size, step limit, stopping tolerance, initialisation.

    ``tol`` is on the Euclidean norm of the full gradient; None (the default)
    means 1e-10 in float64 and 1e-5 in float32 (:meth:`resolved`). ``init_scale`` is the
    standard deviation of the Gaussian initialisation (or the scale of the
    orthogonal one). ``log_every`` is the history interval in steps.
    """

    optimizer: str = "gd"
    lr: float = 0.5
    steps: int = 100_000
    tol: float | None = None
    init_scale: float = 0.1
    init: str = "gaussian"
    momentum: float = 0.9
    log_every: int = 100
    divergence_factor: float = 1e12

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        _positive("lr", self.lr)
        for name in ("steps", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.steps > MAX_STEPS_LIMIT:
            raise ValueError(f"steps must be an integer <= {MAX_STEPS_LIMIT}, got {self.steps}")
        if self.steps // self.log_every > MAX_HISTORY:
            raise ValueError(f"log_every must be >= steps / {MAX_HISTORY} (the history is kept on the device), got {self.log_every}")
        if self.tol is not None:
            _positive("tol", self.tol, allow_zero=True)
        _positive("init_scale", self.init_scale)
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
        m = self.momentum
        if not (isinstance(m, (int, float)) and math.isfinite(m) and 0 <= m < 1):
            raise ValueError(f"momentum must be a number in [0, 1), got {m!r}")
        _positive("divergence_factor", self.divergence_factor)

    def to_dict(self) -> dict:
        return asdict(self)

    def resolved(self, dtype: str) -> "SolverConfig":
        """This config with ``tol`` filled in for ``dtype`` when it is None."""
        return self if self.tol is not None else replace(self, tol=DEFAULT_TOL[dtype])


def optimizer(cfg: SolverConfig) -> optax.GradientTransformation:
    """The optax transformation named by ``cfg.optimizer``."""
    if cfg.optimizer == "gd":
        return optax.sgd(cfg.lr)
    if cfg.optimizer == "momentum":
        return optax.sgd(cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return optax.adam(cfg.lr)
    return optax.lbfgs()


def nc1_trace(params, arch: Architecture):
    """Tr Sigma_W / Tr Sigma_B of sigma(H_l) for l = 1..L, shape (L,) (on device, jittable)."""
    _, H = forward(params, arch)
    Y = jnp.asarray(labels(arch))
    counts = jnp.asarray(arch.counts, Y.dtype)
    out = []
    for F in post_activation(H, arch):
        M = (F @ Y.T) / counts
        within = jnp.sum((F - M @ Y) ** 2) / arch.samples
        between = jnp.sum((M - jnp.mean(F, axis=1, keepdims=True)) ** 2) / arch.classes
        out.append(within / between)
    return jnp.stack(out)


def _where(pred, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), new, old)


def run(params0, decays: Decays, arch: Architecture, cfg: SolverConfig) -> dict:
    """Solve from ``params0``; pure and jittable with ``arch`` and ``cfg`` static.

    Returns a dict of arrays: ``params`` (final), ``status`` (int code, see
    ``STATUS``), ``steps`` (updates applied, or the step of divergence),
    ``loss`` and ``grad_norm`` at the final point, and ``history_step``,
    ``history_loss``, ``history_grad_norm`` (NaN-padded, one entry per
    ``log_every`` steps plus the final point) and ``history_nc1`` (same
    entries, shape (T, L): :func:`nc1_trace` of every layer's input features).

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
    if cfg.tol is None:
        cfg = cfg.resolved(arch.dtype)
    f = lambda p: objective(p, decays, arch)  # noqa: E731
    opt = optimizer(cfg)
    lbfgs = cfg.optimizer == "lbfgs"
    value_and_grad = optax.value_and_grad_from_state(f) if lbfgs else jax.value_and_grad(f)
    state0 = opt.init(params0)
    loss0 = f(params0)
    limit = cfg.divergence_factor * (jnp.abs(loss0) + 1.0)
    chunk_len = min(cfg.log_every, cfg.steps)
    n_chunks = -(-cfg.steps // chunk_len)
    dtype = loss0.dtype

    def evaluate(params, state):
        value, grad = value_and_grad(params, state=state) if lbfgs else value_and_grad(params)
        return value, grad, gradient_norm(grad)

    def decide(status, value, gnorm, t):
        """Stop rule (module docstring); elementwise, so it also takes a chunk's records at once."""
        bad = ~jnp.isfinite(value) | ~jnp.isfinite(gnorm) | (value > limit)
        new = jnp.where(bad, DIVERGED, jnp.where(gnorm <= cfg.tol, CONVERGED, jnp.where(t >= cfg.steps, MAX_STEPS, RUNNING)))
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
        c, (params, state, t0, status), hist, hnc = loop
        running = status == RUNNING
        nc1 = nc1_trace(params, arch)
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
        return c + 1, (new_params, new_state, t, status), hist.at[c].set(rec), hnc.at[c].set(jnp.where(running, nc1, jnp.nan))

    def more(loop):
        c, carry, _, _ = loop
        return (c < n_chunks) & (carry[3] == RUNNING)

    hist = jnp.full((n_chunks + 1, 3), jnp.nan, dtype)
    hnc = jnp.full((n_chunks + 1, arch.depth), jnp.nan, dtype)
    carry = (params0, state0, jnp.asarray(0, jnp.int32), jnp.asarray(RUNNING, jnp.int32))
    c, (params, state, t, status), hist, hnc = jax.lax.while_loop(more, chunk, (0, carry, hist, hnc))
    value, _, gnorm = evaluate(params, state)
    status = decide(status, value, gnorm, jnp.maximum(t, cfg.steps))
    # a stop seen at the first step of a chunk was already recorded there: overwrite, do not repeat
    last = jnp.where((c > 0) & (hist[jnp.maximum(c - 1, 0), 0] == t), c - 1, c)
    hist = hist.at[last].set(jnp.stack([t.astype(dtype), value, gnorm]))
    hnc = hnc.at[last].set(nc1_trace(params, arch))
    return {
        "params": params,
        "status": status,
        "steps": t,
        "loss": value,
        "grad_norm": gnorm,
        "history_step": hist[:, 0],
        "history_loss": hist[:, 1],
        "history_grad_norm": hist[:, 2],
        "history_nc1": hnc,
    }


_run_single = jax.jit(run, static_argnums=(2, 3))

BATCHING = ("auto", "vmap", "map")
BATCH_AXIS = "batch"


def resolve_batching(batching: str = "auto", platform: str | None = None) -> str:
    """``"vmap"`` or ``"map"`` for ``batching``; ``"auto"`` is ``"map"`` on CPU and ``"vmap"`` elsewhere.

    ``vmap`` turns a batch of runs into batched matrix products (what a GPU
    wants); ``map`` (``lax.map``) runs the members one after another inside
    the same compiled program, each with its own stopping loop: on CPU that is
    faster per run (unbatched products; no member waits for the slowest one).
    """
    if batching not in BATCHING:
        raise ValueError(f"batching must be one of {', '.join(BATCHING)}; got {batching!r}")
    if batching != "auto":
        return batching
    return "map" if (platform or jax.default_backend()) == "cpu" else "vmap"


@functools.lru_cache(maxsize=64)
def _batch_program(arch: Architecture, cfg: SolverConfig, batching: str, mesh):
    """Jitted ``(params0, decays) -> run outputs`` over a leading batch axis; sharded over ``mesh`` if given."""

    def one(p, d):
        return run(p, d, arch, cfg)

    if batching == "vmap":
        local = jax.vmap(one)
    else:
        local = lambda p, d: jax.lax.map(lambda x: one(*x), (p, d))  # noqa: E731
    if mesh is None:
        return jax.jit(local)
    # no collectives inside: every device runs its own members independently
    spec = P(BATCH_AXIS)
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(spec, spec), out_specs=spec, check_vma=False))


def pad_batch(tree, size: int):
    """Pad every leaf's leading (batch) axis to ``size`` by repeating its last entry."""
    def pad(a):
        n = a.shape[0]
        return a if n == size else jnp.concatenate([a, jnp.repeat(a[-1:], size - n, axis=0)])

    return jax.tree_util.tree_map(pad, tree)


def run_batch(params0, decays: Decays, arch: Architecture, cfg: SolverConfig, batching: str = "auto", devices=None) -> dict:
    """Run a batch of problems (leading axis B on every leaf of ``params0`` and ``decays``) as one program.

    The batch is split evenly over ``devices`` (default: every local device of
    the default backend) with a 1-D mesh on the batch axis, padded with copies
    of its last member to a multiple of the device count; the padding is
    dropped from the outputs. Each member's result is that of :func:`run`
    alone (up to the last bits of float arithmetic, whatever the number of
    devices). Returns :func:`run`'s dict with a leading axis B on every array.
    """
    devices = list(devices) if devices is not None else jax.local_devices()
    batching = resolve_batching(batching, devices[0].platform)
    B = jax.tree_util.tree_leaves(params0)[0].shape[0]
    devices = devices[:B]  # fewer members than devices: no device computes padding only
    if len(devices) == 1:
        with jax.default_device(devices[0]):
            return _batch_program(arch, cfg, batching, None)(params0, decays)
    size = -(-B // len(devices)) * len(devices)
    mesh = Mesh(np.array(devices), (BATCH_AXIS,))
    sharding = NamedSharding(mesh, P(BATCH_AXIS))
    params0, decays = jax.device_put((pad_batch(params0, size), pad_batch(Decays(*map(jnp.asarray, decays)), size)), sharding)
    out = _batch_program(arch, cfg, batching, mesh)(params0, decays)
    return jax.tree_util.tree_map(lambda a: a[:B], out)


def initial_params(problem: Problem, seeds, cfg: SolverConfig):
    """Batched initial parameters, one per seed (leading axis = seeds)."""
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    arch = problem.architecture
    return jax.vmap(lambda k: initialise(k, arch, cfg.init_scale, cfg.init))(keys)


@dataclass
class Run:
    """One finished run (numpy arrays). ``loss`` is None for a diverged run."""

    seed: int
    status: str
    steps: int
    loss: float | None
    grad_norm: float | None
    params: dict | None
    history_step: np.ndarray
    history_loss: np.ndarray
    history_grad_norm: np.ndarray
    history_nc1: np.ndarray
    decays: Decays

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"


def _split(out: dict, seeds, decays: Decays) -> list[Run]:
    out = jax.device_get(out)
    runs = []
    for i, seed in enumerate(seeds):
        status = STATUS[int(out["status"][i])]
        keep = ~np.isnan(out["history_step"][i])
        params = jax.tree_util.tree_map(lambda a: np.asarray(a[i]), out["params"])
        dec = Decays(*(np.asarray(a[i]) for a in decays))
        diverged = status == "diverged"
        runs.append(
            Run(
                seed=int(seed),
                status=status,
                steps=int(out["steps"][i]),
                loss=None if diverged else float(out["loss"][i]),
                grad_norm=None if diverged else float(out["grad_norm"][i]),
                params=None if diverged else params,
                history_step=out["history_step"][i][keep].astype(int),
                history_loss=out["history_loss"][i][keep],
                history_grad_norm=out["history_grad_norm"][i][keep],
                history_nc1=out["history_nc1"][i][keep],
                decays=dec,
            )
        )
    return runs


def solve(problem: Problem, cfg: SolverConfig | None = None, seeds=(0,), decays: Decays | None = None,
          batching: str = "auto", devices=None) -> list[Run]:
    """Solve ``problem`` from Gaussian/orthogonal initialisations, one run per seed.

    All seeds run together in one compiled program (:func:`run_batch`:
    ``batching`` and ``devices`` say how it is laid out; the result does not
    depend on them beyond the last bits of float arithmetic). ``decays``
    optionally gives per-run weight decays (a :class:`Decays` whose arrays have
    a leading axis of len(seeds)); by default every run uses the problem's.
    Returns one :class:`Run` per seed, in order.
    """
    cfg = (cfg or SolverConfig()).resolved(problem.dtype)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    if min(seeds) < 0 or max(seeds) >= 2**32:
        raise ValueError(f"seed must be an integer in [0, 2^32), got {min(seeds) if min(seeds) < 0 else max(seeds)}")
    params0 = initial_params(problem, seeds, cfg)
    if decays is None:
        base = problem.decays
        decays = Decays(*(np.broadcast_to(a, (len(seeds),) + a.shape).copy() for a in base))
    else:
        decays = Decays(*(np.asarray(a, problem.dtype) for a in decays))
        S, L = len(seeds), problem.depth
        want = {"H": (S,), "W": (S, L), "b": (S,)}
        for name, a in zip(Decays._fields, decays):
            if a.shape != want[name]:
                raise ValueError(f"decays.{name} must have shape {want[name]} (one row per seed), got {a.shape}")
            if not np.all(np.isfinite(a)) or np.any(a < 0):
                raise ValueError(f"decays.{name} must be finite and >= 0")
        if problem.bias != "regularised" and np.any(decays.b != 0):
            raise ValueError("decays.b must be 0 unless bias is 'regularised'")
    if len(seeds) * problem.parameter_count > MAX_BATCH_PARAMETERS:
        raise ValueError(f"seeds x parameters must be <= {MAX_BATCH_PARAMETERS}, got {len(seeds)} x {problem.parameter_count}")
    out = run_batch(params0, decays, problem.architecture, cfg, batching, devices)
    return _split(out, seeds, decays)
