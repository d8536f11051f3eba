"""Steering the topics with prior knowledge, as BERTopic does: seed topics (guided topic
modelling) and zero-shot topics.

* **Seed topics** (``seed_topic_list``, lists of words): each seed topic's words are
  embedded as one text; every document takes as its label the seed topic it is most
  similar to, unless the centre of all documents (the mean embedding) is more similar, in
  which case it stays unlabelled (-1). A labelled document's embedding moves a quarter of
  the way to its seed topic's, and the labels go to UMAP as a semi-supervised target. The
  seed words' idf is multiplied by :data:`SEED_MULTIPLIER` in the c-TF-IDF.
* **Zero-shot topics** (``zeroshot_topic_list``, topic names): the names are embedded;
  each document whose cosine similarity to a name reaches ``zeroshot_min_similarity``
  joins that topic (the most similar one), and only the other documents are clustered.

The functions here take embeddings on either device (the backend's ``xp``) and return the
same kind; the estimator embeds the seed texts and names with its own embedding model.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from .device import Backend, to_numpy
from .exceptions import InputError

logger = logging.getLogger("gputopic")

SEED_MULTIPLIER = 1.2  # BERTopic's weight for the idf of seed words
SEED_PULL = 0.25  # share of the way a labelled document's embedding moves to its seed topic's


def check_seed_topics(seed_topic_list: Any) -> list[list[str]] | None:
    """``seed_topic_list`` as lists of words, or an :class:`InputError` naming the problem."""
    if seed_topic_list is None:
        return None
    ok = (isinstance(seed_topic_list, (list, tuple)) and len(seed_topic_list) > 0
          and all(isinstance(t, (list, tuple)) and len(t) > 0 for t in seed_topic_list))
    if not ok or not all(isinstance(w, str) and w.strip() for t in seed_topic_list for w in t):
        raise InputError("seed_topic_list must be a non-empty list of non-empty lists of words, e.g. "
                         f"[['space', 'nasa'], ['drug', 'cancer']]; got {seed_topic_list!r:.200}.")
    return [list(t) for t in seed_topic_list]


def check_zeroshot(zeroshot_topic_list: Any, zeroshot_min_similarity: Any) -> list[str] | None:
    """``zeroshot_topic_list`` as a list of names (and a checked threshold), or an error."""
    if isinstance(zeroshot_min_similarity, bool) or not isinstance(zeroshot_min_similarity, (int, float, np.number)) \
            or not -1 <= zeroshot_min_similarity <= 1:
        raise InputError(f"zeroshot_min_similarity must be a cosine similarity in [-1, 1], got "
                         f"{zeroshot_min_similarity!r}.")
    if zeroshot_topic_list is None:
        return None
    names = list(zeroshot_topic_list) if isinstance(zeroshot_topic_list, (list, tuple)) else None
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise InputError("zeroshot_topic_list must be a non-empty list of topic names (non-empty strings), e.g. "
                         f"['space travel', 'cancer research']; got {zeroshot_topic_list!r:.200}.")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"zeroshot_topic_list names {dup} more than once: give each topic once.")
    return names


def _unit(xp, A):
    return A / xp.maximum(xp.linalg.norm(A, axis=1, keepdims=True), 1e-12)


def guide(emb, seed_emb, backend: Backend):
    """Seed-topic labels (host int64, -1 = nearer the corpus centre than to any seed topic)
    and the embeddings pulled towards their seed topics (a new array; ``emb`` is unchanged)."""
    xp = backend.xp
    emb = emb.astype(xp.float32, copy=True)
    seed_emb = xp.asarray(seed_emb, dtype=xp.float32)
    anchors = xp.concatenate([emb.mean(axis=0, keepdims=True), seed_emb])
    best = to_numpy(xp.argmax(_unit(xp, emb) @ _unit(xp, anchors).T, axis=1)).astype(np.int64) - 1
    labelled = np.flatnonzero(best >= 0)
    if labelled.size:
        rows = xp.asarray(labelled)
        target = seed_emb[xp.asarray(best[labelled])]
        emb[rows] = (1.0 - SEED_PULL) * emb[rows] + SEED_PULL * target
    return best, emb


def steer(seeds: list[list[str]] | None, names: list[str] | None, min_similarity: float, emb, labels, embedder,
          backend: Backend):
    """The fit's guidance step: ``(labels, embeddings, zero-shot index per document or
    None, name embeddings or None)``. Seed topics make the labels (replacing ``labels``)
    and pull the embeddings; zero-shot names then take the documents that
    reach ``min_similarity`` (None when no document does: an ordinary fit)."""
    zeroshot = name_emb = None

    def encode(texts: list[str], what: str):
        out = embedder.encode(texts, backend)
        if out.shape[1] != emb.shape[1]:
            raise InputError(f"The {what} are embedded by the embedding model ({out.shape[1]} dimensions) but the "
                             f"documents' embeddings have {emb.shape[1]}: pass the embedding_model that made them.")
        return out

    if seeds is not None:  # the estimator refuses y together with seed topics
        labels, emb = guide(emb, encode([" ".join(t) for t in seeds], "seed topics"), backend)
    if names is not None:
        name_emb = encode(names, "zero-shot topic names")
        zeroshot = zeroshot_assign(emb, name_emb, min_similarity, backend)
        if not (zeroshot >= 0).any():
            logger.info("No document reaches zeroshot_min_similarity=%s with a zero-shot topic: all are "
                        "clustered.", min_similarity)
            zeroshot = None
    return labels, emb, zeroshot, name_emb


def seed_multiplier(seed_topic_list: Sequence[Sequence[str]] | None, vocab: Sequence[str]) -> np.ndarray | None:
    """Per-term idf multipliers: :data:`SEED_MULTIPLIER` for the seed words (as the
    vectorizer's vocabulary spells them), 1 for the others; None without seed topics."""
    if not seed_topic_list:
        return None
    seeds = {w for topic in seed_topic_list for w in topic}
    return np.asarray([SEED_MULTIPLIER if term in seeds else 1.0 for term in vocab], dtype=np.float64)


def zeroshot_assign(emb, name_emb, min_similarity: float, backend: Backend) -> np.ndarray:
    """For each document the index of the most similar zero-shot name when that cosine
    similarity reaches ``min_similarity``, else -1 (host int64)."""
    xp = backend.xp
    sims = _unit(xp, emb.astype(xp.float32)) @ _unit(xp, xp.asarray(name_emb, dtype=xp.float32)).T
    best = to_numpy(xp.argmax(sims, axis=1)).astype(np.int64)
    top = to_numpy(xp.max(sims, axis=1))
    return np.where(top >= min_similarity, best, -1)


def carry_names(old_topics: np.ndarray, new_topics: np.ndarray, named: dict[int, int], name_emb: np.ndarray,
                topic_emb: np.ndarray, new_ids: np.ndarray, min_similarity: float) -> dict[int, int]:
    """Zero-shot names after the topics changed (merged, reduced, reassigned): a new topic
    keeps the name, among those of the named old topics it took documents from, that is
    most cosine-similar to its embedding, if that similarity reaches ``min_similarity``
    (BERTopic's rule for merged zero-shot topics). ``topic_emb`` rows follow ``new_ids``."""
    from .represent import cosine

    pairs = np.unique(np.stack([np.asarray(old_topics), np.asarray(new_topics)]), axis=1)
    out: dict[int, int] = {}
    for row, t in enumerate(np.asarray(new_ids).tolist()):
        candidates = [named[o] for o in pairs[0][pairs[1] == t].tolist() if o in named and t >= 0]
        if not candidates:
            continue
        sims = cosine(name_emb[candidates], topic_emb[row:row + 1]).ravel()
        if sims.max() >= min_similarity:
            out[int(t)] = candidates[int(np.argmax(sims))]
    return out
