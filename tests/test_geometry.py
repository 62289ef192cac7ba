"""NC metrics and ranks against direct computations on constructed features."""

import numpy as np
import pytest

import dufm
from dufm import theory
from dufm.analysis.collapse import class_means, nc_metrics
from dufm.analysis.solution import analyse, solution_type
from dufm.analysis.spectra import numerical_rank, spectral_events


def test_nc1_matches_direct_pseudo_inverse(rng):
    counts = (3, 4, 2, 5)
    K, N, d = 4, 14, 6
    F = rng.normal(size=(d, N))
    y = np.repeat(np.arange(K), counts)
    M = np.stack([F[:, y == k].mean(axis=1) for k in range(K)], axis=1)
    np.testing.assert_allclose(class_means(F, counts), M, rtol=1e-14)
    mu = F.mean(axis=1, keepdims=True)
    Mbar = M - mu
    E = F - M[:, y]
    SW = E @ E.T / N
    SB = Mbar @ Mbar.T / K
    want = np.trace(SW @ np.linalg.pinv(SB, rcond=1e-10)) / K
    got = nc_metrics(F, counts)
    assert got.nc1 == pytest.approx(want, rel=1e-10)
    assert got.nc1_trace == pytest.approx(np.trace(SW) / np.trace(SB), rel=1e-13)


def test_collapsed_simplex_and_orthogonal_frame():
    K, n = 5, 3
    Y = np.repeat(np.eye(K), n, axis=1)
    S = np.eye(K) - 1.0 / K
    etf = np.vstack([S @ Y, np.zeros((2, K * n))])
    m = nc_metrics(etf, (n,) * K, W=np.vstack([S, np.zeros((2, K))]).T, last=True)
    assert m.nc1 <= 1e-30 and m.nc1_trace <= 1e-30
    assert m.nc2_etf <= 1e-15 and m.nc2_of > 0.1
    assert m.nc3 <= 1e-15 and m.nc3_duality <= 1e-15
    of = nc_metrics(3.0 * Y, (n,) * K)
    assert of.nc2_of <= 1e-15
    # centring an orthogonal frame gives a simplex
    assert of.nc2_etf <= 1e-15


def test_features_that_are_zero_have_the_centred_metrics_null():
    """dufm's trivial point, H = 0: no metric of the class means is defined except nc3 (the span of zero means is {0}, so
    nc3 = 1); None survives the record's JSON and reads back as None."""
    import json

    from dufm.analysis.collapse import NCMetrics
    from dufm.store import jsonable

    K, n, d = 3, 2, 4
    W = np.arange(1.0, K * d + 1).reshape(K, d)
    m = nc_metrics(np.zeros((d, K * n)), (n,) * K, W=W, last=True)
    assert m.nc3 == 1.0
    for k in ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "nc2_equinorm", "nc2_equiangle", "nc3_duality", "nc4"):
        assert getattr(m, k) is None, k
    stored = json.loads(json.dumps(jsonable(m.to_dict())))
    assert stored["nc1"] is None and "nc3_duality" not in stored and NCMetrics.from_dict(stored) == m
    assert nc_metrics(np.zeros((d, K * n)), (n,) * K, W=np.zeros((K, d)), last=True).nc3 is None


def test_numerical_rank_threshold():
    s = np.array([10.0, 5.0, 1e-2 + 1e-12, 1e-2 - 1e-12, 0.0])
    assert numerical_rank(s, rank_tol=1e-3) == 3
    assert numerical_rank(s, rank_tol=1e-1) == 2
    assert numerical_rank(np.zeros(3)) == 0


