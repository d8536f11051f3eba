"""Dask / Dask-CUDA sharding: corpora larger than one GPU (or one process).

``GPUTopic(client=distributed.Client(...))`` hands fit / fit_transform / transform here when it
has a client or the documents are a Dask collection (a dask Series, a one-column or ``text``
DataFrame, dask_cudf alike) or a parquet glob string (read with
``dask.dataframe.read_parquet(glob, columns=["text"])``; use :func:`read_documents` for another
column). The stages run where the data is:

* **validate** each partition on its worker with :func:`gputopic._validation.validate_documents`; a bad
  partition raises the same :class:`InputError` (same message, global positions) as in-process.
* **embed** partition by partition on the workers. Each worker loads the embedding model once:
  a worker plugin (re-installed on restarted workers) puts it in a per-process cache keyed by the
  model id and device. Embeddings stay on the workers as a dask array.
* **reduce**: UMAP is fitted in the client process on a sample gathered from the workers, all
  points when there are at most ``sample_size`` (default :data:`DEFAULT_SAMPLE_SIZE`), else an
  unbiased random sample of that size (seeded by ``random_state``). With a sample, the fitted
  reducer is shipped to the workers and every partition is ``transform``-ed there. Only the
  low-dimensional points (n x 5) come back.
* **cluster** those points with HDBSCAN in the client process; topics go back per partition.
* **count**: each partition is counted once on its worker (the Arrow counter for the default
  vectorizer, as in-process); a shared vocabulary from the per-partition vocabularies and
  document frequencies, merged by a tree reduction (``min_df`` / ``max_df`` / ``max_features``
  applied to the summed frequencies, as scikit-learn's ``CountVectorizer`` applies them); each
  partition's matrix re-indexed to it where it lies; per-partition
  ``onehot(topics).T @ X`` summed by a tree reduction to one (topics x vocabulary) matrix;
  then the tail every fit shares (:mod:`gputopic.pipeline`): c-TF-IDF, ``nr_topics``, words.
* **transform** of a Dask collection runs the fitted model's in-process ``transform`` on each
  partition, on its worker.

Outputs of a Dask input are dask arrays chunked like the partitions; the fitted attributes
(``topics_``, ``c_tf_idf_`` ...) are the same in-memory objects as after an in-process fit.
"""

from __future__ import annotations

import logging
import numbers
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import cluster as _cluster
from . import reduce as _reduce
from ._validation import validate_documents
from .device import (Output, get_backend, host_sparse, is_on_gpu, optional_import, output_like, resolve_device,
                     text_list, to_numpy)
from .embed import check_embeddings, cached_encode, load_embedder, model_identity
from .exceptions import DeviceError, InputError
from .defaults import embedding_spec
from .pipeline import (Clock, TopicTotals, build_stages, check_params, embed_fn, fit_probabilities, order_by_size,
                       transform as transform_in_process, weigh_topics)
from .represent import describe, representative_docs
from .state import FittedState
from .vectorize import doc_term_matrix, fit_count, labels_to_index, vocabulary

distributed = optional_import("distributed", "Dask sharding (GPUTopic(client=...))")

logger = logging.getLogger("gputopic")

#: UMAP is fitted on at most this many embeddings gathered to the client (all of them below it).
DEFAULT_SAMPLE_SIZE = 200_000
#: The column read from parquet files and Dask DataFrames with several columns.
TEXT_COLUMN = "text"

__all__ = ["fit", "transform", "embed", "read_documents", "open_client", "DEFAULT_SAMPLE_SIZE"]


# ------------------------------------------------------------------ inputs


def read_documents(source: Any, text_column: str | None = None, limit: int | None = None):
    """A dask Series of documents from a parquet glob (or a Dask DataFrame's text column)."""
    dd = optional_import("dask.dataframe", "Dask sharding")
    column = text_column or TEXT_COLUMN
    if isinstance(source, str):
        try:
            source = dd.read_parquet(source, columns=[column])
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"Could not read column {column!r} from the parquet files {source!r}: {exc}") from exc
    series = _as_series(source, column)
    if limit is not None:
        series = series.head(int(limit), npartitions=-1, compute=False)
    return series


