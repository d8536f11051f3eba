"""Views of a fitted model's topics: topic words over time and per class, the topics as a
hierarchy (BERTopic's ``topics_over_time``, ``topics_per_class``, ``hierarchical_topics``
and ``get_topic_tree``), and the tables and labels of ``get_topic_info``,
``get_document_info``, ``generate_topic_labels`` and ``set_topic_labels``.

They read the fitted state and the training documents and change nothing. The documents
are counted again as ``fit`` counted them (an unfitted copy of the fitted vectorizer, so
the same vocabulary and idf); every (topic, group) or hierarchy node is then a row of
summed counts weighted by the corpus' idf, computed by sparse products rather than one
c-TF-IDF pass per group.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import check_bool, check_int, topic_array
from .device import Backend, get_backend, is_cudf, resolve_device, text_list, to_numpy
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


def training_state(state: FittedState, topics: Any, n_docs: int) -> FittedState:
    """The state the views over the training documents read: after ``partial_fit`` with the
    topics of all batches the user set in ``topics_`` (BERTopic's idiom; the state keeps only
    the last batch's), otherwise the state itself."""
    if state.online is None:
        return state
    return state.with_(topics=topic_array(topics, n_docs, "topics_"))


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


def topic_tree(frame: Any, max_distance: float | None = None, tight_layout: bool = False) -> str:
    """A text drawing of a :func:`hierarchy` frame, the root first; subtrees joined below
    ``max_distance`` are drawn as their list of topics. A level is indented by 5 characters,
    by 2 with ``tight_layout`` (BERTopic's ``get_topic_tree`` widths)."""
    missing = {"Parent_ID", "Parent_Name", "Topics", "Child_Left_ID", "Child_Left_Name", "Child_Right_ID",
               "Child_Right_Name", "Distance"} - set(getattr(frame, "columns", []))
    if missing:
        raise InputError(f"get_topic_tree takes the frame of hierarchical_topics(); it lacks {sorted(missing)}.")
    check_bool("tight_layout", tight_layout)
    width = 1 if tight_layout else 4
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
        below = prefix + (" " * (width + 1) if last else "│" + " " * width)
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
    elif pd.api.types.is_bool_dtype(series):
        raise InputError("timestamps are True/False values: pass datetimes, date strings or numbers.")
    elif not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)):
        import datetime

        other = [i for i, v in enumerate(series) if v is not None and not isinstance(
            v, (datetime.date, np.datetime64)) and not (isinstance(v, float) and np.isnan(v))]
        if other:  # e.g. numbers or booleans among datetimes: they would be read as epoch times
            raise InputError(f"timestamps[{other[0]}] is {values[other[0]]!r} among dates: pass datetimes (or date "
                             "strings) for every document, or numbers for every document.")
        series = pd.to_datetime(series, errors="coerce")
    if pd.api.types.is_numeric_dtype(series) and np.isinf(series.to_numpy(dtype=np.float64)).any():
        bad = int(np.flatnonzero(np.isinf(series.to_numpy(dtype=np.float64)))[0])
        raise InputError(f"timestamps[{bad}] is {values[bad]!r}: numeric timestamps must be finite numbers.")
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


# ------------------------------------------------------- tables and labels


def custom_column(state: FittedState, topics: list[int]) -> dict:
    """``{"CustomName": [...]}`` for ``topics`` once custom labels were set, else ``{}``."""
    if state.custom_labels is None:
        return {}
    custom = dict(zip(state.ids, state.custom_labels))
    return {"CustomName": [custom[t] for t in topics]}


def topic_key(state: FittedState, topic: Any, required: bool = True) -> int | None:
    """``topic`` as a topic id of ``state``; for an unknown id an error naming the topics
    there are, or None when not ``required``."""
    try:
        key = int(topic) if not isinstance(topic, bool) else None
    except (TypeError, ValueError):
        key = None
    if key in state.topic_sizes:
        return key
    if required:
        raise InputError(f"No topic {topic!r}; the topics are {state.ids}.")
    return None


def info_topics(state: FittedState, topic: Any) -> list[int]:
    """The rows ``get_topic_info(topic)`` shows: that topic, or none for an integer id the
    model does not have (BERTopic's answer); anything else is an error naming the topics."""
    if isinstance(topic, (int, np.integer)) and not isinstance(topic, bool):
        return [int(topic)] if int(topic) in state.topic_sizes else []
    return [topic_key(state, topic)]


def topic_info(state: FittedState, topics: list[int]) -> dict[str, list]:
    """The columns of ``get_topic_info``: one row per topic of ``topics``."""
    return {
        "Topic": topics,
        "Count": [state.topic_sizes[t] for t in topics],
        "Name": [state.labels[t] for t in topics],
        **custom_column(state, topics),
        "Representation": [[w for w, _ in state.representations[t]] for t in topics],
        **{a: [[w for w, _ in words[t]] for t in topics] for a, words in state.aspects.items()},
        "Representative_Docs": [list(state.representative_docs.get(t, [])) for t in topics],
    }


def document_info(state: FittedState, docs: Any, df: Any = None, metadata: dict | None = None) -> dict[str, list]:
    """The columns of ``get_document_info``: one row per training document, ``df``'s columns
    first and ``metadata``'s last."""
    docs = text_list(docs)
    topics = state.topics
    if len(docs) != topics.shape[0]:
        raise InputError(
            f"get_document_info needs the {topics.shape[0]} documents the model was fitted on "
            f"(same order); got {len(docs)}."
        )
    probs = to_numpy(state.probabilities) if state.probabilities is not None else None
    if probs is not None and probs.ndim == 2:
        probs = probs.max(axis=1) if probs.shape[1] else np.zeros(len(docs))
    rep = {t: set(d) for t, d in state.representative_docs.items()}
    rows = {
        "Document": list(docs),
        "Topic": topics.tolist(),
        "Name": [state.labels[t] for t in topics.tolist()],
        **custom_column(state, topics.tolist()),
        "Representation": [[w for w, _ in state.representations[t]] for t in topics.tolist()],
        "Representative_Docs": [list(state.representative_docs.get(t, [])) for t in topics.tolist()],
        "Top_n_words": [" - ".join(w for w, _ in state.representations[t]) for t in topics.tolist()],
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
    return {**extra, **rows}


def generated_labels(state: FittedState, nr_words: int, topic_prefix: bool, word_length: int | None,
                     separator: str) -> list[str]:
    """``generate_topic_labels``: one label per topic, lowest id first."""
    check_int("nr_words", nr_words, 1)
    check_int("word_length", word_length, 1, none_ok=True)
    check_bool("topic_prefix", topic_prefix)
    if not isinstance(separator, str):
        raise InputError(f"separator must be a string, got {type(separator).__name__}.")
    labels = []
    for t in state.ids:
        words = [w[:word_length] if word_length else w for w, _ in state.representations[t][:nr_words]]
        labels.append(separator.join(([str(t)] if topic_prefix else []) + words))
    return labels


def custom_labels(state: FittedState, topic_labels: Any) -> list[str]:
    """The custom labels ``set_topic_labels(topic_labels)`` sets: one per topic, lowest id first."""
    ids = state.ids
    if isinstance(topic_labels, dict):
        unknown = [t for t in topic_labels
                   if not isinstance(t, (int, np.integer)) or int(t) not in state.topic_sizes]
        if unknown:
            raise InputError(f"topic_labels names topics the model does not have: {unknown[:5]}; "
                             f"the topics are {ids}.")
        current = state.custom_labels or [state.labels[t] for t in ids]
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
    return labels
