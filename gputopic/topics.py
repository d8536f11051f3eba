"""Topic-level operations on a fitted model: reduce and merge topics, reassign outliers,
approximate topic distributions, recompute the representation (views of the topics over
time, per class and as a hierarchy are in :mod:`gputopic.topic_views`).

BERTopic's methods of the same names with its documented semantics: ``nr_topics`` counts
the outlier topic -1 as one of the topics; merged topics are renumbered by size (0 the
largest); topic words over time and per class are pulled towards the topic's global
c-TF-IDF row and towards its row at the previous time step. Unlike BERTopic, a merge
needs neither the embeddings nor a second embedding pass: a merged topic's embedding is
the size-weighted mean of the merged topics' embeddings, which is exactly the mean of its
documents' embeddings.

The arithmetic is in module-level functions on explicit arrays (:func:`reduction_groups`,
:func:`merge_mapping`, :func:`merge_rows`, :func:`merge_columns`). The functions that take
a fitted ``GPUTopic`` gather its state, compute everything, and store the new state in one
go through ``model._store_fitted``: an error leaves the model as it was. The ones that
refit topics recount the documents with an unfitted copy of the fitted vectorizer
(BERTopic refits its vectorizer too), so they need the training documents, in the order
of ``fit``.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from .ctfidf import ClassTfidfTransformer, fit_ctfidf
from .device import Backend, get_backend, resolve_device, to_numpy
from .embed import cached_encode, check_embeddings
from .exceptions import InputError
from .guided import carry_names, check_seed_topics, seed_multiplier
from .represent import cosine, describe, unit_rows
from .vectorize import (class_means, class_term_matrix, default_vectorizer, doc_term_matrix, labels_to_index,
                        one_hot, vocabulary)

OUTLIER_STRATEGIES = ("distributions", "c-tf-idf", "embeddings", "probabilities")


# ----------------------------------------------------------------- arithmetic


def row_cosine(M) -> np.ndarray:
    """Cosine similarity of the rows of ``M`` with each other (k x k, host, in [-1, 1])."""
    return np.clip(cosine(M, M), -1.0, 1.0)


def reduction_groups(M, nr_topics) -> np.ndarray:
    """A group label for each row of ``M`` (one row per real topic: its c-TF-IDF or its
    embedding); rows with the same label are merged.

    ``nr_topics`` an int: average-linkage agglomerative clustering of the rows on cosine
    distance into that many groups (no change when there are not more rows). ``"auto"``:
    HDBSCAN (``min_cluster_size=2``) on the euclidean distances of the L2-normalised rows;
    a row it leaves unclustered stays a group of its own.
    """
    k = M.shape[0]
    if nr_topics == "auto":
        if k < 3:
            return np.arange(k)
        import hdbscan

        S = row_cosine(M)
        dist = np.sqrt(np.clip(2.0 - 2.0 * S, 0.0, None))
        np.fill_diagonal(dist, 0.0)
        labels = hdbscan.HDBSCAN(min_cluster_size=2, metric="precomputed").fit(dist).labels_.astype(np.int64)
        alone = labels < 0
        labels[alone] = labels.max(initial=-1) + 1 + np.arange(int(alone.sum()))
        return labels
    if nr_topics >= k:
        return np.arange(k)
    from sklearn.cluster import AgglomerativeClustering

    dist = np.clip(1.0 - row_cosine(M), 0.0, None)
    np.fill_diagonal(dist, 0.0)
    model = AgglomerativeClustering(n_clusters=int(nr_topics), metric="precomputed", linkage="average")
    return model.fit(dist).labels_.astype(np.int64)


def merge_mapping(topics: np.ndarray, group_of: dict[int, int]) -> dict[int, int]:
    """Old topic id -> new topic id, where old topics with the same group merge.

    New ids are given by size (0 the largest; ties go to the group holding the smaller old
    id); -1 stays -1. Every old topic present in ``topics`` must have a group.
    """
    topics = np.asarray(topics)
    old_ids, counts = np.unique(topics[topics >= 0], return_counts=True)
    if old_ids.size == 0:
        return {-1: -1}
    groups = np.asarray([group_of[int(t)] for t in old_ids])
    _, inverse = np.unique(groups, return_inverse=True)
    size = np.bincount(inverse, weights=counts)
    smallest = np.full(size.shape[0], np.iinfo(np.int64).max)
    np.minimum.at(smallest, inverse, old_ids)
    rank = np.empty(size.shape[0], dtype=np.int64)
    rank[np.lexsort((smallest, -size))] = np.arange(size.shape[0])
    mapping = {int(t): int(rank[inverse[i]]) for i, t in enumerate(old_ids.tolist())}
    mapping[-1] = -1
    return mapping


def relabel(topics, mapping: dict[int, int]) -> np.ndarray:
    """``topics`` with every id replaced by ``mapping[id]`` (int64, on the host)."""
    topics = np.asarray(to_numpy(topics), dtype=np.int64)
    keys = np.asarray(sorted(mapping), dtype=np.int64)
    values = np.asarray([mapping[int(k)] for k in keys], dtype=np.int64)
    pos = np.searchsorted(keys, topics)
    if topics.size and (pos.max() >= keys.size or not np.array_equal(keys[pos], topics)):
        missing = sorted(set(topics.tolist()) - set(keys.tolist()))
        raise InputError(f"topics {missing[:5]} have no new id in the mapping.")
    return values[pos]


def merge_rows(A, old_ids: Sequence[int], mapping: dict[int, int], backend: Backend):
    """Rows of ``A`` (one per old topic, in ``old_ids`` order) summed per new topic; the
    result has one row per new topic id, in increasing id order (-1 first when present).

    One sparse product ``P @ A``, so ``A`` may be dense or sparse, on the host or the
    device (``backend`` must match ``A``'s)."""
    new_of_old = np.asarray([mapping[int(t)] for t in old_ids], dtype=np.int64)
    new_ids = np.unique(new_of_old)
    P = one_hot(np.searchsorted(new_ids, new_of_old), new_ids.size, backend).T.tocsr()
    return P @ A


def merge_columns(P: np.ndarray, column_topic: dict[int, int]) -> np.ndarray:
    """A (n x columns) membership matrix with its columns summed into topic order:
    column ``c`` goes to topic ``column_topic[c]``; columns mapped to -1 or absent are dropped."""
    P = np.asarray(to_numpy(P))
    width = max([t for c, t in column_topic.items() if 0 <= c < P.shape[1]] + [-1]) + 1
    out = np.zeros((P.shape[0], width), dtype=P.dtype if P.dtype.kind == "f" else np.float64)
    for c, t in column_topic.items():
        if 0 <= c < P.shape[1] and t >= 0:
            out[:, t] += P[:, c]
    return out


# ------------------------------------------------- operations on a fitted model


def _spec(model: Any, name: str, explicit: Any, copy: bool = True):
    """The sub-model for ``name``: the one passed, else the fitted one, else the parameter,
    as an unfitted copy when ``copy`` (vectorizer and c-TF-IDF models are fitted again; a
    representation model is used as it is). A loaded model whose custom object was not
    saved needs the user to set it again."""
    from .model import _fresh

    value = explicit if explicit is not None else getattr(model, name + "_", None)
    if value is None:
        value = getattr(model, name)
        if value is None and name in getattr(model, "_unsaved_slots", ()):
            raise InputError(
                f"This model was saved with a custom {name}, which save() does not store: set "
                f"model.{name} to an equal object (or pass {name}= where the method takes it) first."
            )
    return _fresh(value) if copy and value is not None else value


def count_topics(model: Any, docs: list[str], topics: np.ndarray, backend: Backend, vectorizer_model: Any = None,
                 ctfidf_model: Any = None):
    """The documents counted as ``fit`` counts them, summed per topic: ``(ids, index, X,
    vectorizer, vocab, counts, ctfidf)``, both models fitted here (unfitted copies of the
    given or fitted sub-models, so the training documents give fit's vocabulary and idf)."""
    vectorizer = _spec(model, "vectorizer_model", vectorizer_model) or default_vectorizer()
    ctfidf = _spec(model, "ctfidf_model", ctfidf_model) or ClassTfidfTransformer()
    ids, index = labels_to_index(topics)
    X = doc_term_matrix(vectorizer, docs, backend)
    counts = class_term_matrix(X, index, len(ids), backend)
    vocab = vocabulary(vectorizer)
    fit_ctfidf(ctfidf, counts, seed_multiplier(check_seed_topics(model.seed_topic_list), vocab))
    return ids, index, X, vectorizer, vocab, counts, ctfidf


def refit_topics(model: Any, docs: list[str], topics: np.ndarray, *, merge: dict[int, int] | None = None,
                 embeddings: Any = None, vectorizer_model: Any = None, ctfidf_model: Any = None,
                 representation_model: Any = None, top_n_words: int | None = None) -> None:
    """Recompute everything that describes the topics for new document ``topics`` and store it.

    ``merge``: the old -> new id mapping when the new topics are merges of the old ones;
    then topic embeddings, probabilities and the fitted UMAP/HDBSCAN path of ``transform``
    follow the mapping. Otherwise (any other reassignment) the topic embeddings are the
    means of the documents' embeddings (``embeddings``, or embedded again), probabilities
    are dropped (None: they described the old topics) and ``transform`` assigns the most
    similar topic embedding.
    """
    from .model import _embed_fn

    backend = get_backend(resolve_device(model.device))
    rep_model = _spec(model, "representation_model", representation_model, copy=False)
    n_words = int(model.top_n_words if top_n_words is None else top_n_words)
    emb = None
    if merge is None:
        emb = (check_embeddings(embeddings, len(docs), backend) if embeddings is not None else
               cached_encode(model._get_embedder(backend.name), docs, backend, model.embedding_cache_dir,
                             model.batch_size, False))
        _check_width(emb, model)

    ids, index, X, vectorizer, vocab, counts, ctfidf = count_topics(model, docs, topics, backend,
                                                                    vectorizer_model, ctfidf_model)
    c_tf_idf = ctfidf.transform(counts)
    words, aspects, representative = describe(c_tf_idf, ids, vocab, X, index, docs, rep_model,
                                              n_words, lambda: _embed_fn(model._get_embedder(backend.name), backend))

    if merge is not None:
        old_ids = sorted(model.topic_sizes_)
        sizes = np.asarray([model.topic_sizes_[t] for t in old_ids], dtype=np.float64)
        host = get_backend("cpu")
        old_emb = to_numpy(model.topic_embeddings_).astype(np.float64)
        topic_emb = backend.asarray(
            (merge_rows(old_emb * sizes[:, None], old_ids, merge, host)
             / merge_rows(sizes, old_ids, merge, host)[:, None]).astype(np.float32))
        probs = model.probabilities_
        if probs is not None and np.ndim(probs) == 2:
            probs = merge_columns(probs, {t: merge[t] for t in old_ids if t >= 0})
        cluster_to_topic = {c: merge.get(t, -1) for c, t in model._cluster_to_topic.items()}
    else:
        topic_emb = class_means(emb, index, len(ids), backend)
        probs = None
        cluster_to_topic = {}
    named = model._zeroshot_topics
    if named:  # zero-shot names follow their documents (BERTopic's rule), when still similar enough
        name_emb = getattr(model, "_zeroshot_name_emb", None)
        if name_emb is None:  # a loaded or merged model: embedded once, then kept
            name_emb = to_numpy(model._get_embedder(backend.name).encode(model.zeroshot_topic_list, backend))
            model._zeroshot_name_emb = name_emb
        named = carry_names(to_numpy(model.topics_), topics, named, name_emb, to_numpy(topic_emb), ids,
                            float(model.zeroshot_min_similarity))
    model._store_fitted(
        topics=topics, probs=probs, words=words,
        representative={t: d[:3] for t, d in representative.items()},
        topic_embeddings=topic_emb, c_tf_idf=c_tf_idf, vocabulary=vocab, umap_model=model.umap_model_,
        hdbscan_model=model.hdbscan_model_, vectorizer=vectorizer, ctfidf=ctfidf,
        model_id=model.embedding_model_id_, n_features=model.n_features_in_, timings=model.timings_,
        embedder=model._embedder, cluster_to_topic=cluster_to_topic, gpu_out=model._gpu_output,
        zeroshot_topics=named, aspects=aspects,
    )


def _check_width(emb, model: Any) -> None:
    if emb.shape[1] != model.n_features_in_:
        raise InputError(f"embeddings have {emb.shape[1]} dimensions but the model was fitted on "
                         f"{model.n_features_in_}: use the embedding model of fit.")


def check_nr_topics(nr_topics: Any) -> None:
    if nr_topics is None or nr_topics == "auto":
        return
    if isinstance(nr_topics, bool) or not isinstance(nr_topics, (int, np.integer)) or nr_topics < 1:
        raise InputError(f"nr_topics must be None, 'auto' or an integer >= 1; got {nr_topics!r}.")


def reduction_mapping(c_tf_idf, topic_embeddings, topics: np.ndarray, nr_topics: Any,
                      use_ctfidf: bool = False) -> dict[int, int]:
    """The old -> new topic mapping that reduces the topics of ``topics`` to ``nr_topics``
    (counting -1 when there are outliers, as BERTopic does) or to ``"auto"``'s groups.

    ``c_tf_idf`` and ``topic_embeddings`` have one row per topic id in increasing order
    (-1 first when present); the similarity is that of the topic embeddings, or of the
    c-TF-IDF rows when ``use_ctfidf`` (BERTopic 0.17 also compares embeddings by default)."""
    check_nr_topics(nr_topics)
    ids = np.unique(np.asarray(topics))
    real = ids >= 0
    outliers = int(not real.all())
    if nr_topics != "auto" and nr_topics - outliers < 1:
        raise InputError(
            f"nr_topics={nr_topics} leaves no topic besides the outliers: like BERTopic's, nr_topics counts "
            "the outlier topic -1. Pass nr_topics >= 2."
        )
    rows = np.flatnonzero(real)
    M = _host_sparse(c_tf_idf)[rows] if use_ctfidf else to_numpy(topic_embeddings)[rows]
    target = nr_topics if nr_topics == "auto" else int(nr_topics) - outliers
    groups = reduction_groups(M, target)
    return merge_mapping(topics, dict(zip(ids[real].tolist(), groups.tolist())))


def reduce_in_fit(nr_topics: Any, topics: np.ndarray, c_tf_idf, topic_embeddings,
                  cluster_to_topic: dict[int, int]) -> tuple[dict[int, int], np.ndarray, dict[int, int]]:
    """``nr_topics`` applied inside ``fit``: ``(merge, new topics, cluster -> new topic)``;
    the caller sums its per-topic rows with :func:`merge_rows`."""
    merge = reduction_mapping(c_tf_idf, topic_embeddings, topics, nr_topics)
    return merge, relabel(topics, merge), {c: merge[t] for c, t in cluster_to_topic.items()}


def merge_groups(topics_to_merge: Any, known: Sequence[int]) -> list[list[int]]:
    """``topics_to_merge`` as a list of groups of topic ids, checked against ``known``."""
    items = list(topics_to_merge) if isinstance(topics_to_merge, (list, tuple)) else None
    if not items:
        raise InputError("topics_to_merge must be a non-empty list of topic ids, e.g. [1, 2], or of such "
                         "lists, e.g. [[1, 2], [3, 4]].")
    groups = [list(g) for g in items] if all(isinstance(g, (list, tuple)) for g in items) else [items]
    seen: set[int] = set()
    for group in groups:
        if len(group) < 2 or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in group):
            raise InputError(f"Each group of topics_to_merge needs at least two integer topic ids; got {group!r}.")
        for t in group:
            if t == -1:
                raise InputError("The outlier topic -1 cannot be merged into a topic: use reduce_outliers "
                                 "and update_topics to give outliers a topic.")
            if int(t) not in known:
                raise InputError(f"No topic {t}; the topics are {sorted(known)}.")
            if int(t) in seen:
                raise InputError(f"Topic {t} is in more than one group of topics_to_merge.")
            seen.add(int(t))
    return [[int(t) for t in g] for g in groups]


