"""gputopic.cluster.vote, transform's rule where the reducer keeps its training embeddings:
the k most cosine-similar training documents vote for their topics with their similarities."""

import numpy as np
import pytest

from gputopic import GPUTopic, cluster, reduce
from gputopic.device import get_backend

CPU = get_backend("cpu")


def _unit(deg):
    return np.c_[np.cos(np.radians(deg)), np.sin(np.radians(deg))].astype(np.float32)


def test_votes_are_weighted_by_similarity_and_outliers_are_a_topic():
    # training points on the unit circle at these angles, with these topics
    train = _unit([0, 10, 20, 90, 100, 180])
    topics = np.array([0, 0, 1, 1, 1, -1])
    # a query at 5 degrees: k=3 neighbours 0 (t0), 10 (t0), 20 (t1): topic 0 wins 2 votes to 1
    got, share = cluster.vote(train, topics, _unit([5]), CPU, k=3)
    sims = np.cos(np.radians([5, 5, 15]))
    assert got.tolist() == [0] and share[0] == pytest.approx(sims[:2].sum() / sims.sum(), abs=1e-5)
    # k=1: the nearest point's topic; an outlier neighbour gives an outlier with probability 0
    got, share = cluster.vote(train, topics, _unit([95, 178]), CPU, k=1)
    assert got.tolist() == [1, -1] and share.tolist() == [pytest.approx(1.0), 0.0]
    # one similar voter outweighs two nearly orthogonal ones (weights, not counts)
    train2 = _unit([0, 85, 86])
    got, _ = cluster.vote(train2, np.array([2, 3, 3]), _unit([0]), CPU, k=3)
    assert got.tolist() == [2]
    # negative similarities count 0; of two single voters the nearer one wins
    got, _ = cluster.vote(_unit([0, 180]), np.array([4, 5]), _unit([0]), CPU, k=2)
    assert got.tolist() == [4]
    got, _ = cluster.vote(_unit([10, -10]), np.array([7, 6]), _unit([1]), CPU, k=2)
    assert got.tolist() == [7]
    # k larger than the training set: all of it votes; chunks give the same answer as one block
    q = _unit(np.linspace(0, 360, 50))
    a = cluster.vote(train, topics, q, CPU, k=50)
    b = cluster.vote(train, topics, q, CPU, k=50, chunk=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])
    # cosine: the training rows' lengths do not matter (they are divided out, not copied)
    scale = np.random.default_rng(0).uniform(0.1, 50.0, size=(len(train), 1)).astype(np.float32)
    c = cluster.vote(train * scale, topics, q, CPU, k=50)
    np.testing.assert_array_equal(a[0], c[0])
    np.testing.assert_allclose(a[1], c[1], rtol=1e-5)


def test_vote_blocks_stay_within_the_byte_bound(monkeypatch):
    # blocks of queries x training similarities stay under the bound (10M training documents:
    # 6 queries a block, not 4096 x 10M x 4 bytes = 164 GB), and cutting changes no answer
    assert cluster.vote_rows(10_000_000, 4096) * 4 * 10_000_000 <= cluster.VOTE_BLOCK_BYTES
    assert cluster.vote_rows(18_000, 4096) == 3728 and cluster.vote_rows(10, 4096) == 4096
    assert cluster.vote_rows(10**12, 4096) == 1
    train = _unit(np.arange(0, 360, 7))
    topics = np.arange(len(train)) % 4 - 1
    q = _unit(np.linspace(0, 360, 20))
    whole = cluster.vote(train, topics, q, CPU, k=3)
    monkeypatch.setattr(cluster, "VOTE_BLOCK_BYTES", 3 * 4 * len(train))
    assert cluster.vote_rows(len(train), 4096) == 3
    cut = cluster.vote(train, topics, q, CPU, k=3)
    np.testing.assert_array_equal(whole[0], cut[0])
    np.testing.assert_allclose(whole[1], cut[1])


def test_training_votes_need_rows_matching_the_labels():
    class Clustered:
        labels_ = np.array([1, 0, -1, 1])

    rows = np.zeros((4, 3))
    _, topics = cluster.training_votes(rows, Clustered(), {0: 1, 1: 0})
    assert topics.tolist() == [0, 1, -1, 0]
    assert cluster.training_votes(rows[:3], Clustered(), {0: 1, 1: 0}) is None  # fitted on a sample
    assert cluster.training_votes(None, Clustered(), {0: 1}) is None
    assert cluster.training_votes(rows, Clustered(), {}) is None  # the clusters no longer name topics


def test_transform_uses_the_vote_of_the_umap_training_rows(ng2000):
    docs, _, emb = ng2000
    docs, emb = docs[:400], emb[:400]
    model = GPUTopic(device="cpu", random_state=0, min_topic_size=10).fit(docs, embeddings=emb)
    rows = reduce.training_rows(model.umap_model_)
    assert rows is not None and rows.shape == emb.shape
    new, share = model.transform(docs[300:], embeddings=emb[300:])
    expected, expected_share = cluster.vote(emb, np.asarray(model.topics_), emb[300:], CPU, k=cluster.VOTE_K)
    np.testing.assert_array_equal(new, expected)
    np.testing.assert_allclose(share, expected_share)
    assert (share[new == -1] == 0).all() and ((share > 0) & (share <= 1))[new >= 0].all()
