"""Batched compiled programs: a batch of independent runs laid out over the local devices.

A batch is one compiled program over a leading batch axis, split evenly
over the devices (a 1-D mesh on the batch axis, ``shard_map``, padded to a
multiple of the device count), each device running its members either
``vmap``-ped into batched matrix products (GPU/TPU) or one after another with
``lax.map`` (CPU). The solver (:func:`dufm.solving.solver.run_many`) and the
optimum search (:mod:`dufm.theory.optimum`) both run through it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

BATCHING = ("auto", "vmap", "map")
BATCH_AXIS = "batch"


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


def batch_devices(devices: Sequence, size: int) -> tuple:
    """The devices a batch of ``size`` members runs on: the first ``size`` of ``devices`` (no device computes padding only)."""
    return tuple(devices)[: max(1, size)]


class BatchProgram(NamedTuple):
    """A compiled batch program (:func:`batch_program`): ``fn`` and the ``devices`` it runs on; ``per_device``: one
    call per device, each on its share of the batch, instead of one call over a mesh."""

    fn: Callable
    devices: tuple
    per_device: bool


def batch_program(one: Callable, batching: str, devices: Sequence, shared: int = 0, name: str = "batch",
                  mesh: bool = True) -> BatchProgram:
    """``one`` (a pure function of one member) compiled over a batch: ``program(*batched, *shared)``, named ``name``
    (JAX's compile log says ``jit(name)``).

    The first arguments carry a leading batch axis; the last ``shared`` ones
    are the same for every member (traced, not compiled in: a sweep over them
    compiles once). ``batching`` (``vmap`` or ``map``, :func:`resolve_batching`)
    says how a device runs its members; with several ``devices`` the batch is
    split over them by ``shard_map`` on a 1-D mesh (no collectives: every
    device runs its own members independently), or, with ``mesh=False`` (a
    program whose libraries do not run inside ``shard_map``: lineax's linear
    solves), by one asynchronous call per device on its share. Callers cache
    the result per static key: compiling is the expensive part.
    """
    if batching not in ("vmap", "map"):
        raise ValueError(f"batching must be 'vmap' or 'map' here (resolve 'auto' first), got {batching!r}")
    devices = tuple(devices)

    def local(*args):
        batched, common = args[: len(args) - shared], args[len(args) - shared:]
        if batching == "vmap":
            return jax.vmap(lambda *member: one(*member, *common))(*batched)
        return jax.lax.map(lambda member: one(*member, *common), batched)

    if len(devices) == 1 or not mesh:
        return BatchProgram(jax.jit(_named(local, name)), devices, len(devices) > 1)
    grid = Mesh(np.array(devices), (BATCH_AXIS,))

    def sharded(*args):
        specs = (P(BATCH_AXIS),) * (len(args) - shared) + (P(),) * shared
        return jax.shard_map(local, mesh=grid, in_specs=specs, out_specs=P(BATCH_AXIS), check_vma=False)(*args)

    return BatchProgram(jax.jit(_named(sharded, name)), devices, False)


def _named(fn: Callable, name: str) -> Callable:
    fn.__name__ = fn.__qualname__ = name
    return fn


def call_batch(program: BatchProgram, batched: tuple, shared: tuple, size: int):
    """Call a :func:`batch_program` on a batch of B members padded to ``size`` (and to a multiple of the device count);
    returns the outputs trimmed back to B members, and the device that computed each member."""
    B = jax.tree_util.tree_leaves(batched)[0].shape[0]
    devices = program.devices
    if len(devices) == 1:
        with jax.default_device(devices[0]):
            out = program.fn(*pad_batch(batched, size), *shared)
        return jax.tree_util.tree_map(lambda a: a[:B], out), [str(devices[0])] * B
    size = -(-size // len(devices)) * len(devices)
    padded = pad_batch(jax.tree_util.tree_map(jnp.asarray, batched), size)
    if program.per_device:
        share = size // len(devices)
        # dispatched one after another without waiting: the devices compute their shares at the same time
        outs = [program.fn(*jax.device_put(jax.tree_util.tree_map(lambda a: a[i * share:(i + 1) * share], padded), d),
                           *jax.device_put(shared, d)) for i, d in enumerate(devices)]
        out = jax.tree_util.tree_map(lambda *parts: np.concatenate([np.asarray(p) for p in parts])[:B], *outs)
        return out, [str(devices[i // share]) for i in range(B)]
    sharding = NamedSharding(Mesh(np.array(devices), (BATCH_AXIS,)), P(BATCH_AXIS))
    out = program.fn(*jax.device_put(padded, sharding), *shared)
    return jax.tree_util.tree_map(lambda a: a[:B], out), member_devices(jax.tree_util.tree_leaves(out)[0], B)
