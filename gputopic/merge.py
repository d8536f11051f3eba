"""Merging fitted models into one (BERTopic's ``merge_models``).

Each model's topic arrays come to the host once; its topics are compared with the topics
merged before it in one cosine matrix. The merged model has no fitted sub-models: new
documents are assigned by topic embeddings, and new text is weighted with the union idf.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._validation import check_number
from .device import host_sparse, to_numpy
from .exceptions import InputError
from .represent import cosine
from .state import FittedState
from .topics import relabel


def _idf_of(state: FittedState):
    ctfidf = state.ctfidf_model
    idf = getattr(ctfidf, "idf_", None) if ctfidf is not None else state.saved_idf
    return None if idf is None else np.asarray(to_numpy(idf), dtype=np.float64)


def merge_models(models: Sequence[FittedState], min_similarity: float, zeroshot_names: Sequence[str] | None = None,
                 new_embedding_model: bool = False) -> FittedState:
    """BERTopic's ``merge_models``: the first model's topics, then each later model's topics
    whose embedding is less than ``min_similarity`` cosine-similar to every topic merged
    before that model, as new topics; the others join their most similar topic. Training topics are
    concatenated in model order, sizes added up. Topic vectors, words and representative
    documents come from the model that brought the topic; the c-TF-IDF spans the union of
    the vocabularies (a term's idf from the first model that has it)."""
    import scipy.sparse as sps

    min_similarity = check_number("min_similarity", min_similarity)
    if not -1.0 <= min_similarity <= 1.0:
        raise InputError(f"min_similarity must be a cosine similarity in [-1, 1], got {min_similarity}.")
    base = models[0]
    for i, m in enumerate(models[1:], start=1):
        names = (m.embedding_model_id, base.embedding_model_id)
        if m.n_features_in != base.n_features_in or (all(names) and names[0] != names[1]):
            raise InputError(f"Model {i} embeds with {m.embedding_model_id} ({m.n_features_in} dims), model 0 with "
                             f"{base.embedding_model_id} ({base.n_features_in} dims): merged models must share "
                             "their embedding model.")
    vocab = list(base.vocabulary)
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
            term = m.vocabulary[c]
            if term not in column:
                column[term] = len(vocab)
                vocab.append(term)
                if idf is not None:
                    idf.append(float(m_idf[c]))
            cols.append(column[term])
        rows[new] = (np.asarray(cols, dtype=np.int64), row.data.astype(np.float64))
        words[new] = list(m.representations[t])
        rep[new] = list(m.representative_docs.get(t, []))

    parts, sizes = [], {}
    for m, m_idf in zip(models, idfs):  # each model's arrays come to the host once
        m_ids = m.ids
        m_emb = to_numpy(m.topic_embeddings).astype(np.float32)
        m_ctfidf = host_sparse(m.c_tf_idf)
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
            if -1 in m.topic_sizes and -1 not in emb:
                take(m, m_idf, m_emb, m_ctfidf, 0, -1, -1)
        parts.append(relabel(m.topics, mapping))
        for t, size in m.topic_sizes.items():  # a partial_fit model's sizes count all its batches
            sizes[mapping[t]] = sizes.get(mapping[t], 0) + int(size)
    ids = sorted(emb)
    indptr = np.cumsum([0] + [rows[t][0].size for t in ids])
    c_tf_idf = sps.csr_matrix((np.concatenate([rows[t][1] for t in ids]), np.concatenate([rows[t][0] for t in ids]),
                               indptr), shape=(len(ids), len(vocab)))
    c_tf_idf.sort_indices()
    return FittedState.build(
        topics=np.concatenate(parts), probabilities=None, words=words, representative=rep, topic_sizes=sizes,
        sizes_are_counts=all(m.sizes_are_counts for m in models),
        topic_embeddings=np.stack([emb[t] for t in ids]), c_tf_idf=c_tf_idf, vocabulary=vocab,
        embedding_model_id=base.embedding_model_id, n_features_in=base.n_features_in,
        embedder=None if new_embedding_model else base.embedder,
        zeroshot_topics={t: k for t, k in base.zeroshot_topics.items() if t in emb}, zeroshot_names=zeroshot_names,
        saved_idf=None if idf is None else np.asarray(idf),
        needs_embedding_model=not new_embedding_model and base.needs_embedding_model,
    )
