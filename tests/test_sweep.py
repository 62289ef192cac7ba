"""Sweeps: grid expansion, batching equals solve(), store atomicity, SIGKILL and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import write_sweep

import dufm
from dufm.experiments.config import SweepConfig
from dufm.experiments.records import load_results
from dufm.experiments.sweep import group, plan, run_sweep
from dufm.solving.solver import SolverConfig, solve


def write(tmp_path, seeds=2, max_batch=32, steps=400, grid=None, name="tiny.toml"):
    return write_sweep(tmp_path, name, seeds=seeds, max_batch=max_batch, solver={"steps": steps}, grid=grid)


def test_grid_expansion_and_grouping(tmp_path):
    cfg = SweepConfig.from_toml(write(tmp_path, seeds=3, grid={"width": [4, 5], "weight_decay": [0.002, 0.004], "init_scale": [0.1, 0.3]}))
    specs = cfg.runs()
    assert len(specs) == 2 * 2 * 2 * 3 and len({s.key for s in specs}) == len(specs)
    groups = group(specs)
    # width changes the shapes; lambda, init scale and seed are batched
    assert sorted(len(g) for g in groups) == [12, 12]
    with pytest.raises(ValueError, match="unknown"):
        SweepConfig.from_dict({**cfg.to_dict(), "grid": {"colour": [1]}})
    with pytest.raises(ValueError, match="weight_decay"):
        SweepConfig.from_dict({**cfg.to_dict(), "grid": {"weight_decay": [-1.0]}})


def test_sweep_results_equal_solve(tmp_path):
    cfg = SweepConfig.from_toml(write(tmp_path, seeds=2, max_batch=4, grid={"weight_decay": [0.002, 0.004], "init_scale": [0.1, 0.3]}))
    run_sweep(cfg, out=tmp_path / "out")
    res = load_results(tmp_path / "out")
    assert len(res) == 8
    for rec in res.records:
        problem = dufm.Problem(classes=3, per_class=2, width=4, depth=2, loss="mse", weight_decay=rec.problem.lambda_H)
        assert problem.to_dict() == rec.problem.to_dict()
        alone = solve(problem, SolverConfig(steps=400, init_scale=rec.solver.init_scale, log_every=50), seeds=[rec.seed])[0]
        assert abs(alone.loss - rec.loss) <= 1e-12 * alone.loss and alone.steps == rec.steps
        arr = res.arrays(rec)
        np.testing.assert_allclose(arr["H"], alone.params.H, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.params(rec).H, alone.params.H, rtol=0, atol=1e-12)
        np.testing.assert_allclose(arr["history_loss"], alone.history.loss, rtol=1e-12)
        np.testing.assert_allclose(rec.history.loss, alone.history.loss, rtol=1e-12)
    table = res.table()
    assert len(table["loss"]) == 8 and set(table["status"]) <= {"converged", "max_steps"}
    assert (tmp_path / "out" / "summary.csv").read_text().count("\n") == 9


@pytest.mark.slow  # a problem of its own, by design (by default: test_optimum's search compiles once; test_solve's batches)
def test_a_sweep_over_learning_rates_tolerances_and_step_limits_compiles_the_solver_once(tmp_path, caplog):
    """lr, tol and steps are inputs of the compiled program (dufm.solving.solver.ProgramInputs): 5 x 3 x 2 runs in 8 batches, one compilation;
    every run equals the same run solved alone."""
    import logging

    import jax

    grid = {"lr": [0.1, 0.2, 0.3, 0.4, 0.5], "tol": [3e-2, 1e-6, 1e-9], "steps": [300, 400]}
    # a shape no other test uses, so that no earlier test in this process compiled its program
    config = SweepConfig.from_toml(write_sweep(tmp_path, "once.toml", seeds=1, max_batch=4, problem={"width": 9, "per_class": 3},
                                     solver={"log_every": 50}, grid=grid))
    with caplog.at_level(logging.WARNING, logger="jax"), jax.log_compiles():
        result = run_sweep(config, out=tmp_path / "out")
    assert result.ran == 30 and len(plan(config.runs(), max_batch=4).batches) == 8
    compiled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling jit(solver)")]
    assert len(compiled) == 1, compiled
    res = load_results(tmp_path / "out")
    assert {r.status for r in res.records} >= {"converged", "max_steps"}
    for rec in res.records[::7]:
        problem = dufm.Problem.from_dict(rec.problem.to_dict())
        alone = solve(problem, rec.solver, seeds=[rec.seed])[0]
        assert alone.steps == rec.steps and alone.status == rec.status and alone.loss == rec.loss


def test_second_sweep_does_no_work_and_changed_grid_adds_only_new_runs(tmp_path, capsys):
    path = write(tmp_path)
    first = run_sweep(SweepConfig.from_toml(path), out=tmp_path / "out")
    assert first.ran == 4
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "runs").iterdir()}
    from dufm.cli import main

    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "nothing to do" in capsys.readouterr().err
    again = run_sweep(SweepConfig.from_toml(path), out=tmp_path / "out")
    assert again.ran == 0 and again.skipped == 4
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "runs").iterdir()} == before
    bigger = write(tmp_path, grid={"weight_decay": [0.002, 0.004, 0.008, 0.016]})
    third = run_sweep(SweepConfig.from_toml(bigger), out=tmp_path / "out")
    assert third.ran == 4 and third.skipped == 4
    assert len(load_results(tmp_path / "out")) == 8
    # a smaller grid: the other runs stay on disk but are not part of the loaded results
    smaller = write(tmp_path, grid={"weight_decay": [0.008]})
    assert run_sweep(SweepConfig.from_toml(smaller), out=tmp_path / "out").ran == 0
    assert len(load_results(tmp_path / "out")) == 2 and len(load_results(tmp_path / "out", every_run=True)) == 8


def test_diverged_runs_are_recorded_not_stored_as_results(tmp_path):
    cfg = SweepConfig.from_toml(write(tmp_path, grid={"lr": [0.5, 200.0]}))
    out = run_sweep(cfg, out=tmp_path / "out")
    assert out.status["diverged"] == 2
    res = load_results(tmp_path / "out")
    bad = res.diverged
    assert len(bad) == 2 and len(res.results()) == 2
    for rec in bad:
        assert rec.loss is None and rec.steps > 0 and rec.analysis is None
        doc = json.loads((tmp_path / "out" / "runs" / f"{rec.key}.json").read_text())
        assert doc["loss"] is None and doc["diverged_at_step"] == rec.steps > 0 and "singular_values" not in doc
        assert "H" not in res.arrays(rec)
        with pytest.raises(ValueError, match="must hold the parameter arrays"):
            res.params(rec)


def _stored(out: Path) -> int:
    return len(list((out / "runs").glob("*.json"))) if (out / "runs").exists() else 0


def _check_consistent(out: Path):
    """Every visible record parses, has its arrays, and names itself; no duplicates."""
    manifest = json.loads((out / "manifest.json").read_text())
    keys = []
    for j in (out / "runs").glob("*.json"):
        rec = json.loads(j.read_text())
        assert rec["key"] == j.stem and rec["key"] in manifest["runs"]
        with np.load(j.with_suffix(".npz"), allow_pickle=False) as z:
            assert "history_loss" in z.files
        keys.append(rec["key"])
    assert len(keys) == len(set(keys))
    return set(keys)


def _kill_when(out: Path, cmd, at_least: int, timeout=120):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    t0 = time.time()
    while _stored(out) < at_least and proc.poll() is None and time.time() - t0 < timeout:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


@pytest.mark.slow  # four dufm processes, two of them killed
def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(tmp_path):
    path = write(tmp_path, seeds=16, max_batch=1, steps=1500)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "dufm", "sweep", str(path), "--out", str(out)]
    code = _kill_when(out, cmd, at_least=3)
    assert code == -signal.SIGKILL
    n1 = len(_check_consistent(out))
    assert 3 <= n1 < 32, n1  # killed mid-way
    code = _kill_when(out, cmd, at_least=n1 + 2)  # a second kill, after the resume made progress
    assert code == -signal.SIGKILL
    n2 = len(_check_consistent(out))
    assert n1 < n2 < 32, (n1, n2)
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0 and f"({n2} of 32 already stored)" in done.stderr
    killed = _check_consistent(out)
    assert not list((out / "runs").glob(".*.tmp"))
    clean = tmp_path / "clean"
    run_sweep(SweepConfig.from_toml(path), out=clean)
    assert killed == _check_consistent(clean) and len(killed) == 32
    a, b = load_results(out), load_results(clean)
    la = {r.key: r.loss for r in a.records}
    lb = {r.key: r.loss for r in b.records}
    assert all(abs(la[k] - lb[k]) <= 1e-12 * lb[k] for k in lb)
    assert "nothing to do" in subprocess.run(cmd, capture_output=True, text=True).stderr


def test_plan_is_pure_and_batches_groups(tmp_path):
    specs = SweepConfig.from_toml(write(tmp_path, seeds=5, grid={"width": [4, 5], "weight_decay": [0.002, 0.004]})).runs()
    whole = plan(specs, max_batch=4)
    assert (whole.total, whole.stored, whole.todo) == (20, 0, 20)
    assert [(len(b.specs), b.size, b.group, b.groups) for b in whole.batches] == (
        [(4, 4, 1, 2)] * 2 + [(2, 4, 1, 2)] + [(4, 4, 2, 2)] * 2 + [(2, 4, 2, 2)])
    assert sum(len(b.specs) for b in whole.batches) == 20
    done = {s.key for s in specs[:7]}
    rest = plan(specs, done, max_batch=32)
    assert rest.stored == 7 and rest.todo == 13 and {s.key for b in rest.batches for s in b.specs} == {s.key for s in specs[7:]}
    assert plan(specs, {s.key for s in specs}).batches == ()
    with pytest.raises(ValueError, match="max_batch must be an integer >= 1"):
        plan(specs, max_batch=0)


def test_progress_hears_the_plan_and_every_batch(tmp_path):
    class Recorder:
        def __init__(self):
            self.events = []

        def start(self, plan, path):
            self.events.append(("start", plan.todo, plan.total, path))

        def advance(self, batch):
            self.events.append(("batch", len(batch.specs)))

    rec = Recorder()
    result = run_sweep(SweepConfig.from_toml(write(tmp_path, seeds=4, max_batch=4)), out=tmp_path / "out", progress=rec)
    assert rec.events[0] == ("start", 8, 8, tmp_path / "out")
    assert [e[1] for e in rec.events[1:]] == [4, 4] and result.ran == 8
    assert result.to_dict() == {"total": 8, "ran": 8, "skipped": 0, "path": str(tmp_path / "out"),
                                "status": {"converged": 0, "max_steps": 8, "diverged": 0}}


def test_bad_analysis_thresholds_are_rejected_before_anything_runs(tmp_path):
    cfg = SweepConfig.from_toml(write(tmp_path))
    with pytest.raises(ValueError, match=r"unknown \[analysis\] key\(s\) \['rank_toll'\]"):
        run_sweep({**cfg.to_dict(), "analysis": {"rank_toll": 0.1}}, out=tmp_path / "out")
    with pytest.raises(ValueError, match=r"rank_tol must be a number in \(0, 1\)"):
        run_sweep({**cfg.to_dict(), "analysis": {"rank_tol": -5}}, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.toml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_experiment_config_expands_and_names_known_figures(path):
    from dufm import plots
    from dufm.experiments.config import GRID_FIELDS

    config = SweepConfig.from_toml(path)
    specs = config.runs()  # every problem and solver of the grid is valid and its init fits the shapes
    assert specs or config.solve is False
    assert len({s.key for s in specs}) == len(specs)
    for name in config.plots.figures:
        prefix = next((p for p in plots.PREFIXES if name.startswith(p)), None)
        assert name in plots.FIGURES if prefix is None else name[len(prefix):] in GRID_FIELDS, name


def test_the_experiment_configs_are_found():
    assert len(EXPERIMENTS) >= 15  # a moved experiments/ folder must not make the test above collect nothing


def test_recorded_spectra_are_stored_beside_the_run_and_loaded_with_it(tmp_path):
    """spectra = "output": history_sv_Z (T x K) in the .npz (not the JSON), back in the loaded record; a diverged run keeps
    its record but is no result; a run whose arrays lack or change the record is set aside."""
    import shutil
    import warnings

    from dufm.experiments.records import RunRecord
    from dufm.store import StoreWarning

    config = write_sweep(tmp_path, "s.toml", seeds=2, solver={"spectra": "output"}, grid={"lr": [0.5, 200.0]})
    out = tmp_path / "out"
    assert run_sweep(SweepConfig.from_toml(config), out=out).status["diverged"] == 2
    res = load_results(out)
    assert len(res.results()) == 2 and len(res.diverged) == 2
    for rec in res.records:
        assert rec.solver.spectra == "output" and rec.solver.to_dict()["spectra"] == "output"
        arrays = res.arrays(rec)
        sv = arrays["history_sv_Z"]
        assert sv.shape == (len(rec.history.step), 3) and list(rec.history.sv) == ["Z"]
        np.testing.assert_array_equal(rec.history.sv["Z"], sv)
        doc = json.loads((out / "runs" / f"{rec.key}.json").read_text())
        assert "sv" not in doc["history"] and doc["config"]["solver"]["spectra"] == "output"
        again = RunRecord.from_dict(rec.to_dict())  # the full document carries them
        np.testing.assert_array_equal(again.history.sv["Z"], sv)
        if rec.diverged:
            assert "H" not in arrays and np.all(np.isfinite(sv[0]))
        else:
            s = rec.analysis.singular_values["Z"]
            assert np.max(np.abs(sv[-1] - s)) <= 1e-12 * s[0]
    # the same grid without spectra has other keys; a solver config at the default says nothing of spectra
    jsonable = SweepConfig.from_toml(write_sweep(tmp_path, "p.toml", seeds=2, grid={"lr": [0.5, 200.0]})).runs()
    assert not {s.key for s in jsonable} & {r.key for r in res.records}
    assert all("spectra" not in s.solver.to_dict() for s in jsonable)
    # damaged: the record of spectra missing, or another run's
    finished = [r.key for r in res.results()]
    for key, damage in zip(finished, ("missing", "other run's")):
        path = out / "runs" / f"{key}.npz"
        with np.load(path) as z:
            arrays = dict(z)
        if damage == "missing":
            del arrays["history_sv_Z"]
        else:
            arrays["history_sv_Z"] = arrays["history_sv_Z"][:-1]
        np.savez(path, **arrays)
    with pytest.warns(StoreWarning) as caught:
        res = load_results(out)
    said = sorted(str(w.message) for w in caught)
    assert len(said) == 2 and len(res.results()) == 0
    assert any("recorded spectra []" in m for m in said) and any("(history_sv_Z)" in m for m in said), said
    shutil.rmtree(out / "damaged")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_sweep(SweepConfig.from_toml(config), out=out).ran == 2  # run again, and stored whole
    assert len(load_results(out).results()) == 2
