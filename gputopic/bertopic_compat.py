"""Compatibility with BERTopic: its representation models, and its save folders.

Representation models
---------------------
BERTopic's representation models (``bertopic.representation.BaseRepresentation``: KeyBERTInspired,
MaximalMarginalRelevance, PartOfSpeech, ZeroShotClassification, the LLM ones such as OpenAI,
TextGeneration, LangChain, LiteLLM, Cohere, LlamaCPP) implement
``extract_topics(topic_model, documents, c_tf_idf, topics)`` and call back into the topic model.
:func:`wrap` turns one (or a list / dict of them, BERTopic's chains and aspects) into gputopic
representation models (``represent(topic_words, *, embed, ...)``, see :mod:`gputopic.represent`).
The topic model they see is a :class:`TopicModelView` built from the inputs the host passes,
exposing only what those classes read (listed from their 0.17.4 source):

====================================  =============================================================
``verbose``                           LLM models' progress bars (always False)
``embedding_model``                   MMR checks it is not None (the host's ``embed``)
``_extract_embeddings(docs, ...)``    KeyBERTInspired, MMR: the host's ``embed``
``_extract_representative_docs(...)`` KeyBERTInspired and the LLM models: the host's representative
                                      documents (see :meth:`TopicModelView._extract_representative_docs`)
``_top_n_idx_sparse``,                KeyBERTInspired's candidate words: BERTopic's own static
``_top_n_values_sparse``              methods (pure functions of the matrix)
``vectorizer_model``                  ``get_feature_names_out()`` (KeyBERTInspired, PartOfSpeech) and
                                      ``build_tokenizer()`` (``truncate_document(tokenizer="vectorizer")``)
``c_tf_idf_``, ``_outliers``          PartOfSpeech: row ``topic + _outliers`` of the c-TF-IDF matrix
``topic_representations_``            ``BaseRepresentation.extract_topics`` itself returns it
====================================  =============================================================

Nothing else of a BERTopic model is there: a representation model that reads more fails with an
AttributeError naming the attribute. ``VisualRepresentation`` (images) is refused.

BERTopic's save folders are read and written by :mod:`gputopic.bertopic_format`.

Private members
---------------
:class:`BERTopicPrivateMembers` gives :class:`gputopic.GPUTopic` the two BERTopic private
members that its tests, plug-ins and users' code read (``_outliers``, ``_is_zeroshot()``).
"""

from __future__ import annotations

import re
import sys
from typing import Callable, Mapping

import numpy as np

from ._validation import check_fitted
from .exceptions import InputError

__all__ = ["is_bertopic_representation", "wrap", "BERTopicRepresentation", "TopicModelView"]

# ===================================================================== representation models


def _base_representation():
    """BERTopic's BaseRepresentation class if BERTopic is already imported, else None (a
    BERTopic object can only exist once its module is loaded, so nothing is imported here)."""
    module = sys.modules.get("bertopic.representation._base") or sys.modules.get("bertopic.representation")
    return getattr(module, "BaseRepresentation", None)


