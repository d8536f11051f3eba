"""Topic representations: top-n words per topic from the c-TF-IDF matrix, and MMR.

``top_n_per_row`` takes each row's largest entries by sorting only the stored non-zeros
(one lexicographic sort on (row, -value)), never a dense argsort over the vocabulary.

A representation model is any object with a ``represent(topic_words, *, embed)`` method
that receives explicit inputs and returns new ``{topic: [(word, score), ...]}``; it never
reaches into the estimator. What else it needs it declares: a ``representative_docs``
keyword receives ``{topic: [document, ...]}``; attributes ``nr_candidate_words`` and
``nr_repr_docs`` ask for that many candidate words (best c-TF-IDF first) and
representative documents per topic. The words are cut to the model's ``top_n_words`` at
the end. Shipped here: :class:`MaximalMarginalRelevance` and :class:`KeyBERTInspired`.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from .bertopic_compat import wrap
from .device import backend_of, to_numpy
from .exceptions import InputError
from .registry import takes


def top_n_per_row(M, n: int) -> list[list[tuple[int, float]]]:
    """For each row of a sparse matrix, its ``n`` largest (column, value) pairs, value-descending.

    Ties are broken by the smaller column index, so results are deterministic and equal on
    CPU and GPU. Zero and negative entries are left out.
    """
    xp = backend_of(M).xp
    M = M.tocsr()
    n_rows = M.shape[0]
    counts = xp.diff(M.indptr).astype(xp.int64)
    rows = xp.repeat(xp.arange(n_rows), counts)
    # lexsort: the last key is the primary one -> by row, then value descending, then column
    order = xp.lexsort(xp.stack([M.indices.astype(xp.float64), -M.data.astype(xp.float64), rows.astype(xp.float64)]))
    rank = xp.arange(order.shape[0]) - M.indptr[:-1].astype(xp.int64)[rows[order]]
    keep = order[(rank < n) & (M.data[order] > 0)]
    rows_h, cols_h, vals_h = to_numpy(rows[keep]), to_numpy(M.indices[keep]), to_numpy(M.data[keep])
    out: list[list[tuple[int, float]]] = [[] for _ in range(n_rows)]
    for r, c, v in zip(rows_h.tolist(), cols_h.tolist(), vals_h.tolist()):
        out[r].append((c, v))
    return out


def topic_words(c_tf_idf, topic_ids: Sequence[int], vocab: Sequence[str], n: int) -> dict[int, list[tuple[str, float]]]:
    """``{topic: [(word, score), ...]}`` from the rows of the c-TF-IDF matrix."""
    rows = top_n_per_row(c_tf_idf, n)
    return {int(t): [(vocab[c], float(v)) for c, v in row] for t, row in zip(topic_ids, rows)}


def unit_rows(M):
    """Rows scaled to unit L2 norm (zero rows stay zero), in float64 on the host: a dense
    array stays dense, a SciPy or CuPy sparse matrix becomes a SciPy CSR matrix."""
    if hasattr(M, "tocsr"):
        M = M.tocsr()
        M = (M.get() if hasattr(M, "get") else M).astype(np.float64)
        norms = np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).ravel())
        return M.multiply(1.0 / np.maximum(norms, 1e-300)[:, None]).tocsr()
    A = to_numpy(M).astype(np.float64)
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-300)


def cosine(a, b) -> np.ndarray:
    """Cosine similarities of the rows of ``a`` and ``b`` (dense or sparse, host or device)
    as a dense host float64 array; a zero row is similar to nothing (0)."""
    S = unit_rows(a) @ unit_rows(b).T
    return S.toarray() if hasattr(S, "toarray") else np.asarray(S)


def _as_list(models) -> list:
    return [] if models is None else list(models) if isinstance(models, (list, tuple)) else [models]


def _every_model(models) -> list:
    """All representation models of a slot value: one, a list, or a dict of aspects."""
    if isinstance(models, dict):
        return [m for value in models.values() for m in _as_list(value)]
    return _as_list(models)


def check_representation(models) -> None:
    """An :class:`InputError` unless ``models`` is None, a representation model, a list of
    them, or a dict ``{aspect name: model, list or None}`` (BERTopic's multi-aspect form);
    BERTopic's own representation models count (they run through
    :mod:`gputopic.bertopic_compat`)."""
    models = wrap(models)
    if isinstance(models, dict) and not all(isinstance(k, str) and k for k in models):
        raise InputError(f"representation_model as a dict maps aspect names (strings, 'Main' for the topic "
                         f"words) to models; got keys {list(models)[:5]}.")
    for m in _every_model(models):
        if not callable(getattr(m, "represent", None)):
            raise InputError(
                f"representation_model must have a represent(topic_words, *, embed) method "
                f"(e.g. gputopic.MaximalMarginalRelevance); got {type(m).__name__}."
            )


def word_budget(models, top_n_words: int) -> int:
    """How many c-TF-IDF words per topic the representation models start from."""
    return max([int(top_n_words)] + [int(getattr(m, "nr_candidate_words", 0) or 0) for m in _every_model(models)])


def docs_budget(models, n: int = 3) -> int:
    """How many representative documents per topic to find (``n`` are kept on the model)."""
    return max([n] + [int(getattr(m, "nr_repr_docs", 0) or 0) for m in _every_model(models)])


def _run(models, words: dict, embed, inputs: Mapping, top_n_words: int) -> dict:
    for m in _as_list(models):
        words = m.represent(words, embed=embed, **{k: v for k, v in inputs.items() if takes(m.represent, k)})
    return {t: list(w)[: int(top_n_words)] for t, w in words.items()}


def apply_representation(models, words: dict, embed: Callable[[list[str]], np.ndarray], inputs: Mapping,
                         top_n_words: int) -> tuple[dict, dict]:
    """Run the representation models in order on ``words``, each given those of ``inputs``
    (``representative_docs``, ``c_tf_idf``, ``topic_ids``, ``vocabulary``) that its
    ``represent`` declares, and cut each topic to ``top_n_words``: ``(topic words, aspects)``.
    A dict of models gives its ``"Main"`` entry's result as the topic words (the c-TF-IDF
    words without one) and every other entry's as the aspect of that name, each starting
    from ``words``."""
    models = wrap(models)
    if isinstance(models, dict):
        aspects = {name: _run(m, words, embed, inputs, top_n_words) for name, m in models.items() if name != "Main"}
        return _run(models.get("Main"), words, embed, inputs, top_n_words), aspects
    return _run(models, words, embed, inputs, top_n_words), {}


def describe(c_tf_idf, ids, vocab: Sequence[str], models, top_n_words: int,
             embed_fn: Callable[[], Callable[[list[str]], np.ndarray]],
             representatives: Callable[[object, int], list[list[str]]],
             previous: Mapping[int, list[str]] | None = None):
    """What describes each topic: ``(words, aspects, representative documents)``. The words
    are the c-TF-IDF's best (as many as the representation models ask for), re-ranked by
    ``models`` (``embed_fn()`` gives them their ``embed``, built only when there are models)
    and cut to ``top_n_words``; ``representatives(c_tf_idf, n)`` gives each topic's ``n``
    documents most similar to its row (n as the models ask for, at least 3), in ``ids``
    order; a topic without documents there keeps its ``previous`` ones."""
    models = wrap(models)  # BERTopic's representation models, as gputopic's
    words = topic_words(c_tf_idf, [int(t) for t in ids], vocab, word_budget(models, top_n_words))
    found = representatives(c_tf_idf, docs_budget(models))
    previous = previous or {}
    representative = {int(t): list(r) or list(previous.get(int(t), [])) for t, r in zip(ids, found)}
    aspects: dict = {}
    if models is not None:
        inputs = {"representative_docs": representative, "c_tf_idf": c_tf_idf, "topic_ids": [int(t) for t in ids],
                  "vocabulary": list(vocab)}
        words, aspects = apply_representation(models, words, embed_fn(), inputs, top_n_words)
    return words, aspects, representative


def representatives_in(X, index, docs: Sequence[str]) -> Callable[[object, int], list[list[str]]]:
    """The ``representatives`` of :func:`describe` for documents in memory: ``docs``, their
    term counts ``X`` and their topic rows ``index``."""
    return lambda c_tf_idf, n: [[docs[i] for i in r] for r in representative_docs(X, c_tf_idf, index, n)]


class MaximalMarginalRelevance:
    """Re-rank each topic's candidate words for relevance to the topic and mutual diversity.

    Each step picks the candidate maximising
    ``(1 - diversity) * sim(word, topic) - diversity * max sim(word, already picked)``,
    where the topic vector is the mean of the candidate word embeddings weighted by
    their c-TF-IDF scores.

    Parameters
    ----------
    diversity : float in [0, 1], default 0.1
        0 keeps the c-TF-IDF order, 1 maximises diversity.
    top_n_words : int, default 10
        Words kept per topic.
    """

    def __init__(self, diversity: float = 0.1, top_n_words: int = 10):
        self.diversity = diversity
        self.top_n_words = top_n_words

    def represent(
        self,
        topic_words: Mapping[int, list[tuple[str, float]]],
        *,
        embed: Callable[[list[str]], np.ndarray],
    ) -> dict[int, list[tuple[str, float]]]:
        if not 0.0 <= float(self.diversity) <= 1.0:
            raise InputError(f"diversity must lie in [0, 1], got {self.diversity!r}.")
        if int(self.top_n_words) < 1:
            raise InputError(f"top_n_words must be >= 1, got {self.top_n_words!r}.")
        out = {}
        for topic, pairs in topic_words.items():
            words = [w for w, _ in pairs]
            if len(words) <= 1:
                out[topic] = list(pairs)
                continue
            scores = np.asarray([s for _, s in pairs], dtype=np.float64)
            vecs = to_numpy(embed(words)).astype(np.float64)
            target = (scores[:, None] * vecs).sum(0, keepdims=True)
            relevance = cosine(vecs, target).ravel()
            pairwise = cosine(vecs, vecs)
            picked = [int(np.argmax(relevance))]
            rest = [i for i in range(len(words)) if i != picked[0]]
            while rest and len(picked) < int(self.top_n_words):
                redundancy = pairwise[np.ix_(rest, picked)].max(axis=1)
                mmr = (1 - self.diversity) * relevance[rest] - self.diversity * redundancy
                best = rest[int(np.argmax(mmr))]
                picked.append(best)
                rest.remove(best)
            out[topic] = [(words[i], float(relevance[i])) for i in picked]
        return out


class KeyBERTInspired:
    """Re-rank each topic's candidate words by how similar their embeddings are to the
    topic's embedding, the mean embedding of its representative documents (BERTopic's
    ``KeyBERTInspired``; scores become those cosine similarities).

    Parameters
    ----------
    top_n_words : int, default 10
        Words kept per topic.
    nr_repr_docs : int, default 5
        Representative documents per topic that make its embedding: those whose term counts
        are most similar to the topic's c-TF-IDF row (all documents compared, none sampled).
    nr_candidate_words : int, default 100
        The topic's best c-TF-IDF words that are re-ranked.
    """

    def __init__(self, top_n_words: int = 10, nr_repr_docs: int = 5, nr_candidate_words: int = 100):
        self.top_n_words = top_n_words
        self.nr_repr_docs = nr_repr_docs
        self.nr_candidate_words = nr_candidate_words

    def represent(self, topic_words: Mapping[int, list[tuple[str, float]]], *,
                  embed: Callable[[list[str]], np.ndarray],
                  representative_docs: Mapping[int, list[str]]) -> dict[int, list[tuple[str, float]]]:
        for name in ("top_n_words", "nr_repr_docs", "nr_candidate_words"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"KeyBERTInspired's {name} must be an integer >= 1, got {value!r}.")
        topics = [t for t in topic_words if topic_words[t] and representative_docs.get(t)]
        words = sorted({w for t in topics for w, _ in topic_words[t][: self.nr_candidate_words]})
        out = {t: list(pairs) for t, pairs in topic_words.items()}
        if not topics:
            return out
        texts = [d for t in topics for d in representative_docs[t][: self.nr_repr_docs]]
        doc_vecs = to_numpy(embed(texts)).astype(np.float64)
        word_vecs = to_numpy(embed(words)).astype(np.float64)
        at = {w: i for i, w in enumerate(words)}
        start = 0
        for t in topics:
            k = len(representative_docs[t][: self.nr_repr_docs])
            topic_vec = doc_vecs[start:start + k].mean(axis=0, keepdims=True)
            start += k
            cands = [w for w, _ in topic_words[t][: self.nr_candidate_words]]
            sims = cosine(word_vecs[[at[w] for w in cands]], topic_vec).ravel()
            order = np.argsort(-sims, kind="stable")[: self.top_n_words]
            out[t] = [(cands[i], float(sims[i])) for i in order]
        return out


def representative_docs(X, c_tf_idf, class_index, n: int = 3) -> list[list[int]]:
    """For each class row, the ``n`` documents whose term counts are most cosine-similar to
    that class's c-TF-IDF row (documents without terms come last).

    Vectorised over all documents at once: every stored count ``X[d, v]`` looks up
    ``c_tf_idf[class(d), v]`` by a sorted-key search, so the cost is O(nnz log nnz) on
    NumPy or CuPy, with no loop over classes.
    """
    xp = backend_of(X).xp
    X = X.tocsr()
    M = c_tf_idf.tocsr()
    n_docs, n_terms = X.shape
    n_classes = M.shape[0]
    cls = xp.asarray(class_index).astype(xp.int64)
    # sorted (class, term) keys of the c-TF-IDF entries
    m_rows = xp.repeat(xp.arange(n_classes, dtype=xp.int64), xp.diff(M.indptr).astype(xp.int64))
    m_keys = m_rows * n_terms + M.indices.astype(xp.int64)
    order = xp.argsort(m_keys)
    m_keys, m_vals = m_keys[order], M.data.astype(xp.float64)[order]
    # the class of each stored document count, and the matching c-TF-IDF weight
    x_rows = xp.repeat(xp.arange(n_docs, dtype=xp.int64), xp.diff(X.indptr).astype(xp.int64))
    x_keys = cls[x_rows] * n_terms + X.indices.astype(xp.int64)
    pos = xp.minimum(xp.searchsorted(m_keys, x_keys), max(m_keys.shape[0] - 1, 0))
    hit = m_keys[pos] == x_keys if m_keys.shape[0] else xp.zeros(x_keys.shape, dtype=bool)
    weight = xp.where(hit, m_vals[pos] if m_keys.shape[0] else 0.0, 0.0)
    counts = X.data.astype(xp.float64)
    dots = xp.bincount(x_rows, weights=counts * weight, minlength=n_docs)
    doc_norm = xp.sqrt(xp.bincount(x_rows, weights=counts * counts, minlength=n_docs))
    cls_norm = xp.sqrt(xp.bincount(m_rows, weights=M.data.astype(xp.float64) ** 2, minlength=n_classes))
    score = dots / xp.maximum(doc_norm * cls_norm[cls], 1e-300)
    score = xp.where(doc_norm > 0, score, -1.0)
    # best n per class: sort by (class, -score, document)
    ranked = xp.lexsort(xp.stack([xp.arange(n_docs, dtype=xp.float64), -score, cls.astype(xp.float64)]))
    starts = xp.searchsorted(cls[ranked], xp.arange(n_classes, dtype=xp.int64))
    rank = xp.arange(n_docs, dtype=xp.int64) - starts[cls[ranked]]
    keep = ranked[rank < n]
    keep_h, cls_h = to_numpy(keep), to_numpy(cls[keep])
    out: list[list[int]] = [[] for _ in range(n_classes)]
    for d, c in zip(keep_h.tolist(), cls_h.tolist()):
        out[c].append(d)
    return out
