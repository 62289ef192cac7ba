"""Test configuration, as optimistix does it: float64 for the whole suite.

dufm's own entry points scope float64 themselves (dufm.precision); the tests
also build JAX arrays and transformations of their own, so the suite turns
JAX's 64-bit mode on for its process (tests/test_precision.py checks dufm with
it off). The suite also makes one JAX CPU device per core, as the ``dufm``
command does, so that batches are sharded in every test whatever runs first.
"""

import jax
import pytest

import dufm

jax.config.update("jax_enable_x64", True)
dufm.use_cpu_cores()


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)
