"""Topic operations (gputopic/topics.py, gputopic/topic_views.py and GPUTopic's methods of
BERTopic's names): reduce / merge topics, reassign outliers, approximate distributions,
update topics, topics over time and per class, the topic hierarchy.

The arithmetic is checked on hand-made inputs; the operations on fitted models on the
3-theme toy corpus (PCA + KMeans, exact and fast) and on 2,000 real 20 Newsgroups posts
(native UMAP + HDBSCAN, with outliers).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import normalized_mutual_info_score
from sklearn.metrics.pairwise import cosine_similarity

from gputopic import ClassTfidfTransformer, GPUTopic, InputError
from gputopic import topic_views
from gputopic import distributions as gd
from gputopic import topics as gt
from gputopic._validation import check_nr_topics
from gputopic.device import get_backend
from gputopic.vectorize import class_term_matrix, default_vectorizer, doc_term_matrix, labels_to_index
from helpers import TOY_DOCS, HashingEncoder, fast_model

CPU = get_backend("cpu")
THEME = np.repeat([0, 1, 2], 20)  # TOY_DOCS: 20 cat, 20 market, 20 football documents


# ----------------------------------------------------------------- arithmetic


def test_merge_mapping_numbers_merged_topics_by_size():
    topics = np.array([0, 0, 0, 1, 1, 2, 2, 3, -1])
    # 1 and 2 merge (4 documents) -> largest; 0 (3) next; 3 (1) last; -1 stays
    assert gt.merge_mapping(topics, {0: 0, 1: 1, 2: 1, 3: 3}) == {1: 0, 2: 0, 0: 1, 3: 2, -1: -1}
    # equal sizes: the group holding the smaller old id comes first
    assert gt.merge_mapping(np.array([0, 0, 1, 2]), {0: "a", 1: "b", 2: "b"}) == {0: 0, 1: 1, 2: 1, -1: -1}


def test_relabel_and_merge_rows_and_columns():
    mapping = {-1: -1, 0: 1, 1: 0, 2: 0}
    np.testing.assert_array_equal(gt.relabel(np.array([2, -1, 0, 1]), mapping), [0, -1, 1, 0])
    with pytest.raises(InputError, match=r"topics \[5\] have no new id"):
        gt.relabel(np.array([5]), mapping)
    A = np.array([[1.0, 0], [2, 0], [0, 3], [4, 4]])  # rows of topics -1, 0, 1, 2
    np.testing.assert_array_equal(gt.merge_rows(A, [-1, 0, 1, 2], mapping, CPU), [[1, 0], [4, 7], [2, 0]])
    S = gt.merge_rows(sp.csr_matrix(A), [-1, 0, 1, 2], mapping, CPU)
    np.testing.assert_array_equal(S.toarray(), [[1, 0], [4, 7], [2, 0]])
    P = np.array([[0.1, 0.2, 0.3], [0.5, 0.0, 0.25]])
    np.testing.assert_allclose(gt.merge_columns(P, {0: 1, 1: 0, 2: 0, -1: -1}), [[0.5, 0.1], [0.25, 0.5]])


def test_reduction_groups_join_the_most_similar_rows():
    M = sp.csr_matrix(np.array([[5.0, 1, 0, 0], [4, 1, 0, 0], [0, 0, 3, 1], [0, 0, 3, 2], [0, 1, 1, 0]]))
    g = gt.reduction_groups(M, 2)
    assert g[0] == g[1] and g[2] == g[3] and g[0] != g[2]
    np.testing.assert_array_equal(gt.reduction_groups(M, 5), np.arange(5))  # nothing to reduce
    # "auto": HDBSCAN (min_cluster_size=2) over the rows; too few rows are all left unclustered
    np.testing.assert_array_equal(gt.reduction_groups(M, "auto"), np.arange(5))
    M = sp.csr_matrix(np.array([[5.0, 1, 0, 0, 0], [4, 1, 0, 0, 0], [5, 1.2, 0, 0, 0], [0, 0, 3, 1, 0],
                                [0, 0, 3, 2, 0], [0, 0, 3, 1.5, 0], [0, 0, 0, 0, 1]]))
    auto = gt.reduction_groups(M, "auto")
    assert len(set(auto[:3])) == 1 and len(set(auto[3:6])) == 1 and auto[0] != auto[3]
    assert auto[6] not in auto[:6]  # the odd row stays a group of its own


def test_nr_topics_counts_the_outlier_topic():
    c = sp.csr_matrix(np.array([[1.0, 1, 1], [5, 0, 0], [4, 1, 0], [0, 5, 0]]))  # rows: -1, 0, 1, 2
    topics = np.array([-1, 0, 0, 0, 1, 1, 2])
    merge = gt.reduction_mapping(c, None, topics, 3, use_ctfidf=True)  # -1 + two topics
    assert merge == {0: 0, 1: 0, 2: 1, -1: -1}
    with pytest.raises(InputError, match="counts the outlier topic -1"):
        gt.reduction_mapping(c, None, topics, 1, use_ctfidf=True)
    for bad in (0, "some", True, 2.5):
        with pytest.raises(InputError, match="nr_topics must be None, 'auto' or an integer >= 1"):
            check_nr_topics(bad)


def test_evolution_average_uses_the_previous_row_of_the_same_topic():
    rows = sp.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))  # topics 0 and 3 now
    prev = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))  # topics 0 and 1 before
    out = topic_views._average_with(rows, np.array([0, 3]), np.array([0, 1]), prev, CPU)
    np.testing.assert_allclose(out.toarray(), [[0.75, 0.25, 0.0], [0.0, 0.0, 1.0]])


# ------------------------------------------------------- toy corpus, exact


@pytest.fixture()
def six():
    """The toy corpus split into 6 KMeans clusters (each theme in two pieces or more)."""
    model = fast_model(hdbscan_model=KMeans(n_clusters=6, n_init=3, random_state=0))
    model.fit(TOY_DOCS)
    return model


def _topic_counts(model, docs):
    """c-TF-IDF recomputed from scratch for the model's current topics."""
    ids, index = labels_to_index(np.asarray(model.topics_))
    X = doc_term_matrix(default_vectorizer(), docs, CPU)
    return ClassTfidfTransformer().fit_transform(class_term_matrix(X, index, len(ids), CPU))


