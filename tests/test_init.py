"""Initialisations: each kind against its definition, and one compiled program draws what drawing op by op draws, bit for bit."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TINY_FLAGS, TINY_SOLVER_FLAGS, run_cli, write_sweep

from dufm import Problem, SolverConfig, initialise
from dufm.model.init import INITS, class_basis, hadamard, label_basis, starts
from dufm.model.objective import shapes

CASES = [Problem(), Problem(activation="relu", bias="free", depth=3), Problem(dtype="float32")]
# spectral needs every width >= K and, for CE, K a power of two
SPECTRAL_CASES = [Problem(classes=8, width=12), Problem(classes=4, width=(6, 5, 9), depth=3, bias="free", loss="mse"),
                  Problem(classes=8, width=12, dtype="float32")]


def _op_by_op(key, arch, scale, kind):
    """The definition, drawn without jit, for the scales (s_H, s_W)."""
    sH, sW = (np.asarray(s, arch.dtype) for s in scale)
    shp = shapes(arch)
    mats = [shp.H, *shp.W]
    if kind == "spectral":
        K, L = arch.classes, arch.depth
        keys = jax.random.split(key, L + 1)
        orth = jax.nn.initializers.orthogonal(scale=1.0)
        frames = [orth(k, (d, K), mats[0].dtype) for k, d in zip(keys[:L], arch.widths)] + [np.asarray(label_basis(arch), arch.dtype)]
        sigma = jax.random.uniform(keys[L], (K,), mats[0].dtype)
        right = np.asarray(label_basis(arch).T @ class_basis(arch), arch.dtype)
        return [sH * ((frames[0] * sigma) @ right)] + [sW * ((frames[l + 1] * sigma) @ frames[l].T) for l in range(L)]
    keys = jax.random.split(key, len(mats))
    scales = [sH] + [sW] * (len(mats) - 1)
    if kind == "gaussian":
        return [s * jax.random.normal(k, m.shape, m.dtype) for s, k, m in zip(scales, keys, mats)]
    if kind == "orthogonal":
        return [s * jax.nn.initializers.orthogonal(scale=1.0)(k, m.shape, m.dtype) for s, k, m in zip(scales, keys, mats)]
    if kind == "balanced":  # every factor c Q, c = (s_H s_W^L)^(1/(L+1))
        c = jnp.exp((jnp.log(sH) + arch.depth * jnp.log(sW)) / (arch.depth + 1))
        return [c * jax.nn.initializers.orthogonal(scale=1.0)(k, m.shape, m.dtype) for k, m in zip(keys, mats)]
    out = [sH * jax.random.normal(keys[0], mats[0].shape, mats[0].dtype)]
    for k, m in zip(keys[1:], mats[1:]):
        bound = sW * np.asarray(1.0 / math.sqrt(m.shape[1]), arch.dtype)
        if kind == "pytorch":
            out.append(bound * jax.random.uniform(k, m.shape, m.dtype, -1.0, 1.0))
        else:  # gain
            out.append(bound * jax.random.normal(k, m.shape, m.dtype))
    return out


def _draw_cases():
    """By default the solver's default kind (gaussian) and a uniform draw (pytorch) on the first problem; the other cases
    are slow (each compiles two draw programs of its own; every kind is checked against its definition by default in
    the tests below, float32 draws in tests/test_objective.py and tests/test_solve.py)."""
    for case, name in enumerate(["fig1", "relu-bias", "float32"]):
        for kind in INITS:
            fast = case == 0 and kind in ("gaussian", "pytorch")
            yield pytest.param(case, kind, id=f"{name}-{kind}", marks=[] if fast else [pytest.mark.slow])


@pytest.mark.parametrize("case,kind", list(_draw_cases()))
def test_starts_and_initialise_equal_the_draw_op_by_op_bit_for_bit(case, kind):
    problem = (SPECTRAL_CASES if kind == "spectral" else CASES)[case]
    arch = problem.architecture
    seeds, scales = [0, 7, 2**32 - 1], [0.1, (0.3, 0.05), 2.0]
    batch = starts(arch, seeds, scales, kind)
    for j, (seed, scale) in enumerate(zip(seeds, scales)):
        point = initialise(jax.random.PRNGKey(seed), arch, scale, kind)
        want = _op_by_op(jax.random.PRNGKey(seed), arch, scale if isinstance(scale, tuple) else (scale, scale), kind)
        for got_batch, got, ref in zip([batch.H, *batch.W], [point.H, *point.W], want):
            assert np.asarray(got).dtype == np.dtype(problem.dtype)
            if kind == "balanced":
                # its scale exp((log s_H + L log s_W) / (L + 1)) is fused into the compiled draw: within an ulp or two of the
                # eager expression, so the factors are within 4 ulps (c and the product c Q each round once)
                ulp = np.finfo(problem.dtype).eps
                np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=4 * ulp, atol=0)
                np.testing.assert_allclose(np.asarray(got_batch)[j], np.asarray(ref), rtol=4 * ulp, atol=0)
                continue
            np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
            np.testing.assert_array_equal(np.asarray(got_batch)[j], np.asarray(ref))
        if point.b is not None:
            assert not np.any(np.asarray(point.b)) and not np.any(np.asarray(batch.b))


# a large draw: K = 10 classes x 50 samples, widths 400, 300; W_1 is 300 x 400, W_2 10 x 300
BIG = Problem(classes=10, per_class=50, width=(400, 300), depth=2).architecture


def _moments(x, mean, std, low=None, high=None):
    """Sample mean and std of ``x`` within 5 standard errors of the rule's; every entry in [low, high]."""
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) <= 5 * std / math.sqrt(n)
    # the sample variance's standard error: sqrt((mu_4 - sigma^4) / n); mu_4 = 3 sigma^4 (normal), 9/5 sigma^4 (uniform)
    mu4 = 9 / 5 * std**4 if low is not None else 3 * std**4
    assert abs(x.var() - std**2) <= 5 * math.sqrt((mu4 - std**4) / n)
    if low is not None:
        assert x.min() >= low and x.max() <= high
        assert x.min() < low * (1 - 1e-2) and x.max() > high * (1 - 1e-2)  # the range is filled


