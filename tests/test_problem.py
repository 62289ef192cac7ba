"""Problem and solver validation: every invalid value raises a ValueError naming the parameter."""

import pytest

import dufm
from dufm.solving.solver import SolverConfig

BASE = dict(classes=3, per_class=2, width=4, depth=2, weight_decay=0.01)

BAD_PROBLEMS = [
    (dict(classes=1), "classes"),
    (dict(classes=2.5), "classes"),
    (dict(classes="10"), "classes"),
    (dict(per_class=0), "per_class"),
    (dict(per_class=(2, 2)), "per_class"),
    (dict(width=0), "width"),
    (dict(width=(4, 4, 4)), "width"),
    (dict(depth=0), "depth"),
    (dict(loss="hinge"), "loss"),
    (dict(activation="tanh"), "activation"),
    (dict(weight_decay=-1e-3), "weight_decay"),
    (dict(weight_decay=float("nan")), "weight_decay"),
    (dict(weight_decay=float("inf")), "weight_decay"),
    (dict(weight_decay="0.1"), "weight_decay"),
    (dict(weight_decay=None), "weight_decay"),
    (dict(feature_decay=-1.0), "feature_decay"),
    (dict(layer_decay=(0.1, float("nan"))), "layer_decay"),
    (dict(layer_decay=(0.1, 0.1, 0.1)), "layer_decay"),
    (dict(bias="yes"), "bias"),
    (dict(bias_decay=0.1), "bias_decay"),
    (dict(bias="regularised", bias_decay=-1.0), "bias_decay"),
    (dict(dtype="float16"), "dtype"),
]


@pytest.mark.parametrize("change,name", BAD_PROBLEMS, ids=[n + str(i) for i, (_, n) in enumerate(BAD_PROBLEMS)])
def test_invalid_problem(change, name):
    with pytest.raises(ValueError, match=name):
        dufm.Problem(**{**BASE, **change})


BAD_SOLVERS = [
    (dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"), (dict(lr=float("nan")), "lr"), (dict(steps=0), "steps"),
    (dict(steps=1.5), "steps"), (dict(tol=-1.0), "tol"), (dict(init_scale=0.0), "init_scale"),
    (dict(optimizer="sgdx"), "optimizer"), (dict(init="xavier"), "init"), (dict(momentum=1.0), "momentum"),
    (dict(log_every=0), "log_every"),
]


@pytest.mark.parametrize("change,name", BAD_SOLVERS, ids=[n + str(i) for i, (_, n) in enumerate(BAD_SOLVERS)])
def test_invalid_solver(change, name):
    with pytest.raises(ValueError, match=name):
        SolverConfig(**change)


def test_resolved_values():
    p = dufm.Problem(classes=3, per_class=(1, 2, 3), width=(4, 5), depth=2, feature_decay=0.1, layer_decay=(0.2, 0.3))
    assert p.counts == (1, 2, 3) and p.samples == 6 and p.widths == (4, 5)
    assert p.lambda_H == 0.1 and p.lambda_W == (0.2, 0.3)
    assert p.parameter_count == 4 * 6 + 5 * 4 + 3 * 5
    q = dufm.Problem(**BASE)
    assert q.lambda_H == 0.01 and q.lambda_W == (0.01, 0.01)
    assert hash(q.architecture) == hash(dufm.Problem(**{**BASE, "weight_decay": 0.5}).architecture)


def test_negative_seed_rejected():
    with pytest.raises(ValueError, match="seed"):
        dufm.solve(dufm.Problem(**BASE), SolverConfig(steps=1), seeds=[-1])


def test_from_dict_round_trips_to_dict():
    p = dufm.Problem(classes=3, per_class=(2, 3, 4), width=(5, 6), depth=2, loss="mse", feature_decay=0.1, layer_decay=(0.2, 0.3),
                bias="regularised", bias_decay=0.5)
    assert dufm.Problem.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="missing or has a malformed field"):
        dufm.Problem.from_dict({"classes": 3})


def test_params_round_trip_the_store_names():
    import numpy as np

    p = dufm.Problem(classes=3, per_class=2, width=(4, 5), depth=2, bias="free", weight_decay=0.1)
    params = dufm.initialise(__import__("jax").random.PRNGKey(0), p.architecture, 0.5)
    arrays = params.to_arrays()
    assert sorted(arrays) == ["H", "W1", "W2", "b"] and arrays["W2"].shape == (3, 5)
    back = dufm.Params.from_arrays(arrays)
    np.testing.assert_array_equal(back.H, arrays["H"])
    assert [w.shape for w in back.W] == [(5, 4), (3, 5)] and back.b.shape == (3,)
    assert dufm.Params.from_arrays({k: v for k, v in arrays.items() if k != "b"}).b is None
    with pytest.raises(ValueError, match="must hold the parameter arrays H and W1"):
        dufm.Params.from_arrays({"history_loss": np.zeros(3)}, "run x")
    batch = dufm.Params.stack([params, params])
    assert batch.H.shape == (2, 4, 6) and batch.b.shape == (2, 3)
    np.testing.assert_array_equal(batch.member(1).W[1], arrays["W2"])


def test_decays_stack_broadcast_and_check():
    import numpy as np

    p = dufm.Problem(classes=3, per_class=2, width=4, depth=3, weight_decay=0.1)
    b = p.decays.broadcast(4)
    assert b.H.shape == (4,) and b.W.shape == (4, 3) and b.b.shape == (4,)
    s = dufm.Decays.stack([p.decays, dufm.Problem(classes=3, per_class=2, width=4, depth=3, weight_decay=0.2).decays])
    np.testing.assert_array_equal(s.H, [0.1, 0.2])
    assert b.check_batch(4, 3, "none") is b
    with pytest.raises(ValueError, match=r"decays.W must have shape \(4, 2\)"):
        b.check_batch(4, 2, "none")
    with pytest.raises(ValueError, match="decays.b must be 0 unless bias is 'regularised'"):
        b._replace(b=np.ones(4)).check_batch(4, 3, "free")


def test_defaults_are_garrod_keating_fig1():
    p = dufm.Problem()
    assert (p.classes, p.counts[0], p.widths, p.depth, p.loss, p.activation) == (10, 5, (70, 70), 2, "ce", "linear")
    assert p.lambda_H == 2.0**-10 and p.lambda_W == (2.0**-10,) * 2
