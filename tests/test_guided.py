"""Seed topics (guided topic modelling) and zero-shot topics (gputopic/guided.py and the
estimator's ``seed_topic_list`` / ``zeroshot_topic_list``), with BERTopic's semantics.

The arithmetic on hand-made vectors; the estimator on the 3-theme toy corpus (PCA + KMeans)
and the zero-shot topics on 2,000 real 20 Newsgroups posts.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from gputopic import ClassTfidfTransformer, GPUTopic, InputError
from gputopic import guided
from gputopic.device import get_backend
from gputopic.pipeline import order_by_size as _order_by_size
from gputopic.vectorize import class_term_matrix, doc_term_matrix, labels_to_index
from helpers import TOY_DOCS, HashingEncoder, fast_model

CPU = get_backend("cpu")
CAT = "cat kitten mat purred"


# ----------------------------------------------------------------- arithmetic


def test_guide_labels_documents_nearer_a_seed_than_the_centre_and_pulls_them():
    emb = np.array([[1.0, 0.1, 0], [0.9, 0, 0.1], [0, 1, 0], [0.5, 0.5, 0.5]], dtype=np.float32)
    seeds = np.array([[1.0, 0, 0], [0, 0, 1.0]], dtype=np.float32)
    # the centre (mean) points to (0.6, 0.4, 0.15): the 4th document is nearer it than to a seed
    labels, moved = guided.guide(emb, seeds, CPU)
    np.testing.assert_array_equal(labels, [0, 0, -1, -1])
    np.testing.assert_allclose(moved[:2], 0.75 * emb[:2] + 0.25 * seeds[0], rtol=1e-6)
    np.testing.assert_array_equal(moved[2:], emb[2:])
    assert emb[0, 1] == np.float32(0.1)  # the input is not changed


def test_seed_words_weigh_more_and_zeroshot_assignment_needs_the_threshold():
    np.testing.assert_array_equal(guided.seed_multiplier([["cat", "dog"], ["goal"]], ["ant", "cat", "goal", "x"]),
                                  [1.0, 1.2, 1.2, 1.0])
    assert guided.seed_multiplier(None, ["a"]) is None
    emb = np.array([[1.0, 0], [0.6, 0.8], [0, 1], [-1, 0]], dtype=np.float32)
    names = np.array([[1.0, 0], [0, 1]], dtype=np.float32)
    # cosines: [1, 0], [0.6, 0.8], [0, 1], [-1, 0]
    np.testing.assert_array_equal(guided.zeroshot_assign(emb, names, 0.7, CPU), [0, 1, 1, -1])
    np.testing.assert_array_equal(guided.zeroshot_assign(emb, names, 0.9, CPU), [0, -1, 1, -1])


def test_zeroshot_topics_come_first_then_clusters_by_size():
    clusters = np.array([3, 3, 3, 3, 1, 2, 2, 2, -1, 0])  # zero-shot topics are clusters 0 and 1
    topics, mapping = _order_by_size(clusters, first=2)
    assert mapping == {0: 0, 1: 1, 3: 2, 2: 3, -1: -1}
    np.testing.assert_array_equal(topics, [2, 2, 2, 2, 1, 3, 3, 3, -1, 0])
    assert _order_by_size(clusters)[1] == {3: 0, 2: 1, 0: 2, 1: 3, -1: -1}


def test_names_follow_their_documents_when_still_similar():
    old = np.array([0, 0, 1, 1, 2, 2, -1])
    new = np.array([0, 0, 0, 0, 1, 1, 1])  # topics 0 and 1 merged; the outlier joined old topic 2
    name_emb = np.array([[1.0, 0], [0.8, 0.6], [0, 1]])
    named = {0: 0, 1: 1, 2: 2}
    # new topic 0 took the documents of named topics 0 and 1: it keeps the name whose embedding
    # is the more similar to its own, whichever of the two comes first (margins >= 0.09, no tie)
    for topic0, winner in (([0.9, 0.45], 1), ([1.0, 0.1], 0)):  # cosines 0.89 / 0.98, 0.99 / 0.86
        topic_emb = np.array([topic0, [0.1, 1.0]])  # rows of new topics 0, 1
        sims = [name_emb[k] @ topic_emb[0] / np.linalg.norm(topic_emb[0]) for k in (0, 1)]
        assert abs(sims[0] - sims[1]) > 0.05 and int(np.argmax(sims)) == winner
        out = guided.carry_names(old, new, named, name_emb, topic_emb, np.array([0, 1]), 0.5)
        assert out == {0: winner, 1: 2}
        # no name is similar enough to a threshold of 0.999 (the best cosine here is 0.995)
        assert guided.carry_names(old, new, named, name_emb, topic_emb, np.array([0, 1]), 0.999) == {}


@pytest.mark.parametrize("params, match", [
    ({"seed_topic_list": ["cat"]}, "seed_topic_list must be a non-empty list of non-empty lists of words"),
    ({"seed_topic_list": [["cat", ""]]}, "seed_topic_list must be"),
    ({"zeroshot_topic_list": "cats"}, "zeroshot_topic_list must be a non-empty list of topic names"),
    ({"zeroshot_topic_list": ["cats", "cats"]}, r"names \['cats'\] more than once"),
    ({"zeroshot_topic_list": ["cats"], "zeroshot_min_similarity": 2}, r"must be a cosine similarity in \[-1, 1\]"),
])
def test_bad_guidance_is_refused(params, match):
    with pytest.raises(InputError, match=match):
        fast_model(**params).fit(TOY_DOCS)


# ------------------------------------------------------------------ seed topics


class RecordingPCA:
    """PCA that records the labels UMAP would get."""

    def __init__(self):
        from sklearn.decomposition import PCA

        self.pca = PCA(n_components=5, random_state=0)

    def fit_transform(self, X, y=None):
        self.y = y
        return self.pca.fit_transform(X)

    def transform(self, X):
        return self.pca.transform(X)


def test_seed_topics_label_documents_and_weigh_seed_words():
    seeds = [["cat", "kitten"], ["goal", "football"]]
    model = fast_model(seed_topic_list=seeds, umap_model=RecordingPCA()).fit(TOY_DOCS)
    y = model.umap_model_.y
    assert y.shape == (60,) and set(np.unique(y)) <= {-1, 0, 1}
    # the cat documents that got a label got the cat seed, the football ones the football seed
    assert set(y[:20]) - {-1} == {0} and set(y[40:]) - {-1} == {1}
    # c-TF-IDF with the seed words' idf times 1.2
    topics = np.asarray(model.topics_)
    ids, index = labels_to_index(topics)
    vec = model.vectorizer_model_
    counts = class_term_matrix(doc_term_matrix(vec, TOY_DOCS, CPU), index, len(ids), CPU)
    vocab = list(vec.get_feature_names_out())
    mult = np.where(np.isin(vocab, ["cat", "kitten", "goal", "football"]), 1.2, 1.0)
    expected = ClassTfidfTransformer().fit(counts, multiplier=mult).transform(counts)
    np.testing.assert_allclose(model.c_tf_idf_.toarray(), expected.toarray())
    plain = ClassTfidfTransformer().fit_transform(counts)
    assert not np.allclose(plain.toarray(), expected.toarray())
    # topic operations keep the weighting
    model.update_topics(TOY_DOCS)
    np.testing.assert_allclose(model.c_tf_idf_.toarray(), expected.toarray())
    with pytest.raises(InputError, match="Pass either y or seed_topic_list"):
        fast_model(seed_topic_list=seeds).fit(TOY_DOCS, y=np.zeros(60, dtype=int))

    class PlainCtfidf(ClassTfidfTransformer):
        def fit(self, X):
            return super().fit(X)

    with pytest.raises(InputError, match="does not take: use gputopic.ClassTfidfTransformer"):
        fast_model(seed_topic_list=seeds, ctfidf_model=PlainCtfidf()).fit(TOY_DOCS)


def test_guidance_needs_the_embedding_model_of_the_embeddings():
    emb = HashingEncoder(dim=32).encode(TOY_DOCS)  # the model embeds in 64 dimensions
    with pytest.raises(InputError, match=r"zero-shot topic names are embedded by the embedding model \(64 "
                                         r"dimensions\) but the documents' embeddings have 32"):
        fast_model(zeroshot_topic_list=["cats"]).fit(TOY_DOCS, embeddings=emb)


def test_guidance_is_refused_in_a_sharded_fit():
    with pytest.raises(InputError, match="zeroshot_topic_list is not supported in a sharded fit"):
        fast_model(zeroshot_topic_list=["cats"], client=object()).fit(TOY_DOCS)


# ------------------------------------------------------------------ zero-shot


def _zeroshot_model(**kwargs):
    params = dict(zeroshot_topic_list=[CAT, "stocks market shares"], zeroshot_min_similarity=0.3,
                  hdbscan_model=KMeans(n_clusters=2, n_init=3, random_state=0))
    params.update(kwargs)
    return fast_model(**params)


def test_zeroshot_topics_take_their_documents_and_names(tmp_path):
    model = _zeroshot_model(zeroshot_topic_list=[CAT, "quantum chromodynamics"])
    topics, probs = model.fit_transform(TOY_DOCS)
    sims = HashingEncoder().encode(TOY_DOCS) @ HashingEncoder().encode([CAT]).T
    matched = sims.ravel() >= 0.3
    assert matched[:20].all() and not matched[20:].any()
    np.testing.assert_array_equal(topics[:20], 0)  # the matched name is topic 0, labelled with it
    assert model.topic_labels_[0] == CAT and model.get_topic_info().Name[0] == CAT
    assert set(topics[20:]) == {1, 2}  # the rest clustered (KMeans, 2 clusters), numbered after
    assert "quantum chromodynamics" not in model.topic_labels_.values()
    # probabilities: cosine similarity to the topic embeddings, as BERTopic
    emb = HashingEncoder().encode(TOY_DOCS)
    te = np.asarray(model.topic_embeddings_)
    cos = (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ (te / np.linalg.norm(te, axis=1, keepdims=True)).T
    np.testing.assert_allclose(probs, cos.max(axis=1), rtol=1e-5)
    new, _ = model.transform(["my kitten purred", "the team scored a goal"])
    assert new[0] == 0 and new[1] == topics[40]
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m", embedding_model=model.embedding_model)
    assert loaded.topic_labels_[0] == CAT and loaded._state.zeroshot_topics == {0: 0}
    assert loaded.zeroshot_topic_list == [CAT, "quantum chromodynamics"]


def test_zeroshot_names_survive_merges_that_stay_similar():
    model = _zeroshot_model()
    model.fit(TOY_DOCS)
    assert model.topic_labels_[0] == CAT and model.topic_labels_[1] == "stocks market shares"
    embedder = model._state.embedder
    calls = []
    real_encode = embedder.encode
    embedder.encode = lambda texts, *a, **k: calls.append(list(texts)) or real_encode(texts, *a, **k)
    model.merge_topics(TOY_DOCS, [1, 2])  # market + football: less like "stocks market shares"
    assert calls == []  # the names' embeddings of the fit are reused, nothing is embedded again
    names = set(model.topic_labels_.values())
    assert CAT in names
    merged = model.topics_[25]
    sim = np.asarray(model.topic_embeddings_)[list(sorted(model.topic_sizes_)).index(merged)]
    name = HashingEncoder().encode(["stocks market shares"])[0]
    cos = float(sim @ name / np.linalg.norm(sim) / np.linalg.norm(name))
    assert (model.topic_labels_[merged] == "stocks market shares") == (cos >= 0.3)


class NeighbourPCA(RecordingPCA):
    n_neighbors = 15  # fit needs n_neighbors + 1 documents to reduce


def test_zeroshot_edge_cases(caplog):
    everything = _zeroshot_model(zeroshot_min_similarity=-1.0).fit(TOY_DOCS)  # every document matches
    assert everything.umap_model_ is None and -1 not in everything.topic_sizes_
    with caplog.at_level("WARNING", logger="gputopic"):
        few = _zeroshot_model(zeroshot_topic_list=[CAT, "stocks market shares", "football team goal match"],
                              zeroshot_min_similarity=0.7, umap_model=NeighbourPCA()).fit(TOY_DOCS)
    # 5 market and 5 football posts below 0.7 are too few for 15 neighbours: outliers, with a warning
    assert few.topic_sizes_ == {-1: 10, 0: 20, 1: 15, 2: 15} and few.umap_model_ is None
    assert "Only 10 documents match no zero-shot topic, too few to cluster" in caplog.text
    nothing = _zeroshot_model(zeroshot_topic_list=["quantum chromodynamics"],
                              zeroshot_min_similarity=0.99).fit(TOY_DOCS)
    assert nothing._state.cluster_to_topic and not nothing._state.zeroshot_topics  # an ordinary fit
    assert nothing.topic_labels_ == fast_model(hdbscan_model=KMeans(n_clusters=2, n_init=3, random_state=0)
                                               ).fit(TOY_DOCS).topic_labels_


def test_zeroshot_topics_on_real_posts(ng2000):
    """Names of 4 newsgroups at threshold 0.3 (MiniLM similarities of a post and a short
    name are low): the posts they take are almost all from that newsgroup (measured:
    precision 0.88-1.00, 17-43 posts each, seed 0, this project's 2-core machine)."""
    docs, labels, emb = ng2000
    names = {"sci.space": "space exploration, NASA and rockets", "rec.sport.hockey": "ice hockey",
             "sci.crypt": "encryption and cryptography", "sci.med": "medicine and disease"}
    model = GPUTopic(device="cpu", random_state=0, zeroshot_topic_list=list(names.values()),
                     zeroshot_min_similarity=0.3)
    topics = np.asarray(model.fit_transform(docs, embeddings=emb)[0])
    labels = np.asarray(labels)
    assert [model.topic_labels_[t] for t in range(4)] == list(names.values())
    for t, group in enumerate(names):
        mine = topics == t
        assert mine.sum() >= 10 and (labels[mine] == group).mean() >= 0.85
    assert len(model.topic_sizes_) > 10  # the other posts were clustered
