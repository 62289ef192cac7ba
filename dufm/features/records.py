"""Feature analyses in a results directory (``dufm analyse --out DIR``): :func:`store`, :func:`load`.

The directory is a :class:`~dufm.store.Store` whose manifest names its kind
(``features``), so that it is never mistaken for a directory of sweeps; each
analysis is one record, keyed by the hash of its source file and thresholds,
with the singular values of every layer in its arrays.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..store import Store, jsonable, run_key
from .analysis import FeatureAnalysis


class FeatureSchema:
    """The results store's :class:`~dufm.store.Schema` for feature analyses (``dufm analyse --out DIR``)."""

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
    st = Store(out)
    if st.exists and st.manifest().get("config", {}).get("kind") != KIND:
        raise ValueError(f"{out} is a results directory of dufm sweeps; write feature analyses into another directory")
    src = Path(analysis.source)
    digest = hashlib.sha256(src.read_bytes()).hexdigest() if src.is_file() else analysis.source
    config = {"source": str(src), "sha256": digest, "thresholds": analysis.thresholds.to_dict()}
    key = run_key(config)
    record = {**jsonable(analysis.to_dict()), "key": key, "config": config}
    arrays = {}
    for i, cp in enumerate(analysis.checkpoints):
        for name, la in cp.layers.items():
            arrays[f"sv_{i}_{name}"] = la.singular_values
            arrays[f"msv_{i}_{name}"] = la.class_mean_singular_values
    runs = {**st.manifest().get("runs", {}), key: config} if st.exists else {key: config}
    with st.writer("features", {"kind": KIND}, runs, FeatureSchema()) as w:
        w.commit([(key, record, arrays)])
    return key


def load(path) -> list[FeatureAnalysis]:
    """The feature analyses stored in results directory ``path`` (:func:`store`), in key order."""
    st = Store(path)
    if not st.exists or st.manifest().get("config", {}).get("kind") != KIND:
        raise ValueError(f"{path} is not a results directory of feature analyses (dufm analyse --out)")
    keys = st.healthy(st.manifest().get("grid", []), FeatureSchema().check)
    return [FeatureAnalysis.from_dict(st.record(k), str(st.runs_dir / f"{k}.json")) for k in sorted(keys)]


def is_feature_store(path) -> bool:
    """Whether ``path`` is a results directory written by :func:`store`."""
    st = Store(path)
    try:
        return st.exists and st.manifest().get("config", {}).get("kind") == KIND
    except ValueError:
        return False
