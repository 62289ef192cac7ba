"""A batch sharded over several devices gives the results of one device.

The devices are 2 host CPU devices, which must be made before JAX's first
computation (:func:`dufm.use_cpu_cores`, the documented way), so the
runs happen in a subprocess that writes its results to an ``.npz`` for this
process to compare.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from dufm.runtime import cpu_cores_from_env, use_cpu_cores
from dufm.solving.programs import pad_batch, resolve_batching

CHILD = r"""
import sys
import dufm
dufm.use_cpu_cores(2)
import jax
import numpy as np
from dufm.solving.solver import SolverConfig, initial_params, run_many

assert len(jax.devices()) == 2, jax.devices()
p = dufm.Problem(classes=4, per_class=3, width=6, depth=2, loss="mse", weight_decay=2e-3)
cfg = SolverConfig(lr=0.5, steps=8000, tol=1e-6, init_scale=0.3, log_every=50)
seeds = list(range(5))  # odd: padded to 6 over 2 devices
params0 = initial_params(p, seeds, cfg)
out = {}
for name, devices in (("one", jax.devices()[:1]), ("two", jax.devices())):
    for batching in ("map", "vmap"):
        runs = run_many(params0, p.decays, p.architecture, cfg, seeds=seeds, batching=batching, devices=devices)
        # where the members were computed
        out[f"{name}_{batching}_ndev"] = np.asarray(len({r.device for r in runs}))
        out[f"{name}_{batching}_status"] = np.asarray([r.status.code for r in runs])
        out[f"{name}_{batching}_steps"] = np.asarray([r.steps for r in runs])
        out[f"{name}_{batching}_loss"] = np.asarray([r.loss for r in runs])
        out[f"{name}_{batching}_history_loss"] = np.concatenate([r.history.loss for r in runs])
        for i, leaf in enumerate(jax.tree_util.tree_leaves(dufm.Params.stack([r.params for r in runs]))):
            out[f"{name}_{batching}_param{i}"] = np.asarray(leaf)
np.savez(sys.argv[1], **out)
"""


@pytest.mark.slow  # a second Python process, with two JAX devices whatever the core count (in this process: test_solve's batches)
def test_two_devices_equal_one_device(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    for name in ("DUFM_CPU_DEVICES", "XLA_FLAGS"):
        env.pop(name, None)
    path = tmp_path / "out.npz"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(path) as z:
        r = {k: z[k] for k in z.files}
    for b in ("map", "vmap"):
        assert r[f"one_{b}_ndev"] == 1 and r[f"two_{b}_ndev"] == 2
    ref = "one_map"
    assert len(set(r[f"{ref}_steps"].tolist())) > 1  # members stop at different steps
    assert set(r[f"{ref}_status"].tolist()) == {1, 2}  # converged mid-chunk and at the step limit
    for other in ("two_map", "one_vmap", "two_vmap"):
        np.testing.assert_array_equal(r[f"{other}_status"], r[f"{ref}_status"])
        np.testing.assert_array_equal(r[f"{other}_steps"], r[f"{ref}_steps"])
        np.testing.assert_allclose(r[f"{other}_loss"], r[f"{ref}_loss"], rtol=1e-12, atol=0)
        np.testing.assert_allclose(r[f"{other}_history_loss"], r[f"{ref}_history_loss"], rtol=1e-12, atol=0)
        i = 0
        while f"{ref}_param{i}" in r:
            a, b = r[f"{other}_param{i}"], r[f"{ref}_param{i}"]
            assert np.max(np.abs(a - b)) <= 1e-12 * max(1.0, np.max(np.abs(b))), (other, i)
            i += 1
        assert i >= 3
    # the same per-member program on one device or on two: bitwise equal
    np.testing.assert_array_equal(r["two_map_param0"], r["one_map_param0"])
    np.testing.assert_array_equal(r["two_map_loss"], r["one_map_loss"])


def test_pad_batch_repeats_the_last_member():
    tree = {"a": np.arange(6.0).reshape(3, 2), "b": (np.arange(3),)}
    out = pad_batch(tree, 5)
    np.testing.assert_array_equal(out["a"], [[0, 1], [2, 3], [4, 5], [4, 5], [4, 5]])
    np.testing.assert_array_equal(out["b"][0], [0, 1, 2, 2, 2])
    assert pad_batch(tree, 3)["a"] is tree["a"]


def test_batching_choice():
    assert resolve_batching("auto", "cpu") == "map" and resolve_batching("auto", "gpu") == "vmap"
    assert resolve_batching("vmap", "cpu") == "vmap"
    with pytest.raises(ValueError, match="batching must be one of auto, vmap, map; got 'pmap'"):
        resolve_batching("pmap")


def test_cpu_device_count_from_the_environment():
    cores = len(os.sched_getaffinity(0))
    assert cpu_cores_from_env({}) == cores and cpu_cores_from_env({"DUFM_CPU_DEVICES": " 1 "}) == 1
    for bad in ("abc", "0", "-1", str(4 * cores + 1), "2.5"):
        with pytest.raises(ValueError, match="DUFM_CPU_DEVICES must be an integer from 1 to"):
            cpu_cores_from_env({"DUFM_CPU_DEVICES": bad})


def test_use_cpu_cores_after_jax_started_says_so():
    import jax

    jax.numpy.zeros(1).block_until_ready()  # JAX has started in this process
    with pytest.raises(RuntimeError, match="before JAX's first computation"):
        use_cpu_cores(jax.device_count() + 1)
    with pytest.raises(ValueError, match="count must be an integer >= 1"):
        use_cpu_cores(0)


def test_an_xla_flag_device_count_wins():
    code = "import jax, dufm; print(dufm.use_cpu_cores(2), jax.device_count())"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "3"]
