"""Class-based TF-IDF on scipy.sparse or cupyx.scipy.sparse, one code path.

For a (classes x terms) count matrix ``C``:

* term frequency: each row L1-normalised (``tf[c, t] = C[c, t] / sum_t C[c, t]``),
  square-rooted when ``reduce_frequent_words``;
* inverse class frequency: ``idf[t] = log(1 + A / f_t)`` where ``f_t`` is the total count
  of term ``t`` over all classes and ``A`` the average number of words per class
  (truncated to an integer, as BERTopic does); with ``bm25_weighting``,
  ``idf[t] = log(1 + (A - f_t + 0.5) / (f_t + 0.5))``;
* ``c_tf_idf = tf * idf`` (column scaling, the matrix stays sparse).

These are the weights of BERTopic's ``ClassTfidfTransformer``, so topic words agree.
"""

from __future__ import annotations

from typing import Any

from ._params import ParamsMixin
from .device import backend_of
from .exceptions import InputError, NotFittedError


class ClassTfidfTransformer(ParamsMixin):
    """c-TF-IDF weighting, a scikit-learn style transformer (``fit`` / ``transform``).

    Parameters
    ----------
    bm25_weighting : bool, default False
        Use the BM25-style idf ``log(1 + (A - f + 0.5) / (f + 0.5))``, more robust to
        stop words that slipped through.
    reduce_frequent_words : bool, default False
        Take the square root of the term frequencies, damping very frequent words.
    """

    def __init__(self, bm25_weighting: bool = False, reduce_frequent_words: bool = False):
        self.bm25_weighting = bm25_weighting
        self.reduce_frequent_words = reduce_frequent_words

    def fit(self, X, multiplier=None):
        """Learn ``idf_`` from a (classes x terms) count matrix (SciPy or CuPy sparse)."""
        xp = backend_of(X).xp
        X = X.tocsr()
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise InputError(f"c-TF-IDF needs at least one class and one term, got a matrix of shape {X.shape}.")
        freq = xp.asarray(X.sum(axis=0), dtype=xp.float64).ravel()
        avg_words = float(int(float(X.sum(axis=1).mean())))
        if self.bm25_weighting:
            idf = xp.log(1.0 + (avg_words - freq + 0.5) / (freq + 0.5))
        else:
            # terms never counted (possible with a pre-fitted vocabulary) have empty columns
            idf = xp.log(avg_words / xp.maximum(freq, 1e-12) + 1.0)
        if multiplier is not None:
            idf = idf * xp.asarray(multiplier, dtype=xp.float64)
        self.idf_ = idf
        return self

    def transform(self, X):
        """c-TF-IDF of a (classes x terms) count matrix with the fitted ``idf_``."""
        if not hasattr(self, "idf_"):
            raise NotFittedError("ClassTfidfTransformer is not fitted: call fit(X) first.")
        backend = backend_of(X)
        xp, sp = backend.xp, backend.sp
        X = X.tocsr().astype(xp.float64)
        if X.shape[1] != self.idf_.shape[0]:
            raise InputError(f"X has {X.shape[1]} terms but idf_ was fitted on {self.idf_.shape[0]}.")
        row_sums = xp.asarray(X.sum(axis=1)).ravel()
        row_of = xp.repeat(xp.arange(X.shape[0]), xp.diff(X.indptr).astype(xp.int64))
        data = X.data / xp.maximum(row_sums, 1e-300)[row_of]
        if self.reduce_frequent_words:
            data = xp.sqrt(data)
        data = data * self.idf_[X.indices]
        return sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)

    def fit_transform(self, X, multiplier=None):
        return self.fit(X, multiplier).transform(X)


def fit_ctfidf(ctfidf: Any, counts, multiplier=None):
    """``ctfidf.fit_transform(counts)``, with per-term idf multipliers (seed words) when given."""
    from .registry import takes

    if multiplier is None:
        return ctfidf.fit_transform(counts)
    if not takes(ctfidf.fit, "multiplier"):
        raise InputError(f"seed_topic_list weights the seed words through ctfidf_model.fit(X, multiplier=...), "
                         f"which {type(ctfidf).__name__} does not take: use gputopic.ClassTfidfTransformer.")
    return ctfidf.fit(counts, multiplier=multiplier).transform(counts)
