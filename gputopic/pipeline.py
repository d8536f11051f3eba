"""The fit pipeline: stage construction, the in-process fit, and the tail every fit shares.

documents -> embed -> reduce (UMAP) -> cluster (HDBSCAN) -> count -> c-TF-IDF -> represent

:func:`fit` runs the stages in one process and returns a :class:`FittedState`; nothing is
stored on the model until the estimator applies it, so a failed fit leaves the model as it
was. The sharded fit (:mod:`gputopic.distributed`) and the online fit
(:mod:`gputopic.online`) compute their per-topic sums their own way and then share the tail
with :func:`fit`: :func:`order_by_size` (topic ids by size), :func:`weigh_topics` (c-TF-IDF,
then ``nr_topics``), :func:`gputopic.represent.describe` (words, representations,
representative documents) and :func:`fit_probabilities`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import cluster as _cluster
from . import guided as _guided
from . import reduce as _reduce
from ._params import fresh, param_value
from ._validation import check_bool, check_int, check_nr_topics, class_labels, validate_documents
from .ctfidf import fit_ctfidf
from .defaults import check_language, check_n_gram_range, embedding_spec, slot_model
from .device import Backend, backend_of, get_backend, output_like, resolve_device, to_numpy
from .embed import EMBEDDING_BACKENDS, Embedder, cached_encode, check_embeddings, load_embedder
from .exceptions import InputError
from .represent import check_representation, cosine, describe, representatives_in
from .mapper import initial_rows
from .state import FittedState
from .topics import merge_columns, merge_rows, reduce_in_fit
from .vectorize import doc_term_matrix, labels_to_index, one_hot, vocabulary

logger = logging.getLogger("gputopic")


# ------------------------------------------------------------------ set-up


def check_params(model: Any) -> None:
    """The estimator's parameters, checked before any work (scikit-learn: in fit)."""
    check_int("top_n_words", model.top_n_words, 1)
    check_int("min_topic_size", model.min_topic_size, 2)
    check_nr_topics(model.nr_topics)
    check_int("batch_size", model.batch_size, 1, none_ok=True)
    check_int("random_state", model.random_state, 0, none_ok=True)
    check_bool("calculate_probabilities", model.calculate_probabilities)
    check_bool("verbose", model.verbose)
    _guided.check_seed_topics(model.seed_topic_list)
    _guided.check_zeroshot(model.zeroshot_topic_list, model.zeroshot_min_similarity)
    if model.embedding_backend not in EMBEDDING_BACKENDS:
        raise InputError(f"embedding_backend must be one of {', '.join(map(repr, EMBEDDING_BACKENDS))}; "
                         f"got {model.embedding_backend!r}.")
    check_representation(model.representation_model)
    check_counting_models(param_value(model, "vectorizer_model"), param_value(model, "ctfidf_model"))
    check_n_gram_range(model.n_gram_range)
    check_language(model.language)
    check_bool("low_memory", model.low_memory)


def check_counting_models(vectorizer_model: Any, ctfidf_model: Any) -> None:
    """The vectorizer and c-TF-IDF slots: None (the defaults) or objects that count and weigh."""
    if vectorizer_model is not None and not (callable(getattr(vectorizer_model, "fit_transform", None))
                                             and callable(getattr(vectorizer_model, "transform", None))):
        raise InputError(f"vectorizer_model must be a scikit-learn style vectorizer with fit_transform and transform "
                         f"(e.g. CountVectorizer(stop_words='english')) or None; got {vectorizer_model!r}.")
    if ctfidf_model is not None and not (callable(getattr(ctfidf_model, "fit", None))
                                         and callable(getattr(ctfidf_model, "transform", None))):
        raise InputError(f"ctfidf_model must have fit and transform (e.g. gputopic.ClassTfidfTransformer()) or be "
                         f"None; got {ctfidf_model!r}.")


@dataclass
class Stages:
    """Unfitted copies of the four fitted sub-models of one fit."""

    umap_model: Any
    hdbscan_model: Any
    vectorizer: Any
    ctfidf: Any

    @property
    def needed(self) -> int:
        """The fewest documents UMAP can embed: its ``n_neighbors`` + 1."""
        return (_reduce.n_neighbors_of(self.umap_model) or 1) + 1

    def check_size(self, n: int) -> None:
        if n < self.needed:
            raise InputError(
                f"Only {n} documents: UMAP with n_neighbors={self.needed - 1} needs at least {self.needed}. "
                "Pass more documents, or a umap_model with a smaller n_neighbors."
            )


