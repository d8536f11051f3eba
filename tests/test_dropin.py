"""Drop-in for BERTopic users (issue 20): default sub-models tunable before fit and fitted
after it, ``topic_mapper_``, ``delete_topics``, the ``n_gram_range`` / ``language`` /
``low_memory`` parameters, ``topics_`` as a list. Fast configurations (PCA + KMeans or the
hdbscan library on the toy corpus)."""

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans, MiniBatchKMeans

from gputopic import GPUTopic
from gputopic.defaults import MULTILINGUAL_MODEL, embedding_spec, slot_model
from gputopic.exceptions import InputError, ModelFileError, NotFittedError

from helpers import TOY_DOCS, HashingEncoder, fast_model


# six documents of unrelated words: the outliers (-1) of the hdbscan library at min_cluster_size=4
ODD = [f"{a} {b} {c}" for a, b, c in zip(["zebra", "quartz", "violin", "glacier", "saffron", "nebula"],
                                         ["orbit", "pepper", "canyon", "tundra", "lantern", "marble"],
                                         ["fjord", "walnut", "comet", "sonnet", "ember", "falcon"])]
DOCS = TOY_DOCS + ODD


def labels_follow_the_mapper(model):
    """BERTopic's test: the clustering labels mapped by ``topic_mapper_`` are ``topics_``."""
    mappings = model.topic_mapper_.get_mappings(list(model.hdbscan_model.labels_))
    return [mappings[label] for label in model.hdbscan_model.labels_] == model.topics_


def last_column(model):
    return set(np.array(model.topic_mapper_.mappings_)[:, -1].tolist())


# ---------------------------------------------------------------- default sub-model slots


def test_reading_a_slot_builds_its_default_and_get_params_reports_it():
    model = GPUTopic(device="cpu", random_state=7, min_topic_size=4)
    assert all(model.get_params(deep=False)[k] is None for k in ("umap_model", "hdbscan_model", "vectorizer_model"))
    repr(model), clone(model), model.get_params(deep=True)
    assert "umap_model" not in vars(model) or vars(model)["umap_model"] is None  # none of these builds a default
    assert model.umap_model.random_state == 7 and model.umap_model.n_components == 5
    assert model.hdbscan_model.min_cluster_size == 4
    model.umap_model.random_state = 42  # BERTopic's idiom
    assert model.get_params(deep=False)["umap_model"] is model.umap_model
    twin = clone(model)
    assert twin.umap_model is not model.umap_model and twin.umap_model.random_state == 42
    model.set_params(hdbscan_model__min_cluster_size=3)
    assert model.hdbscan_model.min_cluster_size == 3


def test_a_default_tuned_before_fit_is_used_and_the_fitted_one_shown_after():
    model = fast_model(vectorizer_model=None)
    model.vectorizer_model.stop_words = None  # keep "the", which the default drops
    model.fit(TOY_DOCS)
    assert "the" in model.vocabulary_
    assert model.vectorizer_model is model.vectorizer_model_
    assert "the" in model.vectorizer_model.get_feature_names_out()
    assert model.get_params(deep=False)["vectorizer_model"].stop_words is None


def test_a_default_read_before_fit_follows_later_parameter_changes():
    model = fast_model(vectorizer_model=None)
    model.vectorizer_model  # built for n_gram_range (1, 1) ...
    model.n_gram_range = (1, 2)  # ... and still follows it, not being changed by the user
    model.fit(TOY_DOCS)
    assert any(" " in term for term in model.vocabulary_)


def test_the_fitted_sub_models_are_shown_and_the_users_objects_stay_unfitted():
    km = KMeans(n_clusters=3, n_init=3, random_state=0)
    model = fast_model(hdbscan_model=km).fit(TOY_DOCS)
    assert not hasattr(km, "labels_") and model.get_params(deep=False)["hdbscan_model"] is km
    assert model.hdbscan_model is model.hdbscan_model_ and len(model.hdbscan_model.labels_) == len(TOY_DOCS)
    other = KMeans(n_clusters=2, n_init=3, random_state=0)
    model.hdbscan_model = other  # set again: the slot shows it until the next fit ...
    model.set_topic_labels({0: "zero"})  # ... not merely until the next change of state
    assert model.hdbscan_model is other
    model.fit(TOY_DOCS)
    assert model.hdbscan_model is model.hdbscan_model_ and len(model.topic_sizes_) == 2


