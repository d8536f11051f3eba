"""Figures of a fitted model (plotly) under BERTopic's ``visualize_*`` names, and an HTML report.

Every function takes a fitted :class:`~gputopic.GPUTopic` first and returns a
``plotly.graph_objects.Figure``; :class:`GPUTopic` exposes them as methods
(``model.visualize_barchart()``). Figures are drawn on the host: a model fitted on the
GPU is read once, at the boundary (topic vectors, words and sizes are small). Plotly is an
optional extra: ``pip install "gputopic[plot]"``.

Where gputopic differs from BERTopic: ``visualize_topics`` places the topics by classical
multidimensional scaling of their cosine geometry (``layout="pcoa"``, LDAvis's intertopic
map: deterministic, and its distances are the chord distances of the unit topic vectors
as far as two axes can show them); ``layout="umap"`` gives BERTopic's kind of map.
``visualize_documents`` reduces the embeddings with gputopic's UMAP on the model's device.
As BERTopic's: the intertopic map has a slider over the topics, and the documents figure's
first trace holds the outliers and unshown topics (empty when there are none).
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np

from .device import get_backend, host_sparse, is_cudf, optional_import, resolve_device, to_numpy
from .exceptions import InputError
from .represent import cosine, unit_rows
from ._validation import check_bool, check_fitted, check_int, validate_documents
from .topic_views import topic_linkage

_GREY = "#CFD8DC"


def _go():
    return optional_import("plotly.graph_objects", "figures (visualize_*)")


def _palette() -> list[str]:
    colors = optional_import("plotly.colors", "figures (visualize_*)")
    return list(colors.qualitative.D3) + list(colors.qualitative.Pastel) + list(colors.qualitative.Dark24)


def _color(i: int) -> str:
    pal = _palette()
    return pal[i % len(pal)]


# ------------------------------------------------------------------ checks


def _check(model: Any, custom_labels: Any = False, width: Any = 1, height: Any = 1, title: Any = "") -> None:

    check_fitted(model)
    check_bool("custom_labels", custom_labels)
    check_int("width", width, 1)
    check_int("height", height, 1)
    if not isinstance(title, str):
        raise InputError(f"title must be a string, got {type(title).__name__}.")
    if custom_labels and model.custom_labels_ is None:
        raise InputError("custom_labels=True but the model has no custom labels: call "
                         "model.set_topic_labels(...) first (e.g. with model.generate_topic_labels()).")


def _labels(model: Any, custom_labels: bool) -> dict[int, str]:
    """Each topic's display label: its custom label, or its default ``<id>_<words>`` label."""
    if custom_labels:
        return dict(zip(sorted(model.topic_sizes_), model.custom_labels_))
    return dict(model.topic_labels_)


def _chosen(model: Any, topics: Any, top_n_topics: Any, *, outliers: bool = False, at_least: int = 1) -> list[int]:
    """The topics a figure shows, in id order: ``topics`` as given, else the ``top_n_topics``
    largest, else all; the outlier topic -1 only where a figure can show it and it is asked for."""

    check_int("top_n_topics", top_n_topics, 1, none_ok=True)
    real = [t for t in sorted(model.topic_sizes_) if t >= 0]
    if topics is not None:
        given = list(to_numpy(topics).ravel()) if hasattr(topics, "shape") else list(topics)
        wrong = [t for t in given if isinstance(t, bool) or not isinstance(t, (int, np.integer))
                 or int(t) not in model.topic_sizes_ or (int(t) == -1 and not outliers)]
        if wrong:
            rule = "" if outliers else " (the outlier topic -1 has no place in this figure)"
            raise InputError(f"topics holds ids this figure cannot show{rule}: {wrong[:5]}; the topics are "
                             f"{real if not outliers else sorted(model.topic_sizes_)}.")
        chosen = sorted({int(t) for t in given})
    elif top_n_topics is not None:
        by_size = sorted(real, key=lambda t: (-model.topic_sizes_[t], t))
        chosen = sorted(by_size[: int(top_n_topics)])
    else:
        chosen = real
    if len(chosen) < at_least:
        raise InputError(f"This figure needs at least {at_least} topics besides the outliers; "
                         f"{len(chosen)} were chosen (the model has {len(real)}).")
    return chosen


