"""Online topic modelling (GPUTopic.partial_fit, gputopic/online.py): the running counts,
sizes and embeddings equal those of all batches at once; the errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import PCA, IncrementalPCA

from gputopic import ClassTfidfTransformer, InputError
from gputopic.device import get_backend
from gputopic.vectorize import class_term_matrix, default_vectorizer, doc_term_matrix, labels_to_index
from helpers import TOY_DOCS, HashingEncoder, fast_model

CPU = get_backend("cpu")


def online_model(**kwargs):
    return fast_model(umap_model=IncrementalPCA(n_components=5),
                      hdbscan_model=MiniBatchKMeans(n_clusters=3, n_init=3, random_state=0), **kwargs)


def _rows(M, vocab):
    M = M.tocsr()
    return [{vocab[j]: round(float(v), 12) for j, v in zip(M.indices[M.indptr[i]:M.indptr[i + 1]],
                                                             M.data[M.indptr[i]:M.indptr[i + 1]])}
            for i in range(M.shape[0])]


def test_batches_add_up_to_the_whole_corpus(tmp_path):
    order = np.random.default_rng(0).permutation(len(TOY_DOCS))
    docs = [TOY_DOCS[i] for i in order]
    model = online_model()
    seen = []
    for start in range(0, 60, 20):
        model.partial_fit(docs[start:start + 20])
        seen.append(np.asarray(model.topics_))
        assert len(model.topics_) == 20
    topics = np.concatenate(seen)
    assert model.topic_sizes_ == {int(t): int(c) for t, c in zip(*np.unique(topics, return_counts=True))}
    # c-TF-IDF of every document counted once, per topic over all batches
    ids, index = labels_to_index(topics)
    vec = default_vectorizer()
    counts = class_term_matrix(doc_term_matrix(vec, docs, CPU), index, len(ids), CPU)
    expected = ClassTfidfTransformer().fit_transform(counts)
    assert sorted(model.vocabulary_) == sorted(vec.get_feature_names_out())
    assert _rows(model.c_tf_idf_, model.vocabulary_) == _rows(expected, list(vec.get_feature_names_out()))
    emb = HashingEncoder().encode(docs)
    np.testing.assert_allclose(model.topic_embeddings_, [emb[topics == t].mean(axis=0) for t in ids], atol=1e-6)
    # the themes are found, new documents are placed, the model saves
    per_theme = [set(topics[(order >= k) & (order < k + 20)].tolist()) for k in (0, 20, 40)]
    assert all(len(s) == 1 for s in per_theme) and len(set.union(*per_theme)) == 3
    new, _ = model.transform(["the kitten purred on the mat"])
    assert new[0] == topics[list(order).index(0)]
    model.save(tmp_path / "m")
    with pytest.raises(InputError, match="needs the topics of all training documents, which partial_fit does not"):
        model.reduce_topics(docs[-20:], nr_topics=2)  # topics_ are still the last batch's
    # BERTopic's idiom: topics_ set to all batches' topics, all documents passed
    model.topics_ = topics.tolist()
    model.set_topic_labels({int(topics[0]): "first"})  # keeps the topics_ the user set
    assert model.topics_ == topics.tolist() and model.custom_labels_[model._state.ids.index(topics[0])] == "first"
    per_class = model.topics_per_class(docs, [f"c{int(i) % 2}" for i in order])
    assert sorted(per_class.groupby("Topic")["Frequency"].sum().to_dict().items()) == sorted(
        (int(t), int(c)) for t, c in zip(*np.unique(topics, return_counts=True)))
    over_time = model.topics_over_time(docs, list(range(60)), nr_bins=3)
    assert int(over_time["Frequency"].sum()) == 60
    assert len(model.hierarchical_topics(docs)) == len(set(topics.tolist()) - {-1}) - 1
    model.reduce_topics(docs, nr_topics=2)
    assert len(model.topics_) == 60 and len(set(model.topics_) - {-1}) == 2
    merged = np.asarray(model.topics_)
    assert all(len(set(merged[(order >= k) & (order < k + 20)].tolist())) == 1 for k in (0, 20, 40))
    assert model._state.online is None  # the operation ends the online run
    model.fit(TOY_DOCS)  # a full fit starts over
    assert model._state.online is None and len(model.topics_) == 60


def test_partial_fit_refuses_what_cannot_learn_incrementally():
    with pytest.raises(InputError, match="partial_fit needs a hdbscan_model that learns incrementally"):
        fast_model(umap_model=IncrementalPCA(n_components=5)).partial_fit(TOY_DOCS)
    with pytest.raises(InputError, match="does not take nr_topics"):
        online_model(nr_topics=2).partial_fit(TOY_DOCS)
    with pytest.raises(InputError, match="continues a model started with partial_fit"):
        online_model().fit(TOY_DOCS).partial_fit(TOY_DOCS)
    model = online_model().partial_fit(TOY_DOCS[:30])
    with pytest.raises(InputError, match="earlier batches had 64"):
        model.partial_fit(TOY_DOCS[30:], embeddings=np.ones((30, 8), dtype=np.float32))


def test_online_topics_on_real_posts_are_close_to_a_full_fit(ng5000):
    """4 batches of 1,000 20 Newsgroups posts (IncrementalPCA + MiniBatchKMeans, 20 clusters):
    NMI of 1,000 held-out posts 0.410, against 0.425 for one fit of the same 4,000 posts with
    the same models (this project's 2-core machine)."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from gputopic import GPUTopic

    docs, labels, emb = ng5000
    labels = np.asarray(labels)

    def make():
        return GPUTopic(umap_model=IncrementalPCA(n_components=5), device="cpu",
                        hdbscan_model=MiniBatchKMeans(n_clusters=20, n_init=3, random_state=0))

    online = make()
    for start in range(0, 4000, 1000):
        online.partial_fit(docs[start:start + 1000], embeddings=emb[start:start + 1000])
    assert sum(online.topic_sizes_.values()) == 4000 and len(online.topic_sizes_) == 20
    full = make().fit(docs[:4000], embeddings=emb[:4000])
    held_out = [nmi(labels[4000:], m.transform(docs[4000:], embeddings=emb[4000:])[0]) for m in (online, full)]
    assert held_out[0] > 0.38 and held_out[0] > held_out[1] - 0.04


def test_a_vectorizer_with_decay_fades_earlier_counts():
    from sklearn.feature_extraction.text import CountVectorizer

    class Decaying(CountVectorizer):  # declares decay as BERTopic's OnlineCountVectorizer does
        def __init__(self, stop_words="english", decay=0.5):
            super().__init__(stop_words=stop_words)
            self.decay = decay

    plain, fading = online_model(), online_model(vectorizer_model=Decaying())
    for model in (plain, fading):
        model.partial_fit(TOY_DOCS[:20])  # cats only
        model.partial_fit(TOY_DOCS[:20])
    cat = plain.vocabulary_.index("cat")
    t = int(plain.topics_[0])
    once = plain._state.online.counts[t, cat] / 2  # the same batch twice: plain counts add up
    assert once > 0 and fading._state.online.counts[t, cat] == pytest.approx(once * 0.5 + once)
    with pytest.raises(InputError, match=r"decay must be a number in \[0, 1\)"):
        online_model(vectorizer_model=Decaying(decay=1.5)).partial_fit(TOY_DOCS)


def test_a_failed_batch_leaves_the_model_as_it_was():
    class FailsOnDemand:
        fail = False

        def represent(self, topic_words, *, embed):
            if self.fail:
                raise RuntimeError("representation failed")
            return topic_words

    rep = FailsOnDemand()
    model = online_model(representation_model=rep).partial_fit(TOY_DOCS[:20])
    before = (list(model._state.online.vocab), model.umap_model_.n_samples_seen_, model.topic_sizes_)
    rep.fail = True
    with pytest.raises(RuntimeError, match="representation failed"):
        model.partial_fit(TOY_DOCS[20:])  # new terms (markets), 40 more samples, then the failure
    assert (list(model._state.online.vocab), model.umap_model_.n_samples_seen_, model.topic_sizes_) == before
    rep.fail = False
    model.partial_fit(TOY_DOCS[20:])
    assert model.umap_model_.n_samples_seen_ == 60 and "market" in model._state.online.vocab


def test_a_reducer_without_partial_fit_learns_from_the_first_batch():
    """BERTopic's rule: PCA (or UMAP) is fitted on the first batch and projects the later ones."""
    model = fast_model(umap_model=PCA(n_components=5, random_state=0),
                       hdbscan_model=MiniBatchKMeans(n_clusters=3, n_init=3, random_state=0))
    model.partial_fit(TOY_DOCS[:30])
    components = model.umap_model_.components_.copy()
    model.partial_fit(TOY_DOCS[30:])
    assert np.array_equal(model.umap_model_.components_, components)
    assert sum(model.topic_sizes_.values()) == len(TOY_DOCS)


def test_empty_documents_of_a_batch_are_outliers():
    model = online_model()
    model.partial_fit(TOY_DOCS[:20] + ["", "   "] + TOY_DOCS[40:])
    assert model.topics_[20] == model.topics_[21] == -1 and -1 not in model.topics_[:20] + model.topics_[22:]
    model.partial_fit(["", TOY_DOCS[20]] + TOY_DOCS[21:40])
    assert model.topics_[0] == -1 and model.topic_sizes_[-1] == 3
    with pytest.raises(InputError, match="All 2 documents of the batch are empty"):
        model.partial_fit(["", " "])
