"""Topic operations on a fitted model: refit the topics' description after their documents
changed (reduce, merge, update), delete topics, and give outliers a topic (BERTopic's
``reduce_outliers``).

Each operation takes the estimator (its parameters) and its :class:`FittedState`, computes
everything, and returns a new state for the estimator to apply: an error leaves the model
as it was. Refits recount the training documents with an unfitted copy of the fitted
vectorizer (BERTopic refits its vectorizer too), so they need the training documents, in
the order of ``fit``. Unlike BERTopic, a merge needs neither the embeddings nor a second
embedding pass: a merged topic's embedding is the size-weighted mean of the merged
topics' embeddings, which is exactly the mean of its documents' embeddings.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._validation import check_number
from .ctfidf import ClassTfidfTransformer, fit_ctfidf
from .defaults import check_n_gram_range, vectorizer_for
from .device import Backend, backend_of, get_backend, host_sparse, resolve_device, to_numpy
from .distributions import approximate_distribution, fitted_counting, real_topic_rows, sub_model, topic_rows
from .exceptions import InputError
from .guided import carry_names, check_seed_topics, seed_multiplier
from .pipeline import TopicTotals, embed_documents, embed_fn, embedder_of
from .represent import cosine, describe, representatives_in
from .state import FittedState
from .mapper import add_column
from .topics import merge_columns, merge_rows, relabel
from .vectorize import class_term_matrix, doc_term_matrix, labels_to_index, vocabulary

OUTLIER_STRATEGIES = ("distributions", "c-tf-idf", "embeddings", "probabilities")


def count_topics(model: Any, state: FittedState, docs: list[str], topics: np.ndarray, backend: Backend,
                 vectorizer_model: Any = None, ctfidf_model: Any = None):
    """The documents counted as ``fit`` counts them, summed per topic: ``(ids, index, X,
    vectorizer, vocab, counts, ctfidf)``, both models fitted here (unfitted copies of the
    given or fitted sub-models, so the training documents give fit's vocabulary and idf)."""
    vectorizer = (sub_model(model, state, "vectorizer_model", vectorizer_model)
                  or vectorizer_for(model.n_gram_range, model.language))
    ctfidf = sub_model(model, state, "ctfidf_model", ctfidf_model) or ClassTfidfTransformer()
    ids, index = labels_to_index(topics)
    X = doc_term_matrix(vectorizer, docs, backend)
    counts = class_term_matrix(X, index, len(ids), backend)
    vocab = vocabulary(vectorizer)
    fit_ctfidf(ctfidf, counts, seed_multiplier(check_seed_topics(model.seed_topic_list), vocab))
    return ids, index, X, vectorizer, vocab, counts, ctfidf


def refit_topics(model: Any, state: FittedState, docs: list[str], topics: np.ndarray, *,
                 merge: dict[int, int] | None = None, embeddings: Any = None, vectorizer_model: Any = None,
                 ctfidf_model: Any = None, representation_model: Any = None,
                 top_n_words: int | None = None) -> FittedState:
    """The state that describes new document ``topics``.

    ``merge``: the old -> new id mapping when the new topics are merges of the old ones;
    then topic embeddings, probabilities and the fitted UMAP/HDBSCAN path of ``transform``
    follow the mapping. Otherwise (any other reassignment) the topic embeddings are the
    means of the documents' embeddings (``embeddings``, or embedded again), probabilities
    are dropped (None: they described the old topics) and ``transform`` assigns the most
    similar topic embedding.
    """
    backend = get_backend(resolve_device(model.device))
    rep_model = sub_model(model, state, "representation_model", representation_model, copy=False)
    n_words = int(model.top_n_words if top_n_words is None else top_n_words)
    emb = None if merge is not None else embed_documents(model, state, docs, backend, embeddings)

    ids, index, X, vectorizer, vocab, counts, ctfidf = count_topics(model, state, docs, topics, backend,
                                                                    vectorizer_model, ctfidf_model)
    c_tf_idf = ctfidf.transform(counts)
    words, aspects, representative = describe(c_tf_idf, ids, vocab, rep_model, n_words,
                                              lambda: embed_fn(embedder_of(model, state, backend.name), backend),
                                              representatives_in(X, index, docs))
    if merge is not None:
        old_ids = state.ids
        sizes = np.asarray([state.topic_sizes[t] for t in old_ids], dtype=np.float64)
        host = get_backend("cpu")
        old_emb = to_numpy(state.topic_embeddings).astype(np.float64)
        topic_emb = backend.asarray(
            (merge_rows(old_emb * sizes[:, None], old_ids, merge, host)
             / merge_rows(sizes, old_ids, merge, host)[:, None]).astype(np.float32))
        probs = state.probabilities
        if probs is not None and np.ndim(probs) == 2:
            probs = merge_columns(probs, {t: merge[t] for t in old_ids if t >= 0})
        cluster_to_topic = {c: merge.get(t, -1) for c, t in state.cluster_to_topic.items()}
    else:
        topic_emb = TopicTotals.of(topics, X, emb, backend).means()
        probs = None
        cluster_to_topic = {}
    named, name_emb = state.zeroshot_topics, state.zeroshot_name_emb
    if named:  # zero-shot names follow their documents (BERTopic's rule), when still similar enough
        if name_emb is None:  # a loaded or merged model: embedded once, then kept
            name_emb = to_numpy(embedder_of(model, state, backend.name).encode(model.zeroshot_topic_list, backend))
        named = carry_names(state.topics, topics, named, name_emb, to_numpy(topic_emb), ids,
                            float(model.zeroshot_min_similarity))
    return state.derive(
        topics=topics, probabilities=probs, words=words, aspects=aspects, representative=representative,
        topic_embeddings=topic_emb, c_tf_idf=c_tf_idf, vocabulary=vocab, vectorizer_model=vectorizer,
        ctfidf_model=ctfidf, cluster_to_topic=cluster_to_topic, zeroshot_topics=named,
        topic_mapper=add_column(state.topic_mapper, merge) if merge is not None else (),
        zeroshot_names=model.zeroshot_topic_list, zeroshot_name_emb=name_emb,
    )


def outlier_topics(model: Any, state: FittedState, docs: list[str], topics: np.ndarray, strategy: str, threshold: float,
                   probabilities: Any = None, embeddings: Any = None,
                   distributions_params: dict | None = None) -> np.ndarray:
    """New topics for the outliers (-1) of ``topics``: the most similar topic when the
    similarity is positive and reaches ``threshold``, else still -1 (as BERTopic). Other
    documents keep their topic."""
    if strategy not in OUTLIER_STRATEGIES:
        raise InputError(f"strategy must be one of {', '.join(map(repr, OUTLIER_STRATEGIES))}; got {strategy!r}.")
    threshold = check_number("threshold", threshold)
    unknown = sorted(set(np.unique(topics).tolist()) - set(state.topic_sizes) - {-1})
    if unknown:  # only outliers change: the other ids pass through as given, as in BERTopic
        warnings.warn(f"topics holds ids the model does not have: {unknown[:5]} (topics from before "
                      "reduce_topics, merge_topics or delete_topics?); only its outliers (-1) get new topics, "
                      "the other ids are returned as given. Pass model.topics_ to work on the current topics.",
                      UserWarning, stacklevel=3)
    out = topics.copy()
    rows = np.flatnonzero(topics == -1)
    real = np.asarray([t for t in state.ids if t >= 0], dtype=np.int64)
    if rows.size == 0 or real.size == 0:
        return out
    backend = get_backend(resolve_device(model.device))
    if strategy == "probabilities":
        if probabilities is None or np.ndim(probabilities) != 2:
            raise InputError(
                "strategy='probabilities' needs the (documents x topics) probabilities: fit with "
                "calculate_probabilities=True and pass probabilities=probs from fit_transform or transform."
            )
        sims = np.asarray(to_numpy(probabilities), dtype=np.float64)
        if sims.shape[0] != topics.shape[0] or sims.shape[1] != real.size:
            raise InputError(f"probabilities has shape {sims.shape}; expected ({topics.shape[0]}, {real.size}): "
                             "one row per document and one column per topic.")
        sims = sims[rows]
    elif strategy == "embeddings":
        if embeddings is not None:
            emb = embed_documents(model, state, docs, backend, embeddings)[backend.xp.asarray(rows)]
        else:
            emb = embed_documents(model, state, [docs[i] for i in rows.tolist()], backend)
        centers = topic_rows(state.topic_sizes, state.topic_embeddings, real)
        sims = cosine(to_numpy(emb), centers)
    elif strategy == "distributions":
        sims = approximate_distribution(model, state, [docs[i] for i in rows.tolist()],
                                        **(distributions_params or {}))[0]
    else:
        vectorizer, ctfidf = fitted_counting(model, state, "strategy='c-tf-idf'")
        X = vectorizer.transform([docs[i] for i in rows.tolist()])  # the text as given, as BERTopic
        sims = cosine(ctfidf.transform(X), real_topic_rows(state))
    best = np.argmax(sims, axis=1)
    top = sims[np.arange(rows.size), best]
    ok = (top >= threshold) & (top > 0)  # a document similar to no topic stays an outlier
    out[rows[ok]] = real[best[ok]]
    return out


def ngram_vectorizer(model: Any, state: FittedState, n_gram_range: Any, vectorizer_model: Any = None) -> Any:
    """``update_topics(n_gram_range=)``: the vectorizer given, else the fitted one, else the
    default, as an unfitted copy counting ``n_gram_range`` word n-grams (BERTopic replaces the
    vectorizer by a plain ``CountVectorizer(ngram_range=...)``; here its other settings stay)."""
    low, high = check_n_gram_range(n_gram_range)
    vectorizer = (sub_model(model, state, "vectorizer_model", vectorizer_model)
                  or vectorizer_for(model.n_gram_range, model.language))
    if "ngram_range" not in (vectorizer.get_params() if hasattr(vectorizer, "get_params") else {}):
        raise InputError(f"n_gram_range needs a vectorizer with an ngram_range parameter; {type(vectorizer).__name__} "
                         "has none. Pass vectorizer_model= configured as you need instead.")
    return vectorizer.set_params(ngram_range=(low, high))


def delete_topics(model: Any, state: FittedState, topics_to_delete: Any, topics: Any = None) -> FittedState:
    """The state without the topics ``topics_to_delete`` (BERTopic's ``delete_topics``): their
    documents become outliers (-1), the other topics keep their words and rows and are
    numbered again by size (0 the largest; ties: the smaller old id first). The outlier
    topic's embedding and c-TF-IDF row become the size-weighted means of its own and the
    deleted topics' rows, and its words the top terms of that row. New documents of a deleted
    topic's cluster are outliers in ``transform``. ``topics``: the document topics to relabel
    (default the state's; after ``partial_fit`` BERTopic users set ``topics_`` to all batches')."""
    real = [t for t in state.ids if t >= 0]
    items = list(topics_to_delete) if isinstance(topics_to_delete, (list, tuple, set, np.ndarray)) else None
    if not items or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in items):
        raise InputError(f"topics_to_delete must be a non-empty list of topic ids, e.g. [1, 2]; got {topics_to_delete!r}.")
    unknown = sorted({int(t) for t in items} - set(real))
    if unknown:
        raise InputError(f"Cannot delete topics {unknown[:5]}: " + ("-1 holds the outliers, it is not a topic to "
                         "delete; " if -1 in unknown else "") + f"the topics are {real}.")
    gone = {int(t) for t in items}
    sizes = state.topic_sizes
    kept = sorted((t for t in real if t not in gone), key=lambda t: (-sizes[t], t))
    mapping = {-1: -1, **{t: -1 for t in gone}, **{t: i for i, t in enumerate(kept)}}
    old_ids = state.ids
    weight = np.asarray([sizes[t] for t in old_ids], dtype=np.float64)
    host = get_backend("cpu")
    total = np.maximum(merge_rows(weight, old_ids, mapping, host), 1e-12)
    emb_backend = backend_of(state.topic_embeddings)
    old_emb = to_numpy(state.topic_embeddings).astype(np.float64)
    topic_emb = merge_rows(old_emb * weight[:, None], old_ids, mapping, host) / total[:, None]
    C = host_sparse(state.c_tf_idf).tocsr().astype(np.float64)
    c_tf_idf = (merge_rows(C.multiply(weight[:, None]).tocsr(), old_ids, mapping, host)
                .multiply(1.0 / total[:, None]).tocsr())
    outlier = np.asarray(c_tf_idf[0].todense()).ravel()
    top = [j for j in np.argsort(-outlier, kind="stable")[: int(model.top_n_words)] if outlier[j] > 0]
    words = {-1: [(state.vocabulary[j], float(outlier[j])) for j in top],
             **{mapping[t]: list(state.representations[t]) for t in kept}}
    aspects = {a: {-1: list(w.get(-1, words[-1])), **{mapping[t]: list(w[t]) for t in kept}}
               for a, w in state.aspects.items()}
    new_ids = [-1] + list(range(len(kept)))
    custom = None
    if state.custom_labels is not None:
        old = dict(zip(old_ids, state.custom_labels))
        custom = [old.get(-1, "-1_" + "_".join(w for w, _ in words[-1][:4]))] + [old[t] for t in kept]
    probs = state.probabilities
    if probs is not None and np.ndim(probs) == 2:
        probs = np.asarray(to_numpy(probs))[:, [real.index(t) for t in kept]]
    return state.derive(
        topics=relabel(state.topics if topics is None else topics, mapping), words=words, aspects=aspects, probabilities=probs,
        topic_sizes={t: int(s) for t, s in zip(new_ids, merge_rows(weight, old_ids, mapping, host).tolist())},
        representative={-1: state.representative_docs.get(-1, []),
                        **{mapping[t]: state.representative_docs.get(t, []) for t in kept}},
        topic_embeddings=emb_backend.asarray(topic_emb.astype(np.float32)),
        c_tf_idf=backend_of(state.c_tf_idf).assparse(c_tf_idf),
        cluster_to_topic={c: mapping[t] for c, t in state.cluster_to_topic.items()}, custom_labels=custom,
        zeroshot_topics={mapping[t]: k for t, k in state.zeroshot_topics.items() if t not in gone},
        zeroshot_names=model.zeroshot_topic_list, topic_mapper=add_column(state.topic_mapper, mapping),
        sizes_are_counts=state.sizes_are_counts,
    )