def test_reduce_topics_merges_to_the_themes(six):
    assert len(six.topic_sizes_) == 6
    six.reduce_topics(TOY_DOCS, nr_topics=3)
    topics = np.asarray(six.topics_)
    assert normalized_mutual_info_score(THEME, topics) == pytest.approx(1.0)
    assert list(six.topic_sizes_.values()) == [20, 20, 20]
    # everything describing the topics is recomputed for the merged topics
    np.testing.assert_allclose(six.c_tf_idf_.toarray(), _topic_counts(six, TOY_DOCS).toarray())
    emb = HashingEncoder().encode(TOY_DOCS)
    for t in range(3):
        np.testing.assert_allclose(six.topic_embeddings_[t], emb[topics == t].mean(0), rtol=1e-5, atol=1e-6)
        assert set(six.representative_docs_[t]) <= {d for d, k in zip(TOY_DOCS, topics) if k == t}
    assert {w for w, _ in six.get_topic(int(topics[0]))[:3]} <= {"cat", "kitten", "mat", "purred"}
    # transform still goes through the fitted PCA + KMeans, mapped to the merged topics
    np.testing.assert_array_equal(six.transform(TOY_DOCS)[0], topics)


def test_nr_topics_in_fit_equals_reduce_topics_after_fit(six):
    reduced = fast_model(hdbscan_model=KMeans(n_clusters=6, n_init=3, random_state=0), nr_topics=3).fit(TOY_DOCS)
    six.reduce_topics(TOY_DOCS, nr_topics=3)
    np.testing.assert_array_equal(reduced.topics_, six.topics_)
    assert reduced.topic_representations_ == six.topic_representations_
    np.testing.assert_allclose(reduced.topic_embeddings_, six.topic_embeddings_, rtol=1e-5, atol=1e-6)


def test_merge_topics_groups_and_renumbers(six):
    before = dict(six.topic_sizes_)
    six.merge_topics(TOY_DOCS, [[4, 5], [1, 2, 3]])
    sizes = sorted([before[1] + before[2] + before[3], before[0], before[4] + before[5]], reverse=True)
    assert sorted(six.topic_sizes_.values(), reverse=True) == sizes
    assert [six.topic_sizes_[t] for t in sorted(six.topic_sizes_)] == sizes  # 0 is the largest


@pytest.mark.parametrize("bad, message", [
    ([], "non-empty list"),
    ([3], "at least two integer topic ids"),
    ([[0, 1], [1, 2]], "Topic 1 is in more than one group"),
    ([0, 9], "No topic 9"),
    ([0, "1"], "at least two integer topic ids"),
])
def test_merge_topics_bad_groups(six, bad, message):
    before = copy.deepcopy(six.topic_representations_)
    with pytest.raises(InputError, match=message):
        six.merge_topics(TOY_DOCS, bad)
    assert six.topic_representations_ == before


def test_reduce_topics_needs_the_training_documents(six):
    with pytest.raises(InputError, match="needs the 60 documents the model was fitted on"):
        six.reduce_topics(TOY_DOCS[:10], nr_topics=2)
    with pytest.raises(InputError, match="'auto' or an integer >= 2 for reduce_topics"):
        six.reduce_topics(TOY_DOCS, nr_topics=None)
    with pytest.raises(InputError, match="nr_topics must be None, 'auto' or an integer"):
        six.reduce_topics(TOY_DOCS, nr_topics=-3)
    with pytest.raises(InputError, match="nr_topics must be None, 'auto' or an integer"):
        GPUTopic(nr_topics="few").fit(TOY_DOCS)


