"""Gradient flow: theta' = -grad F(theta), integrated with error control by a stiff (implicit) Runge-Kutta method.

The deep UFM's gradient flow is stiff: at depth the Hessian's largest
eigenvalue (the sharpness) caps any explicit step near 2 / sharpness, while
weight decay relaxes the slow directions at a rate of order lambda, so a
fixed step needs (sharpness / lambda) steps, 10^7 and more at L = 32.
:func:`integrate` uses diffrax's Kvaerno5 (an ESDIRK method of order 5 with an
embedded error estimate, L-stable), whose stage equations are solved by
Newton's method (optimistix) with matrix-free GMRES (lineax) on
(I - gamma h J) x = b, J = -Hessian applied by Hessian-vector products: no
matrix of the parameters' size is ever formed. diffrax's PID controller keeps
the local error within ``rtol`` / ``atol`` and lets the step grow through the
slow phase; a step whose error estimate or Newton solve fails is rejected and
retried shorter, so the flow never diverges.

The loop is the solver's own (a ``lax.while_loop`` over steps, with
diffrax's ``step`` and ``adapt_step_size``) so that the flow stops by the
same rules as descent (:mod:`dufm.solving.solver`), after every accepted step:
non-finite or exploding loss (``diverged``; also when the step shrinks to
nothing), ``||grad|| <= tol`` (``converged``), ``loss <= loss_threshold``,
``steps`` accepted steps (or twice as many attempts) (``max_steps``), flow
time >= ``max_time``. It records the history every ``log_every`` accepted
steps, with the flow time of each record. ``lr`` is the first step's length.
"""

from __future__ import annotations

import contextlib

import diffrax
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx

from ..model.objective import gradient_norm, objective
from ..model.problem import Architecture, Decays, Params
from .config import ProgramInputs, ProgramKey, Status
from .history import Output, history_of, recorder, write

# GMRES on Newton's linear systems: a residual within GMRES_TOL times the integrator's rtol / atol (lineax measures it
# entry by entry), in cycles of GMRES_RESTART products (lineax checks convergence between cycles, so a long cycle costs
# its full length: 10 halves the flow's time against 40 at K = 10, L = 4, same steps), at most GMRES_CYCLES of them; a
# system it does not solve makes Newton fail, and the step is retried shorter (where the system is better conditioned)
GMRES_TOL = 1e-2
GMRES_RESTART = 10
GMRES_CYCLES = 40


def linear_solver(inputs: ProgramInputs) -> lx.AbstractLinearSolver:
    """GMRES for Newton's systems (I - gamma h J) x = b, applied by Hessian-vector products (the constants above)."""
    return lx.GMRES(rtol=GMRES_TOL * inputs.rtol, atol=GMRES_TOL * inputs.atol, restart=GMRES_RESTART, max_steps=GMRES_CYCLES)


def _solver(inputs: ProgramInputs):
    """Kvaerno5 with a matrix-free Newton (optimistix) on its stages, to the integrator's own tolerances."""
    return diffrax.Kvaerno5(root_finder=optx.Newton(rtol=inputs.rtol, atol=inputs.atol, linear_solver=linear_solver(inputs)))