def _as_series(documents: Any, column: str = TEXT_COLUMN):
    if getattr(documents, "ndim", 1) == 2 and hasattr(documents, "columns"):
        names = list(documents.columns)
        if column in names:
            documents = documents[column]
        elif len(names) == 1:
            documents = documents[names[0]]
        else:
            raise InputError(
                f"The Dask DataFrame has columns {names} and none is named {column!r}: pass the text "
                "column itself, e.g. ddf['body']."
            )
    if not (hasattr(documents, "__dask_graph__") and hasattr(documents, "to_delayed")
            and getattr(documents, "ndim", 1) == 1):
        raise InputError(
            f"Dask documents must be a dask Series (or a DataFrame's text column); got {type(documents).__name__}."
        )
    return documents


def _get_client(model: Any):
    client = getattr(model, "client", None)
    if client is None:
        try:
            return distributed.get_client()
        except ValueError:
            raise InputError(
                "Dask documents need a Dask cluster: pass GPUTopic(client=distributed.Client(...))."
            ) from None
    if not isinstance(client, distributed.Client):
        raise InputError(f"client must be a distributed.Client, got {type(client).__name__}.")
    return client


@dataclass
class _Shards:
    """The documents as futures on the workers, one per non-empty partition, in order."""

    client: Any
    parts: list
    lengths: list[int]
    gpu: bool

    @property
    def n(self) -> int:
        return int(sum(self.lengths))

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    def split(self, values: np.ndarray) -> list[np.ndarray]:
        o = self.offsets
        return [values[o[i]:o[i + 1]] for i in range(len(self.lengths))]


def _shard(client, documents) -> _Shards:
    if isinstance(documents, str):
        documents = read_documents(documents)
    elif not hasattr(documents, "__dask_graph__"):
        # a client with in-memory documents: validated here, then split across the workers
        pd = optional_import("pandas")
        dd = optional_import("dask.dataframe", "Dask sharding")
        docs = validate_documents(documents)
        n_workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        documents = dd.from_pandas(pd.Series(docs, dtype=object), npartitions=min(len(docs), 2 * n_workers))
    series = _as_series(documents)
    gpu = is_on_gpu(getattr(series, "_meta", None))
    parts = client.compute(list(series.to_delayed()))
    reports = client.gather(client.map(_check_partition, parts, pure=False))
    lengths = [n for n, _ in reports]
    bad = [(int(off) + i, obj) for off, (_, items) in zip(np.cumsum([0] + lengths[:-1]), reports)
           for i, obj in (items or [])]
    if bad or sum(lengths) == 0:
        _raise_like_in_process(sum(lengths), bad)
    keep = [i for i, n in enumerate(lengths) if n > 0]
    return _Shards(client, [parts[i] for i in keep], [lengths[i] for i in keep], gpu)


def _check_partition(part) -> tuple[int, list | None]:
    """(length, None) for a good partition; (length, [(local position, bad item)]) otherwise."""
    docs = text_list(part)
    if not docs:
        return 0, None
    try:
        validate_documents(docs)
        return len(docs), None
    except InputError:
        bad = [(i, d if not isinstance(d, str) else "") for i, d in enumerate(docs)
               if not isinstance(d, str) or not d.strip()]
        return len(docs), bad


def _raise_like_in_process(n: int, bad: list[tuple[int, Any]]) -> None:
    """Raise exactly the InputError that validate_documents gives for the whole corpus."""
    docs: list = ["x"] * n  # n references to one str: 8 bytes a document, error path only
    for pos, obj in bad:
        docs[pos] = obj
    validate_documents(docs)
    raise AssertionError("unreachable: partitions reported bad documents")  # pragma: no cover


# ---------------------------------------------------------- worker caches

_EMBEDDERS: dict[str, Any] = {}


class EmbedderPlugin(distributed.WorkerPlugin):
    """Loads the embedding model once per worker process (and again on a restarted worker)."""

    def __init__(self, key: str, spec: Any, device: str, drop_on_teardown: bool, embedding_backend: str = "torch"):
        self.key, self.spec, self.device, self.drop = key, spec, device, drop_on_teardown
        self.embedding_backend = embedding_backend
        self.name = key

    def setup(self, worker=None):
        if self.key not in _EMBEDDERS:
            _EMBEDDERS[self.key] = load_embedder(self.spec, resolve_device(self.device), self.embedding_backend)

    def teardown(self, worker=None):
        if self.drop:
            _EMBEDDERS.pop(self.key, None)