def build_stages(model: Any, device: str) -> Stages:
    """The sub-models of a fit from the estimator's slots: unfitted copies of the objects set,
    defaults built here for None (see :func:`gputopic.defaults.slot_model`)."""
    umap_model, hdbscan_model = (slot_model(model, name, device) for name in ("umap_model", "hdbscan_model"))
    _reduce.make_reducer(umap_model, device=device)  # an object of the wrong kind is refused here
    _cluster.make_clusterer(hdbscan_model, device=device, min_cluster_size=model.min_topic_size)
    return Stages(umap_model=fresh(umap_model), hdbscan_model=fresh(hdbscan_model),
                  vectorizer=fresh(slot_model(model, "vectorizer_model", device)),
                  ctfidf=fresh(slot_model(model, "ctfidf_model", device)))


class Clock:
    """Stage timings: ``lap(stage)`` records the seconds since the previous lap and logs them."""

    def __init__(self, suffix: str = ""):
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()
        self._suffix = suffix

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = now - self._last
        self._last = now
        logger.info("%s%s: %.2f s", stage, self._suffix, self.timings[stage])


def embedder_of(model: Any, state: FittedState | None, device: str) -> Embedder:
    """The embedding model of a fitted model (loaded once and kept in its state), or of the
    estimator's parameters for a fit."""
    if state is not None and state.needs_embedding_model:
        raise InputError(
            f"This model has no embedding model to load ({state.embedding_model_id}: a custom object, or "
            "saved with save_embedding_model=False): load it with GPUTopic.load(path, embedding_model=...) "
            "or pass embeddings=."
        )
    if state is not None and state.embedder is not None:
        return state.embedder
    embedder = load_embedder(embedding_spec(model), device, model.embedding_backend)
    if state is not None:
        state.embedder = embedder  # a cache: the state's meaning does not change
    return embedder


def embed_fn(embedder: Embedder, backend: Backend) -> Callable[[list[str]], np.ndarray]:
    """``embed(terms)`` for representation models: host vectors from the model's embedder."""
    def embed(terms: list[str]) -> np.ndarray:
        return to_numpy(embedder.encode(terms, backend))

    return embed


def embed_documents(model: Any, state: FittedState | None, docs: list[str], backend: Backend, embeddings=None,
                    verbose: bool = False):
    """The documents' embeddings on ``backend``: ``embeddings`` checked, or encoded (cached)."""
    if embeddings is not None:
        emb = check_embeddings(embeddings, len(docs), backend)
    else:
        emb = cached_encode(embedder_of(model, state, backend.name), docs, backend, model.embedding_cache_dir,
                            model.batch_size, verbose)
    if state is not None and emb.shape[1] != state.n_features_in:
        raise InputError(f"embeddings have {emb.shape[1]} dimensions but the model was fitted on "
                         f"{state.n_features_in}: use the same embedding model as in fit.")
    return emb


# ------------------------------------------------------------- the shared tail


def order_by_size(clusters: np.ndarray, first: int = 0) -> tuple[np.ndarray, dict[int, int]]:
    """Renumber clusters so topic 0 is the largest; outliers stay -1. Ties: smaller cluster id
    first. Clusters ``0..first-1`` (zero-shot topics) come before all others, in id order."""
    ids, counts = np.unique(clusters[clusters >= 0], return_counts=True)
    fixed = ids < first
    order = np.lexsort((ids, np.where(fixed, 0, -counts), ~fixed))
    mapping = {int(ids[i]): rank for rank, i in enumerate(order)}
    mapping[-1] = -1
    lookup = np.full(int(ids.max()) + 2 if ids.size else 1, -1, dtype=np.int64)
    for c, t in mapping.items():
        if c >= 0:
            lookup[c] = t
    topics = np.where(clusters >= 0, lookup[np.maximum(clusters, 0)], -1)
    return topics.astype(np.int64), mapping


