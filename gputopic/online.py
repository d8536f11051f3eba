"""Online topic modelling: ``GPUTopic.partial_fit`` (BERTopic's), one batch of documents at a
time, for corpora that arrive as a stream.

Each batch is embedded, reduced and clustered by models that learn incrementally (their
own ``partial_fit``: e.g. scikit-learn's ``IncrementalPCA`` and ``MiniBatchKMeans``; a
reducer without ``partial_fit``, UMAP included, learns from the first batch and projects the
later ones, as in BERTopic), and
counted by an unfitted copy of the vectorizer whose terms join a growing vocabulary. Per
topic, the term counts, embedding sums and sizes of all batches so far are kept and added
to, so the c-TF-IDF, topic words and topic embeddings always describe every document
seen, while no document is kept. A vectorizer with a ``decay`` attribute (BERTopic's
``OnlineCountVectorizer(decay=...)``) makes earlier term counts fade: they are multiplied
by ``1 - decay`` before each batch's are added. Topic ids are the clustering model's cluster ids (stable
from batch to batch, not ordered by size). ``topics_`` holds the last batch's topics,
``topic_sizes_`` the counts over all batches. Empty documents are outliers (-1), embedded
and counted but not reduced or clustered, as in ``fit``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import cluster as _cluster
from . import reduce as _reduce
from ._params import fresh, param_value
from ._validation import validate_documents
from .defaults import embedding_spec, slot_model
from .device import Backend, get_backend, output_like, resolve_device, to_numpy
from .embed import cached_encode, check_embeddings, load_embedder
from .exceptions import InputError
from .pipeline import TopicTotals, blank_rows, check_params, embed_fn, weigh_topics
from .represent import describe, representatives_in
from .state import FittedState
from .vectorize import doc_term_matrix, vocabulary


@dataclass
class OnlineState:
    """What partial_fit keeps between batches (host arrays; the counts on the model's device)."""

    ids: np.ndarray  # topic ids seen so far, sorted (-1 first when there were outliers)
    counts: Any  # (len(ids) x len(vocab)) term counts per topic
    emb_sums: np.ndarray  # (len(ids) x dim) sums of document embeddings per topic
    sizes: np.ndarray  # documents per topic
    vocab: list[str]
    column: dict[str, int] = field(default_factory=dict)
    representative: dict[int, list[str]] = field(default_factory=dict)


def _check(model: Any) -> None:
    value = param_value(model, "hdbscan_model")
    if isinstance(value, str) or value is None or not callable(getattr(value, "partial_fit", None)):
        raise InputError("partial_fit needs a hdbscan_model that learns incrementally (with partial_fit), e.g. "
                         f"scikit-learn's MiniBatchKMeans(n_clusters=50); got {value!r}. Use fit() for HDBSCAN.")
    for name in ("nr_topics", "seed_topic_list", "zeroshot_topic_list"):
        if getattr(model, name) is not None:
            raise InputError(f"partial_fit does not take {name}: fit the whole corpus with fit() to use it.")
    if model.calculate_probabilities:
        raise InputError("partial_fit gives no per-topic probabilities: set calculate_probabilities=False.")


def _widen(M, n_cols: int, backend: Backend):
    """``M`` with extra empty columns up to ``n_cols``."""
    M = M.tocsr()
    return backend.sp.csr_matrix((M.data, M.indices, M.indptr), shape=(M.shape[0], n_cols))


def _rows_into(M, at: np.ndarray, n_rows: int, backend: Backend):
    """(n_rows x cols) with row i of ``M`` at row ``at[i]``."""
    xp, sp = backend.xp, backend.sp
    P = sp.csr_matrix((xp.ones(len(at), dtype=xp.float32), (xp.asarray(at), xp.arange(len(at)))),
                      shape=(n_rows, len(at)))
    return (P @ M).tocsr()


def partial_fit(model: Any, state: FittedState | None, documents: Any, embeddings: Any = None) -> FittedState:
    """One batch of :meth:`GPUTopic.partial_fit` (see the module docstring): the model's
    state after the batch (``state`` is None before the first)."""
    if state is not None and state.online is None:
        raise InputError("partial_fit continues a model started with partial_fit; this one was fitted with fit(), "
                         "loaded, or changed by a topic operation. Start from an unfitted GPUTopic (e.g. "
                         "sklearn.base.clone(model)).")
    _check(model)
    check_params(model)
    decay = getattr(param_value(model, "vectorizer_model"), "decay", None)  # e.g. BERTopic's OnlineCountVectorizer(decay=...)
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1):
        raise InputError(f"The vectorizer's decay must be a number in [0, 1), got {decay!r}.")
    docs = validate_documents(documents, blank_ok=True)
    keep = np.setdiff1d(np.arange(len(docs)), blank_rows(docs))  # empty documents are outliers, not clustered
    if keep.size == 0:
        raise InputError(f"All {len(docs)} documents of the batch are empty or whitespace only: nothing to learn.")
    backend = get_backend(resolve_device(model.device))
    first = state is None
    run = OnlineState(ids=np.zeros(0, dtype=np.int64), counts=None, emb_sums=np.zeros((0, 0)),
                      sizes=np.zeros(0), vocab=[]) if first else state.online
    # a batch that fails leaves the model as it was: it learns on copies, stored at the end
    umap_model = fresh(slot_model(model, "umap_model", backend.name)) if first else copy.deepcopy(state.umap_model)
    hdbscan_model = fresh(param_value(model, "hdbscan_model")) if first else copy.deepcopy(state.hdbscan_model)
    vocab, column = list(run.vocab), dict(run.column)
    embedder = None if first else state.embedder
    if embeddings is None:
        embedder = embedder or load_embedder(embedding_spec(model), backend.name, model.embedding_backend)
        emb = cached_encode(embedder, docs, backend, model.embedding_cache_dir, model.batch_size, model.verbose)
    else:
        emb = check_embeddings(embeddings, len(docs), backend)
    if not first and emb.shape[1] != state.n_features_in:
        raise InputError(f"embeddings have {emb.shape[1]} dimensions but earlier batches had {state.n_features_in}: "
                         "use the same embedding model for every batch.")
    filled = emb if keep.size == len(docs) else emb[backend.xp.asarray(keep)]

    if callable(getattr(umap_model, "partial_fit", None)):
        umap_model.partial_fit(_reduce.model_input(umap_model, filled, backend))
        reduced = _reduce.transform_reduce(umap_model, filled, backend)
    elif first:  # a reducer that cannot learn incrementally learns from the first batch (BERTopic's rule)
        reduced = _reduce.fit_reduce(umap_model, filled, backend)
    else:
        reduced = _reduce.transform_reduce(umap_model, filled, backend)
    hdbscan_model.partial_fit(_cluster.model_input(hdbscan_model, reduced, backend))
    predicted = _cluster.predict(hdbscan_model, reduced, backend)
    if predicted is None:
        raise InputError(f"hdbscan_model {type(hdbscan_model).__name__} cannot predict the clusters of a batch: "
                         "pass one with predict(X), e.g. MiniBatchKMeans.")
    topics = np.full(len(docs), -1, dtype=np.int64)
    topics[keep] = predicted[0]

    vectorizer = fresh(slot_model(model, "vectorizer_model", backend.name))
    X = doc_term_matrix(vectorizer, docs, backend)
    cols = np.empty(X.shape[1], dtype=np.int64)
    for j, term in enumerate(vocabulary(vectorizer)):
        cols[j] = column.setdefault(term, len(vocab))
        if cols[j] == len(vocab):
            vocab.append(term)
    X = X.tocsr()
    X = backend.sp.csr_matrix((X.data, backend.xp.asarray(cols)[X.indices], X.indptr), shape=(X.shape[0], len(vocab)))
    X.sum_duplicates()

    batch = TopicTotals.of(topics, X, emb, backend)
    ids = np.union1d(run.ids, batch.ids)
    at_old, at_new = np.searchsorted(ids, run.ids), np.searchsorted(ids, batch.ids)
    counts = _rows_into(batch.counts, at_new, len(ids), backend)
    if run.counts is not None:
        old = _rows_into(_widen(run.counts, len(vocab), backend), at_old, len(ids), backend)
        counts = counts + (old * (1.0 - decay) if decay else old)
    emb_sums = np.zeros((len(ids), emb.shape[1]))
    sizes = np.zeros(len(ids))
    if run.counts is not None:
        emb_sums[at_old], sizes[at_old] = run.emb_sums, run.sizes
    emb_sums[at_new] += to_numpy(batch.emb_sums)
    sizes[at_new] += batch.sizes
    totals = TopicTotals(ids, counts.tocsr(), emb_sums, sizes)
    ctfidf = fresh(slot_model(model, "ctfidf_model", backend.name))
    c_tf_idf = weigh_topics(model, topics, {}, totals, ctfidf, backend).c_tf_idf

    def lazy_embed():
        nonlocal embedder
        embedder = embedder or load_embedder(embedding_spec(model), backend.name, model.embedding_backend)
        return embed_fn(embedder, backend)

    words, aspects, representative = describe(c_tf_idf, ids, vocab, model.representation_model, model.top_n_words,
                                              lazy_embed, representatives_in(X, np.searchsorted(ids, topics), docs),
                                              previous=run.representative)
    new_text = fresh(vectorizer)
    try:  # counts new text in the topics' terms (approximate_distribution, outlier strategies)
        new_text.set_params(vocabulary=list(vocab)).fit(docs[:1])
    except (AttributeError, TypeError, ValueError):
        new_text = None
    return FittedState.build(
        topics=topics, probabilities=None, words=words, aspects=aspects, representative=representative,
        topic_sizes={int(t): int(s) for t, s in zip(ids, sizes)},
        topic_embeddings=backend.asarray(totals.means()), c_tf_idf=c_tf_idf, vocabulary=list(vocab),
        umap_model=umap_model, hdbscan_model=hdbscan_model, vectorizer_model=new_text, ctfidf_model=ctfidf,
        embedding_model_id=embedder.model_id if embedder is not None else (None if first else state.embedding_model_id),
        n_features_in=int(emb.shape[1]), embedder=embedder, cluster_to_topic={int(c): int(c) for c in ids if c >= 0},
        output=output_like(documents, embeddings), saved_idf=to_numpy(ctfidf.idf_), sizes_are_counts=False,
        online=OnlineState(ids=ids, counts=counts, emb_sums=emb_sums, sizes=sizes, vocab=vocab, column=column,
                           representative=representative),
    )