@contextmanager
def _embedder_on_workers(client, model):
    """Register the model's embedder on every worker; yields the cache key."""
    spec = embedding_spec(model)
    if spec is None or isinstance(spec, str):
        key, drop = f"gputopic-embedder:{spec or 'default'}:{model.device}:{model.embedding_backend}", False
    else:
        key, drop = f"gputopic-embedder:{model_identity(spec)}:{uuid.uuid4().hex}", True
        try:
            optional_import("cloudpickle").dumps(spec)
        except Exception as exc:  # noqa: BLE001 - any pickling failure
            raise InputError(
                f"The embedding model ({type(spec).__name__}) cannot be pickled to ship to the Dask "
                f"workers: {exc}. Pass a model name or path instead, which each worker loads itself."
            ) from exc
    client.register_plugin(EmbedderPlugin(key, spec, model.device, drop, model.embedding_backend), name=key)
    try:
        yield key
    finally:
        if drop:
            client.unregister_worker_plugin(key)


def _worker_embedder(key: str):
    if key not in _EMBEDDERS:  # plugin not run here yet (e.g. a worker that joined mid-call)
        raise RuntimeError(f"embedding model {key!r} is not loaded on this worker")
    return _EMBEDDERS[key]


# ------------------------------------------------------------ worker tasks


def _embed_partition(part, embedder_key: str, device: str, encode_batch, cache_dir):
    backend = get_backend(resolve_device(device))
    return cached_encode(_worker_embedder(embedder_key), text_list(part), backend, cache_dir, encode_batch, False)


def _check_embedding_block(block, n: int, device: str):
    return check_embeddings(block, n, get_backend(resolve_device(device)))


def _host(block) -> np.ndarray:
    return np.asarray(to_numpy(block), dtype=np.float32)


def _ncols(block) -> int:
    return int(block.shape[1])


def _take_rows(block, rows: np.ndarray) -> np.ndarray:
    return _host(block[rows] if rows.size < block.shape[0] else block)


def _reduce_partition(block, reducer, device: str) -> np.ndarray:
    backend = get_backend(resolve_device(device))
    return to_numpy(_reduce.transform_reduce(reducer, backend.asarray(block), backend))


def _count_partition(part, vectorizer) -> tuple[np.ndarray, Any]:
    """The one counting pass over a partition: its sorted terms and host CSR counts."""
    terms, X = fit_count(vectorizer, text_list(part))
    return np.asarray(terms, dtype=object), X.tocsr()


def _partition_stats(counted) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted terms of one counted partition with their document and term frequencies."""
    terms, X = counted
    df = np.asarray((X > 0).sum(axis=0), dtype=np.int64).ravel()
    tf = np.asarray(X.sum(axis=0), dtype=np.int64).ravel()
    return terms, df, tf


def _merge_vocab(a, b):
    """Union of two sorted vocabularies (Python string order, as scikit-learn sorts) with their
    frequencies added. Object arrays throughout: no fixed-width unicode copies of long terms."""
    terms, inv = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    inv = inv.ravel()

    def add(x, y):  # terms are unique within each side; float64 sums of int64 counts are exact below 2^53
        return np.bincount(inv, weights=np.concatenate([x, y]).astype(np.float64), minlength=terms.size).astype(np.int64)

    return terms, add(a[1], b[1]), add(a[2], b[2])


def _remap(counted, vocab: np.ndarray, device: str):
    """A counted partition's matrix with the shared vocabulary's columns (pruned terms dropped):
    the same matrix as ``transform`` with that vocabulary, without counting again."""
    import scipy.sparse

    terms, X = counted
    n = X.shape[0]
    col = np.full(terms.size, -1, dtype=np.int64)
    if terms.size and vocab.size:
        pos = np.minimum(np.searchsorted(vocab, terms), vocab.size - 1)
        col = np.where(vocab[pos] == terms, pos, -1)
    new = col[X.indices]
    keep = new >= 0
    rows = np.repeat(np.arange(n), np.diff(X.indptr))[keep]
    out = scipy.sparse.csr_matrix((X.data[keep], (rows, new[keep])), shape=(n, vocab.size), dtype=X.dtype)
    out.sort_indices()
    return get_backend(resolve_device(device)).assparse(out)


def _doc_terms(part, vectorizer, device: str):
    return doc_term_matrix(vectorizer, text_list(part), get_backend(resolve_device(device)), fit=False)


def _class_sums(X, block, index: np.ndarray, n_classes: int, device: str):
    """Per-topic term counts, embedding sums and document counts of one partition."""
    backend = get_backend(resolve_device(device))
    t = TopicTotals.of_index(np.arange(n_classes), index, X, backend.asarray(block), backend)
    return host_sparse(t.counts), to_numpy(t.emb_sums).astype(np.float64), t.sizes


def _add(a, b):
    if isinstance(a, tuple):
        return tuple(x + y for x, y in zip(a, b))
    return a + b


def _candidates(X, c_tf_idf, index: np.ndarray, offset: int, n: int):
    """This partition's best ``n`` documents per topic: (global ids, their rows of X, topics)."""
    X = host_sparse(X).tocsr()
    best = representative_docs(X, c_tf_idf, index, n=n)
    local = np.sort(np.fromiter((d for docs in best for d in docs), dtype=np.int64))
    return offset + local, host_sparse(X[local]), index[local]