def test_get_topic_freq_and_find_topics(six):
    freq = six.get_topic_freq()
    assert list(freq.columns) == ["Topic", "Count"]
    assert freq["Count"].tolist() == sorted(six.topic_sizes_.values(), reverse=True)
    assert six.get_topic_freq(2) == six.topic_sizes_[2]
    topics, sims = six.find_topics("the market and stocks and shares", top_n=2)
    theme = {int(t): int(np.bincount(THEME[np.asarray(six.topics_) == t]).argmax()) for t in six.topic_sizes_}
    assert theme[topics[0]] == 1 and sims[0] >= sims[1] and len(topics) == 2
    with pytest.raises(InputError, match="search_term must be a non-empty string"):
        six.find_topics("  ")


def test_update_topics_changes_words_and_keeps_the_settings(six):
    six.update_topics(TOY_DOCS, top_n_words=3)
    assert all(len(w) == 3 for w in six.get_topics().values())
    six.update_topics(TOY_DOCS, vectorizer_model=CountVectorizer(ngram_range=(2, 2)))
    assert all(" " in w for pairs in six.get_topics().values() for w, _ in pairs)
    six.merge_topics(TOY_DOCS, [0, 1])  # later operations count with the updated vectorizer
    assert all(" " in w for pairs in six.get_topics().values() for w, _ in pairs)


def test_update_topics_with_a_merge_keeps_the_cluster_path(six):
    six.update_topics(TOY_DOCS, topics=THEME)  # each KMeans cluster lies within one theme
    assert sorted(set(six._state.cluster_to_topic.values())) == [-1, 0, 1, 2]
    np.testing.assert_array_equal(six.transform(TOY_DOCS)[0], THEME)


def test_update_topics_with_new_assignments_uses_embeddings(six):
    emb = HashingEncoder().encode(TOY_DOCS)
    moved = THEME.copy()
    moved[0] = 2  # one cat document filed under football: an old topic is split, not merged
    six.update_topics(TOY_DOCS, topics=moved, embeddings=emb)
    np.testing.assert_array_equal(six.topics_, moved)
    for t in range(3):
        np.testing.assert_allclose(six.topic_embeddings_[t], emb[moved == t].mean(0), rtol=1e-5, atol=1e-6)
    assert six.probabilities_ is None and six._state.cluster_to_topic == {}
    # the KMeans clusters no longer name the topics: transform takes the nearest topic embedding
    np.testing.assert_array_equal(six.transform(TOY_DOCS)[0], THEME)
    with pytest.raises(InputError, match="60 integer topic ids"):
        six.update_topics(TOY_DOCS, topics=THEME[:5])
    with pytest.raises(InputError, match="only outliers"):
        six.update_topics(TOY_DOCS, topics=np.full(60, -1))


def test_topics_over_time_bins_and_counts(six):
    six.update_topics(TOY_DOCS, topics=THEME, embeddings=HashingEncoder().encode(TOY_DOCS))
    stamps = [f"2024-0{1 + i % 3}-15" for i in range(60)]  # every theme in every month
    frame = six.topics_over_time(TOY_DOCS, stamps, evolution_tuning=False, global_tuning=False)
    assert list(frame.columns) == ["Topic", "Words", "Frequency", "Timestamp"]
    assert len(frame) == 9 and frame["Frequency"].sum() == 60
    assert str(frame["Timestamp"].iloc[0]).startswith("2024-01-15")
    # untuned words of one (topic, month) are that cell's own c-TF-IDF top words under the corpus idf
    cell = [i for i in range(60) if THEME[i] == 1 and stamps[i] == "2024-02-15"]
    X = doc_term_matrix(default_vectorizer(), TOY_DOCS, CPU)
    idf = ClassTfidfTransformer().fit(class_term_matrix(X, THEME, 3, CPU)).idf_
    row = np.asarray(X[cell].sum(0)).ravel() * idf
    vocab = default_vectorizer().fit(TOY_DOCS).get_feature_names_out()
    top = [vocab[i] for i in np.lexsort((np.arange(row.size), -row))[:5]]
    got = frame[(frame.Topic == 1) & (frame.Timestamp == frame.Timestamp.unique()[1])]["Words"].item()
    assert got == ", ".join(top)
    binned = six.topics_over_time(TOY_DOCS, list(range(60)), nr_bins=2)
    assert binned["Timestamp"].nunique() == 2 and binned["Frequency"].sum() == 60
    # datetimes in a pandas Series or a NumPy datetime64 array stay dates, also when binned
    dates = pd.Series(pd.to_datetime(stamps), index=range(100, 160))
    for given in (dates, dates.to_numpy()):
        frame = six.topics_over_time(TOY_DOCS, given, nr_bins=2)
        assert pd.api.types.is_datetime64_any_dtype(frame["Timestamp"]) and frame["Timestamp"].nunique() == 2