def outlier_topics(model: Any, docs: list[str], topics: np.ndarray, strategy: str, threshold: float,
                   probabilities: Any = None, embeddings: Any = None,
                   distributions_params: dict | None = None) -> np.ndarray:
    """New topics for the outliers (-1) of ``topics``: the most similar topic when the
    similarity is positive and reaches ``threshold``, else still -1 (as BERTopic). Other
    documents keep their topic."""
    if strategy not in OUTLIER_STRATEGIES:
        raise InputError(f"strategy must be one of {', '.join(map(repr, OUTLIER_STRATEGIES))}; got {strategy!r}.")
    threshold = _number("threshold", threshold)
    out = topics.copy()
    rows = np.flatnonzero(topics == -1)
    real = np.asarray([t for t in sorted(model.topic_sizes_) if t >= 0], dtype=np.int64)
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
        docs_out = [docs[i] for i in rows.tolist()]
        if embeddings is not None:
            emb = check_embeddings(embeddings, len(docs), backend)[backend.xp.asarray(rows)]
        else:
            emb = cached_encode(model._get_embedder(backend.name), docs_out, backend, model.embedding_cache_dir,
                                model.batch_size, False)
        _check_width(emb, model)
        centers = to_numpy(model.topic_embeddings_)[np.searchsorted(sorted(model.topic_sizes_), real)]
        sims = cosine(to_numpy(emb), centers)
    elif strategy == "distributions":
        sims = approximate_distribution(model, [docs[i] for i in rows.tolist()], **(distributions_params or {}))[0]
    else:
        vectorizer, ctfidf = _fitted_counting(model, "strategy='c-tf-idf'")
        X = vectorizer.transform([docs[i] for i in rows.tolist()])  # the text as given, as BERTopic
        sims = cosine(ctfidf.transform(X), _topic_rows(model))
    best = np.argmax(sims, axis=1)
    top = sims[np.arange(rows.size), best]
    ok = (top >= threshold) & (top > 0)  # a document similar to no topic stays an outlier
    out[rows[ok]] = real[best[ok]]
    return out


