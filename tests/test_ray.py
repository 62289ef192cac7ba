"""The Ray backend of a sweep: same results and resume behaviour as the local backend (local Ray instance)."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import write_sweep

from dufm.cli import main
from dufm.experiments.config import SweepConfig
from dufm.experiments.records import load_results
from dufm.experiments.sweep import run_sweep

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'); the Ray backend cannot be tested")

CONFIG = dict(name="ray", seeds=2, max_batch=2, solver={"steps": 300}, grid={"weight_decay": [0.002, 0.004], "width": [4, 5]})


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow  # starts a local Ray instance and its worker processes
def test_ray_backend_equals_local_backend_and_resumes(tmp_path, local_ray):
    cfg = SweepConfig.from_toml(write_sweep(tmp_path, "ray.toml", **CONFIG))
    local = run_sweep(cfg, out=tmp_path / "local")
    # half the grid first, then the whole grid: the second Ray sweep runs only what is missing
    half = replace(cfg, grid={"weight_decay": [0.002], "width": [4, 5]})
    first = run_sweep(half, out=tmp_path / "ray", backend="ray", ray_address="auto")
    assert first.ran == 4 and first.skipped == 0
    second = run_sweep(cfg, out=tmp_path / "ray", backend="ray", ray_address="auto")
    assert second.ran == 4 and second.skipped == 4 and second.status == local.status
    a, b = load_results(tmp_path / "local"), load_results(tmp_path / "ray")
    assert len(a) == len(b) == 8
    for ra, rb in zip(a.records, b.records):
        assert ra.key == rb.key and ra.status == rb.status and ra.steps == rb.steps
        assert abs(ra.loss - rb.loss) <= 1e-12 * ra.loss
        xa, xb = a.arrays(ra), b.arrays(rb)
        assert set(xa) == set(xb)
        for k in xa:
            np.testing.assert_allclose(xb[k], xa[k], rtol=1e-12, atol=1e-12 * max(1.0, float(np.max(np.abs(xa[k])))))
    again = run_sweep(cfg, out=tmp_path / "ray", backend="ray", ray_address="auto")
    assert again.ran == 0


def test_ray_backend_needs_an_address(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ValueError, match="backend 'ray' needs an address"):
        run_sweep({"name": "x"}, out=tmp_path / "x", backend="ray")
    with pytest.raises(ValueError, match="backend must be one of local, ray; got 'dask'"):
        run_sweep({"name": "x"}, out=tmp_path / "x", backend="dask")
    assert main(["sweep", "--backend", "ray", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ray-address" in err
    assert main(["sweep", "--ray-address", "auto", "--out", str(tmp_path / "y")]) == 2
    assert "--ray-address is only used with --backend ray" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
