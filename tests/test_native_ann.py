"""The sub-quadratic kNN of gputopic.native.ann against the exact search, and the
HDBSCAN / UMAP ``knn=`` option (CPU torch; the same code runs on CUDA)."""

import logging

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from gputopic.exceptions import InputError
from gputopic.native import HDBSCAN, UMAP, ann, neighbors
from gputopic.native import hdbscan as H
from gputopic.native.knn import knn as exact_knn


def mixture(n, d, seed, centres=30, spread=8.0, background=0.1):
    g = torch.Generator().manual_seed(seed)
    C = torch.randn(centres, d, generator=g) * spread
    sc = torch.rand(centres, generator=g) * 0.7 + 0.2
    lab = torch.randint(0, centres, (n,), generator=g)
    X = C[lab] + torch.randn(n, d, generator=g) * sc[lab, None]
    nb = int(n * background)
    X[:nb] = torch.rand(nb, d, generator=g) * 4 * spread - 2 * spread
    return X


def ref_knn(X, k):
    """float64 brute force (the fp32 GEMM search misranks at ~1e-4 on these coordinates)."""
    Xd = X.double()
    d, i = torch.topk(torch.cdist(Xd, Xd), k, dim=1, largest=False)
    return d.float(), i


def test_kd_leaves_partition_and_boxes():
    X = mixture(5000, 5, 0)
    lv = ann.kd_leaves(X, 16)
    m = lv.members[lv.members < 5000]
    assert torch.equal(torch.sort(m).values, torch.arange(5000))
    assert int(lv.sizes.max()) <= 16 and lv.n_leaves & (lv.n_leaves - 1) == 0
    Xe = torch.cat([X, torch.zeros(1, 5)])
    inside = (Xe[lv.members] >= lv.lo[:, None]) & (Xe[lv.members] <= lv.hi[:, None])
    assert bool(inside[lv.members < 5000].all())
    assert torch.equal(lv.leaf_of[lv.members[lv.members < 5000]],
                       torch.arange(lv.n_leaves)[:, None].expand_as(lv.members)[lv.members < 5000])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("d", [2, 5])
def test_kdtree_knn_is_exact(seed, d):
    X = mixture(4000, d, seed)
    assert ann.kd_applicable(4000, 16)
    dk, ik = ann.knn_kdtree(X, 16)
    de, ie = ref_knn(X, 16)
    # the same distances (indices may differ only among ties)
    assert torch.allclose(dk, de, atol=1e-6)
    assert neighbors.recall(ik, ie) > 0.999
    assert torch.equal(ik[:, 0], torch.arange(4000))


def test_kdtree_handles_duplicates():
    X = mixture(3000, 5, 3)
    X[1000:1400] = X[1000]  # 400 copies of one point: ties everywhere
    dk, ik = ann.knn_kdtree(X, 16)
    de, _ = ref_knn(X, 16)
    assert torch.allclose(dk, de, atol=1e-6)
    assert torch.equal(ik[:, 0], torch.arange(3000))


@pytest.mark.parametrize("seed", [0, 1])
def test_ivf_recall_on_clustered_data(seed):
    X = torch.nn.functional.normalize(mixture(6000, 32, seed, centres=40, spread=3.0, background=0.0), dim=1)
    d, i = ann.knn_ivf(X, 15, "cosine", leaf_size=64, seed=seed)
    de, ie = exact_knn(X, 15, "cosine")
    r = neighbors.recall(i, ie)
    assert r >= 0.95, r
    assert torch.equal(i[:, 0], torch.arange(6000))
    assert bool((d[:, 1:] >= d[:, :-1]).all())
    # returned distances are the true ones of the returned neighbours
    true = (1 - (X[:, None, :] * X[i]).sum(-1)).clamp(min=0)
    assert torch.allclose(d, true, atol=1e-5)
    # the sampled recall estimates the full one
    assert abs(neighbors.sample_recall(X, i, "cosine", n_sample=1000) - r) < 0.03


def test_ivf_euclidean_matches_exact_on_clusters():
    X = mixture(5000, 16, 4, centres=30, spread=6.0, background=0.0)
    d, i = ann.knn_ivf(X, 10, "euclidean", leaf_size=64)
    _, ie = exact_knn(X, 10, "euclidean")
    assert neighbors.recall(i, ie) >= 0.95