def test_topics_over_time_bad_timestamps(six):
    with pytest.raises(InputError, match="timestamps has 3 values for 60 documents"):
        six.topics_over_time(TOY_DOCS, [1, 2, 3])
    with pytest.raises(InputError, match="could not be read as dates"):
        six.topics_over_time(TOY_DOCS, ["not a date"] * 60)
    with pytest.raises(InputError, match=r"timestamps\[4\] is missing"):
        six.topics_over_time(TOY_DOCS, [1.0] * 4 + [None] + [2.0] * 55)
    with pytest.raises(InputError, match="nr_bins must be an integer >= 1"):
        six.topics_over_time(TOY_DOCS, list(range(60)), nr_bins=0)


def test_topics_per_class(six):
    classes = ["odd", "even"] * 30
    frame = six.topics_per_class(TOY_DOCS, classes)
    assert list(frame.columns) == ["Topic", "Words", "Frequency", "Class"]
    assert frame.groupby("Class")["Frequency"].sum().to_dict() == {"even": 30, "odd": 30}
    assert frame.groupby("Topic")["Frequency"].sum().to_dict() == six.topic_sizes_
    with pytest.raises(InputError, match="one class per document"):
        six.topics_per_class(TOY_DOCS, classes[:-1])


# ------------------------------------------- 2,000 real posts, with outliers


# One fit at UMAP seed 42. Over seeds 0, 1, 2 and 42 on this project's 2-core machine
# (2026-12-06): NMI 0.511-0.525, 28-30 topics; reduced to 12 topics by embeddings NMI
# 0.480-0.491; outliers reassigned by embeddings NMI 0.537-0.549; transform of the first 300
# posts agrees with the fit on 80.5-84.2% of the clustered ones. The bars below sit under
# those ranges, not at one seed's figure.
@pytest.fixture(scope="module")
def real(ng2000):
    docs, labels, emb = ng2000
    model = GPUTopic(device="cpu", random_state=42, calculate_probabilities=True)
    topics, probs = model.fit_transform(docs, embeddings=emb)
    return model, np.asarray(topics), probs  # topics_ is BERTopic's list


def test_reduce_topics_on_real_posts(real, ng2000):
    docs, labels, _ = ng2000
    model = copy.deepcopy(real[0])
    n_before = len(model.topic_sizes_)
    probs_before = np.asarray(model.probabilities_)
    model.reduce_topics(docs, nr_topics=12)
    assert len(model.topic_sizes_) == 12 and -1 in model.topic_sizes_
    topics = np.asarray(model.topics_)
    np.testing.assert_array_equal(topics == -1, real[1] == -1)  # outliers stay outliers
    sizes = [model.topic_sizes_[t] for t in range(11)]
    assert sizes == sorted(sizes, reverse=True)
    # probabilities of merged topics add up; each row keeps its total
    assert model.probabilities_.shape == (len(docs), 11)
    np.testing.assert_allclose(model.probabilities_.sum(1), probs_before.sum(1), rtol=1e-5)
    clustered = topics >= 0
    assert (model.probabilities_[clustered].argmax(1) == topics[clustered]).mean() > 0.9
    # bar under 0.480-0.491 over seeds (the comment above ``real``); at seed 42
    # (bench/reduce_quality.py): 28 topics (NMI 0.519) -> 12 at NMI 0.491 by topic embeddings
    # (0.237 by c-TF-IDF rows, which put 1,121 posts into one topic; BERTopic's default is embeddings too)
    assert normalized_mutual_info_score(labels, topics) > 0.45, n_before
    auto = copy.deepcopy(real[0]).reduce_topics(docs, nr_topics="auto")
    assert 2 <= len(auto.topic_sizes_) < n_before


def test_reduce_outliers_strategies(real, ng2000):
    docs, _, emb = ng2000
    model, topics, probs = real
    outliers = topics == -1
    assert outliers.sum() > 100
    for strategy, kwargs in [("distributions", {}), ("c-tf-idf", {}), ("embeddings", {"embeddings": emb}),
                             ("probabilities", {"probabilities": probs})]:
        new = model.reduce_outliers(docs, topics, strategy=strategy, **kwargs)
        np.testing.assert_array_equal(new[~outliers], topics[~outliers])
        # threshold 0: nearly all get a topic, except with "distributions", whose token windows must reach
        # min_similarity=0.1 (measured: 75% of the outliers get a topic)
        assert (new[outliers] >= 0).mean() > (0.6 if strategy == "distributions" else 0.95), strategy
        strict = model.reduce_outliers(docs, topics, strategy=strategy, threshold=0.9, **kwargs)
        assert (strict[outliers] == -1).sum() > (new[outliers] == -1).sum(), strategy
    # "embeddings": the nearest topic embedding by cosine
    new = model.reduce_outliers(docs, topics, strategy="embeddings", embeddings=emb)
    real_ids = np.array([t for t in sorted(model.topic_sizes_) if t >= 0])
    centers = np.asarray(model.topic_embeddings_)[1:]
    sims = cosine_similarity(emb[outliers], centers)
    np.testing.assert_array_equal(new[outliers], real_ids[sims.argmax(1)])


