"""SweepConfig: one typed config, validated once, from TOML, flags or a manifest; its runs keep their store keys."""

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import run_cli, write_sweep

import dufm
from dufm.cli import build_parser
from dufm.cli.sweep import config_from
from dufm.experiments.config import PlotSpec, SweepConfig, expand, load_config
from dufm.experiments.records import load_results

EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.toml"))
DATA = Path(__file__).parent / "data"


def _digest(keys) -> str:
    return hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16]


# The run keys that expand(load_config(path)) gave for every experiments/*.toml with the code of commit 15a0342 (the
# untyped config), computed once from that checkout: (number of runs, _digest of the keys in grid order).
OLD_KEYS = {
    "garrod2025_fig1": (2, "3ea5e595d1adbe20"),
    "garrod2025_fig1_small_init_spectra": (3, "73b5bb19be31eb5f"),
    "garrod2025_fig1_spectra": (5, "f0a3f99287636ff9"),
    "garrod2025_fig2_lambda": (60, "597d24a3c8c259ba"),
    "garrod2025_fig2_lambda_pytorch": (70, "ee37c2eb712af2b1"),
    "garrod2025_fig2_width": (70, "26078a4c0c146983"),
    "garrod2025_fig2_width_pytorch": (70, "85fbf0612f503559"),
    "garrod2025_fig6": (5, "233833344c6dac1e"),
    "garrod2025_thm1_theory": (0, "e3b0c44298fc1c14"),
    "garrod2025_thm3_deep_pytorch": (6, "7275cd7f18319c1d"),
    "garrod2025_thm3_depth": (36, "df307947145b7c78"),
    "garrod2025_thm3_depth_pytorch": (36, "3b9667f961461688"),
    "gkt2026_depth": (72, "4b9aaaa4cc677037"),
    "gkt2026_spectral_basin": (96, "f34f64e4337af6e2"),
    "gkt2026_width": (48, "8cbb42c24ba165fc"),
    "sukenik2024_fig2": (10, "0437ebc46afb96b7"),
    "sukenik2024_fig2_pytorch": (10, "1d4df8d413e164b6"),
    "sukenik2024_fig3_lambda": (70, "700aff6dedccf78e"),
    "sukenik2024_fig3_theory": (0, "e3b0c44298fc1c14"),
    "sukenik2024_fig3_width": (50, "b2f8532cbeb9ce74"),
    "sukenik2024_fig3_width_pytorch": (50, "8da3062d7223445b"),
}
# the keys themselves, for two of them (computed the same way)
OLD_FULL = {
    "garrod2025_fig1": ["5bc7efa1624e6e15", "92645e2166b1f873"],
    "garrod2025_thm3_deep_pytorch": ["3fdecde72c57bae4", "4d5b25c2814f581f", "ca9942e555cba4f5", "ab72ff5daeabbf04",
                                     "9ee3514d44d1a260", "9f23f25a0feac828"],
}

TINY = ["--classes", "3", "--per-class", "2", "--width", "4", "--depth", "2", "--loss", "mse", "--weight-decay", "0.002"]
CLI = ["sweep", "--name", "x", *TINY, "--grid", "width=4,5", "--seeds", "2"]
CLI_TOML = """name = "x"
seeds = 2
[problem]
classes = 3
per_class = 2
width = 4
depth = 2
loss = "mse"
weight_decay = 0.002
[grid]
width = [4, 5]
"""
# the keys of CLI's runs with the code of commit 15a0342 (config_from, then expand), computed once from that checkout
CLI_KEYS = ["c854fc774504abf0", "2391cd4179e327e4", "40a5227359378df4", "da42c9424d8aeb7c"]


def _from_flags(argv) -> SweepConfig:
    """The SweepConfig ``dufm ARGV`` builds (without running it)."""
    return config_from(build_parser("sweep").parse_args(argv))


def test_every_experiment_config_has_its_reference_keys():
    assert set(OLD_KEYS) == {p.stem for p in EXPERIMENTS}  # a new config gets its reference, a removed one loses it


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_run_keys_are_those_of_the_untyped_config(path):
    keys = [s.key for s in SweepConfig.from_toml(path).runs()]
    assert (len(keys), _digest(keys)) == OLD_KEYS[path.stem]
    if path.stem in OLD_FULL:
        assert keys == OLD_FULL[path.stem]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_experiment_config_round_trips_through_its_plain_form(path):
    config = SweepConfig.from_toml(path)
    plain = config.to_dict()
    again = SweepConfig.from_dict(json.loads(json.dumps(plain)))  # as the manifest holds it
    assert again == config and again.to_dict() == plain
    assert [s.key for s in again.runs()] == [s.key for s in config.runs()]
    assert config.name == path.stem and isinstance(config.problem, dufm.Problem) and isinstance(config.plots, PlotSpec)


