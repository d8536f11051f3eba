"""gputopic.native.hdbscan: agreement with the hdbscan library, exact MST, I/O kinds, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gputopic.native.hdbscan import HDBSCAN

hdbscan = pytest.importorskip("hdbscan")
ari = pytest.importorskip("sklearn.metrics").adjusted_rand_score


def _label_map(ours, ref):
    """Map each of our clusters to the reference cluster it mostly overlaps."""
    m = {-1: -1}
    for lab in np.unique(ours):
        if lab >= 0:
            vals, counts = np.unique(ref[ours == lab], return_counts=True)
            m[int(lab)] = int(vals[counts.argmax()])
    return m


def _compare(X_fit, X_new, mcs):
    ours = HDBSCAN(min_cluster_size=mcs, prediction_data=True, device="cpu").fit(X_fit)
    ref = hdbscan.HDBSCAN(min_cluster_size=mcs, prediction_data=True).fit(X_fit.astype(np.float64))
    k_ref = ref.labels_.max() + 1
    score = ari(ref.labels_, ours.labels_)
    assert score >= 0.95, score
    assert abs(ours.n_clusters_ - k_ref) <= max(1, 0.1 * k_ref), (ours.n_clusters_, k_ref)
    assert ours.probabilities_.min() >= 0 and ours.probabilities_.max() <= 1
    lo, po = ours.approximate_predict(X_new)
    lr, _ = hdbscan.approximate_predict(ref, X_new.astype(np.float64))
    m = _label_map(ours.labels_, ref.labels_)
    agree = np.mean([m.get(int(a), -2) == b for a, b in zip(lo, lr)])
    assert agree >= 0.95, agree
    return ours, ref, score, agree


@pytest.fixture(scope="module")
def blobs():
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(3000, n_features=5, centers=8, cluster_std=1.0, random_state=0)
    rng = np.random.default_rng(0)
    X = np.vstack([X, rng.uniform(X.min(0), X.max(0), (300, 5))]).astype(np.float32)
    return X[rng.permutation(len(X))]


def test_blobs_match_hdbscan(blobs):
    ours, _, _, _ = _compare(blobs[:3000], blobs[3000:], 15)
    # against hdbscan's exact MST the result is the same clustering
    exact = hdbscan.HDBSCAN(min_cluster_size=15, approx_min_span_tree=False).fit(
        blobs[:3000].astype(np.float64)
    )
    assert ari(exact.labels_, ours.labels_) >= 0.99
    close = np.abs(np.sort(ours.probabilities_) - np.sort(exact.probabilities_)) < 1e-3
    assert close.mean() >= 0.99  # float32 vs float64 near-ties may move a point or two
    tree = ours.condensed_tree_
    assert set(tree.dtype.names) == {"parent", "child", "lambda_val", "child_size"}
    assert (tree["child_size"] == 1).sum() == 3000


def test_leaf_and_epsilon_options(blobs):
    X = blobs[:2000].astype(np.float64)
    for kw in (dict(cluster_selection_method="leaf"), dict(cluster_selection_epsilon=3.0),
               dict(allow_single_cluster=True, min_samples=5)):
        ours = HDBSCAN(min_cluster_size=15, device="cpu", **kw).fit(X)
        ref = hdbscan.HDBSCAN(min_cluster_size=15, approx_min_span_tree=False, **kw).fit(X)
        assert ari(ref.labels_, ours.labels_) >= 0.95, kw


@pytest.fixture(scope="module")
def ng_umap(ng5000):
    umap = pytest.importorskip("umap")
    _, _, emb = ng5000
    red = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
    return red.fit_transform(emb).astype(np.float32)


def test_newsgroups_umap_match_hdbscan(ng_umap):
    _compare(ng_umap[:4500], ng_umap[4500:], 10)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("min_samples", [1, 4])
def test_mst_is_exact(metric, min_samples):
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    X[360:] = X[:40]  # exact duplicates
    X[300:310] = X[0]
    h = HDBSCAN(min_cluster_size=5, min_samples=min_samples, metric=metric, device="cpu").fit(X)
    D = cdist(X.astype(np.float64), X.astype(np.float64), metric)
    core = np.sort(D, 1)[:, min_samples]  # hdbscan: (min_samples + 1)-th, self included
    M = np.maximum(D, np.maximum(core[:, None], core[None, :]))
    M[M == 0] = 1e-300  # keep zero-weight edges in the sparse graph
    np.fill_diagonal(M, 0)
    expected = minimum_spanning_tree(csr_matrix(M)).sum()
    a, b, w = h._mst_
    assert len(w) == 399
    assert w.sum() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_output_kinds_and_tiny_inputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    X[:100] += 8
    h = HDBSCAN(min_cluster_size=10, prediction_data=True, device="cpu").fit(X)
    assert isinstance(h.labels_, np.ndarray) and isinstance(h.probabilities_, np.ndarray)
    ht = HDBSCAN(min_cluster_size=10, prediction_data=True, device="cpu").fit(torch.from_numpy(X))
    assert isinstance(ht.labels_, torch.Tensor) and isinstance(ht.probabilities_, torch.Tensor)
    assert ari(h.labels_, ht.labels_.numpy()) == 1.0
    lab, st = ht.approximate_predict(torch.from_numpy(X[:5]))
    assert isinstance(lab, torch.Tensor) and isinstance(st, torch.Tensor)
    assert h.n_clusters_ == 2
    assert (h.fit_predict(X) == h.labels_).all()
    # tiny and fully-noise inputs
    one = HDBSCAN(device="cpu").fit(X[:1])
    assert one.labels_.tolist() == [-1] and one.n_clusters_ == 0
    few = HDBSCAN(min_cluster_size=5, device="cpu").fit(X[:4])
    assert (few.labels_ == -1).all()
    noise = rng.uniform(size=(60, 2)).astype(np.float32)
    hn = HDBSCAN(min_cluster_size=40, device="cpu").fit(noise)
    assert (hn.labels_ == -1).all() and (hn.probabilities_ == 0).all()


def test_bad_parameters():
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="min_cluster_size"):
        HDBSCAN(min_cluster_size=1).fit(X)
    with pytest.raises(ValueError, match="cluster_selection_method"):
        HDBSCAN(cluster_selection_method="tree").fit(X)
    with pytest.raises(ValueError, match="min_samples"):
        HDBSCAN(min_samples=0).fit(X)
    with pytest.raises(ValueError, match="metric"):
        HDBSCAN(metric="manhattan").fit(X)
    with pytest.raises(ValueError, match="prediction_data=True"):
        HDBSCAN(device="cpu").fit(X).approximate_predict(X)


@pytest.mark.gpu
def test_cuda_matches_cpu(blobs):
    Xc = torch.from_numpy(blobs).cuda()
    g = HDBSCAN(min_cluster_size=15, prediction_data=True).fit(Xc)
    c = HDBSCAN(min_cluster_size=15, prediction_data=True, device="cpu").fit(blobs)
    assert g.labels_.is_cuda and g.probabilities_.is_cuda
    assert ari(c.labels_, g.labels_.cpu().numpy()) >= 0.99
    lab, _ = g.approximate_predict(Xc[:100])
    assert lab.is_cuda


# ----------------------------------------------------------------------------- Triton kernel


def _brute_case(metric, n=2000, m=300, dim=5, seed=0, device="cpu"):
    """Brute-force step inputs with several components, duplicate points and tied weights."""
    from gputopic.native.hdbscan import _prep

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, dim, generator=g)
    X[n - 200 : n - 100] = X[:100]  # exact duplicates (zero distances across components)
    X[n - 100 : n - 90] = X[0]
    Xp, _ = _prep(X, metric)
    scale = 0.5 if metric == "cosine" else 1.5
    core = torch.rand(n, generator=g) * scale
    core[::5] = 0.4 * scale  # many references with the same core distance: tied weights
    core[n - 100 : n - 90] = 0.0
    comp = torch.randint(0, 7, (n,), generator=g)
    comp[:20] = 3
    lb = torch.maximum(core, torch.rand(n, generator=g) * scale)
    q = torch.randperm(n, generator=g)[:m]
    thr = torch.rand(m, generator=g) * 2 * scale + 0.4 * scale
    thr[:10] = float("inf")
    thr[10:15] = 0.0  # no reference qualifies
    dev = torch.device(device)
    return tuple(t.to(dev) for t in (Xp, core, comp, lb, q, thr))


def _dense_reference(Xp, core, comp, lb, q, thr, metric):
    """float64 dense answer: minimum weight per query and the number of references tying it."""
    X = Xp.double()
    if metric == "cosine":
        d = (1.0 - X[q] @ X.T).clamp(min=0.0)
    else:
        d = torch.cdist(X[q], X)
    w = torch.maximum(d, torch.maximum(core.double()[q][:, None], core.double()[None, :]))
    w[(comp[q][:, None] == comp[None, :]) | (lb.double()[None, :] >= thr.double()[:, None])] = np.inf
    wmin = w.min(1).values
    return wmin, (w == wmin[:, None]).sum(1)


@pytest.fixture
def triton_interpreter(monkeypatch):
    """The fused kernel module, with Triton's interpreter (runs on CPU tensors)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    pytest.importorskip("triton", reason="triton is not installed: the fused kernel is not tested")
    from gputopic.native import _triton_mrd

    return _triton_mrd


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_triton_kernel_matches_torch_path_interpreted(triton_interpreter, metric):
    from gputopic.native.hdbscan import _brute_best_torch

    Xp, core, comp, lb, q, thr = _brute_case(metric)
    kw, kt = triton_interpreter.brute_best(Xp, core, comp, lb, q, thr, metric)
    tw, tt = _brute_best_torch(Xp, core, comp, lb, q, thr, metric, 1 << 27)
    sw, st = _brute_best_torch(Xp, core, comp, lb, q, thr, metric, 1 << 14)  # many small tiles
    assert torch.equal(tt, st) and torch.equal(tw, sw)  # the tiling does not matter
    assert torch.equal(kt, tt)  # same targets, ties included
    fin = torch.isfinite(tw)
    assert torch.equal(fin, torch.isfinite(kw)) and (tt[~fin] == -1).all()
    torch.testing.assert_close(kw[fin], tw[fin], rtol=1e-6, atol=1e-6)
    # the case is meaningful: qualifying edges, empty queries, ties between references
    ref_w, n_tied = _dense_reference(Xp, core, comp, lb, q, thr, metric)
    assert torch.equal(torch.isfinite(ref_w), fin) and 200 < int(fin.sum()) < 300
    torch.testing.assert_close(tw[fin].double(), ref_w[fin], rtol=1e-5, atol=1e-5)
    assert int((n_tied[fin] > 1).sum()) >= 20
    # ties go to the smallest reference index
    i = int(torch.nonzero(fin & (n_tied > 1))[0])
    w_i = torch.maximum(torch.maximum(
        torch.cdist(Xp[q[i]][None].double(), Xp.double())[0] if metric == "euclidean"
        else (1.0 - Xp.double() @ Xp[q[i]].double()).clamp(min=0.0), core.double()[q[i]]), core.double())
    w_i[(comp == comp[q[i]]) | (lb >= thr[i])] = np.inf
    assert int(kt[i]) == int(torch.nonzero(w_i == w_i.min())[0])


