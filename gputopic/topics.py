"""Topic arithmetic: which topics merge, and how per-topic rows follow a merge.

BERTopic's semantics: ``nr_topics`` counts the outlier topic -1 as one of the topics;
merged topics are renumbered by size (0 the largest). Everything here is a function of
explicit arrays (no model): :func:`reduction_mapping` (old topic -> new topic for
``nr_topics``), :func:`merge_mapping`, :func:`relabel`, :func:`merge_rows` (per-topic rows of
counts, embedding sums, sizes summed per new topic), :func:`merge_columns` (membership
columns summed per topic). The operations on a fitted model that use them are in
:mod:`gputopic.operations`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._validation import check_nr_topics
from .device import Backend, host_sparse, to_numpy
from .exceptions import InputError
from .represent import cosine
from .vectorize import one_hot


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
    M = host_sparse(c_tf_idf)[rows] if use_ctfidf else to_numpy(topic_embeddings)[rows]
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
