"""JAX's persistent compilation cache: compiled programs kept on disk between processes.

Compiling is most of what a short ``dufm`` command waits for (a solver program
takes seconds on a 2-core CPU, and even drawing the random starts compiles);
with the cache, a second command of the same shapes loads the programs
instead. The ``dufm`` command turns it on (the process is its own); a script
opts in with :func:`use_compilation_cache`, before or after its first JAX
computation. Nothing is changed on import.

Where: ``DUFM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/dufm`` (default
``~/.cache/dufm``), in a subdirectory named after the jax and jaxlib versions,
so that incompatible versions never share entries (JAX's own key also holds
the versions, the backend and the compile options). ``DUFM_COMPILATION_CACHE=0``
(or ``off``, ``no``, ``false``) turns it off. A cache entry never changes a
result: a program loaded from the cache is the one the compiler would build.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

OFF = ("0", "off", "no", "false")


def default_cache_dir(environ=os.environ) -> Path:
    """``DUFM_CACHE_DIR``, or ``$XDG_CACHE_HOME/dufm``, or ``~/.cache/dufm`` (without the version subdirectory)."""
    if environ.get("DUFM_CACHE_DIR"):
        return Path(environ["DUFM_CACHE_DIR"]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dufm"


def cache_enabled(environ=os.environ) -> bool:
    """False when ``DUFM_COMPILATION_CACHE`` is 0, off, no or false."""
    return environ.get("DUFM_COMPILATION_CACHE", "").strip().lower() not in OFF


def use_compilation_cache(path=None) -> Path | None:
    """Keep compiled programs in ``path`` (default :func:`default_cache_dir`); returns the directory used.

    Returns None, with a warning, when the directory cannot be made: the
    command still runs, compiling as it would without a cache.
    """
    import jax
    import jaxlib

    root = Path(path).expanduser() if path is not None else default_cache_dir()
    where = root / f"jax-{jax.__version__}-jaxlib-{jaxlib.__version__}"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        warnings.warn(f"no compilation cache: cannot make {where} ({e.strerror or e}); compiling as usual", stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(where))
    # the small programs (drawing the starts, the analysis) also cost tenths of a second each to compile on a CPU
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return where
