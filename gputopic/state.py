"""The fitted state of a topic model, as one value.

Every writer of a model's state builds a :class:`FittedState`: the in-process, sharded and
online fits (:mod:`gputopic.pipeline`, :mod:`gputopic.distributed`, :mod:`gputopic.online`),
the topic operations (:mod:`gputopic.topics`), :func:`gputopic.merge.merge_models` and
:func:`gputopic.persist.load_model`. The estimator applies it in one call
(``GPUTopic._apply``), which checks it with :meth:`FittedState.check` and sets the public
fitted attributes (``topics_``, ``c_tf_idf_``, ...) in the kind its :class:`Output` names.
Operations read a model's state through the value the estimator hands them, never through
its private attributes.

Arrays are kept where they were computed: ``topics`` and ``probabilities`` on the host,
``topic_embeddings`` and ``c_tf_idf`` on the fit's device (NumPy/SciPy or CuPy).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .device import HOST, Output, to_numpy
from .exceptions import InputError
from .mapper import current_topics, initial_rows

Words = dict  # {topic: [(word, score), ...]}


def topic_counts(topics: np.ndarray) -> dict[int, int]:
    """``{topic: number of documents}`` of host topic ids >= -1, in O(n) (no sort)."""
    counts = np.bincount(topics + 1) if topics.size else np.zeros(0, dtype=np.int64)
    return {int(t) - 1: int(c) for t, c in enumerate(counts) if c}


def topic_label(topic: int, words: list[tuple[str, float]]) -> str:
    """BERTopic's default topic name: the id and the first four words, joined by ``_``."""
    return f"{topic}_" + "_".join(w for w, _ in words[:4])