def test_reduce_outliers_bad_input(real, ng2000):
    docs, _, _ = ng2000
    model, topics, _ = real
    with pytest.raises(InputError, match="strategy must be one of 'distributions', 'c-tf-idf'"):
        model.reduce_outliers(docs, topics, strategy="nearest")
    with pytest.raises(InputError, match="strategy='probabilities' needs"):
        model.reduce_outliers(docs, topics, strategy="probabilities")
    with pytest.raises(InputError, match="threshold must be a finite number, got 'high'"):
        model.reduce_outliers(docs, topics, threshold="high")
    with pytest.raises(InputError, match="8 dimensions but the model was fitted on 384"):
        model.reduce_outliers(docs, topics, strategy="embeddings", embeddings=np.ones((len(docs), 8), np.float32))
    with pytest.raises(InputError, match="8 dimensions but the model was fitted on 384"):
        copy.deepcopy(model).update_topics(docs, topics=np.where(topics == -1, 0, topics),
                                           embeddings=np.ones((len(docs), 8), np.float32))
    with pytest.warns(UserWarning, match="ids the model does not have: \\[999\\]"):  # passed through (BERTopic)
        model.reduce_outliers(docs, np.where(topics == 0, 999, topics))


def test_outliers_reduced_then_updated(real, ng2000):
    docs, labels, emb = ng2000
    model = copy.deepcopy(real[0])
    new = model.reduce_outliers(docs, real[1], strategy="embeddings", embeddings=emb)
    model.update_topics(docs, topics=new, embeddings=emb)
    assert -1 not in model.topic_sizes_ and model.probabilities_ is None
    assert normalized_mutual_info_score(labels, new) > 0.4
    topics, _ = model.transform(docs[:200], embeddings=emb[:200])
    assert (topics == new[:200]).mean() > 0.8


def test_loaded_model_reduces_like_the_fitted_one(real, ng2000, tmp_path):
    docs, _, _ = ng2000
    fitted = copy.deepcopy(real[0])
    fitted.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m")
    labels = ng2000[1]
    assert loaded.topics_per_class(docs, labels).equals(fitted.topics_per_class(docs, labels))
    assert loaded.find_topics("hockey", top_n=3) == fitted.find_topics("hockey", top_n=3)
    # new text is counted in the saved vocabulary and weighted with the saved idf, as by the fitted model
    for strategy in ("distributions", "c-tf-idf"):
        np.testing.assert_array_equal(loaded.reduce_outliers(docs, loaded.topics_, strategy=strategy),
                                      fitted.reduce_outliers(docs, fitted.topics_, strategy=strategy))
    np.testing.assert_allclose(loaded.approximate_distribution(docs[:50])[0],
                               fitted.approximate_distribution(docs[:50])[0], atol=1e-12)
    older = GPUTopic.load(tmp_path / "m")
    older._state.saved_idf = None  # as loaded from a file written before the idf was saved
    with pytest.raises(InputError, match="approximate_distribution needs the fitted vectorizer and c-TF-IDF"):
        older.reduce_outliers(docs, older.topics_)
    older.update_topics(docs)  # refits the vectorizer and idf
    np.testing.assert_array_equal(older.reduce_outliers(docs, older.topics_),
                                  fitted.reduce_outliers(docs, fitted.topics_))
    fitted.reduce_topics(docs, nr_topics=8)
    loaded.reduce_topics(docs, nr_topics=8)
    np.testing.assert_array_equal(loaded.topics_, fitted.topics_)
    assert loaded.topic_representations_ == fitted.topic_representations_
    np.testing.assert_allclose(loaded.topic_embeddings_, fitted.topic_embeddings_, rtol=1e-5, atol=1e-6)
    # refitting the topics fitted a vectorizer and c-TF-IDF model: now the loaded model has them
    np.testing.assert_array_equal(loaded.reduce_outliers(docs, loaded.topics_),
                                  fitted.reduce_outliers(docs, fitted.topics_))


def test_loaded_model_with_a_custom_vectorizer_asks_for_it(tmp_path):
    model = fast_model(vectorizer_model=CountVectorizer(ngram_range=(1, 2)), embedding_model=None)
    model.fit(TOY_DOCS, embeddings=HashingEncoder().encode(TOY_DOCS))
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m")
    with pytest.raises(InputError, match="saved with a custom vectorizer_model"):
        loaded.merge_topics(TOY_DOCS, [0, 1])
    with pytest.raises(InputError, match="saved with a custom vectorizer_model"):
        loaded.approximate_distribution(TOY_DOCS[:3])
    loaded.vectorizer_model = CountVectorizer(ngram_range=(1, 2))
    loaded.merge_topics(TOY_DOCS, [0, 1])
    assert any(" " in w for pairs in loaded.get_topics().values() for w, _ in pairs)