def test_a_default_changed_for_one_device_is_refused_where_the_other_device_lacks_the_change():
    model = GPUTopic(device="cpu")
    model.hdbscan_model.min_cluster_size = 4
    assert slot_model(model, "hdbscan_model", "cuda").min_cluster_size == 4  # the native HDBSCAN has it
    model.hdbscan_model.leaf_size = 10  # the hdbscan library's only
    assert slot_model(model, "hdbscan_model", "cpu").leaf_size == 10
    with pytest.raises(InputError, match="built as the default for device 'cpu'.*no parameter 'leaf_size'"):
        slot_model(model, "hdbscan_model", "cuda")


# ------------------------------------------------------------------- topic_mapper_


@pytest.fixture(scope="module")
def with_outliers():
    model = fast_model(hdbscan_model=None, min_topic_size=4).fit(DOCS)  # the hdbscan library
    assert -1 in model.topic_sizes_
    return model


def test_topic_mapper_after_fit_maps_cluster_labels_to_topics(with_outliers):
    kmeans = fast_model().fit(TOY_DOCS)
    for model in (kmeans, with_outliers):
        assert labels_follow_the_mapper(model)
        assert last_column(model) == set(model.topics_)
        assert model.topic_mapper_.get_mappings(original_topics=False) == model.topic_mapper_.get_mappings()


def test_topic_mapper_follows_merge_reduce_and_delete(with_outliers):
    import copy

    model = copy.deepcopy(with_outliers)
    n = len(model.topic_sizes_)
    model.merge_topics(DOCS, [1, 2])
    before_delete = list(model.topics_)
    model.delete_topics([0])
    model.reduce_topics(DOCS, nr_topics=len(model.topic_sizes_) - 1)
    assert len(model.topic_sizes_) <= n - 2
    assert labels_follow_the_mapper(model) and last_column(model) == set(model.topics_)
    assert len(model.topic_mapper_.mappings_[0]) == 5  # labels, fit, merge, delete, reduce
    # "original_topics=False": the topics before the last change -> now
    table = np.array(model.topic_mapper_.mappings_)
    assert model.topic_mapper_.get_mappings(original_topics=False) == dict(zip(table[:, -2].tolist(),
                                                                              table[:, -1].tolist()))
    assert len(set(before_delete)) > len(set(model.topics_))


def test_topic_mapper_starts_again_when_update_topics_splits_topics():
    model = fast_model().fit(TOY_DOCS)
    new = [i % 4 for i in range(len(TOY_DOCS))]  # not a merge of the fitted topics
    model.update_topics(TOY_DOCS, topics=new)
    assert model.topic_mapper_.mappings_ == [[t, t] for t in range(4)]