def _frame_rows(frame: Any, columns: Sequence[str], method: str):
    """A pandas copy of a frame returned by ``method``, or an error naming what is missing."""
    if is_cudf(frame):
        frame = frame.to_pandas()
    missing = set(columns) - set(getattr(frame, "columns", []))
    if missing:
        raise InputError(f"Pass the frame returned by {method}(); it lacks {sorted(missing)}.")
    return frame


def _layout(fig: Any, title: str, width: int, height: int, **extra) -> Any:
    fig.update_layout(title={"text": title, "x": 0.5, "xanchor": "center"}, width=width, height=height,
                      template="simple_white", hoverlabel={"bgcolor": "white"}, **extra)
    return fig


def _topic_rows(model: Any, M, ids: Sequence[int]):
    """The rows of ``M`` (c-TF-IDF or topic embeddings: one row per topic the model has, in
    id order) of the topics ``ids``. The model's topics are those with words
    (``topic_representations_``), not the keys of ``topic_sizes_``, which a user may edit."""
    own = np.asarray(sorted(model.topic_representations_), dtype=np.int64)
    n_rows = int(M.shape[0])
    if own.size != n_rows:
        raise InputError(f"The model's topic vectors have {n_rows} rows for {own.size} topics: the fitted "
                         "attributes were edited or come from different fits.")
    ids = np.asarray(ids, dtype=np.int64)
    missing = sorted(set(ids.tolist()) - set(own.tolist()))
    if missing:
        raise InputError(f"topic_sizes_ names topics the model has no vector for: {missing[:5]} (the topics are "
                         f"{own.tolist()}); was topic_sizes_ edited by hand?")
    rows = np.searchsorted(own, ids)
    return host_sparse(M)[rows] if hasattr(M, "tocsr") else to_numpy(M)[rows]


def _words(model: Any, t: int, n: int = 5) -> str:
    return " | ".join(w for w, _ in model.topic_representations_[t][:n])


# ------------------------------------------------------------ topic geometry


def pcoa(M) -> np.ndarray:
    """2-D classical scaling (principal coordinates) of the rows of ``M`` after scaling them
    to unit length: the PCA of the unit topic vectors, from their (k x k) Gram matrix, so a
    sparse c-TF-IDF matrix never becomes dense. Axes are signed so that their largest
    coordinate is positive (the same map on every run)."""
    U = unit_rows(M)
    G = U @ U.T
    G = np.asarray(G.toarray() if hasattr(G, "toarray") else G, dtype=np.float64)
    k = G.shape[0]
    B = G - G.mean(axis=0) - G.mean(axis=1)[:, None] + G.mean()
    w, V = np.linalg.eigh(B)
    order = np.argsort(-w)[:2]
    coords = np.zeros((k, 2))
    coords[:, : order.size] = V[:, order] * np.sqrt(np.clip(w[order], 0.0, None))
    flip = np.sign(coords[np.abs(coords).argmax(axis=0), range(2)])
    return coords * np.where(flip == 0, 1.0, flip)


def _umap_2d(X, device: str, n_neighbors: int, min_dist: float, random_state: int | None = 42) -> np.ndarray:
    from .native.umap import UMAP

    reducer = UMAP(n_neighbors=n_neighbors, n_components=2, min_dist=min_dist, metric="cosine",
                   random_state=random_state, device=device)
    return to_numpy(reducer.fit_transform(X)).astype(np.float64)


def visualize_topics(model: Any, topics: Any = None, top_n_topics: int | None = None, use_ctfidf: bool = False,
                     custom_labels: bool = False, title: str = "<b>Intertopic Distance Map</b>", width: int = 650,
                     height: int = 650, layout: str = "pcoa"):
    """The intertopic distance map: one bubble per topic, its area the topic's size, placed
    by its embedding (its c-TF-IDF row when ``use_ctfidf``). ``layout="pcoa"``: classical
    scaling of the cosine geometry (deterministic); ``"umap"``: a 2-D UMAP of the topic
    vectors (cosine, ``n_neighbors`` up to 15, seed 42), as BERTopic draws it."""
    go = _go()
    _check(model, custom_labels, width, height, title)

    check_bool("use_ctfidf", use_ctfidf)
    if layout not in ("pcoa", "umap"):
        raise InputError(f"layout must be 'pcoa' or 'umap', got {layout!r}.")
    ids = _chosen(model, topics, top_n_topics, at_least=1 if layout == "pcoa" else 3)
    M = _topic_rows(model, model.c_tf_idf_ if use_ctfidf else model.topic_embeddings_, ids)
    if layout == "umap":
        xy = _umap_2d(unit_rows(M).toarray() if use_ctfidf else M, "cpu", min(15, len(ids) - 1), 0.1)
    else:
        xy = pcoa(M)
    labels = _labels(model, custom_labels)
    sizes = np.asarray([model.topic_sizes_[t] for t in ids], dtype=np.float64)
    fig = go.Figure(go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers", customdata=np.asarray(ids),
        marker={"size": sizes, "sizemode": "area", "sizeref": 2.0 * sizes.max() / 40.0 ** 2, "sizemin": 4,
                "color": "#B0BEC5", "line": {"width": 1, "color": "#263238"}},
        hovertext=[f"<b>{html.escape(labels[t])}</b><br>Size: {model.topic_sizes_[t]}<br>"
                   f"{html.escape(_words(model, t))}" for t in ids],
        hoverinfo="text",
    ))
    axis = {"showticklabels": False, "zeroline": True, "showgrid": False, "title": ""}
    return _layout(fig, title, width, height, xaxis=axis, yaxis=axis, sliders=[_topic_slider(ids)])


