"""BERTopic's ``topic_mapper_``: how the clustering model's cluster ids became today's topics.

The mappings are rows of topic ids, one row per cluster id the fit found (-1 included when
there were outliers), one column per state of the topics: the first column is the
clustering model's label (``hdbscan_model.labels_``), the second the topic it became in the
fit (after sorting by size and ``nr_topics``), and each later topic change that maps old
topics to new ones (``reduce_topics``, ``merge_topics``, ``delete_topics``, an
``update_topics`` whose topics merge old ones) adds one column. So ``mappings_[:, -1]`` holds
the current topic of each cluster, and ``get_mappings()`` maps cluster ids to current topics,
as in BERTopic. An ``update_topics`` that splits topics, a loaded model without mappings, a
merged model, and ``partial_fit`` start again from the topics they have (each id its own row).
BERTopic adds two columns per change (the mapping, then the sort by size); here one column
holds both, so ``get_mappings(original_topics=False)`` (the change before the last column)
is the same mapping.

The rows live in :attr:`gputopic.state.FittedState.topic_mapper` (a tuple of tuples, so a
state never shares a mutable table); :class:`TopicMapper` is the read-only view the
estimator exposes.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

Rows = tuple  # tuple[tuple[int, ...], ...]


def identity_rows(ids: Iterable[int]) -> Rows:
    """Each topic id its own row, ``(t, t)``."""
    return tuple((int(t), int(t)) for t in sorted(ids))


def initial_rows(cluster_to_topic: dict[int, int], ids: Iterable[int]) -> Rows:
    """The rows of a fit: ``(cluster, topic)`` for each cluster id, and ``(-1, -1)`` when the
    topics include outliers; each topic id its own row when no cluster ids are known."""
    ids = sorted(int(t) for t in ids)
    if not cluster_to_topic:
        return identity_rows(ids)
    rows = {int(c): int(t) for c, t in cluster_to_topic.items() if int(c) >= 0}
    if -1 in ids:
        rows[-1] = -1
    return tuple((c, t) for c, t in sorted(rows.items()))


def add_column(rows: Rows, mapping: dict[int, int]) -> Rows:
    """The rows with one more column: each row's current topic mapped by ``mapping``
    (a topic the mapping does not name becomes -1, BERTopic's rule)."""
    return tuple(tuple(r) + (int(mapping.get(r[-1], -1)),) for r in rows)


def current_topics(rows: Rows) -> set[int]:
    """The topics of the last column."""
    return {r[-1] for r in rows}


class TopicMapper:
    """BERTopic's ``TopicMapper``, read-only: ``mappings_`` (a list of rows, see the module
    docstring) and :meth:`get_mappings`."""

    def __init__(self, rows: Rows):
        self._rows = tuple(tuple(int(x) for x in r) for r in rows)

    @property
    def mappings_(self) -> list[list[int]]:
        """The mappings as BERTopic keeps them: a list of rows (a new list at each read)."""
        return [list(r) for r in self._rows]

    def get_mappings(self, original_topics: Any = True) -> dict[int, int]:
        """``{cluster id: current topic}`` (``original_topics`` true, BERTopic's default), or
        ``{topic before the last change: current topic}``."""
        if not self._rows:
            return {}
        table = np.asarray(self._rows, dtype=np.int64)
        first = 0 if original_topics else max(table.shape[1] - 2, 0)
        return {int(a): int(b) for a, b in zip(table[:, first], table[:, -1])}

    def __repr__(self) -> str:
        return f"TopicMapper({len(self._rows)} clusters, {len(self._rows[0]) if self._rows else 0} columns)"