def test_nr_topics_in_fit_merges_probabilities_and_is_saved(real, ng2000, tmp_path):
    docs, labels, emb = ng2000
    model = GPUTopic(device="cpu", random_state=42, calculate_probabilities=True, nr_topics=12)
    topics, probs = model.fit_transform(docs, embeddings=emb)
    topics = np.asarray(topics)
    assert len(model.topic_sizes_) == 12 and probs.shape == (len(docs), 11)
    np.testing.assert_allclose(probs.sum(1), np.asarray(real[2]).sum(1), rtol=1e-5)  # same fit, merged
    clustered = topics >= 0
    assert (probs[clustered].argmax(1) == topics[clustered]).mean() > 0.9
    # merging maps fit and transform topics alike, so they agree at least as often as before
    # the merge (0.805-0.842 over seeds: the comment above ``real``)
    new, new_probs = model.transform(docs[:300], embeddings=emb[:300])
    assert new_probs.shape == (300, 11) and (new[topics[:300] >= 0] == topics[:300][topics[:300] >= 0]).mean() > 0.75
    model.save(tmp_path / "m")
    assert GPUTopic.load(tmp_path / "m").nr_topics == 12


def test_reduce_outliers_leaves_documents_similar_to_no_topic(six):
    docs = ["the cat purred on the mat", "zzzq qqqz", "stocks and shares fell"]
    new = six.reduce_outliers(docs, [-1, -1, -1], strategy="c-tf-idf")
    theme = {int(t): int(np.bincount(THEME[np.asarray(six.topics_) == t]).argmax()) for t in six.topic_sizes_}
    assert new[1] == -1 and theme[int(new[0])] == 0 and theme[int(new[2])] == 1
    assert (six.reduce_outliers(docs, [-1, -1, -1], threshold=1.01) == -1).all()


def test_token_sets_follow_window_stride_and_padding():
    toks = list("abcdef")
    assert gd.token_sets(toks, 3, 2, False) == [list("abc"), list("cde")]
    assert gd.token_sets(toks, 3, 2, True) == [list("a"), list("abc"), list("cde"), list("ef")]
    assert gd.token_sets(toks, 4, 1, True)[:3] == [list("a"), list("ab"), list("abc")]
    assert gd.token_sets(list("ab"), 4, 1, False) == [list("ab")]
    assert gd.token_sets([], 4, 1, False) == [[]]


def test_approximate_distribution_equals_the_windowed_c_tf_idf(six):
    docs = ["the cat sat on the mat and the kitten purred while stocks and shares fell on the market",
            "zzzq qqqz", "cat", "a goal won the football match"]
    for kwargs in ({}, {"window": 3, "stride": 2, "padding": True, "min_similarity": 0.2, "batch_size": 2}):
        dist, tokens = six.approximate_distribution(docs, **kwargs)
        assert tokens is None and dist.shape == (4, len(six.topic_sizes_))
        vec, ctfidf = six.vectorizer_model_, six.ctfidf_model_
        topic_rows = six.c_tf_idf_.toarray()
        for d, doc in zip(dist, docs):
            sets = gd.token_sets(vec.build_tokenizer()(doc), kwargs.get("window", 4), kwargs.get("stride", 1),
                                 kwargs.get("padding", False))
            rows = ctfidf.transform(vec.transform([" ".join(t) for t in sets])).toarray()
            sims = cosine_similarity(rows, topic_rows)
            sims[sims < kwargs.get("min_similarity", 0.1)] = 0
            total = sims.sum(0)
            np.testing.assert_allclose(d, total / total.sum() if total.sum() else total, atol=1e-12)
    dist, _ = six.approximate_distribution(docs)
    theme = {int(t): int(np.bincount(THEME[np.asarray(six.topics_) == t]).argmax()) for t in six.topic_sizes_}
    by_theme = np.zeros((4, 3))
    for t in range(dist.shape[1]):
        by_theme[:, theme[t]] += dist[:, t]
    assert by_theme[0, 0] > 0.2 and by_theme[0, 1] > 0.2  # cats and markets
    assert dist[1].sum() == 0 and by_theme[3, 2] == pytest.approx(1.0)
    with pytest.raises(InputError, match="window must be an integer >= 1"):
        six.approximate_distribution(docs, window=0)
    with pytest.raises(InputError, match="min_similarity must be a finite number, got None"):
        six.approximate_distribution(docs, min_similarity=None)


@pytest.mark.parametrize("kwargs", [{}, {"window": 3, "stride": 2, "padding": True, "batch_size": 2},
                                    {"window": 3, "stride": 2}])  # no set holds the first document's last token
