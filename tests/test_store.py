"""The results store: stores written before the typed records still load, resume, plot and probe unchanged."""

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_arrays_close, assert_documents_close, write_sweep

from dufm import plots
from dufm.cli import main
from dufm.experiments.config import SweepConfig
from dufm.experiments.records import RECORD_FORMAT, RunRecord, load_results, summary_row
from dufm.experiments.sweep import run_sweep
from dufm.store import Store, StoreWarning, jsonable

DATA = Path(__file__).parent / "data"
V0 = DATA / "store_v0"  # written by dufm at commit a20d8dd from data/store_v0.toml: 4 finished runs (linear MSE, ReLU CE), 2 diverged


@pytest.fixture
def v0(tmp_path):
    shutil.copytree(V0, tmp_path / "store_v0")
    return tmp_path / "store_v0"


def test_old_records_round_trip_exactly():
    store = Store(V0)
    keys = sorted(store.stored_keys())
    assert len(keys) == 6
    for key in keys:
        doc = store.record(key)
        rec = RunRecord.from_dict(doc)
        assert rec.to_dict() == doc  # the typed record is a lossless view of the stored JSON
        assert rec.key == key and rec.config == doc["config"]


@pytest.mark.slow  # a sweep of problems of their own (lambda = 0 records by default: test_unregularised; resuming: the tests below)
def test_unregularised_records_round_trip_exactly_and_their_store_resumes_unchanged(tmp_path, v0):
    cfg = SweepConfig.from_toml(write_sweep(tmp_path, problem={"loss": "ce", "weight_decay": 0.0}, solver={"loss_threshold": 0.02},
                                  grid={"depth": [1, 2]}))
    assert run_sweep(cfg, out=tmp_path / "out").ran == 4
    store = Store(tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out" / "runs").iterdir()}
    for key in store.stored_keys():
        doc = store.record(key)
        rec = RunRecord.from_dict(doc)
        assert rec.to_dict() == doc and doc["solution_type"] is None and doc["config"]["solver"]["loss_threshold"] == 0.02
        assert rec.analysis.scale_free.effective_rank == doc["normalised"]["effective_rank"]
        assert summary_row(doc)["solution_type"] is None
    assert run_sweep(cfg, out=tmp_path / "out").ran == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "out" / "runs").iterdir()} == before
    assert all(r.analysis.scale_free is None for r in load_results(v0).results())  # old (regularised) records have none


def test_old_store_loads_with_typed_records_and_its_summary(v0):
    # a copy: loading sets a damaged run aside, which must never move the fixture's own files
    res = load_results(v0)
    assert len(res) == 6 and len(res.diverged) == 2 and len(res.results()) == 4
    relu = [r for r in res.results() if r.problem.activation == "relu"]
    assert len(relu) == 2 and all(r.problem.bias == "free" and "sigma_H2" in r.analysis.rank for r in relu)
    for rec in res.results():
        params = res.params(rec)
        assert params.H.shape == (4, 6) and len(params.W) == 2
        assert rec.history.loss[-1] == rec.loss and rec.status == "max_steps"
    # summary rows from the typed records (the resume test checks the rewritten summary.csv byte for byte)
    rows = {k: summary_row(Store(V0).record(k)) for k in Store(V0).stored_keys()}
    assert sorted(r["status"] for r in rows.values()) == ["diverged"] * 2 + ["max_steps"] * 4
    assert {r["activation"] for r in rows.values()} == {"linear", "relu"}


def test_old_store_resumes_without_change_and_draws(v0, capsys):
    before = {p.name: p.read_bytes() for p in (v0 / "runs").iterdir()}
    summary = (v0 / "summary.csv").read_bytes()
    result = run_sweep(SweepConfig.from_toml(DATA / "store_v0.toml"), out=v0)
    assert (result.total, result.ran, result.skipped) == (6, 0, 6)
    assert {p.name: p.read_bytes() for p in (v0 / "runs").iterdir()} == before
    # the summary keeps every column it had, row for row, and names the one more field its grid varies (bias)
    old, new = (list(csv.DictReader(io.StringIO(t))) for t in (summary.decode(), (v0 / "summary.csv").read_text()))
    assert list(new[0]) == list(old[0]) + ["bias"]
    assert [{k: r[k] for k in old[0]} for r in new] == old
    assert sorted(r["bias"] for r in new) == ["free"] * 2 + ["none"] * 4
    figs = plots.figures(load_results(v0))
    assert sorted(figs) == ["logit_heatmaps", "loss_curves", "nc1_curves", "singular_values"]
    assert "2 diverged runs excluded" in figs["loss_curves"]._suptitle.get_text()


