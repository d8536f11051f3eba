"""Representation models (gputopic/represent.py): what the estimator gives them and
KeyBERTInspired's re-ranking, checked on hand-made vectors and the toy corpus."""

from __future__ import annotations

import numpy as np
import pytest

from gputopic import InputError, KeyBERTInspired, MaximalMarginalRelevance
from helpers import TOY_DOCS, HashingEncoder, fast_model

VECS = {"doc a": [1.0, 0, 0], "doc b": [0.8, 0.6, 0], "doc c": [0, 0, 1.0],
        "alpha": [1.0, 0.1, 0], "beta": [0, 1.0, 0], "gamma": [0.7, 0.7, 0], "delta": [0, 0.1, 1.0]}


def embed(texts):
    return np.asarray([VECS[t] for t in texts])


def test_keybert_inspired_ranks_candidates_by_similarity_to_the_mean_document():
    words = {0: [("beta", 0.9), ("gamma", 0.8), ("alpha", 0.7), ("delta", 0.6)], 1: [("delta", 1.0)],
             2: [("beta", 1.0)]}
    docs = {0: ["doc a", "doc b"], 1: ["doc c"], 2: []}
    out = KeyBERTInspired(top_n_words=3, nr_repr_docs=2, nr_candidate_words=4).represent(
        words, embed=embed, representative_docs=docs)
    # topic 0's embedding: the mean of doc a and doc b = (0.9, 0.3, 0)
    centre = np.array([0.9, 0.3, 0])
    sims = {w: np.dot(VECS[w], centre) / np.linalg.norm(VECS[w]) / np.linalg.norm(centre) for w, _ in words[0]}
    expected = sorted(sims, key=lambda w: -sims[w])[:3]
    assert [w for w, _ in out[0]] == expected
    np.testing.assert_allclose([s for _, s in out[0]], [sims[w] for w in expected])
    assert out[1][0][0] == "delta" and out[2] == words[2]  # a topic without documents keeps its words
    # only the best nr_candidate_words c-TF-IDF words compete; nr_repr_docs documents make the centre
    narrow = KeyBERTInspired(top_n_words=3, nr_repr_docs=1, nr_candidate_words=2).represent(
        words, embed=embed, representative_docs=docs)
    assert {w for w, _ in narrow[0]} == {"beta", "gamma"} and narrow[0][0][0] == "gamma"
    with pytest.raises(InputError, match="nr_repr_docs must be an integer >= 1"):
        KeyBERTInspired(nr_repr_docs=0).represent(words, embed=embed, representative_docs=docs)


class Spy:
    """Records what the estimator passes to a representation model."""

    nr_candidate_words = 15
    nr_repr_docs = 6

    def represent(self, topic_words, *, embed, representative_docs):
        self.words = {t: len(w) for t, w in topic_words.items()}
        self.docs = {t: len(d) for t, d in representative_docs.items()}
        return topic_words


def test_models_get_the_candidates_and_documents_they_ask_for():
    spy = Spy()
    model = fast_model(representation_model=[spy, MaximalMarginalRelevance(diversity=0.0)], top_n_words=4)
    model.fit(TOY_DOCS)
    terms = {t: int((model.c_tf_idf_[i].toarray() > 0).sum()) for i, t in enumerate(sorted(model.topic_sizes_))}
    assert spy.words == {t: min(15, n) for t, n in terms.items()}
    assert spy.docs == {t: 6 for t in model.topic_sizes_}
    assert all(len(w) == 4 for w in model.topic_representations_.values())  # cut to top_n_words
    assert all(len(d) == 3 for d in model.representative_docs_.values())
    spy.words = None
    model.update_topics(TOY_DOCS, top_n_words=2)  # refits ask again
    assert spy.words is not None and all(len(w) == 2 for w in model.topic_representations_.values())


def test_keybert_inspired_in_a_fit_prefers_words_near_the_documents():
    model = fast_model(representation_model=KeyBERTInspired(top_n_words=5, nr_repr_docs=3)).fit(TOY_DOCS)
    enc = HashingEncoder()
    for t, pairs in model.topic_representations_.items():
        docs = model.representative_docs_[t]
        centre = enc.encode(docs).mean(axis=0)
        sims = [float(enc.encode([w])[0] @ centre / np.linalg.norm(centre)) for w, _ in pairs]
        np.testing.assert_allclose([s for _, s in pairs], sims, atol=1e-5)
        assert sims == sorted(sims, reverse=True)


def test_aspects_from_a_dict_of_representation_models(tmp_path):
    from gputopic import GPUTopic

    keybert = KeyBERTInspired(top_n_words=4, nr_repr_docs=3)
    model = fast_model(representation_model={"Main": None, "KeyBERT": keybert, "Both": [keybert,
                                                                                       MaximalMarginalRelevance()]})
    model.fit(TOY_DOCS)
    plain = fast_model().fit(TOY_DOCS)
    alone = fast_model(representation_model=keybert).fit(TOY_DOCS)
    assert model.topic_representations_ == plain.topic_representations_  # "Main": None keeps the c-TF-IDF words
    assert model.topic_aspects_["KeyBERT"] == alone.topic_representations_
    assert set(model.topic_aspects_) == {"KeyBERT", "Both"}
    assert model.get_topic(0, full=True) == {"Main": plain.get_topic(0), "KeyBERT": alone.get_topic(0),
                                             "Both": model.topic_aspects_["Both"][0]}
    assert set(model.get_topics(full=True)) == {"Main", "KeyBERT", "Both"}
    info = model.get_topic_info()
    assert list(info.KeyBERT[0]) == [w for w, _ in alone.get_topic(0)]
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m", embedding_model=HashingEncoder())
    assert loaded.topic_aspects_ == {a: {t: [(w, pytest.approx(s)) for w, s in ws] for t, ws in d.items()}
                                     for a, d in model.topic_aspects_.items()}
    model.merge_topics(TOY_DOCS, [0, 1])  # refits recompute the aspects
    assert set(model.topic_aspects_["KeyBERT"]) == set(model.topic_sizes_)
    with pytest.raises(InputError, match="maps aspect names"):
        fast_model(representation_model={1: keybert}).fit(TOY_DOCS)
    with pytest.raises(InputError, match="must have a represent"):
        fast_model(representation_model={"Main": "mmr"}).fit(TOY_DOCS)