def _topic_slider(ids: Sequence[int]) -> dict:
    """BERTopic's slider over the topics of the intertopic map: step ``Topic <id>`` paints that
    topic's bubble red and the others grey (``method="update"`` on ``marker.color``)."""
    steps = [{"label": f"Topic {t}", "method": "update",
              "args": [{"marker.color": [["red" if u == t else "#B0BEC5" for u in ids]]}]} for t in ids]
    return {"active": 0, "pad": {"t": 50}, "steps": steps}


def visualize_heatmap(model: Any, topics: Any = None, top_n_topics: int | None = None, n_clusters: int | None = None,
                      use_ctfidf: bool = False, custom_labels: bool = False, title: str = "<b>Similarity Matrix</b>",
                      width: int = 800, height: int = 800):
    """Cosine similarity of the topics' embeddings (c-TF-IDF rows when ``use_ctfidf``); with
    ``n_clusters`` the topics are ordered by an agglomerative (Ward) clustering of them
    into that many groups, as BERTopic does."""
    go = _go()
    _check(model, custom_labels, width, height, title)

    check_bool("use_ctfidf", use_ctfidf)
    check_int("n_clusters", n_clusters, 2, none_ok=True)
    ids = _chosen(model, topics, top_n_topics, at_least=1)
    M = _topic_rows(model, model.c_tf_idf_ if use_ctfidf else model.topic_embeddings_, ids)
    if n_clusters is not None:
        if n_clusters >= len(ids):
            raise InputError(f"n_clusters must be smaller than the number of topics shown ({len(ids)}), "
                             f"got {n_clusters}.")
        from sklearn.cluster import AgglomerativeClustering

        groups = AgglomerativeClustering(n_clusters=n_clusters).fit_predict(unit_rows(M).toarray() if use_ctfidf
                                                                            else unit_rows(M))
        order = np.lexsort((np.asarray(ids), groups))
        ids = [ids[i] for i in order]
        M = M[order]
    sim = np.clip(cosine(M, M), -1.0, 1.0)
    labels = _labels(model, custom_labels)
    names = [labels[t] for t in ids]
    fig = go.Figure(go.Heatmap(z=sim, x=names, y=names, colorscale="GnBu", zmin=min(0.0, float(sim.min())), zmax=1.0,
                               hovertemplate="%{y}<br>%{x}<br>similarity %{z:.3f}<extra></extra>"))
    return _layout(fig, title, width, height, xaxis={"showticklabels": len(ids) <= 60},
                   yaxis={"autorange": "reversed", "showticklabels": len(ids) <= 60})


