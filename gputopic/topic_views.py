"""Views of a fitted model's topics: topic words over time and per class, and the topics
as a hierarchy (BERTopic's ``topics_over_time``, ``topics_per_class``,
``hierarchical_topics`` and ``get_topic_tree``).

They read the fitted state and the training documents and change nothing. The documents
are counted again as ``fit`` counted them (an unfitted copy of the fitted vectorizer, so
the same vocabulary and idf); every (topic, group) or hierarchy node is then a row of
summed counts weighted by the corpus' idf, computed by sparse products rather than one
c-TF-IDF pass per group.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .device import Backend, get_backend, is_cudf, resolve_device, to_numpy
from .exceptions import InputError
from .represent import topic_words
from .distributions import topic_rows
from .operations import count_topics
from .state import FittedState
from .topics import row_cosine
from .vectorize import class_term_matrix, labels_to_index


def _l1_rows(M, backend: Backend):
    sums = backend.xp.asarray(M.sum(axis=1)).ravel()
    return backend.sp.diags(1.0 / backend.xp.maximum(sums, 1e-300)) @ M


def _recount(model: Any, state: FittedState, docs: list[str], backend: Backend):
    """The training documents counted again per current topic: ``(topics, X, vocab, counts,
    ctfidf)`` with fit's vocabulary and idf."""
    topics = state.topics
    _, _, X, _, vocab, counts, ctfidf = count_topics(model, state, docs, topics, backend)
    return topics, X, vocab, counts, ctfidf


def topic_linkage(M, *, linkage_function: Any = None, distance_function: Any = None) -> np.ndarray:
    """The SciPy linkage matrix of topics whose rows are ``M`` (leaf i is row i: their
    c-TF-IDF rows or embeddings): ``linkage_function`` (default Ward with optimal leaf
    ordering) of the condensed ``distance_function`` (default ``1 - cosine``) of the rows."""
    from scipy.cluster import hierarchy as sch
    from scipy.spatial.distance import squareform

    n = M.shape[0]
    D = (distance_function(M) if distance_function is not None else np.clip(1.0 - row_cosine(M), 0.0, None))
    D = np.asarray(D.toarray() if hasattr(D, "toarray") else D, dtype=np.float64)
    if D.shape != (n, n) or not np.isfinite(D).all():
        raise InputError(f"distance_function must return a finite ({n} x {n}) distance matrix "
                         f"of the topics; got shape {D.shape}.")
    D = (D + D.T) / 2.0
    np.fill_diagonal(D, 0.0)
    condensed = squareform(D, checks=False)
    Z = (linkage_function(condensed) if linkage_function is not None
         else sch.linkage(condensed, "ward", optimal_ordering=True))
    Z = np.asarray(Z, dtype=np.float64)
    if Z.shape != (n - 1, 4):
        raise InputError(f"linkage_function must return a SciPy linkage matrix of shape ({n - 1}, 4); got {Z.shape}.")
    return Z


