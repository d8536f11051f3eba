"""gputopic.metrics: NPMI, diversity and NMI/ARI checked against hand-computed values."""

import math
from itertools import combinations

import numpy as np
import pytest
import scipy.sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from gputopic import InputError, metrics
from gputopic.vectorize import clean

# 5 documents; document frequencies: apple 3, banana 3, cherry 2, dates 2, eggplant 1
DOCS = [
    "Apple banana.",
    "apple, banana and cherry",
    "The apple; the cherry!",
    "banana dates",
    "dates eggplant",
]
TOPICS = {
    -1: [("banana", 0.9), ("dates", 0.8)],
    0: [("apple", 0.5), ("banana", 0.4), ("cherry", 0.3)],
    1: [("dates", 0.5), ("eggplant", 0.4), ("zebra", 0.3), ("apple", 0.2)],  # zebra: not in the corpus
}


def npmi(p_ij, p_i, p_j):
    return math.log(p_ij / (p_i * p_j)) / -math.log(p_ij)


def test_npmi_by_hand():
    result = metrics.npmi_coherence(TOPICS, DOCS, top_n=4)
    topic0 = (npmi(2 / 5, 3 / 5, 3 / 5)      # apple-banana: documents 1, 2
              + npmi(2 / 5, 3 / 5, 2 / 5)    # apple-cherry: documents 2, 3
              + npmi(1 / 5, 3 / 5, 2 / 5)) / 3  # banana-cherry: document 2
    topic1 = (npmi(1 / 5, 2 / 5, 1 / 5)      # dates-eggplant: document 5
              + -1 + -1) / 3                 # dates-apple, eggplant-apple: never together
    assert set(result["per_topic"]) == {0, 1}  # the outlier topic is left out
    assert result["per_topic"][0] == pytest.approx(topic0, abs=1e-12)
    assert result["per_topic"][1] == pytest.approx(topic1, abs=1e-12)
    assert result["mean"] == pytest.approx((topic0 + topic1) / 2, abs=1e-12)
    assert result["skipped_words"] == 1  # zebra
    assert result["top_n"] == 4


def test_npmi_top_n_truncates_and_outliers_on_request():
    result = metrics.npmi_coherence(TOPICS, DOCS, top_n=2, include_outliers=True)
    assert result["per_topic"][0] == pytest.approx(npmi(2 / 5, 3 / 5, 3 / 5))
    assert result["per_topic"][1] == pytest.approx(npmi(1 / 5, 2 / 5, 1 / 5))
    assert result["per_topic"][-1] == pytest.approx(npmi(1 / 5, 3 / 5, 2 / 5))  # banana-dates
    assert result["skipped_words"] == 0


def test_npmi_plain_word_lists_and_edge_cases():
    docs = ["apple banana", "banana apple cherry"]
    result = metrics.npmi_coherence({0: ["apple", "banana"], 1: ["apple", "zebra"], 2: ["the", ""]}, docs)
    assert result["per_topic"][0] == 1.0          # together in every document: the +1 limit, not 0/0
    assert math.isnan(result["per_topic"][1])     # one scorable word: no pair
    assert math.isnan(result["per_topic"][2])     # a stop word and BERTopic's "" padding
    assert result["mean"] == 1.0                  # NaN topics are left out of the mean
    assert result["skipped_words"] == 2           # zebra, the ("" is padding, not a word)


def test_npmi_documents_and_doc_term_agree():
    vec = CountVectorizer(stop_words="english")
    X = vec.fit_transform(clean(DOCS))
    by_docs = metrics.npmi_coherence(TOPICS, DOCS, top_n=4)
    by_counts = metrics.npmi_coherence(TOPICS, doc_term=X, vocabulary=vec.vocabulary_, top_n=4)
    binary = (X > 0).astype(np.int8)
    by_binary = metrics.npmi_coherence(TOPICS, doc_term=binary.tocsc(), vocabulary=vec.get_feature_names_out(),
                                       top_n=4)
    by_dense = metrics.npmi_coherence(TOPICS, doc_term=X.toarray(), vocabulary=list(vec.get_feature_names_out()),
                                      top_n=4)
    assert by_docs == by_counts == by_binary == by_dense


