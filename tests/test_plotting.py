"""Figures (gputopic/plotting.py, GPUTopic.visualize_*), the HTML report and custom topic labels.

Figures are checked by their data, against values computed here independently: the
bubbles' sizes and places, the similarity matrix, the dendrogram's links against SciPy's
own dendrogram, the bars against the topic words. Fitted models: the 3-theme toy corpus
(PCA + KMeans, fast and exact) and 2,000 real 20 Newsgroups posts (UMAP + HDBSCAN).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.cluster import hierarchy as sch
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import cosine_similarity

from gputopic import GPUTopic, InputError, MissingDependencyError, NotFittedError, plotting
from gputopic.cli import main
from gputopic.distributions import topic_rows
from gputopic.topic_views import topic_linkage
from helpers import TOY_DOCS, fast_model

pytest.importorskip("plotly")


@pytest.fixture(scope="module")
def toy():
    return fast_model().fit(TOY_DOCS)


@pytest.fixture(scope="module")
def real(ng2000):
    docs, _, emb = ng2000
    model = GPUTopic(device="cpu", random_state=42).fit(docs, embeddings=emb)
    return model, docs, emb


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


# ------------------------------------------------------------------ pcoa


def test_pcoa_keeps_the_chord_distances_of_three_topics_and_is_signed():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 20))
    xy = plotting.pcoa(A)
    # three points always fit in a plane: the map's distances are exactly ||u_i - u_j||
    np.testing.assert_allclose(pdist(xy), pdist(_unit(A)), atol=1e-10)
    assert np.all(xy[np.abs(xy).argmax(axis=0), [0, 1]] > 0)
    np.testing.assert_allclose(plotting.pcoa(A * 7.0), xy, atol=1e-10)  # only directions count
    import scipy.sparse as sp

    np.testing.assert_allclose(plotting.pcoa(sp.csr_matrix(A)), xy, atol=1e-10)
    # many topics: the first two principal axes of the unit vectors (PCA)
    B = rng.normal(size=(30, 8))
    U = _unit(B) - _unit(B).mean(axis=0)
    s = np.linalg.svd(U, compute_uv=False)
    np.testing.assert_allclose(np.sort(np.linalg.norm(plotting.pcoa(B), axis=0))[::-1], s[:2], rtol=1e-8)
    np.testing.assert_array_equal(plotting.pcoa(A[:1]), np.zeros((1, 2)))


# ---------------------------------------------------------- topic geometry


def test_topic_map_bubbles_are_the_topics(toy):
    fig = toy.visualize_topics()
    trace = fig.data[0]
    ids = [0, 1, 2]
    assert list(trace.customdata) == ids
    assert list(trace.marker.size) == [toy.topic_sizes_[t] for t in ids]
    xy = plotting.pcoa(np.asarray(toy.topic_embeddings_)[1:] if -1 in toy.topic_sizes_ else toy.topic_embeddings_)
    np.testing.assert_allclose(np.c_[trace.x, trace.y], xy)
    assert toy.topic_labels_[1] in trace.hovertext[1]
    # c-TF-IDF rows, a UMAP layout, a chosen subset
    assert len(toy.visualize_topics(use_ctfidf=True).data[0].x) == 3
    umap = toy.visualize_topics(layout="umap")
    assert np.isfinite(np.c_[umap.data[0].x, umap.data[0].y]).all()
    assert list(toy.visualize_topics(topics=[2, 0]).data[0].customdata) == [0, 2]
    assert list(toy.visualize_topics(top_n_topics=1).data[0].customdata) == [0]


def test_topic_map_slider_paints_one_topic_as_bertopics(toy):
    fig = toy.visualize_topics(topics=[2, 0])
    (slider,) = fig.layout.sliders
    assert slider.active == 0 and slider.pad.t == 50
    assert [s.label for s in slider.steps] == ["Topic 0", "Topic 2"]
    for step, t in zip(slider.steps, [0, 2]):
        assert step.method == "update"
        colors = step.args[0]["marker.color"][0]  # one list per trace: the bubbles of the topics in id order
        assert colors == ["red" if u == t else "#B0BEC5" for u in [0, 2]]
    # a step's update is valid for the figure: applying it paints the bubble
    painted = fig.update_traces(marker_color=slider.steps[1].args[0]["marker.color"][0])
    assert list(painted.data[0].marker.color) == ["#B0BEC5", "red"]


def test_topic_map_ignores_an_outlier_size_added_by_hand_and_names_unknown_topics(toy):
    import copy

    model = copy.deepcopy(toy)
    assert -1 not in model.topic_sizes_
    model.topic_sizes_[-1] = 4  # what BERTopic's test_topics_outlier does: the model has no -1 row
    fig = model.visualize_topics()
    assert list(fig.data[0].customdata) == [0, 1, 2]
    assert [s.label for s in fig.layout.sliders[0].steps] == ["Topic 0", "Topic 1", "Topic 2"]
    np.testing.assert_allclose(np.c_[fig.data[0].x, fig.data[0].y], np.c_[toy.visualize_topics().data[0].x,
                                                                         toy.visualize_topics().data[0].y])
    model.topic_sizes_[9] = 3  # a real topic id with no vector: a clear error, not an IndexError
    with pytest.raises(InputError, match=r"topic_sizes_ names topics the model has no vector for: \[9\]"):
        model.visualize_topics()


def test_figures_refuse_bad_arguments_with_the_fix(toy):
    with pytest.raises(InputError, match=r"topics holds ids this figure cannot show .*\[7\]"):
        toy.visualize_topics(topics=[0, 7])
    with pytest.raises(InputError, match="layout must be 'pcoa' or 'umap'"):
        toy.visualize_topics(layout="tsne")
    with pytest.raises(InputError, match="at least 3 topics"):
        toy.visualize_topics(topics=[0, 1], layout="umap")
    with pytest.raises(InputError, match=r"call model.set_topic_labels\(...\) first"):
        fast_model().fit(TOY_DOCS).visualize_barchart(custom_labels=True)
    with pytest.raises(InputError, match="width must be an integer >= 1"):
        toy.visualize_heatmap(width=0)
    with pytest.raises(InputError, match="top_n_topics must be an integer >= 1"):
        toy.visualize_barchart(top_n_topics=0)
    with pytest.raises(InputError, match="n_clusters must be smaller than the number of topics"):
        toy.visualize_heatmap(n_clusters=3)
    with pytest.raises(InputError, match="orientation must be"):
        toy.visualize_hierarchy(orientation="up")
    with pytest.raises(InputError, match="needs at least 2 topics"):
        toy.visualize_hierarchy(topics=[1])
    with pytest.raises(NotFittedError, match="not fitted"):
        GPUTopic().visualize_topics()


def test_topic_map_with_outliers_leaves_them_out(real):
    model, _, _ = real
    assert -1 in model.topic_sizes_
    fig = model.visualize_topics()
    assert list(fig.data[0].customdata) == [t for t in sorted(model.topic_sizes_) if t >= 0]
    with pytest.raises(InputError, match="the outlier topic -1 has no place in this figure"):
        model.visualize_topics(topics=[-1, 0])


def test_heatmap_is_the_cosine_similarity_and_clusters_order_it(real):
    model, _, _ = real
    emb = np.asarray(model.topic_embeddings_)[1:]  # rows of topics 0..k-1 (row 0 is -1)
    fig = model.visualize_heatmap()
    np.testing.assert_allclose(np.asarray(fig.data[0].z), cosine_similarity(emb), atol=1e-6)
    assert list(fig.data[0].x) == [model.topic_labels_[t] for t in range(emb.shape[0])]
    grouped = model.visualize_heatmap(n_clusters=4)
    order = [int(name.split("_")[0]) for name in grouped.data[0].x]
    assert sorted(order) == list(range(emb.shape[0]))
    np.testing.assert_allclose(np.asarray(grouped.data[0].z), cosine_similarity(emb[order]), atol=1e-6)
    from sklearn.cluster import AgglomerativeClustering

    groups = AgglomerativeClustering(n_clusters=4).fit_predict(_unit(emb))[order]
    assert np.all(np.diff(groups) >= 0)  # topics of a group sit together, groups in label order


@pytest.mark.parametrize("orientation", ["left", "right", "top", "bottom"])
def test_dendrogram_links_are_scipys(real, orientation):
    model, docs, _ = real
    ids = [t for t in sorted(model.topic_sizes_) if t >= 0]
    fig = model.visualize_hierarchy(orientation=orientation, color_threshold=0.8)
    vertical = orientation in ("top", "bottom")
    ours = set()
    for trace in fig.data[:-1]:
        dist, pos = (trace.y, trace.x) if vertical else (trace.x, trace.y)
        for k in range(0, len(dist), 5):  # 4 points + a gap per link
            ours.add(tuple(np.round(np.r_[pos[k:k + 4], dist[k:k + 4]], 9)))
    Z = topic_linkage(topic_rows(model.topic_sizes_, model.c_tf_idf_, ids))
    ref = sch.dendrogram(Z, no_plot=True, color_threshold=0.8)
    theirs = {tuple(np.round(np.r_[i, d], 9)) for i, d in zip(ref["icoord"], ref["dcoord"])}
    assert ours == theirs
    axis, dist = (fig.layout.xaxis, fig.layout.yaxis) if vertical else (fig.layout.yaxis, fig.layout.xaxis)
    assert list(axis.ticktext) == [model.topic_labels_[ids[i]] for i in ref["leaves"]]
    # the labels on the named side (BERTopic's / plotly's meaning), the root opposite
    far_side = orientation in ("right", "top")
    assert (dist.autorange == "reversed") == far_side and (axis.side == orientation) == far_side
    # links below the threshold take their group's colour, as in SciPy (one colour per group)
    assert len(fig.data) - 1 == len(set(ref["color_list"]))


def test_dendrogram_names_merges_from_hierarchical_topics(real):
    model, docs, _ = real
    tree = model.hierarchical_topics(docs)
    fig = model.visualize_hierarchy(hierarchical_topics=tree)
    hover = list(fig.data[-1].hovertext)
    root = tree.iloc[0]
    assert any(h.startswith(root["Parent_Name"] + "<br>") and f"topics {sorted(root['Topics'])}" in h for h in hover)
    assert sum(h.startswith("merge<br>") for h in hover) == 0
    sub = model.visualize_hierarchy(top_n_topics=5)
    assert len(sub.layout.yaxis.ticktext) == 5
    with pytest.raises(InputError, match=r"Pass the frame returned by hierarchical_topics\(\)"):
        model.visualize_hierarchy(hierarchical_topics=model.get_topic_info())


# ------------------------------------------------------------- topic words


def test_barchart_bars_are_the_topic_words(real):
    model, _, _ = real
    fig = model.visualize_barchart(top_n_topics=6, n_words=4)
    assert len(fig.data) == 6
    for trace, t in zip(fig.data, range(6)):  # the 6 largest topics are 0..5
        words = model.get_topic(t)[:4][::-1]
        assert [y.strip() for y in trace.y] == [w for w, _ in words]
        np.testing.assert_allclose(trace.x, [s for _, s in words])
    assert [a.text for a in fig.layout.annotations] == [f"Topic {t}" for t in range(6)]  # BERTopic's titles
    with_outliers = model.visualize_barchart(topics=[-1, 3])
    assert [a.text for a in with_outliers.layout.annotations] == ["Topic -1", "Topic 3"]
    assert model.visualize_barchart(n_words=12, autoscale=True).layout.height > fig.layout.height


def test_term_rank_lines_are_the_sorted_ctfidf_rows(toy):
    fig = toy.visualize_term_rank(log_scale=True)
    M = toy.c_tf_idf_.toarray()
    for trace, row in zip(fig.data, M):
        expected = np.sort(row[row > 0])[::-1]
        np.testing.assert_allclose(trace.y, expected)
        assert list(trace.x) == list(range(1, expected.size + 1))
    assert fig.layout.xaxis.type == "log"


def test_topics_over_time_and_per_class_plot_the_frames(toy):
    stamps = np.repeat([2020, 2021, 2022], 20)[np.random.default_rng(0).permutation(60)]
    tot = toy.topics_over_time(TOY_DOCS, stamps.tolist())
    fig = toy.visualize_topics_over_time(tot, topics=[1])
    assert len(fig.data) == 1
    part = tot[tot.Topic == 1]
    np.testing.assert_allclose(fig.data[0].y, part.Frequency)
    assert part.Words.iloc[0] in fig.data[0].hovertext[0]
    norm = toy.visualize_topics_over_time(tot, normalize_frequency=True)
    assert len(norm.data) == 3 and all(abs(sum(t.y) - 1) < 1e-12 for t in norm.data)
    classes = ["odd", "even"] * 30
    tpc = toy.topics_per_class(TOY_DOCS, classes)
    fig = toy.visualize_topics_per_class(tpc, top_n_topics=2)
    assert [t.name for t in fig.data] == [toy.topic_labels_[0], toy.topic_labels_[1]]
    np.testing.assert_allclose(fig.data[0].x, tpc[tpc.Topic == 0].Frequency)
    with pytest.raises(InputError, match=r"Pass the frame returned by topics_over_time\(\); it lacks \['Timestamp'\]"):
        toy.visualize_topics_over_time(tpc)


def test_distribution_shows_the_topics_above_the_threshold(toy):
    fig = toy.visualize_distribution(np.array([0.01, 0.7, 0.29]))
    assert list(fig.data[0].y) == [toy.topic_labels_[2], toy.topic_labels_[1]]
    np.testing.assert_allclose(fig.data[0].x, [0.29, 0.7])
    with pytest.raises(InputError, match="one document's 3 finite topic probabilities"):
        toy.visualize_distribution(np.ones((2, 3)))
    with pytest.raises(InputError, match="lower min_probability"):
        toy.visualize_distribution(np.array([0.01, 0.01, 0.01]))
    with pytest.raises(InputError, match=r"min_probability must be a number in \[0, 1\]"):
        toy.visualize_distribution(np.array([0.2, 0.4, 0.4]), min_probability=2)


# ---------------------------------------------------------------- documents


def test_documents_in_2d_by_topic(real):
    model, docs, emb = real
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(len(docs), 2))
    topics = np.asarray(model.topics_)
    fig = model.visualize_documents(docs, reduced_embeddings=xy, topics=[0, 1])
    grey, first, second = fig.data
    assert len(grey.x) == int(np.sum(~np.isin(topics, [0, 1])))
    np.testing.assert_allclose(np.c_[first.x, first.y], xy[topics == 0])
    assert first.hovertext[0] == docs[int(np.flatnonzero(topics == 0)[0])][:300]
    ann = fig.layout.annotations[0]
    assert ann.text == model.topic_labels_[0] and np.isclose(ann.x, xy[topics == 0, 0].mean())
    sampled = model.visualize_documents(docs, reduced_embeddings=xy, sample=0.1, hide_annotations=True,
                                        hide_document_hover=True)
    counts = {tr.name: len(tr.x) for tr in sampled.data if tr.name != "other documents"}
    assert counts[model.topic_labels_[0]] == max(1, int(model.topic_sizes_[0] * 0.1))
    assert not sampled.layout.annotations and sampled.data[1].hoverinfo == "skip"
    # from the embeddings: a 2-D UMAP of the sampled documents
    umap = model.visualize_documents(docs, embeddings=emb, sample=0.05)
    assert sum(len(t.x) for t in umap.data) == sum(max(1, int(c * 0.05)) for c in model.topic_sizes_.values())
    with pytest.raises(InputError, match="needs the 2000 documents the model was fitted on"):
        model.visualize_documents(docs[:10], reduced_embeddings=xy)
    with pytest.raises(InputError, match=r"reduced_embeddings must be 2000 finite rows"):
        model.visualize_documents(docs, reduced_embeddings=xy[:, :1])
    with pytest.raises(InputError, match=r"sample must be a share in \(0, 1\]"):
        model.visualize_documents(docs, reduced_embeddings=xy, sample=0)


def test_documents_figure_has_bertopics_trace_layout_without_outliers(toy):
    # BERTopic's layout: the grey "other" trace first even when empty, then one trace per topic
    # named by its label (BERTopic's test reads data[1:] and the ids before "_")
    assert -1 not in toy.topic_sizes_
    xy = np.random.default_rng(0).normal(size=(len(TOY_DOCS), 2))
    fig = toy.visualize_documents(TOY_DOCS, reduced_embeddings=xy, hide_document_hover=True)
    assert fig.data[0].name == "other documents" and len(fig.data[0].x) == 0
    assert [int(tr.name.split("_")[0]) for tr in fig.data[1:]] == [0, 1, 2]
    assert sum(len(tr.x) for tr in fig.data[1:]) == len(TOY_DOCS)


# ------------------------------------------------------------------ labels


def test_generate_and_set_topic_labels():
    model = fast_model().fit(TOY_DOCS)
    assert model.custom_labels_ is None and "CustomName" not in model.get_topic_info()
    words = {t: [w for w, _ in model.get_topic(t)] for t in range(3)}
    assert model.generate_topic_labels() == [f"{t}_" + "_".join(words[t][:3]) for t in range(3)]
    assert model.generate_topic_labels(nr_words=2, topic_prefix=False, word_length=3, separator=", ") == [
        ", ".join(w[:3] for w in words[t][:2]) for t in range(3)]
    model.set_topic_labels({1: "Football"})
    assert model.custom_labels_ == [model.topic_labels_[0], "Football", model.topic_labels_[2]]
    model.set_topic_labels({0: "Markets"})  # keeps the earlier custom label
    assert model.custom_labels_ == ["Markets", "Football", model.topic_labels_[2]]
    assert list(model.get_topic_info().CustomName) == model.custom_labels_
    assert model.get_document_info(TOY_DOCS).CustomName.iloc[0] == model.custom_labels_[int(model.topics_[0])]
    assert model.visualize_barchart(custom_labels=True).layout.annotations[1].text == "Football"
    assert model.visualize_barchart().layout.annotations[1].text == "Topic 1"  # BERTopic's titles
    model.set_topic_labels(["a", "b", "c"])
    assert model.custom_labels_ == ["a", "b", "c"]
    with pytest.raises(InputError, match="has 2 labels but the model has 3 topics"):
        model.set_topic_labels(["a", "b"])
    with pytest.raises(InputError, match=r"names topics the model does not have: \[5\]"):
        model.set_topic_labels({5: "x"})
    with pytest.raises(InputError, match="must be strings"):
        model.set_topic_labels([1, 2, 3])
    with pytest.raises(InputError, match="must be a list of labels or a dict"):
        model.set_topic_labels("abc")
    with pytest.raises(InputError, match="nr_words must be an integer >= 1"):
        model.generate_topic_labels(nr_words=0)


def test_custom_labels_are_saved_and_cleared_by_topic_changes(tmp_path):
    model = fast_model().fit(TOY_DOCS)
    model.set_topic_labels(["Markets", "Football", "Cats"])
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m", embedding_model=model.embedding_model)
    assert loaded.custom_labels_ == ["Markets", "Football", "Cats"]
    model.merge_topics(TOY_DOCS, [0, 1])  # ids change: the old labels would name the wrong topics
    assert model.custom_labels_ is None
    plain = fast_model().fit(TOY_DOCS)
    plain.save(tmp_path / "p")
    assert GPUTopic.load(tmp_path / "p", embedding_model=plain.embedding_model).custom_labels_ is None


# ------------------------------------------------------------------ report


def test_report_page_holds_the_topics_and_figures(tmp_path):
    docs = list(TOY_DOCS)
    docs[0] = "the cat <script>alert(1)</script> sat on the mat and the cat purred"
    model = fast_model().fit(docs)
    model.set_topic_labels({2: "Cats & kittens"})
    page = plotting.report(model, tmp_path / "r.html", title="Toy <report>")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == page
    assert "<title>Toy &lt;report&gt;</title>" in page and "Cats &amp; kittens" in page
    assert "<script>alert(1)</script>" not in page
    assert page.count("<tr><td>") == 3 and "60 documents, 3 topics, 0 outliers" in page
    assert page.count('class="plotly-graph-div"') == 4  # map, bars, hierarchy, similarity
    assert page.count("plotly.js v") == 1  # the library once, inline
    linked = plotting.report(model, include_plotlyjs="cdn")
    assert "cdn.plot.ly" in linked and len(linked) < len(page) / 10
    with pytest.raises(InputError, match="include_plotlyjs must be True"):
        plotting.report(model, include_plotlyjs=False)


def test_report_command_on_a_saved_model(real, tmp_path, capsys):
    model, _, _ = real
    model.save(tmp_path / "m")
    assert main(["report", str(tmp_path / "m"), "--out", str(tmp_path / "r.html"), "--top-n-topics", "10",
                 "--cdn"]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("<tr><td>") == len(model.topic_sizes_)
    assert "wrote" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "x.html")]) == 2


def test_missing_plotly_names_the_extra(toy, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'gputopic\[plot\]'"):
        toy.visualize_topics()


def test_token_distribution_table(toy):
    doc = "the cat sat on the mat while stocks fell"
    _, per_token = toy.approximate_distribution([doc], window=2, calculate_tokens=True)
    styled = toy.visualize_approximate_distribution(doc, per_token[0])
    frame = getattr(styled, "data", styled)  # a Styler where jinja2 is installed
    tokens = toy.vectorizer_model_.build_tokenizer()(doc)
    assert list(frame.columns.get_level_values("token")) == tokens
    kept = [t for t in range(3) if per_token[0][:, t].any()]
    assert list(frame.index) == [toy.topic_labels_[t] for t in kept] and len(kept) >= 2
    np.testing.assert_allclose(frame.to_numpy(), per_token[0].T[kept])
    norm = toy.visualize_approximate_distribution(doc, per_token[0], normalize=True)
    assert getattr(norm, "data", norm).to_numpy().sum() == pytest.approx(1.0)
    if hasattr(styled, "to_html"):
        assert "background-color: rgba(33, 113, 181" in styled.to_html()
    with pytest.raises(InputError, match=r"must be this document's \(9 tokens x 3 topics\) array"):
        toy.visualize_approximate_distribution(doc, per_token[0][:3])
