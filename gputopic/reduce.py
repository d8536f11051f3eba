"""Dimensionality reduction stage: UMAP on the GPU (gputopic's torch UMAP, or cuML's) or CPU.

The ``umap_model`` slot takes ``None``/``"auto"``, a backend name of :data:`REDUCERS`
(``"native"``/``"gpu"``: gputopic's UMAP, torch on CUDA, umap-learn's SGD in numba on every
CPU thread; ``"umap-learn"``/``"cpu"``: BERTopic's exact layout; ``"cuml"``: RAPIDS, GPU
only), or any object with ``fit_transform`` (or ``fit`` and ``embedding_``) and, for new
documents, ``transform``, used as given.

Defaults are BERTopic's: ``n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine"``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from .device import Backend, optional_import, try_import, cuml_available
from .exceptions import InputError
from .registry import Implementation, Registry, feed, takes

logger = logging.getLogger("gputopic")

UMAP_DEFAULTS = {"n_neighbors": 15, "n_components": 5, "min_dist": 0.0, "metric": "cosine"}


def _native(device: str, random_state: int | None = None):
    from .native.umap import UMAP

    return UMAP(**UMAP_DEFAULTS, random_state=random_state, device=device)


def _umap_learn(device: str, random_state: int | None = None):
    umap = optional_import("umap", "CPU UMAP (umap-learn)")
    return umap.UMAP(**UMAP_DEFAULTS, low_memory=False, random_state=random_state)


def _cuml(device: str, random_state: int | None = None):
    cuml = optional_import("cuml", "GPU UMAP through RAPIDS")
    return cuml.manifold.UMAP(**UMAP_DEFAULTS, random_state=random_state)


def is_cuml(model: Any) -> bool:
    """A RAPIDS cuML estimator (they take CuPy input)."""
    cuml = try_import("cuml") if cuml_available() else None
    base = getattr(cuml, "Base", None)
    return base is not None and isinstance(model, base)


def _is_umap_learn(model: Any) -> bool:
    umap = try_import("umap") if type(model).__module__.startswith("umap") else None
    return umap is not None and isinstance(model, umap.UMAP)


def _is_native(model: Any) -> bool:
    return type(model).__module__ == "gputopic.native.umap"


# "auto": the native UMAP on CUDA and on the CPU (on the CPU it runs umap-learn's SGD on
# every thread; umap_model="umap-learn" gives BERTopic's layout exactly)
REDUCERS = Registry("umap_model", [
    Implementation("native", ("gpu",), ("cpu", "cuda"), _native, device_arrays=True, owns=_is_native,
                   cpu_default=True, gpu_default=True),
    Implementation("umap-learn", ("cpu",), ("cpu", "cuda"), _umap_learn, owns=_is_umap_learn),
    Implementation("cuml", (), ("cuda",), _cuml, device_arrays=True, owns=is_cuml),
])


def make_reducer(spec: Any, *, device: str, random_state: int | None = None):
    """The UMAP model for a ``umap_model`` slot value (objects are returned unchanged)."""
    if spec is not None and not isinstance(spec, str):
        if not callable(getattr(spec, "fit_transform", None)) and not callable(getattr(spec, "fit", None)):
            raise InputError(
                f"umap_model must have fit_transform(X) (or fit(X) and transform(X)); "
                f"got {type(spec).__name__}."
            )
        return spec
    return REDUCERS.build(spec, device, random_state=random_state)


def model_input(model: Any, X, backend: Backend):
    """``X`` as ``model`` takes it: CuPy for models that accept device arrays, else NumPy."""
    return feed(model, X, backend, (REDUCERS,))


def n_neighbors_of(model: Any) -> int | None:
    value = getattr(model, "n_neighbors", None)
    return int(value) if isinstance(value, (int, float)) else None


def fit_reduce(model: Any, X, backend: Backend, y=None):
    """Fit ``model`` on embeddings ``X`` (with class labels ``y``, -1 = unknown, when given)
    and return the reduced points on ``backend``."""
    X_in = model_input(model, X, backend)
    has_fit_transform = callable(getattr(model, "fit_transform", None))
    method = model.fit_transform if has_fit_transform else model.fit
    kwargs = {}
    if y is not None:
        if not takes(method, "y"):
            raise InputError(f"umap_model {type(model).__name__} takes no labels: its {method.__name__} has no y "
                             "parameter. Use the default UMAP, umap-learn's or cuML's (all take y), or leave y out.")
        kwargs["y"] = y
    with warnings.catch_warnings():
        # umap-learn says so at every seeded fit; docs/parameters.md says it once
        warnings.filterwarnings("ignore", message=r"n_jobs value .* overridden to 1 by setting random_state")
        out = method(X_in, **kwargs)
    if not has_fit_transform:  # fit, then the points: embedding_ (UMAP-like) or transform
        out = getattr(model, "embedding_", None)
        if out is None:
            if not callable(getattr(model, "transform", None)):
                raise InputError(f"umap_model {type(model).__name__} has fit but neither fit_transform, an "
                                 "embedding_ attribute after fit, nor transform: give it fit_transform(X).")
            out = model.transform(X_in)
    return backend.asarray(out, dtype=backend.xp.float32)


def transform_reduce(model: Any, X, backend: Backend):
    """Project new embeddings with a fitted reducer, on ``backend``."""
    if not callable(getattr(model, "transform", None)):
        raise InputError(f"The fitted umap_model ({type(model).__name__}) has no transform(X) for new documents.")
    return backend.asarray(model.transform(model_input(model, X, backend)), dtype=backend.xp.float32)


def training_rows(model: Any):
    """The embeddings a fitted reducer was fitted on, when it keeps them: umap-learn's and
    gputopic's UMAP hold them (``_raw_data``) for their own ``transform``; None for any
    other reducer (cuML's, PCA, a custom object)."""
    entry = REDUCERS.entry_of(model)
    if entry is None or entry.name not in ("native", "umap-learn"):
        return None
    return getattr(model, "_raw_data", None)

