"""Tests of gputopic.native.umap: quality against umap-learn, input/output kinds, transform,
determinism, precomputed kNN and parameter validation (CPU; one GPU test)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.manifold import trustworthiness

from gputopic.native import _umap_sgd_cpu as sgd_cpu
from gputopic.native.knn import knn
from gputopic.native.umap import CPU_EPOCHS_LARGE, UMAP, _n_batches, find_ab_params


REF_PARAMS = dict(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
TRUST_K = 10
CACHE_DIR = Path(__file__).resolve().parent / ".cache"  # same folder conftest caches embeddings in


def _trust(X: np.ndarray, E: np.ndarray) -> float:
    return float(trustworthiness(X, E, n_neighbors=TRUST_K, metric="cosine"))


@pytest.fixture(scope="module")
def ours_5000(ng5000):
    """Our CPU embedding of the 5,000-document sample, with the reference parameters."""
    emb = ng5000[2]
    return UMAP(device="cpu", **REF_PARAMS).fit_transform(emb)


def _umap_learn_embedding(emb: np.ndarray) -> np.ndarray:
    """umap-learn's embedding with the reference parameters, cached on disk (it is slow)."""
    umap = pytest.importorskip("umap")
    key = hashlib.sha256(emb.tobytes()).hexdigest()[:16]
    path = CACHE_DIR / f"umap_learn_{umap.__version__}_{key}.npy"
    if path.exists():
        return np.load(path)
    ref = umap.UMAP(**REF_PARAMS).fit_transform(emb).astype(np.float32)
    CACHE_DIR.mkdir(exist_ok=True)
    np.save(path, ref)
    return ref


@pytest.fixture(scope="module")
def small(ng2000):
    return ng2000[2][:400]


# ------------------------------------------------------------------------------- quality
def test_trustworthiness_close_to_umap_learn(ng5000, ours_5000):
    emb = ng5000[2]
    ref = _umap_learn_embedding(emb)
    t_ours, t_ref = _trust(emb, ours_5000), _trust(emb, ref)
    assert ours_5000.shape == (5000, 5)
    assert t_ours >= t_ref - 0.02, f"trustworthiness: gputopic {t_ours:.4f} vs umap-learn {t_ref:.4f}"


def test_ab_params_match_umap_learn_values():
    # umap-learn's find_ab_params(1.0, 0.1) gives a ~ 1.577, b ~ 0.895
    a, b = find_ab_params(1.0, 0.1)
    assert a == pytest.approx(1.577, abs=0.01) and b == pytest.approx(0.895, abs=0.01)


def test_graph_is_symmetric_fuzzy_set(small):
    u = UMAP(n_neighbors=10, n_epochs=5, random_state=0, device="cpu").fit(small)
    G = u.graph_
    assert G.shape == (400, 400)
    assert abs(G - G.T).max() < 1e-6
    assert G.diagonal().max() == 0
    assert G.data.min() > 0 and G.data.max() <= 1.0 + 1e-5
    # every point keeps at least its nearest neighbour at full membership
    assert np.all(np.asarray(G.max(axis=1).todense()).ravel() > 0.99)


# ------------------------------------------------------------------------------- kinds
def test_numpy_in_numpy_out(small):
    out = UMAP(n_neighbors=10, n_epochs=20, random_state=0, device="cpu").fit_transform(small)
    assert isinstance(out, np.ndarray) and out.shape == (400, 2) and out.dtype == np.float32
    assert np.isfinite(out).all()


def test_torch_in_torch_out(small):
    u = UMAP(n_neighbors=10, n_components=3, n_epochs=20, random_state=0, device="cpu")
    out = u.fit_transform(torch.from_numpy(small))
    assert isinstance(out, torch.Tensor) and out.device.type == "cpu" and out.shape == (400, 3)
    assert isinstance(u.embedding_, torch.Tensor)
    t = u.transform(torch.from_numpy(small[:20]))
    assert isinstance(t, torch.Tensor) and t.shape == (20, 3)
    # numpy into a torch-fitted model: numpy out
    assert isinstance(u.transform(small[:5]), np.ndarray)


# ------------------------------------------------------------------------------- transform
def test_transform_lands_near_input_neighbours(ng2000):
    emb = ng2000[2]
    train, test = emb[:1000], emb[1000:1200]
    u = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", n_epochs=60, random_state=0, device="cpu")
    E = u.fit_transform(train)
    T = u.transform(test)
    assert T.shape == (200, 5) and np.isfinite(T).all()
    k = 10
    _, in_idx = knn(torch.from_numpy(train), k, "cosine", queries=torch.from_numpy(test))
    _, out_idx = knn(torch.from_numpy(E), k, "euclidean", queries=torch.from_numpy(T))
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(in_idx.tolist(), out_idx.tolist())])
    chance = k / len(train)
    assert overlap > 20 * chance and overlap > 0.15, f"overlap {overlap:.3f} (chance {chance:.4f})"