def warn_if_dominated(topics: np.ndarray, share: float = 0.5) -> None:
    """Log a warning when one topic holds most documents: HDBSCAN's excess-of-mass selection
    sometimes keeps only the top split of the tree (a few UMAP seeds in twenty give 2 topics
    instead of ~16 on the bundled 20 Newsgroups sample)."""
    top = float((topics == 0).mean())
    if top > share:
        logger.warning(
            "Topic 0 holds %.0f%% of the documents (%d topics in all): the clustering kept a few very "
            "large clusters. Try another random_state, a larger min_topic_size, or "
            "hdbscan_model=hdbscan.HDBSCAN(min_cluster_size=..., cluster_selection_method='leaf', "
            "prediction_data=True).", 100 * top, int(topics.max()) + 1,
        )


@dataclass
class TopicTotals:
    """Per-topic sums, one row per topic of ``ids`` (sorted, -1 first when present): term
    ``counts`` (sparse, on the fit's device), document-embedding sums and sizes."""

    ids: np.ndarray
    counts: Any
    emb_sums: Any
    sizes: np.ndarray

    @classmethod
    def of(cls, topics: np.ndarray, X, emb, backend: Backend) -> "TopicTotals":
        """The totals of documents in memory: term counts ``X``, embeddings ``emb``."""
        return cls.of_index(*labels_to_index(topics), X, emb, backend)

    @classmethod
    def of_index(cls, ids: np.ndarray, index: np.ndarray, X, emb, backend: Backend) -> "TopicTotals":
        """The totals of documents whose topic rows are ``index`` (into ``ids``)."""
        H = one_hot(index, len(ids), backend).T.tocsr()  # topics x documents, shared by both sums
        return cls(ids, (H @ X.astype(backend.xp.float32)).tocsr(), H @ emb,
                   np.bincount(index, minlength=len(ids)).astype(np.float64))

    def means(self):
        """The topics' embeddings (float32): the mean of their documents' embeddings."""
        xp = backend_of(self.emb_sums).xp
        return (self.emb_sums / xp.asarray(np.maximum(self.sizes, 1)[:, None])).astype(xp.float32)

    def merged(self, merge: dict[int, int]) -> "TopicTotals":
        """The totals after ``merge`` (old topic -> new topic): merged rows add up."""
        new_ids = np.unique([merge[int(t)] for t in self.ids])
        rows = [merge_rows(a, self.ids, merge, backend_of(a)) for a in (self.counts, self.emb_sums, self.sizes)]
        return TopicTotals(new_ids, rows[0], rows[1], np.asarray(rows[2], dtype=np.float64))


@dataclass
class Weighed:
    """The topics after c-TF-IDF and ``nr_topics``."""

    topics: np.ndarray
    cluster_to_topic: dict[int, int]
    totals: TopicTotals
    c_tf_idf: Any
    named: dict[int, int]


def weigh_topics(model: Any, topics: np.ndarray, cluster_to_topic: dict[int, int], totals: TopicTotals, ctfidf: Any,
                 backend: Backend, multiplier=None, named: dict[int, int] | None = None,
                 name_emb=None) -> Weighed:
    """c-TF-IDF of the per-topic counts; with ``nr_topics``, the topics merged (their sums
    add up) and weighed again, zero-shot names carried to the merged topics."""
    named = dict(named or {})
    c_tf_idf = fit_ctfidf(ctfidf, totals.counts, multiplier)
    if model.nr_topics is not None:
        before = topics
        merge, topics, cluster_to_topic = reduce_in_fit(model.nr_topics, topics, c_tf_idf, totals.means(),
                                                        cluster_to_topic)
        totals = totals.merged(merge)
        c_tf_idf = fit_ctfidf(ctfidf, totals.counts, multiplier)
        if named:
            named = _guided.carry_names(before, topics, named, to_numpy(name_emb), to_numpy(totals.means()),
                                        totals.ids, float(model.zeroshot_min_similarity))
    return Weighed(topics, cluster_to_topic, totals, c_tf_idf, named)


