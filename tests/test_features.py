"""Feature files of real networks (dufm.features, dufm analyse): every metric against an independent numpy implementation
written here from the papers' definitions, closed forms on collapsed data, streaming, parity with dufm's own analysis,
the checkpoint axis, the store and one-line failures."""

import json

import numpy as np
import pytest
import scipy.linalg

import dufm
from dufm import features, theory
from dufm.analysis.collapse import NCMetrics, feature_stats, mean_floor
from dufm.analysis.solution import analyse
from dufm.cli import main

METRICS = ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "nc2_equinorm", "nc2_equiangle", "nc3", "nc3_duality", "nc4")


def reference(X, y, W=None, b=None):
    """Every metric from its definition: samples as rows, loops over classes and class pairs, shares no code with dufm.

    Papyan, Han & Donoho 2020 (NC1 = Tr(Sigma_W Sigma_B^+)/K, equinorm, equiangularity, self-duality, NC4);
    Galanti et al. 2022 (CDNV); the simplex-ETF error of rhubarbwu/neural-collapse.
    """
    N, d = X.shape
    K = int(y.max()) + 1
    mu = np.array([X[y == k].mean(axis=0) for k in range(K)])
    muG = X.mean(axis=0)
    SW = sum(np.outer(X[i] - mu[y[i]], X[i] - mu[y[i]]) for i in range(N)) / N
    C = mu - muG
    SB = sum(np.outer(c, c) for c in C) / K
    var = np.array([np.mean(np.sum((X[y == k] - mu[k]) ** 2, axis=1)) for k in range(K)])
    pairs = [(k, j) for k in range(K) for j in range(k + 1, K)]
    norms = np.array([np.linalg.norm(c) for c in C])
    with np.errstate(divide="ignore", invalid="ignore"):  # coinciding or vanishing means: inf and nan, which callers skip
        cdnv = np.mean([(var[k] + var[j]) / (2 * np.sum((mu[k] - mu[j]) ** 2)) for k, j in pairs])
        cos = [C[k] @ C[j] / (norms[k] * norms[j]) for k in range(K) for j in range(K) if k != j]
    G = C @ C.T
    etf = (np.eye(K) - np.ones((K, K)) / K) / np.sqrt(K - 1)
    G0 = mu @ mu.T
    dist = np.array([[np.sum((X[i] - mu[k]) ** 2) for k in range(K)] for i in range(N)])
    near = dist.argmin(axis=1)
    out = {
        "nc1": np.trace(SW @ np.linalg.pinv(SB, rcond=1e-10)) / K,
        "nc1_trace": np.trace(SW) / np.trace(SB),
        "cdnv": cdnv,
        "nc2_etf": np.linalg.norm(G / np.linalg.norm(G) - etf),
        "nc2_of": np.linalg.norm(G0 / np.linalg.norm(G0) - np.eye(K) / np.sqrt(K)),
        "nc2_equinorm": np.sqrt(np.mean((norms - norms.mean()) ** 2)) / norms.mean(),
        "nc2_equiangle": np.mean(np.abs(np.array(cos) + 1 / (K - 1))),
        "nc4": np.mean(near == y),
        "nc3": None, "nc3_duality": None,
        "sv": np.linalg.svd(X, compute_uv=False),
        "msv": np.linalg.svd(C, compute_uv=False),
    }
    if W is not None:
        # projector onto the span of the class means: a QR with column pivoting, whose leading columns span the means also
        # when a mean that is not the last depends on the others (plain QR would keep a direction orthogonal to a dropped one)
        Q, R, _ = scipy.linalg.qr(mu.T, mode="economic", pivoting=True)
        Q = Q[:, np.abs(np.diag(R)) > 1e-10 * np.abs(R[0, 0])]
        out["nc3"] = np.linalg.norm(W - W @ Q @ Q.T) / np.linalg.norm(W)
        out["nc3_duality"] = np.linalg.norm(W.T / np.linalg.norm(W) - C.T / np.linalg.norm(C))
        pred = np.argmax(X @ W.T + (0 if b is None else b), axis=1)
        out["nc4"] = np.mean(near == pred)
    return out


