"""A trained network's feature file: its format, its validation (:func:`read`), and writing one (:func:`save`, :func:`export`).

The feature file (``.npz``, written by :func:`save`, by ``numpy.savez`` from
any framework, or by :func:`export` from a dufm point) holds, with samples as
rows as in every neural-collapse library:

* ``labels`` (N,): integer class labels 0..K-1, in any order (K = max + 1;
  every class needs at least 2 samples);
* one array per layer, named freely, of shape (N, d_l) or (E, N, d_l) with a
  leading checkpoint axis (features over training; every layer has the same
  E); the file's order is the layer order;
* optionally ``W_<layer>`` (K, d_l) or (E, K, d_l): the classifier reading
  that layer (its nc3, nc3_duality and classifier nc4), and ``b_<layer>`` (K,)
  or (E, K) its bias;
* optionally ``checkpoints`` (E,): the step or epoch of each checkpoint
  (integers, also when stored as whole floats; fractional values stay floats).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store import write_npz

RESERVED = ("labels", "checkpoints")


class _Memory:
    """An array in memory, read by rows like :class:`_Member`."""

    def __init__(self, a):
        self.a = np.asarray(a)
        self.shape, self.dtype = self.a.shape, self.a.dtype

    def full(self):
        return self.a

    def blocks(self, e: int | None, chunk: int):
        a = self.a if e is None else self.a[e]
        for s in range(0, a.shape[0], chunk):
            yield s, a[s:s + chunk]


class _Member:
    """An array inside an ``.npz`` (a zip of ``.npy``), its rows read in chunks without loading the whole array."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, member: str):
        self.path, self.member = path, member
        with zf.open(member) as f:
            try:
                major, _ = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                self.shape, self.fortran, self.dtype = read(f)
            except ValueError as e:
                raise ValueError(f"{path}: array {member[:-4]!r} is not a readable .npy array ({e})") from None
            self.offset = f.tell()
        if self.dtype.hasobject:
            raise ValueError(f"{path}: array {member[:-4]!r} holds Python objects (dtype {self.dtype}); it must be numeric")

    def _load(self):
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
            return np.lib.format.read_array(f, allow_pickle=False)

    def full(self):
        return self._load()

    def blocks(self, e: int | None, chunk: int):
        rows = self.shape[-2] if len(self.shape) >= 2 else self.shape[0]
        if self.fortran or len(self.shape) < 2:  # rows not contiguous: read the whole array once
            a = self._load()
            a = a if e is None else a[e]
            for s in range(0, rows, chunk):
                yield s, a[s:s + chunk]
            return
        width = self.shape[-1]
        row_bytes = width * self.dtype.itemsize
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
            f.seek(self.offset + (0 if e is None else e * rows * row_bytes))
            for s in range(0, rows, chunk):
                c = min(chunk, rows - s)
                buf = f.read(c * row_bytes)
                if len(buf) != c * row_bytes:
                    raise ValueError(f"{self.path}: array {self.member[:-4]!r} is truncated (damaged file?)")
                yield s, np.frombuffer(buf, self.dtype).reshape(c, width)


def _open(path) -> tuple[dict, Path]:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not an .npz feature file")
    with open(path, "rb"):  # a missing or unreadable file is an OSError naming it
        pass
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz file (a zip of .npy arrays, as numpy.savez writes)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".npy")]
            return {n[:-4]: _Member(path, zf, n) for n in names}, path
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as e:
        raise ValueError(f"{path} is not a readable .npz file (damaged?): {e}") from None


@dataclass(frozen=True, eq=False)
class FeatureFile:
    """A validated feature file (module docstring): labels, layers in order, classifiers, checkpoints.

    ``layers`` name -> array (read lazily from the file); ``weights`` /
    ``biases`` layer name -> array; ``epochs`` is None without a checkpoint
    axis, else E (``checkpoints`` their values, default 0..E-1: integers unless
    some stored value is fractional).
    """

    source: str
    labels: np.ndarray
    classes: int
    counts: np.ndarray
    layers: dict
    weights: dict
    biases: dict
    epochs: int | None
    checkpoints: np.ndarray | None

    @property
    def samples(self) -> int:
        return int(self.labels.shape[0])

    def width(self, name: str) -> int:
        return int(self.layers[name].shape[-1])


def _numeric(source, name, arr):
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{source}: array {name!r} must be real numbers, got dtype {arr.dtype}")