def test_spectral_events_date_the_last_crossing_of_the_rank_threshold():
    """A constructed trajectory: sigma_1 = 10 (threshold 1e-2 at rank_tol 1e-3) until the last row, where it is 1e3."""
    T = 8
    sv = np.full((T, 7), 1.0)
    sv[:, 0] = 10.0
    sv[-1, 0] = 1e3  # sigma_1 grows: the threshold rises to 1 at the last row
    sv[:, 1] = [1e-5, 1e-5, 1e-5, 2.0, 2.0, 2.0, 2.0, 2.0]  # switches on at row 3
    sv[:, 2] = [1.0, 1.0, 1.0, 1.0, 1.0, 1e-4, 1e-4, 1e-4]  # dies at row 5
    sv[:, 3] = [5.0] * 7 + [50.0]  # counts at every row: no event
    sv[:, 4] = 1e-6  # never counts: no event
    sv[:, 5] = [1e-6, 2.0, 1e-6, 1e-6, 2.0, 2.0, 2.0, 2.0]  # flickers, then on for good at row 4
    sv[:, 6] = [1.0] * 7 + [1.0]  # equal to the threshold at the last row (not above it): dies there
    on, off = spectral_events(sv, rank_tol=1e-3)
    np.testing.assert_array_equal(on, [-1, 3, -1, -1, -1, 4, -1])
    np.testing.assert_array_equal(off, [-1, -1, 5, -1, -1, -1, 7])
    # the count at each row is the numerical rank of the row
    counts = [numerical_rank(row, 1e-3) for row in sv]
    assert counts == [4, 5, 4, 5, 6, 5, 5, 4]
    # a zero largest singular value counts nothing (numerical_rank's zero_tol): every value switches on after it
    z = np.vstack([np.zeros((1, 3)), np.ones((2, 3))])
    np.testing.assert_array_equal(spectral_events(z).on, [1, 1, 1])
    with pytest.raises(ValueError, match="sv must be finite"):
        spectral_events(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"sv must be a \(T, r\) array"):
        spectral_events(np.ones(3))
    with pytest.raises(ValueError, match="rank_tol must be"):
        spectral_events(sv, rank_tol=2.0)


def test_the_recorded_matrices_are_the_analysed_ones():
    """Names, order and sizes of dufm.model.objective's spectra are those of analyse (the solver records what it reports)."""
    import jax

    from dufm.model.init import initialise
    from dufm.model.objective import spectrum_matrices, spectrum_sizes

    for act in ("linear", "relu"):
        p = dufm.Problem(classes=3, per_class=(2, 3, 2), width=(4, 6, 2), depth=3, activation=act, bias="free")
        params = initialise(jax.random.PRNGKey(0), p.architecture, 0.5)
        params = params._replace(b=np.ones(3))  # the bias is not part of Z's spectrum
        a = analyse(params, p)
        mats = spectrum_matrices(params, p.architecture, "layers")
        assert list(mats) == list(a.singular_values) == list(spectrum_sizes(p.architecture, "layers"))
        assert list(spectrum_sizes(p.architecture, "output")) == ["Z"] and spectrum_sizes(p.architecture, "none") == {}
        for k, m in mats.items():
            assert min(m.shape) == spectrum_sizes(p.architecture, "layers")[k] == len(a.singular_values[k]), k
            s = np.linalg.svd(np.asarray(m), compute_uv=False)
            assert np.max(np.abs(s - a.singular_values[k])) <= 1e-13 * s[0], k
        assert ("sigma_H2" in mats) == (act == "relu")
    with pytest.raises(ValueError, match="spectra must be one of none, output, layers; got 'all'"):
        spectrum_sizes(p.architecture, "all")


def test_solution_types_of_closed_forms():
    p = dufm.Problem(classes=10, per_class=5, width=70, depth=2, weight_decay=2**-10)
    assert analyse(theory.dnc(p).params, p).solution_type == "dnc"
    assert analyse(theory.low_rank(p).params, p).solution_type == "low-rank"
    assert analyse(theory.zero(p).params, p).solution_type == "trivial"
    q = dufm.Problem(classes=4, per_class=3, width=6, depth=3, weight_decay=1e-2, loss="mse", activation="relu")
    a = analyse(theory.dnc(q).params, q)
    assert a.solution_type == "dnc" and a.rank["Z"] == 4 and a.rank["sigma_H2"] == 4
    # a full-rank spectrum with unequal singular values is neither
    assert solution_type(np.array([3.0, 2.0, 1.0]), dufm.Problem(classes=4, per_class=1, width=4, depth=1, weight_decay=0.1)) == "other"


