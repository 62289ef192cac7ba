"""The unregularised model (lambda = 0, Garrod, Keating & Thrampoulidis 2026): which problems have a finite optimum."""

import pytest

from dufm.problem import Problem

TINY = dict(classes=3, per_class=2, width=4, depth=2)


@pytest.mark.parametrize("kw, unregularised, penalised, finite", [
    (dict(weight_decay=0.0), True, False, False),
    (dict(weight_decay=0.0, loss="mse"), True, False, True),
    (dict(weight_decay=0.0, loss="mse", bias="regularised", bias_decay=0.1), False, False, True),
    (dict(weight_decay=0.0, bias="regularised", bias_decay=0.1), False, False, False),
    (dict(weight_decay=0.0, bias="free"), True, False, False),
    (dict(feature_decay=0.0, layer_decay=0.01), False, False, False),
    (dict(feature_decay=0.01, layer_decay=(0.0, 0.01)), False, False, False),
    (dict(feature_decay=0.0, layer_decay=0.01, loss="mse"), False, False, False),
    (dict(weight_decay=0.01, bias="free"), False, True, True),
    (dict(weight_decay=0.01, loss="mse", activation="relu"), False, True, True),
])
def test_which_problems_have_a_finite_optimum(kw, unregularised, penalised, finite):
    p = Problem(**{**TINY, **kw})
    assert (p.unregularised, p.penalised, p.finite_optimum) == (unregularised, penalised, finite)