def test_the_cli_and_an_equivalent_toml_give_equal_configs(tmp_path):
    from_flags = _from_flags(CLI)
    path = tmp_path / "x.toml"
    path.write_text(CLI_TOML)
    from_file = SweepConfig.from_toml(path)
    assert from_flags == from_file and from_flags.to_dict() == from_file.to_dict()
    assert [s.key for s in from_flags.runs()] == [s.key for s in from_file.runs()] == CLI_KEYS
    typed = SweepConfig(name="x", seeds=2, problem=dufm.Problem(classes=3, per_class=2, width=4, depth=2, loss="mse", weight_decay=0.002),
                        grid={"width": [4, 5]})
    assert typed == from_file
    # flags over a file: each replaces what the file says, --grid its whole grid
    over = _from_flags(["sweep", str(path), "--seeds", "3", "--max-batch", "4", "--lr", "0.25", "--grid", "depth=1,2"])
    assert over == replace(from_file, seeds=3, max_batch=4, solver=dufm.SolverConfig(lr=0.25), grid={"depth": [1, 2]})
    assert _from_flags(["sweep", str(path), "--name", "y"]).name == "y"
    assert _from_flags(["sweep", "--steps", "5"]).name == "sweep"


def test_an_old_manifest_loads(tmp_path):
    manifest = json.loads((DATA / "store_v0" / "manifest.json").read_text())
    config = SweepConfig.from_dict(manifest["config"])
    assert config == SweepConfig.from_toml(DATA / "store_v0.toml")
    assert [s.key for s in config.runs()] == manifest["grid"]  # the keys it was stored under
    assert config.title.startswith("a store written by dufm") and config.seeds == 2 and len(config.grid) == 3
    assert config.plots.figures == ("loss_curves", "singular_values", "nc1_curves", "logit_heatmaps")
    shutil.copytree(DATA / "store_v0", tmp_path / "v0")
    assert load_results(tmp_path / "v0").config == config
    # a feature store's manifest is refused before its config is read
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "manifest.json").write_text(json.dumps({"name": "f", "config": {"kind": "features"}, "runs": {}}))
    with pytest.raises(ValueError, match="holds feature analyses"):
        load_results(tmp_path / "features")


BAD_KEYS = [
    ("[grid]\ncolour = [1]\n", "unknown [grid] key(s) ['colour']; allowed: problem and solver fields", "colour"),
    ("[analysis]\nrank_toll = 0.1\n",
     "unknown [analysis] key(s) ['rank_toll']; allowed: ['equal_tol', 'rank_tol', 'trivial_tol', 'zero_tol']", "rank_toll"),
    ("[problem]\nwidht = 4\n", "unknown [problem] key(s) ['widht']; allowed: ['classes', 'per_class', 'labels_per_sample', 'width', 'depth', 'loss', "
     "'smoothing', 'focal_gamma', 'activation', 'weight_decay', 'feature_decay', 'layer_decay', 'bias', 'bias_decay', 'dtype']",
     "widht"),
]