def hierarchy(model: Any, state: FittedState, docs: list[str], *, use_ctfidf: bool = True, linkage_function: Any = None,
              distance_function: Any = None) -> dict[str, list]:
    """BERTopic's topic hierarchy: the real topics clustered by :func:`topic_linkage`.
    Every merge is a parent node named by the 5 top c-TF-IDF words of its topics' summed
    counts (weighted with the corpus idf), computed for all nodes in one sparse product.
    Node ids follow the largest topic id (``max id + 1 + merge step``; with topics 0..n-1
    that is SciPy's and BERTopic's numbering). Returns the frame's columns, parents from
    the last merge down."""
    backend = get_backend(resolve_device(model.device))
    all_ids = np.asarray(state.ids)
    real = all_ids[all_ids >= 0]
    if real.size < 2:
        raise InputError(f"A hierarchy needs at least two topics besides the outliers; the model has {real.size}.")
    M = topic_rows(state.topic_sizes, state.c_tf_idf if use_ctfidf else state.topic_embeddings, real)
    Z = topic_linkage(M, linkage_function=linkage_function, distance_function=distance_function)
    n = real.size
    # node i < n is topic real[i]; node n + j is merge j
    members: list[list[int]] = [[int(t)] for t in real]
    for a, b in Z[:, :2].astype(np.int64):
        members.append(sorted(members[a] + members[b]))
    _, _, vocab, counts, ctfidf = _recount(model, state, docs, backend)
    row_of = {int(t): i for i, t in enumerate(all_ids)}
    node_rows = [row_of[t] for j in range(n - 1) for t in members[n + j]]
    node_of = np.repeat(np.arange(n - 1), [len(members[n + j]) for j in range(n - 1)])
    host = get_backend("cpu")
    pick = host.sp.csr_matrix((np.ones(len(node_rows)), (node_of, node_rows)), shape=(n - 1, len(all_ids)))
    node_counts = backend.assparse(pick) @ counts
    words = topic_words(ctfidf.transform(node_counts), list(range(n - 1)), vocab, 5)
    base = int(real.max()) + 1
    names = {int(t): "_".join(w for w, _ in state.representations[int(t)][:5]) for t in real}

    def node_id(i: int) -> int:
        return int(real[i]) if i < n else base + i - n

    def node_name(i: int) -> str:
        return names[int(real[i])] if i < n else "_".join(w for w, _ in words[i - n])

    out: dict[str, list] = {k: [] for k in ("Parent_ID", "Parent_Name", "Topics", "Child_Left_ID", "Child_Left_Name",
                                            "Child_Right_ID", "Child_Right_Name", "Distance")}
    for j in reversed(range(n - 1)):
        a, b = int(Z[j, 0]), int(Z[j, 1])
        out["Parent_ID"].append(str(base + j))
        out["Parent_Name"].append(node_name(n + j))
        out["Topics"].append(members[n + j])
        out["Child_Left_ID"].append(str(node_id(a)))
        out["Child_Left_Name"].append(node_name(a))
        out["Child_Right_ID"].append(str(node_id(b)))
        out["Child_Right_Name"].append(node_name(b))
        out["Distance"].append(float(Z[j, 2]))
    return out


