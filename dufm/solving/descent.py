"""Descent: an optax optimiser's steps inside one ``lax.while_loop`` / ``lax.scan`` program (:func:`descend`).

One run is an outer ``lax.while_loop`` over chunks of ``log_every`` steps,
each chunk a ``lax.scan``; the loss, gradient norm, NC1 and (``spectra``) the
singular values at the start of every chunk are written into the history
(:mod:`dufm.solving.history`). The stop rules are :mod:`dufm.solving.solver`'s.

Optimisers are optax transformations: ``gd`` = ``optax.sgd(lr)`` (plain
full-batch gradient descent, as in the papers), ``momentum`` =
``optax.sgd(lr, momentum)`` (heavy ball), ``adam`` = ``optax.adam(lr)``,
``lbfgs`` = ``optax.lbfgs`` with its zoom line search (``lr`` is not used: the
line search picks the step), ``backtracking`` = gradient descent whose step
adapts: each step starts from 1.5 times the last accepted one (at most
``lr``) and is shortened by 0.8 until the loss decreases enough (Armijo,
``optax.scale_by_backtracking_linesearch``), so it never diverges where a
fixed step would, and lengthens again where the landscape allows. ``gd``
stays the papers' fixed step.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import optax

from ..model.objective import gradient_norm, objective
from ..model.problem import Architecture, Decays, Params
from .config import ProgramInputs, ProgramKey, Status
from .history import Output, history_of, recorder, write

# the Armijo search: at most BACKTRACKING_STEPS shortenings by 0.8 a step (a factor 1.5e-6 in all)
BACKTRACKING_STEPS = 60


def _transformation(name: str, inputs: "ProgramInputs") -> optax.GradientTransformation:
    """The optax transformation ``name`` with the (possibly traced) numbers of ``inputs``."""
    if name == "gd":
        return optax.sgd(inputs.lr)
    if name == "momentum":
        return optax.sgd(inputs.lr, momentum=inputs.momentum)
    if name == "adam":
        return optax.adam(inputs.lr)
    if name == "backtracking":
        return optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(
            max_backtracking_steps=BACKTRACKING_STEPS, max_learning_rate=inputs.lr, store_grad=True))
    return optax.lbfgs()


def _where(pred, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), new, old)



def descend(params0: Params, decays: Decays, inputs: ProgramInputs, arch: Architecture, key: ProgramKey) -> Output:
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
        lbfgs = key.optimizer in ("lbfgs", "backtracking")  # a line search: the value and gradient come from its state
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
            c, (params, state, t0, status), rec = loop
            running = status == RUNNING
            fast, (values, gnorms) = jax.lax.scan(step, (params, state), None, length=chunk_len)
            # the chunk's first point, recorded with the loss and gradient norm the scan saw there
            rec = write(rec, c, params, t0, values[0], gnorms[0], decays, arch, key, keep=running)
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
            return c + 1, (new_params, new_state, t, status), rec

        def more(loop):
            c, carry = loop[:2]
            return (c < n_chunks) & (carry[3] == RUNNING)

        carry = (params0, state0, jnp.asarray(0, jnp.int32), jnp.asarray(RUNNING, jnp.int32))
        rec0 = recorder(params0, arch, key, dtype, timed=False)
        c, (params, state, t, status), rec = jax.lax.while_loop(more, chunk, (0, carry, rec0))
        value, _, gnorm = evaluate(params, state)
        status = decide(status, value, gnorm, jnp.maximum(t, steps))
        # a stop seen at the first step of a chunk was already recorded there: overwrite, do not repeat
        last = jnp.where((c > 0) & (rec.rows[jnp.maximum(c - 1, 0), 0] == t), c - 1, c)
        rec = write(rec, last, params, t, value, gnorm, decays, arch, key)
        return Output(params, status, t, value, gnorm, history_of(rec), jnp.asarray(jnp.nan, dtype), jnp.asarray(0, jnp.int32))
