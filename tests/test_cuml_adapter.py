"""Contract tests of the cuML backends on the CPU, against a small fake ``cuml`` module.

RAPIDS has not run on a GPU in this project yet, so these tests check what gputopic sends to
cuML and how it reads cuML's answers, as cuML's documented API has them: the constructor
arguments (BERTopic's defaults), the arrays ``fit_transform`` / ``fit`` receive (2-D float32,
C-contiguous; device arrays as they are on the GPU), ``cuml.cluster.hdbscan``'s module-level
``approximate_predict`` / ``all_points_membership_vectors`` / ``membership_vector`` for
prediction and soft memberships, and that ``"auto"`` does not pick cuML. Whether the real
cuML then computes what it should is not tested here.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import scipy.sparse

from gputopic import GPUTopic, InputError
from gputopic import cluster, device, reduce
from gputopic.device import Backend

from helpers import TOY_DOCS, HashingEncoder

CALLS: list[tuple] = []


def _check_input(X):
    assert isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == np.float32 and X.flags.c_contiguous, \
        (type(X), getattr(X, "dtype", None))


class Base:
    def __init__(self, **kwargs):
        CALLS.append((type(self).__name__, "init", kwargs))
        self.kwargs = kwargs
        self.prediction_data = kwargs.get("prediction_data", False)


class UMAP(Base):
    def fit_transform(self, X, y=None):
        _check_input(X)
        CALLS.append(("UMAP", "fit_transform", X.shape))
        self.components_ = np.linalg.svd(X - X.mean(0), full_matrices=False)[2][: self.kwargs["n_components"]]
        return self.transform(X)

    def transform(self, X):
        _check_input(X)
        return (X @ self.components_.T).astype(np.float32)


class HDBSCAN(Base):
    def fit(self, X, y=None):
        _check_input(X)
        CALLS.append(("HDBSCAN", "fit", X.shape))
        from sklearn.cluster import KMeans

        self.kmeans_ = KMeans(n_clusters=3, n_init=3, random_state=0).fit(X)
        self.labels_ = self.kmeans_.labels_.astype(np.int32)
        self.probabilities_ = np.ones(len(X), dtype=np.float32)
        return self


def approximate_predict(model, X):
    _check_input(X)
    CALLS.append(("hdbscan", "approximate_predict", X.shape))
    return model.kmeans_.predict(X).astype(np.int32), np.full(len(X), 0.5, dtype=np.float32)


def _soft(model, X):
    d = model.kmeans_.transform(X)
    w = np.exp(-d)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def all_points_membership_vectors(model):
    CALLS.append(("hdbscan", "all_points_membership_vectors", None))
    return _soft(model, model.kmeans_.cluster_centers_[model.labels_].astype(np.float32))


def membership_vector(model, X):
    _check_input(X)
    CALLS.append(("hdbscan", "membership_vector", X.shape))
    return _soft(model, X)


@pytest.fixture
def fake_cuml(monkeypatch):
    cuml = types.ModuleType("cuml")
    cuml.Base = Base
    cuml.manifold = types.ModuleType("cuml.manifold")
    cuml.manifold.UMAP = UMAP
    cuml.cluster = types.ModuleType("cuml.cluster")
    cuml.cluster.HDBSCAN = HDBSCAN
    cuml.cluster.hdbscan = types.ModuleType("cuml.cluster.hdbscan")
    for f in (approximate_predict, all_points_membership_vectors, membership_vector):
        setattr(cuml.cluster.hdbscan, f.__name__, f)
    for name, mod in (("cuml", cuml), ("cuml.manifold", cuml.manifold), ("cuml.cluster", cuml.cluster),
                      ("cuml.cluster.hdbscan", cuml.cluster.hdbscan)):
        monkeypatch.setitem(sys.modules, name, mod)
    device.cuml_available.cache_clear()
    CALLS.clear()
    yield cuml
    device.cuml_available.cache_clear()


def test_named_cuml_gets_bertopics_defaults(fake_cuml):
    umap = reduce.make_reducer("cuml", device="cuda", random_state=7)
    hdb = cluster.make_clusterer("cuml", device="cuda", min_cluster_size=12)
    assert isinstance(umap, UMAP) and umap.kwargs == {"n_neighbors": 15, "n_components": 5, "min_dist": 0.0,
                                                       "metric": "cosine", "random_state": 7}
    assert isinstance(hdb, HDBSCAN) and hdb.kwargs == {"min_cluster_size": 12, "metric": "euclidean",
                                                        "cluster_selection_method": "eom", "prediction_data": True}


def test_auto_picks_the_measured_native_backend_even_with_cuml(fake_cuml):
    assert reduce.REDUCERS.resolve("auto", "cuda").name == "native"
    assert cluster.CLUSTERERS.resolve(None, "cuda").name == "native"
    assert cluster.CLUSTERERS.resolve("auto", "cpu").name == "hdbscan"


def test_cuml_is_refused_on_the_cpu_with_the_fix(fake_cuml):
    with pytest.raises(InputError, match=r"umap_model='cuml' runs on cuda only.*use device='cuda'"):
        reduce.make_reducer("cuml", device="cpu")
    with pytest.raises(InputError, match=r"hdbscan_model='cuml' runs on cuda only"):
        GPUTopic(hdbscan_model="cuml", device="cpu", embedding_model=HashingEncoder()).fit(TOY_DOCS)


def test_device_arrays_go_to_cuml_as_they_are(fake_cuml):
    """On the GPU a cuML model takes the device array itself; other models get NumPy."""
    gpu_like = Backend("cuda", np, scipy.sparse)  # a stand-in: only is_gpu matters here

    class DeviceArray:  # stands for a CuPy array: NumPy reads it only through __array__
        def __array__(self, dtype=None, copy=None):
            return np.zeros((4, 2), dtype=np.float32)

    X = DeviceArray()
    assert reduce.model_input(UMAP(), X, gpu_like) is X
    assert cluster.model_input(HDBSCAN(), X, gpu_like) is X
    assert type(cluster.model_input(object(), X, gpu_like)) is np.ndarray


def test_a_fit_through_cuml_objects_calls_the_documented_api(fake_cuml):
    emb = HashingEncoder().encode(TOY_DOCS).astype(np.float64)  # the pipeline casts to float32 once
    model = GPUTopic(umap_model=UMAP(n_components=5), hdbscan_model=HDBSCAN(prediction_data=True),
                     embedding_model=HashingEncoder(), device="cpu", calculate_probabilities=True)
    topics, probs = model.fit_transform(TOY_DOCS, embeddings=emb)
    topics = np.asarray(topics)
    assert len(set(topics.tolist())) == 3 and probs.shape == (len(TOY_DOCS), 3)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    new_topics, new_probs = model.transform(TOY_DOCS[:6], embeddings=emb[:6])
    assert np.array_equal(new_topics, topics[:6]) and new_probs.shape == (6, 3)
    called = [(who, what) for who, what, _ in CALLS if what != "init"]
    assert called == [("UMAP", "fit_transform"), ("HDBSCAN", "fit"), ("hdbscan", "all_points_membership_vectors"),
                      ("hdbscan", "approximate_predict"), ("hdbscan", "membership_vector")]


def test_without_prediction_data_new_documents_go_by_topic_embeddings(fake_cuml, caplog):
    emb = HashingEncoder().encode(TOY_DOCS)
    model = GPUTopic(umap_model=UMAP(n_components=5), hdbscan_model=HDBSCAN(), embedding_model=HashingEncoder(),
                     device="cpu").fit(TOY_DOCS, embeddings=emb)
    topics, _ = model.transform(TOY_DOCS[:6], embeddings=emb[:6])
    assert "fitted without prediction_data=True" in caplog.text
    assert not [c for c in CALLS if c[1] == "approximate_predict"] and len(topics) == 6
