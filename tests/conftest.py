import jax
import pytest

import dufm  # noqa: F401  (turns on float64)

assert jax.config.jax_enable_x64


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)
