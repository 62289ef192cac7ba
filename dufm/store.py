"""Results store on local disk: one directory per sweep, crash-safe.

Layout of a sweep directory::

    manifest.json        the sweep config, the keys of its grid, and every run ever declared (key -> run config)
    runs/<key>.npz       arrays of a finished run (final parameters, spectra, history)
    runs/<key>.json      its record (config, status, loss, ranks, NC metrics, ...)
    summary.csv          one row per stored run of the grid (what ``load_results`` returns)
    damaged/             files found damaged, set aside (never deleted)
    figures/             written by ``dufm plot``

Every file is written to a temporary name in the same directory, flushed,
fsync'ed and renamed over its final name, so a reader (or a process killed
with SIGKILL at any instant) sees either the old or the new file, never a torn
one. A run's ``.npz`` is written before its ``.json``; the ``.json`` is the
commit marker: a run is stored iff its ``.json`` exists. Keys are content
hashes of the run config, so resuming rewrites the same names and can never
duplicate a run. No pickle anywhere: JSON, and ``.npz`` read with
``allow_pickle=False``.

The store heals: a record that does not parse, an ``.npz`` that does not
load or does not match its record, or a record of the wrong schema is moved
into ``damaged/`` with a one-line :class:`StoreWarning`, and a resumed sweep
runs it again. A damaged manifest is set aside the same way and rebuilt.

The store knows records (JSON-able dicts) and arrays, not solvers: it stands
on the ground floor. What a valid run is and how it becomes a row of
``summary.csv`` is the caller's :class:`Format`. A :class:`Writer` (from
:meth:`Store.writer`) holds the directory's lock, owns the manifest and
``summary.csv``, and commits finished runs.
"""

from __future__ import annotations

import csv
import datetime
import enum
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import socket
import warnings
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np


class StoreWarning(UserWarning):
    """A damaged file of a results store was found and set aside into its ``damaged/`` folder."""


class Schema(Protocol):
    """What a valid stored run is, and its row of ``summary.csv`` (the records layer provides it)."""

    columns: Sequence[str]

    def check(self, store: "Store", key: str) -> dict:
        """The summary row of stored run ``key``; a ValueError if its files are damaged or do not agree."""

    def row(self, record: dict) -> dict:
        """The summary row of a record about to be committed."""


def jsonable(x):
    """JSON-able data: numpy arrays and scalars to lists and numbers, NaN and inf to None, enumerations to
    their values, NamedTuples and objects with ``to_dict()`` to dicts, tuples to lists."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, enum.Enum):
        return jsonable(x.value)
    if hasattr(x, "_asdict"):
        return jsonable(x._asdict())
    if hasattr(x, "to_dict") and not isinstance(x, type):
        return jsonable(x.to_dict())
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


_committing = [0]  # nesting depth of Writer.commit in this process


def committing() -> bool:
    """Whether runs are being committed right now (a signal handler should let the commit finish)."""
    return _committing[0] > 0


def run_key(config: dict) -> str:
    """Content hash (16 hex digits) of a run config (canonical JSON)."""
    blob = json.dumps(jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _tmp_tag() -> str:
    """``host.pid``: whose temporary file it is (shards on several hosts may write one store)."""
    return f"{socket.gethostname()}.{os.getpid()}"


def _atomic_write(path: Path, data: bytes):
    tmp = path.with_name(f".{path.name}.{_tmp_tag()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a read-only directory: leave nothing half-written, name the file
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_json(path: Path, obj):
    _atomic_write(Path(path), (json.dumps(jsonable(obj), indent=1) + "\n").encode())


def write_npz(path: Path, arrays: dict):
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    _atomic_write(Path(path), buf.getvalue())


def read_json(path: Path):
    """The JSON document at ``path``; a damaged or missing one is a ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON (damaged?): {e}") from None
    except FileNotFoundError:
        raise ValueError(f"{path} is missing") from None


