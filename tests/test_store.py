"""The results store: stores written before the typed records still load, resume, plot and probe unchanged."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dufm import plots
from dufm.cli import main
from dufm.records import RunRecord, load_results, summary_row
from dufm.store import Store, plain
from dufm.sweep import load_config, run_sweep

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


def test_old_store_loads_with_typed_records_and_its_summary():
    res = load_results(V0)
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
    result = run_sweep(load_config(DATA / "store_v0.toml"), out=v0)
    assert (result.total, result.ran, result.skipped) == (6, 0, 6)
    assert {p.name: p.read_bytes() for p in (v0 / "runs").iterdir()} == before
    assert (v0 / "summary.csv").read_bytes() == summary
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


def test_damaged_record_names_its_file(v0):
    key = sorted(Store(v0).stored_keys())[0]
    (v0 / "runs" / f"{key}.json").write_text('{"seed": 0, "sta')
    with pytest.raises(ValueError, match=f"{key}.json is not valid JSON"):
        load_results(v0)
    (v0 / "runs" / f"{key}.json").write_text(json.dumps({"seed": 0}))
    with pytest.raises(ValueError, match=f"{key}.json is not a dufm run record"):
        load_results(v0)


def test_plain_makes_typed_values_json():
    from dufm.solve import Status
    from dufm.theory import CriticalScale

    doc = plain({"s": Status.CONVERGED, "c": CriticalScale(1.0, 2.0, "minimum"), "x": np.float32(np.nan), "t": (np.int64(3),),
                 "a": np.eye(2)})
    assert json.loads(json.dumps(doc)) == {"s": "converged", "c": {"scale": 1.0, "loss": 2.0, "kind": "minimum"}, "x": None,
                                            "t": [3], "a": [[1.0, 0.0], [0.0, 1.0]]}
