"""Every failure is one line: bad input, file-system and store problems, a closed pipe, Ctrl-C.

The cases are the rows of docs/cli.md's "Failures" table. Each command exits 2
(130 for Ctrl-C) with one line on stderr naming the flag, key or file at fault,
and nothing stored before is lost or changed.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_cli, write_sweep

from dufm.cli import main
from dufm.experiments.records import load_results

TINY = ["--classes", "3", "--per-class", "2", "--width", "4", "--depth", "2", "--loss", "mse", "--weight-decay", "0.002"]
ENV = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "DUFM_CPU_DEVICES")}




def one_line(err: str, *texts: str):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for text in texts:
        assert text in lines[0], (text, lines[0])


# the command as a user's terminal starts it: SIGINT at its default (a harness may have it ignored), nothing forked by
# hand. The second interpreter writes one byte to the file descriptor READY (-1: none) once it has started and before
# dufm's code runs: an interrupt before then meets Python's own start-up, which no program can handle (docs/cli.md).
LAUNCH = ("import os, resource, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); limit = int(sys.argv[1])\n"
          "if limit: signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
          "os.execv(sys.executable, [sys.executable, '-c', STAGE, *sys.argv[2:]])")
STAGE = ("import os, runpy, sys; ready = int(sys.argv[1])\n"
         "if ready >= 0: os.write(ready, b'.'); os.close(ready)\n"
         "sys.argv = ['dufm', *sys.argv[2:]]; runpy.run_module('dufm', run_name='__main__', alter_sys=True)")


def dufm(*args, file_limit: int = 0, ready: int = -1, **kw):
    """``dufm ARGS`` as a new process (``file_limit``: the largest file it may write, bytes; 0 for none)."""
    launch = LAUNCH.replace("STAGE", repr(STAGE))
    pass_fds = (ready,) if ready >= 0 else ()
    return subprocess.Popen([sys.executable, "-c", launch, str(file_limit), str(ready), *args], text=True, env=ENV,
                            pass_fds=pass_fds, **kw)


def snapshot(store: Path) -> dict:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A finished tiny sweep: 4 runs (2 lambdas x 2 seeds)."""
    root = tmp_path_factory.mktemp("stored")
    config = write_sweep(root, "tiny.toml")
    assert main(["sweep", str(config), "--out", str(root / "out")]) == 0
    return root


# ---------------------------------------------------------------------------
# configs and names


CONFIGS = [
    ("[grid]\nwidth = []\n", "[grid] width must list at least one value"),
    ("[analysis]\nrank_tol = -5\n", "rank_tol must be a number in (0, 1)"),
    ("[analysis]\nrank_toll = 0.1\n", "unknown [analysis] key(s) ['rank_toll']"),
    ("name = 5\n", "name must be a plain name"),
    ('problem = "classes = 3"\n', "[problem] must be a table"),
    ("[problem]\nwidth = -3\n", "width must be an integer >= 1, got -3"),
    ("[grid]\ncolour = [1]\n", "unknown [grid] key(s) ['colour']"),
    ('[solver]\nspectra = "all"\n', "spectra must be one of none, output, layers; got 'all'"),
]