def test_npmi_matches_a_set_based_count_on_real_text():
    from conftest import load_corpus

    docs, _ = load_corpus("ag_news_test", n=300, seed=1)
    vec = CountVectorizer(stop_words="english")
    X = vec.fit_transform(clean(docs))
    vocab = vec.get_feature_names_out()
    frequent = vocab[np.argsort(-np.asarray((X > 0).sum(axis=0)).ravel())[:40]].tolist()
    topics = {t: frequent[t::4][:8] for t in range(4)}
    result = metrics.npmi_coherence(topics, docs, top_n=8)

    analyzer = vec.build_analyzer()
    doc_sets = [set(analyzer(d)) for d in clean(docs)]
    n = len(docs)
    for t, words in topics.items():
        scores = []
        for a, b in combinations(words, 2):
            both = sum(1 for s in doc_sets if a in s and b in s) / n
            p_a = sum(1 for s in doc_sets if a in s) / n
            p_b = sum(1 for s in doc_sets if b in s) / n
            scores.append(-1.0 if both == 0 else npmi(both, p_a, p_b))
        assert result["per_topic"][t] == pytest.approx(np.mean(scores), abs=1e-12)


def test_topic_diversity_by_hand():
    topics = {-1: ["x", "y", "z"], 0: ["a", "b", "c", "q"], 1: [("a", 1.0), ("d", 0.5), ("e", 0.1)]}
    assert metrics.topic_diversity(topics, top_n=3) == pytest.approx(5 / 6)   # a b c d e of 2 x 3
    assert metrics.topic_diversity(topics, top_n=3, include_outliers=True) == pytest.approx(8 / 9)
    assert metrics.topic_diversity({0: ["a", "b"], 1: ["a", "b"]}, top_n=2) == pytest.approx(2 / 4)
    # a short topic counts its own words: 4 distinct of 2 + 3 taken
    assert metrics.topic_diversity({0: ["a", "b"], 1: ["c", "d", "a"]}, top_n=3) == pytest.approx(4 / 5)


def test_clustering_scores_count_outliers_as_one_cluster():
    labels = ["x", "x", "x", "y", "y", "z", "z", "z"]
    topics = np.array([0, 0, -1, 1, 1, -1, -1, 0])
    scores = metrics.clustering_scores(labels, topics)
    as_cluster = np.where(topics == -1, 99, topics)
    assert scores["nmi"] == pytest.approx(normalized_mutual_info_score(labels, as_cluster))
    assert scores["ari"] == pytest.approx(adjusted_rand_score(labels, as_cluster))
    kept = topics != -1  # dropping the outliers would score differently
    assert scores["nmi"] != pytest.approx(normalized_mutual_info_score(np.array(labels)[kept], topics[kept]))
    # outliers that are exactly one class score perfectly
    assert metrics.clustering_scores(["a", "a", "b", "b"], [-1, -1, 0, 0]) == {"nmi": 1.0, "ari": 1.0}


class FittedModel:
    """The two things evaluate() reads from a fitted model (GPUTopic and BERTopic both have them)."""

    def __init__(self, topics, topic_words):
        self.topics_ = topics
        self._words = topic_words

    def get_topics(self):
        return self._words


def test_evaluate_collects_everything():
    labels = ["fruit", "fruit", "fruit", "veg", "veg"]
    model = FittedModel([0, 0, 0, 1, -1], TOPICS)
    out = metrics.evaluate(model, DOCS, labels, top_n=4)
    assert out["n_topics"] == 2
    assert out["outlier_fraction"] == pytest.approx(1 / 5)
    expected = metrics.npmi_coherence(TOPICS, DOCS, top_n=4)
    assert out["npmi"] == expected["mean"] and out["npmi_per_topic"] == expected["per_topic"]
    assert out["skipped_words"] == 1
    assert out["diversity"] == pytest.approx(metrics.topic_diversity(TOPICS, top_n=4))
    assert out["nmi"] == pytest.approx(normalized_mutual_info_score(labels, [0, 0, 0, 1, -1]))
    assert out["ari"] == pytest.approx(adjusted_rand_score(labels, [0, 0, 0, 1, -1]))
    assert "nmi" not in metrics.evaluate(model, DOCS, top_n=4)


