"""Objective: independent numpy evaluation and gradients against finite differences (float64)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import logsumexp

import dufm
from dufm.model.init import initialise
from dufm.model.objective import forward, objective

CASES = list(itertools.product(["ce", "mse"], ["linear", "relu"], [1, 2, 4], ["none", "free", "regularised"]))


def make(loss, act, L, bias, widths=None):
    return dufm.Problem(
        classes=3, per_class=(2, 3, 2), width=widths or tuple(4 + l for l in range(L)), depth=L, loss=loss,
        activation=act, feature_decay=0.03, layer_decay=tuple(0.01 * (l + 1) for l in range(L)), bias=bias,
        bias_decay=0.2 if bias == "regularised" else 0.0,
    )


def params_for(problem, seed=0):
    p = initialise(jax.random.PRNGKey(seed), problem.architecture, 0.7)
    if p.b is not None:
        p = p._replace(b=jnp.asarray(np.random.default_rng(seed).normal(size=problem.classes)))
    return p


def numpy_objective(params, problem):
    """Independent evaluation with explicit loops over samples."""
    H = np.asarray(params.H)
    Ws = [np.asarray(w) for w in params.W]
    y = np.repeat(np.arange(problem.classes), problem.counts)
    N = len(y)
    total = 0.0
    for i in range(N):
        x = H[:, i]
        for l, W in enumerate(Ws):
            if l > 0 and problem.activation == "relu":
                x = np.maximum(x, 0)
            x = W @ x
        if params.b is not None:
            x = x + np.asarray(params.b)
        if problem.loss == "ce":
            total += logsumexp(x) - x[y[i]]
        else:
            t = np.zeros(problem.classes)
            t[y[i]] = 1
            total += 0.5 * np.sum((x - t) ** 2)
    reg = 0.5 * problem.lambda_H * np.sum(H**2) + sum(0.5 * lw * np.sum(W**2) for lw, W in zip(problem.lambda_W, Ws))
    if problem.bias == "regularised":
        reg += 0.5 * problem.bias_decay * np.sum(np.asarray(params.b) ** 2)
    return total / N + reg


@pytest.mark.parametrize("loss,act,L,bias", CASES)
def test_objective_matches_independent_numpy(loss, act, L, bias):
    pb = make(loss, act, L, bias)
    p = params_for(pb)
    got = float(objective(p, pb.decays, pb.architecture))
    want = numpy_objective(p, pb)
    assert abs(got - want) <= 1e-13 * abs(want)


# slow: the one- and four-layer variants; L = 2 (features, a hidden weight with the activation after it, the classifier)
# runs by default for every loss, activation and bias
@pytest.mark.parametrize("loss,act,L,bias", [pytest.param(*c, marks=[] if c[2] == 2 else [pytest.mark.slow]) for c in CASES])
def test_gradients_match_finite_differences(loss, act, L, bias):
    pb = make(loss, act, L, bias)
    p = params_for(pb, seed=L)
    f = lambda q: objective(q, pb.decays, pb.architecture)  # noqa: E731
    # jax's own check (float64 tolerances), then a tighter directional check of our own
    check_grads(f, (p,), order=2 if act == "linear" else 1, modes=["rev"])
    g = jax.grad(f)(p)
    rng = np.random.default_rng(L)
    leaves, tree = jax.tree_util.tree_flatten(p)
    for _ in range(3):
        v = jax.tree_util.tree_unflatten(tree, [jnp.asarray(rng.normal(size=x.shape)) for x in leaves])
        eps = 1e-5
        plus = jax.tree_util.tree_map(lambda a, b: a + eps * b, p, v)
        minus = jax.tree_util.tree_map(lambda a, b: a - eps * b, p, v)
        fd = (float(f(plus)) - float(f(minus))) / (2 * eps)
        an = float(sum(jnp.vdot(a, b) for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(v))))
        assert abs(fd - an) <= 1e-7 * max(1.0, abs(an)), (fd, an)


def test_relu_sits_after_hidden_layers_only():
    pb = make("ce", "relu", 3, "none")
    p = params_for(pb)
    Z, H = forward(p, pb.architecture)
    W1, W2, W3 = (np.asarray(w) for w in p.W)
    H1 = np.asarray(p.H)
    assert (H1 < 0).any()  # H_1 enters W_1 unrectified
    np.testing.assert_allclose(np.asarray(H[1]), W1 @ H1, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(np.asarray(H[2]), W2 @ np.maximum(W1 @ H1, 0), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(np.asarray(Z), W3 @ np.maximum(W2 @ np.maximum(W1 @ H1, 0), 0), rtol=1e-14, atol=1e-14)
    assert (np.asarray(Z) < 0).any()  # logits are not rectified


def test_float32_problem_runs_in_float32():
    pb = dufm.Problem(classes=3, per_class=2, width=4, depth=2, weight_decay=0.01, dtype="float32")
    p = initialise(jax.random.PRNGKey(0), pb.architecture, 0.5)
    assert p.H.dtype == jnp.float32
    assert objective(p, pb.decays, pb.architecture).dtype == jnp.float32
