"""Clustering stage: HDBSCAN on the GPU (gputopic's torch HDBSCAN, or cuML's) or CPU.

The ``hdbscan_model`` slot takes ``None``/``"auto"``, a backend name of :data:`CLUSTERERS`
(``"hdbscan"``/``"cpu"``: the hdbscan library; ``"native"``/``"gpu"``: gputopic's torch
HDBSCAN; ``"cuml"``: RAPIDS, GPU only), or any object with ``fit`` and a ``labels_``
attribute (or ``predict``), used as given.

Prediction for new points and soft memberships dispatch on the backend a fitted model
belongs to (:attr:`Clusterer.predict` / :attr:`Clusterer.memberships`): the hdbscan
library's and cuML's module-level ``approximate_predict`` / membership functions, the
native model's own methods; any other object's ``predict``. A model that cannot predict
returns ``None`` and the estimator assigns topics by cosine similarity instead.

Defaults are BERTopic's: ``min_cluster_size=min_topic_size``, euclidean, ``eom``,
``prediction_data=True``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .device import Backend, optional_import, to_numpy, try_import
from .exceptions import InputError
from .reduce import REDUCERS, is_cuml
from .registry import Implementation, Registry, feed, needs, takes

logger = logging.getLogger("gputopic")


def _params(min_cluster_size: int) -> dict:
    return dict(min_cluster_size=int(min_cluster_size), metric="euclidean", cluster_selection_method="eom",
                prediction_data=True)


def _hdbscan(device: str, min_cluster_size: int):
    return optional_import("hdbscan", "CPU HDBSCAN").HDBSCAN(**_params(min_cluster_size))


def _native(device: str, min_cluster_size: int):
    from .native.hdbscan import HDBSCAN

    return HDBSCAN(**_params(min_cluster_size), device=device)


def _cuml(device: str, min_cluster_size: int):
    return optional_import("cuml", "GPU HDBSCAN through RAPIDS").cluster.HDBSCAN(**_params(min_cluster_size))


def _is_hdbscan(model: Any) -> bool:
    hdbscan = try_import("hdbscan") if type(model).__module__.startswith("hdbscan") else None
    return hdbscan is not None and isinstance(model, hdbscan.HDBSCAN)


def _is_native(model: Any) -> bool:
    return type(model).__module__ == "gputopic.native.hdbscan"


@dataclass(frozen=True)
class Clusterer(Implementation):
    """A clustering backend, with how its fitted models predict new points and give soft
    memberships: ``predict(model, X) -> (labels, strengths)``, ``memberships(model, X or
    None) -> (n x clusters)`` (None: the training points)."""

    predict: Callable[[Any, Any], tuple] | None = None
    memberships: Callable[[Any, Any], Any] | None = None
    # a fitted model of this backend that cannot predict (hdbscan/cuML without prediction data)
    can_predict: Callable[[Any], bool] = lambda model: True


def _library_predict(module: str):
    """``approximate_predict`` of the hdbscan library or cuML (module-level functions)."""
    return lambda model, X: optional_import(module, "HDBSCAN prediction").approximate_predict(model, X)


def _library_memberships(module: str):
    def memberships(model, X):
        lib = optional_import(module, "soft cluster memberships")
        return lib.all_points_membership_vectors(model) if X is None else lib.membership_vector(model, X)

    return memberships


def _native_memberships(model, X):
    return model.membership_vectors(X)


def _has_prediction_data(model: Any) -> bool:
    return bool(getattr(model, "prediction_data", True))


CLUSTERERS = Registry("hdbscan_model", [
    Clusterer("hdbscan", ("cpu",), ("cpu", "cuda"), _hdbscan, owns=_is_hdbscan, cpu_default=True,
              predict=_library_predict("hdbscan"), memberships=_library_memberships("hdbscan"),
              can_predict=_has_prediction_data),
    Clusterer("native", ("gpu",), ("cpu", "cuda"), _native, device_arrays=True, owns=_is_native, gpu_default=True,
              predict=lambda model, X: model.approximate_predict(X), memberships=_native_memberships),
    Clusterer("cuml", (), ("cuda",), _cuml, device_arrays=True, owns=is_cuml,
              predict=_library_predict("cuml.cluster.hdbscan"),
              memberships=_library_memberships("cuml.cluster.hdbscan"), can_predict=_has_prediction_data),
])


def make_clusterer(spec: Any, *, device: str, min_cluster_size: int):
    """The HDBSCAN model for an ``hdbscan_model`` slot value (objects are returned unchanged)."""
    if spec is not None and not isinstance(spec, str):
        if not callable(getattr(spec, "fit", None)):
            raise InputError(f"hdbscan_model must have fit(X) and labels_; got {type(spec).__name__}.")
        return spec
    return CLUSTERERS.build(spec, device, min_cluster_size=min_cluster_size)


def model_input(model: Any, X, backend: Backend):
    """``X`` as ``model`` takes it: CuPy for models that accept device arrays, else NumPy."""
    return feed(model, X, backend, (CLUSTERERS, REDUCERS))


def _host_labels(labels, strengths) -> tuple[np.ndarray, np.ndarray | None]:
    labels = to_numpy(labels).astype(np.int64).ravel()
    return labels, (None if strengths is None else to_numpy(strengths).astype(np.float64).ravel())


def fit_cluster(model: Any, X, backend: Backend, y=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Fit on reduced points (passing class labels ``y`` to a ``fit`` that declares them);
    return host ``(labels, strengths)`` (strengths may be None)."""
    X_in = model_input(model, X, backend)
    if y is not None and takes(model.fit, "y"):
        model.fit(X_in, y=y)
    else:
        if needs(model.fit, "y"):
            raise InputError(f"hdbscan_model {type(model).__name__} needs labels to fit (a classifier?): pass y, "
                             "one integer class per document, to fit / fit_transform.")
        model.fit(X_in)
    labels = getattr(model, "labels_", None)
    if labels is None:
        if not callable(getattr(model, "predict", None)):
            raise InputError(f"hdbscan_model {type(model).__name__} has neither labels_ after fit nor predict(X).")
        labels = model.predict(X_in)
    return _host_labels(labels, getattr(model, "probabilities_", None))