@dataclass
class FittedState:
    """Everything a fitted model knows (see the module docstring).

    ``cluster_to_topic`` maps the clustering model's cluster ids to topic ids (empty when
    new documents are assigned by topic embeddings instead); ``zeroshot_topics`` maps a topic
    to its index in ``zeroshot_topic_list``; ``online`` holds ``partial_fit``'s running sums;
    ``saved_idf`` the idf of a loaded or merged model, which has no fitted c-TF-IDF model;
    ``unsaved_slots`` the custom sub-model slots a loaded model needs set again;
    ``embedder`` caches the loaded embedding model (not part of the model's identity);
    ``topic_mapper`` the rows of BERTopic's ``topic_mapper_`` (:mod:`gputopic.mapper`),
    made from ``cluster_to_topic`` when not given.
    """

    topics: np.ndarray
    probabilities: Any
    topic_sizes: dict
    representations: Words
    labels: dict
    representative_docs: dict
    topic_embeddings: Any
    c_tf_idf: Any
    vocabulary: list
    n_features_in: int
    aspects: dict = field(default_factory=dict)
    custom_labels: list | None = None
    umap_model: Any = None
    hdbscan_model: Any = None
    vectorizer_model: Any = None
    ctfidf_model: Any = None
    embedding_model_id: str | None = None
    timings: dict = field(default_factory=dict)
    cluster_to_topic: dict = field(default_factory=dict)
    zeroshot_topics: dict = field(default_factory=dict)
    zeroshot_name_emb: np.ndarray | None = None
    online: Any = None
    saved_idf: np.ndarray | None = None
    unsaved_slots: tuple = ()
    needs_embedding_model: bool = False
    embeddings_sample_size: int | None = None
    sizes_are_counts: bool = True  # False after partial_fit: sizes count every batch, topics the last
    output: Output = HOST
    embedder: Any = None
    topic_mapper: tuple = ()

    @classmethod
    def build(cls, *, topics, words: Words, zeroshot_names=None, zeroshot_topics: dict | None = None,
              topic_sizes: dict | None = None, representative: dict | None = None, **values) -> "FittedState":
        """A state from what a fit or an operation computed: sizes counted from ``topics``
        unless given, labels made from the words (zero-shot topics named by
        ``zeroshot_names[k]``), representative documents cut to the three kept."""
        topics = np.asarray(to_numpy(topics), dtype=np.int64)
        if topic_sizes is None:
            topic_sizes = topic_counts(topics)
        zeroshot = {int(t): int(k) for t, k in (zeroshot_topics or {}).items()}
        labels = {t: topic_label(t, w) for t, w in words.items()}
        labels.update({t: zeroshot_names[k] for t, k in zeroshot.items()})
        if not values.get("topic_mapper"):
            values["topic_mapper"] = initial_rows(values.get("cluster_to_topic") or {}, topic_sizes)
        return cls(topics=topics, representations=words, labels=labels, topic_sizes=topic_sizes,
                   zeroshot_topics=zeroshot,
                   representative_docs={int(t): list(d)[:3] for t, d in (representative or {}).items()},
                   **values)

    def derive(self, *, topics, words: Words, zeroshot_names=None, **changes) -> "FittedState":
        """The state after the topics changed (a topic operation, a batch of ``partial_fit``):
        built as :meth:`build` builds it from ``changes``, everything else kept; custom labels,
        the topic mapper and ``partial_fit``'s running sums are dropped unless given (topic ids
        renumber)."""
        keep = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("topics", "representations", "labels", "topic_sizes", "representative_docs",
                                  "zeroshot_topics", "topic_mapper")}
        keep.update(custom_labels=None, online=None, sizes_are_counts=True, zeroshot_topics=self.zeroshot_topics)
        keep.update(changes)
        return FittedState.build(topics=topics, words=words, zeroshot_names=zeroshot_names, **keep)

    def with_(self, **changes) -> "FittedState":
        """A copy with ``changes`` (the state is never changed in place once applied)."""
        return replace(self, **changes)

    @property
    def ids(self) -> list[int]:
        """The topic ids, in increasing order (-1 first when there are outliers)."""
        return sorted(self.topic_sizes)

    def check(self) -> "FittedState":
        """Raise :class:`InputError` unless the parts agree with each other: one topic table
        (sizes, words, labels, aspects, custom labels, rows of the c-TF-IDF and of the topic
        embeddings), document topics drawn from it whose counts are the sizes (unless
        ``sizes_are_counts`` is False: after ``partial_fit`` the sizes count every batch, the
        topics only the last one), probabilities with one row per document, a c-TF-IDF column per vocabulary term."""
        ids = self.ids
        problems = []
        if any(t < -1 for t in ids) or any(s < 0 for s in self.topic_sizes.values()):
            problems.append("topic ids below -1 or negative sizes")
        for name, table in (("topic words", self.representations), ("labels", self.labels),
                            *((f"aspect {a!r}", w) for a, w in self.aspects.items())):
            if sorted(table) != ids:
                problems.append(f"the {name} cover topics {sorted(table)[:8]}, the sizes {ids[:8]}")
        if set(self.representative_docs) - set(ids):
            problems.append("representative documents of unknown topics")
        if self.custom_labels is not None and len(self.custom_labels) != len(ids):
            problems.append(f"{len(self.custom_labels)} custom labels for {len(ids)} topics")
        if tuple(self.c_tf_idf.shape) != (len(ids), len(self.vocabulary)):
            problems.append(f"c-TF-IDF of shape {tuple(self.c_tf_idf.shape)} for {len(ids)} topics and "
                            f"{len(self.vocabulary)} terms")
        if tuple(self.topic_embeddings.shape) != (len(ids), self.n_features_in):
            problems.append(f"topic embeddings of shape {tuple(self.topic_embeddings.shape)} for {len(ids)} "
                            f"topics of width {self.n_features_in}")
        counted = topic_counts(self.topics) if not self.topics.size or self.topics.min() >= -1 else {-2: 1}
        if set(counted) - set(ids):
            problems.append(f"document topics {sorted(set(counted) - set(ids))[:5]} not in the table")
        elif self.sizes_are_counts and any(self.topic_sizes[t] != c for t, c in counted.items()):
            problems.append("topic sizes that are not the counts of the documents' topics")
        elif self.sizes_are_counts and sum(self.topic_sizes.values()) != self.topics.shape[0]:
            problems.append("topic sizes that do not sum to the documents")
        probs = self.probabilities
        if probs is not None and (np.ndim(probs) not in (1, 2) or np.shape(probs)[0] != self.topics.shape[0]):
            problems.append(f"probabilities of shape {np.shape(probs)} for {self.topics.shape[0]} documents")
        if set(self.zeroshot_topics) - set(ids):
            problems.append("zero-shot names of unknown topics")
        if current_topics(self.topic_mapper) - set(ids) or len({len(r) for r in self.topic_mapper}) > 1:
            problems.append("a topic mapper whose rows differ in length or end in unknown topics")
        if problems:
            raise InputError("Inconsistent topic model state: " + "; ".join(problems) + ".")
        return self
