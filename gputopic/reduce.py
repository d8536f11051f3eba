"""Dimensionality reduction stage: UMAP on the GPU (cuML or gputopic's torch UMAP) or CPU.

The ``umap_model`` slot takes ``None``/``"auto"`` (cuML on CUDA when RAPIDS is installed,
else gputopic's native UMAP, on CUDA or on the CPU), a backend name
(``"cuml"``, ``"native"``/``"gpu"``, ``"umap-learn"``/``"cpu"``), or any object with
``fit_transform`` (and ``transform`` for new documents), used as given.

Defaults are BERTopic's: ``n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine"``.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any

from .device import Backend, cuml_available, optional_import, to_numpy, _try_import
from .exceptions import InputError

logger = logging.getLogger("gputopic")

UMAP_DEFAULTS = {"n_neighbors": 15, "n_components": 5, "min_dist": 0.0, "metric": "cosine"}
NAMES = {"auto": "auto", "cuml": "cuml", "native": "native", "gpu": "native", "umap-learn": "umap-learn", "cpu": "umap-learn"}


def backend_name(spec: Any, device: str) -> str:
    """Which implementation a string/None ``umap_model``/``hdbscan_model`` spec selects."""
    key = "auto" if spec is None else str(spec).lower()
    if key not in NAMES:
        raise InputError(f"Unknown backend {spec!r}: use one of {sorted(NAMES)} or pass a model object.")
    name = NAMES[key]
    if name == "auto":
        if device == "cuda":
            return "cuml" if cuml_available() else "native"
        # on the CPU the native fit runs umap-learn's SGD on every thread (umap-learn with
        # a seed runs it on one): the 20 Newsgroups fit is 2.6x BERTopic's speed warm, with
        # the same quality on average over seeds (bench/RESULTS.md); umap_model="umap-learn"
        # gives BERTopic's layout exactly
        return "native"
    if name == "cuml" and device != "cuda":
        raise InputError("The cuML backend runs on the GPU only: use device='cuda' (or 'auto' on a GPU machine).")
    return name


def make_reducer(spec: Any, *, device: str, random_state: int | None = None):
    """The UMAP model for a ``umap_model`` slot value (objects are returned unchanged)."""
    if spec is not None and not isinstance(spec, str):
        if not callable(getattr(spec, "fit_transform", None)) and not callable(getattr(spec, "fit", None)):
            raise InputError(
                f"umap_model must have fit_transform(X) (or fit(X) and an embedding_ attribute); "
                f"got {type(spec).__name__}."
            )
        return spec
    name = backend_name(spec, device)
    if name == "cuml":
        cuml = optional_import("cuml", "GPU UMAP through RAPIDS")
        return cuml.manifold.UMAP(**UMAP_DEFAULTS, random_state=random_state)
    if name == "native":
        from .native.umap import UMAP

        return UMAP(**UMAP_DEFAULTS, random_state=random_state, device=device)
    umap = optional_import("umap", "CPU UMAP (umap-learn)")
    return umap.UMAP(**UMAP_DEFAULTS, low_memory=False, random_state=random_state)


def accepts_device_arrays(model: Any) -> bool:
    """True for models that take CuPy input: cuML estimators and gputopic's native ones."""
    if getattr(model, "_gputopic_device_arrays", False):
        return True
    cuml = _try_import("cuml") if cuml_available() else None
    return cuml is not None and isinstance(model, cuml.Base)


def _feed(model: Any, X, backend: Backend):
    return X if (backend.is_gpu and accepts_device_arrays(model)) else to_numpy(X)


def n_neighbors_of(model: Any) -> int | None:
    value = getattr(model, "n_neighbors", None)
    return int(value) if isinstance(value, (int, float)) else None


def takes(method: Any, name: str) -> bool:
    """Whether ``method`` declares a parameter ``name`` (e.g. scikit-learn's ``fit(X, y=None)``)."""
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def takes_y(method: Any) -> bool:
    return takes(method, "y")


def fit_reduce(model: Any, X, backend: Backend, y=None):
    """Fit ``model`` on embeddings ``X`` (with class labels ``y``, -1 = unknown, when given)
    and return the reduced points on ``backend``."""
    X_in = _feed(model, X, backend)
    has_fit_transform = callable(getattr(model, "fit_transform", None))
    method = model.fit_transform if has_fit_transform else model.fit
    kwargs = {}
    if y is not None:
        if not takes_y(method):
            raise InputError(f"umap_model {type(model).__name__} takes no labels: its {method.__name__} has no y "
                             "parameter. Use the default UMAP, umap-learn's or cuML's (all take y), or leave y out.")
        kwargs["y"] = y
    with warnings.catch_warnings():
        # umap-learn says so at every seeded fit; the README documents it once
        warnings.filterwarnings("ignore", message=r"n_jobs value .* overridden to 1 by setting random_state")
        out = method(X_in, **kwargs)
        if not has_fit_transform:
            out = model.embedding_
    return backend.asarray(out, dtype=backend.xp.float32)


def transform_reduce(model: Any, X, backend: Backend):
    """Project new embeddings with a fitted reducer, on ``backend``."""
    if not callable(getattr(model, "transform", None)):
        raise InputError(f"The fitted umap_model ({type(model).__name__}) has no transform(X) for new documents.")
    return backend.asarray(model.transform(_feed(model, X, backend)), dtype=backend.xp.float32)