def test_topic_mapper_is_saved_and_checked_on_load(with_outliers, tmp_path):
    import copy

    model = copy.deepcopy(with_outliers).merge_topics(DOCS, [0, 1])
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m", embedding_model=HashingEncoder())
    assert loaded.topic_mapper_.mappings_ == model.topic_mapper_.mappings_
    config = json.loads((tmp_path / "m" / "gputopic.json").read_text())
    config["topic_mapper"][0][-1] = 99
    (tmp_path / "m" / "gputopic.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="topic_mapper rows end in topics missing"):
        GPUTopic.load(tmp_path / "m", embedding_model=HashingEncoder())


# ------------------------------------------------------------------ delete_topics


def test_delete_topics_makes_outliers_and_renumbers_by_size(with_outliers):
    import copy

    model = copy.deepcopy(with_outliers)
    before = np.asarray(model.topics_)
    sizes = dict(model.topic_sizes_)
    model.set_topic_labels({0: "first"})
    model.delete_topics([1, 2])
    after = np.asarray(model.topics_)
    assert set(after[np.isin(before, [1, 2])]) == {-1}
    assert model.topic_sizes_[-1] == sizes[-1] + sizes[1] + sizes[2]
    assert len(model.topic_sizes_) == len(sizes) - 2 and sum(model.topic_sizes_.values()) == len(DOCS)
    real = [model.topic_sizes_[t] for t in sorted(model.topic_sizes_) if t >= 0]
    assert real == sorted(real, reverse=True)
    assert model.c_tf_idf_.shape[0] == len(model.topic_sizes_) == model.topic_embeddings_.shape[0]
    assert model.get_topic_info().CustomName.iloc[1] == "first"  # topic 0 kept its label
    kept = {t: int(after[before == t][0]) for t in sizes if t not in (-1, 1, 2)}  # old -> new id
    assert all(model.get_topic(new) == with_outliers.get_topic(old) for old, new in kept.items())
    assert set(np.asarray(model.transform(DOCS)[0]).tolist()) <= set(model.topic_sizes_)


def test_delete_topics_on_a_model_without_outliers_adds_the_outlier_topic():
    model = fast_model().fit(TOY_DOCS)
    model.delete_topics([2])
    assert sorted(model.topic_sizes_) == [-1, 0, 1] and model.get_topic(-1)
    assert labels_follow_the_mapper(model)


@pytest.mark.parametrize("bad,match", [([], "non-empty list"), ([-1], "-1 holds the outliers"),
                                       ([7], r"Cannot delete topics \[7\]"), (1, "non-empty list"),
                                       ([True], "non-empty list")])
def test_delete_topics_bad_input(bad, match):
    model = fast_model().fit(TOY_DOCS)
    with pytest.raises(InputError, match=match):
        model.delete_topics(bad)


def test_bertopics_outliers_offset_and_is_zeroshot(with_outliers):
    kmeans = fast_model().fit(TOY_DOCS)
    assert with_outliers._outliers == 1 and kmeans._outliers == 0
    for model in (with_outliers, kmeans):  # BERTopic's idiom: row topic + _outliers of topic-ordered arrays
        labels = list(model.topic_labels_.values())
        assert labels[0 + model._outliers] == model.topic_labels_[0]
    kmeans.delete_topics([1])  # topic 1's documents become outliers: the offset follows
    assert kmeans._outliers == 1
    with pytest.raises(NotFittedError, match="not fitted"):
        GPUTopic()._outliers
    assert GPUTopic()._is_zeroshot() is False
    assert GPUTopic(zeroshot_topic_list=["space", "cars"])._is_zeroshot() is True


def test_reduce_outliers_with_topics_from_before_a_reduction_warns_and_keeps_them(with_outliers):
    """BERTopic's habit: reduce_outliers(docs, topics) with the fit's topics after the model's
    topics were reduced. Only the outliers change; the stale ids pass through, with a warning."""
    import copy

    model = copy.deepcopy(with_outliers)
    old = list(model.topics_)
    model.reduce_topics(DOCS, nr_topics=3)
    stale = sorted(set(old) - set(model.topic_sizes_))
    assert stale
    with pytest.warns(UserWarning, match=r"topics holds ids the model does not have: \[.*only its outliers"):
        new = np.asarray(model.reduce_outliers(DOCS, old, strategy="embeddings"))
    old = np.asarray(old)
    assert (new[old != -1] == old[old != -1]).all()  # every non-outlier id as given, stale ones too
    assert set(new[old == -1].tolist()) <= set(model.topic_sizes_)  # outliers get current topics (or stay -1)
    assert (new != -1).sum() > (old != -1).sum()


def test_a_vectorizer_whose_init_passes_kwargs_on_keeps_them():
    """BERTopic's OnlineCountVectorizer(decay, **kwargs) hands stop_words to CountVectorizer;
    scikit-learn's clone would drop them (get_params reads only its own __init__)."""
    from sklearn.feature_extraction.text import CountVectorizer

    from gputopic._params import fresh

    class KwargsVectorizer(CountVectorizer):
        def __init__(self, decay=None, **kwargs):
            self.decay = decay
            super().__init__(**kwargs)

    user = KwargsVectorizer(decay=0.1, stop_words="english").fit(TOY_DOCS)
    copied = fresh(user)
    assert copied is not user and copied.stop_words == "english" and copied.decay == 0.1
    assert not hasattr(copied, "vocabulary_") and hasattr(user, "vocabulary_")  # unfitted copy, user's kept
    for model in (fast_model(vectorizer_model=user).fit(TOY_DOCS),
                  fast_model(vectorizer_model=user, hdbscan_model=MiniBatchKMeans(3, random_state=0))
                  .partial_fit(TOY_DOCS)):
        assert "the" not in model.vocabulary_ and "cat" in model.vocabulary_


# ---------------------------------------------- n_gram_range, language, low_memory


def test_bertopic_parameters_and_their_defaults():
    params = GPUTopic().get_params()
    assert params["n_gram_range"] == (1, 1) and params["language"] == "english" and params["low_memory"] is False


def test_n_gram_range_in_fit_and_update_topics():
    model = fast_model(n_gram_range=(1, 2)).fit(TOY_DOCS)
    assert any(" " in t for t in model.vocabulary_)
    plain = fast_model().fit(TOY_DOCS)
    topics, width = list(plain.topics_), plain.c_tf_idf_.shape[1]
    plain.update_topics(TOY_DOCS, n_gram_range=(1, 3))
    assert plain.c_tf_idf_.shape[1] > width and plain.topics_ == topics
    assert "the" not in plain.vocabulary_  # the fitted vectorizer's other settings stay


@pytest.mark.parametrize("params,match", [
    ({"n_gram_range": (2, 1)}, "n_gram_range must be a pair"), ({"n_gram_range": 2}, "n_gram_range must be a pair"),
    ({"language": "Klingon"}, "language must be 'english', 'multilingual'"),
    ({"low_memory": "yes"}, "low_memory must be"),
])
def test_bad_bertopic_parameters(params, match):
    with pytest.raises(InputError, match=match):
        fast_model(**params).fit(TOY_DOCS)


def test_language_picks_the_embedding_model_and_the_stop_words():
    assert embedding_spec(GPUTopic()) is None  # the bundled all-MiniLM-L6-v2
    assert embedding_spec(GPUTopic(language="Dutch")) == MULTILINGUAL_MODEL
    assert embedding_spec(GPUTopic(language="multilingual", embedding_model="x")) == "x"
    assert GPUTopic(language="Dutch").vectorizer_model.stop_words is None
    assert GPUTopic().vectorizer_model.stop_words == "english"
    dutch = fast_model(language="dutch").fit(TOY_DOCS)  # an embedding model given: no download
    assert "the" in dutch.vocabulary_


def test_low_memory_reaches_a_default_umap_that_has_it():
    pytest.importorskip("umap")
    assert slot_model(GPUTopic(umap_model="umap-learn", low_memory=True), "umap_model", "cpu").low_memory is True
    assert slot_model(GPUTopic(umap_model="umap-learn"), "umap_model", "cpu").low_memory is False


def test_a_default_read_but_unchanged_is_saved_as_the_default(tmp_path):
    model = fast_model().fit(TOY_DOCS)
    model.set_params(ctfidf_model__bm25_weighting=False)  # builds the default, with its own value
    assert model.get_params(deep=False)["ctfidf_model"] is not None
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m", embedding_model=HashingEncoder())
    assert loaded.get_params(deep=False)["ctfidf_model"] is None and "ctfidf_model" not in loaded._state.unsaved_slots


def test_new_parameters_are_saved(tmp_path):
    model = fast_model(n_gram_range=(1, 2), language="multilingual", low_memory=True).fit(TOY_DOCS)
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m", embedding_model=HashingEncoder())
    assert (loaded.n_gram_range, loaded.language, loaded.low_memory) == ((1, 2), "multilingual", True)


def test_delete_topics_after_partial_fit_relabels_the_topics_the_user_kept():
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.decomposition import IncrementalPCA

    model = fast_model(umap_model=IncrementalPCA(n_components=5),
                       hdbscan_model=MiniBatchKMeans(n_clusters=3, n_init=3, random_state=0))
    topics = []
    for start in range(0, 60, 20):
        model.partial_fit(TOY_DOCS[start:start + 20])
        topics.extend(model.topics_)
    model.topics_ = topics  # BERTopic's online idiom: all batches' topics
    model.delete_topics([1])
    assert len(model.topics_) == 60 and set(model.topics_) == {-1, 0, 1}
    assert sum(model.get_topic_info().Count) == 60
    mappings = model.topic_mapper_.get_mappings()
    assert [mappings[c] for c in model.hdbscan_model.labels_] == model.topics_[40:]