def assert_metrics(layer, want, rel=1e-12):
    for m in METRICS:
        got = getattr(layer.nc, m)
        if want[m] is None:
            assert got is None, m
        else:
            # a metric that is zero in exact arithmetic (collapsed data) is rounding on both sides: compared absolutely
            assert got == pytest.approx(want[m], rel=rel, abs=1e-12 if abs(want[m]) < 1e-12 else 0), m
    np.testing.assert_allclose(layer.singular_values, want["sv"], rtol=0, atol=1e-12 * want["sv"][0])
    np.testing.assert_allclose(layer.class_mean_singular_values, want["msv"], rtol=0, atol=1e-12 * want["msv"][0])


def mixture(rng, K=4, n=(7, 9, 5, 8), d=6, shuffle=True):
    y = np.repeat(np.arange(K), n)
    if shuffle:
        y = rng.permutation(y)
    X = rng.normal(size=(len(y), d)) + 2.0 * rng.normal(size=(K, d))[y] + 0.5
    return X, y


def test_every_metric_matches_its_definition_on_random_data(rng, tmp_path):
    """Features far from collapse (every metric O(0.1-1)), imbalanced classes, labels in random order, a classifier with a bias."""
    X, y = mixture(rng)
    W, b = rng.normal(size=(4, 6)), rng.normal(size=4)
    path = features.save(tmp_path / "f.npz", y, {"h": X, "g": np.tanh(X)}, weights={"g": W}, biases={"g": b})
    a = features.analyse_features(path)
    assert_metrics(a.layers["h"], reference(X, y), rel=1e-10)  # nc1: two pseudo-inverses of a rank-3 matrix
    want = reference(np.tanh(X), y, W, b)
    assert all(0.02 < want[m] < 2 for m in METRICS if m != "nc4") and 0 < want["nc4"] < 1
    assert_metrics(a.layers["g"], want, rel=1e-10)
    assert a.layers["g"].classifier and not a.layers["h"].classifier
    assert list(a.layers) == ["h", "g"]  # the file's order is the layer order


def test_label_order_and_chunks_do_not_change_the_numbers(rng, tmp_path):
    X, y = mixture(rng, shuffle=False)
    W = rng.normal(size=(4, 6))
    order = rng.permutation(len(y))
    sorted_ = features.analyse_features({"labels": y, "h": X, "W_h": W})
    shuffled = features.analyse_features({"labels": y[order], "h": X[order], "W_h": W})
    np.savez_compressed(tmp_path / "c.npz", labels=y[order], h=X[order], W_h=W)
    chunked = features.analyse_features({"labels": y, "h": X, "W_h": W}, chunk=1)
    for other in (shuffled, features.analyse_features(tmp_path / "c.npz", chunk=5), chunked):
        a, b = sorted_.layers["h"], other.layers["h"]
        for m in METRICS:
            assert getattr(b.nc, m) == pytest.approx(getattr(a.nc, m), rel=1e-12, abs=0), m
        np.testing.assert_allclose(b.singular_values, a.singular_values, rtol=0, atol=1e-12 * a.singular_values[0])
        s = a.class_mean_singular_values  # the last is an exact zero (K means, centred) computed as ~1e-16
        np.testing.assert_allclose(b.class_mean_singular_values, s, rtol=0, atol=1e-12 * s[0])


def etf_plus_noise(rng, K=4, n=10, d=6, r=3.0, sigma=0.1):
    """Class means a simplex ETF of norm r (rotated into R^d) plus per-class noise E_k with zero mean and E_k^T E_k = n sigma^2 I."""
    U, _ = np.linalg.qr(rng.normal(size=(d, K)))
    means = r * np.sqrt(K / (K - 1)) * (np.eye(K) - 1 / K) @ U.T + rng.normal(size=d)  # rows mu_k, ||mu_k - mu_G|| = r
    X, y = [], []
    for k in range(K):
        E = rng.normal(size=(n, d))
        E -= E.mean(axis=0)
        Q, _ = np.linalg.qr(E)  # orthonormal columns, orthogonal to the all-ones vector
        X.append(means[k] + np.sqrt(n) * sigma * Q)
        y += [k] * n
    y = np.array(y)
    order = rng.permutation(len(y))
    return np.vstack(X)[order], y[order], means


