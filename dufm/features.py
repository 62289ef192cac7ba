"""A trained network's features: the file that holds them, its validation, and their NC metrics and spectra.

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
* optionally ``checkpoints`` (E,): the step or epoch of each checkpoint.

:func:`analyse_features` streams every layer in chunks of rows straight out
of the zip member (compressed or not), in two passes per layer and
checkpoint (:func:`dufm.geometry.feature_stats`): float64 accumulation, memory
O(d^2 + K d + chunk d), never an N x N matrix. Per layer it reports every
metric of :mod:`dufm.geometry` (``nc1``, ``nc1_trace``, ``cdnv``,
``nc2_etf``, ``nc2_of``, ``nc2_equinorm``, ``nc2_equiangle``, ``nc3``,
``nc3_duality``, ``nc4``), the singular values and numerical rank of the
features X (N x d_l) and of the centred class means Mbar (K x d_l), and a
solution type from the class means.

Solution type of a layer, from the singular values s of its centred class
means (the geometry the deep-UFM papers classify; a real network's
within-class noise makes every sample matrix full rank): ``trivial`` if
s_1 / sqrt(K) <= trivial_tol (the class means coincide); ``low-rank`` if
rank < K - 1; ``dnc`` if rank = K - 1 and s_{K-1} / s_1 >= 1 - equal_tol;
``other`` otherwise. The network's type is that of its last layer, made
``low-rank`` when any layer's class-mean rank is below K - 1: dufm's rule for
its own points (:func:`dufm.geometry.solution_type`) read off class means,
with r_full = K - 1 (a real network's biases absorb the global mean).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import FeatureStats, NCMetrics, SolutionType, Thresholds, feature_stats, nc_from_stats, numerical_rank, singular_values

RESERVED = ("labels", "checkpoints")
METRICS = ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "nc2_equinorm", "nc2_equiangle", "nc3", "nc3_duality", "nc4")
CHUNK = 8192  # rows per chunk (default)


# ---------------------------------------------------------------------------
# arrays: in memory, or rows read straight out of an .npz member


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


# ---------------------------------------------------------------------------
# the validated file


@dataclass(frozen=True, eq=False)
class FeatureFile:
    """A validated feature file (module docstring): labels, layers in order, classifiers, checkpoints.

    ``layers`` name -> array (read lazily from the file); ``weights`` /
    ``biases`` layer name -> array; ``epochs`` is None without a checkpoint
    axis, else E (``checkpoints`` their values, default 0..E-1).
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
        checkpoints = np.asarray(c.full(), np.float64)
        _finite(src, "checkpoints", checkpoints)
    elif epochs is not None:
        checkpoints = np.arange(epochs, dtype=np.float64)
    return FeatureFile(src, labels, K, counts, layers, weights, biases, epochs, checkpoints)


# ---------------------------------------------------------------------------
# analysis