def integrate(params0: Params, decays: Decays, inputs: ProgramInputs, arch: Architecture, key: ProgramKey) -> Output:
    """Gradient flow from ``params0`` (module docstring); pure and jittable with ``arch``, ``key`` static.

    ``steps`` of the :class:`Output` counts the accepted steps, ``rejected`` the
    rejected ones, ``time`` the flow time reached; the history has
    ``key.capacity`` rows (one every ``log_every`` accepted steps, and the end).
    """
    with jax.default_matmul_precision(key.matmul_precision) if arch.dtype == "float32" else contextlib.nullcontext():
        f = lambda p: objective(p, decays, arch)  # noqa: E731
        value_and_grad = jax.value_and_grad(f)
        terms = diffrax.ODETerm(lambda t, y, args: jax.tree_util.tree_map(jnp.negative, jax.grad(f)(y)))
        solver = _solver(inputs)
        controller = diffrax.PIDController(rtol=inputs.rtol, atol=inputs.atol)
        loss0, grad0 = value_and_grad(params0)
        dtype = loss0.dtype
        limit = jnp.asarray(inputs.divergence_factor, dtype) * (jnp.abs(loss0) + 1.0)
        tol, steps = jnp.asarray(inputs.tol, dtype), jnp.asarray(inputs.steps, jnp.int32)
        threshold = jnp.asarray(inputs.loss_threshold, dtype)
        end = jnp.asarray(inputs.max_time, dtype)
        RUNNING, CONVERGED, MAX_STEPS, DIVERGED, REACHED, MAX_TIME = (s.code for s in (
            Status.RUNNING, Status.CONVERGED, Status.MAX_STEPS, Status.DIVERGED, Status.LOSS_THRESHOLD, Status.MAX_TIME))

        def decide(value, gnorm, t, accepted, attempts):
            bad = ~jnp.isfinite(value) | ~jnp.isfinite(gnorm) | (value > limit)
            return jnp.where(bad, DIVERGED, jnp.where(gnorm <= tol, CONVERGED, jnp.where(value <= threshold, REACHED, jnp.where(
                t >= end, MAX_TIME, jnp.where((accepted >= steps) | (attempts >= 2 * steps), MAX_STEPS, RUNNING)))))

        t0 = jnp.zeros((), dtype)
        dt0 = jnp.asarray(inputs.lr, dtype)
        error_order = solver.error_order(terms)
        tnext, controller_state = controller.init(terms, t0, t0 + dt0, params0, dt0, None, solver.func, error_order)
        solver_state = solver.init(terms, t0, tnext, params0, None)
        zero = jnp.asarray(0, jnp.int32)
        gnorm0 = gradient_norm(grad0)
        status0 = decide(loss0, gnorm0, t0, zero, zero)
        hist = write(recorder(params0, arch, key, dtype, timed=True), 0, params0, zero, loss0, gnorm0, decays, arch, key, time=t0)

        def body(carry):
            # a member that has stopped (possible under vmap, which runs the loop until every member stops) keeps its carry
            return jax.lax.cond(carry[8] == RUNNING, advance, lambda c: c, carry)

        def advance(carry):
            (y, solver_state, controller_state, t, tnext, made_jump, accepted, rejected, status, value, gnorm, row, hist) = carry
            tnext = jnp.minimum(tnext, end)
            y1, y_error, _, solver_state1, _ = solver.step(terms, t, tnext, y, None, solver_state, made_jump)
            # a NaN error estimate (an overflowing trial step) rejects the step, as diffrax's own loop does
            y_error = jax.tree_util.tree_map(lambda e: jnp.where(jnp.isnan(e), jnp.inf, e), y_error)
            keep, tprev, tnext1, made_jump1, controller_state1, _ = controller.adapt_step_size(
                t, tnext, y, y1, None, y_error, error_order, controller_state)
            keep = jnp.asarray(keep)

            def accept(_):
                value1, grad1 = value_and_grad(y1)
                gnorm1 = gradient_norm(grad1)
                accepted1 = accepted + 1
                status1 = decide(value1, gnorm1, tprev, accepted1, accepted1 + rejected)
                due = accepted1 % key.chunk == 0
                row1 = jnp.where(due, row + 1, row)
                hist1 = jax.lax.cond(due, lambda h: write(h, row1, y1, accepted1, value1, gnorm1, decays, arch, key, time=tprev),
                                     lambda h: h, hist)
                return (y1, solver_state1, tprev, accepted1, rejected, status1, value1, gnorm1, row1, hist1)

            def reject(_):
                # a step that shrinks to nothing cannot go on: the flow has met a singularity of the float arithmetic
                stuck = ~(tnext1 > t) | ~jnp.isfinite(tnext1)
                status1 = jnp.where(stuck, DIVERGED, jnp.where(accepted + rejected + 1 >= 2 * steps, MAX_STEPS, RUNNING))
                return (y, solver_state, t, accepted, rejected + 1, status1, value, gnorm, row, hist)

            (y, solver_state, t, accepted, rejected, status, value, gnorm, row, hist) = jax.lax.cond(keep, accept, reject, None)
            return (y, solver_state, controller_state1, t, tnext1, jnp.asarray(made_jump1), accepted, rejected, status, value, gnorm, row,
                    hist)

        def more(carry):
            return carry[8] == RUNNING

        carry = (params0, solver_state, controller_state, t0, tnext, jnp.asarray(False), zero, zero, status0, loss0, gnorm0, zero, hist)
        (y, _, _, t, _, _, accepted, rejected, status, value, gnorm, row, hist) = jax.lax.while_loop(more, body, carry)
        # the end point, unless it is the last record already
        last = jnp.where(hist.rows[row, 0] == accepted, row, row + 1)
        hist = write(hist, last, y, accepted, value, gnorm, decays, arch, key, time=t)
        return Output(y, status, accepted, value, gnorm, history_of(hist), t, rejected)