def test_mse_with_regularised_bias_is_dnc_and_srg_is_low_rank():
    from dufm.solving.solver import SolverConfig, solve

    p = dufm.Problem(classes=4, per_class=3, width=6, depth=1, weight_decay=5e-3, loss="mse", bias="regularised", bias_decay=1.0)
    r = solve(p, SolverConfig(steps=100_000, init_scale=0.3))[0]
    assert r.status == "converged" and analyse(r.params, p).solution_type == "dnc"
    q = dufm.Problem(classes=10, per_class=2, width=12, depth=3, weight_decay=4e-3, loss="mse", activation="relu")
    a = analyse(theory.srg(q).params, q)
    assert a.rank["Z"] == 10 and a.rank["H3"] == 5 and a.solution_type == "low-rank"


def _independent_nc(F, y, K, W=None, centred=True):
    """NC2 and NC3 written from their definitions (module docstring of dufm.analysis), loops over classes, no shared code."""
    d, N = F.shape
    M = np.zeros((d, K))
    for k in range(K):
        M[:, k] = F[:, y == k].mean(axis=1)
    mu = F.mean(axis=1)
    Mbar = M - mu[:, None]
    G = Mbar.T @ Mbar
    S = np.eye(K) - np.ones((K, K)) / K
    out = {"nc2_etf": np.linalg.norm(G / np.linalg.norm(G) - S / np.sqrt(K - 1)),
           "nc2_of": np.linalg.norm(M.T @ M / np.linalg.norm(M.T @ M) - np.eye(K) / np.sqrt(K))}
    if W is not None:
        # the projector onto the span of the class means, from a QR factorisation (the library uses an SVD)
        Q, R = np.linalg.qr(M)
        Q = Q[:, np.abs(np.diag(R)) > 1e-10 * np.abs(R).max()]
        out["nc3"] = np.linalg.norm(W - W @ Q @ Q.T) / np.linalg.norm(W)
        if W.shape[0] == K:  # a classifier: self-duality with the class means
            ref = Mbar if centred else M
            out["nc3_duality"] = np.linalg.norm(W.T / np.linalg.norm(W) - ref / np.linalg.norm(ref))
    return out


@pytest.mark.parametrize("centred", [True, False])
def test_nc2_nc3_on_uncollapsed_data_match_an_independent_formula(rng, centred):
    """Random features and weights far from collapse: every NC2/NC3 value is O(1), so a wrong formula cannot hide in rounding."""
    counts = (3, 5, 2, 4)
    K, d = 4, 7
    y = np.repeat(np.arange(K), counts)
    F = rng.normal(size=(d, len(y))) + 0.5 * rng.normal(size=(d, 1))
    W = rng.normal(size=(K, d))
    got = nc_metrics(F, counts, W=W, centred_duality=centred, last=True)
    want = _independent_nc(F, y, K, W, centred)
    for k, v in want.items():
        assert 0.05 < v and getattr(got, k) == pytest.approx(v, rel=1e-12), k
    # a weight matrix wider than the number of class means (d_{l+1} != K rows), rank-deficient means
    F2 = np.vstack([F[:3], np.zeros((4, len(y)))])
    W2 = rng.normal(size=(9, d))
    got = nc_metrics(F2, counts, W=W2)
    assert got.nc3 == pytest.approx(_independent_nc(F2, y, K, W2)["nc3"], rel=1e-12) and 0.5 < got.nc3 < 1


@pytest.mark.parametrize("last", [True, False])
def test_cdnv_nc2_shape_and_nc4_of_dufm_layout_match_their_definitions(rng, last):
    """dufm's own (d, N) layout, columns ordered by class: the metrics added for real networks, against the definitions in
    tests/test_features.py (written there from the papers, sharing no code with dufm); with ``last`` W is the classifier."""
    from test_features import reference

    counts = (3, 5, 2, 4)
    K, d = 4, 7
    y = np.repeat(np.arange(K), counts)
    F = rng.normal(size=(d, len(y))) + 1.5 * rng.normal(size=(d, K))[:, y]
    W, b = rng.normal(size=(K, d)), rng.normal(size=K)
    got = nc_metrics(F, counts, W=W, last=last, b=b)
    want = reference(F.T, y, W if last else None, b)
    for m in ("nc1", "nc1_trace", "cdnv", "nc2_etf", "nc2_of", "nc2_equinorm", "nc2_equiangle", "nc4"):
        assert getattr(got, m) == pytest.approx(want[m], rel=1e-10), m
    assert 0 < want["nc4"] < 1 or not last