@pytest.mark.parametrize("scales", [None, (0.7, 1.6)], ids=["pytorch-default", "given-scales"])
def test_pytorch_is_nn_linear_default_and_randn(scales):
    cfg = SolverConfig(init="pytorch", **({} if scales is None else {"feature_init_scale": scales[0], "weight_init_scale": scales[1]}))
    sH, sW = cfg.init_scales()
    assert (sH, sW) == ((1.0, 1.0) if scales is None else scales)  # not init_scale
    p = initialise(jax.random.PRNGKey(3), BIG, (sH, sW), "pytorch")
    _moments(p.H, 0.0, sH)
    for W, fan_in in zip(p.W, BIG.widths):
        bound = sW / math.sqrt(fan_in)
        _moments(W, 0.0, bound / math.sqrt(3), -bound, bound)


def test_gain_and_gaussian_stds():
    p = initialise(jax.random.PRNGKey(4), BIG, (0.4, 1.3), "gain")
    _moments(p.H, 0.0, 0.4)
    for W, fan_in in zip(p.W, BIG.widths):
        _moments(W, 0.0, 1.3 / math.sqrt(fan_in))
    cfg = SolverConfig(init_scale=0.2, weight_init_scale=0.05)
    assert cfg.init_scales() == (0.2, 0.05)
    p = initialise(jax.random.PRNGKey(5), BIG, cfg.init_scales(), "gaussian")
    _moments(p.H, 0.0, 0.2)
    for W in p.W:
        _moments(W, 0.0, 0.05)