@pytest.mark.parametrize("text,message,key", BAD_KEYS, ids=[k for _, _, k in BAD_KEYS])
def test_a_bad_key_in_a_toml_is_named_once_with_its_file(capsys, tmp_path, text, message, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        SweepConfig.from_toml(path)
    assert str(e.value) == f"config '{path}': {message}"
    code, out, err = run_cli(capsys, ["sweep", str(path), "--out", str(tmp_path / "out"), "--seeds", "2"])
    assert (code, out, err) == (2, "", f"dufm sweep: error: config '{path}': {message}\n")
    assert err.count(key) == 1 and not (tmp_path / "out").exists()


FLAGS = [
    (["--seeds", "0"], "--seeds: seeds must be an integer >= 1, got 0"),
    (["--seed", "-1"], "--seed: seed must be an integer >= 0, got -1"),
    (["--max-batch", "0"], "--max-batch: max_batch must be an integer >= 1, got 0"),
    (["--name", "a/b"], "--name: name must be a plain name (letters, digits, '.', '_', '-'; no path), got 'a/b'; "
                        "choose the directory with --out"),
    (["--width", "0"], "--width: width must be an integer >= 1, got 0"),
    (["--lr", "-1"], "--lr: lr must be a finite number > 0, got -1.0"),
    (["--grid", "width=4,0"], "--grid: width must be an integer >= 1, got 0"),
    (["--init", "spectral", "--width", "2"], "--init: init must fit the problem: spectral needs every width >= classes (3)"),
]


@pytest.mark.parametrize("args,message", FLAGS, ids=[a[0] for a, _ in FLAGS])
def test_a_bad_flag_value_is_named_with_its_flag_not_the_file(capsys, tmp_path, args, message):
    path = write_sweep(tmp_path, "tiny.toml")
    for argv in (["sweep", str(path), *args], ["sweep", "--name", "x", *TINY, *args]):  # over a file, and alone
        code, out, err = run_cli(capsys, [*argv, "--out", str(tmp_path / "out")])
        assert code == 2 and out == "" and err.startswith(f"dufm sweep: error: {message}") and err.count("\n") == 1, err
        assert "config '" not in err
    assert not (tmp_path / "out").exists()


def test_a_bad_value_in_the_file_is_the_files_even_beside_flags(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("seeds = 0\n[problem]\nwidth = 0\n")
    code, _, err = run_cli(capsys, ["sweep", str(path), "--seed", "1"])
    assert code == 2 and err == f"dufm sweep: error: config '{path}': width must be an integer >= 1, got 0\n"
    code, _, err = run_cli(capsys, ["sweep", str(path), "--seed", "1", "--width", "4"])  # the flag replaces the file's width
    assert code == 2 and err == f"dufm sweep: error: config '{path}': seeds must be an integer >= 1, got 0\n"
    # the library names the field of an override and the file of the file's value
    with pytest.raises(ValueError) as e:
        SweepConfig.from_toml(path, seeds=2, problem={"width": 4}, grid={"width": [4, 0]})
    assert str(e.value) == "width must be an integer >= 1, got 0"


def test_every_grid_point_is_built_once_and_the_runs_are_listed_once(tmp_path, monkeypatch):
    built = []
    point = SweepConfig._point
    monkeypatch.setattr(SweepConfig, "_point", lambda self, p: built.append(dict(p)) or point(self, p))
    config = SweepConfig.from_toml(write_sweep(tmp_path, seeds=3, grid={"width": [4, 5], "lr": [0.1, 0.2]}))
    assert len(built) == 4  # every point checked when the config was built
    runs = config.runs()
    assert runs is config.runs() and len(runs) == 12 and len(built) == 4  # and not again to list the runs


def test_a_config_is_checked_when_built():
    with pytest.raises(ValueError, match=r"^\[grid\] width must list at least one value, got \[\]$"):
        SweepConfig(name="x", grid={"width": []})
    with pytest.raises(ValueError, match=r"^unknown \[grid\] key\(s\) \['colour'\]"):
        SweepConfig(name="x", grid=[{"width": 4}, {"colour": 1}])
    with pytest.raises(ValueError, match=r"^problem must be a Problem, got \{"):
        SweepConfig(name="x", problem={"classes": 3})
    with pytest.raises(ValueError, match=r"^\[plots\] figures must be a list of figure names, got 'loss_curves'"):
        SweepConfig.from_dict({"name": "x", "plots": {"figures": "loss_curves"}})
    with pytest.raises(ValueError, match=r"^solve must be true or false, got 'no'"):
        SweepConfig.from_dict({"name": "x", "solve": "no"})
    with pytest.raises(ValueError, match=r"^a sweep config must be a table of keys, got list"):
        SweepConfig.from_dict([])
    theory = SweepConfig.from_dict({"name": "t", "solve": False, "plots": {"figures": ["theory_ce_ratio"], "k_max": 8}})
    assert theory.runs() == () and theory.plots.options == {"k_max": 8}
    assert theory.to_dict() == {"name": "t", "solve": False, "plots": {"figures": ["theory_ce_ratio"], "k_max": 8}}


def test_the_plain_form_writes_what_was_given():
    config = SweepConfig.from_dict({"name": "x", "problem": {"classes": 3, "depth": 2, "width": [4, 5]},
                                    "solver": {"lr": 0.5, "divergence_factor": 10**12}, "grid": {"lr": 0.25}})
    # depth 2 and lr 0.5 are the defaults; 10**12 is an int, not the default 1e12 (a run's key hashes it as written)
    assert config.to_dict() == {"name": "x", "problem": {"classes": 3, "width": [4, 5]}, "solver": {"divergence_factor": 10**12},
                                "grid": {"lr": [0.25]}}
    assert config.problem.width == (4, 5) and SweepConfig.from_dict(config.to_dict()) == config


def test_load_config_and_expand_still_work(tmp_path):
    path = write_sweep(tmp_path, grid={"width": [4, 5]})
    with pytest.warns(DeprecationWarning, match="SweepConfig.from_toml"):
        config = load_config(path)
    assert config == SweepConfig.from_toml(path)
    with pytest.warns(DeprecationWarning, match=r"SweepConfig.runs\(\)"):
        assert expand(config) == list(config.runs())
    with pytest.warns(DeprecationWarning):
        assert [s.key for s in expand(config.to_dict())] == [s.key for s in config.runs()]


def test_sweep_config_is_part_of_the_flat_api():
    assert dufm.SweepConfig is SweepConfig and "SweepConfig" in dufm.__all__