def test_evaluate_a_fitted_gputopic():
    from helpers import TOY_DOCS, fast_model

    labels = ["cats"] * 20 + ["markets"] * 20 + ["football"] * 20
    model = fast_model().fit(TOY_DOCS)
    out = metrics.evaluate(model, TOY_DOCS, labels, top_n=5)
    assert out["n_topics"] == 3 and out["outlier_fraction"] == 0.0
    assert out["nmi"] == pytest.approx(1.0) and out["ari"] == pytest.approx(1.0)
    assert 0.0 < out["npmi"] <= 1.0  # words of one toy topic appear together
    assert 0.0 < out["diversity"] <= 1.0


# ------------------------------------------------------------------ bad input


def test_npmi_rejects_top_n_below_two():
    with pytest.raises(InputError, match=r"top_n must be an integer >= 2 for NPMI"):
        metrics.npmi_coherence(TOPICS, DOCS, top_n=1)


def test_npmi_rejects_only_the_outlier_topic():
    with pytest.raises(InputError, match=r"No topics to score besides the outlier topic -1"):
        metrics.npmi_coherence({-1: ["apple", "banana"]}, DOCS)


def test_npmi_rejects_no_topics():
    with pytest.raises(InputError, match=r"No topics to score"):
        metrics.npmi_coherence({}, DOCS)


def test_npmi_rejects_topic_words_that_are_not_a_dict():
    with pytest.raises(InputError, match=r"topic_words must be a dict"):
        metrics.npmi_coherence([["apple", "banana"]], DOCS)


def test_npmi_needs_exactly_one_reference_corpus():
    with pytest.raises(InputError, match=r"Pass the reference corpus exactly once"):
        metrics.npmi_coherence(TOPICS)


def test_npmi_doc_term_needs_vocabulary():
    with pytest.raises(InputError, match=r"doc_term needs vocabulary="):
        metrics.npmi_coherence(TOPICS, doc_term=scipy.sparse.csr_matrix(np.eye(3)))


def test_npmi_doc_term_vocabulary_size_must_match():
    with pytest.raises(InputError, match=r"vocabulary has 2 terms but doc_term has 3 columns"):
        metrics.npmi_coherence(TOPICS, doc_term=scipy.sparse.csr_matrix(np.eye(3)), vocabulary=["apple", "banana"])


def test_npmi_rejects_empty_documents():
    with pytest.raises(InputError, match=r"documents is empty"):
        metrics.npmi_coherence(TOPICS, [])


def test_diversity_rejects_empty_topics():
    with pytest.raises(InputError, match=r"No topics to score"):
        metrics.topic_diversity({})


def test_diversity_rejects_top_n_zero():
    with pytest.raises(InputError, match=r"top_n must be an integer >= 1 for topic diversity"):
        metrics.topic_diversity(TOPICS, top_n=0)


def test_clustering_scores_reject_length_mismatch():
    with pytest.raises(InputError, match=r"labels has 3 entries but topics has 2"):
        metrics.clustering_scores(["a", "b", "c"], [0, 1])


def test_clustering_scores_reject_empty():
    with pytest.raises(InputError, match=r"labels and topics are empty"):
        metrics.clustering_scores([], [])


def test_evaluate_rejects_other_documents():
    with pytest.raises(InputError, match=r"has 5 topic assignments but 2 documents were passed"):
        metrics.evaluate(FittedModel([0, 0, 0, 1, -1], TOPICS), DOCS[:2])


def test_evaluate_rejects_an_unfitted_model():
    with pytest.raises(InputError, match=r"needs a fitted topic model"):
        metrics.evaluate(object(), DOCS)
