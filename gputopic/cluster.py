"""Clustering stage: HDBSCAN on the GPU (cuML or gputopic's torch HDBSCAN) or CPU.

The ``hdbscan_model`` slot takes ``None``/``"auto"``, a backend name (``"cuml"``,
``"native"``/``"gpu"``, ``"hdbscan"``/``"cpu"``) or any object with ``fit`` and a
``labels_`` attribute (or ``fit_predict``), used as given.

Prediction for new points dispatches on what the fitted model is: the hdbscan library's
and cuML's module-level ``approximate_predict``, a model's own ``approximate_predict``
method (gputopic's native HDBSCAN), or a plain ``predict``. A model with none of these
returns ``None`` and the estimator assigns topics by cosine similarity instead.

Defaults are BERTopic's: ``min_cluster_size=min_topic_size``, euclidean, ``eom``,
``prediction_data=True``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np

from .device import Backend, cuml_available, optional_import, to_numpy, _try_import
from .exceptions import InputError
from .reduce import NAMES as _REDUCE_NAMES, _feed, takes_y

logger = logging.getLogger("gputopic")

NAMES = {k: ("hdbscan" if v == "umap-learn" else v) for k, v in _REDUCE_NAMES.items()}
NAMES["hdbscan"] = "hdbscan"


def _kind(model: Any) -> str:
    """'hdbscan' | 'cuml' | 'native' | 'other': how to call prediction on a fitted model."""
    hdbscan = _try_import("hdbscan")
    if hdbscan is not None and isinstance(model, hdbscan.HDBSCAN):
        return "hdbscan"
    if cuml_available():
        cuml = _try_import("cuml")
        if isinstance(model, cuml.cluster.HDBSCAN):
            return "cuml"
    if callable(getattr(model, "approximate_predict", None)):
        return "native"
    return "other"


def make_clusterer(spec: Any, *, device: str, min_cluster_size: int):
    """The HDBSCAN model for an ``hdbscan_model`` slot value (objects are returned unchanged)."""
    if spec is not None and not isinstance(spec, str):
        if not callable(getattr(spec, "fit", None)):
            raise InputError(f"hdbscan_model must have fit(X) and labels_; got {type(spec).__name__}.")
        return spec
    key = "auto" if spec is None else spec.lower()
    if key not in NAMES:
        raise InputError(f"Unknown hdbscan_model {spec!r}: use one of {sorted(NAMES)} or pass a model object.")
    name = NAMES[key]
    if name == "auto":
        name = ("cuml" if cuml_available() else "native") if device == "cuda" else "hdbscan"
    if name == "cuml" and device != "cuda":
        raise InputError("The cuML backend runs on the GPU only: use device='cuda' (or 'auto' on a GPU machine).")
    params = dict(min_cluster_size=int(min_cluster_size), metric="euclidean",
                  cluster_selection_method="eom", prediction_data=True)
    if name == "cuml":
        cuml = optional_import("cuml", "GPU HDBSCAN through RAPIDS")
        return cuml.cluster.HDBSCAN(**params)
    if name == "native":
        from .native.hdbscan import HDBSCAN

        return HDBSCAN(**params, device=device)
    hdbscan = optional_import("hdbscan", "CPU HDBSCAN")
    return hdbscan.HDBSCAN(**params)


def fit_cluster(model: Any, X, backend: Backend, y=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Fit on reduced points (passing class labels ``y`` to a ``fit`` that declares them);
    return host ``(labels, strengths)`` (strengths may be None)."""
    X_in = _feed(model, X, backend)
    if y is not None and takes_y(model.fit):
        model.fit(X_in, y=y)
    else:
        if _needs_y(model.fit):
            raise InputError(f"hdbscan_model {type(model).__name__} needs labels to fit (a classifier?): pass y, "
                             "one integer class per document, to fit / fit_transform.")
        model.fit(X_in)
    labels = getattr(model, "labels_", None)
    if labels is None:
        if not callable(getattr(model, "predict", None)):
            raise InputError(f"hdbscan_model {type(model).__name__} has neither labels_ after fit nor predict(X).")
        labels = model.predict(X_in)
    strengths = getattr(model, "probabilities_", None)
    labels = to_numpy(labels).astype(np.int64).ravel()
    return labels, (None if strengths is None else to_numpy(strengths).astype(np.float64).ravel())


def _needs_y(method: Any) -> bool:
    """Whether ``method`` has a parameter ``y`` without a default (a classifier's ``fit``)."""
    if not takes_y(method):
        return False
    return inspect.signature(method).parameters["y"].default is inspect.Parameter.empty


def predict(model: Any, X, backend: Backend) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Cluster labels (and strengths) of new reduced points, or None if the model cannot predict."""
    kind = _kind(model)
    if kind in ("hdbscan", "cuml") and not getattr(model, "prediction_data", True):
        logger.warning(
            "hdbscan_model was fitted without prediction_data=True, so it cannot place new points: "
            "assigning new documents to the most similar topic embedding instead."
        )
        return None
    X_in = _feed(model, X, backend)
    if kind == "hdbscan":
        labels, strengths = _try_import("hdbscan").approximate_predict(model, X_in)
    elif kind == "cuml":
        labels, strengths = optional_import("cuml.cluster.hdbscan").approximate_predict(model, X_in)
    elif kind == "native":
        labels, strengths = model.approximate_predict(X_in)
    elif callable(getattr(model, "predict", None)):
        labels, strengths = model.predict(X_in), None
    else:
        return None
    labels = to_numpy(labels).astype(np.int64).ravel()
    return labels, (None if strengths is None else to_numpy(strengths).astype(np.float64).ravel())


def soft_memberships(model: Any, X=None, backend: Backend | None = None) -> np.ndarray:
    """Per-cluster membership probabilities (n x n_clusters): of the training points when
    ``X`` is None, else of new reduced points ``X``."""
    kind = _kind(model)
    if kind == "hdbscan":
        mod = _try_import("hdbscan")
    elif kind == "cuml":
        mod = optional_import("cuml.cluster.hdbscan")
    elif kind == "native" and callable(getattr(model, "membership_vectors", None)):
        return to_numpy(model.membership_vectors(None if X is None else _feed(model, X, backend)))
    else:
        raise InputError(
            "calculate_probabilities=True needs soft cluster memberships, which only the hdbscan "
            f"library's and cuML's HDBSCAN provide; the clustering model is {type(model).__name__}. "
            "Use hdbscan_model='hdbscan' (CPU) or 'cuml', or set calculate_probabilities=False."
        )
    if X is None:
        return to_numpy(mod.all_points_membership_vectors(model))
    return to_numpy(mod.membership_vector(model, _feed(model, X, backend)))