def visualize_hierarchy(model: Any, orientation: str = "left", topics: Any = None, top_n_topics: int | None = None,
                        use_ctfidf: bool = True, custom_labels: bool = False,
                        title: str = "<b>Hierarchical Clustering</b>", width: int = 1000, height: int = 600,
                        hierarchical_topics: Any = None, linkage_function: Any = None, distance_function: Any = None,
                        color_threshold: float = 1.0):
    """The dendrogram of the topics, from the same linkage as :meth:`hierarchical_topics`
    (Ward of ``1 - cosine`` of the c-TF-IDF rows by default); ``orientation`` is the side of
    the topic labels, as in BERTopic (plotly's dendrogram). Links below
    ``color_threshold`` are coloured by the group they fall in; with the frame of
    ``hierarchical_topics`` (for the same topics) each merge shows its name on hover."""
    go = _go()
    _check(model, custom_labels, width, height, title)
    from scipy.cluster import hierarchy as sch

    if orientation not in ("left", "right", "top", "bottom"):
        raise InputError(f"orientation must be 'left', 'right', 'top' or 'bottom', got {orientation!r}.")
    check_bool("use_ctfidf", use_ctfidf)
    if isinstance(color_threshold, bool) or not isinstance(color_threshold, (int, float, np.number)):
        raise InputError(f"color_threshold must be a number, got {color_threshold!r}.")
    ids = _chosen(model, topics, top_n_topics, at_least=2)
    Z = topic_linkage(_topic_rows(model, model.c_tf_idf_ if use_ctfidf else model.topic_embeddings_, ids),
                      linkage_function=linkage_function,
                      distance_function=distance_function)
    names = {}
    if hierarchical_topics is not None:
        frame = _frame_rows(hierarchical_topics, ("Parent_Name", "Topics"), "hierarchical_topics")
        names = {frozenset(int(t) for t in ts): str(name) for ts, name in zip(frame["Topics"], frame["Parent_Name"])}
    n = len(ids)
    leaves = sch.leaves_list(Z)
    position = np.empty(2 * n - 1)  # node i < n is topic ids[i], node n + j is merge j
    position[leaves] = 5.0 + 10.0 * np.arange(n)
    level = np.zeros(2 * n - 1)
    members: list[list[int]] = [[t] for t in ids]
    groups = sch.fcluster(Z, t=float(color_threshold), criterion="distance")
    lines: dict[str, tuple[list, list]] = {}  # colour -> the links' (distance, position) polylines
    nodes = []  # (distance, position, hover text) of each merge
    for j, (a, b, dist, _) in enumerate(Z):
        a, b, node = int(a), int(b), n + j
        members.append(sorted(members[a] + members[b]))
        position[node] = (position[a] + position[b]) / 2.0
        level[node] = dist
        # as SciPy's dendrogram: a link below the threshold takes the colour of its group
        color = _color(int(groups[ids.index(members[node][0])]) - 1) if dist < color_threshold else "#78909C"
        xs, ys = lines.setdefault(color, ([], []))
        xs.extend([level[a], dist, dist, level[b], None])
        ys.extend([position[a], position[a], position[b], position[b], None])
        name = html.escape(names.get(frozenset(members[node]), "")) or "merge"
        nodes.append((dist, position[node], f"{name}<br>topics {members[node]}<br>distance {dist:.3f}"))
    vertical = orientation in ("top", "bottom")
    fig = go.Figure()
    for color, (xs, ys) in lines.items():
        fig.add_trace(go.Scatter(x=ys if vertical else xs, y=xs if vertical else ys, mode="lines",
                                 line={"color": color, "width": 1.5}, hoverinfo="skip", showlegend=False))
    hx, hy, ht = zip(*nodes)
    fig.add_trace(go.Scatter(x=hy if vertical else hx, y=hx if vertical else hy, mode="markers",
                             marker={"size": 6, "color": "#455A64", "opacity": 0.5}, hovertext=list(ht),
                             hoverinfo="text", showlegend=False))
    labels = _labels(model, custom_labels)
    ticks = {"tickvals": (5.0 + 10.0 * np.arange(n)).tolist(), "ticktext": [labels[ids[i]] for i in leaves],
             "showgrid": False, "zeroline": False}
    # plotly's (and BERTopic's) orientations: the topics on that side, the root opposite
    dist_axis = {"title": "distance", "showgrid": False, "zeroline": False}
    if orientation in ("right", "top"):
        dist_axis["autorange"] = "reversed"
        ticks["side"] = orientation
    axes = {"xaxis": ticks, "yaxis": dist_axis} if vertical else {"xaxis": dist_axis, "yaxis": ticks}
    return _layout(fig, title, width, height, **axes)


# --------------------------------------------------------------- topic words


