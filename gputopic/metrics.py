"""Topic-quality metrics: NPMI coherence, topic diversity, NMI / ARI against labels.

The numbers BERTopic users usually take from OCTIS or gensim, computed here on a sparse
document-term matrix so that they are cheap on large corpora and need no extra package:

>>> from gputopic import metrics
>>> metrics.npmi_coherence(model.get_topics(), docs)["mean"]           # doctest: +SKIP
>>> metrics.topic_diversity(model.get_topics())                        # doctest: +SKIP
>>> metrics.clustering_scores(labels, model.topics_)                   # doctest: +SKIP
>>> metrics.evaluate(model, docs, labels)                              # doctest: +SKIP

Every function takes topic words in the shape ``model.get_topics()`` returns,
``{topic: [(word, score), ...]}``, or plain ``{topic: [word, ...]}``, so the same call scores
a GPUTopic, a BERTopic model or any other topic model. The outlier topic ``-1`` is left out
of the word-based metrics unless asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .device import get_backend, text_list, to_numpy
from .exceptions import InputError

__all__ = ["npmi_coherence", "topic_diversity", "clustering_scores", "evaluate"]

OUTLIER = -1


# ------------------------------------------------------------------ topic words


def _word_of(item: Any) -> str:
    """``"word"`` from ``"word"`` or ``("word", score)``."""
    if isinstance(item, str):
        return item
    try:
        return str(item[0])
    except (TypeError, IndexError, KeyError) as exc:
        raise InputError(
            f"Topic words must be strings or (word, score) pairs, as model.get_topics() returns; "
            f"got {item!r}."
        ) from exc


def _top_words(topic_words: Any, top_n: int, include_outliers: bool) -> dict[Any, list[str]]:
    """The first ``top_n`` distinct non-empty words of each topic, outlier topic dropped."""
    if not isinstance(topic_words, Mapping):
        raise InputError(
            "topic_words must be a dict {topic: [(word, score), ...]} or {topic: [word, ...]} "
            f"(e.g. model.get_topics()); got {type(topic_words).__name__}."
        )
    out: dict[Any, list[str]] = {}
    for topic, items in topic_words.items():
        if not include_outliers and _is_outlier(topic):
            continue
        words: list[str] = []
        for item in list(items)[:top_n]:
            word = _word_of(item)
            # BERTopic pads topics with fewer terms than top_n_words with ("", 1e-05)
            if word and word not in words:
                words.append(word)
        out[topic] = words
    if not out:
        extra = "" if include_outliers else " besides the outlier topic -1 (pass include_outliers=True to score it)"
        raise InputError(f"No topics to score{extra}: topic_words has {len(topic_words)} entries.")
    return out


def _is_outlier(topic: Any) -> bool:
    try:
        return int(topic) == OUTLIER
    except (TypeError, ValueError):
        return False


def _check_top_n(top_n: Any, low: int, what: str) -> int:
    if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < low:
        raise InputError(f"top_n must be an integer >= {low} for {what}; got {top_n!r}.")
    return int(top_n)


# ------------------------------------------------------------------------ NPMI


def npmi_coherence(topic_words, documents=None, *, doc_term=None, vocabulary=None, top_n: int = 10,
                   eps: float = 1e-12, include_outliers: bool = False) -> dict:
    """Normalised pointwise mutual information of each topic's top words, by document co-occurrence.

    For the first ``top_n`` words of a topic, every unordered pair ``(wi, wj)`` scores

        NPMI = log(p(wi, wj) / (p(wi) p(wj))) / -log(p(wi, wj))

    where ``p(w)`` is the fraction of documents that contain ``w`` and ``p(wi, wj)`` the
    fraction that contain both. NPMI runs from -1 (never together) through 0 (independent)
    to +1 (always together). A topic scores the mean over its pairs; ``"mean"`` is the
    unweighted mean over topics.

    Conventions:

    - A pair that never co-occurs (including a word that is in the vocabulary but in no
      document) scores exactly -1, the limit of NPMI as ``p(wi, wj) -> 0``.
    - A pair found in every document (``-log p(wi, wj) < eps``) scores +1, the limit for
      complete co-occurrence, instead of 0/0.
    - Words not in the vocabulary (stop words, n-grams, other tokenisations, BERTopic's ""
      padding) are skipped before pairing; ``"skipped_words"`` counts them. A topic with
      fewer than two scorable words gets NaN and is left out of ``"mean"``.
    - The outlier topic -1 is left out unless ``include_outliers=True``.

    Relation to gensim's ``CoherenceModel(coherence="c_npmi")`` (which OCTIS wraps): gensim
    estimates the probabilities from boolean sliding windows of ``window_size=10`` tokens
    instead of whole documents, and adds ``eps=1e-12`` inside both logarithms, so a pair that
    never co-occurs scores ``log(eps / (p(wi) p(wj))) / -log(eps)``: a little above -1
    rather than exactly -1. With a window at least as long as the longest document, each
    document is one window and gensim's probabilities are the ones used here. On short
    texts (titles, tweets) the two agree up to tokenisation and the -1 convention; on long
    documents document co-occurrence is more lenient and gives higher values.

    Parameters
    ----------
    topic_words : dict
        ``{topic: [(word, score), ...]}`` (``model.get_topics()``) or ``{topic: [word, ...]}``,
        words in rank order.
    documents : sequence of str, optional
        The reference corpus, tokenised as gputopic counts terms by default (the same
        cleaning and :func:`gputopic.vectorize.default_vectorizer`).
    doc_term : sparse or dense matrix, optional
        Instead of ``documents``: a precomputed (n_docs x n_terms) count or binary matrix
        (SciPy or CuPy sparse, or a dense array). Only the columns of the topic words are
        used: their co-occurrence counts are ``B.T @ B`` with ``B`` the binarised columns.
    vocabulary : dict or sequence of str
        With ``doc_term``: ``{term: column}`` (a vectorizer's ``vocabulary_``) or the terms in
        column order (``get_feature_names_out()``).
    top_n : int
        Words per topic to pair up (>= 2).
    eps : float
        Tolerance of the complete co-occurrence case above.
    include_outliers : bool
        Also score topic -1.

    Returns
    -------
    dict
        ``{"per_topic": {topic: npmi}, "mean": float, "skipped_words": int, "top_n": int}``
    """
    top_n = _check_top_n(top_n, 2, "NPMI (a topic needs at least two words to pair)")
    words = _top_words(topic_words, top_n, include_outliers)
    X, index = _reference_matrix(documents, doc_term, vocabulary)
    n_docs = X.shape[0]
    if n_docs == 0:
        raise InputError("The reference corpus has no documents: pass documents or a doc_term matrix with rows.")

    needed = sorted({w for ws in words.values() for w in ws if w in index})
    col = {w: i for i, w in enumerate(needed)}
    skipped = sum(1 for ws in words.values() for w in ws if w not in col)
    co = _cooccurrence(X, [index[w] for w in needed])

    per_topic: dict[Any, float] = {}
    for topic, ws in words.items():
        idx = np.array([col[w] for w in ws if w in col], dtype=np.int64)
        per_topic[topic] = _topic_npmi(co, idx, n_docs, eps)
    finite = [v for v in per_topic.values() if not math.isnan(v)]
    mean = float(np.mean(finite)) if finite else float("nan")
    return {"per_topic": per_topic, "mean": mean, "skipped_words": int(skipped), "top_n": top_n}


def _reference_matrix(documents, doc_term, vocabulary):
    """A host CSR document-term matrix and ``{term: column}``, from documents or given."""
    if (documents is None) == (doc_term is None):
        raise InputError(
            "Pass the reference corpus exactly once: either documents (a list of str) or "
            "doc_term= together with vocabulary=."
        )
    if documents is not None:
        from .vectorize import default_vectorizer, doc_term_matrix

        docs = text_list(documents)
        if not docs:
            raise InputError("documents is empty: NPMI needs a reference corpus with at least one document.")
        if not all(isinstance(d, str) for d in docs):
            bad = next(type(d).__name__ for d in docs if not isinstance(d, str))
            raise InputError(f"documents must all be str; found a {bad}.")
        vectorizer = default_vectorizer()
        X = doc_term_matrix(vectorizer, docs, get_backend("cpu"))
        return X, {str(t): int(i) for t, i in vectorizer.vocabulary_.items()}

    if vocabulary is None:
        raise InputError(
            "doc_term needs vocabulary=: the vectorizer's vocabulary_ dict or its "
            "get_feature_names_out() terms in column order."
        )
    X = _as_host_csr(doc_term)
    if isinstance(vocabulary, Mapping):
        index = {str(t): int(i) for t, i in vocabulary.items()}
        n_terms = max(index.values(), default=-1) + 1
    else:
        terms = to_numpy(vocabulary).tolist() if not isinstance(vocabulary, Sequence) else list(vocabulary)
        index = {str(t): i for i, t in enumerate(terms)}
        n_terms = len(terms)
    if n_terms > X.shape[1] or (not isinstance(vocabulary, Mapping) and n_terms != X.shape[1]):
        raise InputError(
            f"vocabulary has {n_terms} terms but doc_term has {X.shape[1]} columns: pass the "
            "vocabulary of the vectorizer that made doc_term."
        )
    return X, index


def _as_host_csr(m: Any):
    import scipy.sparse

    if scipy.sparse.issparse(m):
        return m.tocsr()
    if type(m).__module__.split(".")[0] == "cupyx":  # CuPy sparse: one copy to the host
        return m.get().tocsr()
    arr = to_numpy(m)
    if arr.ndim != 2:
        raise InputError(f"doc_term must be a 2-D (n_docs x n_terms) matrix; got shape {arr.shape}.")
    return scipy.sparse.csr_matrix(arr)


def _cooccurrence(X, cols: list[int]):
    """Documents containing each pair of the given columns: ``B.T @ B``, B binary, as CSR."""
    import scipy.sparse

    B = X[:, cols].tocsr() if cols else scipy.sparse.csr_matrix((X.shape[0], 0))
    B.eliminate_zeros()
    B.data = np.ones_like(B.data, dtype=np.float64)  # float64 counts are exact far beyond any corpus
    return (B.T @ B).tocsr()


def _topic_npmi(co, idx: np.ndarray, n_docs: int, eps: float) -> float:
    if idx.size < 2:
        return float("nan")
    sub = co[idx][:, idx].toarray()
    p = np.diag(sub) / n_docs
    i, j = np.triu_indices(idx.size, k=1)
    p_ij = sub[i, j] / n_docs
    together = p_ij > 0
    scores = np.full(p_ij.shape, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(p_ij[together] / (p[i][together] * p[j][together]))
        denom = -np.log(p_ij[together])
        scores[together] = np.where(denom < eps, 1.0, pmi / np.maximum(denom, eps))
    return float(scores.mean())


# ------------------------------------------------------------------- diversity


def topic_diversity(topic_words, top_n: int = 10, *, include_outliers: bool = False) -> float:
    """Share of distinct words among all topics' top-``top_n`` words (1.0: no word repeats).

    ``unique words / words taken``; the words taken are ``n_topics * top_n`` when every topic
    has at least ``top_n`` words (OCTIS's ``TopicDiversity``), and each topic's own count
    otherwise, so a short topic does not look repetitive. Empty words (BERTopic's padding)
    are ignored; the outlier topic -1 is left out unless ``include_outliers=True``.
    """
    top_n = _check_top_n(top_n, 1, "topic diversity")
    words = _top_words(topic_words, top_n, include_outliers)
    taken = sum(len(ws) for ws in words.values())
    if taken == 0:
        raise InputError("The topics have no words: topic diversity is undefined.")
    return len({w for ws in words.values() for w in ws}) / taken


# ------------------------------------------------------------------ clustering


def clustering_scores(labels_true, topics) -> dict:
    """NMI and ARI of the topic assignments against reference labels.

    The outlier topic -1 counts as one more cluster, as in scikit-learn and BERTopic papers'
    usual evaluation: outliers are not dropped, so a model cannot raise its score by calling
    hard documents outliers. ``topics`` may be a list, NumPy/CuPy array or pandas Series.

    Returns ``{"nmi": float, "ari": float}`` (scikit-learn's
    ``normalized_mutual_info_score`` and ``adjusted_rand_score``).
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    truth, pred = to_numpy(labels_true), to_numpy(topics)
    if truth.ndim != 1 or pred.ndim != 1:
        raise InputError(f"labels and topics must be 1-D; got shapes {truth.shape} and {pred.shape}.")
    if truth.shape[0] != pred.shape[0]:
        raise InputError(
            f"labels has {truth.shape[0]} entries but topics has {pred.shape[0]}: pass one label per document."
        )
    if truth.shape[0] == 0:
        raise InputError("labels and topics are empty: there is nothing to score.")
    return {
        "nmi": float(normalized_mutual_info_score(truth, pred)),
        "ari": float(adjusted_rand_score(truth, pred)),
    }


# -------------------------------------------------------------------- evaluate


def evaluate(model, documents, labels=None, top_n: int = 10) -> dict:
    """All metrics of a fitted topic model on its training documents.

    Uses only ``model.get_topics()`` and ``model.topics_``, so a fitted BERTopic model is
    scored the same way as a GPUTopic. NPMI is computed over ``documents`` with gputopic's
    default tokenisation, whatever vectorizer the model used.

    Returns ``{"n_topics", "outlier_fraction", "npmi", "npmi_per_topic", "skipped_words",
    "diversity"}`` plus ``"nmi"`` and ``"ari"`` when ``labels`` are given.
    """
    if not hasattr(model, "topics_") or not callable(getattr(model, "get_topics", None)):
        raise InputError(
            f"evaluate() needs a fitted topic model with topics_ and get_topics(); got {type(model).__name__}. "
            "Call fit first."
        )
    docs = text_list(documents)
    topics = to_numpy(model.topics_)
    if topics.shape[0] != len(docs):
        raise InputError(
            f"The model has {topics.shape[0]} topic assignments but {len(docs)} documents were passed: "
            "evaluate() scores the documents the model was fitted on."
        )
    topic_words = model.get_topics()
    npmi = npmi_coherence(topic_words, docs, top_n=top_n)
    out = {
        "n_topics": sum(1 for t in topic_words if not _is_outlier(t)),
        "outlier_fraction": float((topics == OUTLIER).mean()) if topics.size else 0.0,
        "npmi": npmi["mean"],
        "npmi_per_topic": npmi["per_topic"],
        "skipped_words": npmi["skipped_words"],
        "diversity": topic_diversity(topic_words, top_n=top_n),
    }
    if labels is not None:
        out.update(clustering_scores(labels, topics))
    return out