def _finite(source, name, a):
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{source}: {name} has non-finite values (NaN or inf)")


def read(source) -> FeatureFile:
    """The validated :class:`FeatureFile` of ``source``: a path to an ``.npz``, or a mapping name -> array in memory.

    Every problem is a ValueError naming the file and the array (a missing
    file an OSError naming it); the features' finiteness is checked while
    they are streamed (:func:`analyse_features`).
    """
    if isinstance(source, (str, Path)):
        arrays, path = _open(source)
        src = str(path)
    else:
        arrays, src = {k: _Memory(v) for k, v in dict(source).items()}, "features"
    if "labels" not in arrays:
        raise ValueError(f"{src}: no array 'labels' (the (N,) integer class label of every sample)")
    lab = arrays["labels"]
    if len(lab.shape) != 1:
        raise ValueError(f"{src}: labels must have shape (N,), got {tuple(lab.shape)}")
    if lab.dtype.kind not in "iu":
        raise ValueError(f"{src}: labels must be integers 0..K-1, got dtype {lab.dtype}")
    labels = np.asarray(lab.full(), np.int64)
    if labels.size == 0:
        raise ValueError(f"{src}: labels is empty")
    if labels.min() < 0:
        raise ValueError(f"{src}: labels must be integers 0..K-1, got {labels.min()}")
    counts = np.bincount(labels)
    K, N = len(counts), len(labels)
    if K < 2:
        raise ValueError(f"{src}: labels name only class 0; the metrics need K >= 2 classes")
    thin = np.flatnonzero(counts < 2)
    if thin.size:
        k = int(thin[0])
        raise ValueError(f"{src}: class {k} has {counts[k]} sample(s) (labels are 0..{K - 1}); every class needs at least 2: "
                         "with one, its within-class variance (NC1, the trace quotient, CDNV) is undefined, with none its class mean")
    layers = {k: v for k, v in arrays.items() if k not in RESERVED and not k.startswith(("W_", "b_"))}
    if not layers:
        raise ValueError(f"{src}: no feature arrays beside labels (one (N, d) array per layer)")
    epochs = None
    for name, a in layers.items():
        _numeric(src, name, a)
        if len(a.shape) not in (2, 3) or a.shape[-1] < 1:
            raise ValueError(f"{src}: layer {name!r} must have shape (N, d) or (E, N, d), got {tuple(a.shape)}")
        if a.shape[-2] != N:
            raise ValueError(f"{src}: layer {name!r} has {a.shape[-2]} samples (rows) but labels has {N}")
        e = a.shape[0] if len(a.shape) == 3 else None
        if name != next(iter(layers)) and e != epochs:
            raise ValueError(f"{src}: layer {name!r} has shape {tuple(a.shape)}; every layer needs the same checkpoint axis "
                             f"({'none' if epochs is None else f'E = {epochs}'}, as layer {next(iter(layers))!r})")
        epochs = e
        if e == 0:
            raise ValueError(f"{src}: layer {name!r} has an empty checkpoint axis")
    weights, biases = {}, {}
    for prefix, store in (("W_", weights), ("b_", biases)):
        for key in [k for k in arrays if k.startswith(prefix)]:
            layer = key[2:]
            if layer not in layers:
                raise ValueError(f"{src}: {key!r} names no layer of the file (layers: {', '.join(layers)})")
            a = arrays[key]
            _numeric(src, key, a)
            d = layers[layer].shape[-1]
            want = (K, d) if prefix == "W_" else (K,)
            ok = tuple(a.shape) == want or (epochs is not None and tuple(a.shape) == (epochs, *want))
            if not ok:
                what = f"(K, d) = {want}" if prefix == "W_" else f"(K,) = {want}"
                if epochs is not None:
                    what += f" or (E, ...) = {(epochs, *want)}"
                raise ValueError(f"{src}: {key} must have shape {what} (the classifier reading layer {layer!r}), got {tuple(a.shape)}")
            full = np.asarray(a.full(), np.float64)
            _finite(src, key, full)
            if len(a.shape) == len(want):  # one classifier for every checkpoint
                full = full if epochs is None else np.broadcast_to(full, (epochs, *want))
            store[layer] = full
    for layer in biases:
        if layer not in weights:
            raise ValueError(f"{src}: b_{layer} is given without W_{layer}")
    checkpoints = None
    if "checkpoints" in arrays:
        c = arrays["checkpoints"]
        _numeric(src, "checkpoints", c)
        if epochs is None or tuple(c.shape) != (epochs,):
            raise ValueError(f"{src}: checkpoints must have shape (E,) = ({epochs},) to match the layers' checkpoint axis, "
                             f"got {tuple(c.shape)}" if epochs else f"{src}: checkpoints is given but the layers have no checkpoint axis")
        checkpoints = np.asarray(c.full())
        _finite(src, "checkpoints", checkpoints)
        # steps are counts, written as integers even when saved as floats (torch.save, numpy defaults); fractional epochs stay
        if checkpoints.dtype.kind == "f" and np.all(checkpoints == np.round(checkpoints)) and np.all(np.abs(checkpoints) < 2**53):
            checkpoints = checkpoints.astype(np.int64)
    elif epochs is not None:
        checkpoints = np.arange(epochs, dtype=np.int64)
    return FeatureFile(src, labels, K, counts, layers, weights, biases, epochs, checkpoints)


