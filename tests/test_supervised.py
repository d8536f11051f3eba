"""Class labels in fit (BERTopic's ``y``): semi-supervised and supervised UMAP, classifiers
in the clustering slot, and the errors for labels that cannot be used."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score

from gputopic import GPUTopic, InputError
from helpers import TOY_DOCS, fast_model

THEME = np.repeat([0, 1, 2], 20)  # TOY_DOCS: 20 cat, 20 market, 20 football documents


SEEDS = (0, 1, 2)


def test_labels_steer_the_topics_on_real_posts(ng2000):
    """2,000 20 Newsgroups posts, native UMAP + HDBSCAN, UMAP seeds 0, 1, 2. NMI against the
    newsgroups without labels / with half of the posts labelled / with all of them, on this
    project's 2-core machine (``bench/results/guidance_quality_20ng2000_2core.json``): 0.510 /
    0.556 / 0.863, 0.514 / 0.540 / 0.867, 0.521 / 0.557 / 0.876 (BERTopic 0.17.4 with
    umap-learn, same seeds and labels: half the labels gain 0.010 / 0.020 / 0.039).

    Half the labels gain 0.026-0.046 per seed here, and 0.010 at seed 0 on a fresh machine
    (another layout from the same seed: its float details differ), so one seed cannot carry
    a margin. Asserted: the mean gain over the three seeds (0.036 here) exceeds 0.01, and
    every seed's fit with all labels reaches 0.8 (0.86-0.88 here)."""
    docs, labels, emb = ng2000
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]  # as the bench

    def nmi(y, seed):
        topics = GPUTopic(device="cpu", random_state=seed).fit_transform(docs, embeddings=emb, y=y)[0]
        return normalized_mutual_info_score(labels, topics)

    gains, every = [], []
    for seed in SEEDS:
        half = codes.copy()  # the bench's labelled half: drawn per seed
        half[np.random.default_rng(seed).random(len(codes)) >= 0.5] = -1
        gains.append(nmi(half, seed) - nmi(None, seed))
        every.append(nmi(codes, seed))
    assert np.mean(gains) > 0.01, gains
    assert min(every) > 0.8, every


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