def fit_probabilities(model: Any, hdbscan_model: Any, cluster_to_topic: dict[int, int], strengths):
    """The fit's probabilities: soft memberships per topic (``calculate_probabilities``), or
    the clustering model's strength of each document's own cluster."""
    if model.calculate_probabilities:
        if not any(c >= 0 for c in cluster_to_topic):  # no cluster: nothing to be a member of
            return np.zeros((len(strengths) if strengths is not None else 0, 0))
        return merge_columns(finite_memberships(_cluster.soft_memberships(hdbscan_model)), cluster_to_topic)
    return strengths


def finite_memberships(P) -> np.ndarray:
    """Soft memberships with the rows the clustering library left undefined (NaN: hdbscan does
    so for points at distance zero from all exemplars, e.g. many identical documents) set to
    zero, which says "no topic", with a warning that counts them."""
    P = np.asarray(to_numpy(P), dtype=np.float64)
    bad = ~np.isfinite(P).all(axis=1) if P.ndim == 2 else ~np.isfinite(P)
    if bad.any():
        logger.warning("The clustering model gave undefined (NaN) topic probabilities for %d documents (duplicates "
                       "of each other?): their probabilities are 0.", int(bad.sum()))
        P = P.copy()
        P[bad] = 0.0
    return P


def check_cluster_size(hdbscan_model: Any, n: int) -> None:
    """HDBSCAN cannot make clusters larger than the corpus: say so before it fails inside."""
    size = getattr(hdbscan_model, "min_cluster_size", None)
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > n:
        raise InputError(f"min_topic_size (HDBSCAN's min_cluster_size) is {size}, more than the {n} documents to "
                         f"cluster: pass min_topic_size <= {n}, or more documents.")


def blank_rows(docs: list[str]) -> np.ndarray:
    """Positions of the empty or whitespace-only documents."""
    return np.asarray([i for i, d in enumerate(docs) if not d.strip()], dtype=np.int64)