def test_triton_kernel_in_mst_and_fallback(triton_interpreter, monkeypatch, caplog):
    """The whole fit with the kernel (interpreted) gives the torch path's tree; a failing
    kernel logs one warning and falls back to the torch path."""
    import gputopic.native.hdbscan as H

    rng = np.random.default_rng(3)
    centers = rng.normal(size=(6, 5)) * 20  # separate blobs: the kNN graph is disconnected
    X = (centers.repeat(50, 0) + rng.normal(size=(300, 5))).astype(np.float32)
    X[280:] = X[:20]  # duplicates
    X[100:106] = X[0]
    for metric in ("euclidean", "cosine"):
        ref = HDBSCAN(min_cluster_size=5, min_samples=2, metric=metric, device="cpu").fit(X)
        monkeypatch.setattr(H, "_triton_wanted", lambda Xp: True)
        monkeypatch.setitem(H._TRITON_STATE, "failed", False)
        calls = []
        real = triton_interpreter.brute_best
        monkeypatch.setattr(triton_interpreter, "brute_best",
                            lambda *a: calls.append(1) or real(*a))
        got = HDBSCAN(min_cluster_size=5, min_samples=2, metric=metric, device="cpu").fit(X)
        assert calls and not H._TRITON_STATE["failed"]
        for a, b in zip(ref._mst_, got._mst_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ref.labels_, got.labels_)
        monkeypatch.undo()
        monkeypatch.setenv("TRITON_INTERPRET", "1")

    def boom(*a):
        raise RuntimeError("no kernel")

    plain = HDBSCAN(min_cluster_size=5, device="cpu").fit(X)._mst_
    monkeypatch.setattr(triton_interpreter, "brute_best", boom)
    monkeypatch.setattr(H, "_triton_wanted", lambda Xp: True)
    monkeypatch.setitem(H._TRITON_STATE, "failed", False)
    with caplog.at_level("WARNING", logger="gputopic"):
        first = HDBSCAN(min_cluster_size=5, device="cpu").fit(X)._mst_
        again = HDBSCAN(min_cluster_size=5, device="cpu").fit(X)._mst_
    assert H._TRITON_STATE["failed"]
    assert len([r for r in caplog.records if "Triton" in r.getMessage()]) == 1  # warned once
    for a, b, c in zip(plain, first, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


@pytest.mark.gpu
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_triton_kernel_matches_torch_path_cuda(metric, monkeypatch):
    pytest.importorskip("triton", reason="triton is not installed")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    from gputopic.native import _triton_mrd
    from gputopic.native.hdbscan import _brute_best_torch

    for n, m in ((2000, 300), (60000, 5000)):
        Xp, core, comp, lb, q, thr = _brute_case(metric, n=n, m=m, device="cuda")
        kw, kt = _triton_mrd.brute_best(Xp, core, comp, lb, q, thr, metric)  # real kernel: raises on failure
        tw, tt = _brute_best_torch(Xp, core, comp, lb, q, thr, metric, 1 << 30)
        assert torch.equal(kt, tt)
        fin = torch.isfinite(tw)
        assert torch.equal(fin, torch.isfinite(kw))
        torch.testing.assert_close(kw[fin], tw[fin], rtol=1e-6, atol=1e-6)