def _pick(part, rows: np.ndarray) -> list:
    docs = text_list(part)
    return [docs[i] for i in rows.tolist()]


def _tree_reduce(client, futures: list, op: Callable):
    """Pairwise tree reduction of futures on the workers; returns the final future."""
    while len(futures) > 1:
        nxt = [client.submit(op, futures[i], futures[i + 1], pure=False) for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0]


# ------------------------------------------------------------------- fit


def fit(model: Any, documents: Any, embeddings: Any = None, *, sample_size: int = DEFAULT_SAMPLE_SIZE):
    """The sharded counterpart of the in-process fit (see the module docstring):
    ``(state, topics, probabilities)``, the last two dask arrays chunked like the partitions."""
    check_params(model)
    client = _get_client(model)
    shards = _shard(client, documents)
    device = resolve_device(model.device)
    backend = get_backend(device)
    clock = Clock(f" (dask, {len(shards.parts)} partitions)")
    stages = build_stages(model, device)
    n = shards.n
    stages.check_size(n)
    _check_vectorizer(stages.vectorizer)

    # ---- embed, on the workers
    blocks, model_id = _embed_blocks(client, shards, model, embeddings, device)
    dim = client.submit(_ncols, blocks[0]).result()
    clock.lap("embed")

    # ---- reduce: fit on a sample in this process, transform the rest on the workers
    umap_model, hdbscan_model = stages.umap_model, stages.hdbscan_model
    sample = _sample_indices(n, sample_size, model.random_state)
    if sample is None:
        emb_sample = client.gather(client.map(_host, blocks))
        emb_sample = np.concatenate(emb_sample)
    else:
        o = shards.offsets
        rows = [sample[(sample >= o[i]) & (sample < o[i + 1])] - o[i] for i in range(len(blocks))]
        emb_sample = np.concatenate(client.gather([client.submit(_take_rows, b, r) for b, r in zip(blocks, rows)]))
    emb_sample = backend.asarray(emb_sample, dtype=backend.xp.float32)
    if not bool((emb_sample != emb_sample[0]).any()):
        raise InputError(
            "All documents have the same embedding (identical documents?): there is nothing to "
            "cluster. Pass a corpus with different documents."
        )
    reduced = _reduce.fit_reduce(umap_model, emb_sample, backend)
    if sample is not None:
        [reducer] = client.scatter([umap_model], broadcast=True, hash=False)
        reduced = np.concatenate(client.gather(
            client.map(_reduce_partition, blocks, reducer=reducer, device=model.device, pure=False)))
        reduced = backend.asarray(reduced, dtype=backend.xp.float32)
    del emb_sample
    clock.lap("reduce")
    clusters, strengths = _cluster.fit_cluster(hdbscan_model, reduced, backend)
    clock.lap("cluster")

    # ---- count, sharded; then the tail every fit shares
    topics, cluster_to_topic = order_by_size(clusters)
    ids, index = labels_to_index(topics)
    vocab, X_parts = _count_sharded(client, shards, stages.vectorizer, model.device)
    sums = [client.submit(_class_sums, X, b, idx, len(ids), model.device, pure=False)
            for X, b, idx in zip(X_parts, blocks, shards.split(index))]
    counts, emb_sums, sizes = _tree_reduce(client, sums, _add).result()
    clock.lap("count")
    w = weigh_topics(model, topics, cluster_to_topic, TopicTotals(ids, backend.assparse(counts), emb_sums, sizes),
                     stages.ctfidf, backend)
    clock.lap("ctfidf")
    index_parts = shards.split(np.searchsorted(w.totals.ids, w.topics))

    def representatives(c_tf_idf, k: int) -> list[list[str]]:
        rep_ids = _representative(client, shards, X_parts, c_tf_idf, index_parts, len(w.totals.ids), n=k)
        rep_docs = _fetch_docs(client, shards, rep_ids)
        return [[rep_docs[i] for i in r] for r in rep_ids]

    words, aspects, representative = describe(
        w.c_tf_idf, w.totals.ids, vocab, model.representation_model, model.top_n_words,
        lambda: embed_fn(load_embedder(embedding_spec(model), device, model.embedding_backend), backend),
        representatives)
    probs = fit_probabilities(model, hdbscan_model, w.cluster_to_topic, strengths)
    clock.lap("represent")
    state = FittedState.build(
        topics=w.topics, probabilities=probs, words=words, aspects=aspects, representative=representative,
        topic_embeddings=backend.asarray(w.totals.means()), c_tf_idf=w.c_tf_idf, vocabulary=vocab,
        umap_model=umap_model, hdbscan_model=hdbscan_model, vectorizer_model=stages.vectorizer,
        ctfidf_model=stages.ctfidf, embedding_model_id=model_id, n_features_in=int(dim), timings=clock.timings,
        cluster_to_topic=w.cluster_to_topic, output=Output("cupy") if shards.gpu else output_like(embeddings),
        embeddings_sample_size=n if sample is None else int(sample.size),
    )
    return (state, _chunked(w.topics, shards.lengths),
            None if probs is None else _chunked(np.asarray(probs), shards.lengths))