def test_token_distributions_sum_the_windows_holding_each_token(six, kwargs):
    docs = ["the cat sat on the mat and the kitten purred while stocks and shares fell on the market",
            "a !", "cat", "a goal won the football match"]  # "a !" has no token
    dist, per_token = six.approximate_distribution(docs, calculate_tokens=True, **kwargs)
    vec, ctfidf = six.vectorizer_model_, six.ctfidf_model_
    window, stride, padding = kwargs.get("window", 4), kwargs.get("stride", 1), kwargs.get("padding", False)
    for d, doc, tokens in zip(dist, docs, per_token):
        toks = vec.build_tokenizer()(doc)
        starts, lengths = gd.window_ranges(len(toks), window, stride, padding)
        rows = ctfidf.transform(vec.transform([" ".join(toks[s:s + n]) for s, n in zip(starts, lengths)]))
        sims = cosine_similarity(rows, six.c_tf_idf_)
        sims[sims < 0.1] = 0
        expected = np.zeros((max(len(toks), 1), sims.shape[1]))  # BERTopic: one zero row without tokens
        for s, n, row in zip(starts, lengths, sims):
            expected[s:s + n] += row  # every token of a window gets the window's similarities
        np.testing.assert_allclose(tokens, expected, atol=1e-12)
        total = expected.sum(axis=0)
        np.testing.assert_allclose(d, total / total.sum() if total.sum() else total, atol=1e-12)
    assert per_token[1].shape == (1, dist.shape[1]) and not per_token[1].any()


def test_hierarchical_topics_joins_each_theme_first(six):
    frame = six.hierarchical_topics(TOY_DOCS)
    assert list(frame.columns) == ["Parent_ID", "Parent_Name", "Topics", "Child_Left_ID", "Child_Left_Name",
                                   "Child_Right_ID", "Child_Right_Name", "Distance"]
    assert len(frame) == 5 and frame["Parent_ID"].tolist() == ["10", "9", "8", "7", "6"]
    assert sorted(frame["Topics"].iloc[0]) == list(range(6))  # the root holds every topic
    assert frame["Distance"].is_monotonic_decreasing
    theme = {int(t): int(np.bincount(THEME[np.asarray(six.topics_) == t]).argmax()) for t in six.topic_sizes_}
    # the last two merges join the three themes; every earlier node lies within one theme
    for topics in frame["Topics"].iloc[2:]:
        assert len({theme[t] for t in topics}) == 1, topics
    # a node's name: top 5 c-TF-IDF words of its topics' summed counts, under the corpus idf
    X = doc_term_matrix(default_vectorizer(), TOY_DOCS, CPU)
    ids, index = labels_to_index(np.asarray(six.topics_))
    counts = class_term_matrix(X, index, len(ids), CPU)
    ctfidf = ClassTfidfTransformer().fit(counts)
    vocab = default_vectorizer().fit(TOY_DOCS).get_feature_names_out()
    for name, topics in zip(frame["Parent_Name"], frame["Topics"]):
        row = ctfidf.transform(sp.csr_matrix(counts[topics].sum(0))).toarray().ravel()
        assert name == "_".join(vocab[i] for i in np.lexsort((np.arange(row.size), -row))[:5])
    # children: topic ids with their words, or earlier nodes with their names
    names = dict(zip(frame["Parent_ID"], frame["Parent_Name"]))
    for cid, cname in zip(frame["Child_Left_ID"], frame["Child_Left_Name"]):
        expected = names[cid] if cid in names else "_".join(w for w, _ in six.get_topic(int(cid))[:5])
        assert cname == expected
    tree = GPUTopic.get_topic_tree(frame)
    assert tree.count("■") == 6 and tree.splitlines()[0].startswith("└─ ")
    assert len(GPUTopic.get_topic_tree(frame, max_distance=frame["Distance"].iloc[1] + 1e-9).splitlines()) == 3
    # BERTopic's widths: a level indents 5 characters, 2 with tight_layout; same lines otherwise
    tight = GPUTopic.get_topic_tree(frame, tight_layout=True)
    depth = [len(line) - len(line.lstrip(" │")) for line in tree.splitlines()]
    tight_depth = [len(line) - len(line.lstrip(" │")) for line in tight.splitlines()]
    assert max(depth) > 0 and [d * 2 for d in depth] == [d * 5 for d in tight_depth]
    assert [line.lstrip(" │") for line in tight.splitlines()] == [line.lstrip(" │") for line in tree.splitlines()]
    with pytest.raises(InputError, match="tight_layout must be"):
        GPUTopic.get_topic_tree(frame, tight_layout="yes")


def test_hierarchical_topics_custom_functions_and_errors(six):
    from scipy.cluster import hierarchy as sch

    single = six.hierarchical_topics(TOY_DOCS, linkage_function=lambda d: sch.linkage(d, "single"))
    ward = six.hierarchical_topics(TOY_DOCS)
    assert single["Distance"].max() < ward["Distance"].max()
    with pytest.raises(InputError, match=r"distance_function must return a finite \(6 x 6\)"):
        six.hierarchical_topics(TOY_DOCS, distance_function=lambda M: np.zeros((2, 2)))
    with pytest.raises(InputError, match="linkage_function must be a function"):
        six.hierarchical_topics(TOY_DOCS, linkage_function="ward")
    with pytest.raises(InputError, match="takes the frame of hierarchical_topics"):
        GPUTopic.get_topic_tree(six.get_topic_info())
    two = fast_model(hdbscan_model=KMeans(n_clusters=1, n_init=1, random_state=0)).fit(TOY_DOCS)
    with pytest.raises(InputError, match="at least two topics besides the outliers"):
        two.hierarchical_topics(TOY_DOCS)