def predict(model: Any, X, backend: Backend) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Cluster labels (and strengths) of new reduced points, or None if the model cannot predict."""
    entry = CLUSTERERS.entry_of(model)
    if entry is not None and not entry.can_predict(model):
        logger.warning(
            "hdbscan_model was fitted without prediction_data=True, so it cannot place new points: "
            "assigning new documents to the most similar topic embedding instead."
        )
        return None
    X_in = model_input(model, X, backend)
    if entry is not None:
        return _host_labels(*entry.predict(model, X_in))
    if callable(getattr(model, "predict", None)):
        return _host_labels(model.predict(X_in), None)
    return None


def soft_memberships(model: Any, X=None, backend: Backend | None = None) -> np.ndarray:
    """Per-cluster membership probabilities (n x n_clusters): of the training points when
    ``X`` is None, else of new reduced points ``X``."""
    entry = CLUSTERERS.entry_of(model)
    if entry is None or (entry.name == "native" and not callable(getattr(model, "membership_vectors", None))):
        raise InputError(
            "calculate_probabilities=True needs soft cluster memberships, which only the hdbscan "
            f"library's, cuML's and gputopic's HDBSCAN provide; the clustering model is {type(model).__name__}. "
            "Use hdbscan_model='hdbscan' (CPU) or 'native', or set calculate_probabilities=False."
        )
    return to_numpy(entry.memberships(model, None if X is None else model_input(model, X, backend)))


# ------------------------------------------------------ the neighbour vote of transform

#: Neighbours in the similarity-weighted vote of :func:`vote` (chosen by
#: ``bench/transform_agreement.py``: see bench/RESULTS.md, 2026-12-06, transform agreement).
VOTE_K = 5


def training_votes(rows, model: Any, cluster_to_topic: dict) -> tuple[Any, np.ndarray] | None:
    """``(embeddings, topics)`` of the documents a fitted clustering model labelled: ``rows``
    (the reducer's training embeddings, see :func:`gputopic.reduce.training_rows`) and the
    topics their clusters name now (outliers -1). None when either is unknown or they do not
    match row for row (e.g. a reducer fitted on a sample of the clustered documents)."""
    labels = getattr(model, "labels_", None)
    if rows is None or labels is None or not cluster_to_topic:
        return None
    labels = to_numpy(labels).astype(np.int64).ravel()
    if len(labels) != rows.shape[0] or len(labels) == 0:
        return None
    return rows, np.asarray([cluster_to_topic.get(int(c), -1) for c in labels], dtype=np.int64)


#: bytes of one block of query-by-training similarities in :func:`vote`
VOTE_BLOCK_BYTES = 256 << 20


def vote_rows(n_train: int, chunk: int) -> int:
    """Queries per block of :func:`vote`: at most ``chunk``, and at most what keeps a block of
    fp32 similarities to ``n_train`` documents within :data:`VOTE_BLOCK_BYTES` (at least 1)."""
    return max(1, min(int(chunk), VOTE_BLOCK_BYTES // max(1, 4 * int(n_train))))


def vote(train, train_topics: np.ndarray, emb, backend: Backend, k: int = VOTE_K, chunk: int = 4096):
    """Host ``(topics, shares)`` of new embeddings ``emb``: among the ``k`` training documents
    most cosine-similar to a document, each votes for its topic (outliers -1 are a topic
    here) with its similarity (negative ones count 0); the topic with the largest sum wins,
    ties to the one of the nearest voter. ``shares``: the winner's part of the votes, 0 for
    an outlier. The same rule for any document, trained on or new. At most ``chunk`` queries
    at a time, fewer where their similarity block would pass :data:`VOTE_BLOCK_BYTES` (the
    search is exact, so its time grows with queries x training documents)."""
    xp = backend.xp
    chunk = vote_rows(len(train_topics), chunk)
    ids, index = np.unique(train_topics, return_inverse=True)
    A = backend.asarray(train, dtype=xp.float32)
    # the training rows are not copied (10M x 384 would be 15 GB more): each block's dot
    # products are divided by the rows' norms instead (einsum: no n x d temporary)
    inv_norm = 1.0 / xp.maximum(xp.sqrt(xp.einsum("ij,ij->i", A, A)), 1e-12)
    Q = backend.asarray(emb, dtype=xp.float32)
    Q = Q / xp.maximum(xp.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
    index = xp.asarray(index)
    k = min(int(k), A.shape[0])
    # nearer voters weigh a hair more, so that equal sums go to the nearest one's topic
    rank_bonus = xp.asarray(1e-6 * (k - np.arange(k)), dtype=xp.float32)
    topics, shares = [], []
    for start in range(0, Q.shape[0], chunk):
        S = (Q[start:start + chunk] @ A.T) * inv_norm[None, :]
        idx = xp.argpartition(-S, k - 1, axis=1)[:, :k] if k < A.shape[0] else xp.broadcast_to(
            xp.arange(k), S.shape)
        sims = xp.take_along_axis(S, idx, axis=1)
        order = xp.argsort(-sims, axis=1)
        idx, sims = xp.take_along_axis(idx, order, axis=1), xp.take_along_axis(sims, order, axis=1)
        weights = xp.maximum(sims, 0) + rank_bonus
        scores = xp.zeros((S.shape[0], len(ids)), dtype=xp.float32)
        rows = xp.arange(S.shape[0])
        for j in range(k):  # one voter per row in each column: no index repeats within an update
            scores[rows, index[idx[:, j]]] += weights[:, j]
        best = xp.argmax(scores, axis=1)
        topics.append(to_numpy(best))
        shares.append(to_numpy(scores[rows, best] / scores.sum(axis=1)))
    topics = ids[np.concatenate(topics)]
    shares = np.where(topics >= 0, np.concatenate(shares).astype(np.float64), 0.0)
    return topics, shares

