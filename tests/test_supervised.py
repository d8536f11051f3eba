"""Class labels in fit (BERTopic's ``y``): semi-supervised and supervised UMAP, classifiers
in the clustering slot, and the errors for labels that cannot be used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score

from gputopic import GPUTopic, InputError
from helpers import TOY_DOCS, fast_model

THEME = np.repeat([0, 1, 2], 20)  # TOY_DOCS: 20 cat, 20 market, 20 football documents


def test_labels_steer_the_topics_on_real_posts(ng2000):
    """2,000 20 Newsgroups posts, native UMAP + HDBSCAN, seed 0: NMI 0.510 without labels,
    0.556 with half of the posts labelled, 0.863 with all (umap-learn in the same set-up:
    0.523 / 0.533 / 0.867)."""
    docs, labels, emb = ng2000
    codes = pd.factorize(np.asarray(labels))[0]
    half = codes.copy()
    half[np.random.default_rng(0).random(len(codes)) >= 0.5] = -1

    def nmi(y):
        topics = GPUTopic(device="cpu", random_state=0).fit_transform(docs, embeddings=emb, y=y)[0]
        return normalized_mutual_info_score(labels, topics)

    none, some, every = nmi(None), nmi(half), nmi(codes)
    assert none + 0.02 < some and every > 0.8


def test_a_classifier_in_the_clustering_slot_gives_supervised_topics():
    model = fast_model(hdbscan_model=LogisticRegression(max_iter=1000))
    topics, _ = model.fit_transform(TOY_DOCS, y=THEME.tolist())
    # classes of equal size keep their order; each class is one topic
    np.testing.assert_array_equal(topics, THEME)
    assert "cat" in [w for w, _ in model.get_topic(0)[:3]] and "football" in [w for w, _ in model.get_topic(2)[:5]]
    new, _ = model.transform(["the kitten purred on the mat", "stocks and shares fell"])
    np.testing.assert_array_equal(new, [0, 1])
    with pytest.raises(InputError, match=r"LogisticRegression needs labels to fit .* pass y"):
        fast_model(hdbscan_model=LogisticRegression()).fit(TOY_DOCS)


def test_bad_labels_are_refused_with_the_fix():
    model = fast_model()
    with pytest.raises(InputError, match=r"one integer class label per document \(60\).*factorize"):
        model.fit(TOY_DOCS, y=["cat"] * 60)
    with pytest.raises(InputError, match=r"one integer class label per document \(60\)"):
        model.fit(TOY_DOCS, y=THEME[:10])
    with pytest.raises(InputError, match="y holds -2"):
        model.fit(TOY_DOCS, y=THEME - 2)
    with pytest.raises(InputError, match="no known label"):
        model.fit(TOY_DOCS, y=np.full(60, -1))

    class NoLabels:
        def fit_transform(self, X):
            return X[:, :5]

    with pytest.raises(InputError, match="umap_model NoLabels takes no labels"):
        fast_model(umap_model=NoLabels()).fit(TOY_DOCS, y=THEME)
    assert not hasattr(model, "topics_")