def test_orthogonal_is_scaled_semi_orthogonal():
    p = initialise(jax.random.PRNGKey(6), BIG, (0.3, 2.0), "orthogonal")
    for M, s in zip([p.H, *p.W], [0.3, 2.0, 2.0]):
        M = np.asarray(M) / s
        small = M @ M.T if M.shape[0] <= M.shape[1] else M.T @ M
        np.testing.assert_allclose(small, np.eye(len(small)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("problem", SPECTRAL_CASES[:2], ids=["ce-K8", "mse-K4-L3"])
def test_spectral_factors_are_aligned_balanced_and_follow_the_labels(problem):
    arch = problem.architecture
    K, s = arch.classes, 0.7
    p = initialise(jax.random.PRNGKey(8), arch, s, "spectral")
    mats = [np.asarray(m) for m in [p.H, *p.W]]
    # every factor has rank K; consecutive factors share singular vectors: W_{l+1}^T W_{l+1} = W_l W_l^T (balanced)
    for A, B in zip(mats[:-1], mats[1:]):
        np.testing.assert_allclose(B.T @ B, A @ A.T, rtol=0, atol=1e-12)
    for M in mats:
        sv = np.linalg.svd(M, compute_uv=False)
        assert sv[K - 1] > 1e-3 * sv[0] and (len(sv) == K or sv[K] < 1e-12)
    # H_1's right singular vectors span the class indicators; Z = s^{L+1} Q diag(sigma^{L+1}) Q^T E with Q the label basis
    E, Q = class_basis(arch), label_basis(arch)
    np.testing.assert_allclose(mats[0] @ E.T @ E, mats[0], rtol=0, atol=1e-12)
    Z = mats[0]
    for W in mats[1:]:
        Z = W @ Z
    D = Q.T @ Z @ E.T @ Q
    np.testing.assert_allclose(D, np.diag(np.diag(D)), rtol=0, atol=1e-12)
    assert np.all(np.diag(D) > 0) and len(set(np.round(np.diag(D), 12))) == K  # distinct modes, so the softmax can tell them apart
    if K == 8:
        np.testing.assert_allclose(np.abs(Q) * math.sqrt(K), np.ones((K, K)), rtol=0, atol=1e-15)  # the Hadamard basis
        np.testing.assert_allclose(Q.T @ Q, np.eye(K), rtol=0, atol=1e-15)
        assert np.array_equal(hadamard(2), np.array([[1, 1], [1, -1]]) / math.sqrt(2))


@pytest.mark.parametrize("kind", INITS)
def test_a_seed_gives_the_same_parameters_and_seeds_differ(kind):
    # the problems whose draws the tests above compile (BIG's moments, the spectral factors of K = 8)
    arch = SPECTRAL_CASES[0].architecture if kind == "spectral" else BIG
    a, b, c = (initialise(jax.random.PRNGKey(s), arch, 0.3, kind) for s in (11, 11, 12))
    for x, y, z in zip([a.H, *a.W], [b.H, *b.W], [c.H, *c.W]):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.max(np.abs(np.asarray(x) - np.asarray(z))) > 1e-3


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), True])
def test_a_bad_scale_is_named(scale):
    with pytest.raises(ValueError, match="init_scale must be a finite number > 0"):
        starts(Problem().architecture, [0, 1], [0.1, scale])
    with pytest.raises(ValueError, match="^weight_init_scale must be a finite number > 0"):
        starts(Problem().architecture, [0, 1], [0.1, (0.1, scale)])
    for name in ("feature_init_scale", "weight_init_scale", "init_scale"):
        with pytest.raises(ValueError, match=f"^{name} must be a finite number > 0"):
            SolverConfig(**{name: scale})


def test_spectral_that_does_not_fit_is_named():
    with pytest.raises(ValueError, match=r"^init must fit the problem: spectral needs every width >= classes \(10\)"):
        initialise(jax.random.PRNGKey(0), Problem(width=6).architecture, 0.1, "spectral")
    with pytest.raises(ValueError, match="^init must fit the problem: spectral needs classes a power of two"):
        starts(Problem().architecture, [0], 0.1, "spectral")
    with pytest.raises(ValueError, match="^init must be one of gaussian, orthogonal, pytorch, gain, spectral, balanced; got 'bogus'"):
        SolverConfig(init="bogus")


