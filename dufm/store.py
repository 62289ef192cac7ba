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

The store knows records (JSON-able dicts) and arrays, not solvers: it stands
on the ground floor. A :class:`Writer` (from :meth:`Store.writer`) holds the
directory's lock, owns the manifest and ``summary.csv``, and commits finished
runs; the caller says how a record becomes a summary row.
"""

from __future__ import annotations

import csv
import enum
import fcntl
import hashlib
import io
import json
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np


def plain(x):
    """JSON-able data: numpy arrays and scalars to lists and numbers, NaN and inf to None, enumerations to
    their values, NamedTuples and objects with ``to_dict()`` to dicts, tuples to lists."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, enum.Enum):
        return plain(x.value)
    if hasattr(x, "_asdict"):
        return plain(x._asdict())
    if hasattr(x, "to_dict") and not isinstance(x, type):
        return plain(x.to_dict())
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


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


def read_json(path: Path):
    """The JSON document at ``path``; a damaged one is a ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON (damaged?): {e}") from None


class Store:
    """A sweep directory (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    @property
    def exists(self) -> bool:
        return (self.root / "manifest.json").is_file()

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
        return read_json(path) if path.exists() else {"runs": {}}

    def write_manifest(self, manifest: dict):
        write_json(self.root / "manifest.json", manifest)

    # runs -----------------------------------------------------------------
    def stored_keys(self) -> set[str]:
        return {p.stem for p in self.runs_dir.glob("*.json")} if self.runs_dir.exists() else set()

    def put(self, key: str, record: dict, arrays: dict):
        write_npz(self.runs_dir / f"{key}.npz", arrays)
        write_json(self.runs_dir / f"{key}.json", record)

    def record(self, key: str) -> dict:
        return read_json(self.runs_dir / f"{key}.json")

    def arrays(self, key: str) -> dict:
        with np.load(self.runs_dir / f"{key}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # summary ----------------------------------------------------------------
    def write_summary(self, rows: list[dict], columns: Sequence[str]):
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else (json.dumps(plain(r[c])) if isinstance(r.get(c), (list, tuple, dict)) else r[c])
                        for c in columns])
        _atomic_write(self.root / "summary.csv", buf.getvalue().encode())

    @contextmanager
    def writer(self, name: str, config: dict, runs: dict[str, dict], summary: Callable[[dict], dict], columns: Sequence[str]):
        """Lock the directory, declare a grid and yield a :class:`Writer` that commits its finished runs.

        ``runs`` (key -> run config, in grid order) is merged into the
        manifest's runs and becomes its ``grid``; ``summary`` turns a record
        into its ``summary.csv`` row (``columns``).
        """
        with self.lock():
            self.create()
            manifest = self.manifest()
            known = dict(manifest.get("runs", {}))
            known.update(runs)
            self.write_manifest({"name": name, "config": config, "runs": known, "grid": list(runs)})
            writer = Writer(self, summary, columns)
            writer.write_summary()
            yield writer


class Writer:
    """An open, locked :class:`Store`: commits finished runs and keeps ``summary.csv`` equal to the stored records."""

    def __init__(self, store: Store, summary: Callable[[dict], dict], columns: Sequence[str]):
        self.store, self.summary, self.columns = store, summary, list(columns)
        self.stored = store.stored_keys()
        # the summary rows of every stored run, read once and kept up to date as runs are committed
        self.rows = {k: summary(store.record(k)) for k in self.stored}

    def commit(self, entries: Iterable[tuple[str, dict, dict]]):
        """Store each ``(key, record, arrays)`` (arrays first; the record is the commit marker), then the summary."""
        for key, record, arrays in entries:
            self.store.put(key, record, arrays)
            self.stored.add(key)
            self.rows[key] = self.summary(record)
        self.write_summary()

    def write_summary(self):
        self.store.write_summary([self.rows[k] for k in sorted(self.rows)], self.columns)
