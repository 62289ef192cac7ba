"""Initialisations: one compiled program draws what drawing op by op draws, bit for bit."""

import jax
import numpy as np
import pytest

from dufm import Problem, initialise
from dufm.init import starts
from dufm.objective import shapes

CASES = [Problem(), Problem(activation="relu", bias="free", depth=3), Problem(dtype="float32")]


def _op_by_op(key, arch, scale, kind):
    """The definition, drawn without jit: N(0, scale^2) entries, or scale x a (semi-)orthogonal matrix."""
    shp = shapes(arch)
    mats = [shp.H, *shp.W]
    keys = jax.random.split(key, len(mats))
    if kind == "gaussian":
        return [scale * jax.random.normal(k, s.shape, s.dtype) for k, s in zip(keys, mats)]
    return [jax.nn.initializers.orthogonal(scale=scale)(k, s.shape, s.dtype) for k, s in zip(keys, mats)]


@pytest.mark.parametrize("kind", ["gaussian", "orthogonal"])
@pytest.mark.parametrize("problem", CASES, ids=["fig1", "relu-bias", "float32"])
def test_starts_and_initialise_equal_the_draw_op_by_op_bit_for_bit(problem, kind):
    arch = problem.architecture
    seeds, scales = [0, 7, 2**32 - 1], [0.1, 0.3, 2.0]
    batch = starts(arch, seeds, scales, kind)
    for j, (seed, scale) in enumerate(zip(seeds, scales)):
        point = initialise(jax.random.PRNGKey(seed), arch, scale, kind)
        want = _op_by_op(jax.random.PRNGKey(seed), arch, scale, kind)
        for got_batch, got, ref in zip([batch.H, *batch.W], [point.H, *point.W], want):
            assert np.asarray(got).dtype == np.dtype(problem.dtype)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
            np.testing.assert_array_equal(np.asarray(got_batch)[j], np.asarray(ref))
        if point.b is not None:
            assert not np.any(np.asarray(point.b)) and not np.any(np.asarray(batch.b))


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), True])
def test_a_bad_scale_is_named(scale):
    with pytest.raises(ValueError, match="init_scale must be a finite number > 0"):
        starts(Problem().architecture, [0, 1], [0.1, scale])