def test_collapsed_features_closed_forms(rng):
    """An exact ETF: NC1 = CDNV = NC2 = 0 to 1e-12, NC4 = 1, self-dual classifier, type dnc; plus isotropic noise of variance
    sigma^2: NC1 = sigma^2 (K-1)^2 / (K r^2), trace quotient d sigma^2 / r^2, CDNV = d sigma^2 (K-1) / (2 K r^2) exactly."""
    K, n, d, r, sigma = 4, 10, 6, 3.0, 0.1
    X, y, means = etf_plus_noise(rng, K, n, d, r, sigma)
    collapsed = means[y]
    W = 0.7 * (means - means.mean(axis=0))
    a = features.analyse_features({"labels": y, "h": collapsed, "W_h": W}).layers["h"]
    for m in ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_equinorm", "nc2_equiangle", "nc3", "nc3_duality"):
        assert abs(getattr(a.nc, m)) <= 1e-12, m
    assert a.nc.nc4 == 1.0 and a.class_mean_rank == K - 1 and a.solution_type == "dnc"
    noisy = features.analyse_features({"labels": y, "h": X, "W_h": W}).layers["h"]
    assert noisy.nc.nc1 == pytest.approx(sigma**2 * (K - 1) ** 2 / (K * r**2), rel=1e-12)
    assert noisy.nc.nc1_trace == pytest.approx(d * sigma**2 / r**2, rel=1e-12)
    assert noisy.nc.cdnv == pytest.approx(d * sigma**2 * (K - 1) / (2 * K * r**2), rel=1e-12)
    assert noisy.nc.nc2_etf <= 1e-12 and noisy.nc.nc4 == 1.0
    assert_metrics(noisy, reference(X, y, W), rel=1e-10)


def test_low_rank_class_means_are_low_rank(rng):
    """Class means on a line (rank 1 < K - 1): low-rank; the network is low-rank if any layer is."""
    K, n = 4, 5
    y = np.repeat(np.arange(K), n)
    line = np.outer(np.arange(K, dtype=float), np.ones(3))[y] + 1e-3 * rng.normal(size=(K * n, 3))
    etf = 2 * (np.eye(K) - 1 / K)[y]
    a = features.analyse_features({"labels": y, "line": line, "etf": etf})
    assert a.layers["line"].class_mean_rank == 1 and a.layers["line"].solution_type == "low-rank"
    assert a.layers["etf"].solution_type == "dnc" and a.solution_type == "low-rank"


def shared_rows(rng, rows, K=None, y=None):
    """Features whose K classes are the same rows, each class in its own order, for labels ``y`` (default: K classes in a
    random order): class means equal in exact arithmetic, computed apart by rounding (a sum's rounding depends on the
    order of its terms). Returns (X, y)."""
    y = rng.permutation(np.repeat(np.arange(K), len(rows))) if y is None else y
    X = np.empty((len(y), rows.shape[1]))
    for k in range(int(y.max()) + 1):
        X[y == k] = rows[rng.permutation(len(rows))]
    return X, y


# undefined when every class mean is the global mean (collapse.py's module docstring)
CENTRED = ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_equinorm", "nc2_equiangle", "nc3_duality", "nc4")


