"""Term counting: one document-term matrix, aggregated per topic by a sparse product.

BERTopic joins all documents of a topic into one string and counts the joined strings.
Here each document is counted once (the vectorizer's CSR output) and the per-topic
counts are ``onehot(topics).T @ X``: the same numbers for unigrams, no giant strings, and
no n-grams that straddle two documents. ``X`` stays available for representative
documents and for counting documents per topic without recounting.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from .device import Backend, to_numpy
from .exceptions import InputError

_NON_ALNUM = re.compile(r"[^A-Za-z0-9 ]+")
_SPACE = re.compile(r"[\n\t\r]")


def default_vectorizer():
    """BERTopic's default counter plus English stop words: unigrams, ``CountVectorizer``."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(stop_words="english")


def clean(docs: Sequence[str]) -> list[str]:
    """The cleaning BERTopic applies before counting English text: whitespace, punctuation."""
    return [_NON_ALNUM.sub("", _SPACE.sub(" ", d)) for d in docs]


def doc_term_matrix(vectorizer: Any, docs: Sequence[str], backend: Backend, fit: bool = True,
                    n_jobs: int | None = None):
    """Count terms of every document once: a CSR matrix (n_docs x n_terms) on ``backend``.

    Large corpora counted by a plain scikit-learn ``CountVectorizer`` (no min_df, max_df,
    max_features or fixed vocabulary) are cleaned and counted in parallel chunks whose
    vocabularies are merged afterwards: the same matrix as one ``fit_transform``, on all cores.
    """
    try:
        if fit and _parallel_ok(vectorizer, len(docs), n_jobs):
            X = _parallel_fit_transform(vectorizer, docs, n_jobs)
        else:
            cleaned = clean(docs)
            X = vectorizer.fit_transform(cleaned) if fit else vectorizer.transform(cleaned)
    except ValueError as exc:
        if "empty vocabulary" in str(exc):
            raise InputError(
                "No terms left to count: every document is empty or made of stop words only "
                f"({exc}). Pass documents with real words, or a vectorizer_model with other "
                "stop_words / min_df settings."
            ) from exc
        raise
    return backend.assparse(X)


PARALLEL_MIN_DOCS = 50_000


def _parallel_ok(vectorizer: Any, n_docs: int, n_jobs: int | None) -> bool:
    from sklearn.feature_extraction.text import CountVectorizer

    jobs = _jobs(n_jobs)
    return (
        type(vectorizer) is CountVectorizer
        and jobs > 1
        and n_docs >= PARALLEL_MIN_DOCS
        and vectorizer.min_df in (1, 1.0) and vectorizer.max_df in (1, 1.0)
        and vectorizer.max_features is None and vectorizer.vocabulary is None
    )


def _jobs(n_jobs: int | None) -> int:
    import os

    if n_jobs is None or n_jobs < 1:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return n_jobs


def _count_chunk(vectorizer: Any, docs: Sequence[str]):
    from sklearn.base import clone

    vec = clone(vectorizer)
    try:
        X = vec.fit_transform(clean(docs))
    except ValueError as exc:  # a chunk of stop words only: no terms here
        if "empty vocabulary" not in str(exc):
            raise
        import scipy.sparse

        return np.array([], dtype=object), scipy.sparse.csr_matrix((len(docs), 0), dtype=np.int64)
    return vec.get_feature_names_out(), X.tocsr()


def _parallel_fit_transform(vectorizer: Any, docs: Sequence[str], n_jobs: int | None):
    import scipy.sparse
    from joblib import Parallel, delayed

    jobs = _jobs(n_jobs)
    size = -(-len(docs) // (jobs * 2))
    chunks = [docs[i:i + size] for i in range(0, len(docs), size)]
    parts = Parallel(n_jobs=jobs)(delayed(_count_chunk)(vectorizer, c) for c in chunks)
    vocab = np.unique(np.concatenate([terms for terms, _ in parts]))
    if vocab.size == 0:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    blocks = []
    for terms, X in parts:
        cols = np.searchsorted(vocab, terms)
        blocks.append(scipy.sparse.csr_matrix((X.data, cols[X.indices], X.indptr), shape=(X.shape[0], vocab.size)))
    X = scipy.sparse.vstack(blocks, format="csr")
    X.sort_indices()
    vectorizer.vocabulary_ = {str(t): i for i, t in enumerate(vocab.tolist())}
    vectorizer.fixed_vocabulary_ = False
    return X


def vocabulary(vectorizer: Any) -> list[str]:
    """The vectorizer's terms in column order."""
    if hasattr(vectorizer, "get_feature_names_out"):
        return [str(t) for t in to_numpy(vectorizer.get_feature_names_out()).tolist()]
    return [str(t) for t in vectorizer.get_feature_names()]


def one_hot(labels, n_classes: int, backend: Backend):
    """Sparse (n_docs x n_classes) indicator matrix of integer class indices ``labels``."""
    xp, sp = backend.xp, backend.sp
    labels = xp.asarray(labels)
    n = labels.shape[0]
    if n and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError("class indices must lie in [0, n_classes)")
    ones = xp.ones(n, dtype=xp.float32)
    return sp.csr_matrix((ones, (xp.arange(n), labels)), shape=(n, n_classes))


def class_term_matrix(X, class_index, n_classes: int, backend: Backend):
    """Per-class term counts ``onehot(class_index).T @ X`` (n_classes x n_terms, CSR float)."""
    H = one_hot(class_index, n_classes, backend)
    return (H.T.tocsr() @ X.astype(backend.xp.float32)).tocsr()


def class_means(E, class_index, n_classes: int, backend: Backend):
    """Mean of the rows of dense ``E`` per class (n_classes x dim); empty classes give zeros."""
    xp = backend.xp
    H = one_hot(class_index, n_classes, backend)
    sums = H.T.tocsr() @ E
    counts = xp.asarray(H.sum(axis=0)).ravel()
    return sums / xp.maximum(counts, 1)[:, None]


def labels_to_index(topics) -> tuple[np.ndarray, np.ndarray]:
    """Map topic ids (``-1`` first, then ``0..K-1``) to dense row indices ``0..n-1``."""
    topics = np.asarray(topics)
    ids = np.unique(topics)
    return ids, np.searchsorted(ids, topics)
