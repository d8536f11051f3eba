"""Tests of gputopic.native.knn: every top-k strategy against a float64 brute force
(random data, duplicates, near-ties; cosine and euclidean; self and separate queries;
k = 1 and k = n), the fp16 error bound and redo path, and strategy selection (CPU)."""

from __future__ import annotations

import sys
import zlib

import numpy as np
import pytest
import torch

import gputopic.native.knn  # noqa: F401  (the package attribute is the function)

K = sys.modules["gputopic.native.knn"]
knn = K.knn

# small chunk / group sizes so the two-stage and recursive paths run on small inputs
STRATEGIES = [
    "full", "chunked:64", "chunked:37", "blockmax", "blockmax:2", "fp16", "fp16_chunked:64",
    "fp16_blockmax:3", "auto",
]
METRICS = ["cosine", "euclidean"]


def _ref_dist(X: np.ndarray, Q: np.ndarray, metric: str) -> np.ndarray:
    X = X.astype(np.float64)
    Q = Q.astype(np.float64)
    if metric == "cosine":
        Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
        Qn = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-300)
        return np.clip(1.0 - Qn @ Xn.T, 0.0, None)
    return np.sqrt(np.clip((Q * Q).sum(1)[:, None] + (X * X).sum(1)[None, :] - 2 * Q @ X.T, 0.0, None))


def _check(X, Q, k, metric, d, i, self_query):
    """(d, i) is an exact kNN result up to ties within fp32 rounding. Euclidean is
    compared in squared distances, whose fp32 expansion errs by a few ulps of
    ``|q|^2 + |x|^2``."""
    d = d.numpy().astype(np.float64)
    i = i.numpy()
    D = _ref_dist(X, Q, metric)
    if self_query:  # by convention a point is at distance 0 from itself (zero vectors too)
        D[np.arange(len(D)), np.arange(len(D))] = 0.0
    if metric == "cosine":
        tol = 2e-5
    else:
        d, D = d * d, D * D
        tol = 4e-6 * (float((X.astype(np.float64) ** 2).sum(1).max()) + float((Q.astype(np.float64) ** 2).sum(1).max()))
    m, n = D.shape
    assert d.shape == (m, k) and i.shape == (m, k)
    assert ((i >= 0) & (i < n)).all()
    assert np.all(np.diff(d, axis=1) >= -tol), "distances not sorted"
    assert (np.diff(np.sort(i, 1), axis=1) > 0).all(), "repeated neighbour"
    true = np.take_along_axis(D, i, 1)
    np.testing.assert_allclose(d, true, atol=tol, rtol=0)
    # the k-th distance (and every rank) equals the brute force's: same set up to ties
    np.testing.assert_allclose(np.sort(true, 1), np.sort(D, 1)[:, :k], atol=tol, rtol=0)
    # everything clearly closer than the k-th neighbour is found
    kth = np.sort(D, 1)[:, k - 1]
    must = D < kth[:, None] - tol
    assert (np.take_along_axis(must, i, 1).sum(1) == must.sum(1)).all()
    if self_query:
        assert (d[:, 0] == 0).all() and (i[:, 0] == np.arange(m)).all(), "self not first"


