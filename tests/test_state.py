"""One fitted state: every writer (fit, the topic operations, merge_models, partial_fit, load)
leaves a model whose parts agree, and only ``GPUTopic._apply`` sets fitted attributes."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import IncrementalPCA

from gputopic import GPUTopic, InputError
from gputopic.state import FittedState

from helpers import TOY_DOCS, HashingEncoder, fast_model

PKG = Path(__file__).resolve().parents[1] / "gputopic"


def assert_consistent(model, online: bool = False) -> None:
    """The public fitted attributes agree with each other (checked here, not by FittedState.check)."""
    ids = sorted(model.topic_sizes_)
    topics = np.asarray(model.topics_)
    assert sorted(model.topic_representations_) == ids == sorted(model.topic_labels_)
    assert all(sorted(words) == ids for words in model.topic_aspects_.values())
    assert set(np.unique(topics).tolist()) <= set(ids)
    if online:  # sizes count every batch, topics_ the last one
        assert sum(model.topic_sizes_.values()) >= topics.shape[0]
    else:
        assert sum(model.topic_sizes_.values()) == topics.shape[0]
        counted = dict(zip(*np.unique(topics, return_counts=True)))
        assert all(model.topic_sizes_[t] == counted.get(t, 0) for t in ids)
    assert model.c_tf_idf_.shape == (len(ids), len(model.vocabulary_))
    assert model.topic_embeddings_.shape == (len(ids), model.n_features_in_)
    if model.probabilities_ is not None:
        assert np.shape(model.probabilities_)[0] == topics.shape[0]
    if model.custom_labels_ is not None:
        assert len(model.custom_labels_) == len(ids)


def test_every_writer_leaves_a_consistent_model(tmp_path):
    model = fast_model(hdbscan_model=None, min_topic_size=3).fit(TOY_DOCS)  # HDBSCAN: outliers
    assert_consistent(model)
    model.set_topic_labels({int(max(model.topic_sizes_)): "last"})
    assert_consistent(model)
    model = fast_model().fit(TOY_DOCS)
    model.reduce_topics(TOY_DOCS, nr_topics=2)
    assert_consistent(model)
    model = fast_model().fit(TOY_DOCS)
    model.merge_topics(TOY_DOCS, [0, 1])
    assert_consistent(model)
    topics = np.asarray(model.topics_).copy()
    topics[:5] = -1
    model.update_topics(TOY_DOCS, topics=topics)
    assert_consistent(model)
    model.save(tmp_path / "m")
    assert_consistent(GPUTopic.load(tmp_path / "m"))
    merged = GPUTopic.merge_models([fast_model().fit(TOY_DOCS[:30]), fast_model().fit(TOY_DOCS[30:])])
    assert_consistent(merged)
    online = GPUTopic(embedding_model=HashingEncoder(), umap_model=IncrementalPCA(n_components=5),
                      hdbscan_model=MiniBatchKMeans(n_clusters=3, random_state=0, n_init=3), device="cpu")
    for start in (0, 20, 40):
        online.partial_fit(TOY_DOCS[start:start + 20])
        assert_consistent(online, online=True)


def _state_of(model) -> FittedState:
    return model._state


@pytest.mark.parametrize("breakage, message", [
    (lambda s: s.with_(topic_sizes={**s.topic_sizes, 0: s.topic_sizes[0] + 1}), "sizes that are not the counts"),
    (lambda s: s.with_(c_tf_idf=s.c_tf_idf[:-1]), "c-TF-IDF of shape"),
    (lambda s: s.with_(topic_embeddings=s.topic_embeddings[:, :3]), "topic embeddings of shape"),
    (lambda s: s.with_(labels={k: v for k, v in s.labels.items() if k != 0}), "the labels cover topics"),
    (lambda s: s.with_(topics=np.where(s.topics == 0, 99, s.topics)), "document topics [99] not in the table"),
    (lambda s: s.with_(probabilities=np.zeros(3)), "probabilities of shape (3,)"),
    (lambda s: s.with_(custom_labels=["x"]), "1 custom labels for 3 topics"),
])
def test_the_check_refuses_a_state_whose_parts_disagree(breakage, message):
    model = fast_model().fit(TOY_DOCS)
    before = model.topics_.copy()
    with pytest.raises(InputError, match=r"Inconsistent topic model state: .*" + __import__("re").escape(message)):
        model._apply(breakage(_state_of(model)))
    assert np.array_equal(model.topics_, before)  # refused before anything was set


FITTED = {"topics_", "probabilities_", "topic_sizes_", "topic_representations_", "topic_aspects_", "topic_labels_",
          "custom_labels_", "representative_docs_", "topic_embeddings_", "c_tf_idf_", "vocabulary_", "umap_model_",
          "hdbscan_model_", "vectorizer_model_", "ctfidf_model_", "embedding_model_id_", "n_features_in_",
          "timings_", "embeddings_sample_size_", "_state"}


def test_only_apply_sets_fitted_attributes():
    """No function but GPUTopic._apply assigns a GPUTopic fitted attribute. Other classes' own
    attributes of the same names (BERTopic's view in bertopic_compat, the native estimators,
    scikit-learn's vectorizer.vocabulary_) are theirs."""
    writers = []
    for path in PKG.rglob("*.py"):
        if "native" in path.parts:
            continue  # the native estimators' own fitted attributes
        tree = ast.parse(path.read_text(encoding="utf-8"))
        owner = {id(f): c.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
                 for f in c.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
                for t in targets:
                    for sub in ast.walk(t):
                        if not (isinstance(sub, ast.Attribute) and sub.attr in FITTED):
                            continue
                        base = getattr(sub.value, "id", "")
                        if base == "vectorizer" or (base == "self" and owner.get(id(func), "GPUTopic") != "GPUTopic"):
                            continue
                        writers.append(f"{path.name}:{func.name}")
    assert sorted(set(writers)) == ["model.py:_apply"]
