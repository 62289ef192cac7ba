"""Where and with what a result was computed: the environment stored with every run and sweep.

:func:`environment` records the versions of dufm and of the libraries whose
arithmetic a result depends on (jax, jaxlib, optax, numpy), the Python
version, the JAX backend and devices, whether JAX's 64-bit mode was on for
the computation, the host, the start and end times (UTC, ISO 8601), and, when
dufm runs from a git checkout, the commit (``-dirty`` when the checkout has
uncommitted changes).
"""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path

import jax

from ..store import now
from ..version import __version__


@dataclass(frozen=True)
class Environment:
    """The environment of a computation (module docstring). ``git`` is None outside a checkout."""

    dufm: str
    jax: str
    jaxlib: str
    optax: str
    numpy: str
    python: str
    backend: str
    devices: tuple[str, ...]
    x64: bool
    host: str
    start: str
    end: str
    git: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["devices"] = list(self.devices)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Environment":
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if k == "devices" else v for k, v in d.items() if k in known})


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout dufm is imported from (``-dirty`` with uncommitted changes), or None."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment(start: str | None = None, end: str | None = None, devices=None) -> Environment:
    """The environment of a computation that ran from ``start`` to ``end`` (default: now) on ``devices`` (default: all local)."""
    devices = list(devices) if devices is not None else jax.local_devices()
    return Environment(
        dufm=__version__, jax=_version("jax"), jaxlib=_version("jaxlib"), optax=_version("optax"), numpy=_version("numpy"),
        python=platform.python_version(), backend=jax.default_backend(), devices=tuple(str(d) for d in devices),
        x64=True,  # dufm scopes 64-bit mode on around its own computations (dufm.runtime)
        host=socket.gethostname(), start=start or now(), end=end or now(), git=git_commit())