def now() -> str:
    """The current time, UTC, ISO 8601 (seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _orphan(tmp: Path) -> bool:
    """Whether temporary file ``tmp`` (``.NAME.HOST.PID.tmp``) was left by a process of this host that is gone."""
    head, _, pid = tmp.name.removesuffix(".tmp").rpartition(".")
    if not pid.isdigit() or not head.endswith("." + socket.gethostname()):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` under a name not taken yet; returns where it went."""
    folder.mkdir(exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():
        target, n = folder / f"{path.name}.{n}", n + 1
    shutil.move(str(path), str(target))
    return target


def _make_directory(path: Path):
    """``mkdir -p path``; a place that cannot be written (no such parent, no permission, a read-only or virtual file system)
    is a ValueError that says so, naming the results directory."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"results directory {path} cannot be written ({e.strerror or e})") from None


class Store:
    """A sweep directory (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.damaged_dir = self.root / "damaged"

    @property
    def exists(self) -> bool:
        return (self.root / "manifest.json").is_file()

    def create(self, shared: bool = False):
        """Make the directories (a ValueError if the path is a file); remove killed writers' temporary files.

        ``shared`` (other shards may be writing): only this host's temporary
        files whose process is gone; otherwise every one.
        """
        for d in (self.root, self.runs_dir):
            if d.exists() and not d.is_dir():
                raise ValueError(f"results directory {d} exists and is not a directory")
        _make_directory(self.runs_dir)
        for tmp in [*self.runs_dir.glob(".*.tmp"), *self.root.glob(".*.tmp")]:
            if not shared or _orphan(tmp):
                tmp.unlink(missing_ok=True)
        return self

    @contextmanager
    def lock(self, shared: bool = False):
        """Lock the directory for a sweep (released by the OS if the process dies).

        A sweep holds it alone; shards of one sweep (``shared``) hold it
        together, so that a whole sweep and shards never write at once.
        """
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"results directory {self.root} exists and is not a directory")
        _make_directory(self.root)
        with open(self.root / ".lock", "w") as f:
            try:
                fcntl.flock(f, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                what = "a dufm sweep that is not sharded" if shared else "another dufm sweep"
                raise ValueError(f"results directory {self.root} is in use by {what}") from None
            yield

    @contextmanager
    def updating(self, shared: bool = True):
        """The lock every shard takes, waiting, to read and rewrite the shared files (manifest, summary); none if not ``shared``."""
        if not shared:
            yield
            return
        with open(self.root / ".update.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    # manifest -------------------------------------------------------------
    def manifest(self) -> dict:
        """The manifest (``{"runs": {}}`` before the first sweep); a damaged one is a ValueError naming the file."""
        path = self.root / "manifest.json"
        if not path.exists():
            return {"runs": {}}
        doc = read_json(path)
        if not (isinstance(doc, dict) and isinstance(doc.get("runs", {}), dict) and isinstance(doc.get("grid", []), list)
                and isinstance(doc.get("config", {}), dict)):
            raise ValueError(f"{path} is not a dufm manifest (damaged or of another program)")
        return doc

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
        """The arrays of run ``key``; a missing or unreadable ``.npz`` is a ValueError naming the file."""
        path = self.runs_dir / f"{key}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise ValueError(f"{path} is missing") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError):
            raise ValueError(f"{path} is not a readable .npz (damaged?)") from None

    def set_aside(self, key: str, reason: str) -> list[Path]:
        """Move run ``key``'s files into ``damaged/`` (never deleted) with a :class:`StoreWarning`; returns where they went."""
        moved = [_aside(p, self.damaged_dir) for p in (self.runs_dir / f"{key}.json", self.runs_dir / f"{key}.npz") if p.exists()]
        warnings.warn(StoreWarning(f"{reason}; run {key} moved to {self.damaged_dir} (a resumed sweep runs it again)"), stacklevel=2)
        return moved

    def healthy(self, keys: Iterable[str], check) -> dict:
        """``{key: check(self, key)}`` for the stored keys among ``keys`` whose check passes; the others are set aside."""
        out = {}
        for key in sorted(set(keys) & self.stored_keys()):
            try:
                out[key] = check(self, key)
            except ValueError as e:
                self.set_aside(key, str(e))
        return out

    # summary ----------------------------------------------------------------
    def write_summary(self, rows: list[dict], columns: Sequence[str]):
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else (json.dumps(jsonable(r[c])) if isinstance(r.get(c), (list, tuple, dict)) else r[c])
                        for c in columns])
        _atomic_write(self.root / "summary.csv", buf.getvalue().encode())

    @contextmanager
    def writer(self, name: str, config: dict, runs: dict[str, dict], fmt: Schema, environment: dict | None = None,
               shared: bool = False):
        """Lock the directory, declare a grid and yield a :class:`Writer` that commits its finished runs.

        ``runs`` (key -> run config, in grid order) is merged into the
        manifest's runs and becomes its ``grid``. The grid's stored runs are
        checked with ``fmt`` (damaged ones set aside, to be run again), and
        ``summary.csv`` holds their rows, rewritten after every commit and on
        the way out, whatever ends the sweep. ``environment`` (where the
        sweep runs) is written into the manifest, its ``end`` updated on the way out.

        ``shared``: other processes (shards of the same sweep) write into the
        directory at the same time. Each commits only its own runs; the
        manifest and ``summary.csv`` are read and rewritten under
        :meth:`updating`, and the summary also lists the runs the others stored.
        """
        with self.lock(shared):
            self.create(shared)
            with self.updating(shared):
                try:
                    known = self.manifest().get("runs", {})
                except ValueError as e:
                    _aside(self.root / "manifest.json", self.damaged_dir)
                    warnings.warn(StoreWarning(f"{e}; moved to {self.damaged_dir}, a new manifest is written"), stacklevel=3)
                    known = {}
                manifest = {"name": name, "config": config, "runs": {**known, **runs}, "grid": list(runs)}
                if environment is not None:
                    manifest["environment"] = environment
                self.write_manifest(manifest)
                writer = Writer(self, list(runs), fmt, shared)
            try:
                yield writer
            finally:
                writer.write_summary()
                if environment is not None:
                    with self.updating(shared):
                        self.write_manifest({**manifest, "environment": {**environment, "end": now()}})


def summary_columns(fixed: Sequence[str], rows: list[dict]) -> list[str]:
    """``summary.csv``'s header: the schema's ``fixed`` columns, then every other field of the rows whose value differs
    between them (in the order the rows name them), so that the runs of a grid over any field (``init``, ``momentum``,
    ``dtype``, ...) are told apart in the summary while a field that every run shares stays in the manifest only."""
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in fixed]
    return [*fixed, *(k for k in extra if len({json.dumps(jsonable(r.get(k)), sort_keys=True) for r in rows}) > 1)]