@pytest.mark.parametrize("window, stride, padding", [(4, 1, False), (3, 2, True), (1, 1, False), (6, 4, True)])
def test_window_counts_fast_path_equals_counting_the_joined_windows(ng2000, window, stride, padding):
    docs = ng2000[0][:300] + ["", "İstanbul İzmir cafés", "The THE the", "a"]
    vec = CountVectorizer(stop_words="english").fit(docs)
    assert gd._plain_unigram_counter(vec)
    fast, owner, _ = gd.window_counts(vec, docs, window, stride, padding)
    sets = [(i, s) for i, d in enumerate(docs) for s in gd.token_sets(vec.build_tokenizer()(d), window, stride, padding)]
    slow = vec.transform([" ".join(s) for _, s in sets])
    np.testing.assert_array_equal(owner, [i for i, _ in sets])
    assert (fast != slow).nnz == 0 and fast.shape == slow.shape
    # bigrams: not the fast path, the joined windows are counted
    bigrams = CountVectorizer(ngram_range=(1, 2)).fit(docs)
    assert not gd._plain_unigram_counter(bigrams)
    X, _, _ = gd.window_counts(bigrams, docs[:20], window, stride, padding)
    assert X.shape[1] == len(bigrams.vocabulary_)


# -------------------------------------------------------------- merge models


def test_merge_models_adds_the_new_topics_and_joins_the_known_ones(tmp_path):
    from gputopic import GPUTopic

    two = dict(hdbscan_model=KMeans(n_clusters=2, n_init=3, random_state=0))
    first = fast_model(**two).fit(TOY_DOCS[:40])  # cats, markets
    second = fast_model(**two).fit(TOY_DOCS[20:])  # markets, football
    merged = GPUTopic.merge_models([first, second], min_similarity=0.7)
    assert merged is not first and len(merged.topic_sizes_) == 3
    topics = np.asarray(merged.topics_)
    assert topics.shape == (80,)
    np.testing.assert_array_equal(topics[:40], first.topics_)
    market = int(first.topics_[20])
    assert (topics[40:60] == market).all()  # the second model's market topic joined the first's
    football = int(topics[60])
    assert football not in first.topic_sizes_ and merged.topic_sizes_[market] == 40
    # the new topic's words, embedding and c-TF-IDF row are the second model's, on the union vocabulary
    k2 = int(second.topics_[20])
    assert merged.get_topic(football) == second.get_topic(k2)
    np.testing.assert_allclose(np.asarray(merged.topic_embeddings_)[football], np.asarray(second.topic_embeddings_)[k2])
    row = merged.c_tf_idf_[football].toarray().ravel()
    theirs = second.c_tf_idf_[k2].toarray().ravel()
    assert {merged.vocabulary_[i]: v for i, v in enumerate(row) if v} == {
        second.vocabulary_[i]: v for i, v in enumerate(theirs) if v}
    assert set(merged.vocabulary_) == set(first.vocabulary_) | set(second.vocabulary_)
    assert merged.vocabulary_[: len(first.vocabulary_)] == list(first.vocabulary_)
    new, _ = merged.transform(["the football team scored a goal", "my cat purred"])
    assert new.tolist() == [football, int(first.topics_[0])]
    # it is a whole model: topic operations on the concatenated documents, save and load
    docs = list(TOY_DOCS[:40]) + list(TOY_DOCS[20:])
    assert merged.reduce_outliers(docs, topics, strategy="c-tf-idf").shape == (80,)
    merged.save(tmp_path / "m")
    assert GPUTopic.load(tmp_path / "m", embedding_model=HashingEncoder()).topic_sizes_ == merged.topic_sizes_
    merged.update_topics(docs)
    assert len(merged.topic_sizes_) == 3
    everything = GPUTopic.merge_models([first, second], min_similarity=-1.0)  # all join the first's topics
    assert len(everything.topic_sizes_) == 2


def test_merge_models_refuses_what_cannot_be_merged():
    from gputopic import GPUTopic

    model = fast_model().fit(TOY_DOCS)
    with pytest.raises(InputError, match="a list of at least two fitted GPUTopic models"):
        GPUTopic.merge_models([model])
    with pytest.raises(InputError, match="must share their embedding model"):
        GPUTopic.merge_models([model, fast_model(embedding_model=HashingEncoder(dim=32)).fit(TOY_DOCS)])
    with pytest.raises(InputError, match=r"min_similarity must be a cosine similarity in \[-1, 1\]"):
        GPUTopic.merge_models([model, model], min_similarity=3)