@dataclass(frozen=True, eq=False)
class LayerAnalysis:
    """One layer at one checkpoint: its NC metrics, spectra and solution type (module docstring).

    ``singular_values`` of the features X (N x d): min(N, d) values;
    ``class_mean_singular_values`` of the centred class means Mbar (K x d).
    ``classifier``: whether a classifier W was given (``nc3``, ``nc3_duality``
    are then set, and ``nc4`` compares with its prediction instead of the label).
    """

    width: int
    nc: NCMetrics
    singular_values: np.ndarray
    rank: int
    class_mean_singular_values: np.ndarray
    class_mean_rank: int
    solution_type: SolutionType
    classifier: bool

    def to_dict(self) -> dict:
        m = self.nc
        return {"width": self.width, **{k: getattr(m, k) for k in METRICS}, "nc4_reference": "classifier" if self.classifier else "labels",
                "singular_values": self.singular_values, "rank": self.rank, "class_mean_singular_values": self.class_mean_singular_values,
                "class_mean_rank": self.class_mean_rank, "solution_type": self.solution_type}

    @classmethod
    def from_dict(cls, d: dict) -> "LayerAnalysis":
        nc = NCMetrics(**{k: (float("nan") if d[k] is None and k not in ("nc3", "nc3_duality") else d[k]) for k in METRICS})
        return cls(int(d["width"]), nc, np.asarray(d["singular_values"], np.float64), int(d["rank"]),
                   np.asarray(d["class_mean_singular_values"], np.float64), int(d["class_mean_rank"]), SolutionType(d["solution_type"]),
                   d["nc4_reference"] == "classifier")


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """Every layer of one checkpoint (``step``: its value; None without a checkpoint axis) and the network's solution type."""

    step: float | None
    layers: dict[str, LayerAnalysis]
    solution_type: SolutionType

    def to_dict(self) -> dict:
        d = {} if self.step is None else {"checkpoint": self.step}
        return {**d, "solution_type": self.solution_type, "layers": {k: v.to_dict() for k, v in self.layers.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Checkpoint":
        return cls(d.get("checkpoint"), {k: LayerAnalysis.from_dict(v) for k, v in d["layers"].items()}, SolutionType(d["solution_type"]))


@dataclass(frozen=True, eq=False)
class FeatureAnalysis:
    """The analysis of a feature file: one :class:`Checkpoint` per checkpoint (one without a checkpoint axis).

    ``to_dict`` (what ``dufm analyse --json`` prints): without a checkpoint
    axis ``{"source", "classes", "samples", "counts", "thresholds",
    "solution_type", "layers": {NAME: {...}}}``; with one, ``"layers"`` and
    ``"solution_type"`` move into ``"checkpoints": [{"checkpoint": step,
    "solution_type", "layers"}, ...]``.
    """

    source: str
    classes: int
    counts: tuple[int, ...]
    thresholds: Thresholds
    checkpoints: tuple[Checkpoint, ...]
    over_training: bool

    @property
    def samples(self) -> int:
        return int(sum(self.counts))

    @property
    def layers(self) -> dict[str, LayerAnalysis]:
        """The layers of the last checkpoint (the only one without a checkpoint axis)."""
        return self.checkpoints[-1].layers

    @property
    def solution_type(self) -> SolutionType:
        return self.checkpoints[-1].solution_type

    def to_dict(self) -> dict:
        head = {"source": self.source, "classes": self.classes, "samples": self.samples, "counts": list(self.counts),
                "thresholds": self.thresholds.to_dict()}
        if self.over_training:
            return {**head, "checkpoints": [c.to_dict() for c in self.checkpoints]}
        return {**head, **self.checkpoints[0].to_dict()}

    @classmethod
    def from_dict(cls, d: dict, source: str = "record") -> "FeatureAnalysis":
        """The analysis of :meth:`to_dict`; a malformed one is a ValueError naming ``source``."""
        try:
            over = "checkpoints" in d
            cps = [Checkpoint.from_dict(c) for c in d["checkpoints"]] if over else [Checkpoint.from_dict(d)]
            return cls(d["source"], int(d["classes"]), tuple(int(c) for c in d["counts"]), Thresholds(**d["thresholds"]), tuple(cps), over)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{source} is not a dufm feature analysis (damaged or of another version): {type(e).__name__}: {e}") from None


def layer_type(s, classes: int, th: Thresholds) -> SolutionType:
    """``trivial`` | ``low-rank`` | ``dnc`` | ``other`` from the singular values ``s`` of centred class means (module docstring)."""
    s = np.asarray(s)
    if s.size == 0 or s[0] / np.sqrt(classes) <= th.trivial_tol:
        return SolutionType.TRIVIAL
    r = numerical_rank(s, th.rank_tol, th.zero_tol)
    if r < classes - 1:
        return SolutionType.LOW_RANK
    if r == classes - 1 and s[r - 1] / s[0] >= 1 - th.equal_tol:
        return SolutionType.DNC
    return SolutionType.OTHER


def network_type(layers: dict[str, LayerAnalysis], classes: int) -> SolutionType:
    """The last layer's type, ``low-rank`` when some layer's class means have rank < K - 1 (module docstring)."""
    last = list(layers.values())[-1].solution_type
    if last != SolutionType.TRIVIAL and any(a.class_mean_rank < classes - 1 for a in layers.values()):
        return SolutionType.LOW_RANK
    return last


def _chunks(f: FeatureFile, name: str, e: int | None, chunk: int):
    arr, labels = f.layers[name], f.labels

    def chunks():
        for s, X in arr.blocks(e, chunk):
            X = np.asarray(X, np.float64)
            if not np.all(np.isfinite(X)):
                row = s + int(np.flatnonzero(~np.all(np.isfinite(X), axis=1))[0])
                at = "" if e is None else f" at checkpoint {e}"
                raise ValueError(f"{f.source}: layer {name!r} has non-finite features (NaN or inf){at}, first in sample {row}")
            yield X, labels[s:s + len(X)]

    return chunks


def analyse_layer(f: FeatureFile, name: str, e: int | None = None, th: Thresholds = Thresholds(), chunk: int = CHUNK) -> LayerAnalysis:
    """One layer of a :class:`FeatureFile` at checkpoint ``e`` (None without a checkpoint axis), streamed in ``chunk`` rows."""
    W = f.weights.get(name)
    b = f.biases.get(name)
    if e is not None:
        W = None if W is None else W[e]
        b = None if b is None else b[e]
    st: FeatureStats = feature_stats(_chunks(f, name, e, chunk), f.classes, W, b)
    nc = nc_from_stats(st, W, th.rank_tol, centred_duality=True, last=W is not None)
    sv = singular_values(st.r)
    msv = singular_values(st.means - st.global_mean)
    return LayerAnalysis(f.width(name), nc, sv, numerical_rank(sv, th.rank_tol, th.zero_tol), msv,
                         numerical_rank(msv, th.rank_tol, th.zero_tol), layer_type(msv, f.classes, th), W is not None)


def analyse_features(source, thresholds: Thresholds = Thresholds(), chunk: int = CHUNK) -> FeatureAnalysis:
    """NC metrics, spectra and solution types of every layer (and checkpoint) of a feature file (module docstring).

    ``source``: a path to an ``.npz`` or a mapping name -> array (the same
    names); ``chunk``: rows per chunk (memory O(chunk d)). Bad input is a
    ValueError naming the file and the array.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    f = read(source)
    cps = []
    for e in ([None] if f.epochs is None else range(f.epochs)):
        layers = {name: analyse_layer(f, name, e, thresholds, int(chunk)) for name in f.layers}
        step = None if e is None else float(f.checkpoints[e])
        cps.append(Checkpoint(step, layers, network_type(layers, f.classes)))
    return FeatureAnalysis(f.source, f.classes, tuple(int(c) for c in f.counts), thresholds, tuple(cps), f.epochs is not None)


# ---------------------------------------------------------------------------
# writing feature files


def _atomic(path: Path, arrays: dict):
    from .store import write_npz

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
    rows, and ``W_<last hidden>`` = W_L (with ``b_`` for a bias): the matrices :func:`dufm.geometry.analyse` reports."""
    from dataclasses import replace

    from .objective import forward, post_activation
    from .precision import float64
    from .problem import Params

    @float64
    def go():
        arch = replace(problem.architecture, bias="none", dtype="float64")
        host = Params(np.asarray(params.H, np.float64), tuple(np.asarray(w, np.float64) for w in params.W))
        Z, H = forward(host, arch)
        post = post_activation(H, arch)
        return np.asarray(Z), [np.asarray(h) for h in H], [np.asarray(h) for h in post]

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


# ---------------------------------------------------------------------------
# the results store


class FeatureFormat:
    """The results store's :class:`~dufm.store.Format` for feature analyses (``dufm analyse --out DIR``)."""

    columns = ("key", "source", "classes", "samples", "checkpoints", "layers", "solution_type")

    def check(self, store, key: str) -> dict:
        return self.row(store.record(key), str(store.runs_dir / f"{key}.json"))

    def row(self, record: dict, source: str = "record") -> dict:
        a = FeatureAnalysis.from_dict(record, source)
        return {"key": record.get("key"), "source": a.source, "classes": a.classes, "samples": a.samples,
                "checkpoints": len(a.checkpoints), "layers": " ".join(a.layers), "solution_type": str(a.solution_type)}


KIND = "features"


def store(analysis: FeatureAnalysis, out) -> str:
    """Add ``analysis`` to the results directory ``out`` (created if needed; a directory of sweeps is refused); returns its key."""
    import hashlib

    from .store import Store, plain, run_key

    st = Store(out)
    if st.exists and st.manifest().get("config", {}).get("kind") != KIND:
        raise ValueError(f"{out} is a results directory of dufm sweeps; write feature analyses into another directory")
    src = Path(analysis.source)
    digest = hashlib.sha256(src.read_bytes()).hexdigest() if src.is_file() else analysis.source
    config = {"source": str(src), "sha256": digest, "thresholds": analysis.thresholds.to_dict()}
    key = run_key(config)
    record = {**plain(analysis.to_dict()), "key": key, "config": config}
    arrays = {}
    for i, cp in enumerate(analysis.checkpoints):
        for name, la in cp.layers.items():
            arrays[f"sv_{i}_{name}"] = la.singular_values
            arrays[f"msv_{i}_{name}"] = la.class_mean_singular_values
    runs = {**st.manifest().get("runs", {}), key: config} if st.exists else {key: config}
    with st.writer("features", {"kind": KIND}, runs, FeatureFormat()) as w:
        w.commit([(key, record, arrays)])
    return key


def load(path) -> list[FeatureAnalysis]:
    """The feature analyses stored in results directory ``path`` (:func:`store`), in key order."""
    from .store import Store

    st = Store(path)
    if not st.exists or st.manifest().get("config", {}).get("kind") != KIND:
        raise ValueError(f"{path} is not a results directory of feature analyses (dufm analyse --out)")
    keys = st.healthy(st.manifest().get("grid", []), FeatureFormat().check)
    return [FeatureAnalysis.from_dict(st.record(k), str(st.runs_dir / f"{k}.json")) for k in sorted(keys)]


def is_feature_store(path) -> bool:
    """Whether ``path`` is a results directory written by :func:`store`."""
    from .store import Store

    st = Store(path)
    try:
        return st.exists and st.manifest().get("config", {}).get("kind") == KIND
    except ValueError:
        return False


__all__ = ["FeatureFile", "LayerAnalysis", "Checkpoint", "FeatureAnalysis", "read", "analyse_features", "analyse_layer", "save",
           "export", "features_of", "store", "load", "layer_type", "network_type"]
