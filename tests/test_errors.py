"""Every bad input gets an exception from gputopic's hierarchy with a message that says what
is wrong and how to fix it, and a failed fit leaves the model as it was."""

import sys

import numpy as np
import pytest

import gputopic
from gputopic import GPUTopic
from gputopic.device import cuda_available
from gputopic.exceptions import DeviceError, GPUTopicError, InputError, MissingDependencyError

from helpers import TOY_DOCS, HashingEncoder, fast_model

EMB = HashingEncoder().encode(TOY_DOCS)


def test_every_error_derives_from_the_base_class():
    for name in ("InputError", "NotFittedError", "DeviceError", "MissingDependencyError", "ModelFileError"):
        assert issubclass(getattr(gputopic, name), GPUTopicError)
    assert issubclass(InputError, ValueError) and issubclass(MissingDependencyError, ImportError)


def test_empty_corpus():
    with pytest.raises(InputError, match="corpus is empty"):
        fast_model().fit([])


def test_documents_none():
    with pytest.raises(InputError, match="documents is None"):
        fast_model().fit(None)


def test_single_string_instead_of_list():
    with pytest.raises(InputError, match=r"got a single str. Wrap it in a list"):
        fast_model().fit("just one document")


def test_only_empty_documents():
    with pytest.raises(InputError, match=r"All 4 documents are empty or whitespace only: there is nothing to fit"):
        fast_model().fit(["", " ", "\n", "\t "])


def test_none_and_non_string_items():
    with pytest.raises(InputError, match=r"2 documents are not strings \(types \['NoneType', 'int'\]"):
        fast_model().fit(TOY_DOCS + [None, 3])


def test_fewer_documents_than_umap_needs():
    with pytest.raises(InputError, match=r"Only 10 documents: UMAP with n_neighbors=15 needs at least 16"):
        GPUTopic(embedding_model=HashingEncoder(), device="cpu").fit(TOY_DOCS[:10], embeddings=EMB[:10])


def test_all_identical_documents():
    with pytest.raises(InputError, match="All documents have the same embedding"):
        fast_model().fit(["the same words"] * 30)


def test_embedding_rows_do_not_match_documents():
    with pytest.raises(InputError, match=r"embeddings have 59 rows but there are 60 documents"):
        fast_model().fit(TOY_DOCS, embeddings=EMB[:-1])


def test_embeddings_not_two_dimensional():
    with pytest.raises(InputError, match=r"must be 2-D \(n_documents x dim\)"):
        fast_model().fit(TOY_DOCS, embeddings=EMB[:, 0])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_embeddings(bad):
    emb = EMB.copy()
    emb[7, 3] = bad
    with pytest.raises(InputError, match=r"contain NaN or infinite values \(rows \[7\]"):
        fast_model().fit(TOY_DOCS, embeddings=emb)


def test_transform_embedding_width_must_match_fit():
    model = fast_model().fit(TOY_DOCS)
    with pytest.raises(InputError, match="embeddings have 8 dimensions but the model was fitted on 64"):
        model.transform(TOY_DOCS[:2], embeddings=np.ones((2, 8), dtype=np.float32))


def test_unknown_device():
    with pytest.raises(DeviceError, match=r"Unknown device 'tpu'. Use one of 'auto'"):
        fast_model(device="tpu").fit(TOY_DOCS)


@pytest.mark.skipif(cuda_available(), reason="this machine has a GPU")
def test_cuda_requested_without_gpu():
    with pytest.raises(DeviceError, match=r"device='cuda' was requested but no CUDA GPU is visible"):
        fast_model(device="cuda").fit(TOY_DOCS)


def test_missing_optional_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` fail
    with pytest.raises(MissingDependencyError, match=r"'umap' is not installed .*pip install umap"):
        GPUTopic(embedding_model=HashingEncoder(), device="cpu", umap_model="umap-learn").fit(TOY_DOCS, embeddings=EMB)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"min_topic_size": 1}, r"min_topic_size must be an integer >= 2, got 1"),
        ({"top_n_words": 0}, r"top_n_words must be an integer >= 1, got 0"),
        ({"batch_size": "big"}, r"batch_size must be an integer >= 1 or None, got 'big'"),
        ({"calculate_probabilities": "yes"}, r"calculate_probabilities must be True or False"),
        ({"umap_model": "tsne"}, r"Unknown umap_model 'tsne': use one of \['auto', 'cpu', 'cuml'"),
        ({"hdbscan_model": "umap-learn"}, r"Unknown hdbscan_model 'umap-learn': use one of"),
        ({"hdbscan_model": 42}, r"hdbscan_model must have fit\(X\) and labels_"),
        ({"embedding_model": 42}, r"embedding_model must be a model name or path"),
        ({"representation_model": "mmr"}, r"representation_model must have a represent"),
    ],
)
def test_bad_parameters(params, message):
    with pytest.raises(InputError, match=message):
        fast_model(**params).fit(TOY_DOCS)


def test_failed_fit_leaves_the_fitted_model_unchanged():
    model = fast_model().fit(TOY_DOCS)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}
    topics_before = list(model.topics_)
    with pytest.raises(InputError):
        model.fit(TOY_DOCS, embeddings=EMB[:5])
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    assert model.topics_ == topics_before


def test_failed_first_fit_leaves_no_fitted_state():
    model = fast_model()
    with pytest.raises(InputError):
        model.fit(TOY_DOCS + [None])
    assert not [k for k in vars(model) if k.endswith("_")]