def test_run_keys_of_existing_configs_do_not_change():
    d = SolverConfig().to_dict()
    assert "feature_init_scale" not in d and "weight_init_scale" not in d
    assert SolverConfig(weight_init_scale=0.2).to_dict()["weight_init_scale"] == 0.2


TINY = ["--classes", "4", "--per-class", "2", "--width", "5", "--depth", "2", "--weight-decay", "0.002"]




def test_solve_init_pytorch_runs(capsys):
    docs = {}
    for kind in ("pytorch", "gaussian"):
        # the tiny sweep's program (a run alone)
        code, out, err = run_cli(capsys, ["solve", *TINY_FLAGS, *TINY_SOLVER_FLAGS, "--init", kind, "--json"])
        assert code == 0, err
        docs[kind] = json.loads(out)
    assert docs["pytorch"]["solver"]["init"] == "pytorch" and docs["pytorch"]["runs"][0]["steps"] == 400
    assert docs["pytorch"]["runs"][0]["loss"] != docs["gaussian"]["runs"][0]["loss"]  # another start


BAD = [(["--init", "bogus"], "--init: init must be one of"),
       (["--feature-init-scale", "-1"], "--feature-init-scale: feature_init_scale must be a finite number > 0"),
       (["--weight-init-scale", "nan"], "--weight-init-scale: weight_init_scale must be a finite number > 0"),
       (["--init", "spectral", "--width", "3"], "--init: init must fit the problem: spectral needs every width >= classes (4)"),
       (["--init", "spectral", "--classes", "3"], "--init: init must fit the problem: spectral needs classes a power of two")]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_init_input_exits_2_with_one_line(capsys, args, message):
    code, out, err = run_cli(capsys, ["solve", *TINY, "--steps", "10", *args])
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_sweep_over_inits_runs_and_a_bad_init_is_one_line(tmp_path, capsys):
    # four runs: one batch of the suite's tiny-sweep program (the init is not part of it; each kind draws its own starts)
    cfg = write_sweep(tmp_path, solver={"init": "pytorch"}, grid={"init": ["pytorch", "gaussian", "gain", "orthogonal"]}, seeds=1)
    code, out, err = run_cli(capsys, ["sweep", str(cfg), "--out", str(tmp_path / "store")])
    assert code == 0, err
    runs = [json.loads(p.read_text()) for p in (tmp_path / "store" / "runs").glob("*.json")]
    assert sorted(r["config"]["solver"]["init"] for r in runs) == ["gain", "gaussian", "orthogonal", "pytorch"]
    bad = write_sweep(tmp_path, "bad.toml", solver={"init": "bogus"})
    code, out, err = run_cli(capsys, ["sweep", str(bad), "--out", str(tmp_path / "bad")])
    assert code == 2 and err.count("\n") == 1 and "init must be one of" in err, err


@pytest.mark.parametrize("kind", ["orthogonal", "balanced"])
def test_many_orthogonal_starts_are_drawn_and_equal_each_seed_drawn_alone(kind):
    """18 starts of depth 8: vmapped, the layers' batched QR factorisations waited on XLA's CPU thread pool for each other
    and the program never ended on two cores (a process of its own, so that a hang fails the test instead of the run)."""
    import subprocess
    import sys

    code = (f"from dufm import Problem, initialise; from dufm.model.init import starts; import numpy as np, jax\n"
            f"p = Problem(classes=10, per_class=5, width=30, depth=8)\n"
            f"x = starts(p.architecture, range(18), 1.0, '{kind}')\n"
            f"for i in (0, 17):\n"
            f"    one = initialise(jax.random.PRNGKey(i), p.architecture, 1.0, '{kind}')\n"
            f"    for a, b in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(one)):\n"
            f"        np.testing.assert_allclose(np.asarray(a)[i], b, rtol=1e-12, atol=1e-14)\n"
            f"print('drawn', len(x.H))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "drawn 18", out.stderr[-2000:]