def test_grouped_torch_sgd_on_the_cpu_keeps_quality(ng5000, ours_5000, monkeypatch):
    # the SGD the GPU runs, forced on the CPU: same bar against umap-learn
    monkeypatch.setenv("GPUTOPIC_UMAP_CPU_SGD", "grouped")
    emb = ng5000[2]
    grouped = UMAP(device="cpu", **REF_PARAMS).fit_transform(emb)
    assert not np.array_equal(grouped, ours_5000)  # it did take the other path
    t_ref = _trust(emb, _umap_learn_embedding(emb))
    assert _trust(emb, grouped) >= t_ref - 0.02


@pytest.mark.parametrize("sgd, epochs", [("sequential", CPU_EPOCHS_LARGE), ("grouped", 200)])
def test_default_epochs_above_10000_points_follow_the_sgd(sgd, epochs, monkeypatch):
    # the CPU's numba SGD runs CPU_EPOCHS_LARGE epochs on large fits; the grouped SGD (the GPU's) 200
    monkeypatch.setenv("GPUTOPIC_UMAP_CPU_SGD", sgd)
    X = np.random.RandomState(0).normal(size=(10_001, 3)).astype(np.float32)
    u = UMAP(n_neighbors=5, n_components=2, random_state=0, device="cpu").fit(X)
    assert u._n_epochs_fit == epochs
    assert UMAP(n_neighbors=5, n_components=2, random_state=0, device="cpu").fit(X[:10_000])._n_epochs_fit == 500


def test_bad_cpu_sgd_setting_raises(small, monkeypatch):
    monkeypatch.setenv("GPUTOPIC_UMAP_CPU_SGD", "hogwild")
    with pytest.raises(ValueError, match="GPUTOPIC_UMAP_CPU_SGD must be one of"):
        UMAP(n_neighbors=10, n_epochs=5, device="cpu").fit(small)


def test_transform_before_fit_raises():
    with pytest.raises(ValueError, match="not fitted"):
        UMAP().transform(np.zeros((3, 4), np.float32))


# ------------------------------------------------------------------------------- determinism, knn
def test_sgd_sub_batches_hold_about_0_4_due_edges_per_point():
    # an epoch samples sum(1 / epochs_per_sample) edges; they are applied in groups of
    # ~0.4 per head point (one group per epoch summed all moves and overshot)
    n = 1000
    assert _n_batches(torch.ones(16 * n), n) == 40  # 16 due edges per point
    assert _n_batches(torch.full((16 * n,), 4.0), n) == 10  # each due every 4th epoch
    assert _n_batches(torch.full((n,), 10.0), n) == 1  # sparse graph: one group
    assert _n_batches(torch.ones(1000 * n), n) == 64  # capped


def test_deterministic_on_cpu_with_seed(small):
    kw = dict(n_neighbors=10, n_epochs=30, random_state=7, device="cpu")
    a = UMAP(**kw).fit_transform(small)
    b = UMAP(**kw).fit_transform(small)
    np.testing.assert_array_equal(a, b)
    c = UMAP(**{**kw, "random_state": 8}).fit_transform(small)
    assert not np.array_equal(a, c)


def test_cpu_sgd_blocks_split_edges_evenly_on_vertex_bounds():
    rng = np.random.default_rng(0)
    head = np.sort(rng.integers(0, 1000, 20000))
    vb, eb = sgd_cpu.blocks(head, 1000, 3)
    assert vb[0] == 0 and vb[-1] == 1000 and np.all(np.diff(vb) >= 0)
    assert eb[0] == 0 and eb[-1] == len(head)
    # an edge block is exactly the edges whose head lies in the vertex block
    for t in range(3):
        assert np.all((head[eb[t]:eb[t + 1]] >= vb[t]) & (head[eb[t]:eb[t + 1]] < vb[t + 1]))
    assert np.all(np.abs(np.diff(eb) - len(head) / 3) < 200)
    vb1, eb1 = sgd_cpu.blocks(head, 1000, 1)
    assert list(vb1) == [0, 1000] and list(eb1) == [0, len(head)]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_cpu_sgd_reproducible_per_thread_count_and_pulls_neighbours_together(threads):
    # a ring graph (each point linked to its two ring neighbours) from a random start: after
    # the SGD, graph neighbours are closer than random pairs, and the same seed and thread
    # count repeat bit for bit
    rng = np.random.default_rng(1)
    n = 300
    head = np.repeat(np.arange(n), 2)
    tail = np.stack([(np.arange(n) + 1) % n, (np.arange(n) - 1) % n], 1).ravel()
    eps = np.ones(len(head))
    init = rng.uniform(0, 10, (n, 2)).astype(np.float32)
    a, b = find_ab_params(1.0, 0.1)
    run = lambda: sgd_cpu.optimize_layout(init.copy(), head, tail, eps, 100, a, b, 1.0, 1.0, 5, seed=5,
                                          n_threads=threads)
    out = run()
    np.testing.assert_array_equal(out, run())
    nb = np.linalg.norm(out[head] - out[tail], axis=1).mean()
    rnd = np.linalg.norm(out[rng.integers(0, n, 2000)] - out[rng.integers(0, n, 2000)], axis=1).mean()
    assert np.isfinite(out).all() and nb < 0.3 * rnd


