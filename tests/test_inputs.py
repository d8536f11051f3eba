"""What the estimator takes as BERTopic users and RAPIDS users pass it: empty documents (as
outliers), pyarrow arrays and data frames, scikit-learn's fitted check, verbose logging; and
the input defects of issue 18 (D1-D5) answered with an InputError or handled."""

from __future__ import annotations

import datetime
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError as SklearnNotFitted
from sklearn.utils.validation import check_is_fitted

from gputopic import GPUTopic, InputError

from helpers import TOY_DOCS, HashingEncoder, fast_model


def test_empty_documents_are_outliers_in_fit_and_transform():
    docs = TOY_DOCS[:30] + ["", "  \n"] + TOY_DOCS[30:]
    model = fast_model(calculate_probabilities=False)
    topics, _ = model.fit_transform(docs)
    assert topics[30] == topics[31] == -1 and (np.delete(topics, [30, 31]) >= 0).all()
    assert model.topic_sizes_[-1] == 2 and sum(model.topic_sizes_.values()) == len(docs)
    new, probs = model.transform(["", "the cat sat on the mat"])
    assert new[0] == -1 and new[1] == topics[0]
    assert probs is None  # KMeans gives no strengths


def test_empty_documents_get_zero_probability_rows():
    docs = TOY_DOCS + [""]
    model = fast_model(hdbscan_model=None, min_topic_size=5, calculate_probabilities=True)
    _, probs = model.fit_transform(docs)
    assert probs.shape[0] == len(docs) and (probs[-1] == 0).all() and np.isfinite(probs).all()
    topics, probs = model.transform(["", TOY_DOCS[0]])
    assert topics[0] == -1 and (probs[0] == 0).all()


@pytest.mark.parametrize("make", [lambda d: pa.array(d), lambda d: pa.chunked_array([d[:20], d[20:]]),
                                  lambda d: pd.DataFrame({"text": d, "other": 1}), lambda d: pd.DataFrame({"x": d})],
                         ids=["arrow", "chunked", "frame-text", "frame-one-column"])
def test_pyarrow_and_frames_are_read(make):
    expected = fast_model().fit_transform(TOY_DOCS)[0]
    assert np.array_equal(fast_model().fit_transform(make(TOY_DOCS))[0], expected)


def test_a_frame_without_a_text_column_names_the_fix():
    with pytest.raises(InputError, match=r"data frame with columns \['a', 'b'\]: pass its text column"):
        fast_model().fit(pd.DataFrame({"a": TOY_DOCS, "b": TOY_DOCS}))


def test_scikit_learns_fitted_check():
    with pytest.raises(SklearnNotFitted):
        check_is_fitted(GPUTopic())
    check_is_fitted(fast_model().fit(TOY_DOCS))


def test_verbose_logs_stage_timings_through_its_own_handler(capsys):
    logger = logging.getLogger("gputopic")
    root_handlers = logging.getLogger().handlers[:]
    logging.getLogger().handlers.clear()  # no logging configured, as in a plain script
    try:
        fast_model(verbose=True).fit(TOY_DOCS)
    finally:
        logging.getLogger().handlers[:] = root_handlers
    err = capsys.readouterr().err
    assert "gputopic - reduce:" in err and "gputopic - ctfidf:" in err
    assert not logger.handlers  # the handler lives only while the call runs
    fast_model().fit(TOY_DOCS)
    assert "gputopic -" not in capsys.readouterr().err  # quiet unless verbose


def test_d1_min_topic_size_larger_than_the_corpus():
    with pytest.raises(InputError, match=r"min_topic_size .* is 61, more than the 60 documents .* pass min_topic_size"):
        fast_model(hdbscan_model=None, min_topic_size=61).fit(TOY_DOCS)


@pytest.mark.parametrize("slot", ["vectorizer_model", "ctfidf_model"])
def test_d2_counting_slots_are_checked(slot):
    with pytest.raises(InputError, match=f"{slot} must"):
        fast_model(**{slot: "bogus"}).fit(TOY_DOCS)
    model = fast_model().fit(TOY_DOCS)
    before = dict(model.topic_sizes_)
    with pytest.raises(InputError, match=f"{slot} must"):
        model.update_topics(TOY_DOCS, **{slot: "bogus"})
    assert model.topic_sizes_ == before


@pytest.mark.parametrize("timestamps, bins, message", [
    ([1.0] * 59 + [np.inf], 3, r"timestamps\[59\] is .*inf.*must be finite"),
    ([datetime.datetime(2020, 1, 1)] * 59 + [5], None, r"timestamps\[59\] is 5 among dates"),
    ([datetime.datetime(2020, 1, 1)] * 59 + [True], None, r"timestamps\[59\] is True among dates"),
    ([True, False] * 30, None, "True/False values"),
])
def test_d3_timestamps_that_are_not_times(timestamps, bins, message):
    model = fast_model().fit(TOY_DOCS)
    with pytest.raises(InputError, match=message):
        model.topics_over_time(TOY_DOCS, timestamps, nr_bins=bins)


def test_d4_identical_documents_give_no_nan_probabilities(caplog):
    docs = ["the same words again"] * 40 + TOY_DOCS
    model = GPUTopic(embedding_model=HashingEncoder(), umap_model=PCA(n_components=5, random_state=0),
                     hdbscan_model=None, min_topic_size=5, calculate_probabilities=True, device="cpu")
    with np.errstate(all="ignore"):
        _, probs = model.fit_transform(docs)
        assert np.isfinite(probs).all()
        assert np.isfinite(model.transform(docs[:5])[1]).all()


def test_d5_an_outlier_only_fit_transforms_to_outliers():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 8)).astype(np.float32)  # no density: HDBSCAN finds no cluster
    model = GPUTopic(embedding_model=HashingEncoder(), umap_model=PCA(n_components=5, random_state=0),
                     hdbscan_model=None, min_topic_size=30, calculate_probabilities=True, device="cpu")
    topics, probs = model.fit_transform(TOY_DOCS, embeddings=emb)
    if (np.asarray(topics) >= 0).any():
        pytest.skip("HDBSCAN found a cluster in this draw")  # the draw is fixed: not expected
    assert probs.shape == (60, 0)
    new, new_probs = model.transform(TOY_DOCS[:4], embeddings=emb[:4])
    assert (new == -1).all() and new_probs.shape == (4, 0)


def test_a_reducer_with_fit_and_transform_only():
    """BERTopic's BaseDimensionalityReduction (fit returns self, transform is the identity),
    used to skip UMAP: the points come from transform after fit."""

    class Identity:
        def fit(self, X):
            return self

        def transform(self, X):
            return X

    model = fast_model(umap_model=Identity()).fit(TOY_DOCS)
    assert len(model.topic_sizes_) == 3
    assert np.array_equal(model.transform(TOY_DOCS[:6])[0], model.topics_[:6])

    class FitOnly:
        def fit(self, X):
            return self

    with pytest.raises(InputError, match="umap_model FitOnly has fit but neither fit_transform"):
        fast_model(umap_model=FitOnly()).fit(TOY_DOCS)