@pytest.mark.parametrize("text,message", CONFIGS, ids=[m.split(" must")[0] for _, m in CONFIGS])
def test_bad_configs_name_the_file_and_the_key(capsys, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run_cli(capsys, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and out == ""
    one_line(err, f"config '{path}'", message)
    assert not (tmp_path / "out").exists()


def test_binary_garbage_config(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\x00\xff\xfe\x80 garbage")
    code, _, err = run_cli(capsys, ["sweep", str(path)])
    assert code == 2
    one_line(err, f"config '{path}' is not a text (UTF-8) TOML file")


@pytest.mark.parametrize("name", ["../../x", "/abs", "", ".", "..", "a/b"])
def test_names_stay_inside(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, ["sweep", "--name", name, "--steps", "5", *TINY])
    assert code == 2
    one_line(err, "--name: name must be a plain name", "--out")
    assert list(tmp_path.iterdir()) == []


def test_max_batch_zero(capsys, tmp_path):
    code, _, err = run_cli(capsys, ["sweep", "--name", "x", "--out", str(tmp_path / "o"), "--max-batch", "0", *TINY])
    assert code == 2
    one_line(err, "--max-batch: max_batch must be an integer >= 1, got 0")


def test_a_bad_grid_value(capsys, tmp_path):
    code, _, err = run_cli(capsys, ["sweep", "--name", "x", "--out", str(tmp_path / "o"), "--grid", "width=4,0", *TINY])
    assert code == 2
    one_line(err, "--grid: width must be an integer >= 1, got 0")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------
# the file system


def test_out_or_figures_that_are_files(capsys, tmp_path, stored):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(capsys, ["sweep", "--name", "x", "--out", str(tmp_path / "afile"), "--steps", "5", *TINY])
    assert code == 2
    one_line(err, f"results directory {tmp_path / 'afile'} exists and is not a directory")
    # a path under a file: what a read-only or missing parent gives as well
    code, _, err = run_cli(capsys, ["sweep", "--name", "x", "--out", str(tmp_path / "afile" / "sub"), "--steps", "5", *TINY])
    assert code == 2
    one_line(err, str(tmp_path / "afile" / "sub"))
    store = tmp_path / "store"
    import shutil

    shutil.copytree(stored / "out", store)
    (store / "figures").write_text("not a folder")
    code, _, err = run_cli(capsys, ["plot", str(store), "--figure", "loss_curves"])
    assert code == 2
    one_line(err, f"{store / 'figures'} exists and is not a directory")


def test_a_full_disk_leaves_nothing_half_written(tmp_path, stored):
    """A file-size limit makes the write of the first run's arrays fail as a full disk would."""
    store = tmp_path / "store"
    import shutil

    shutil.copytree(stored / "out", store)
    before = snapshot(store)
    bigger = write_sweep(tmp_path, "bigger.toml", grid={"weight_decay": [0.002, 0.004, 0.008]})

    # records ~3 kB, arrays ~4 kB: the new run cannot be written
    proc = dufm("sweep", str(bigger), "--out", str(store), file_limit=2000, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0] == err.strip().splitlines()[-1]
    assert "File too large" in errors[0] and str(store) in errors[0]  # names the file it could not write
    after = snapshot(store)
    assert not [name for name in after if name.endswith(".tmp")]
    assert all(after[name] == data for name, data in before.items() if name.startswith("runs/"))
    assert len(load_results(store, every_run=True)) == 4  # nothing stored before is lost


# ---------------------------------------------------------------------------
# stores


def test_a_damaged_manifest_names_its_file(capsys, tmp_path, stored):
    import shutil

    for content in ("", "[1, 2]", "{not json"):
        store = tmp_path / f"s{len(content)}"
        shutil.copytree(stored / "out", store)
        (store / "manifest.json").write_text(content)
        for args in (["plot", str(store)], ["probe", "--result", str(store)]):
            code, _, err = run_cli(capsys, args)
            assert code == 2
            one_line(err, str(store / "manifest.json"))


def test_a_truncated_run_is_set_aside_by_plot_and_refused_by_probe(capsys, tmp_path, stored):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(stored / "out", store)
    key = sorted(p.stem for p in (store / "runs").glob("*.json"))[0]
    npz = store / "runs" / f"{key}.npz"
    npz.write_bytes(npz.read_bytes()[:500])
    code, out, err = run_cli(capsys, ["probe", "--result", str(store), "--key", key])
    assert code == 2
    one_line(err, f"{key}.npz is not a readable .npz", f"run {key} moved to {store / 'damaged'}")
    assert (store / "damaged" / f"{key}.npz").exists()
    code, out, err = run_cli(capsys, ["plot", str(store), "--figure", "loss_curves"])
    assert code == 0 and err == ""  # already set aside: nothing more to say


def test_an_empty_key_is_not_the_first_run(capsys, stored):
    code, _, err = run_cli(capsys, ["probe", "--result", str(stored / "out"), "--key", ""])
    assert code == 2
    one_line(err, "key must be a finished run", "'' is not")


def test_summary_equals_the_results_after_a_changed_grid(tmp_path):
    out = tmp_path / "out"
    assert main(["sweep", str(write_sweep(tmp_path, "a.toml", grid={"weight_decay": [0.002, 0.004]})), "--out", str(out)]) == 0
    assert main(["sweep", str(write_sweep(tmp_path, "b.toml", grid={"weight_decay": [0.004, 0.008, 0.016]})), "--out", str(out)]) == 0
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    res = load_results(out)
    assert [r.split(",")[0] for r in rows] == [r.key for r in res.records] and len(rows) == 6
    assert len(load_results(out, every_run=True)) == 8  # the first grid's other runs stay on disk


# ---------------------------------------------------------------------------
# sizes


def test_a_problem_that_cannot_fit_is_refused_at_once(capsys):
    t = time.perf_counter()
    code, out, err = run_cli(capsys, ["solve", "--width", "30000"])
    assert code == 2 and time.perf_counter() - t < 30
    one_line(err, "the problem is too large for this machine: about", "GB for 1 run(s) of 901800000 parameters", "free")


def test_a_long_job_says_how_long_before_it_starts():
    # long in steps, small in memory: 100 runs of Fig 1 need 81 MB (100 000 runs of 100 000 steps needed 19 GB, and a
    # machine with less free was refused as too large instead)
    proc = dufm("solve", "--seeds", "100", "--steps", "1000000000", "--log-every", "100000", stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL)
    try:
        line = proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait()
    assert line.startswith("dufm solve: estimated run time up to ") and "days" in line and "100 run(s)" in line, line


def test_the_flow_says_how_long_at_its_usual_step_count():
    # its step limit (100 000 accepted steps) bounds nothing useful: runs end after about a hundred
    proc = dufm("solve", "--optimizer", "flow", "--classes", "10", "--per-class", "5", "--width", "30", "--depth", "64",
                "--seeds", "100", stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        line = proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait()
    assert line.startswith("dufm solve: estimated run time about ") and "100 run(s) x about 150 accepted steps" in line, line
    assert "at most 100000 steps would take up to " in line and "days" in line, line


# ---------------------------------------------------------------------------
# the process: a closed pipe, Ctrl-C


def test_a_closed_pipe_is_one_line():
    # closed before the report is written (as `| head -1` does once it has its line): every write then meets EPIPE. Reading
    # a line first would race: a report that fits the pipe's buffer is written whole before the close, and exit 0 is right.
    # Every command writes through the same handler in dufm.cli.main; `theory` reaches it without compiling a solver (docs/cli.md
    # shows `dufm solve`, run by hand)
    proc = dufm("theory", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 2
    one_line(err, "dufm theory: error: the output was closed")


def _interrupt(args, after: float):
    """Ctrl-C ``after`` seconds after the interpreter has started (dufm's own start-up, its imports, included)."""
    read, write = os.pipe()
    proc = dufm(*args, ready=write, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(write)
    assert select.select([read], [], [], 60)[0] and os.read(read, 1) == b"."
    os.close(read)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_the_interrupt_handler_imports_nothing():
    """A SIGINT can arrive in the middle of an import; a handler that imports then meets half-made modules (seen:
    numpy's import failing on a half-imported inspect, exit 1 with a traceback)."""
    code = ("import sys; from dufm.cli import process; before = set(sys.modules)\n"
            "process._stop = lambda: print('stopped')\n"
            "process._on_interrupt(2, None); print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert out.stdout.split("\n")[:2] == ["stopped", "[]"], out.stdout + out.stderr


@pytest.mark.parametrize("after", [0.3, pytest.param(2.5, marks=pytest.mark.slow)])  # slow: a solve under way
def test_ctrl_c_in_a_solve_is_one_line_130(after):
    code, err = _interrupt(["solve", *TINY, "--steps", "2000000", "--tol", "0"], after)
    assert code == 130
    one_line(err, "interrupted")


def test_ctrl_c_in_the_first_second_of_a_sweep(tmp_path):
    code, err = _interrupt(["sweep", str(write_sweep(tmp_path, "s.toml")), "--out", str(tmp_path / "out")], 0.3)
    assert code == 130
    one_line(err, "dufm sweep: interrupted")


def test_plot_of_a_sweep_without_finished_runs(capsys, tmp_path):
    out = tmp_path / "dead"
    assert main(["sweep", "--name", "dead", "--out", str(out), *TINY, "--lr", "300", "--steps", "400", "--log-every", "50"]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, ["plot", str(out)])
    assert code == 2
    one_line(err, f"there is nothing to draw in {out}: it holds no finished run")
    code, _, err = run_cli(capsys, ["plot", str(out), "--figure", "loss_curves"])
    assert code == 2
    one_line(err, f"figure loss_curves draws finished runs, and {out} has none (1 diverged run)")


@pytest.mark.slow  # a dufm process that compiles and stores two runs before the interrupt
def test_ctrl_c_in_a_sweep_keeps_the_summary_equal_to_the_results(tmp_path):
    config = write_sweep(tmp_path, "s.toml", seeds=4, max_batch=1, solver={"steps": 3000, "tol": 0.0})
    out = tmp_path / "out"
    proc = dufm("sweep", str(config), "--out", str(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    while len(list((out / "runs").glob("*.json")) if (out / "runs").exists() else []) < 2 and time.time() - t0 < 120:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "dufm sweep: interrupted; every finished run is stored, run the same command again to resume"
    assert "Traceback" not in err
    res = load_results(out)
    assert 2 <= len(res) < 8
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [r.key for r in res.records]
    assert main(["sweep", str(config), "--out", str(out)]) == 0 and len(load_results(out)) == 8
    assert json.loads((out / "manifest.json").read_text())["environment"]["end"]