def _number(name: str, value: Any) -> float:
    """``value`` as a finite float, or an InputError naming the parameter and the value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not np.isfinite(number):
        raise InputError(f"{name} must be a finite number, got {value!r}.")
    return number


def _fitted_counting(model: Any, what: str):
    """The fitted vectorizer and a host copy of the c-TF-IDF model (its idf as NumPy), which
    count and weight new text in the topics' terms on the host, where the similarities are
    taken (no trip to the device and back per batch).

    A loaded model has neither: it counts with its vectorizer's settings restricted to the
    saved vocabulary and weights with the saved idf (files written before 2026-11-27 lack
    it; a topic operation such as ``update_topics(docs)`` fits both again)."""
    vectorizer, ctfidf = getattr(model, "vectorizer_model_", None), getattr(model, "ctfidf_model_", None)
    if vectorizer is not None and ctfidf is not None:
        host = copy.copy(ctfidf)
        host.idf_ = to_numpy(ctfidf.idf_)
        return vectorizer, host
    idf = getattr(model, "_saved_idf", None)
    if idf is None:
        raise InputError(
            f"{what} needs the fitted vectorizer and c-TF-IDF weights, which this loaded model lacks (it was "
            "saved without the idf): call update_topics(docs) with the training documents first, or use "
            "reduce_outliers(..., strategy='embeddings')."
        )
    vectorizer = _spec(model, "vectorizer_model", None) or default_vectorizer()
    ctfidf = _spec(model, "ctfidf_model", None) or ClassTfidfTransformer()
    try:
        vectorizer.set_params(vocabulary=list(model.vocabulary_))
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{what} on a loaded model restricts the vectorizer to the saved vocabulary, which "
                         f"{type(vectorizer).__name__} does not allow ({exc}): call update_topics(docs) first.") from exc
    ctfidf.idf_ = np.asarray(idf)
    return vectorizer, ctfidf


def topic_rows(model: Any, ids, use_ctfidf: bool = True):
    """The c-TF-IDF rows (SciPy CSR) or embeddings (NumPy) of the topics ``ids``, on the host."""
    rows = np.searchsorted(np.asarray(sorted(model.topic_sizes_)), np.asarray(ids, dtype=np.int64))
    return _host_sparse(model.c_tf_idf_)[rows] if use_ctfidf else to_numpy(model.topic_embeddings_)[rows]


def _topic_rows(model: Any):
    """The c-TF-IDF rows of the real topics (no -1), on the host, in topic id order."""
    return topic_rows(model, [t for t in sorted(model.topic_sizes_) if t >= 0])


def window_ranges(n: int, window: int, stride: int, padding: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, lengths)`` of the token sets of a text of ``n`` tokens (BERTopic's): windows
    of ``window`` consecutive tokens, one every ``stride`` tokens; a text shorter than the
    window is one set; without ``padding`` shorter windows at the end are dropped, with it
    the end's and the start's partial windows are kept."""
    if n < window:
        return np.zeros(1, dtype=np.int64), np.asarray([n], dtype=np.int64)
    starts = np.arange(0, n, stride, dtype=np.int64)
    lengths = np.minimum(window, n - starts)
    if not padding:
        return starts[lengths == window], lengths[lengths == window]
    lead = -(-window // stride) - 1  # ceil(window / stride) - 1 partial windows before the first
    return (np.concatenate([np.zeros(lead, dtype=np.int64), starts]),
            np.concatenate([window - (lead - np.arange(lead, dtype=np.int64)) * stride, lengths]))


def token_sets(tokens: list[str], window: int, stride: int, padding: bool) -> list[list[str]]:
    """The token sets of :func:`window_ranges` as lists of tokens."""
    return [tokens[s:s + ln] for s, ln in zip(*window_ranges(len(tokens), window, stride, padding))]


def approximate_distribution(model: Any, docs: list[str], window: int = 4, stride: int = 1,
                             min_similarity: float = 0.1, batch_size: int | None = 1000,
                             padding: bool = False, calculate_tokens: bool = False):
    """Topic distributions of ``docs`` (documents x real topics, rows summing to 1, or 0 for
    a document similar to no topic), BERTopic's approximation: each document's token sets
    (:func:`token_sets` of the fitted vectorizer's tokenizer on the text as given, as
    BERTopic) are counted and weighted like the topics (fitted vectorizer and c-TF-IDF model); the
    cosine similarities of a set's row with the topics' c-TF-IDF rows below
    ``min_similarity`` are zeroed, the rest summed over the document's sets and L1-normalised.
    Returns ``(distributions, token distributions or None)``. With ``calculate_tokens``,
    each token gets the summed similarities of the sets that hold it (a tokens x topics
    array per document; one zero row for a document without tokens), and, as in BERTopic,
    a document's distribution is then the L1-normalised sum of its tokens' rows.
    """
    from .model import _check_int

    _check_int("window", window, 1)
    _check_int("stride", stride, 1)
    _check_int("batch_size", batch_size, 1, none_ok=True)
    min_similarity = _number("min_similarity", min_similarity)
    vectorizer, ctfidf = _fitted_counting(model, "approximate_distribution")
    topics = _topic_rows(model)
    if not callable(getattr(vectorizer, "build_tokenizer", None)):
        raise InputError(f"approximate_distribution splits documents with the vectorizer's build_tokenizer(), "
                         f"which {type(vectorizer).__name__} does not have: use a scikit-learn text vectorizer.")
    host = get_backend("cpu")
    topics_n = unit_rows(topics).T.tocsr()
    out = np.zeros((len(docs), topics.shape[0]), dtype=np.float64)
    per_token: list[np.ndarray] | None = [] if calculate_tokens else None
    step = batch_size or max(len(docs), 1)
    for start in range(0, len(docs), step):
        X, owner, ranges = window_counts(vectorizer, docs[start:start + step], int(window), int(stride),
                                         bool(padding))
        # cosine similarities, windows x topics, kept sparse
        sims = (unit_rows(ctfidf.transform(X.tocsr())) @ topics_n).tocsr()
        sims.data[sims.data < min_similarity] = 0.0
        sims.eliminate_zeros()
        if per_token is None:
            out[start:start + step] = (one_hot(owner, min(step, len(docs) - start), host).T.tocsr() @ sims).toarray()
            continue
        first = 0
        for i, (starts, lengths, n) in enumerate(ranges):
            rows = sims[first:first + starts.size].toarray()
            first += starts.size
            # each set adds its similarities to the tokens it holds (a token in no set keeps a
            # zero row): a difference array, summed up
            diff = np.zeros((n + 1, rows.shape[1]))
            np.add.at(diff, starts, rows)
            np.add.at(diff, starts + lengths, -rows)
            tokens = np.cumsum(diff, axis=0)[:n] if n else np.zeros((1, rows.shape[1]))
            per_token.append(tokens)
            out[start + i] = tokens.sum(axis=0)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-300), per_token


_DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def _plain_unigram_counter(vectorizer: Any) -> bool:
    """A scikit-learn CountVectorizer whose count of a window's joined tokens is the count of
    the tokens themselves (lower-cased, stop words and unknown terms dropped): word unigrams,
    the default token pattern, no custom tokenizer, preprocessor or accent stripping."""
    try:
        from sklearn.feature_extraction.text import CountVectorizer
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return (type(vectorizer) is CountVectorizer and vectorizer.analyzer == "word"
            and tuple(vectorizer.ngram_range) == (1, 1) and vectorizer.tokenizer is None
            and vectorizer.preprocessor is None and vectorizer.strip_accents is None and not vectorizer.binary
            and vectorizer.token_pattern == _DEFAULT_TOKEN_PATTERN and hasattr(vectorizer, "vocabulary_"))


def window_counts(vectorizer: Any, docs: Sequence[str], window: int, stride: int, padding: bool):
    """The term counts of every token set of ``docs`` (:func:`window_ranges` of the
    vectorizer's tokenizer), the document of each, and each document's sets and number of
    tokens: ``(X, owner, [(starts, lengths, n_tokens), ...])``.

    In general each set is joined with spaces and counted by ``vectorizer.transform`` (as
    BERTopic does); for a plain unigram ``CountVectorizer`` each token is looked up once and
    the windows are summed from the term ids by array arithmetic (the same matrix, without
    joining and tokenising every window again)."""
    import re

    tokenize = vectorizer.build_tokenizer()
    tokens = [tokenize(d) for d in docs]
    ranges = [window_ranges(len(toks), window, stride, padding) + (len(toks),) for toks in tokens]
    plain = _plain_unigram_counter(vectorizer)
    if plain and vectorizer.lowercase:
        # a lower-cased non-ASCII token may stop being one token ("İ" lower-cases to two code
        # points): then count the joined windows as the vectorizer does
        pattern = re.compile(_DEFAULT_TOKEN_PATTERN)
        plain = all(pattern.fullmatch(t.lower()) for toks in tokens for t in toks if not t.isascii())
    owner = np.repeat(np.arange(len(docs), dtype=np.int64), [r[0].size for r in ranges])
    if not plain:
        sentences = [" ".join(toks[s:s + ln]) for toks, (starts, lengths, _) in zip(tokens, ranges)
                     for s, ln in zip(starts, lengths)]
        return vectorizer.transform(sentences), owner, ranges
    import scipy.sparse as sp

    vocab, stop = vectorizer.vocabulary_, vectorizer.get_stop_words() or ()
    lower = vectorizer.lowercase
    ids = []
    for toks in tokens:
        words = [t.lower() for t in toks] if lower else toks
        ids.append([-1 if w in stop else vocab.get(w, -1) for w in words])
    offsets = np.cumsum([0] + [len(toks) for toks in tokens])[:-1]
    flat = np.asarray([t for doc in ids for t in doc], dtype=np.int64)
    starts = np.concatenate([s + off for (s, _, _), off in zip(ranges, offsets)])
    lengths = np.concatenate([ln for _, ln, _ in ranges])
    row = np.repeat(np.arange(lengths.size), lengths)
    pos = np.arange(row.size) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
    col = flat[pos] if pos.size else np.zeros(0, dtype=np.int64)
    keep = col >= 0
    X = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.int64), (row[keep], col[keep])),
                      shape=(lengths.size, len(vocab)))
    X.sum_duplicates()
    return X, owner, ranges


