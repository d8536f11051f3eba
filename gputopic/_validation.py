"""Argument checks shared by the estimator, the topic operations, the figures and the CLI.

Each check raises :class:`InputError` with a message that names the argument, what was
given and what is expected, and returns the value in the form the caller works with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import is_on_gpu, text_list, to_numpy
from .exceptions import InputError, NotFittedError


def check_int(name: str, value: Any, low: int, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        extra = " or None" if none_ok else ""
        raise InputError(f"{name} must be an integer >= {low}{extra}, got {value!r}.")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}.")


def check_number(name: str, value: Any) -> float:
    """``value`` as a finite float, or an InputError naming the parameter and the value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not np.isfinite(number):
        raise InputError(f"{name} must be a finite number, got {value!r}.")
    return number


def check_fitted(model: Any) -> None:
    """A :class:`NotFittedError` unless ``model`` has been fitted (or loaded)."""
    if not hasattr(model, "topic_representations_"):
        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet: call fit(documents) or "
            f"{type(model).__name__}.load(path) first."
        )


def validate_documents(documents: Any, blank_ok: bool = False) -> list[str]:
    """Documents as a list of str, or an :class:`InputError` naming the bad items. Empty or
    whitespace-only documents are refused unless ``blank_ok`` (the estimator then makes them
    outliers, as BERTopic users expect of their empty posts)."""
    if documents is None:
        raise InputError("documents is None: pass a list of strings (one per document).")
    docs = text_list(documents)
    if len(docs) == 0:
        raise InputError("The corpus is empty: pass at least one document.")
    not_str = [i for i, d in enumerate(docs) if not isinstance(d, str)]
    if not_str:
        kinds = sorted({type(docs[i]).__name__ for i in not_str})
        raise InputError(
            f"{len(not_str)} documents are not strings (types {kinds}, first at positions "
            f"{not_str[:5]}). Drop or convert them, e.g. [str(d) for d in docs if d is not None]."
        )
    blank = [] if blank_ok else [i for i, d in enumerate(docs) if not d.strip()]
    if blank:
        raise InputError(
            f"{len(blank)} documents are empty or whitespace only (first at positions {blank[:5]}). "
            "Filter them out first, e.g. [d for d in docs if d.strip()]."
        )
    return docs


def class_labels(y: Any, n: int) -> np.ndarray:
    """``y`` as host int64 class labels: one per document, integers >= -1 (-1 = unknown)."""
    t = np.asarray(to_numpy(y) if is_on_gpu(y) else y)
    if t.ndim != 1 or t.shape[0] != n or (t.size and t.dtype.kind not in "iu"):
        raise InputError(f"y must hold one integer class label per document ({n}), -1 where unknown; got "
                         f"{t.dtype} values of shape {t.shape}. Map other labels to integers first, e.g. "
                         "pandas.factorize(labels)[0].")
    if t.min() < -1:
        raise InputError(f"y holds {int(t.min())}: class labels are integers >= 0, or -1 where unknown.")
    if (t == -1).all():
        raise InputError("y holds no known label (all -1): leave y out for an unsupervised fit.")
    return t.astype(np.int64)


def topic_array(topics: Any, n: int, what: str) -> np.ndarray:
    """``topics`` as n host int64 topic ids (-1 or >= 0), or an InputError naming ``what``."""
    t = np.asarray(to_numpy(topics))
    if t.ndim != 1 or t.shape[0] != n or (t.size and t.dtype.kind not in "iu"):
        raise InputError(f"{what} must be {n} integer topic ids, one per document; got "
                         f"{t.dtype} values of shape {t.shape}.")
    if t.size and t.min() < -1:
        raise InputError(f"{what} holds {int(t.min())}: topic ids are -1 (outliers) or >= 0.")
    return t.astype(np.int64)


def check_nr_topics(nr_topics: Any) -> None:
    if nr_topics is None or nr_topics == "auto":
        return
    if isinstance(nr_topics, bool) or not isinstance(nr_topics, (int, np.integer)) or nr_topics < 1:
        raise InputError(f"nr_topics must be None, 'auto' or an integer >= 1; got {nr_topics!r}.")