def _atomic(path: Path, arrays: dict):
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path must end in .npz, got {str(path)!r}")
    write_npz(path, arrays)
    return path


def save(path, labels, layers: dict, weights: dict | None = None, biases: dict | None = None, checkpoints=None) -> Path:
    """Write a feature file (module docstring) in one call, after validating it as :func:`analyse_features` would read it.

    ``labels`` (N,) integers; ``layers`` name -> (N, d_l) or (E, N, d_l), in
    layer order; ``weights`` / ``biases`` layer name -> classifier (K, d_l) /
    bias (K,). JAX and torch (``.numpy()``) arrays are converted with
    ``numpy.asarray``. Returns the path.
    """
    arrays = {"labels": np.asarray(labels)}
    clash = [k for k in layers if k in RESERVED or k.startswith(("W_", "b_"))]
    if clash:
        raise ValueError(f"layers must not be named {clash[0]!r} (reserved: labels, checkpoints, W_*, b_*)")
    arrays.update({k: np.asarray(v) for k, v in layers.items()})
    arrays.update({f"W_{k}": np.asarray(v) for k, v in (weights or {}).items()})
    arrays.update({f"b_{k}": np.asarray(v) for k, v in (biases or {}).items()})
    if checkpoints is not None:
        arrays["checkpoints"] = np.asarray(checkpoints)
    f = read(arrays)
    for name in f.layers:
        arr = f.layers[name]
        _finite("features", f"layer {name!r}", arr.full())
    return _atomic(Path(path), arrays)


def features_of(params, problem) -> dict:
    """The feature file's arrays of a dufm point: ``labels``, every H_l (and sigma_H_l for ReLU, l >= 2) and Z as (N, d)
    rows, and ``W_<last hidden>`` = W_L (with ``b_`` for a bias): the matrices :func:`dufm.analyse` reports. One label
    per sample only (a feature file has one label a row)."""
    from dataclasses import replace

    # imported here: reading and checking a feature file needs neither JAX nor the model
    from ..model.objective import forward, post_activation
    from ..model.problem import Params
    from ..runtime import float64

    @float64
    def go():
        arch = replace(problem.architecture, bias="none", dtype="float64")
        host = Params(np.asarray(params.H, np.float64), tuple(np.asarray(w, np.float64) for w in params.W))
        Z, H = forward(host, arch)
        post = post_activation(H, arch)
        return np.asarray(Z), [np.asarray(h) for h in H], [np.asarray(h) for h in post]

    if problem.multi_label:
        raise ValueError(f"labels_per_sample must be 1 to export features: a feature file holds one label per sample, "
                         f"got {problem.labels_per_sample}")
    Z, H, post = go()
    relu = problem.activation == "relu"
    out = {"labels": np.repeat(np.arange(problem.classes), problem.counts)}
    last = None
    for l, h in enumerate(H, start=1):
        out[f"H{l}"] = h.T
        last = f"H{l}"
        if relu and l > 1:
            out[f"sigma_H{l}"] = post[l - 1].T
            last = f"sigma_H{l}"
    out["Z"] = Z.T
    out[f"W_{last}"] = np.asarray(params.W[-1], np.float64)
    if params.b is not None:
        out[f"b_{last}"] = np.asarray(params.b, np.float64)
    return out


def export(params, problem, path) -> Path:
    """Write the features of a dufm point (:func:`features_of`) as a feature file; returns the path."""
    return _atomic(Path(path), features_of(params, problem))
