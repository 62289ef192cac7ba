"""The public API: the flat namespace, the public modules, and the names kept for one release after a rename."""

import importlib
import inspect
import json
import pkgutil
import warnings

import pytest
from helpers import run_cli, write_sweep

import dufm


def _modules():
    return [m.name for m in pkgutil.walk_packages(dufm.__path__, "dufm.") if m.name != "dufm.__main__"]  # that one runs the command


def test_every_public_name_resolves_and_no_module_shares_a_name_with_a_function():
    for name in dufm.__all__:
        assert getattr(dufm, name) is not None, name
    for name in dufm.__all__:
        if inspect.isfunction(getattr(dufm, name)):
            assert importlib.util.find_spec(f"dufm.{name}") is None, name  # dufm.<name> stays the function
    for module in _modules():
        importlib.import_module(module)
    assert inspect.isfunction(dufm.solve) and inspect.isfunction(dufm.objective) and inspect.isfunction(dufm.optimum)
    assert {"theory", "features", "plots", "hessian", "critical"} <= set(dufm.__all__)
    assert inspect.ismodule(dufm.hessian) and dufm.hessian.__name__ == "dufm.landscape.hessian"


def test_the_package_faces_list_their_modules_public_names():
    for face, modules in (("dufm.theory", ("factors", "closed_forms", "reduced")), ("dufm.features", ("file", "analysis", "records")),
                          ("dufm.plots", ())):
        pkg = importlib.import_module(face)
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None, (face, name)
        for m in modules:
            mod = importlib.import_module(f"{face}.{m}")
            public = {n for n, v in vars(mod).items() if not n.startswith("_") and inspect.getmodule(v) is mod
                      and (inspect.isfunction(v) or inspect.isclass(v))}
            assert public <= set(pkg.__all__), (face, m, sorted(public - set(pkg.__all__)))


def test_importing_dufm_loads_no_submodule_until_a_name_is_used():
    import subprocess
    import sys

    code = "import sys, dufm; print(sorted(m for m in sys.modules if m.startswith('dufm.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "['dufm.version']", out.stdout + out.stderr


def test_renamed_names_work_for_one_release_with_a_deprecation_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="dufm.Normalised is now dufm.ScaleFree"):
        assert dufm.Normalised is dufm.ScaleFree
    from dufm.experiments.config import SweepConfig, expand, load_config

    path = write_sweep(tmp_path, problem={"dtype": "float32"}, solver={"precision": "high"})  # the old name of matmul_precision
    with pytest.warns(DeprecationWarning, match="SweepConfig.from_toml"):
        config = load_config(path)
    assert config == SweepConfig.from_toml(path) and config.solver.matmul_precision == "high"
    with pytest.warns(DeprecationWarning, match="SweepConfig.runs"):
        assert expand(config) == list(config.runs())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="matmul_precision and its old name precision are both given"):
            SweepConfig.from_dict({"name": "x", "solver": {"precision": "high", "matmul_precision": "default"}})


def test_a_stored_record_with_the_old_field_name_loads():
    from dufm.experiments.records import RunRecord
    from dufm.store import Store

    store = Store(__import__("pathlib").Path(__file__).parent / "data" / "store_v0")
    doc = store.record(sorted(store.stored_keys())[0])
    doc["config"]["solver"]["precision"] = "high"
    assert RunRecord.from_dict(doc).solver.matmul_precision == "high"


def test_the_old_flag_name_is_accepted(capsys):
    # test_solve's float32 problem (its starts program)
    code, out, err = run_cli(capsys, ["solve", "--classes", "4", "--per-class", "3", "--width", "6", "--depth", "1", "--steps", "3",
                                      "--dtype", "float32", "--precision", "high", "--json"])
    assert code == 0, err
    assert json.loads(out)["solver"]["matmul_precision"] == "high"
    code, out, err = run_cli(capsys, ["solve", "--help"])
    assert "--matmul-precision MATMUL_PRECISION, --precision MATMUL_PRECISION" in " ".join(out.split())
    assert "--precision: its old name, accepted for one release" in " ".join(out.split())
