"""Property tests: random small corpora and embeddings through fit, transform, the topic
operations and save + load. Every call either succeeds with a consistent state and finite
outputs, or raises a GPUTopicError and leaves the model as it was; never another exception.

Corpora are drawn from a small word pool (stop words included, so a vocabulary can be tiny
or empty), with duplicated documents and embeddings (hashed from the words, random, or a
few random rows repeated). The reducer is PCA (the properties here are not about UMAP);
the clustering is KMeans, the hdbscan library, or the default (hdbscan with
``min_cluster_size=min_topic_size``), so outlier-only fits happen. Seeded and
derandomized: the same examples on every run.

The defects issue 18 found (D1-D5) each have their own property, with the minimal example
that failed before the fix as an explicit ``@example``.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

import hdbscan  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from gputopic import GPUTopic  # noqa: E402
from gputopic.exceptions import GPUTopicError  # noqa: E402

from helpers import HashingEncoder  # noqa: E402

WORDS = ("cat", "kitten", "mat", "purr", "stock", "market", "share", "goal", "team", "match", "rain", "cloud",
         "the", "and", "of")  # the last three are stop words: a document may have no counted term

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
REGION = settings(FAST, max_examples=10)


# ---------------------------------------------------------------- strategies


@st.composite
def corpora(draw, min_docs=4, max_docs=24):
    """(documents, embeddings): duplicates likely, tiny vocabularies possible."""
    pool = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8, unique=True))
    distinct = [" ".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=5)))
                for _ in range(draw(st.integers(1, 8)))]
    n = draw(st.integers(min_docs, max_docs))
    pick = draw(st.lists(st.integers(0, len(distinct) - 1), min_size=n, max_size=n))
    docs = [distinct[i] for i in pick]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["hashed", "random", "repeated rows"]))
    if kind == "hashed":
        emb = HashingEncoder(16).encode(docs)
    elif kind == "random":
        emb = rng.normal(size=(n, 8)).astype(np.float32)
    else:
        rows = rng.normal(size=(draw(st.integers(1, 4)), 8)).astype(np.float32)
        emb = rows[rng.integers(0, len(rows), n)]
    return docs, emb


def make_model(n_docs, clustering, size, probabilities=False, **kwargs):
    """PCA(2) + the clustering: ("kmeans", k), ("hdbscan", min_cluster_size), ("default", min_topic_size)."""
    params = dict(embedding_model=HashingEncoder(16), umap_model=PCA(n_components=2, random_state=0),
                  device="cpu", calculate_probabilities=probabilities, min_topic_size=2)
    if clustering == "kmeans":
        params["hdbscan_model"] = KMeans(n_clusters=size, n_init=2, random_state=0)
    elif clustering == "hdbscan":
        params["hdbscan_model"] = hdbscan.HDBSCAN(min_cluster_size=size, prediction_data=True)
    else:
        params["min_topic_size"] = size
    params.update(kwargs)
    return GPUTopic(**params)


@st.composite
def setups(draw, probabilities=False, clusterings=("kmeans", "hdbscan", "default")):
    """(documents, embeddings, model) with sub-models valid for the corpus size."""
    docs, emb = draw(corpora())
    clustering = draw(st.sampled_from(clusterings))
    n = len(docs)
    size = draw(st.integers(1, min(4, n))) if clustering == "kmeans" else draw(st.integers(2, n - 1))
    extra = {}
    if draw(st.booleans()):  # steering and in-fit reduction, drawn independently
        extra["nr_topics"] = draw(st.one_of(st.just("auto"), st.integers(1, 4)))
    if draw(st.booleans()):
        extra["seed_topic_list"] = draw(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
                                                 min_size=1, max_size=3))
    elif draw(st.booleans()):
        extra["zeroshot_topic_list"] = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3, unique=True))
        extra["zeroshot_min_similarity"] = draw(st.sampled_from([-1.0, 0.0, 0.3, 0.9, 1.0]))
    return docs, emb, make_model(n, clustering, size, probabilities, **extra)


# ------------------------------------------------------------------- checks


def attempt(model, fn, *args, **kwargs):
    """``fn(*args)``: its result, or None after a GPUTopicError that left ``model`` unchanged.
    Any other exception fails the property."""
    before = fingerprint(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return True, fn(*args, **kwargs)
    except GPUTopicError as exc:
        assert str(exc).strip(), "an error without a message"
        assert fingerprint(model) == before, f"a failed {getattr(fn, '__name__', fn)} changed the model"
        return False, None


def fingerprint(model):
    if not hasattr(model, "topic_sizes_"):
        return None
    return (np.asarray(model.topics_).tobytes(), dict(model.topic_sizes_), copy.deepcopy(model.topic_representations_),
            None if model.probabilities_ is None else np.asarray(model.probabilities_).tobytes())


def finite(value, what):
    """No NaN or infinity anywhere in an output (arrays, frames, tuples of them)."""
    if isinstance(value, (tuple, list)):
        for v in value:
            finite(v, what)
    elif isinstance(value, pd.DataFrame):
        for col in value.columns:
            if pd.api.types.is_numeric_dtype(value[col]) or pd.api.types.is_datetime64_any_dtype(value[col]):
                if pd.api.types.is_datetime64_any_dtype(value[col]):
                    assert not value[col].isna().any(), f"{what}: NaT in column {col}"
                else:
                    assert np.isfinite(value[col].to_numpy(dtype=np.float64, na_value=0.0)).all(), \
                        f"{what}: non-finite values in column {col}"
    elif isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        assert np.isfinite(value).all(), f"{what}: non-finite values"
    elif isinstance(value, float):
        assert np.isfinite(value), f"{what}: {value}"


def consistent(model, n_docs):
    """The fitted state agrees with itself."""
    topics = np.asarray(model.topics_)
    ids = sorted(model.topic_sizes_)
    assert topics.shape == (n_docs,) and set(np.unique(topics).tolist()) <= set(ids)
    assert sum(model.topic_sizes_.values()) == n_docs
    assert all(model.topic_sizes_[t] == int((topics == t).sum()) for t in ids)
    assert sorted(model.topic_representations_) == ids == sorted(model.topic_labels_)
    assert np.asarray(model.topic_embeddings_).shape == (len(ids), model.n_features_in_)
    assert model.c_tf_idf_.shape == (len(ids), len(model.vocabulary_))
    finite(np.asarray(model.topic_embeddings_), "topic_embeddings_")
    finite(np.asarray(model.c_tf_idf_.data), "c_tf_idf_")
    if model.probabilities_ is not None:
        probs = np.asarray(model.probabilities_)
        finite(probs, "probabilities_")
        assert probs.shape[0] == n_docs
    info = model.get_topic_info()
    assert len(info) == len(ids) and info["Count"].sum() == n_docs


def fit(model, docs, emb):
    ok, _ = attempt(model, model.fit, docs, embeddings=emb)
    if ok:
        consistent(model, len(docs))
        finite(model.probabilities_ if model.probabilities_ is None else np.asarray(model.probabilities_), "fit")
    return ok


# --------------------------------------------------------------- properties


@FAST
@given(setup=setups(), data=st.data())
def test_fit_transform_and_topic_operations(setup, data, tmp_path_factory):
    docs, emb, model = setup
    if not fit(model, docs, emb):
        return
    n = len(docs)
    ids = sorted(model.topic_sizes_)
    real = [t for t in ids if t >= 0]

    ok, out = attempt(model, model.transform, docs[:3], embeddings=emb[:3])
    if ok:
        assert set(np.asarray(out[0]).tolist()) <= set(ids)
        finite(out[1] if out[1] is None else np.asarray(out[1]), "transform")
    ok, info = attempt(model, model.get_document_info, docs)
    if ok:
        assert len(info) == n
        finite(info, "get_document_info")
    ok, dist = attempt(model, model.approximate_distribution, docs)
    if ok:
        assert np.asarray(dist[0]).shape == (n, len(real))
        finite(np.asarray(dist[0]), "approximate_distribution")
    strategy = data.draw(st.sampled_from(["distributions", "c-tf-idf", "embeddings"]), label="strategy")
    ok, new = attempt(model, model.reduce_outliers, docs, model.topics_, strategy=strategy, embeddings=emb)
    if ok:
        assert np.asarray(new).shape == (n,) and set(np.asarray(new).tolist()) <= set(ids)
    classes = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n), label="classes")
    ok, frame = attempt(model, model.topics_per_class, docs, classes)
    if ok:
        finite(frame, "topics_per_class")
    stamps = data.draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=n, max_size=n), label="timestamps")
    bins = data.draw(st.one_of(st.none(), st.integers(1, 4)), label="nr_bins")
    ok, frame = attempt(model, model.topics_over_time, docs, stamps, nr_bins=bins)
    if ok:
        finite(frame, "topics_over_time")

    # save + load: the same state, and the loaded model works
    path = tmp_path_factory.mktemp("prop") / "m"
    ok, _ = attempt(model, model.save, path)
    if ok:
        loaded = GPUTopic.load(path, embedding_model=HashingEncoder(16))
        assert loaded.get_topics() == model.get_topics()
        assert loaded.topic_sizes_ == model.topic_sizes_
        np.testing.assert_array_equal(loaded.topics_, model.topics_)
        ok, out = attempt(loaded, loaded.transform, docs[:3], embeddings=emb[:3])
        if ok:
            assert set(np.asarray(out[0]).tolist()) <= set(ids)

    # operations that change the topics: consistent afterwards, or refused with the model unchanged
    if len(real) >= 2:
        pair = data.draw(st.lists(st.sampled_from(real), min_size=2, max_size=2, unique=True), label="merge")
        if attempt(model, model.merge_topics, docs, pair)[0]:
            consistent(model, n)
    target = data.draw(st.integers(1, 4), label="nr_topics")
    if attempt(model, model.reduce_topics, docs, nr_topics=target)[0]:
        consistent(model, n)
    if attempt(model, model.update_topics, docs, top_n_words=data.draw(st.integers(1, 5), label="top_n"))[0]:
        consistent(model, n)


@FAST
@given(corpus=corpora(min_docs=2, max_docs=12), k=st.integers(1, 3), refuse=st.booleans())
def test_save_and_load_round_trip(corpus, k, refuse, tmp_path_factory):
    """Every model that saves loads back to the same state, twice over (load -> save -> load)."""
    docs, emb = corpus
    model = make_model(len(docs), "kmeans", min(k, len(docs)))
    if not fit(model, docs, emb):
        return
    path = tmp_path_factory.mktemp("rt") / "m"
    model.save(path)
    once = GPUTopic.load(path)
    once.save(path)
    twice = GPUTopic.load(path)
    for loaded in (once, twice):
        assert loaded.get_topics() == model.get_topics()
        assert loaded.topic_labels_ == model.topic_labels_ and loaded.vocabulary_ == model.vocabulary_
        np.testing.assert_array_equal(loaded.c_tf_idf_.toarray(), model.c_tf_idf_.toarray())
        np.testing.assert_array_equal(loaded._state.saved_idf, model.ctfidf_model_.idf_)


# ------------------------------------------------- known defects (issue 18 D1-D5)


@REGION
@example(n_docs=4, extra=1)
@given(n_docs=st.integers(4, 12), extra=st.integers(0, 4))
def test_d1_min_topic_size_near_the_corpus_size(n_docs, extra):
    docs = [f"{WORDS[i % 6]} {WORDS[(i * 7) % 11]}" for i in range(n_docs)]
    emb = np.random.default_rng(n_docs).normal(size=(n_docs, 8)).astype(np.float32)
    fit(make_model(n_docs, "default", n_docs + extra), docs, emb)


BOGUS = ("bogus", 3, 1.5, ["a"], object())


@REGION
@example(slot="vectorizer_model", where="fit", bogus="bogus")
@given(slot=st.sampled_from(["vectorizer_model", "ctfidf_model"]), where=st.sampled_from(["fit", "update_topics"]),
       bogus=st.sampled_from(BOGUS))
def test_d2_bogus_vectorizer_and_ctfidf_slots(slot, where, bogus):
    docs = [f"{WORDS[i % 6]} {WORDS[6 + i % 6]}" for i in range(12)]
    emb = HashingEncoder(16).encode(docs)
    if where == "fit":
        fit(make_model(12, "kmeans", 2, **{slot: bogus}), docs, emb)
    else:
        model = make_model(12, "kmeans", 2)
        assert fit(model, docs, emb)
        attempt(model, model.update_topics, docs, **{slot: bogus})


@REGION
@example(bad=float("inf"), at=0, bins=3)
@given(bad=st.sampled_from([float("inf"), float("-inf"), float("nan")]), at=st.integers(0, 11),
       bins=st.one_of(st.none(), st.integers(1, 4)))
def test_d3_timestamps_that_are_not_times(bad, at, bins):
    docs = [f"{WORDS[i % 6]} {WORDS[6 + i % 6]}" for i in range(12)]
    model = make_model(12, "kmeans", 2)
    assert fit(model, docs, HashingEncoder(16).encode(docs))
    stamps = [float(i) for i in range(12)]
    stamps[at] = bad
    ok, frame = attempt(model, model.topics_over_time, docs, stamps, nr_bins=bins)
    if ok:
        finite(frame, "topics_over_time")
        assert np.isfinite(frame["Timestamp"].to_numpy(dtype=np.float64)).all(), "a non-finite timestamp kept"


@REGION
@example(copies=(20, 10))
@given(copies=st.lists(st.integers(2, 20), min_size=2, max_size=3))
def test_d4_probabilities_of_duplicated_documents(copies):
    docs = [" ".join(WORDS[2 * i: 2 * i + 2]) for i, c in enumerate(copies) for _ in range(c)]
    fit(make_model(len(docs), "hdbscan", 2, probabilities=True), docs, HashingEncoder(16).encode(docs))


@REGION
@example(n_docs=30, seed=0)
@given(n_docs=st.integers(6, 30), seed=st.integers(0, 1000))
def test_d5_transform_after_an_outlier_only_fit(n_docs, seed):
    docs = [f"{WORDS[i % 6]} {WORDS[6 + i % 5]}" for i in range(n_docs)]
    emb = np.random.default_rng(seed).normal(size=(n_docs, 8)).astype(np.float32)
    model = make_model(n_docs, "hdbscan", n_docs // 2, probabilities=True)
    if fit(model, docs, emb) and set(model.topic_sizes_) == {-1}:
        ok, out = attempt(model, model.transform, docs[:3], embeddings=emb[:3])
        if ok:
            finite(np.asarray(out[1]), "transform")
