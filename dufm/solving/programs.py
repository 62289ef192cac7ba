"""Batched compiled programs: a batch of independent runs laid out over the local devices.

A batch is one compiled program over a leading batch axis, split evenly
over the devices (a 1-D mesh on the batch axis, ``shard_map``, padded to a
multiple of the device count), each device running its members either
``vmap``-ped into batched matrix products (GPU/TPU) or one after another with
``lax.map`` (CPU). The solver (:func:`dufm.solving.solver.run_many`) and the
optimum search (:mod:`dufm.theory.optimum`) both run through it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

BATCHING = ("auto", "vmap", "map")


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