def test_old_store_run_probes_like_its_parameters(v0, capsys):
    res = load_results(v0)
    rec = next(r for r in res.results() if r.problem.activation == "linear")
    assert main(["probe", "--result", str(v0), "--key", rec.key, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["loss"] == pytest.approx(rec.loss, rel=1e-13) and d["hessian"]["method"] == "dense"
    assert d["problem"] == rec.problem.to_dict()


def _finished(store_dir):
    return sorted(r.key for r in load_results(store_dir).results())


DAMAGES = {
    "record does not parse": lambda runs, key, other: (runs / f"{key}.json").write_text('{"seed": 0, "sta'),
    "record is empty": lambda runs, key, other: (runs / f"{key}.json").write_text(""),
    "record of the wrong schema": lambda runs, key, other: (runs / f"{key}.json").write_text(json.dumps({"seed": 0})),
    "record of another run": lambda runs, key, other: shutil.copy(runs / f"{other}.json", runs / f"{key}.json"),
    "arrays truncated": lambda runs, key, other: (runs / f"{key}.npz").write_bytes((runs / f"{key}.npz").read_bytes()[:700]),
    "arrays missing": lambda runs, key, other: (runs / f"{key}.npz").unlink(),
    "arrays of another run": lambda runs, key, other: shutil.copy(runs / f"{other}.npz", runs / f"{key}.npz"),
}


def _summary(path):
    """summary.csv as rows of cells, numbers parsed (the loss and gradient norm of a run computed elsewhere may differ
    in their last bits)."""
    import csv

    def cell(v):
        try:
            return float(v)
        except ValueError:
            return v

    return [[cell(v) for v in row] for row in csv.reader(path.read_text().splitlines())]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_run_is_set_aside_and_run_again(v0, damage):
    key, other = _finished(v0)[:2]
    before = {p.name: p.read_bytes() for p in (v0 / "runs").iterdir()}
    DAMAGES[damage](v0 / "runs", key, other)
    with pytest.warns(StoreWarning, match=f"run {key} moved to"):
        result = run_sweep(SweepConfig.from_toml(DATA / "store_v0.toml"), out=v0)
    assert (result.total, result.ran, result.skipped) == (6, 1, 5)
    moved = {p.name for p in (v0 / "damaged").iterdir()}
    assert moved == ({f"{key}.json"} if damage == "arrays missing" else {f"{key}.json", f"{key}.npz"})
    # the re-run equals the run stored before the damage: the untouched runs bit for bit, the re-run one (computed on
    # another machine than the fixture) to 1e-12 (helpers.assert_arrays_close), its record up to its provenance
    after = {p.name: p.read_bytes() for p in (v0 / "runs").iterdir()}
    assert set(after) == set(before)
    for name, data in before.items():
        if not name.startswith(key):
            assert after[name] == data, name
        elif name.endswith(".npz"):
            with np.load(io.BytesIO(data)) as old, np.load(io.BytesIO(after[name])) as new:
                assert sorted(old.files) == sorted(new.files)
                for f in old.files:
                    assert_arrays_close(old[f], new[f], what=f"{name}:{f}")
        else:
            doc, old = json.loads(after[name]), json.loads(data)
            assert set(doc.pop("environment")) >= {"dufm", "jax", "jaxlib", "optax", "numpy", "host", "start", "end", "x64"}
            # a record of the current format (store_v0's are format 1: no key), with the metrics added since store_v0
            # was written; every metric it had agrees (format 1 computed nc1 ... nc3 from F directly: RECORD_FORMAT)
            assert doc.pop("record_format") == RECORD_FORMAT and "record_format" not in old
            for layer, metrics in doc.get("nc", {}).items():
                added = set(metrics) - set(old["nc"][layer])
                assert added == {"cdnv", "nc2_equinorm", "nc2_equiangle", "nc4"}, (layer, added)
                for m in added:
                    metrics.pop(m)
            assert_documents_close(old, doc, path=name)
    rows, want = _summary(v0 / "summary.csv"), _summary(V0 / "summary.csv")
    assert len(rows) == 7 and [r[0] for r in rows] == [r[0] for r in want]
    assert rows[0][len(want[0]):] == ["bias"]  # the field the grid varies that the old summary did not name
    assert_documents_close(want, [r[:len(want[0])] for r in rows])
    # what one machine computes twice is equal bit for bit: damage the re-run run again, run it once more
    DAMAGES[damage](v0 / "runs", key, other)
    with pytest.warns(StoreWarning, match=f"run {key} moved to"):
        assert run_sweep(SweepConfig.from_toml(DATA / "store_v0.toml"), out=v0).ran == 1
    again = {p.name: p.read_bytes() for p in (v0 / "runs").iterdir()}
    assert again[f"{key}.npz"] == after[f"{key}.npz"]
    first, second = json.loads(after[f"{key}.json"]), json.loads(again[f"{key}.json"])
    first.pop("environment"), second.pop("environment")
    assert first == second


def test_load_results_sets_a_damaged_run_aside(v0):
    key = _finished(v0)[0]
    (v0 / "runs" / f"{key}.npz").write_bytes(b"not a zip file")
    with pytest.warns(StoreWarning, match=f"{key}.npz is not a readable .npz"):
        res = load_results(v0)
    assert key not in {r.key for r in res.records} and len(res) == 5
    assert sorted(p.name for p in (v0 / "damaged").iterdir()) == [f"{key}.json", f"{key}.npz"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # healed: nothing more to warn about
        assert [r.to_dict() for r in load_results(v0).records] == [r.to_dict() for r in res.records]


def test_a_damaged_manifest_is_set_aside_and_rebuilt(v0):
    (v0 / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="manifest.json is not a dufm manifest"):
        load_results(v0)
    with pytest.warns(StoreWarning, match="manifest.json is not a dufm manifest"):
        result = run_sweep(SweepConfig.from_toml(DATA / "store_v0.toml"), out=v0)
    assert result.ran == 0 and (v0 / "damaged" / "manifest.json").read_text() == "[1, 2]"
    assert len(load_results(v0)) == 6


def test_plain_makes_typed_values_json():
    from dufm.solving.solver import Status
    from dufm.theory import CriticalScale

    doc = jsonable({"s": Status.CONVERGED, "c": CriticalScale(1.0, 2.0, "minimum"), "x": np.float32(np.nan), "t": (np.int64(3),),
                 "a": np.eye(2)})
    assert json.loads(json.dumps(doc)) == {"s": "converged", "c": {"scale": 1.0, "loss": 2.0, "kind": "minimum"}, "x": None,
                                            "t": [3], "a": [[1.0, 0.0], [0.0, 1.0]]}


def test_the_summary_names_every_field_its_runs_differ_in(tmp_path):
    from dufm.experiments.records import SUMMARY_COLUMNS
    from dufm.store import summary_columns

    rows = [{"key": "a", "x": 1, "init": "pytorch", "w": [1, 2], "same": 3}, {"key": "b", "x": 2, "init": "orthogonal", "w": [1, 3], "same": 3}]
    assert summary_columns(["key", "x"], rows) == ["key", "x", "init", "w"]
    assert summary_columns(["key"], rows[:1]) == ["key"]
    # a sweep over the initialisation: the fixed columns, then init
    cfg = SweepConfig.from_dict(dict(name="inits", seeds=1, problem=dict(classes=3, per_class=2, width=4, depth=2, loss="mse",
                                                                         weight_decay=0.002),
                                     solver=dict(steps=10), grid=[dict(init=["pytorch", "orthogonal"])]))
    run_sweep(cfg, out=tmp_path / "s")
    with open(tmp_path / "s" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [*SUMMARY_COLUMNS, "init"]
    assert sorted(r["init"] for r in rows) == ["orthogonal", "pytorch"]
    by_key = {r.key: r.solver.init for r in load_results(tmp_path / "s").results()}
    assert {r["key"]: r["init"] for r in rows} == by_key