def test_small_cpu_fits_run_the_sgd_on_one_thread_and_do_not_depend_on_the_thread_count(small, monkeypatch):
    # up to CPU_SGD_ONE_THREAD_MAX points the SGD runs umap-learn's sequential order on
    # one thread (the per-thread blocks made HDBSCAN's two-giant-topics case more frequent
    # on small corpora): the same layout whatever numba's thread count
    numba = pytest.importorskip("numba")
    import gputopic.native.umap as U

    kw = dict(n_neighbors=10, n_epochs=30, metric="cosine", random_state=4, device="cpu")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = UMAP(**kw).fit_transform(small)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = UMAP(**kw).fit_transform(small)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    calls = []
    real = sgd_cpu.optimize_layout
    monkeypatch.setattr(sgd_cpu, "optimize_layout", lambda *a, **k: calls.append(k["n_threads"]) or real(*a, **k))
    UMAP(**kw).fit(small)
    monkeypatch.setattr(U, "CPU_SGD_ONE_THREAD_MAX", len(small) - 1)
    UMAP(**kw).fit(small)
    assert calls == [1, None]  # None: numba's thread count, in per-thread blocks


def test_precomputed_knn_matches_internal(small):
    kw = dict(n_neighbors=10, n_epochs=20, metric="cosine", random_state=3, device="cpu")
    d, i = knn(torch.from_numpy(small), 12, "cosine")  # more columns than needed: first 10 used
    a = UMAP(**kw).fit_transform(small)
    b = UMAP(**kw).fit_transform(small, knn=(d.numpy(), i.numpy()))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("init", ["pca", "random"])
def test_other_inits(small, init):
    out = UMAP(n_neighbors=10, n_epochs=20, init=init, random_state=0, device="cpu").fit_transform(small)
    assert out.shape == (400, 2) and np.isfinite(out).all()


# ------------------------------------------------------------------------------- validation
X_BAD = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_neighbors=1), "n_neighbors"),
        (dict(n_neighbors=30), "n_neighbors must be smaller"),
        (dict(init="tsne"), "init must be one of"),
        (dict(metric="manhattan"), "metric must be one of"),
        (dict(n_components=0), "n_components"),
        (dict(min_dist=2.0), "min_dist"),
        (dict(set_op_mix_ratio=1.5), "set_op_mix_ratio"),
        (dict(target_weight=1.5), r"target_weight must be a number in \[0, 1\]"),
    ],
)
def test_bad_parameters_raise(params, match):
    u = UMAP(**params)
    assert u.get_params()[next(iter(params))] == next(iter(params.values()))  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        u.fit(X_BAD)


def test_categorical_target_graph_is_umap_learns():
    """The supervised graph equals umap-learn's discrete_metric_simplicial_set_intersection
    (categorical labels, -1 unknown, then reset_local_connectivity) on a random graph."""
    import scipy.sparse as sp

    umap_ = pytest.importorskip("umap.umap_")
    from gputopic.native.umap import categorical_intersection

    n = 60
    A = sp.random(n, n, density=0.15, random_state=3, format="csr")
    A.setdiag(0)
    A.eliminate_zeros()
    A = A.maximum(A.T).tocoo()
    y = np.random.default_rng(0).integers(-1, 4, n)
    for far in (5.0, 2.5 / (1 - 0.8)):
        ref = umap_.discrete_metric_simplicial_set_intersection(A.copy(), y, far_dist=far).tocsr()
        r, c, w = categorical_intersection(torch.as_tensor(A.row, dtype=torch.int64),
                                           torch.as_tensor(A.col, dtype=torch.int64),
                                           torch.as_tensor(A.data, dtype=torch.float32), torch.as_tensor(y), n,
                                           far_dist=far)
        ours = sp.csr_matrix((w.numpy(), (r.numpy(), c.numpy())), shape=(n, n))
        assert ours.nnz == ref.nnz and abs(ours - ref).max() < 1e-6