def visualize_barchart(model: Any, topics: Any = None, top_n_topics: int = 8, n_words: int = 5,
                       custom_labels: bool = False, title: str = "Topic Word Scores", width: int = 250,
                       height: int = 250, autoscale: bool = False):
    """The ``n_words`` top words of each topic and their scores, one small bar chart per
    topic (4 per row; ``width``/``height`` are a chart's, and ``autoscale`` makes a chart
    tall enough for ``n_words`` bars). Topics: ``topics`` (may include -1), else the
    ``top_n_topics`` largest. Each chart's title is "Topic <id>" as in BERTopic (the custom
    label with ``custom_labels``)."""
    go = _go()
    subplots = optional_import("plotly.subplots", "figures (visualize_*)")
    _check(model, custom_labels, width, height, title)

    check_int("n_words", n_words, 1)
    check_bool("autoscale", autoscale)
    ids = _chosen(model, topics, top_n_topics, outliers=True)
    labels = _labels(model, custom_labels)
    columns = min(4, len(ids))
    rows = -(-len(ids) // columns)
    fig = subplots.make_subplots(rows=rows, cols=columns, shared_xaxes=False, horizontal_spacing=0.1,
                                 vertical_spacing=0.4 / rows if rows > 1 else 0.1,
                                 subplot_titles=[labels[t] if custom_labels else f"Topic {t}" for t in ids])
    for i, t in enumerate(ids):
        pairs = model.topic_representations_[t][:n_words][::-1]
        fig.add_trace(go.Bar(x=[s for _, s in pairs], y=[w + "  " for w, _ in pairs], orientation="h",
                             marker_color=_color(i), name=labels[t], showlegend=False,
                             hovertemplate="%{y}: %{x:.4f}<extra></extra>"),
                      row=i // columns + 1, col=i % columns + 1)
    chart_height = max(height, 30 * n_words + 60) if autoscale else height
    fig = _layout(fig, title, width * columns, chart_height * rows + 60, margin={"l": 80})
    fig.update_xaxes(showgrid=True)
    return fig


def visualize_term_rank(model: Any, topics: Any = None, log_scale: bool = False, custom_labels: bool = False,
                        title: str = "<b>Term score decline per Topic</b>", width: int = 800, height: int = 500):
    """For each topic, its c-TF-IDF scores of all its terms in decreasing order against their
    rank: how quickly a topic's words lose weight (an elbow suggests how many words describe it)."""
    go = _go()
    _check(model, custom_labels, width, height, title)

    check_bool("log_scale", log_scale)
    ids = _chosen(model, topics, None, outliers=True)
    rows = _topic_rows(model, model.c_tf_idf_, ids)
    labels = _labels(model, custom_labels)
    fig = go.Figure()
    for i, t in enumerate(ids):
        scores = np.sort(rows[i].data)[::-1]
        scores = scores[scores > 0]
        fig.add_trace(go.Scatter(x=np.arange(1, scores.size + 1), y=scores, mode="lines", name=labels[t],
                                 line={"color": _color(i), "width": 1.5}, hovertext=labels[t],
                                 hoverinfo="text", showlegend=False))
    fig = _layout(fig, title, width, height)
    fig.update_xaxes(title="Term rank", type="log" if log_scale else "linear")
    fig.update_yaxes(title="c-TF-IDF score", type="log" if log_scale else "linear")
    return fig


def visualize_topics_over_time(model: Any, topics_over_time: Any, top_n_topics: int | None = None, topics: Any = None,
                               normalize_frequency: bool = False, custom_labels: bool = False,
                               title: str = "<b>Topics over Time</b>", width: int = 1250, height: int = 450):
    """One line per topic: its number of documents at each timestamp of
    :meth:`topics_over_time`'s frame (with ``normalize_frequency``, the share of the topic's
    documents at each timestamp); the hover shows that time's words. The outlier topic -1
    shows only when ``topics`` names it."""
    return _frequency_lines(model, topics_over_time, "Timestamp", "topics_over_time", top_n_topics, topics,
                            normalize_frequency, custom_labels, title, width, height)


def visualize_topics_per_class(model: Any, topics_per_class: Any, top_n_topics: int = 10, topics: Any = None,
                               normalize_frequency: bool = False, custom_labels: bool = False,
                               title: str = "<b>Topics per Class</b>", width: int = 1250, height: int = 900):
    """One bar series per topic: its number of documents in each class of
    :meth:`topics_per_class`'s frame (with ``normalize_frequency``, the share of the topic's
    documents in each class); click the legend to show or hide topics."""
    return _frequency_lines(model, topics_per_class, "Class", "topics_per_class", top_n_topics, topics,
                            normalize_frequency, custom_labels, title, width, height)


def _frequency_lines(model, frame, key: str, method: str, top_n_topics, topics, normalize, custom_labels, title,
                     width, height):
    go = _go()
    _check(model, custom_labels, width, height, title)

    check_bool("normalize_frequency", normalize)
    frame = _frame_rows(frame, ("Topic", "Words", "Frequency", key), method)
    ids = _chosen(model, topics, top_n_topics, outliers=True)
    labels = _labels(model, custom_labels)
    fig = go.Figure()
    for i, t in enumerate(ids):
        part = frame[frame["Topic"] == t]
        y = part["Frequency"].to_numpy(dtype=np.float64)
        if normalize and y.sum() > 0:
            y = y / y.sum()
        hover = [f"<b>{html.escape(labels[t])}</b><br>{html.escape(str(k))}<br>Words: {html.escape(str(w))}"
                 for k, w in zip(part[key], part["Words"])]
        common = {"name": labels[t], "hovertext": hover, "hoverinfo": "text", "marker_color": _color(i)}
        if key == "Timestamp":
            fig.add_trace(go.Scatter(x=part[key], y=y, mode="lines+markers", **common))
        else:
            fig.add_trace(go.Bar(y=part[key].astype(str), x=y, orientation="h", **common,
                                 visible=True if i < 10 else "legendonly"))
    share = "Share of the topic's documents" if normalize else "Frequency"
    fig = _layout(fig, title, width, height, legend={"title": "Topic"})
    if key == "Timestamp":
        fig.update_yaxes(title=share)
    else:
        fig.update_xaxes(title=share)
        fig.update_yaxes(title="Class")
    return fig


def visualize_distribution(model: Any, probabilities: Any, min_probability: float = 0.015,
                           custom_labels: bool = False, title: str = "<b>Topic Probability Distribution</b>",
                           width: int = 800, height: int = 600):
    """One document's topic distribution: a row of ``probabilities_`` (with
    ``calculate_probabilities=True``) or of :meth:`approximate_distribution`, one value per
    topic (outliers left out); topics below ``min_probability`` are left out."""
    go = _go()
    _check(model, custom_labels, width, height, title)
    real = [t for t in sorted(model.topic_sizes_) if t >= 0]
    p = np.asarray(to_numpy(probabilities), dtype=np.float64)
    if p.ndim != 1 or p.shape[0] != len(real) or not np.isfinite(p).all():
        raise InputError(f"probabilities must be one document's {len(real)} finite topic probabilities (a row of "
                         f"probabilities_ or of approximate_distribution(...)[0]); got shape {p.shape}.")
    if isinstance(min_probability, bool) or not isinstance(min_probability, (int, float, np.number)) \
            or not 0 <= min_probability <= 1:
        raise InputError(f"min_probability must be a number in [0, 1], got {min_probability!r}.")
    keep = np.flatnonzero(p > min_probability)
    if keep.size == 0:
        raise InputError(f"No topic has a probability above min_probability={min_probability} (largest "
                         f"{p.max():.4f}): lower min_probability.")
    keep = keep[np.argsort(p[keep], kind="stable")]
    labels = _labels(model, custom_labels)
    fig = go.Figure(go.Bar(x=p[keep], y=[labels[real[i]] for i in keep], orientation="h", marker_color="#4C78A8",
                           hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    fig = _layout(fig, title, width, height)
    fig.update_xaxes(title="Probability")
    return fig


def visualize_approximate_distribution(model: Any, document: str, topic_token_distribution: Any,
                                       normalize: bool = False):
    """One document's token-level topic distribution as a table: a row per topic with any
    weight, a column per token (position, token), from the document's array of
    ``approximate_distribution(docs, calculate_tokens=True)[1]``; ``normalize`` divides by
    the total. A pandas ``Styler`` shaded by value where jinja2 is installed (as with torch),
    else the DataFrame."""
    import pandas as pd

    check_fitted(model)

    check_bool("normalize", normalize)
    if not isinstance(document, str):
        raise InputError(f"document must be one string, got {type(document).__name__}.")
    vectorizer = model.vectorizer_model_ if model.vectorizer_model_ is not None else model.vectorizer_model
    if vectorizer is None:
        from .vectorize import default_vectorizer

        vectorizer = default_vectorizer()
    tokens = vectorizer.build_tokenizer()(document)
    real = [t for t in sorted(model.topic_sizes_) if t >= 0]
    M = np.asarray(topic_token_distribution, dtype=np.float64)
    if M.shape != (max(len(tokens), 1), len(real)):
        raise InputError(f"topic_token_distribution must be this document's ({max(len(tokens), 1)} tokens x "
                         f"{len(real)} topics) array from approximate_distribution(..., calculate_tokens=True)"
                         f"[1]; got shape {M.shape}.")
    if normalize and M.sum() > 0:
        M = M / M.sum()
    labels = _labels(model, False)
    columns = pd.MultiIndex.from_arrays([np.arange(len(tokens)), tokens], names=["position", "token"]) \
        if tokens else pd.Index(["(no tokens)"])
    frame = pd.DataFrame(M.T, index=[labels[t] for t in real], columns=columns)
    frame = frame.loc[frame.sum(axis=1) != 0]
    import importlib.util

    if importlib.util.find_spec("jinja2") is None:  # pandas' Styler needs it
        return frame
    top = float(frame.to_numpy().max()) if frame.size else 0.0
    return frame.style.format("{:.3f}").map(
        lambda v: f"background-color: rgba(33, 113, 181, {0.85 * v / top if top else 0:.2f})")


# --------------------------------------------------------------- documents


def visualize_documents(model: Any, docs: Any, topics: Any = None, embeddings: Any = None,
                        reduced_embeddings: Any = None, sample: float | None = None, hide_annotations: bool = False,
                        hide_document_hover: bool = False, custom_labels: bool = False,
                        title: str = "<b>Documents and Topics</b>", width: int = 1200, height: int = 750):
    """The training documents in 2-D, coloured by topic (topics not in ``topics`` and the
    outliers in grey), each topic's label at the centre of its documents.

    The 2-D positions: ``reduced_embeddings`` (documents x 2) as given; else a 2-D UMAP
    (cosine, 10 neighbours, ``min_dist=0``, seed 42) of ``embeddings`` (or of the documents
    embedded again) by gputopic's UMAP on the model's device. ``sample`` keeps that share of
    each topic's documents (at least one, a fixed draw), and only those are reduced.
    """
    go = _go()
    _check(model, custom_labels, width, height, title)

    check_bool("hide_annotations", hide_annotations)
    check_bool("hide_document_hover", hide_document_hover)
    doc_list = validate_documents(docs)
    assigned = np.asarray(to_numpy(model.topics_), dtype=np.int64)
    n = assigned.shape[0]
    if len(doc_list) != n:
        raise InputError(f"visualize_documents needs the {n} documents the model was fitted on (same order); "
                         f"got {len(doc_list)}.")
    shown = set(_chosen(model, topics, None))
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, (int, float, np.number))
                               or not 0 < sample <= 1):
        raise InputError(f"sample must be a share in (0, 1] or None, got {sample!r}.")
    rows = np.arange(n)
    if sample is not None and sample < 1:
        rng = np.random.default_rng(0)
        rows = np.sort(np.concatenate([
            rng.choice(members, max(1, int(len(members) * sample)), replace=False)
            for members in (np.flatnonzero(assigned == t) for t in np.unique(assigned))]))
    if reduced_embeddings is not None:
        xy = np.asarray(to_numpy(reduced_embeddings), dtype=np.float64)
        if xy.ndim != 2 or xy.shape[0] != n or xy.shape[1] < 2 or not np.isfinite(xy).all():
            raise InputError(f"reduced_embeddings must be {n} finite rows of (at least) 2 values, one per training "
                             f"document; got shape {xy.shape}.")
        xy = xy[rows, :2]
    else:
        backend = get_backend(resolve_device(model.device))
        if embeddings is None:
            emb = backend.asarray(model.embed_documents([doc_list[i] for i in rows]))
        else:
            from .embed import check_embeddings

            emb = check_embeddings(embeddings, n, backend)[backend.xp.asarray(rows)]
        if len(rows) < 12:
            raise InputError(f"Only {len(rows)} documents to place: a 2-D UMAP needs at least 12; raise sample "
                             "or pass reduced_embeddings.")
        xy = _umap_2d(emb, backend.name, 10, 0.0)
    t_rows = assigned[rows]
    labels = _labels(model, custom_labels)

    def text(idx):
        return None if hide_document_hover else [html.escape(doc_list[i][:300]) for i in rows[idx]]

    # traces and annotations go into the figure at once: plotly's add_annotation copies all
    # earlier ones each time, quadratic in the topics (minutes for ~950 topics)
    traces, notes = [], []
    other = np.flatnonzero(~np.isin(t_rows, list(shown)))
    # the outliers and the topics not shown: always the first trace, empty or not, as BERTopic's
    # (code that reads the topics' traces as data[1:] relies on it)
    traces.append(go.Scattergl(x=xy[other, 0], y=xy[other, 1], mode="markers", name="other documents",
                               marker={"color": _GREY, "size": 5, "opacity": 0.5}, hovertext=text(other),
                               hoverinfo="skip" if hide_document_hover else "text", showlegend=False))
    for i, t in enumerate(sorted(shown)):
        idx = np.flatnonzero(t_rows == t)
        if idx.size == 0:
            continue
        traces.append(go.Scattergl(x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=labels[t],
                                   marker={"color": _color(i), "size": 6, "opacity": 0.7}, hovertext=text(idx),
                                   hoverinfo="skip" if hide_document_hover else "text"))
        if not hide_annotations:
            notes.append({"x": float(xy[idx, 0].mean()), "y": float(xy[idx, 1].mean()),
                          "text": html.escape(labels[t]), "showarrow": False, "font": {"size": 10}})
    axis = {"showticklabels": False, "showgrid": False, "zeroline": False, "title": ""}
    return _layout(go.Figure(data=traces), title, width, height, xaxis=axis, yaxis=axis, annotations=notes)


# ------------------------------------------------------------------ report


def report(model: Any, path: Any = None, *, title: str = "gputopic report", top_n_topics: int = 50,
           include_plotlyjs: Any = True) -> str:
    """An HTML page describing a fitted (or loaded) model: a summary, the topic table (size,
    label, words, a representative document) and the figures that need no documents: the
    intertopic map, the word bar charts, the hierarchy and the similarity matrix (figures of
    many topics show the ``top_n_topics`` largest). Written to ``path`` when given; returns
    the HTML. ``include_plotlyjs``: True puts plotly.js in the page (about 4.9 MB, works
    offline), ``"cdn"`` links it instead."""
    _check(model, False, 1, 1, title)

    check_int("top_n_topics", top_n_topics, 1)
    if include_plotlyjs not in (True, "cdn"):
        raise InputError(f"include_plotlyjs must be True (inline, offline) or 'cdn', got {include_plotlyjs!r}.")
    real = [t for t in sorted(model.topic_sizes_) if t >= 0]
    n_docs = sum(model.topic_sizes_.values())
    outliers = model.topic_sizes_.get(-1, 0)
    custom = model.custom_labels_ is not None
    labels = _labels(model, custom)
    figures = []
    if real:
        top = min(top_n_topics, len(real))
        figures.append(visualize_topics(model, top_n_topics=top, custom_labels=custom))
        figures.append(visualize_barchart(model, top_n_topics=min(12, len(real)), custom_labels=custom))
    if len(real) >= 2:
        figures.append(visualize_hierarchy(model, top_n_topics=min(top_n_topics, len(real)), custom_labels=custom,
                                           height=max(400, 18 * min(top_n_topics, len(real)))))
        figures.append(visualize_heatmap(model, top_n_topics=min(top_n_topics, len(real)), custom_labels=custom))
    parts = [fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs if i == 0 else False)
             for i, fig in enumerate(figures)]
    table = "\n".join(
        f"<tr><td>{t}</td><td>{model.topic_sizes_[t]}</td><td>{html.escape(labels[t])}</td>"
        f"<td>{html.escape(_words(model, t, 10))}</td>"
        f"<td>{html.escape((model.representative_docs_.get(t) or [''])[0][:300])}</td></tr>"
        for t in sorted(model.topic_sizes_))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#263238}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border-bottom:1px solid #ECEFF1;padding:4px 8px;
vertical-align:top;text-align:left}}th{{background:#ECEFF1}}.fig{{margin:2em 0}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{n_docs} documents, {len(real)} topics, {outliers} outliers ({100.0 * outliers / max(n_docs, 1):.1f}%);
embedding model {html.escape(str(model.embedding_model_id_))}.</p>
{"".join(f'<div class="fig">{p}</div>' for p in parts)}
<h2>Topics</h2>
<table><tr><th>Topic</th><th>Count</th><th>Name</th><th>Words</th><th>Representative document</th></tr>
{table}
</table></body></html>
"""
    if path is not None:
        from pathlib import Path

        Path(path).write_text(page, encoding="utf-8")
    return page


__all__ = ["visualize_topics", "visualize_heatmap", "visualize_hierarchy", "visualize_barchart",
           "visualize_term_rank", "visualize_topics_over_time", "visualize_topics_per_class",
           "visualize_distribution", "visualize_approximate_distribution", "visualize_documents", "report", "pcoa"]