def spread_rows(values, rows: np.ndarray, n: int):
    """Per-document ``values`` of the documents ``rows`` as ``n`` rows, zeros elsewhere (the
    empty documents); unchanged when ``rows`` are all documents or ``values`` is None."""
    if values is None or len(rows) == n:
        return values
    values = np.asarray(to_numpy(values))
    out = np.zeros((n,) + values.shape[1:], dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    out[rows] = values
    return out


# ------------------------------------------------------------- in-process fit


def fit(model: Any, documents: Any, embeddings: Any = None, y: Any = None) -> FittedState:
    """The in-process fit of ``model``'s parameters on ``documents``; see ``GPUTopic.fit_transform``."""
    check_params(model)
    docs = validate_documents(documents, blank_ok=True)
    blank = blank_rows(docs)
    if blank.size == len(docs):
        raise InputError(f"All {len(docs)} documents are empty or whitespace only: there is nothing to fit.")
    labels = None if y is None else class_labels(y, len(docs))
    if labels is not None and model.seed_topic_list is not None:
        raise InputError("Pass either y or seed_topic_list: the seed topics make the labels UMAP uses.")
    output = output_like(documents, embeddings)
    device = resolve_device(model.device)
    backend = get_backend(device)
    clock = Clock()
    stages = build_stages(model, device)
    clock.lap("setup")  # building the sub-models imports their libraries (numba, torch, ...)
    stages.check_size(len(docs) - blank.size)

    embedder = None
    if embeddings is None:
        embedder = load_embedder(embedding_spec(model), device, model.embedding_backend)
        emb = cached_encode(embedder, docs, backend, model.embedding_cache_dir, model.batch_size, model.verbose)
    else:
        emb = check_embeddings(embeddings, len(docs), backend)
    filled = emb if not blank.size else emb[backend.xp.asarray(np.setdiff1d(np.arange(len(docs)), blank))]
    if not bool((filled != filled[0]).any()):
        raise InputError(
            "All documents have the same embedding (identical documents?): there is nothing to "
            "cluster. Pass a corpus with different documents."
        )
    seeds = _guided.check_seed_topics(model.seed_topic_list)
    names = _guided.check_zeroshot(model.zeroshot_topic_list, model.zeroshot_min_similarity)
    if seeds is not None or names is not None:
        embedder = embedder or load_embedder(embedding_spec(model), device, model.embedding_backend)
    labels, emb, zeroshot, name_emb = _guided.steer(seeds, names, float(model.zeroshot_min_similarity), emb,
                                                    labels, embedder, backend)
    clock.lap("embed")

    if zeroshot is not None:
        zeroshot[blank] = -1  # an empty document takes no named topic
    rest = np.arange(len(docs)) if zeroshot is None else np.flatnonzero(zeroshot < 0)
    rest = np.setdiff1d(rest, blank)  # empty documents are outliers, not clustered
    clusters = np.full(len(docs), -1, dtype=np.int64)
    strengths = None
    umap_model, hdbscan_model = stages.umap_model, stages.hdbscan_model
    if rest.size >= stages.needed:
        sub = emb if rest.size == len(docs) else emb[backend.xp.asarray(rest)]
        sub_labels = None if labels is None else labels[rest]
        reduced = _reduce.fit_reduce(umap_model, sub, backend, y=sub_labels)
        clock.lap("reduce")
        check_cluster_size(hdbscan_model, rest.size)
        found, strengths = _cluster.fit_cluster(hdbscan_model, reduced, backend, y=sub_labels)
        clock.lap("cluster")
        offset = 0 if zeroshot is None else len(names)  # zero-shot topics are clusters 0..K-1
        clusters[rest] = np.where(found >= 0, found + offset, -1)
    else:  # only with zero-shot topics: no or too few documents left to cluster
        umap_model = hdbscan_model = None
        clock.timings["reduce"] = clock.timings["cluster"] = 0.0
    if 0 < rest.size < stages.needed:
        logger.warning("Only %d documents match no zero-shot topic, too few to cluster (UMAP needs %d): "
                       "they are outliers (-1).", rest.size, stages.needed)
    if blank.size:
        logger.info("%d empty documents are outliers (-1).", blank.size)
    if zeroshot is not None:
        clusters[zeroshot >= 0] = zeroshot[zeroshot >= 0]

    topics, cluster_to_topic = order_by_size(clusters, first=0 if zeroshot is None else len(names))
    named = {} if zeroshot is None else {cluster_to_topic[k]: k for k in np.unique(zeroshot[zeroshot >= 0])}
    warn_if_dominated(topics)
    X = doc_term_matrix(stages.vectorizer, docs, backend)
    clock.lap("count")
    vocab = vocabulary(stages.vectorizer)
    w = weigh_topics(model, topics, cluster_to_topic, TopicTotals.of(topics, X, emb, backend), stages.ctfidf,
                     backend, _guided.seed_multiplier(seeds, vocab), named, name_emb)
    clock.lap("ctfidf")

    def lazy_embed():
        nonlocal embedder
        embedder = embedder or load_embedder(embedding_spec(model), device, model.embedding_backend)
        return embed_fn(embedder, backend)

    ids = w.totals.ids
    words, aspects, representative = describe(w.c_tf_idf, ids, vocab, model.representation_model, model.top_n_words,
                                              lazy_embed, representatives_in(X, np.searchsorted(ids, w.topics), docs))
    topic_emb = w.totals.means()
    cluster_to_topic = w.cluster_to_topic
    if zeroshot is not None:  # as BERTopic: similarities to the topics, nearest topic in transform
        real = np.flatnonzero(ids >= 0)
        sims = cosine(emb, to_numpy(topic_emb)[real]) if real.size else np.zeros((len(docs), 0))
        probs = sims if model.calculate_probabilities else (sims.max(axis=1) if real.size else np.zeros(len(docs)))
        cluster_to_topic = {}
    else:
        probs = spread_rows(fit_probabilities(model, hdbscan_model, cluster_to_topic, strengths), rest, len(docs))
    clock.lap("represent")
    return FittedState.build(
        topics=w.topics, probabilities=probs, words=words, aspects=aspects, representative=representative,
        topic_embeddings=topic_emb, c_tf_idf=w.c_tf_idf, vocabulary=vocab, umap_model=umap_model,
        hdbscan_model=hdbscan_model, vectorizer_model=stages.vectorizer, ctfidf_model=stages.ctfidf,
        embedding_model_id=embedder.model_id if embedder is not None else None, n_features_in=int(emb.shape[1]),
        timings=clock.timings, embedder=embedder, cluster_to_topic=cluster_to_topic, output=output,
        zeroshot_topics=w.named, zeroshot_names=model.zeroshot_topic_list,
        topic_mapper=initial_rows(w.cluster_to_topic, ids),
        # the names' embeddings, for topic operations that carry the names (no re-embedding)
        zeroshot_name_emb=None if name_emb is None else to_numpy(name_emb),
    )


# ------------------------------------------------------------------ transform


def transform(model: Any, state: FittedState, docs: list[str], embeddings: Any = None):
    """Host ``(topics, probabilities)`` of new documents.

    Where the fitted reducer keeps its training embeddings (gputopic's UMAP, umap-learn's)
    and the clusters still name the topics: a vote of the documents' 5 most cosine-similar
    training documents, each for its topic (outliers included) with its similarity
    (:func:`gputopic.cluster.vote`); the probability is the winner's share of the vote (0
    for an outlier), or with ``calculate_probabilities`` HDBSCAN's soft memberships after
    the UMAP projection. Otherwise the fitted UMAP + HDBSCAN prediction where the models
    support it, else the most cosine-similar topic embedding. Empty documents and every
    document of a model without topics are outliers (-1) with probability 0."""
    n_topics = sum(1 for t in state.ids if t >= 0)
    keep = np.setdiff1d(np.arange(len(docs)), blank_rows(docs))
    if n_topics == 0 or keep.size == 0:
        if n_topics == 0:
            logger.warning("The model found no topics besides outliers (-1): every document is an outlier.")
        shape = (len(docs), n_topics) if model.calculate_probabilities else (len(docs),)
        return np.full(len(docs), -1, dtype=np.int64), np.zeros(shape)
    backend = get_backend(resolve_device(model.device))
    if embeddings is not None:
        emb = embed_documents(model, state, docs, backend, embeddings)[backend.xp.asarray(keep)]
    else:
        emb = embed_documents(model, state, [docs[i] for i in keep.tolist()], backend, verbose=model.verbose is True)
    topics = probs = None
    umap_model, hdbscan_model = state.umap_model, state.hdbscan_model
    if umap_model is not None and hdbscan_model is not None and state.cluster_to_topic:
        voters = _cluster.training_votes(_reduce.training_rows(umap_model), hdbscan_model, state.cluster_to_topic)
        if voters is not None:
            topics, probs = _cluster.vote(*voters, emb, backend)
        if callable(getattr(umap_model, "transform", None)) and (topics is None or model.calculate_probabilities):
            reduced = _reduce.transform_reduce(umap_model, emb, backend)
            result = _cluster.predict(hdbscan_model, reduced, backend)
            if result is not None and topics is None:
                topics = np.array([state.cluster_to_topic.get(int(c), -1) for c in result[0]], dtype=np.int64)
                probs = result[1]
            if result is not None and model.calculate_probabilities:
                soft = finite_memberships(_cluster.soft_memberships(hdbscan_model, reduced, backend))
                probs = merge_columns(soft, state.cluster_to_topic)
            elif model.calculate_probabilities:  # the clustering cannot place points: similarities instead
                probs = nearest_topic(state, emb, backend, True)[1]
    if topics is None:
        topics, probs = nearest_topic(state, emb, backend, model.calculate_probabilities)
    if keep.size == len(docs):
        return topics, probs
    full = np.full(len(docs), -1, dtype=np.int64)
    full[keep] = topics
    return full, spread_rows(probs, keep, len(docs))


def nearest_topic(state: FittedState, emb, backend: Backend, calculate_probabilities: bool):
    """Each document's most cosine-similar topic embedding (outliers left out) and the
    similarities (all of them with ``calculate_probabilities``, else the best)."""
    xp = backend.xp
    ids = np.asarray(state.ids)
    keep = ids >= 0
    if not keep.any():
        raise InputError("The model found no topics besides outliers (-1): nothing to assign to.")
    centers = backend.asarray(state.topic_embeddings, dtype=xp.float32)[xp.asarray(np.flatnonzero(keep))]
    a = emb / xp.maximum(xp.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    b = centers / xp.maximum(xp.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
    sims = a @ b.T
    topics = ids[keep][to_numpy(xp.argmax(sims, axis=1))]
    probs = to_numpy(sims) if calculate_probabilities else to_numpy(xp.max(sims, axis=1))
    return topics, probs