def is_bertopic_representation(obj) -> bool:
    """Whether ``obj`` is a BERTopic representation model, or a list or dict (BERTopic's chain
    and aspects forms) holding at least one."""
    base = _base_representation()
    if base is None:
        return False
    if isinstance(obj, dict):
        return any(is_bertopic_representation(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(isinstance(m, base) for m in obj)
    return isinstance(obj, base)


def wrap(obj):
    """``obj`` with every BERTopic representation model in it wrapped as a
    :class:`BERTopicRepresentation`; lists stay lists (chains), dicts stay dicts (aspects), and
    anything else (gputopic's own models, None) is returned as is."""
    base = _base_representation()
    if base is None:
        return obj
    if isinstance(obj, dict):
        return {k: wrap(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [wrap(m) for m in obj]
    if isinstance(obj, base):
        return BERTopicRepresentation(obj)
    return obj


class _VocabularyView:
    """What BERTopic's representation models use of a fitted CountVectorizer."""

    def __init__(self, vocabulary, tokenizer: Callable[[str], list] | None):
        self._vocabulary = np.asarray(list(vocabulary), dtype=object)
        self._tokenizer = tokenizer

    def get_feature_names_out(self):
        return self._vocabulary

    def build_tokenizer(self):
        # scikit-learn CountVectorizer's default token pattern when the host gives no tokenizer
        return self._tokenizer or re.compile(r"(?u)\b\w\w+\b").findall


class TopicModelView:
    """The read-only stand-in for a BERTopic model that BERTopic's representation models receive.

    Built from explicit inputs, never from a gputopic model's state:

    c_tf_idf_ : SciPy CSR, one row per topic id from ``-1`` (when ``outliers``) or ``0`` up to
        the largest id (rows of ids the host did not give are empty)
    vocabulary : the c-TF-IDF matrix's column words
    embed : ``list[str] -> (n, d) array`` or None
    representative : ``{topic: [document, ...]}``, best first
    topic_words : ``{topic: [(word, score), ...]}`` (what ``topic_representations_`` returns)
    tokenizer : ``str -> list[str]`` for ``truncate_document(tokenizer="vectorizer")``
    """

    verbose = False

    def __init__(self, c_tf_idf_, vocabulary, embed, representative, topic_words, outliers: bool,
                 tokenizer=None):
        self.c_tf_idf_ = c_tf_idf_
        self._outliers = int(bool(outliers))
        self.vectorizer_model = _VocabularyView(vocabulary, tokenizer)
        self.embedding_model = embed
        self._embed = embed
        self._representative = representative
        self.topic_representations_ = topic_words

    @staticmethod
    def _top_n_idx_sparse(matrix, n):
        from bertopic._bertopic import BERTopic

        return BERTopic._top_n_idx_sparse(matrix, n)

    @staticmethod
    def _top_n_values_sparse(matrix, indices):
        from bertopic._bertopic import BERTopic

        return BERTopic._top_n_values_sparse(matrix, indices)

    def _extract_embeddings(self, documents, images=None, method="document", verbose=None):
        if self._embed is None:
            raise InputError("this BERTopic representation model needs embeddings, but the topic model has no "
                             "embedding model: give GPUTopic an embedding_model.")
        if isinstance(documents, str):
            documents = [documents]
        return np.asarray(self._embed(list(documents)), dtype=np.float32)

    def _extract_representative_docs(self, c_tf_idf, documents, topics, nr_samples=500, nr_repr_docs=5,
                                     diversity=None):
        """BERTopic's return shape ``(mapping, flat docs, indices into flat docs, document ids)``
        for the topics in sorted order, from the host's representative documents (those whose
        term counts are most similar to the topic's c-TF-IDF row, all documents compared, none
        sampled: ``nr_samples`` is not used). With ``diversity``, the ``nr_repr_docs`` are picked
        by maximal marginal relevance over the host's candidates' embeddings."""
        flat, indices, ids, mapping = [], [], [], {}
        for topic in sorted(topics):
            candidates = list(self._representative.get(topic, []))
            docs = candidates[: int(nr_repr_docs)]
            if diversity and self._embed is not None and len(candidates) > int(nr_repr_docs):
                docs = _mmr_docs(candidates, self._embed, int(nr_repr_docs), float(diversity))
            indices.append(list(range(len(flat), len(flat) + len(docs))))
            flat.extend(docs)
            mapping[topic] = docs
            frame = documents.loc[documents.Topic == topic, "Document"] if documents is not None else None
            ids.append([] if frame is None else [int(i) for i, d in frame.items() if d in docs])
        return mapping, flat, indices, ids


def _mmr_docs(candidates, embed, n, diversity):
    """``n`` of ``candidates`` (best first) picked by maximal marginal relevance, the topic
    vector being the candidates' mean embedding."""
    vecs = np.asarray(embed(candidates), dtype=np.float64)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    target = vecs.mean(axis=0)
    relevance = vecs @ (target / max(np.linalg.norm(target), 1e-12))
    pairwise = vecs @ vecs.T
    picked = [0]
    rest = list(range(1, len(candidates)))
    while rest and len(picked) < n:
        score = (1 - diversity) * relevance[rest] - diversity * pairwise[np.ix_(rest, picked)].max(axis=1)
        best = rest[int(np.argmax(score))]
        picked.append(best)
        rest.remove(best)
    return [candidates[i] for i in picked]


class BERTopicRepresentation:
    """A BERTopic representation model run through gputopic's representation protocol.

    Declares what it needs: ``nr_candidate_words`` (the wrapped model's, at least 30, as
    BERTopic gives its models 30 c-TF-IDF words per topic) and ``nr_repr_docs`` (the wrapped
    model's ``nr_repr_docs`` or ``nr_docs``, four times that with ``diversity``, so that there
    are candidates to diversify). ``represent`` takes, besides ``topic_words``, ``embed`` and
    ``representative_docs``, optional fuller inputs the host may pass: ``documents`` and
    ``document_topics`` (the training documents and their topic ids), ``c_tf_idf`` with
    ``topic_ids`` (its row order) and ``vocabulary`` (its columns), and ``tokenizer``. Without
    them the c-TF-IDF matrix is the scores of ``topic_words`` (exact for the words given) and
    the documents are the representative ones.

    As BERTopic does, each topic's words are padded to ``nr_candidate_words`` with ``("", 1e-5)``
    before the model runs; the empty words are dropped from its output. Topics without
    representative documents keep their input words (BERTopic's models assume every topic has
    documents).
    """

    def __init__(self, model):
        self.model = model

    @property
    def nr_candidate_words(self) -> int:
        return max(30, int(getattr(self.model, "nr_candidate_words", 0) or 0))

    @property
    def nr_repr_docs(self) -> int:
        n = int(getattr(self.model, "nr_repr_docs", 0) or getattr(self.model, "nr_docs", 0) or 0)
        return n * 4 if getattr(self.model, "diversity", None) else n

    def __repr__(self):
        return f"BERTopicRepresentation({self.model!r})"

    def represent(self, topic_words: Mapping[int, list], *, embed=None, representative_docs=None,
                  documents=None, document_topics=None, c_tf_idf=None, topic_ids=None, vocabulary=None,
                  tokenizer=None) -> dict:
        import pandas as pd

        if type(self.model).__name__ == "VisualRepresentation":
            raise InputError("BERTopic's VisualRepresentation needs images, which gputopic does not take; "
                             "use a text representation model.")
        representative = {int(t): list(d) for t, d in (representative_docs or {}).items()}
        keep = {int(t): [(str(w), float(s)) for w, s in pairs] for t, pairs in topic_words.items()}
        run = sorted(t for t in keep if representative.get(t))
        if not run:
            return keep
        outliers = -1 in keep

        if c_tf_idf is not None:
            if topic_ids is None or vocabulary is None:
                raise InputError("pass c_tf_idf together with topic_ids (its row order) and vocabulary (its columns).")
            matrix, words = _host_matrix(c_tf_idf, topic_ids, outliers), list(vocabulary)
        else:
            matrix, words = _words_matrix(keep, outliers)
        first = -1 if outliers else 0
        rows = [t - first for t in run]
        if documents is not None:
            if document_topics is None or len(document_topics) != len(documents):
                raise InputError("pass documents together with document_topics, one topic id per document.")
            frame = pd.DataFrame({"Document": list(documents), "ID": range(len(documents)),
                                  "Topic": np.asarray(document_topics).astype(int)})
        else:
            pairs = [(d, t) for t in run for d in representative[t]]
            frame = pd.DataFrame({"Document": [d for d, _ in pairs], "ID": range(len(pairs)),
                                  "Topic": [t for _, t in pairs]})
        # BERTopic hands its models max(top_n_words, 30) words per topic, padded with ("", 1e-5)
        # (its MMR, for one, assumes at least top_n_words candidates)
        width = max([self.nr_candidate_words] + [len(keep[t]) for t in run])
        given = {t: keep[t] + [("", 0.00001)] * (width - len(keep[t])) for t in run}
        view = TopicModelView(matrix, words, embed, representative, given, outliers, tokenizer)
        out = self.model.extract_topics(view, frame, matrix[rows], given)
        if not isinstance(out, Mapping):
            raise InputError(f"{type(self.model).__name__}.extract_topics returned {type(out).__name__}, "
                             "not a {topic: [(word, score), ...]} dict.")
        for t, pairs in out.items():
            # the padding words ("") BERTopic's models return are dropped
            keep[int(t)] = [(str(w), float(s)) for w, s in pairs if str(w)]
        return keep


def _host_matrix(c_tf_idf, topic_ids, outliers: bool):
    """The host's c-TF-IDF rows laid out BERTopic's way: row ``topic + outliers``."""
    from scipy import sparse

    if hasattr(c_tf_idf, "get"):  # CuPy sparse -> SciPy
        c_tf_idf = c_tf_idf.get()
    M = sparse.csr_matrix(c_tf_idf)
    ids = [int(t) for t in topic_ids]
    if len(ids) != M.shape[0]:
        raise InputError(f"topic_ids has {len(ids)} ids for a c-TF-IDF matrix of {M.shape[0]} rows.")
    first = -1 if outliers else 0
    n = max(ids + [first]) - first + 1
    pick = sparse.csr_matrix((np.ones(len(ids)), ([t - first for t in ids], range(len(ids)))), shape=(n, len(ids)))
    return (pick @ M).tocsr()


def _words_matrix(topic_words: Mapping[int, list], outliers: bool):
    """A c-TF-IDF matrix holding only the scores of ``topic_words`` (its vocabulary: their words)."""
    from scipy import sparse

    words = sorted({w for pairs in topic_words.values() for w, _ in pairs if w})
    at = {w: i for i, w in enumerate(words)}
    first = -1 if outliers else 0
    n = max(list(topic_words) + [first]) - first + 1
    r, c, v = [], [], []
    for t, pairs in topic_words.items():
        for w, s in pairs:
            if w in at and float(s) > 0:
                r.append(t - first)
                c.append(at[w])
                v.append(float(s))
    return sparse.csr_matrix((v, (r, c)), shape=(n, max(len(words), 1))), words


class BERTopicPrivateMembers:
    """BERTopic's private members that its own tests, plug-ins and users' code read, offered
    by :class:`gputopic.GPUTopic` as read-only views of public state (no fitted state of
    their own): ``topic + model._outliers`` indexes topic-ordered arrays, and
    ``model._is_zeroshot()`` asks whether zero-shot topics are set."""

    @property
    def _outliers(self) -> int:
        """1 if the model has the outlier topic -1, else 0 (BERTopic's ``_outliers``: the
        offset of topic 0 in ``topic_labels_``, ``topic_embeddings_`` and ``c_tf_idf_``)."""
        check_fitted(self)
        return 1 if -1 in self.topic_sizes_ else 0

    def _is_zeroshot(self) -> bool:
        """Whether zero-shot topics are asked for (BERTopic's ``_is_zeroshot()``): a
        ``zeroshot_topic_list`` (gputopic always has an embedding model to embed it)."""
        return self.zeroshot_topic_list is not None
