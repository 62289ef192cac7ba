"""Test configuration, as optimistix does it: float64 for the whole suite.

dufm's own entry points scope float64 themselves (dufm.runtime); the tests
also build JAX arrays and transformations of their own, so the suite turns
JAX's 64-bit mode on for its process (tests/test_precision.py checks dufm with
it off). The suite also makes one JAX CPU device per core, as the ``dufm``
command does, so that batches are sharded in every test whatever runs first.

Compiled programs go to one persistent compilation cache for the suite's
processes and the ``dufm`` commands they start (``DUFM_CACHE_DIR``, unless the
caller set one): a program is compiled once per machine, not once per test
process. Entries are keyed by JAX on the program, versions and options, so an
entry from an earlier run is the program the compiler would build;
tests/test_cache.py checks that results do not depend on the cache.
"""

import os
import tempfile

import jax
import pytest

import dufm

os.environ.setdefault("DUFM_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"dufm-tests-{os.getuid()}"))
jax.config.update("jax_enable_x64", True)
dufm.use_cpu_cores()
dufm.use_compilation_cache()


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)