def test_labels_pull_classes_apart(small):
    """Two arbitrary classes across the same cloud: with y the layout separates them."""
    from sklearn.metrics import silhouette_score

    y = np.arange(len(small)) % 2
    plain = UMAP(n_neighbors=10, random_state=0, device="cpu").fit_transform(small)
    supervised = UMAP(n_neighbors=10, random_state=0, device="cpu").fit_transform(small, y=y)
    # 0.002 and 0.82 here; umap-learn with the same y: 0.78
    assert silhouette_score(plain, y) < 0.05 < 0.5 < silhouette_score(supervised, y)
    with pytest.raises(ValueError, match=r"y must hold 400 integer class labels \(-1 where unknown\)"):
        UMAP(n_neighbors=10, device="cpu").fit(small, y=y[:10])
    with pytest.raises(ValueError, match="y must hold 400 integer class labels"):
        UMAP(n_neighbors=10, device="cpu").fit(small, y=y - 2)


def test_bad_knn_shape_raises():
    d, i = knn(torch.from_numpy(X_BAD), 5, "euclidean")
    with pytest.raises(ValueError, match="fewer than n_neighbors"):
        UMAP(n_neighbors=10).fit(X_BAD, knn=(d, i))


# ------------------------------------------------------------------- Triton SGD kernel


@pytest.fixture
def triton_sgd(monkeypatch):
    """The fused SGD kernel module with Triton's interpreter (CPU tensors), few programs."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    pytest.importorskip("triton", reason="triton is not installed: the fused SGD kernel is not tested")
    from gputopic.native import _triton_sgd

    monkeypatch.setattr(_triton_sgd, "_BLOCK", 512)  # the interpreter pays per program
    return _triton_sgd


def test_triton_sgd_matches_the_torch_path_edge_by_edge(triton_sgd):
    """Without negatives and with one edge per head point (no interaction between edges),
    the kernel must reproduce the torch path: due-epoch schedule, attraction gradient and
    learning-rate decay (the clip is checked with the negative samples below)."""
    from gputopic.native.umap import _optimize_layout

    g = torch.Generator().manual_seed(0)
    head = torch.randn(7, 3, generator=g)
    tail = torch.randn(7, 3, generator=g) * 3.0
    h_idx, t_idx = torch.arange(7), torch.tensor([3, 0, 6, 1, 2, 5, 4])
    tail[t_idx[5]] = head[5]  # a coincident pair: no gradient
    eps = torch.tensor([1.0, 2.0, 3.0, 1.5, 4.0, 1.0, 7.5])
    a, b = find_ab_params(1.0, 0.1)
    args = (12, a, b, 1.0, 1.0, 0)
    ref = _optimize_layout(head.clone(), tail, h_idx, t_idx, eps, *args, False, torch.Generator(), n_batches=1)
    got = triton_sgd.optimize_layout(head.clone(), tail, h_idx, t_idx, eps, [0, 7], *args, False, seed=3)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    assert not torch.equal(got, head) and torch.equal(got[5], head[5])


@pytest.mark.parametrize("offset", [0.4, 0.02])
def test_triton_sgd_negative_samples_push_with_the_torch_formula(triton_sgd, offset):
    """One head and one tail point: every negative sample is that tail point, so the
    update is deterministic: attraction plus ``negative_sample_rate`` repulsions. At
    ``offset`` 0.02 the points nearly coincide and the repulsion is clipped at 4."""
    a, b = find_ab_params(1.0, 0.1)
    head = torch.tensor([[0.3, -1.2, 0.5, 2.0, 0.1]])
    tail = head + offset * torch.tensor([[1.0, 1.0, -1.0, -1.0, 1.0]])
    got = triton_sgd.optimize_layout(head.clone(), tail.clone(), torch.tensor([0]), torch.tensor([0]),
                                     torch.tensor([1.0]), [0, 1], 2, a, b, 1.0, 0.5, 3, False, seed=11)
    h, t = head.double(), tail.double()
    diff = h - t
    d2 = float((diff * diff).sum())
    att = (-2.0 * a * b * d2 ** b / (d2 * (a * d2 ** b + 1.0)) * diff).clamp(-4, 4)
    rep_raw = 2.0 * b / ((1e-3 + d2) * (a * d2 ** b + 1.0)) * diff
    rep = rep_raw.clamp(-4, 4)
    assert bool((rep_raw.abs() > 4).any()) == (offset < 0.1)  # the near case exercises the clip
    want = h + 0.25 * (att + 3 * rep)  # not due at epoch 0; epoch 1's learning rate is 0.5 * (1 - 1/2)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)


def test_triton_sgd_layout_keeps_quality(triton_sgd, monkeypatch):
    """A whole fit through the kernel (interpreted) against the torch grouped SGD: the
    same blobs, the same trustworthiness within 0.03."""
    import gputopic.native.umap as U

    rng = np.random.default_rng(0)
    X = (np.repeat(rng.normal(size=(3, 10)) * 4, 40, 0) + rng.normal(size=(120, 10))).astype(np.float32)
    monkeypatch.setenv("GPUTOPIC_UMAP_CPU_SGD", "grouped")
    params = dict(n_neighbors=10, n_components=2, random_state=0, n_epochs=15, init="pca", device="cpu")
    ref = UMAP(**params).fit_transform(X)
    calls = []
    real = triton_sgd.optimize_layout
    monkeypatch.setattr(triton_sgd, "optimize_layout", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(U, "_triton_sgd_wanted", lambda head: True)
    got = UMAP(**params).fit_transform(X)
    assert calls and not U._TRITON_SGD_STATE["failed"]
    t_ref, t_got = trustworthiness(X, ref, n_neighbors=10), trustworthiness(X, got, n_neighbors=10)
    assert t_got > 0.9 and abs(t_got - t_ref) < 0.03, (t_got, t_ref)


def test_triton_sgd_failure_falls_back_to_the_torch_path(triton_sgd, monkeypatch, caplog, small):
    """A kernel that fails (here after moving points) leaves a warning, once, and the torch
    path's layout exactly."""
    import gputopic.native.umap as U

    monkeypatch.setenv("GPUTOPIC_UMAP_CPU_SGD", "grouped")
    params = dict(n_neighbors=10, n_components=2, random_state=0, n_epochs=10, device="cpu")
    ref = UMAP(**params).fit_transform(small[:200])

    def boom(head, *rest):
        head.add_(1.0)
        raise RuntimeError("no kernel")

    monkeypatch.setattr(triton_sgd, "optimize_layout", boom)
    monkeypatch.setattr(U, "_triton_sgd_wanted", lambda head: not U._TRITON_SGD_STATE["failed"])
    monkeypatch.setitem(U._TRITON_SGD_STATE, "failed", False)
    with caplog.at_level("WARNING", logger="gputopic"):
        first = UMAP(**params).fit_transform(small[:200])
        again = UMAP(**params).fit_transform(small[:200])
    assert U._TRITON_SGD_STATE["failed"]
    assert len([r for r in caplog.records if "Triton SGD" in r.getMessage()]) == 1
    np.testing.assert_array_equal(first, ref)
    np.testing.assert_array_equal(again, ref)


