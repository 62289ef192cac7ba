"""``dufm sweep --shard I/N``: independent processes split a grid and write one store at the same time."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
from helpers import write_sweep

from dufm.cli import main
from dufm.experiments.config import SweepConfig
from dufm.experiments.records import load_results
from dufm.experiments.sweep import Shard, run_sweep
from dufm.store import Store

ENV = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "DUFM_CPU_DEVICES")}


def _config(tmp_path):
    # 16 runs in batches of 2: every shard commits several times while the other writes
    return write_sweep(tmp_path, "s.toml", seeds=4, max_batch=2, solver={"steps": 800, "tol": 0.0},
                       grid={"weight_decay": [0.002, 0.004, 0.006, 0.008]})


def _shard(config, out, share, **kw):
    return subprocess.Popen([sys.executable, "-m", "dufm", "sweep", str(config), "--out", str(out), "--shard", share],
                            env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _outcome(out, killed: int | None = None, unlisted=frozenset()) -> dict:
    """key -> (status, steps, loss) of every stored run, loaded with every damage check on (a warning fails the test).

    A temporary file may remain only from the ``killed`` process (the next sweep on the store removes it). summary.csv
    lists exactly the stored runs, but for runs in ``unlisted``: those of a shard killed between committing a run and
    rewriting the summary (a writer rewrites it after each commit and on its way out; a shard that had finished before
    the kill cannot, and the next sweep on the store does).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = load_results(out)
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    listed = [r.split(",")[0] for r in rows]
    assert listed == [r.key for r in res.records if r.key in listed] and {r.key for r in res.records} - set(listed) <= unlisted
    if not unlisted:
        assert listed == [r.key for r in res.records]  # the summary lists exactly the stored runs
    left = [p.name for p in out.rglob("*.tmp")]
    assert all(killed is not None and p.endswith(f".{killed}.tmp") for p in left), left
    assert not (out / "damaged").exists()
    return {r.key: (str(r.status), r.steps, r.loss) for r in res.records}


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The same grid, swept by one process."""
    root = tmp_path_factory.mktemp("whole")
    config = _config(root)
    run_sweep(SweepConfig.from_toml(config), out=root / "out")
    return _outcome(root / "out")


def test_the_shares_partition_the_grid(tmp_path):
    keys = [s.key for s in SweepConfig.from_toml(_config(tmp_path)).runs()]
    for n in (1, 2, 3, 7):
        owners = [[i for i in range(1, n + 1) if Shard(i, n).owns(k)] for k in keys]
        assert all(len(o) == 1 for o in owners)
    assert {len([k for k in keys if Shard(i, 2).owns(k)]) for i in (1, 2)} <= set(range(4, 13))


@pytest.mark.slow  # two dufm processes
def test_two_shards_started_together_give_the_whole_sweep(tmp_path, whole):
    config, out = _config(tmp_path), tmp_path / "out"
    procs = [_shard(config, out, f"{i}/2") for i in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    got = _outcome(out)
    assert set(got) == set(whole)
    for key, (status, steps, loss) in got.items():
        assert (status, steps) == whole[key][:2] and abs(loss - whole[key][2]) <= 1e-12 * abs(loss)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["grid"]) == set(whole) and manifest["environment"]["end"]
    # the whole sweep, run again on the sharded store, has nothing to do
    assert run_sweep(SweepConfig.from_toml(config), out=out).ran == 0


@pytest.mark.slow  # three dufm processes, one of them killed
def test_a_shard_killed_with_sigkill_leaves_no_damage_and_a_rerun_completes(tmp_path, whole):
    config, out = _config(tmp_path), tmp_path / "out"
    first, second = _shard(config, out, "1/2"), _shard(config, out, "2/2")
    mine = {k for k in whole if Shard(1, 2).owns(k)}
    t0 = time.time()
    while time.time() - t0 < 300 and not ({p.stem for p in (out / "runs").glob("*.json")} & mine if (out / "runs").exists() else set()):
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    partial = _outcome(out, killed=first.pid, unlisted=mine)
    assert set(partial) >= set(whole) - mine and set(partial) < set(whole)
    rerun = _shard(config, out, "1/2")
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert set(_outcome(out)) == set(whole)


def test_shards_and_a_whole_sweep_never_write_one_store_together(tmp_path):
    store = Store(tmp_path / "out")
    with store.lock(shared=True), store.lock(shared=True):  # shards together: yes
        with pytest.raises(ValueError, match="is in use by another dufm sweep"):
            with store.lock():
                pass
    with store.lock():
        with pytest.raises(ValueError, match="is in use by a dufm sweep that is not sharded"):
            with store.lock(shared=True):
                pass


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "", "1/0", "-1/2"])
def test_a_bad_shard_is_one_line_and_touches_nothing(tmp_path, capsys, text):
    config = _config(tmp_path)
    with pytest.raises(ValueError, match=r"shard must be I/N with 1 <= I <= N \(share I of N\), got"):
        Shard.parse(text)
    code = main(["sweep", str(config), "--out", str(tmp_path / "out"), f"--shard={text}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("dufm sweep: error: --shard: shard must be I/N"), err
    assert not (tmp_path / "out").exists()