def _host_sparse(M):
    """A SciPy CSR copy of a SciPy or CuPy sparse matrix."""
    M = M.tocsr()
    return M.get() if hasattr(M, "get") else M


# ----------------------------------------------------------------- merge models


def _idf_of(model: Any):
    ctfidf = getattr(model, "ctfidf_model_", None)
    idf = getattr(ctfidf, "idf_", None) if ctfidf is not None else getattr(model, "_saved_idf", None)
    return None if idf is None else np.asarray(to_numpy(idf), dtype=np.float64)


def merge_models(cls: type, models: Sequence[Any], min_similarity: float, embedding_model: Any = None):
    """BERTopic's ``merge_models``: the first model's topics, then each later model's topics
    whose embedding is less than ``min_similarity`` cosine-similar to every topic merged
    before that model, as new topics; the others join their most similar topic. Training topics are
    concatenated in model order, sizes added up. Topic vectors, words and representative
    documents come from the model that brought the topic; the c-TF-IDF spans the union of
    the vocabularies (a term's idf from the first model that has it)."""
    import scipy.sparse as sps

    models = list(models) if isinstance(models, (list, tuple)) else None
    if not models or len(models) < 2 or not all(isinstance(m, cls) for m in models):
        raise InputError(f"merge_models takes a list of at least two fitted {cls.__name__} models.")
    for m in models:
        m._check_fitted()
    min_similarity = _number("min_similarity", min_similarity)
    if not -1.0 <= min_similarity <= 1.0:
        raise InputError(f"min_similarity must be a cosine similarity in [-1, 1], got {min_similarity}.")
    base = models[0]
    for i, m in enumerate(models[1:], start=1):
        names = (m.embedding_model_id_, base.embedding_model_id_)
        if m.n_features_in_ != base.n_features_in_ or (all(names) and names[0] != names[1]):
            raise InputError(f"Model {i} embeds with {m.embedding_model_id_} ({m.n_features_in_} dims), model 0 with "
                             f"{base.embedding_model_id_} ({base.n_features_in_} dims): merged models must share "
                             "their embedding model.")
    vocab = list(base.vocabulary_)
    column = {w: i for i, w in enumerate(vocab)}
    idfs = [_idf_of(m) for m in models]
    idf = list(idfs[0]) if all(x is not None for x in idfs) else None
    emb, rows, words, rep = {}, {}, {}, {}

    def take(m, m_idf, m_emb, m_ctfidf, k: int, t: int, new: int) -> None:
        """Topic ``t`` (row ``k``) of model ``m`` becomes merged topic ``new``."""
        emb[new] = m_emb[k]
        row = m_ctfidf[k]
        cols = []
        for c in row.indices:
            term = m.vocabulary_[c]
            if term not in column:
                column[term] = len(vocab)
                vocab.append(term)
                if idf is not None:
                    idf.append(float(m_idf[c]))
            cols.append(column[term])
        rows[new] = (np.asarray(cols, dtype=np.int64), row.data.astype(np.float64))
        words[new] = list(m.topic_representations_[t])
        rep[new] = list(m.representative_docs_.get(t, []))

    parts = []
    for m, m_idf in zip(models, idfs):  # each model's arrays come to the host once
        m_ids = sorted(m.topic_sizes_)
        m_emb = to_numpy(m.topic_embeddings_).astype(np.float32)
        m_ctfidf = _host_sparse(m.c_tf_idf_)
        if m is base:
            mapping = {t: t for t in m_ids}
            for k, t in enumerate(m_ids):
                take(m, m_idf, m_emb, m_ctfidf, k, t, t)
        else:  # as BERTopic: each topic against the topics merged so far, all at once
            have = sorted(t for t in emb if t >= 0)
            real = [k for k, t in enumerate(m_ids) if t >= 0]
            sims = cosine(m_emb[real], np.stack([emb[t] for t in have]))
            mapping, nxt = {-1: -1}, max(have) + 1
            for k, row in zip(real, sims):
                if row.max() >= min_similarity:
                    mapping[m_ids[k]] = have[int(np.argmax(row))]
                else:
                    mapping[m_ids[k]] = nxt
                    take(m, m_idf, m_emb, m_ctfidf, k, m_ids[k], nxt)
                    nxt += 1
            if -1 in m.topic_sizes_ and -1 not in emb:
                take(m, m_idf, m_emb, m_ctfidf, 0, -1, -1)
        parts.append(relabel(np.asarray(to_numpy(m.topics_), dtype=np.int64), mapping))
    ids = sorted(emb)
    indptr = np.cumsum([0] + [rows[t][0].size for t in ids])
    c_tf_idf = sps.csr_matrix((np.concatenate([rows[t][1] for t in ids]), np.concatenate([rows[t][0] for t in ids]),
                               indptr), shape=(len(ids), len(vocab)))
    c_tf_idf.sort_indices()
    merged = cls(**base.get_params(deep=False))
    if embedding_model is not None:
        merged.embedding_model = embedding_model
    merged._store_fitted(
        topics=np.concatenate(parts), probs=None, words=words, representative=rep,
        topic_embeddings=np.stack([emb[t] for t in ids]), c_tf_idf=c_tf_idf, vocabulary=vocab, umap_model=None,
        hdbscan_model=None, vectorizer=None, ctfidf=None, model_id=base.embedding_model_id_,
        n_features=base.n_features_in_, timings={}, embedder=base._embedder if embedding_model is None else None,
        cluster_to_topic={}, gpu_out=False,
        zeroshot_topics={t: k for t, k in base._zeroshot_topics.items() if t in emb},
    )
    merged._saved_idf = None if idf is None else np.asarray(idf)
    merged._unsaved_slots = ()
    merged._needs_embedding_model = embedding_model is None and getattr(base, "_needs_embedding_model", False)
    return merged