# ------------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_cuda_tensor_in_cuda_tensor_out(ng5000, ours_5000):
    emb = ng5000[2]
    x = torch.from_numpy(emb).cuda()
    out = UMAP(**REF_PARAMS).fit_transform(x)
    assert isinstance(out, torch.Tensor) and out.is_cuda and out.shape == (5000, 5)
    t_gpu, t_cpu = _trust(emb, out.cpu().numpy()), _trust(emb, ours_5000)
    assert abs(t_gpu - t_cpu) < 0.02, f"trustworthiness: cuda {t_gpu:.4f} vs cpu {t_cpu:.4f}"


@pytest.mark.gpu
def test_triton_sgd_on_cuda_keeps_the_torch_paths_quality(ng5000, monkeypatch):
    """The compiled kernel (the default on CUDA) against the torch grouped SGD on CUDA."""
    pytest.importorskip("triton", reason="triton is not installed")
    import gputopic.native.umap as U

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    emb = ng5000[2]
    x = torch.from_numpy(emb).cuda()
    monkeypatch.setenv("GPUTOPIC_TRITON_SGD", "0")
    torch_path = UMAP(**REF_PARAMS).fit_transform(x).cpu().numpy()
    monkeypatch.setenv("GPUTOPIC_TRITON_SGD", "1")
    runs = U._TRITON_SGD_STATE["runs"]
    kernel = UMAP(**REF_PARAMS).fit_transform(x).cpu().numpy()
    assert not U._TRITON_SGD_STATE["failed"] and U._TRITON_SGD_STATE["runs"] == runs + 1  # it ran
    t_k, t_t = _trust(emb, kernel), _trust(emb, torch_path)
    assert abs(t_k - t_t) < 0.02, f"trustworthiness: kernel {t_k:.4f} vs torch {t_t:.4f}"
