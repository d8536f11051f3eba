"""The scikit-learn contract, the getters, and transform, on a fast CPU configuration."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from gputopic import GPUTopic, MaximalMarginalRelevance
from gputopic.exceptions import InputError, NotFittedError

from helpers import TOY_DOCS, HashingEncoder, fast_model


@pytest.fixture(scope="module")
def fitted():
    model = fast_model()
    topics, probs = model.fit_transform(TOY_DOCS)
    return model, topics, probs


def test_init_only_stores_parameters():
    model = GPUTopic(min_topic_size=7, device="cpu")
    assert model.get_params(deep=False)["min_topic_size"] == 7
    assert not [k for k in vars(model) if k.endswith("_")]


def test_get_set_params_and_clone():
    model = fast_model(top_n_words=5)
    model.set_params(top_n_words=3, hdbscan_model__n_clusters=4)
    assert model.top_n_words == 3 and model.hdbscan_model.n_clusters == 4
    twin = clone(model)
    assert twin.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    assert twin.top_n_words == 3 and twin.hdbscan_model is not model.hdbscan_model
    with pytest.raises(InputError, match="no parameter 'top_words'"):
        model.set_params(top_words=3)


def test_fit_returns_self_and_does_not_touch_submodel_params():
    km = fast_model().hdbscan_model
    model = fast_model(hdbscan_model=km)
    assert model.fit(TOY_DOCS) is model
    assert not hasattr(km, "labels_"), "the user's sub-model must stay unfitted (it is cloned)"
    assert hasattr(model.hdbscan_model_, "labels_")


def test_fitted_attributes(fitted):
    model, topics, probs = fitted
    assert isinstance(topics, list) and model.topics_ == topics and len(topics) == len(TOY_DOCS)  # BERTopic's type
    assert sorted(model.topic_sizes_) == [0, 1, 2]
    assert sum(model.topic_sizes_.values()) == len(TOY_DOCS)
    # topic 0 is the largest
    assert model.topic_sizes_[0] == max(model.topic_sizes_.values())
    assert model.topic_embeddings_.shape == (3, 64)
    assert model.c_tf_idf_.shape == (3, len(model.vocabulary_))
    assert set(model.timings_) == {"setup", "embed", "reduce", "cluster", "count", "ctfidf", "represent"}
    words = {w for t in model.get_topics().values() for w, _ in t}
    assert {"cat", "market", "team"} <= words


def test_topics_separate_the_three_themes(fitted):
    model, topics, _ = fitted
    themes = np.repeat([0, 1, 2], 20)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(themes, topics) == 1.0


def test_getters_have_bertopic_columns(fitted):
    model, topics, _ = fitted
    info = model.get_topic_info()
    assert isinstance(info, pd.DataFrame)
    assert list(info.columns) == ["Topic", "Count", "Name", "Representation", "Representative_Docs"]
    assert info.Count.sum() == len(TOY_DOCS)
    assert info.Name.iloc[0].startswith("0_")
    assert len(model.get_topic_info(1)) == 1
    assert model.get_topic(0)[0][1] >= model.get_topic(0)[-1][1]
    rep = model.get_representative_docs(0)
    assert 1 <= len(rep) <= 3 and all(d in TOY_DOCS for d in rep)
    doc_info = model.get_document_info(TOY_DOCS)
    assert list(doc_info.columns) == ["Document", "Topic", "Name", "Representation", "Representative_Docs",
                                      "Top_n_words", "Probability", "Representative_document"]
    assert doc_info.Topic.tolist() == topics


def test_unknown_topic_is_false_in_get_topic_no_rows_in_get_topic_info_and_an_error_elsewhere(fitted):
    model, _, _ = fitted
    assert model.get_topic(42) is False and model.get_topic("x") is False  # BERTopic's answers
    empty = model.get_topic_info(42)
    assert len(empty) == 0 and list(empty.columns) == list(model.get_topic_info().columns)
    with pytest.raises(InputError, match="No topic 'x'"):
        model.get_topic_info("x")  # not a topic id at all
    for getter in (model.get_topic_freq, model.get_representative_docs):
        with pytest.raises(InputError, match="No topic 42"):
            getter(42)


def test_get_document_info_needs_the_training_documents(fitted):
    model, _, _ = fitted
    with pytest.raises(InputError, match="needs the 60 documents"):
        model.get_document_info(TOY_DOCS[:3])


def test_transform_reproduces_training_topics(fitted):
    model, topics, _ = fitted
    new_topics, probs = model.transform(TOY_DOCS)
    assert (new_topics == topics).mean() == 1.0
    assert probs is None or len(probs) == len(TOY_DOCS)


def test_transform_with_precomputed_embeddings(fitted):
    model, topics, _ = fitted
    emb = HashingEncoder().encode(TOY_DOCS)
    assert (model.transform(TOY_DOCS, embeddings=emb)[0] == topics).all()


def test_document_containers_are_accepted(fitted):
    model, topics, _ = fitted
    for container in (tuple(TOY_DOCS), np.array(TOY_DOCS, dtype=object), pd.Series(TOY_DOCS)):
        assert (model.transform(container)[0] == topics).all()


def test_calculate_probabilities_needs_soft_clustering():
    with pytest.raises(InputError, match="calculate_probabilities=True needs soft cluster memberships"):
        fast_model(calculate_probabilities=True).fit(TOY_DOCS)


def test_methods_before_fit_raise_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GPUTopic().get_topic_info()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        GPUTopic().transform(["a document"])


def test_mmr_representation_reorders_words():
    model = fast_model(representation_model=MaximalMarginalRelevance(diversity=0.5, top_n_words=4))
    model.fit(TOY_DOCS)
    assert all(len(words) <= 4 for words in model.get_topics().values())


def test_torch_embeddings_are_accepted():
    torch = pytest.importorskip("torch")
    emb = torch.from_numpy(HashingEncoder().encode(TOY_DOCS))
    topics, _ = fast_model().fit_transform(TOY_DOCS, embeddings=emb)
    assert isinstance(topics, list) and len(topics) == len(TOY_DOCS)


def test_hdbscan_without_prediction_data_falls_back_to_similarity_with_a_warning(caplog):
    import hdbscan
    from sklearn.decomposition import PCA

    model = fast_model(umap_model=PCA(n_components=5, random_state=0),
                       hdbscan_model=hdbscan.HDBSCAN(min_cluster_size=5, prediction_data=False))
    topics, _ = model.fit_transform(TOY_DOCS)
    with caplog.at_level("WARNING", logger="gputopic"):
        new, sims = model.transform(TOY_DOCS[:4])
    assert "without prediction_data=True" in caplog.text
    assert new.shape == (4,) and sims.shape == (4,)


def test_one_topic_holding_most_documents_is_warned_about(caplog):
    from sklearn.cluster import KMeans

    with caplog.at_level("WARNING", logger="gputopic"):
        fast_model().fit(TOY_DOCS)
    assert "holds" not in caplog.text
    with caplog.at_level("WARNING", logger="gputopic"):
        fast_model(hdbscan_model=KMeans(n_clusters=2, n_init=3, random_state=0)).fit(TOY_DOCS)
    assert "Topic 0 holds 67% of the documents (2 topics in all)" in caplog.text


def test_document_info_takes_a_frame_and_metadata(fitted):
    model, _, _ = fitted

    df = pd.DataFrame({"Document": TOY_DOCS, "source": ["a", "b"] * 30, "year": list(range(60))})
    info = model.get_document_info(TOY_DOCS, df=df, metadata={"length": [len(d) for d in TOY_DOCS]})
    assert list(info.columns[:3]) == ["source", "year", "Document"] and info.columns[-1] == "length"
    assert info.year.tolist() == list(range(60)) and info.length[0] == len(TOY_DOCS[0])
    assert info.Topic.tolist() == np.asarray(model.topics_).tolist()
    with pytest.raises(InputError, match="df must be a data frame with one row per document"):
        model.get_document_info(TOY_DOCS, df=df.head(3))
    with pytest.raises(InputError, match=r"metadata\['length'\] has 2 values"):
        model.get_document_info(TOY_DOCS, metadata={"length": [1, 2]})
