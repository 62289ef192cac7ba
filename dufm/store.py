"""Results store on local disk: one directory per sweep, crash-safe.

Layout of a sweep directory::

    manifest.json        the sweep config and every run of its grid (key -> run config)
    runs/<key>.npz       arrays of a finished run (final parameters, spectra, history)
    runs/<key>.json      its record (config, status, loss, ranks, NC metrics, ...)
    summary.csv          one row per stored run
    figures/             written by ``dufm plot``

Every file is written to a temporary name in the same directory, flushed,
fsync'ed and renamed over its final name, so a reader (or a process killed
with SIGKILL at any instant) sees either the old or the new file, never a torn
one. A run's ``.npz`` is written before its ``.json``; the ``.json`` is the
commit marker: a run is stored iff its ``.json`` exists. Keys are content
hashes of the run config, so resuming rewrites the same names and can never
duplicate a run. No pickle anywhere: JSON, and ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .report import plain


def run_key(config: dict) -> str:
    """Content hash (16 hex digits) of a run config (canonical JSON)."""
    blob = json.dumps(plain(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _atomic_write(path: Path, data: bytes):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_json(path: Path, obj):
    _atomic_write(Path(path), (json.dumps(plain(obj), indent=1) + "\n").encode())


def write_npz(path: Path, arrays: dict):
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    _atomic_write(Path(path), buf.getvalue())


class Store:
    """A sweep directory (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    def create(self):
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.runs_dir.glob(".*.tmp"):  # leftovers of a killed writer
            tmp.unlink(missing_ok=True)
        for tmp in self.root.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        return self

    @contextmanager
    def lock(self):
        """Exclusive lock on the directory (released by the OS if the process dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValueError(f"results directory {self.root} is in use by another dufm sweep") from None
            yield

    # manifest -------------------------------------------------------------
    def manifest(self) -> dict:
        path = self.root / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else {"runs": {}}

    def write_manifest(self, manifest: dict):
        write_json(self.root / "manifest.json", manifest)

    # runs -----------------------------------------------------------------
    def stored_keys(self) -> set[str]:
        return {p.stem for p in self.runs_dir.glob("*.json")} if self.runs_dir.exists() else set()

    def put(self, key: str, record: dict, arrays: dict):
        write_npz(self.runs_dir / f"{key}.npz", arrays)
        write_json(self.runs_dir / f"{key}.json", record)

    def record(self, key: str) -> dict:
        return json.loads((self.runs_dir / f"{key}.json").read_text())

    def arrays(self, key: str) -> dict:
        with np.load(self.runs_dir / f"{key}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # summary ----------------------------------------------------------------
    def write_summary(self, records: list[dict], columns: list[str]):
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in records:
            w.writerow(["" if r.get(c) is None else (json.dumps(r[c]) if isinstance(r.get(c), (list, dict)) else r[c]) for c in columns])
        _atomic_write(self.root / "summary.csv", buf.getvalue().encode())