def _embed_blocks(client, shards: _Shards, model: Any, embeddings: Any, device: str):
    """One embedding block (a future on the worker holding the partition) per partition."""
    if embeddings is not None:
        return _embedding_blocks(client, shards, embeddings, model.device), None
    with _embedder_on_workers(client, model) as key:
        blocks = client.map(_embed_partition, shards.parts, embedder_key=key, device=model.device,
                            encode_batch=model.batch_size, cache_dir=model.embedding_cache_dir, pure=False)
        distributed.wait(blocks)
    return blocks, load_embedder(embedding_spec(model), device).model_id


def embed(model: Any, documents: Any):
    """Embed Dask ``documents`` on the workers with ``model``'s embedding model (and client).

    Returns a dask array (n_documents x dim), rows chunked like the non-empty partitions, whose
    blocks stay on the workers until computed.
    """
    client = _get_client(model)
    shards = _shard(client, documents)
    blocks, _ = _embed_blocks(client, shards, model, None, resolve_device(model.device))
    return embeddings_array(blocks, shards.lengths, client.submit(_ncols, blocks[0]).result())


def embeddings_array(blocks: list, lengths: list[int], dim: int):
    """The per-partition embedding futures as one dask array (rows chunked like the partitions)."""
    da = optional_import("dask.array", "Dask sharding")
    dask = optional_import("dask")
    return da.concatenate([da.from_delayed(dask.delayed(b), shape=(int(m), int(dim)), dtype=np.float32)
                           for b, m in zip(blocks, lengths)])


def _chunked(values: np.ndarray, lengths: list[int]):
    da = optional_import("dask.array", "Dask sharding")
    values = to_numpy(values)
    return da.from_array(values, chunks=(tuple(int(m) for m in lengths),) + values.shape[1:])