def topic_tree(frame: Any, max_distance: float | None = None) -> str:
    """A text drawing of a :func:`hierarchy` frame, the root first; subtrees joined below
    ``max_distance`` are drawn as their list of topics."""
    rows = {str(p): (ln, lid, rn, rid, d, t) for p, ln, lid, rn, rid, d, t in zip(
        frame["Parent_ID"], frame["Child_Left_Name"], frame["Child_Left_ID"], frame["Child_Right_Name"],
        frame["Child_Right_ID"], frame["Distance"], frame["Topics"])}
    names = dict(zip(map(str, frame["Parent_ID"]), frame["Parent_Name"]))
    children = {c for r in rows.values() for c in (r[1], r[3])}
    roots = [p for p in rows if p not in children]
    lines: list[str] = []

    def draw(node: str, name: str, prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        if node not in rows:
            lines.append(f"{prefix}{branch}■ {name} (topic {node})")
            return
        left_name, left, right_name, right, distance, topics = rows[node]
        if max_distance is not None and distance < max_distance:
            lines.append(f"{prefix}{branch}{name} (topics {', '.join(map(str, topics))}; distance {distance:.3f})")
            return
        lines.append(f"{prefix}{branch}{name} (node {node}, distance {distance:.3f})")
        below = prefix + ("   " if last else "│  ")
        draw(str(left), left_name, below, False)
        draw(str(right), right_name, below, True)

    for i, root in enumerate(roots):
        draw(root, names[root], "", i == len(roots) - 1)
    return "\n".join(lines)


def topic_words_by(model: Any, state: FittedState, docs: list[str], keys: np.ndarray, *, evolution_tuning: bool,
                   global_tuning: bool, top_n_words: int = 5) -> dict[str, list]:
    """Topic words within each group of documents sharing a key (a time bin or a class).

    Each (topic, key) row is the c-TF-IDF of that topic's documents with that key, weighted
    by the idf of the whole corpus and L1-normalised; with ``evolution_tuning`` it is
    averaged with the same topic's row at the previous key (keys in sorted order), with
    ``global_tuning`` with the topic's global row. Returns columns Topic, Words, Frequency
    and the key of each row (``"key"``), keys in sorted order and topics by id within one.
    """
    backend = get_backend(resolve_device(model.device))
    topics, X, vocab, counts, ctfidf = _recount(model, state, docs, backend)
    ids, _ = labels_to_index(topics)
    global_rows = _l1_rows(ctfidf.transform(counts), backend).tocsr()
    key_values, key_index = np.unique(keys, return_inverse=True)
    order = np.argsort(key_index, kind="stable")
    bounds = np.searchsorted(key_index[order], np.arange(key_values.size + 1))
    out: dict[str, list] = {"Topic": [], "Words": [], "Frequency": [], "key": []}
    previous: tuple[np.ndarray, Any] | None = None
    for k, key in enumerate(key_values.tolist()):
        sel = order[bounds[k]:bounds[k + 1]]
        t_ids, t_index = labels_to_index(topics[sel])
        C = class_term_matrix(X[backend.xp.asarray(sel)], t_index, t_ids.size, backend)
        rows = ctfidf.transform(C)
        if evolution_tuning or global_tuning:
            rows = _l1_rows(rows, backend).tocsr()
        if evolution_tuning and previous is not None:
            rows = _average_with(rows, t_ids, *previous, backend)
        if global_tuning:
            rows = ((rows + global_rows[backend.xp.asarray(np.searchsorted(ids, t_ids))]) * 0.5).tocsr()
        previous = (t_ids, rows)
        words = topic_words(rows, t_ids.tolist(), vocab, top_n_words)
        out["Topic"] += t_ids.tolist()
        out["Words"] += [", ".join(w for w, _ in words[int(t)]) for t in t_ids]
        out["Frequency"] += np.bincount(t_index, minlength=t_ids.size).tolist()
        out["key"] += [key] * t_ids.size
    return out


def _average_with(rows, t_ids: np.ndarray, prev_ids: np.ndarray, prev_rows, backend: Backend):
    """``rows`` with each topic also present in ``prev_ids`` replaced by the mean of its row
    and its previous row."""
    both = np.isin(t_ids, prev_ids)
    if not both.any():
        return rows
    xp, sp = backend.xp, backend.sp
    where = np.flatnonzero(both)
    pick = sp.csr_matrix((xp.full(where.size, 0.5), (xp.asarray(where), xp.asarray(np.searchsorted(prev_ids, t_ids[where])))),
                         shape=(t_ids.size, prev_ids.size))
    keep = sp.diags(xp.asarray(np.where(both, 0.5, 1.0)))
    return (keep @ rows + pick @ prev_rows).tocsr()


def time_keys(timestamps: Any, n_docs: int, nr_bins: int | None, datetime_format: str | None) -> np.ndarray:
    """Timestamps as sortable keys: datetimes (parsed from strings, with ``datetime_format``
    when given) or numbers; with ``nr_bins`` the left edge of the equal-width bin of each."""
    import pandas as pd

    if is_cudf(timestamps):
        series = timestamps.to_pandas()
    elif isinstance(timestamps, pd.Series):
        series = timestamps
    elif isinstance(timestamps, (list, tuple)):
        series = pd.Series(list(timestamps))
    else:  # NumPy (datetime64 stays datetime64), CuPy, pandas Index
        series = pd.Series(to_numpy(timestamps))
    series = series.reset_index(drop=True)
    values = series.copy()
    if len(series) != n_docs:
        raise InputError(f"timestamps has {len(series)} values for {n_docs} documents: pass one per document.")
    if datetime_format is not None or series.map(lambda v: isinstance(v, str)).any():
        try:
            series = pd.to_datetime(series, format=datetime_format)
        except (ValueError, TypeError) as exc:
            raise InputError(f"timestamps could not be read as dates ({exc}); pass datetimes or numbers, "
                             "or datetime_format= matching the strings (e.g. '%Y-%m-%d').") from exc
    elif not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)):
        series = pd.to_datetime(series, errors="coerce")
    if series.isna().any():
        bad = int(np.flatnonzero(series.isna().to_numpy())[0])
        raise InputError(f"timestamps[{bad}] is missing or not a date/number ({values[bad]!r}): every "
                         "document needs a timestamp.")
    if nr_bins is not None:
        if isinstance(nr_bins, bool) or not isinstance(nr_bins, (int, np.integer)) or nr_bins < 1:
            raise InputError(f"nr_bins must be an integer >= 1 or None, got {nr_bins!r}.")
        bins = pd.cut(series, bins=int(nr_bins))
        series = pd.Series([iv.left for iv in bins])
    return series.to_numpy()