def _data(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "random":
        return rng.standard_normal((300, 12)).astype(np.float32)
    if kind == "low_dim":
        return rng.standard_normal((400, 3)).astype(np.float32)
    if kind == "duplicates":
        # 40 distinct points, copies and scaled copies (cosine ties) in random order
        base = rng.standard_normal((40, 8)).astype(np.float32)
        X = np.concatenate([base[rng.integers(0, 40, 200)], 2.0 * base[:20], base[:5]])
        return X[rng.permutation(len(X))]
    if kind == "near_ties":
        # lattice points (exact euclidean ties) and tiny perturbations of one direction
        # (cosine differences far below the fp16 resolution)
        lat = rng.integers(-3, 4, (150, 4)).astype(np.float32)
        v = rng.standard_normal(16).astype(np.float32)
        near = v + 1e-4 * rng.standard_normal((150, 16)).astype(np.float32)
        other = rng.standard_normal((100, 16)).astype(np.float32)
        return np.concatenate([np.pad(lat, ((0, 0), (0, 12))), near, other])
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["random", "low_dim", "duplicates", "near_ties"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_match_brute_force(kind, metric, strategy):
    rng = np.random.default_rng(zlib.crc32(f"{kind}-{metric}".encode()))
    X = _data(kind, rng)
    n = len(X)
    Q = rng.standard_normal((57, X.shape[1])).astype(np.float32)
    Q[:10] = X[rng.integers(0, n, 10)]  # some queries equal to data points
    for k in (1, 7, 40):
        # a small budget: several query tiles
        d, i = knn(torch.from_numpy(X), k, metric, strategy=strategy, memory_budget=40 * n * 12)
        _check(X, X, k, metric, d, i, self_query=True)
        d, i = knn(torch.from_numpy(X), k, metric, queries=torch.from_numpy(Q), strategy=strategy)
        _check(X, Q, k, metric, d, i, self_query=False)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_k_equals_n(metric, strategy):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((70, 6)).astype(np.float32)
    Q = rng.standard_normal((9, 6)).astype(np.float32)
    d, i = knn(torch.from_numpy(X), 70, metric, strategy=strategy)
    _check(X, X, 70, metric, d, i, self_query=True)
    assert (np.sort(i.numpy(), 1) == np.arange(70)).all()
    d, i = knn(torch.from_numpy(X), 70, metric, queries=torch.from_numpy(Q), strategy=strategy)
    _check(X, Q, 70, metric, d, i, self_query=False)
    d, i = knn(torch.from_numpy(X[:1]), 1, metric, strategy=strategy)  # one point
    assert i.tolist() == [[0]] and d.tolist() == [[0.0]]


@pytest.mark.parametrize("metric", METRICS)
def test_strategies_agree_with_full_on_generic_data(metric):
    """Without ties every strategy returns exactly the indices of "full"."""
    rng = np.random.default_rng(2)
    X = torch.from_numpy(rng.standard_normal((1000, 24)).astype(np.float32))
    _, ref = knn(X, 15, metric, strategy="full")
    for s in STRATEGIES[1:]:
        _, i = knn(X, 15, metric, strategy=s)
        assert (i == ref).float().mean() > 0.999, s  # rounding-level near-ties only
        assert (torch.sort(i, 1).values == torch.sort(ref, 1).values).float().mean() > 0.999, s


def test_fp16_redo_path_runs_and_is_exact():
    """More exact duplicates than the fp16 margin: rows are redone in fp32, still exact."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((5, 10)).astype(np.float32)
    X = np.concatenate([np.repeat(base, 30, 0), rng.standard_normal((200, 10)).astype(np.float32)])
    for s in ("fp16", "fp16_blockmax:4", "fp16_chunked:64"):
        d, i = knn(torch.from_numpy(X), 10, "cosine", strategy=s)
        assert knn.last_fp16_redo > 0
        _check(X, X, 10, "cosine", d, i, self_query=True)


def test_fp16_margin_zero_still_exact(monkeypatch):
    monkeypatch.setattr(K, "FP16_MARGIN", 0)
    rng = np.random.default_rng(4)
    X = _data("near_ties", rng)
    d, i = knn(torch.from_numpy(X), 9, "cosine", strategy="fp16_blockmax:4")
    _check(X, X, 9, "cosine", d, i, self_query=True)


def test_fp16_error_bound_holds():
    """The emulated fp16 product differs from the fp32 one by less than the bound."""
    rng = np.random.default_rng(5)
    for d in (5, 64, 384):
        X = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((300, d)).astype(np.float32)), dim=1)
        X[0] *= 1e-3  # tiny components (fp16 subnormals)... still a unit vector after normalising
        X = torch.nn.functional.normalize(X, dim=1)
        p32 = X.double() @ X.double().T
        h = X.half().float()
        p16 = (h @ h.T).half().double()
        assert float((p16 - p32).abs().max()) <= K._fp16_error_bound(d)


def test_blockmax_and_chunked_helpers_exact_on_ties():
    """Rows full of equal values: the selected values are still the k best."""
    s = torch.tensor([[1.0] * 50 + [2.0] * 3 + [0.0] * 47, list(range(100))], dtype=torch.float32)
    for f, size in ((K._topk_blockmax, 2), (K._topk_blockmax, 7), (K._topk_chunked, 9)):
        for largest in (True, False):
            v, i = f(s, 5, largest, size)
            ref = torch.topk(s, 5, dim=1, largest=largest).values
            assert torch.equal(v, ref)
            assert torch.equal(s.gather(1, i), v)


def test_strategy_selection(monkeypatch):
    X = torch.randn(30, 4)
    with pytest.raises(ValueError):
        knn(X, 3, strategy="nope")
    with pytest.raises(ValueError):
        knn(X, 3, strategy="blockmax:0")
    assert K._parse_strategy("fp16_blockmax:8", torch.device("cpu"), "cosine") == ("fp16_blockmax", "blockmax", 8)
    assert K._parse_strategy("fp16", torch.device("cpu"), "euclidean") == ("fp16", "topk", K.BLOCK)
    assert K._parse_strategy("chunked", torch.device("cpu"), "cosine")[2] == K.CHUNK
    for key, value in K.AUTO.items():
        assert value.partition(":")[0] in K.STRATEGIES
        assert K._parse_strategy("auto", torch.device(key[0]), key[1])[0] == value.partition(":")[0]
    calls = []
    real = K._knn_full
    monkeypatch.setattr(K, "_knn_full", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(K, "TOPK_STRATEGY", "full")
    knn(X, 3, "euclidean")
    assert calls == [1]
    monkeypatch.setattr(K, "TOPK_STRATEGY", "blockmax")
    knn(X, 3, "euclidean")
    assert calls == [1]


@pytest.mark.parametrize("metric", METRICS)
def test_nndescent_for_large_cpu_fits_finds_most_true_neighbours(metric, ng2000):
    # the path native UMAP takes on the CPU above CPU_EXACT_MAX points: same output
    # convention as knn() (self first, sorted distances), nearly all neighbours exact
    X = torch.from_numpy(ng2000[2][:1500])
    d, i = K.nndescent(X, 10, metric, seed=0)
    de, ie = knn(X, 10, metric)
    assert d.shape == i.shape == (1500, 10) and d.dtype == torch.float32 and i.dtype == torch.int64
    assert torch.equal(i[:, 0], torch.arange(1500)) and bool((d[:, 0] == 0).all())
    assert bool((d[:, 1:] >= d[:, :-1] - 1e-6).all())
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i.tolist(), ie.tolist())])
    assert recall > 0.97, recall
    # the distances are the metric's, for the neighbours returned
    Xn = X / X.norm(dim=1, keepdim=True) if metric == "cosine" else X
    if metric == "cosine":
        ref = 1 - (Xn[:, None, :] * Xn[i]).sum(-1)
    else:
        ref = (X[:, None, :] - X[i]).norm(dim=-1)
    assert torch.allclose(d[:, 1:], ref[:, 1:].clamp_min(0), atol=2e-4)
    d2, i2 = K.nndescent(X, 10, metric, seed=0)
    assert torch.equal(i, i2) and torch.equal(d, d2)  # a seed gives the same graph
    _, i3 = K.nndescent(X, 10, metric, seed=1)
    assert not torch.equal(i, i3)  # and the seed is used


def test_nndescent_graph_does_not_depend_on_the_thread_count(ng2000):
    numba = pytest.importorskip("numba")
    from gputopic.native import _nndescent_cpu as N

    X = ng2000[2][:1200]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        d1, i1 = N.nn_descent(X, 8, "cosine", 3)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        d2, i2 = N.nn_descent(X, 8, "cosine", 3)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(i1, i2) and np.array_equal(d1, d2)


def test_nndescent_small_update_buffer_and_block_cuts(ng2000):
    from gputopic.native import _nndescent_cpu as N

    # the proposals are processed in blocks of at most update_cap; tiny blocks still
    # give a valid graph of the same quality
    X = ng2000[2][:800]
    _, ie = knn(torch.from_numpy(X), 6, "euclidean")
    d, i = N.nn_descent(X, 6, "euclidean", 0, update_cap=500)
    recall = np.mean([len(set(a) & set(b)) / 6 for a, b in zip(i.tolist(), ie.tolist())])
    assert recall > 0.95, recall
    assert N._block_ends(np.array([3, 3, 3, 10, 1, 1]), 6) == [(0, 2), (2, 3), (3, 4), (4, 6)]


@pytest.mark.parametrize("metric", METRICS)
def test_nndescent_edge_cases_tiny_duplicate_and_zero_rows(metric):
    # fewer points than one leaf: the exact answer; k == n; all points identical (every
    # split degenerate); zero rows under cosine (distance 1 to everything else)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 5)).astype(np.float32)
    d, i = K.nndescent(torch.from_numpy(X), 30, metric, seed=0)
    de, ie = knn(torch.from_numpy(X), 30, metric)
    assert torch.equal(i[:, 0], torch.arange(30))
    assert torch.allclose(d, de, atol=1e-5)
    same = np.ones((200, 4), dtype=np.float32)
    d, i = K.nndescent(torch.from_numpy(same), 5, metric, seed=0)
    assert torch.equal(i[:, 0], torch.arange(200)) and float(d.abs().max()) < 1e-5
    assert all(len(set(r)) == 5 for r in i.tolist())
    if metric == "cosine":
        Z = np.vstack([np.zeros((3, 5), np.float32), X])
        d, i = K.nndescent(torch.from_numpy(Z), 4, metric, seed=0)
        assert torch.equal(i[:, 0], torch.arange(33)) and torch.allclose(d[:3, 1:], torch.ones(3, 3))


def test_nndescent_rejects_bad_arguments():
    X = torch.zeros((10, 3))
    with pytest.raises(ValueError, match="metric must be one of"):
        K.nndescent(X, 3, "manhattan", 0)
    with pytest.raises(ValueError, match="k must be between 1 and the number of points"):
        K.nndescent(X, 11, "euclidean", 0)


def test_native_umap_uses_nndescent_above_the_cpu_exact_limit(ng2000, monkeypatch):
    from gputopic.native import umap as U

    calls = []
    real = U.nndescent
    monkeypatch.setattr(U, "CPU_EXACT_MAX", 500)
    monkeypatch.setattr(U, "nndescent", lambda *a: calls.append(a[1:]) or real(*a))
    U.UMAP(n_neighbors=10, n_epochs=20, metric="cosine", random_state=1, device="cpu").fit(ng2000[2][:800])
    assert calls == [(10, "cosine", 1)]
