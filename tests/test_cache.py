"""The persistent compilation cache: on by default for the command, off by DUFM_COMPILATION_CACHE=0, never a result change."""

import json
import os
import subprocess
import sys

import pytest

from dufm.runtime import cache_enabled, default_cache_dir, use_compilation_cache

TINY = ["--classes", "3", "--per-class", "2", "--width", "5", "--depth", "2", "--loss", "mse", "--weight-decay", "0.003",
        "--steps", "700", "--seeds", "3", "--json"]


def _solve(env_changes: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DUFM_CACHE_DIR", "DUFM_COMPILATION_CACHE", "XLA_FLAGS")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-m", "dufm", "solve", *TINY], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and not out.stderr, out.stderr
    doc = json.loads(out.stdout)
    return {"runs": doc["runs"], "theory": doc["theory"]}


def _entries(path) -> set:
    return {p.name for p in path.rglob("*") if p.is_file()}


@pytest.mark.slow  # three dufm processes
def test_results_are_the_same_bit_for_bit_with_the_cache_off_cold_and_warm(tmp_path):
    off = _solve({"DUFM_COMPILATION_CACHE": "0", "DUFM_CACHE_DIR": str(tmp_path / "unused")})
    assert not (tmp_path / "unused").exists()
    cold = _solve({"DUFM_CACHE_DIR": str(tmp_path / "cache")})
    written = _entries(tmp_path / "cache")
    assert written and all(p.parent.name.startswith("jax-") for p in (tmp_path / "cache").rglob("*") if p.is_file())
    warm = _solve({"DUFM_CACHE_DIR": str(tmp_path / "cache")})
    assert _entries(tmp_path / "cache") == written  # every program came from the cache
    # JSON floats are written with repr: equal text is equal bits
    assert json.dumps(cold) == json.dumps(off) and json.dumps(warm) == json.dumps(off)


def test_an_unwritable_cache_directory_is_a_warning_and_nothing_changes(tmp_path):
    import jax

    blocker = tmp_path / "file"
    blocker.write_text("")
    before = jax.config.jax_compilation_cache_dir
    with pytest.warns(UserWarning, match=r"no compilation cache: .*file/cache/jax-.* cannot be written .*; compiling as usual"):
        assert use_compilation_cache(blocker / "cache") is None
    assert jax.config.jax_compilation_cache_dir == before


@pytest.mark.parametrize("value, on", [("", True), ("1", True), ("0", False), ("off", False), ("No", False), ("false", False)])
def test_the_switch(value, on):
    assert cache_enabled({"DUFM_COMPILATION_CACHE": value}) is on


def test_where_the_cache_lives():
    assert default_cache_dir({"DUFM_CACHE_DIR": "/x/y"}).as_posix() == "/x/y"
    assert default_cache_dir({"XDG_CACHE_HOME": "/c"}).as_posix() == "/c/dufm"
    assert default_cache_dir({}).as_posix().endswith("/.cache/dufm")
