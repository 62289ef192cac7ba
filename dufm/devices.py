"""Where dufm computes: the JAX CPU device count, and how a batch of runs is laid out over devices.

A batch of runs is one compiled program split over the local devices
(:func:`dufm.solve.run_many`). On a CPU, JAX makes one device by default, so
a batch uses one core's worth of device; :func:`use_cpu_cores` makes one JAX
CPU device per core. It changes process-wide JAX state, so dufm never calls
it on import: the ``dufm`` command calls it (count from ``DUFM_CPU_DEVICES``,
default every core), and a script may call it itself before its first JAX
computation. GPU and TPU devices are not affected.
"""

from __future__ import annotations

import os
import re

import jax
import jax.numpy as jnp

BATCHING = ("auto", "vmap", "map")


def cpu_cores_from_env(environ=os.environ) -> int:
    """The CPU device count named by ``DUFM_CPU_DEVICES`` (an integer >= 1), default the cores this process may use."""
    text = environ.get("DUFM_CPU_DEVICES", "").strip()
    cores = len(os.sched_getaffinity(0))
    if not text:
        return cores
    if not text.isdigit() or not 1 <= int(text) <= 4 * cores:
        raise ValueError(f"DUFM_CPU_DEVICES must be an integer from 1 to {4 * cores} (4 x the {cores} cores), got {text!r}")
    return int(text)


def use_cpu_cores(count: int | None = None) -> int:
    """Make ``count`` JAX CPU devices (default: one per core); returns the count.

    Must run before JAX's first computation in the process (JAX fixes its
    devices then); later it raises a RuntimeError saying so. Sets JAX's
    ``jax_num_cpu_devices`` option, not ``XLA_FLAGS``; an ``XLA_FLAGS`` that
    already sets the count (``--xla_force_host_platform_device_count``) wins,
    and its count is returned.
    """
    count = len(os.sched_getaffinity(0)) if count is None else count
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    forced = re.search(r"--xla_force_host_platform_device_count=(\d+)", os.environ.get("XLA_FLAGS", ""))
    if forced:  # the user's own XLA flag wins
        return int(forced.group(1))
    if jax.config.jax_num_cpu_devices == count:
        return count
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        raise RuntimeError("use_cpu_cores must be called before JAX's first computation in this process "
                         f"(JAX already runs on {jax.device_count()} device(s))") from None
    return count


def resolve_batching(batching: str = "auto", platform: str | None = None) -> str:
    """``"vmap"`` or ``"map"`` for ``batching``; ``"auto"`` is ``"map"`` on CPU and ``"vmap"`` elsewhere.

    ``vmap`` turns a batch of runs into batched matrix products (what a GPU
    wants); ``map`` (``lax.map``) runs the members one after another inside
    the same compiled program, each with its own stopping loop: on CPU that is
    faster per run (unbatched products; no member waits for the slowest one).
    """
    if batching not in BATCHING:
        raise ValueError(f"batching must be one of {', '.join(BATCHING)}; got {batching!r}")
    if batching != "auto":
        return batching
    return "map" if (platform or jax.default_backend()) == "cpu" else "vmap"


def pad_batch(tree, size: int):
    """Pad every leaf's leading (batch) axis to ``size`` by repeating its last entry."""
    def pad(a):
        n = a.shape[0]
        return a if n == size else jnp.concatenate([a, jnp.repeat(a[-1:], size - n, axis=0)])

    return jax.tree_util.tree_map(pad, tree)


def member_devices(array, count: int) -> list[str]:
    """The device that holds each of the first ``count`` entries of ``array``'s leading (batch) axis."""
    where = [""] * count
    for shard in array.addressable_shards:
        rows = range(*shard.index[0].indices(array.shape[0])) if shard.index else range(array.shape[0])
        for i in rows:
            if i < count:
                where[i] = str(shard.device)
    return where