class Writer:
    """An open, locked :class:`Store`: commits finished runs and keeps ``summary.csv`` equal to the grid's stored runs."""

    def __init__(self, store: Store, grid: list[str], fmt: Schema, shared: bool = False):
        self.store, self.fmt, self.grid, self.shared = store, fmt, set(grid), shared
        # the summary rows of the grid's healthy stored runs, read once and kept up to date as runs are committed
        self.rows = store.healthy(grid, fmt.check)
        self._write_summary()

    @property
    def stored(self) -> set[str]:
        """Keys of the grid's runs stored (and healthy) so far."""
        return set(self.rows)

    def commit(self, entries: Iterable[tuple[str, dict, dict]]):
        """Store each ``(key, record, arrays)`` (arrays first; the record is the commit marker), then the summary."""
        _committing[0] += 1
        try:
            for key, record, arrays in entries:
                self.store.put(key, record, arrays)
                if key in self.grid:
                    self.rows[key] = self.fmt.row(record)
            self.write_summary()
        finally:
            _committing[0] -= 1

    def write_summary(self):
        """Rewrite ``summary.csv`` (shared: with the runs other shards stored since, read from their records)."""
        with self.store.updating(self.shared):
            self._write_summary()

    def _write_summary(self):
        if self.shared:
            for key in sorted((self.store.stored_keys() & self.grid) - set(self.rows)):
                try:
                    self.rows[key] = self.fmt.row(self.store.record(key))
                except ValueError:  # set aside by its shard in the meantime
                    pass
        rows = [self.rows[k] for k in sorted(self.rows)]
        self.store.write_summary(rows, summary_columns(self.fmt.columns, rows))
