"""CLI: JSON output, per-seed equality, and one-line errors with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_FLAGS as TINY
from helpers import TINY_SOLVER_FLAGS, run_cli

INVALID = [
    (["--classes", "1"], "classes"),
    (["--per-class", "0"], "per_class"),
    (["--depth", "0"], "depth"),
    (["--width", "0"], "width"),
    (["--weight-decay", "-1"], "weight_decay"),
    (["--weight-decay", "nan"], "weight_decay"),
    (["--weight-decay", "inf"], "weight_decay"),
    (["--feature-decay", "-0.1"], "feature_decay"),
    (["--layer-decay", "0.1,nan"], "layer_decay"),
    (["--lr", "0"], "lr"),
    (["--lr", "-0.5"], "lr"),
    (["--steps", "0"], "steps"),
    (["--tol", "-1"], "tol"),
    (["--init-scale", "0"], "init_scale"),
    (["--seeds", "0"], "seeds"),
    (["--seed", "-3"], "seed"),
    (["--loss", "hinge"], "loss"),
    (["--activation", "tanh"], "activation"),
    (["--optimizer", "sgdx"], "optimizer"),
    (["--bias", "yes"], "bias"),
    (["--dtype", "float16"], "dtype"),
    (["--classes", "ten"], "--classes"),
    (["--lr", "fast"], "--lr"),
    (["--steps", "1e3x"], "--steps"),
    (["--width", "7,x"], "--width"),
    (["--per-class", "2,2"], "per_class"),
    (["--depth", "1000000000"], "depth"),
    (["--classes", "100000000000000000000"], "classes"),
    (["--steps", "100000000000000000000"], "steps"),
    (["--width", "1000000000000"], "width"),
    (["--log-every", "1", "--steps", "10000000"], "log_every"),
    (["--spectra", "all"], "--spectra: spectra must be one of none, output, layers; got 'all'"),
]


@pytest.mark.parametrize("args,name", INVALID, ids=[" ".join(a) for a, _ in INVALID])
def test_invalid_input_exits_2_with_one_line(capsys, args, name):
    code, out, err = run_cli(capsys, ["solve", *TINY, "--steps", "10", *args])
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in err, err


@pytest.mark.parametrize("args,name", [(["--classes", "1"], "classes"), (["--weight-decay", "nan"], "weight_decay"), (["--loss", "x"], "loss")])
def test_theory_invalid_input(capsys, args, name):
    code, out, err = run_cli(capsys, ["theory", *args])
    assert code == 2 and len(err.strip().splitlines()) == 1 and name in err


def test_solve_json_schema_and_seeds_equal_separate_runs(capsys):
    # the tiny sweep's programs: a batch of four and a run alone
    code, out, _ = run_cli(capsys, ["solve", *TINY, *TINY_SOLVER_FLAGS, "--seed", "3", "--seeds", "4", "--json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["problem"]["classes"] == 3 and len(doc["runs"]) == 4
    for rec in doc["runs"]:
        for key in ("seed", "loss", "grad_norm", "steps", "status", "rank", "singular_values", "nc", "solution_type"):
            assert key in rec
        assert set(rec["singular_values"]) == {"Z", "H1", "H2", "W1", "W2"}
        code, out1, _ = run_cli(capsys, ["solve", *TINY, *TINY_SOLVER_FLAGS, "--seed", str(rec["seed"]), "--json"])
        alone = json.loads(out1)["runs"][0]
        assert alone["status"] == rec["status"] and alone["steps"] == rec["steps"]
        assert abs(alone["loss"] - rec["loss"]) <= 1e-12 * rec["loss"]
        for k, s in rec["singular_values"].items():
            assert max(abs(a - b) for a, b in zip(alone["singular_values"][k], s)) <= 1e-10
    assert [r["seed"] for r in doc["runs"]] == [3, 4, 5, 6]


def test_solve_text_reports_stop_reason_and_spectra(capsys):
    code, out, _ = run_cli(capsys, ["solve", *TINY, "--steps", "20000"])
    assert code == 0
    assert "converged" in out and "solution type: dnc" in out and "singular values" in out and "NC metrics" in out


def test_solve_records_spectra_in_json_and_dates_their_events_in_text(capsys):
    import numpy as np

    from dufm.analysis.spectra import spectral_events

    args = ["solve", *TINY, "--loss", "ce", "--steps", "3000", "--log-every", "100", "--spectra", "output"]
    code, out, _ = run_cli(capsys, [*args, "--json"])
    assert code == 0
    run = json.loads(out)["runs"][0]
    steps, sv = np.array(run["history"]["step"]), np.array(run["history"]["sv"]["Z"])
    assert list(run["history"]["sv"]) == ["Z"] and sv.shape == (len(steps), 3) and list(steps[:3]) == [0, 100, 200]
    s = np.array(run["singular_values"]["Z"])
    assert np.max(np.abs(sv[-1] - s)) <= 1e-12 * s[0]
    on, off = spectral_events(sv)
    said = [f"σ_{i + 1} on at {steps[r]}" for i, r in enumerate(on) if r >= 0]
    said += [f"σ_{i + 1} dies at {steps[r]}" for i, r in enumerate(off) if r >= 0]
    assert said  # CE ends at rank K - 1 = 2: sigma_3 dies
    code, out, _ = run_cli(capsys, args)
    line = next(x for x in out.splitlines() if "spectra recorded" in x)
    assert code == 0 and line == f"  spectra recorded every 100 steps (Z; {len(steps)} records); Z: {'; '.join(said)}"


def test_diverged_run_in_json(capsys):
    code, out, _ = run_cli(capsys, ["solve", *TINY, *TINY_SOLVER_FLAGS, "--lr", "100", "--json"])
    run = json.loads(out)["runs"][0]
    assert code == 0 and run["status"] == "diverged" and run["loss"] is None and 0 < run["diverged_at_step"] < 400
    assert "singular_values" not in run


def test_theory_json(capsys):
    code, out, _ = run_cli(capsys, ["theory", "--json"])
    doc = json.loads(out)
    assert code == 0
    assert round(doc["dnc"]["loss"], 6) == 0.090662 and round(doc["low_rank"]["loss"], 6) == 0.080013
    assert doc["zero"]["loss"] == pytest.approx(2.302585092994046, rel=1e-15)
    assert doc["dnc"]["scale"] > 0 and doc["low_rank"]["scale"] > 0


def test_theory_text_thm1(capsys):
    for K, L, best in [(4, 2, "dnc"), (4, 3, "low_rank"), (6, 2, "low_rank")]:
        code, out, _ = run_cli(capsys, ["theory", "--classes", str(K), "--depth", str(L)])
        assert code == 0 and f"lowest: {best}" in out


def test_console_script_end_to_end():
    """The installed entry point: help works, bad input is one line on stderr with status 2."""
    ok = subprocess.run([sys.executable, "-m", "dufm", "theory", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "--weight-decay" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "dufm", "solve", "--weight-decay", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr and "weight_decay" in bad.stderr


# ---------------------------------------------------------------------------
# dufm probe

PROBE_TINY = ["--classes", "4", "--per-class", "3", "--width", "6", "--depth", "2", "--weight-decay", "0.01"]
SCHEMA = {"min_eigenvalue", "max_eigenvalue", "negative", "zero", "positive", "frobenius_norm", "trace"}


def test_probe_point_json_schema_matches_the_library(capsys):
    import numpy as np

    from dufm import Problem, theory
    from dufm.landscape.critical import classify

    code, out, err = run_cli(capsys, ["probe", "--point", "dnc", *PROBE_TINY, "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert {"loss", "grad_norm", "hessian", "verdict"} <= set(d) and SCHEMA <= set(d["hessian"])
    p = Problem(classes=4, per_class=3, width=6, depth=2, weight_decay=0.01)
    c = theory.dnc(p)
    ref = classify(c.params, p.decays, p.architecture, method="dense")
    assert d["loss"] == pytest.approx(c.loss, rel=1e-13) and d["grad_norm"] <= 1e-12
    assert d["verdict"] == ref.verdict == "degenerate"
    for k in SCHEMA:
        assert d["hessian"][k] == pytest.approx(getattr(ref.hessian, k), rel=1e-12, abs=1e-15)
    assert [c["kind"] for c in d["point"]["critical_scales"]] == ["maximum", "minimum"]
    # the other branch, at a given scale: a strict saddle
    small = d["point"]["critical_scales"][0]["scale"]
    code, out, _ = run_cli(capsys, ["probe", "--point", "dnc", "--scale", repr(small), *PROBE_TINY, "--json"])
    s = json.loads(out)
    assert code == 0 and s["verdict"] == "strict saddle" and s["hessian"]["negative"] >= 1
    assert s["loss"] == pytest.approx(d["point"]["critical_scales"][0]["loss"], rel=1e-12)
    assert np.isfinite(s["hessian"]["trace"])


@pytest.mark.slow  # three solves, refinements and a figure through the command line (refine's modes by default: test_critical)
def test_probe_solve_refine_text_and_plot(capsys, tmp_path):
    png = tmp_path / "spec.png"
    code, out, err = run_cli(capsys, ["probe", "--solve", *PROBE_TINY, "--steps", "3000", "--tol", "1e-4", "--refine",
                                      "--symmetry", "--plot", str(png)])
    assert code == 0, err
    assert "refine:  converged" in out and "verdict:" in out and "rotation-symmetry orbit dimension" in out
    assert png.stat().st_size > 5000
    code, out, err = run_cli(capsys, ["probe", "--solve", *PROBE_TINY, "--steps", "3000", "--tol", "1e-4", "--refine",
                                      "--refine-mode", "descent", "--json"])
    assert code == 0, err
    d = json.loads(out)
    r = d["refinement"]
    assert r["status"] == "converged" and r["mode"] == "descent" and r["descent_steps"] >= 1
    assert r["grad_norm_history"][-1] <= 1e-10 and d["grad_norm"] == pytest.approx(r["grad_norm_history"][-1], rel=1e-6)
    assert r["descent_status"] == "converged"
    code, out, err = run_cli(capsys, ["probe", "--solve", *PROBE_TINY, "--steps", "3000", "--tol", "1e-4", "--refine",
                                      "--refine-mode", "descent"])
    assert code == 0, err
    assert "refine:  converged after " in out and " L-BFGS steps, then " in out and "verdict:" in out


def test_probe_stored_result_equals_probing_its_parameters(capsys, tmp_path):
    from dufm.experiments.records import load_results

    res_dir = tmp_path / "res"
    # 8000 steps: the program of test_solve's runs alone of this problem (10 000 steps, one octave)
    code, _, err = run_cli(capsys, ["sweep", "--name", "p", "--out", str(res_dir), *PROBE_TINY, "--steps", "8000", "--seeds", "1"])
    assert code == 0, err
    # the Lanczos and Hutchinson sizes of test_critical.test_dnc_nullity_is_the_rotation_orbit_and_methods_agree (its programs)
    code, out, err = run_cli(capsys, ["probe", "--result", str(res_dir), "--json", "--method", "lanczos", "--num-matvecs", "120",
                                      "--num-samples", "400"])
    assert code == 0, err
    d = json.loads(out)
    rec = load_results(res_dir).records[0]
    assert d["loss"] == pytest.approx(rec.loss, rel=1e-12) and d["point"]["key"] == rec.key
    assert d["hessian"]["negative"] is None  # matrix-free: counts unknown
    assert d["hessian"]["num_matvecs"] == 120 and d["hessian"]["num_samples"] == 400  # the products asked for, not the defaults
    code, _, err = run_cli(capsys, ["probe", "--result", str(res_dir), "--key", "nope"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "key" in err


PROBE_INVALID = [
    ([], "exactly one of --point, --solve, --result"),
    (["--point", "dnc", "--solve"], "exactly one of"),
    (["--point", "simplex"], "point must be one of dnc, low_rank, zero"),
    (["--point", "dnc", "--scale", "-1"], "scale must be a finite number >= 0"),
    (["--solve", "--scale", "2"], "--scale needs --point"),
    (["--point", "dnc", "--method", "exact"], "method must be one of"),
    (["--point", "dnc", "--refine", "--refine-mode", "minimum"], "--refine-mode: mode must be one of nearest, descent"),
    (["--point", "dnc", "--refine-mode", "descent"], "--refine-mode needs --refine"),
    (["--point", "dnc", "--zero-tol", "0"], "zero_tol"),
    (["--point", "dnc", "--grad-tol", "nan"], "grad_tol"),
    (["--point", "dnc", "--num-matvecs", "1"], "num_matvecs"),
    (["--point", "dnc", "--plot", "x.svg"], "plot path must end in .png or .pdf"),
    (["--point", "dnc", "--dtype", "float32"], "dtype must be float64"),
    (["--point", "low_rank", "--classes", "5", "--scale", "1"], "point must be 'dnc'"),
    (["--result", "/nonexistent/dir"], "path must be a dufm results directory"),
]


@pytest.mark.parametrize("args,text", PROBE_INVALID, ids=[" ".join(a) or "none" for a, _ in PROBE_INVALID])
def test_probe_invalid_input_exits_2_with_one_line(capsys, args, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = [] if "--result" in args or "--classes" in args else PROBE_TINY
    code, out, err = run_cli(capsys, ["probe", *extra, *args])
    assert code == 2, out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in err, err


# ---------------------------------------------------------------------------
# flags derived from the library's dataclasses; the process the command owns


def test_flags_state_the_library_defaults_and_name_the_flag_in_errors(capsys):
    import dataclasses

    from dufm import Problem, SolverConfig
    from dufm.options import documented_fields

    code, text, _ = run_cli(capsys, ["solve", "--help"])
    assert code == 0
    for cls in (Problem, SolverConfig):
        for f in documented_fields(cls):
            flag = "--" + f.name.replace("_", "-")
            assert flag in text, flag
    assert "(default 2^-10)" in text and "(default 100000)" in text and "ce | mse" in text
    assert {f.name for f in dataclasses.fields(SolverConfig)} - {f.name for f in documented_fields(SolverConfig)} == {"divergence_factor"}
    code, _, err = run_cli(capsys, ["solve", *TINY, "--per-class", "0"])
    assert code == 2 and err.startswith("dufm solve: error: --per-class: per_class must be an integer >= 1")


@pytest.mark.slow  # two dufm processes, one of them solving
def test_the_command_makes_one_cpu_device_per_core_and_checks_the_variable():
    import os

    script = "import sys, jax; from dufm.cli import main; code = main(sys.argv[1:]); print(jax.device_count()); sys.exit(code)"
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    ok = subprocess.run([sys.executable, "-c", script, "solve", *TINY, "--steps", "5", "--json"], capture_output=True, text=True,
                        env={**env, "DUFM_CPU_DEVICES": "3", "JAX_PLATFORMS": "cpu"})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == "3"
    bad = subprocess.run([sys.executable, "-m", "dufm", "solve", "--steps", "5"], capture_output=True, text=True,
                         env={**env, "DUFM_CPU_DEVICES": "abc"})
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "DUFM_CPU_DEVICES must be an integer" in bad.stderr


@pytest.mark.slow  # a sweep of a problem of its own (a free bias) and two dense Hessians; probe --result: the test above
def test_probe_result_with_a_bias_several_runs_and_a_key_equals_probing_the_parameters(capsys, tmp_path):
    """A stored run is loaded whole (bias included): probing it equals probing its parameters directly, figure too."""
    import numpy as np

    from dufm import plots
    from dufm.experiments.records import load_results
    from dufm.landscape.critical import classify

    res_dir = tmp_path / "res"
    code, _, err = run_cli(capsys, ["sweep", "--name", "b", "--out", str(res_dir), *PROBE_TINY, "--bias", "free", "--steps", "800",
                                    "--seeds", "2", "--grid", "weight_decay=0.01,0.02"])
    assert code == 0, err
    res = load_results(res_dir)
    assert len(res) == 4 and all(r.problem.bias == "free" for r in res.records)
    for rec in res.records[1:3]:
        png = tmp_path / f"{rec.key}.png"
        code, out, err = run_cli(capsys, ["probe", "--result", str(res_dir), "--key", rec.key, "--method", "dense", "--json",
                                          "--plot", str(png)])
        assert code == 0, err
        d = json.loads(out)
        params = res.params(rec)
        assert params.b is not None and params.b.shape == (4,)
        direct = classify(params, rec.problem.decays, rec.problem.architecture, method="dense", eigenvalues=True)
        assert d["loss"] == direct.loss == pytest.approx(rec.loss, rel=1e-12) and d["grad_norm"] == direct.grad_norm
        assert d["hessian"] == json.loads(json.dumps(direct.to_dict()["hessian"]))
        assert d["hessian"]["parameters"] == rec.problem.parameter_count
        again = tmp_path / "direct.png"
        plots.save(plots.hessian_spectrum(eigenvalues=direct.eigenvalues, zero_tol=1e-8, title=f"result: {direct.verdict}"), again)
        assert png.read_bytes() == again.read_bytes()
        assert np.all(np.isfinite(direct.eigenvalues))


@pytest.mark.slow  # float32 programs of their own (the float32 solver: test_solve.test_float32_solver_converges_at_its_default_tolerance)
def test_float32_end_to_end(capsys, tmp_path):
    """--dtype float32: solve, sweep and analysis run in float32 and agree with float64 to what float32 allows."""
    import numpy as np

    from dufm.experiments.records import load_results

    args = [*TINY, "--steps", "4000", "--tol", "0", "--dtype", "float32"]
    code, out, _ = run_cli(capsys, ["solve", *args, "--json"])
    code64, out64, _ = run_cli(capsys, ["solve", *TINY, "--steps", "4000", "--tol", "0", "--json"])
    assert code == code64 == 0
    r32, r64 = json.loads(out)["runs"][0], json.loads(out64)["runs"][0]
    assert json.loads(out)["problem"]["dtype"] == "float32" and r32["status"] == r64["status"] == "max_steps"
    assert r32["loss"] == pytest.approx(r64["loss"], rel=1e-5) and r32["solution_type"] == r64["solution_type"]
    np.testing.assert_allclose(r32["singular_values"]["Z"], r64["singular_values"]["Z"], rtol=1e-4)
    code, _, err = run_cli(capsys, ["sweep", "--name", "f32", "--out", str(tmp_path / "s"), *args, "--seeds", "2"])
    assert code == 0, err
    res = load_results(tmp_path / "s")
    assert len(res) == 2 and all(r.problem.dtype == "float32" for r in res.records)
    assert res.params(res.records[0]).H.dtype == np.float32 and res.records[0].analysis.solution_type == r64["solution_type"]


# a negative number in any form after a flag reaches the flag's own check (argparse alone reads -1e-3 or -1/2 as a flag)
NEGATIVE = [
    (["solve", "--weight-decay", "-1e-3"], "--weight-decay: weight_decay must be a finite number >= 0, got -0.001"),
    (["solve", "--feature-decay", "-.5"], "--feature-decay: feature_decay must be"),
    (["solve", "--lr", "-1E-2"], "--lr: lr must be a finite number > 0"),
    (["optimum", "--weight-decay", "-1e-3"], "--weight-decay: weight_decay must be a finite number >= 0"),
    (["sweep", "--grid", "depth=2", "--shard", "-1/2"], "--shard: shard must be I/N with 1 <= I <= N"),
]


@pytest.mark.parametrize("args,text", NEGATIVE, ids=[" ".join(a) for a, _ in NEGATIVE])
def test_a_negative_value_in_any_form_names_its_flag(capsys, args, text):
    code, out, err = run_cli(capsys, args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and text in err, err


def test_negative_values_are_attached_only_after_a_flag():
    from dufm.cli.flags import attach_negative_values

    assert attach_negative_values(["solve", "--lr", "-1e-3", "--grid", "lr=-1", "-3"]) == ["solve", "--lr=-1e-3", "--grid", "lr=-1", "-3"]
    assert attach_negative_values(["--a=1", "-2", "--b", "-x"]) == ["--a=1", "-2", "--b", "-x"]


ENVIRONMENT = [
    ("DUFM_CPU_DEVICES", "abc", "DUFM_CPU_DEVICES must be an integer from 1 to"),
    ("DUFM_CPU_DEVICES", "0", "DUFM_CPU_DEVICES must be an integer from 1 to"),
    ("DUFM_COMPILATION_CACHE", "maybe", "DUFM_COMPILATION_CACHE must be one of 0, off, no, false, 1, on, yes, true"),
]


@pytest.mark.parametrize("command", ["theory", "analyse", "solve"])
@pytest.mark.parametrize("name,value,text", ENVIRONMENT, ids=[f"{n}={v}" for n, v, _ in ENVIRONMENT])
def test_a_malformed_environment_variable_is_refused_by_every_command(capsys, monkeypatch, tmp_path, command, name, value, text):
    monkeypatch.setenv(name, value)
    args = {"theory": ["theory"], "analyse": ["analyse", str(tmp_path / "f.npz")], "solve": ["solve", *TINY, "--steps", "1"]}
    code, out, err = run_cli(capsys, args[command])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and text in err, err


@pytest.mark.parametrize("value", ["", "1", "ON", "yes", "true", "0", "off", "No", "false"])
def test_the_compilation_cache_switch_accepts_its_words(value):
    from dufm.runtime import cache_enabled

    assert cache_enabled({"DUFM_COMPILATION_CACHE": value}) == (value.lower() not in ("0", "off", "no", "false"))


def test_a_matmul_precision_in_float64_is_refused_and_in_float32_used(capsys):
    code, out, err = run_cli(capsys, ["solve", *TINY, "--steps", "10", "--precision", "high"])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--matmul-precision: matmul_precision must be 'highest' for a float64 problem" in err
    import dufm

    with pytest.raises(ValueError, match="matmul_precision must be 'highest' for a float64 problem"):
        dufm.solve(dufm.Problem(classes=3, per_class=2, width=4, depth=2), dufm.SolverConfig(steps=10, matmul_precision="high"))
    code, out, err = run_cli(capsys, ["solve", *TINY, "--steps", "10", "--dtype", "float32", "--precision", "high", "--json"])
    assert code == 0 and json.loads(out)["runs"][0]["steps"] == 10, err


def test_a_results_directory_that_cannot_be_written_says_so(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    places = [tmp_path / "file" / "x"] + ([Path("/proc/dufm-x")] if Path("/proc/self").exists() else [])
    features = tmp_path / "f.npz"
    np.savez(features, labels=np.repeat(np.arange(3), 4), h=np.random.default_rng(0).standard_normal((12, 5)))
    for place in places:
        for args in (["sweep", "--grid", "lr=0.5", *TINY, "--steps", "10"], ["analyse", str(features)]):
            code, out, err = run_cli(capsys, [*args, "--out", str(place)])
            assert code == 2 and len(err.strip().splitlines()) == 1, err
            assert f"results directory {place}" in err and "cannot be written" in err, err