def test_auto_refuses_low_recall_on_uniform_data(monkeypatch, caplog):
    X = torch.nn.functional.normalize(torch.randn(4000, 384, generator=torch.Generator().manual_seed(0)), dim=1)
    _, i = ann.knn_ivf(X, 15, "cosine", leaf_size=64, n_probe=16)
    _, ie = exact_knn(X, 15, "cosine")
    assert neighbors.recall(i, ie) < 0.95  # the inverted file collapses on uniform data in 384-D
    monkeypatch.setitem(neighbors.AUTO_MIN, "cpu", 0)
    monkeypatch.setattr(ann, "IVF_LEAF_SIZE", 64)
    monkeypatch.setattr(ann, "IVF_PROBE", 16)  # 48 of ~125 leaves would scan most of the data
    with caplog.at_level(logging.INFO, logger="gputopic"):
        d, i2, info = neighbors.self_knn(X, 15, "cosine", "auto", who="test")
    assert info["method"] == "exact" and info["refused_recall"] < 0.95
    assert "using the exact search" in caplog.text
    assert torch.equal(i2, ie)
    _, _, info = neighbors.self_knn(X, 15, "cosine", "approx")
    assert info["method"] == "ivf" and info["recall"] < 0.95  # "approx" is what was asked


def _components(n, n_comp, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_comp, (n,), generator=g)


@pytest.mark.parametrize("seed", [0, 1])
def test_tree_joining_search_equals_brute_force(seed):
    X = H._prep(mixture(3000, 5, seed), "euclidean")[0]
    _, ni = exact_knn(X, 16, "euclidean")
    nd, ni = H._refine_knn(X, X, ni, "euclidean")
    core = nd[:, 10].contiguous()
    lb = torch.maximum(nd[:, -1], core)
    comp = _components(3000, 40, seed)
    need = torch.arange(0, 3000, 3)
    thr = torch.rand(need.shape[0], generator=torch.Generator().manual_seed(seed)) * 6 + 0.5
    leaves = ann.kd_leaves(X, 16)
    wt, tt = H._brute_best_tree(X, core, comp, lb, need, thr, leaves, ann.tree_levels(leaves))
    wb, tb = H._brute_best_torch(X, core, comp, lb, need, thr, "euclidean", 1 << 26)
    # only an edge lighter than the point's threshold can change the tree: those agree
    # (weight, and target up to float ties); above it the tree search may report nothing
    below = wb < thr
    assert int(below.sum()) > 100 and int((~below).sum()) > 100
    assert torch.allclose(wt[below], wb[below], atol=1e-5)
    assert float((tt[below] == tb[below]).float().mean()) > 0.99  # ties: smallest index in both
    assert bool((wt[~below] >= thr[~below] - 1e-5).all())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hdbscan_approx_equals_exact_tree(seed):
    X = mixture(6000, 5, seed)
    a = HDBSCAN(min_cluster_size=40, min_samples=10, knn="approx", device="cpu").fit(X)
    e = HDBSCAN(min_cluster_size=40, min_samples=10, knn="exact", device="cpu").fit(X)
    assert a.knn_method_ == "kdtree" and e.knn_method_ == "exact"
    assert np.isclose(a._mst_[2].sum(), e._mst_[2].sum(), rtol=1e-6)
    assert adjusted_rand_score(e.labels_, a.labels_) >= 0.99
    assert np.allclose(a.core_distances_, e.core_distances_, atol=1e-5)


def test_hdbscan_approx_on_separated_blobs():
    # far-apart blobs: the kNN graph is disconnected, the joining edges come from the bound
    g = torch.Generator().manual_seed(5)
    X = torch.cat([torch.randn(1500, 5, generator=g) * 0.3 + 40 * i for i in range(4)])
    a = HDBSCAN(min_cluster_size=50, knn="approx", device="cpu").fit(X)
    e = HDBSCAN(min_cluster_size=50, knn="exact", device="cpu").fit(X)
    # far from the centre the GEMM search's |a|^2+|b|^2-2ab rounding picks slightly wrong
    # neighbours (core distances a little too large); the tree's are the float64 ones, so
    # its spanning tree weighs at most as much
    d64, _ = ref_knn(X, 51)  # min_samples = min_cluster_size = 50: the 51st, self included
    assert np.allclose(a.core_distances_, d64[:, 50].numpy(), atol=1e-5)
    assert a._mst_[2].sum() <= e._mst_[2].sum() * (1 + 1e-6)
    assert adjusted_rand_score(e.labels_, a.labels_) == 1.0 and a.n_clusters_ == 4


@pytest.mark.parametrize("est", [HDBSCAN, UMAP])
def test_knn_option_is_checked(est):
    with pytest.raises(InputError, match="knn must be one of"):
        est(knn="fast").fit(np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32))
    assert est(knn="approx").get_params()["knn"] == "approx"


def test_umap_knn_approx_reports_recall():
    X = torch.nn.functional.normalize(mixture(3000, 32, 0, centres=20, spread=3.0, background=0.0), dim=1).numpy()
    u = UMAP(n_neighbors=15, n_components=2, metric="cosine", n_epochs=20, random_state=0, knn="approx",
             device="cpu").fit(X)
    assert u.knn_method_ == "ivf" and u.knn_recall_ >= 0.95
    u2 = UMAP(n_neighbors=15, n_components=2, metric="cosine", n_epochs=20, random_state=0, knn="exact",
              device="cpu").fit(X)
    assert u2.knn_method_ == "exact" and u2.knn_recall_ is None
