"""How JAX runs in this process: float64 for dufm's calls, the compilation cache, the CPU device count.

Nothing here is changed on import; each switch is a call:

* **Precision.** JAX computes in float32 unless its 64-bit mode is on.
  ``import dufm`` does not turn it on for the process; instead every public
  entry point that computes (the objective, the solvers, the analysis, the
  Hessian tools) is wrapped by :func:`float64`, which turns the mode on for
  the duration of the call only (``jax.enable_x64``, thread-local) and
  restores it afterwards. So ``dufm.solve(problem)`` returns float64 results
  while code outside dufm keeps its own setting. float32 problems still run
  in float32: their arrays carry that dtype explicitly. Code that applies its
  own JAX transformations to dufm's pure functions
  (``jax.grad(lambda p: dufm.objective(p, ...))``) traces its inputs before
  dufm is entered, so for a float64 problem it must turn the mode on itself
  (``jax.config.update("jax_enable_x64", True)`` in a script, or
  ``with jax.enable_x64(True):``); :func:`require_float64` makes a float64
  problem that meets float32 arrays a ValueError, never a silent float32 result.

* **Compilation cache** (:func:`use_compilation_cache`). Compiling is most of
  what a short ``dufm`` command waits for (a solver program takes seconds on a
  2-core CPU, and even drawing the random starts compiles); with JAX's
  persistent cache, a second command of the same shapes loads the programs
  instead. The ``dufm`` command turns it on (the process is its own); a script
  opts in, before or after its first JAX computation. Where:
  ``DUFM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/dufm`` (default
  ``~/.cache/dufm``), in a subdirectory named after the jax and jaxlib
  versions, so that incompatible versions never share entries (JAX's own key
  also holds the versions, the backend and the compile options).
  ``DUFM_COMPILATION_CACHE=0`` (or ``off``, ``no``, ``false``) turns it off
  (any value but those and ``1``, ``on``, ``yes``, ``true`` is refused). A
  cache entry never changes a result: a program loaded from the cache is the
  one the compiler would build.

* **CPU devices** (:func:`use_cpu_cores`). A batch of runs is one compiled
  program split over the local devices (:mod:`dufm.solving.programs`). On a
  CPU, JAX makes one device by default, so a batch uses one core's worth of
  device; :func:`use_cpu_cores` makes one JAX CPU device per core. It changes
  process-wide JAX state, so dufm never calls it on import: the ``dufm``
  command calls it (count from ``DUFM_CPU_DEVICES``, default every core), and
  a script may call it itself before its first JAX computation. GPU and TPU
  devices are not affected.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from pathlib import Path

import jax
import numpy as np


def float64(fn):
    """Decorator: run ``fn`` with JAX's 64-bit mode on (scoped to the call; a no-op when it is already on)."""

    @functools.wraps(fn)
    def scoped(*args, **kwargs):
        if jax.config.jax_enable_x64:
            return fn(*args, **kwargs)
        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return scoped


def require_float64(tree, dtype: str):
    """Raise a ValueError when ``dtype`` is float64 but a floating leaf of ``tree`` has fewer bits."""
    if dtype != "float64":
        return
    for leaf in jax.tree_util.tree_leaves(tree):
        dt = getattr(leaf, "dtype", None)
        if dt is not None and np.issubdtype(dt, np.floating) and np.dtype(dt).itemsize < 8:
            raise ValueError(
                f"params of a float64 problem must be float64, got {np.dtype(dt).name}: JAX's 64-bit mode was off when "
                "they were made or traced (enable it with jax.config.update('jax_enable_x64', True) or "
                "`with jax.enable_x64(True):` around your own jax.jit / jax.grad of dufm's functions)")


OFF = ("0", "off", "no", "false")
ON = ("", "1", "on", "yes", "true")


def default_cache_dir(environ=os.environ) -> Path:
    """``DUFM_CACHE_DIR``, or ``$XDG_CACHE_HOME/dufm``, or ``~/.cache/dufm`` (without the version subdirectory)."""
    if environ.get("DUFM_CACHE_DIR"):
        return Path(environ["DUFM_CACHE_DIR"]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dufm"


def cache_enabled(environ=os.environ) -> bool:
    """False when ``DUFM_COMPILATION_CACHE`` is 0, off, no or false; True when unset, empty, 1, on, yes or true; any other
    value is a ValueError naming the variable (a typo must not silently keep the cache on)."""
    text = environ.get("DUFM_COMPILATION_CACHE", "").strip().lower()
    if text not in OFF + ON:
        raise ValueError(f"DUFM_COMPILATION_CACHE must be one of {', '.join(OFF + ON[1:])} (or empty), "
                         f"got {environ['DUFM_COMPILATION_CACHE']!r}")
    return text not in OFF


def use_compilation_cache(path=None) -> Path | None:
    """Keep compiled programs in ``path`` (default :func:`default_cache_dir`); returns the directory used.

    Returns None, with a warning, when the directory cannot be made: the
    command still runs, compiling as it would without a cache.
    """
    import jaxlib

    root = Path(path).expanduser() if path is not None else default_cache_dir()
    where = root / f"jax-{jax.__version__}-jaxlib-{jaxlib.__version__}"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        warnings.warn(f"no compilation cache: {where} cannot be written ({e.strerror or e}); compiling as usual",
                      stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(where))
    # the small programs (drawing the starts, the analysis) also cost tenths of a second each to compile on a CPU
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return where


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