@pytest.mark.parametrize("scale", [1.0, 1e6])
def test_coinciding_class_means_leave_the_centred_metrics_null(rng, tmp_path, capsys, scale):
    """Three classes of one set of rows: Mbar is rounding (its sigma_1 above 0, and above the absolute zero_tol for large
    features), so every metric of the centred means is null, the class-mean rank 0 and the layer trivial; nc2_of and nc3
    (uncentred means) stay defined and equal their definitions."""
    X, y = shared_rows(rng, scale * (rng.normal(size=(6, 4)) + 0.3), 3)
    W = rng.normal(size=(3, 4))
    path = features.save(tmp_path / "f.npz", y, {"h": X}, weights={"h": W})
    la = features.analyse_features(path).layers["h"]
    s = la.class_mean_singular_values
    assert s[0] > (0 if scale == 1 else 100 * features.analyse_features(path).thresholds.zero_tol), s
    assert la.class_mean_rank == 0 and la.solution_type == "trivial"
    for m in CENTRED:
        assert getattr(la.nc, m) is None, (m, getattr(la.nc, m))
    want = reference(X, y, W)
    for m in ("nc2_of", "nc3"):
        assert 0.1 < want[m] and getattr(la.nc, m) == pytest.approx(want[m], rel=1e-12), m
    assert main(["analyse", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    layer = d["layers"]["h"]
    assert all(layer[m] is None for m in CENTRED) and layer["class_mean_rank"] == 0 and d["solution_type"] == "trivial"
    back = features.FeatureAnalysis.from_dict(d).layers["h"].nc
    assert all(getattr(back, m) is None for m in CENTRED) and back.nc3 == la.nc.nc3


def test_means_at_rounding_of_zero_leave_nc2_of_null_and_nc3_one(rng):
    """Classes of the rows +-R: every class mean is 0 in exact arithmetic and computed as rounding of the features' size
    (not of the means' own, which are that rounding). The span of the means is then {0}: nc3 = 1; nc2_of is null."""
    R = rng.normal(size=(5, 4)) * 10.0 ** rng.integers(-3, 4, size=(5, 1))  # mixed magnitudes: sums that round
    X, y = shared_rows(rng, np.vstack([R, -R]), 3)
    W = rng.normal(size=(3, 4))
    st = feature_stats(lambda: [(X, y)], 3, W)
    assert np.abs(st.means).max() > 0  # the premise: rounding, not exact zeros
    la = features.analyse_features({"labels": y, "h": X, "W_h": W}).layers["h"]
    assert la.class_mean_rank == 0 and la.solution_type == "trivial"
    for m in (*CENTRED, "nc2_of"):
        assert getattr(la.nc, m) is None, m
    assert la.nc.nc3 == pytest.approx(1.0, rel=1e-15)


def test_partly_coinciding_means_null_only_what_they_make_undefined(rng):
    """Two of four classes share their rows (their means coincide, Mbar has rank 2 < K - 1): cdnv and nc4 are null, every
    other metric is defined and equals its definition. Then three classes R + c, R, R - c: the middle centred mean is
    rounding, so nc2_equiangle alone is null."""
    n, d = 6, 5
    R, C = rng.normal(size=(n, d)), 3.0 * rng.normal(size=(4, d))
    X = np.vstack([R[rng.permutation(n)] + C[0], R[rng.permutation(n)] + C[0], rng.normal(size=(n, d)) + C[2],
                   rng.normal(size=(n, d)) + C[3]])
    y = np.repeat(np.arange(4), n)
    W, b = rng.normal(size=(4, d)), rng.normal(size=4)
    la = features.analyse_features({"labels": y, "h": X, "W_h": W, "b_h": b}).layers["h"]
    want = reference(X, y, W, b)
    assert la.class_mean_rank == 2 and la.solution_type == "low-rank"
    assert la.nc.cdnv is None and la.nc.nc4 is None
    for m in ("nc1", "nc1_trace", "nc2_etf", "nc2_of", "nc2_equinorm", "nc2_equiangle", "nc3", "nc3_duality"):
        assert 0.05 < want[m] and getattr(la.nc, m) == pytest.approx(want[m], rel=1e-12), m
    c = 2.0 * rng.normal(size=d)
    X = np.vstack([R + c, R, R - c])
    y = np.repeat(np.arange(3), n)
    la = features.analyse_features({"labels": y, "h": X}).layers["h"]
    want = reference(X, y)
    assert la.class_mean_rank == 1 and la.nc.nc2_equiangle is None
    for m in ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "nc2_equinorm", "nc4"):
        assert 0.01 < want[m] and getattr(la.nc, m) == pytest.approx(want[m], rel=1e-12), m


def test_the_rounding_floor_bounds_the_means_error_and_keeps_small_separations(rng):
    """mean_floor against class means summed exactly (math.fsum: correctly rounded sums) on features with a large offset
    and spreads of five magnitudes: the computed Mbar is off by at most tau in the spectral norm (and off by something: the
    check is not vacuous), and tau is ~1e-12 of the features' size. Class means a simplex 1e-7 of the offset apart keep
    rank K - 1 and every metric."""
    import math

    K, n, d = 4, 500, 3
    y = np.repeat(np.arange(K), n)
    X = 1e6 + rng.normal(size=(K * n, d)) * 10.0 ** rng.integers(-2, 3, size=(K * n, 1))
    st = feature_stats(lambda: [(X, y)], K)
    exact = np.array([[math.fsum(X[y == k, j]) / n for j in range(d)] for k in range(K)])
    exact_bar = exact - np.array([math.fsum(X[:, j]) / len(y) for j in range(d)])
    err = np.linalg.norm((st.means - st.global_mean) - exact_bar, 2)
    tau = mean_floor(st)
    assert 0 < err <= tau, (err, tau)
    assert tau < 1e-11 * np.abs(X).max()
    etf = 1e-1 * (np.eye(K) - 1 / K)[:, :d]
    la = features.analyse_features({"labels": y, "h": 1e6 + etf[y] + 1e-3 * rng.normal(size=(K * n, d))}).layers["h"]
    assert la.class_mean_singular_values[-1] > 10 * tau and la.class_mean_rank == K - 1
    assert all(getattr(la.nc, m) is not None for m in CENTRED if m != "nc3_duality")  # no classifier given


def test_checkpoint_axis(rng, tmp_path):
    X, y = mixture(rng)
    E = np.stack([X, 0.5 * X + 0.1, X**2])
    W = rng.normal(size=(3, 4, 6))
    path = features.save(tmp_path / "t.npz", y, {"h": E}, weights={"h": W}, checkpoints=[10, 20, 40])
    a = features.analyse_features(path, chunk=4)
    assert a.over_training and [c.step for c in a.checkpoints] == [10, 20, 40]
    for e in range(3):
        assert_metrics(a.checkpoints[e].layers["h"], reference(E[e], y, W[e]), rel=1e-10)
    d = json.loads(json.dumps(dufm.store.jsonable(a.to_dict())))
    assert "layers" not in d and [c["checkpoint"] for c in d["checkpoints"]] == [10, 20, 40]
    back = features.FeatureAnalysis.from_dict(d)
    assert back.checkpoints[2].layers["h"].nc == a.checkpoints[2].layers["h"].nc


@pytest.mark.parametrize("stored, want", [(None, [0, 1, 2]), (np.array([0.0, 100.0, 2.5e5]), [0, 100, 250000]),
                                           (np.array([0, 100, 250000], np.int32), [0, 100, 250000]),
                                           (np.array([0.5, 1.0, 1.5]), [0.5, 1.0, 1.5])])
def test_checkpoint_steps_are_integers_in_the_json(rng, tmp_path, capsys, stored, want):
    """Steps saved as whole floats (what torch and numpy write by default), as integers or not at all print as JSON
    integers; fractional epochs stay floats."""
    X, y = mixture(rng)
    path = features.save(tmp_path / "t.npz", y, {"h": np.stack([X, 2 * X, X + 1])}, checkpoints=stored)
    assert main(["analyse", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    steps = [c["checkpoint"] for c in json.loads(out)["checkpoints"]]
    assert steps == want and all(type(v) is type(w) for v, w in zip(steps, want)), steps
    assert all(f'"checkpoint": {w}' in out for w in want)
    assert main(["analyse", str(path)]) == 0
    text = capsys.readouterr().out
    assert all(f"checkpoint {w if type(w) is int else format(w, 'g')}: network" in text for w in want), text


def test_the_text_table_has_every_metric(rng, tmp_path, capsys):
    """nc2_of and nc3 (and every other metric) in the text table, each equal to its definition to the 4 digits printed;
    an undefined metric is '-'."""
    K, d = 4, 6
    y = rng.permutation(np.repeat(np.arange(K), 5))
    X = rng.normal(size=(len(y), d)) + 2.0 * rng.normal(size=(K, d))[y]
    C, _ = shared_rows(rng, rng.normal(size=(5, d)) + 0.3, y=y)
    W = rng.normal(size=(K, d))
    path = features.save(tmp_path / "f.npz", y, {"h": X, "c": C}, weights={"h": W, "c": W})
    assert main(["analyse", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    columns = next(line for line in lines if line.split()[:1] == ["layer"]).split()
    assert {"nc2_of", "nc3", "nc3_dual"} <= set(columns)
    names = {"equinorm": "nc2_equinorm", "equiangle": "nc2_equiangle", "nc3_dual": "nc3_duality"}
    for layer, F in (("h", X), ("c", C)):
        row = next(line for line in lines if line.split()[:1] == [layer]).split()
        assert len(row) == len(columns)
        want = reference(F, y, W)
        for col, cell in zip(columns[4:-2], row[4:-2]):
            m = names.get(col, col)
            if layer == "c" and m in CENTRED:
                assert cell == "-", (layer, col, cell)
            else:
                assert float(cell) == pytest.approx(want[m], rel=5e-4), (layer, col, cell, want[m])
        assert row[-2] == ("-c" if layer == "c" else f"{want['nc4']:.4f}c")
    assert next(line for line in lines if line.split()[:1] == ["c"]).split()[-1] == "trivial"


def test_fortran_order_and_integer_features(rng, tmp_path):
    X, y = mixture(rng)
    np.savez(tmp_path / "f.npz", labels=y.astype(np.int32), h=np.asfortranarray(X), q=np.round(10 * X).astype(np.int16))
    a = features.analyse_features(tmp_path / "f.npz", chunk=3)
    assert_metrics(a.layers["h"], reference(X, y), rel=1e-10)
    assert_metrics(a.layers["q"], reference(np.round(10 * X), y), rel=1e-10)


def test_metric_parity_on_dufm_points(tmp_path):
    """Exported dufm points (DNC and low-rank closed forms, linear CE; the SRG point, ReLU MSE) analysed from the file equal
    dufm.analyse's metrics and spectra, and get the same verdict."""
    cases = [(dufm.Problem(classes=6, per_class=3, width=8, depth=3, weight_decay=2**-10), ("dnc", "low_rank")),
             (dufm.Problem(classes=6, per_class=2, width=7, depth=3, weight_decay=4e-3, loss="mse", activation="relu"), ("srg", "dnc"))]
    for problem, names in cases:
        for name in names:
            params = getattr(theory, name)(problem).params
            want = analyse(params, problem)
            got = features.analyse_features(features.export(params, problem, tmp_path / f"{name}.npz"))
            check_parity(want, got, last_duality=problem.loss == "ce")
            assert got.solution_type == want.solution_type, (name, got.solution_type, want.solution_type)


def check_parity(want, got, last_duality=True):
    assert set(got.layers) == set(want.nc)
    for k, la in got.layers.items():
        w = want.nc[k]
        for m in ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "nc2_equinorm", "nc2_equiangle", "nc4"):
            a, b = getattr(la.nc, m), getattr(w, m)
            assert (a is None and b is None) or a == pytest.approx(b, rel=1e-12, abs=1e-13), (k, m, a, b)
        if la.classifier:
            assert la.nc.nc3 == pytest.approx(w.nc3, rel=1e-12, abs=1e-13)
            if last_duality:
                assert la.nc.nc3_duality == pytest.approx(w.nc3_duality, rel=1e-12, abs=1e-13)
        s = want.singular_values[k]
        np.testing.assert_allclose(la.singular_values, s, rtol=0, atol=1e-12 * s[0])
        assert la.rank == want.rank[k], k


def test_a_dufm_solve_run_exported_and_analysed_matches_what_solve_printed(capsys, tmp_path):
    flags = ["--classes", "4", "--per-class", "3", "--width", "6", "--depth", "2", "--weight-decay", "0.01", "--steps", "3000",
             "--init-scale", "0.3"]
    assert main(["solve", *flags, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["runs"][0]
    problem = dufm.Problem(classes=4, per_class=3, width=6, depth=2, weight_decay=0.01)
    run = dufm.solve(problem, dufm.SolverConfig(steps=3000, init_scale=0.3), [0])[0]
    path = features.export(run.params, problem, tmp_path / "run.npz")
    assert main(["analyse", str(path), "--json"]) == 0
    got = features.FeatureAnalysis.from_dict(json.loads(capsys.readouterr().out))
    want = dufm.Analysis.from_dict(printed)
    check_parity(want, got)
    assert got.solution_type == want.solution_type == printed["solution_type"]


def test_store_and_plot(rng, tmp_path, capsys):
    X, y = mixture(rng)
    path = features.save(tmp_path / "f.npz", y, {"h": np.stack([X, 2 * X])})
    out = tmp_path / "out"
    assert main(["analyse", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "network:" in text and "checkpoint 1:" in text
    (stored,) = features.load(out)
    assert stored.checkpoints[1].layers["h"].nc == features.analyse_features(path).checkpoints[1].layers["h"].nc
    assert main(["plot", str(out)]) == 0
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names == sorted(f"{n}.{e}" for n in ("features_metrics_vs_layer", "features_spectra", "features_metrics_vs_checkpoint")
                           for e in ("png", "pdf"))
    assert main(["probe", "--result", str(out)]) == 2 and "feature analyses" in capsys.readouterr().err


def test_old_records_load_without_the_new_metrics():
    old = {"nc1": 0.1, "nc1_trace": 0.2, "nc2_etf": 0.3, "nc2_of": 0.4, "nc3": 0.5}
    m = NCMetrics.from_dict(old)
    assert m.cdnv is None and m.nc4 is None and NCMetrics.from_dict(m.to_dict()) == m


def _bad(tmp_path, rng):
    X, y = mixture(rng)
    return {
        "missing labels": ({"h": X}, "no array 'labels'"),
        "mismatched N": ({"labels": y, "h": X[:-1]}, "layer 'h' has 28 samples (rows) but labels has 29"),
        "NaN": ({"labels": y, "h": np.where(np.arange(29)[:, None] == 17, np.nan, X)},
                "layer 'h' has non-finite features (NaN or inf), first in sample 17"),
        "inf": ({"labels": y, "h": np.where(np.arange(29)[:, None] == 3, np.inf, X)}, "non-finite features (NaN or inf), first in sample 3"),
        "one sample": ({"labels": np.append(y, 4), "h": np.vstack([X, X[:1]])}, "class 4 has 1 sample(s)"),
        "float labels": ({"labels": y.astype(float), "h": X}, "labels must be integers 0..K-1, got dtype float64"),
        "negative label": ({"labels": y - 1, "h": X}, "labels must be integers 0..K-1, got -1"),
        "W shape": ({"labels": y, "h": X, "W_h": np.ones((4, 5))}, "W_h must have shape (K, d) = (4, 6)"),
        "W of no layer": ({"labels": y, "h": X, "W_g": np.ones((4, 6))}, "'W_g' names no layer"),
        "uneven checkpoints": ({"labels": y, "h": np.stack([X, X]), "g": X}, "every layer needs the same checkpoint axis"),
        "text features": ({"labels": y, "h": X.astype(str)}, "array 'h' must be real numbers"),
    }


@pytest.mark.parametrize("case", ["missing labels", "mismatched N", "NaN", "inf", "one sample", "float labels", "negative label",
                                  "W shape", "W of no layer", "uneven checkpoints", "text features"])
def test_bad_files_are_one_line_and_write_nothing(capsys, tmp_path, rng, case):
    arrays, message = _bad(tmp_path, rng)[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    out = tmp_path / "out"
    assert main(["analyse", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dufm analyse: error: ") and str(path) in lines[0] and message in lines[0], err
    assert not out.exists()


def test_not_an_npz_and_a_missing_file(capsys, tmp_path):
    text = tmp_path / "f.npz"
    text.write_text("labels,h\n")
    for path, message in ((text, "is not an .npz file"), (tmp_path / "nope.npz", "No such file or directory")):
        assert main(["analyse", str(path), "--out", str(tmp_path / "out")]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "out").exists()