def _embedding_blocks(client, shards: _Shards, embeddings: Any, device: str) -> list:
    da = optional_import("dask.array", "Dask sharding")
    arr = embeddings if hasattr(embeddings, "__dask_graph__") else da.from_array(to_numpy(embeddings))
    if arr.ndim != 2 or arr.shape[0] != shards.n:
        raise InputError(
            f"embeddings have shape {tuple(arr.shape)} but there are {shards.n} documents: pass one "
            "embedding row per document, in the same order."
        )
    arr = arr.rechunk((tuple(shards.lengths), -1))
    raw = client.compute(list(arr.to_delayed().ravel()))
    return client.map(_check_embedding_block, raw, shards.lengths, device=device, pure=False)


def _sample_indices(n: int, sample_size: int, seed) -> np.ndarray | None:
    if not isinstance(sample_size, numbers.Integral) or sample_size < 2:
        raise InputError(f"sample_size must be an integer >= 2, got {sample_size!r}.")
    if n <= sample_size:
        return None
    rng = np.random.default_rng(0 if seed is None else seed)
    return np.sort(rng.choice(n, size=int(sample_size), replace=False))


def _check_vectorizer(vectorizer: Any) -> None:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    if not isinstance(vectorizer, CountVectorizer) or isinstance(vectorizer, TfidfVectorizer):
        raise InputError(
            "The Dask path counts terms with a scikit-learn CountVectorizer sharded across workers; "
            f"got vectorizer_model={type(vectorizer).__name__}. Pass a CountVectorizer (any settings)."
        )


def _count_sharded(client, shards: _Shards, vectorizer: Any, device: str) -> tuple[list[str], list]:
    """Fit ``vectorizer``'s vocabulary from all partitions, as one ``fit`` over the corpus would,
    and each partition's doc-term matrix in it (futures on the workers).

    Each partition is counted once, with the vectorizer relaxed (no min_df / max_df /
    max_features); the frequencies are summed by a tree reduction, pruned, and every
    partition's matrix is re-indexed to the shared vocabulary where it lies.
    """
    if vectorizer.vocabulary is not None:  # fixed by the user
        vectorizer.fit(["x"])
        [vec] = client.scatter([vectorizer], broadcast=True, hash=False)
        return vocabulary(vectorizer), client.map(_doc_terms, shards.parts, vectorizer=vec, device=device, pure=False)
    relaxed = _fresh_relaxed(vectorizer)
    counted = client.map(_count_partition, shards.parts, vectorizer=relaxed, pure=False)
    stats = client.map(_partition_stats, counted, pure=False)
    terms, df, tf = _tree_reduce(client, stats, _merge_vocab).result()
    n = shards.n
    high = vectorizer.max_df if isinstance(vectorizer.max_df, numbers.Integral) else vectorizer.max_df * n
    low = vectorizer.min_df if isinstance(vectorizer.min_df, numbers.Integral) else vectorizer.min_df * n
    if high < low:
        raise InputError("max_df corresponds to < documents than min_df: raise max_df or lower min_df.")
    mask = (df <= high) & (df >= low)
    limit = vectorizer.max_features
    if limit is not None and mask.sum() > limit:  # scikit-learn's rule, on the same sorted arrays
        keep = np.zeros(df.size, dtype=bool)
        keep[np.where(mask)[0][(-tf[mask]).argsort()[:limit]]] = True
        mask = keep
    terms = [str(t) for t in terms[mask].tolist()]
    if not terms:
        raise InputError(
            "No terms left to count: every document is empty or made of stop words only, or "
            "min_df / max_df pruned them all. Pass documents with real words, or a vectorizer_model "
            "with other stop_words / min_df settings."
        )
    vectorizer.vocabulary_ = {t: i for i, t in enumerate(terms)}
    vectorizer.fixed_vocabulary_ = False
    [vocab] = client.scatter([np.asarray(terms, dtype=object)], broadcast=True, hash=False)
    return terms, client.map(_remap, counted, vocab=vocab, device=device, pure=False)


def _fresh_relaxed(vectorizer: Any):
    from sklearn.base import clone

    return clone(vectorizer).set_params(min_df=1, max_df=1.0, max_features=None)


def _representative(client, shards: _Shards, X_parts: list, c_tf_idf, index_parts: list, k: int, n: int = 3):
    """Global best ``n`` documents per topic: partition candidates, re-ranked together."""
    from scipy.sparse import vstack

    c_host = host_sparse(c_tf_idf)
    [c_fut] = client.scatter([c_host], broadcast=True, hash=False)
    found = client.gather([client.submit(_candidates, X, c_fut, idx, int(off), n, pure=False)
                           for X, idx, off in zip(X_parts, index_parts, shards.offsets[:-1])])
    gids = np.concatenate([g for g, _, _ in found])
    Xc = vstack([x for _, x, _ in found], format="csr")
    cls = np.concatenate([c for _, _, c in found])
    best = representative_docs(Xc, c_host, cls, n=n)
    return [[int(gids[i]) for i in row] for row in best][:k]


def _fetch_docs(client, shards: _Shards, rep_ids: list[list[int]]) -> dict[int, str]:
    wanted = np.unique(np.fromiter((d for row in rep_ids for d in row), dtype=np.int64))
    o = shards.offsets
    futs, which = [], []
    for i, part in enumerate(shards.parts):
        rows = wanted[(wanted >= o[i]) & (wanted < o[i + 1])]
        if rows.size:
            futs.append(client.submit(_pick, part, rows - o[i], pure=False))
            which.append(rows)
    out: dict[int, str] = {}
    for rows, docs in zip(which, client.gather(futs)):
        out.update(zip(rows.tolist(), docs))
    return out


# ------------------------------------------------------------- transform


def _transform_partition(part, shipped: tuple, embedder_key: str | None):
    params, state = shipped
    if embedder_key is not None:
        state = state.with_(embedder=_worker_embedder(embedder_key))
    topics, probs = transform_in_process(params, state, text_list(part))
    return to_numpy(topics), (None if probs is None else to_numpy(probs))


def transform(model: Any, state: FittedState, documents: Any, embeddings: Any = None):
    """The sharded counterpart of :meth:`GPUTopic.transform` (of a fitted model): each
    partition on its worker."""
    client = _get_client(model)
    shards = _shard(client, documents)
    if embeddings is not None:
        raise InputError("transform of Dask documents embeds them on the workers: leave embeddings=None.")
    params = type(model)(**{**model.get_params(deep=False), "client": None})  # parameters only, no client
    [shipped] = client.scatter([(params, state.with_(embedder=None))], broadcast=True, hash=False)
    with _embedder_on_workers(client, model) as key:
        results = client.map(_transform_partition, shards.parts, shipped=shipped, embedder_key=key, pure=False)
        distributed.wait(results)
    da = optional_import("dask.array", "Dask sharding")
    dask = optional_import("dask")
    first = results[0].result()
    topics = da.concatenate([da.from_delayed(dask.delayed(r)[0], shape=(m,), dtype=np.int64)
                             for r, m in zip(results, shards.lengths)])
    if first[1] is None:
        return topics, None
    tail, dtype = first[1].shape[1:], first[1].dtype
    probs = da.concatenate([da.from_delayed(dask.delayed(r)[1], shape=(m,) + tail, dtype=dtype)
                            for r, m in zip(results, shards.lengths)])
    return topics, probs


# ------------------------------------------------------------------ CLI


@contextmanager
def open_client(cluster: str | None = None, scheduler: str | None = None):
    """A ``distributed.Client`` on ``scheduler`` (an address), or on a new local cluster:
    ``"local"`` (CPU worker processes) or ``"local-cuda"`` (one worker per GPU, dask-cuda)."""
    if scheduler:
        with distributed.Client(scheduler) as client:
            yield client
        return
    if cluster == "local-cuda":
        dask_cuda = optional_import("dask_cuda", "--cluster local-cuda (one Dask worker per GPU)")
        try:
            local = dask_cuda.LocalCUDACluster()
        except Exception as exc:  # noqa: BLE001 - NVML / CUDA failures come in many types
            raise DeviceError(
                f"--cluster local-cuda could not start dask-cuda's LocalCUDACluster: {type(exc).__name__}: "
                f"{exc}. It needs an NVIDIA GPU and driver that NVML sees (nvidia-smi lists it); "
                "without one use --cluster local."
            ) from exc
    elif cluster == "local":
        local = distributed.LocalCluster()
    else:
        raise InputError(f"Unknown cluster {cluster!r}: use 'local' or 'local-cuda', or a scheduler address.")
    with local as c, distributed.Client(c) as client:
        yield client
